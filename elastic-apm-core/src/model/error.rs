//! The `error` event.

use serde::Serialize;

use super::StackFrame;
use super::context::{Context, CustomContext};
use super::limits::{keyword, opt_keyword};
use crate::ids::{ErrorId, SpanId, TraceId};

/// A captured error or logged error message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Error {
    /// This error's id (128 bits).
    pub id: ErrorId,
    /// When it was captured, microseconds since the Unix epoch.
    pub timestamp: u64,
    /// The trace it happened in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<TraceId>,
    /// The transaction it happened in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<SpanId>,
    /// The transaction or span it happened in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<SpanId>,
    /// Name, type and sampling of that transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction: Option<ErrorTransaction>,
    /// Where the error came from: the first application frame's function.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub culprit: Option<String>,
    /// The error value and its causes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<Exception>,
    /// A logged message, for errors captured from logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<Log>,
    /// Request, user, labels and custom data at the time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Box<Context>>,
    /// The stack as captured, symbolised later by [`Error::resolve_stacktrace`].
    #[serde(skip)]
    pub(crate) pending_stack: Option<PendingStack>,
}

impl Error {
    /// Turns the captured stack into `exception.stacktrace` and fills `culprit`.
    ///
    /// Symbolising a stack reads debug information (about 100 µs per error, 100 ms the
    /// first time), so capture only records the raw frames and reporters call this off
    /// the request path, before serialising. Does nothing the second time.
    pub fn resolve_stacktrace(&mut self) {
        let Some(pending) = self.pending_stack.take() else {
            return;
        };
        let frames = crate::tracer::parse_backtrace(&pending.backtrace.to_string(), pending.limit);
        if self.culprit.is_none() {
            self.culprit = frames
                .iter()
                .find(|f| !f.library_frame)
                .or_else(|| frames.first())
                .and_then(|f| f.function.clone());
        }
        if let Some(exception) = self.exception.as_mut() {
            exception.stacktrace = frames;
        } else if let Some(log) = self.log.as_mut() {
            log.stacktrace = frames;
        }
    }
}

/// A stack captured but not yet symbolised.
#[derive(Clone)]
pub(crate) struct PendingStack {
    pub(crate) backtrace: std::sync::Arc<std::backtrace::Backtrace>,
    pub(crate) limit: usize,
}

impl PartialEq for PendingStack {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.backtrace, &other.backtrace) && self.limit == other.limit
    }
}

impl std::fmt::Debug for PendingStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingStack")
    }
}

/// `error.transaction`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ErrorTransaction {
    /// The transaction's name when the error was captured.
    #[serde(serialize_with = "keyword")]
    pub name: String,
    /// The transaction's type.
    #[serde(rename = "type", serialize_with = "keyword")]
    pub kind: String,
    /// Whether the transaction is sampled.
    pub sampled: bool,
}

/// `error.exception`, also used for each entry of `cause`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Exception {
    /// The error's message (`Display`), a long field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The error's type name.
    #[serde(
        rename = "type",
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub kind: Option<String>,
    /// The module the type lives in.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub module: Option<String>,
    /// An error code.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub code: Option<String>,
    /// Whether the application handled it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handled: Option<bool>,
    /// Extra attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<CustomContext>,
    /// Where it was captured.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stacktrace: Vec<StackFrame>,
    /// The `source()` chain, outermost first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cause: Vec<Exception>,
}

/// `error.log`: an error reported as a log record rather than an exception.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Log {
    /// The message (a long field).
    pub message: String,
    /// The log level.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub level: Option<String>,
    /// The logger (the `tracing` target).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub logger_name: Option<String>,
    /// The message before formatting, for grouping.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub param_message: Option<String>,
    /// Where it was logged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stacktrace: Vec<StackFrame>,
}

impl Log {
    /// A log record with this message; set the other fields as needed.
    pub fn new(message: impl Into<String>) -> Self {
        Log {
            message: message.into(),
            ..Log::default()
        }
    }
}
