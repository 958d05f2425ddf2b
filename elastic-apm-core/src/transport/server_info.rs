//! `GET /` on APM Server: its version decides, for instance, whether unsampled
//! transactions are still sent (`tracing-sampling.md`).

use std::sync::Arc;
use std::time::Duration;

use http::Method;

use super::body::RequestBody;
use super::client::HttpClient;
use crate::live::{ServerVersion, Shared};
use crate::logging;

/// Asks until the server answers with its version; a server that is down at start is
/// asked again with growing pauses (1 s, 2 s, ... 5 min).
pub(super) async fn poll(client: HttpClient, shared: Arc<Shared>) {
    let timeout = shared
        .live
        .local()
        .server_timeout
        .min(Duration::from_secs(10));
    let mut pause = Duration::from_secs(1);
    loop {
        match fetch(&client, timeout).await {
            Ok(Some(version)) => {
                logging::debug!("APM Server version {version}");
                shared.live.set_server_version(version);
                return;
            }
            Ok(None) => logging::debug!("APM Server did not say its version"),
            Err(err) => logging::debug!("server information unavailable: {err}"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(300));
    }
}

async fn fetch(
    client: &HttpClient,
    timeout: Duration,
) -> Result<Option<ServerVersion>, crate::error::TransportError> {
    let request = client
        .request(Method::GET, client.uri("/")?)
        .body(RequestBody::empty())
        .map_err(|e| crate::error::TransportError::Connection(e.to_string()))?;
    let answer = client.send(request, timeout).await?;
    if !answer.status.is_success() {
        return Ok(None);
    }
    Ok(parse_version(&answer.body))
}

/// The version from `GET /`: `{"version": "8.15.0", ...}` (7.x and 8.x servers).
pub(super) fn parse_version(body: &[u8]) -> Option<ServerVersion> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    ServerVersion::parse(value.get("version")?.as_str()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_server_information() {
        let v = parse_version(br#"{"build_date":"2024-01-01T00:00:00Z","build_sha":"abc","publish_ready":true,"version":"8.12.1"}"#);
        assert_eq!(v, ServerVersion::parse("8.12.1"));
        assert_eq!(parse_version(b"{}"), None);
        assert_eq!(parse_version(b"not json"), None);
    }
}
