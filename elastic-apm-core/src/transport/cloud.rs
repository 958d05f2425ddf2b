//! Cloud metadata (`metadata.md`): asks the AWS, GCP and Azure metadata services at
//! once, with short timeouts, before the first intake request. Never through a proxy,
//! never with the agent's credentials.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::body::RequestBody;
use crate::config::CloudProvider;
use crate::discovery::cloud;
use crate::live::Shared;
use crate::logging;
use crate::model::Cloud;

/// How long each provider is given, in all.
const PROVIDER_TIMEOUT: Duration = Duration::from_millis(1500);

type PlainClient = Client<HttpConnector, RequestBody>;

pub(super) async fn discover(shared: &Shared) {
    let provider = shared.live.local().cloud_provider;
    if provider == CloudProvider::None {
        return;
    }
    let env = |name: &str| std::env::var(name).ok();
    // App Service and Functions have no metadata endpoint; their environment says it all.
    if matches!(provider, CloudProvider::Auto | CloudProvider::Azure)
        && let Some(cloud) = cloud::azure_from_env(env)
    {
        shared.set_cloud(cloud);
        return;
    }
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(PROVIDER_TIMEOUT));
    let client: PlainClient = Client::builder(TokioExecutor::new()).build(http);
    let found = match provider {
        CloudProvider::Aws => aws(&client).await,
        CloudProvider::Gcp => gcp(&client).await,
        CloudProvider::Azure => azure(&client).await,
        CloudProvider::None => None,
        CloudProvider::Auto => {
            let (aws, gcp, azure) = tokio::join!(aws(&client), gcp(&client), azure(&client));
            aws.or(gcp).or(azure)
        }
    };
    match found {
        Some(cloud) => {
            logging::debug!("cloud provider: {}", cloud.provider);
            shared.set_cloud(cloud);
        }
        // Expected off the cloud: only worth a word when the user named a provider.
        None if provider != CloudProvider::Auto => {
            logging::warning!(
                "cloud_provider is {provider:?} but its metadata service did not answer"
            )
        }
        None => {}
    }
}

async fn aws(client: &PlainClient) -> Option<Cloud> {
    tokio::time::timeout(PROVIDER_TIMEOUT, async {
        let token = get(
            client,
            Method::PUT,
            cloud::AWS_TOKEN_URL,
            &[cloud::AWS_TOKEN_TTL_HEADER],
        )
        .await?;
        let token = std::str::from_utf8(&token).ok()?.trim().to_owned();
        let document = get(
            client,
            Method::GET,
            cloud::AWS_IDENTITY_URL,
            &[(cloud::AWS_TOKEN_HEADER, &token)],
        )
        .await?;
        cloud::parse_aws(std::str::from_utf8(&document).ok()?)
    })
    .await
    .ok()?
}

async fn gcp(client: &PlainClient) -> Option<Cloud> {
    tokio::time::timeout(PROVIDER_TIMEOUT, async {
        let body = get(
            client,
            Method::GET,
            cloud::GCP_METADATA_URL,
            &[cloud::GCP_HEADER],
        )
        .await?;
        cloud::parse_gcp(std::str::from_utf8(&body).ok()?)
    })
    .await
    .ok()?
}

async fn azure(client: &PlainClient) -> Option<Cloud> {
    tokio::time::timeout(PROVIDER_TIMEOUT, async {
        let body = get(
            client,
            Method::GET,
            cloud::AZURE_METADATA_URL,
            &[cloud::AZURE_HEADER],
        )
        .await?;
        cloud::parse_azure(std::str::from_utf8(&body).ok()?)
    })
    .await
    .ok()?
}

async fn get(
    client: &PlainClient,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
) -> Option<Bytes> {
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    read(client, request.body(RequestBody::empty()).ok()?).await
}

async fn read(client: &PlainClient, request: Request<RequestBody>) -> Option<Bytes> {
    let response = client.request(request).await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let body = Limited::new(response.into_body(), 256 * 1024)
        .collect()
        .await
        .ok()?;
    Some(body.to_bytes())
}
