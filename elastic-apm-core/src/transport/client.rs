//! The HTTP client to APM Server: hyper over rustls, with the agent's headers.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderMap, HeaderValue, USER_AGENT};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::body::RequestBody;
use crate::config::Config;
use crate::error::{TransportError, redact_userinfo};

/// Answers are read up to this size; APM Server's are small JSON documents.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// A finished exchange: status, headers and (a prefix of) the body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

#[derive(Clone)]
pub(crate) struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, RequestBody>,
    base: String,
    headers: HeaderMap,
}

impl HttpClient {
    pub(crate) fn new(config: &Config) -> Result<Self, TransportError> {
        let tls = tls_config(config)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.server_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(2)
            .build(https);
        let base = config.server_url.trim_end_matches('/').to_owned();
        // Checked once here, so later URIs built from it only vary in their path.
        base.parse::<Uri>()
            .map_err(|_| TransportError::InvalidServerUrl(redact_userinfo(&base).into_owned()))?;
        Ok(HttpClient {
            client,
            base,
            headers: agent_headers(config),
        })
    }

    /// `server_url` joined with `path_and_query` (which starts with `/`).
    pub(crate) fn uri(&self, path_and_query: &str) -> Result<Uri, TransportError> {
        let uri = format!("{}{path_and_query}", self.base);
        uri.parse()
            .map_err(|_| TransportError::InvalidServerUrl(redact_userinfo(&uri).into_owned()))
    }

    pub(crate) fn request(&self, method: Method, uri: Uri) -> http::request::Builder {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(headers) = builder.headers_mut() {
            headers.extend(self.headers.clone());
        }
        builder
    }

    /// Sends a request and reads its answer, all within `timeout`.
    pub(crate) async fn send(
        &self,
        request: Request<RequestBody>,
        timeout: Duration,
    ) -> Result<Answer, TransportError> {
        let exchange = async {
            let response = self.client.request(request).await?;
            let (parts, body) = response.into_parts();
            // An unreadable or oversized answer body is not worth failing the request for.
            let body = Limited::new(body, MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| TransportError::Timeout(timeout))?
    }
}

/// `User-Agent` per `transport.md`, and `Authorization` (marked sensitive so hyper never
/// logs it).
fn agent_headers(config: &Config) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut user_agent = format!("apm-agent-rust/{}", crate::tracer::AGENT_VERSION);
    // Parentheses, backslashes and the like would break the comment's syntax.
    let escape = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | ';' | '+') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let name = escape(&config.service_name);
    match &config.service_version {
        Some(version) => user_agent.push_str(&format!(" ({name} {})", escape(version))),
        None => user_agent.push_str(&format!(" ({name})")),
    }
    if let Ok(value) = HeaderValue::from_str(&user_agent) {
        headers.insert(USER_AGENT, value);
    }
    let auth = match (&config.api_key, &config.secret_token) {
        (Some(key), _) => Some(format!("ApiKey {}", key.expose())),
        (None, Some(token)) => Some(format!("Bearer {}", token.expose())),
        (None, None) => None,
    };
    if let Some(auth) = auth {
        match HeaderValue::from_str(&auth) {
            Ok(mut value) => {
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
            // The value itself is a secret: say which option, never what it holds.
            Err(_) => crate::logging::error!(
                "api_key / secret_token contains characters not allowed in an HTTP header; sending without it"
            ),
        }
    }
    headers
}

fn tls_config(config: &Config) -> Result<rustls::ClientConfig, TransportError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    if !config.verify_server_cert {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = &config.server_ca_cert_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| TransportError::CaCertFile(path.clone(), e.to_string()))?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(TransportError::CaCertFile(
                path.clone(),
                "no usable certificate in it".to_owned(),
            ));
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// `verify_server_cert=false`: any certificate is accepted, but handshake signatures are
/// still checked, so the connection is at least encrypted to the key it was offered.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Percent-encodes a query parameter value.
pub(crate) fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_and_authorization() {
        let mut config = Config::default();
        config.service_name = "shop".into();
        config.service_version = Some("1.2".into());
        config.secret_token = Some(crate::config::Secret::new("tok"));
        let headers = agent_headers(&config);
        let ua = headers[USER_AGENT].to_str().unwrap();
        assert!(
            ua.starts_with("apm-agent-rust/") && ua.ends_with(" (shop 1.2)"),
            "{ua}"
        );
        assert_eq!(headers[AUTHORIZATION], "Bearer tok");
        assert!(headers[AUTHORIZATION].is_sensitive());
        config.api_key = Some(crate::config::Secret::new("k"));
        assert_eq!(agent_headers(&config)[AUTHORIZATION], "ApiKey k");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode_query_value("my shop/ü"), "my%20shop%2F%C3%BC");
    }
}
