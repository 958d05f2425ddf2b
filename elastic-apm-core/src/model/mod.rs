//! The APM Server intake v2 data model.
//!
//! Plain serde types, one per event and context object, named after the fields of
//! APM Server's JSON schemas. Keyword fields are cut to 1024 characters while
//! serialising (see [`limits`]), so an event that serialises is an event the server
//! accepts. Timestamps are microseconds since the Unix epoch; durations are sent as
//! milliseconds with a fraction.

mod context;
mod error;
mod exchange;
mod json;
mod labels;
pub mod limits;
mod metadata;
mod metricset;
mod span;
mod transaction;

use std::borrow::Cow;
use std::time::Duration;

use serde::{Serialize, Serializer};

pub use self::context::{
    Context, CustomContext, Message, MessageAge, Queue, Request, Response, ServiceContext,
    ServiceTarget, Socket, Url, User,
};
pub(crate) use self::error::PendingStack;
pub use self::error::{Error, ErrorTransaction, Exception, Log};
pub use self::exchange::{HttpExchange, HttpRequestView};
pub(crate) use self::json::write_event;
pub use self::labels::{Headers, LabelValue, Labels};
pub use self::metadata::{
    AgentInfo, Cloud, CloudIdName, CloudMachine, CloudService, Container, Kubernetes,
    KubernetesName, KubernetesPod, Metadata, NameVersion, Process, Runtime, Service, ServiceNode,
    System,
};
pub use self::metricset::{MetricSet, MetricSpan, MetricTransaction, Sample};
pub use self::span::{
    Composite, CompressionStrategy, Db, Destination, DestinationService, Span, SpanContext,
    SpanHttp, SpanHttpResponse,
};
pub use self::transaction::{
    DroppedSpanDuration, DroppedSpanStats, DurationSumUs, SpanCount, Transaction,
};
use crate::ids::{SpanId, TraceId};

/// One event of an intake stream, serialised as `{"transaction": {...}}` and so on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// A transaction.
    Transaction(Box<Transaction>),
    /// A span.
    Span(Box<Span>),
    /// An error.
    Error(Box<Error>),
    /// A set of metric samples.
    Metricset(Box<MetricSet>),
}

impl Event {
    /// Finishes work deferred off the request path (symbolising error stacks, building
    /// a transaction's HTTP request and response context). Reporters call it in the
    /// background before serialising; serialising without it leaves error stack traces
    /// and HTTP context out.
    pub fn prepare(&mut self) {
        if let Event::Transaction(tx) = self {
            tx.resolve_http();
        }
        self.prepare_stacks();
    }

    /// [`prepare`](Self::prepare) but for the HTTP context, which the intake encoder
    /// writes from the recorded exchange itself: built here, on the reporter thread,
    /// it would go back to the application's thread to be freed.
    pub(crate) fn prepare_stacks(&mut self) {
        match self {
            Event::Error(error) => error.resolve_stacktrace(),
            Event::Span(span) => span.resolve_stacktrace(),
            _ => {}
        }
    }

    /// The event's name in the intake stream: `transaction`, `span`, `error`, `metricset`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Transaction(_) => "transaction",
            Event::Span(_) => "span",
            Event::Error(_) => "error",
            Event::Metricset(_) => "metricset",
        }
    }
}

/// The metadata line of an intake stream, `{"metadata": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetadataEvent<'a> {
    /// The metadata.
    pub metadata: &'a Metadata,
}

/// Whether a transaction or span succeeded, from its own point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It succeeded.
    Success,
    /// It failed (for HTTP servers: a 5xx answer).
    Failure,
    /// Nothing is known; left out of error rates.
    Unknown,
}

impl Outcome {
    /// The outcome to report: the one set explicitly, else failure when an error was
    /// captured for the transaction or span, else success (`tracing-spans.md`).
    pub(crate) fn or_inferred(explicit: Option<Outcome>, error_captured: bool) -> Outcome {
        explicit.unwrap_or(if error_captured {
            Outcome::Failure
        } else {
            Outcome::Success
        })
    }

    /// `success`, `failure` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Unknown => "unknown",
        }
    }
}

/// A link to a span of another (or the same) trace (`span-links.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Link {
    /// The linked trace.
    pub trace_id: TraceId,
    /// The linked span or transaction.
    pub span_id: SpanId,
}

/// OpenTelemetry fields of bridged transactions and spans.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct OtelInfo {
    /// `SERVER`, `CLIENT`, `INTERNAL`, `PRODUCER`, `CONSUMER`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span_kind: Option<Cow<'static, str>>,
    /// Attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<CustomContext>,
}

/// A stack frame. The schema wants a `filename` or a `classname`; the tracer always
/// fills `filename` (`<unknown>` without debug info).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StackFrame {
    /// The source file, relative where possible.
    pub filename: String,
    /// The absolute path of the source file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abs_path: Option<String>,
    /// The function, with its module path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// The module path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Line number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lineno: Option<u32>,
    /// Column number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub colno: Option<u32>,
    /// Whether the frame is in a dependency or the standard library rather than the
    /// application.
    pub library_frame: bool,
}

/// Serialises a duration as fractional milliseconds.
pub(crate) fn duration_ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_is_externally_tagged() {
        let set = MetricSet {
            timestamp: 1,
            samples: [(Cow::Borrowed("a.b"), Sample::Value { value: 1.5 })]
                .into_iter()
                .collect(),
            labels: Labels::new(),
            transaction: None,
            span: None,
        };
        let json = serde_json::to_string(&Event::Metricset(Box::new(set))).unwrap();
        assert_eq!(
            json,
            r#"{"metricset":{"timestamp":1,"samples":{"a.b":{"value":1.5}}}}"#
        );
    }
}
