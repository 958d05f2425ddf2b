//! Error types.

/// Why a `traceparent` or `tracestate` value was rejected. Such a header is ignored
/// and the transaction starts a new trace, as W3C trace context requires.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceContextError {
    /// The `traceparent` value is malformed.
    #[error("invalid traceparent: {0}")]
    InvalidTraceParent(&'static str),
    /// The `tracestate` value is malformed.
    #[error("invalid tracestate: {0}")]
    InvalidTraceState(&'static str),
}

/// A configuration value that could not be used. The option keeps its previous value
/// (from a lower-precedence source or the default), as the agent spec requires.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid value for {option}: {value:?} (expected {expected}); the option keeps its previous value"
)]
pub struct ConfigError {
    /// The option, e.g. `transaction_sample_rate`.
    pub option: &'static str,
    /// The rejected value; `"[REDACTED]"` for secret options.
    pub value: String,
    /// What the option accepts.
    pub expected: &'static str,
}

/// Why the agent could not talk to APM Server. The agent logs these (without secrets)
/// and keeps the application running; events that could not be sent are counted in
/// [`Health`](crate::report::Health).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// `server_url` does not parse as a URL.
    #[error(
        "server_url {0:?} is not a valid URL; set it (or ELASTIC_APM_SERVER_URL) to e.g. http://localhost:8200"
    )]
    InvalidServerUrl(String),
    /// The TLS configuration could not be built.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// `server_ca_cert_file` could not be used.
    #[error(
        "server_ca_cert_file {0:?} could not be used: {1}; point it at a PEM file of CA certificates"
    )]
    CaCertFile(std::path::PathBuf, String),
    /// APM Server did not answer in time.
    #[error("APM Server did not answer within server_timeout ({0:?})")]
    Timeout(std::time::Duration),
    /// The connection failed or broke (refused, reset, TLS, DNS).
    #[error("could not talk to APM Server: {0}; check server_url and that APM Server is running")]
    Connection(String),
    /// The background reporter could not start.
    #[error("the reporter thread could not start: {0}")]
    Start(String),
}

impl From<hyper_util::client::legacy::Error> for TransportError {
    fn from(err: hyper_util::client::legacy::Error) -> Self {
        // The interesting part (refused, reset, certificate) is in the source chain.
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        TransportError::Connection(message)
    }
}

/// `server_url` for messages, without any `user:password@`.
pub(crate) fn redact_userinfo(url: &str) -> std::borrow::Cow<'_, str> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.into();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://[REDACTED]@{}", &rest[at + 1..]).into(),
        None => url.into(),
    }
}
