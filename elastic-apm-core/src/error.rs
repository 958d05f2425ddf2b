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
