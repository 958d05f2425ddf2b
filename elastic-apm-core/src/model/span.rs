//! The `span` event.

use std::borrow::Cow;

use serde::Serialize;

use super::context::{Message, ServiceContext};
use super::labels::{Headers, Labels};
use super::limits::{keyword, opt_keyword};
use super::{Link, OtelInfo, Outcome, StackFrame, duration_ms};
use crate::ids::{SpanId, TraceId};

/// A span: a unit of work inside a transaction, such as a query or an outgoing call.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Span {
    /// This span's id.
    pub id: SpanId,
    /// The trace it belongs to.
    pub trace_id: TraceId,
    /// The transaction it belongs to.
    pub transaction_id: SpanId,
    /// The parent transaction or span.
    pub parent_id: SpanId,
    /// Low-cardinality name, e.g. `SELECT FROM products`.
    #[serde(serialize_with = "keyword")]
    pub name: Cow<'static, str>,
    /// `db`, `external`, `messaging`, `app`, ...
    #[serde(rename = "type", serialize_with = "keyword")]
    pub kind: Cow<'static, str>,
    /// `postgresql`, `http`, ...
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub subtype: Option<Cow<'static, str>>,
    /// `query`, `request`, ...
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub action: Option<Cow<'static, str>>,
    /// Start, microseconds since the Unix epoch.
    pub timestamp: u64,
    /// Duration in milliseconds.
    #[serde(serialize_with = "duration_ms")]
    pub duration: std::time::Duration,
    /// Whether the caller waited for the span (`None`: the platform default, blocking).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync: Option<bool>,
    /// Success or failure, for error rates of downstream services.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// The sampling rate of the trace, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<f64>,
    /// Details of the operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Box<SpanContext>>,
    /// Where the span was started.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stacktrace: Vec<StackFrame>,
    /// Set when this span stands for several compressed ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub composite: Option<Composite>,
    /// Links to other traces.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// The stack as captured, symbolised later by [`Span::resolve_stacktrace`].
    #[serde(skip)]
    pub(crate) pending_stack: Option<super::PendingStack>,
    /// OpenTelemetry attributes and kind, for bridged spans.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otel: Option<OtelInfo>,
}

impl Span {
    /// Symbolises the stack captured when the span ended (slower than
    /// `span_stack_trace_min_duration`); reporters call it, through
    /// [`Event::prepare`](super::Event::prepare), off the request path.
    pub fn resolve_stacktrace(&mut self) {
        if let Some(pending) = self.pending_stack.take() {
            self.stacktrace =
                crate::tracer::parse_backtrace(&pending.backtrace.to_string(), pending.limit);
        }
    }
}

/// `span.context`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SpanContext {
    /// A database operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db: Option<Db>,
    /// An outgoing HTTP request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<SpanHttp>,
    /// Where the call went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<Destination>,
    /// The target service of an exit span.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceContext>,
    /// A message sent or received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    /// Labels (called `tags` on the wire).
    #[serde(rename = "tags", skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
}

impl SpanContext {
    /// Whether nothing is set, so the object can be left out.
    pub fn is_empty(&self) -> bool {
        self == &SpanContext::default()
    }
}

/// `span.context.db`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Db {
    /// The database instance (its name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The statement with placeholders, never bound values (a long field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// `sql`, `redis`, `mongodb`, ...
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The database user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// A database link.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub link: Option<String>,
    /// Rows affected or returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_affected: Option<u64>,
}

/// `span.context.http`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SpanHttp {
    /// HTTP method.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub method: Option<String>,
    /// The URL called, without credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<SpanHttpResponse>,
}

/// `span.context.http.response`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SpanHttpResponse {
    /// HTTP status code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Response headers (sanitised).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
    /// Bytes on the wire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_size: Option<u64>,
    /// Body bytes as received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoded_body_size: Option<u64>,
    /// Body bytes after decoding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoded_body_size: Option<u64>,
}

/// `span.context.destination`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Destination {
    /// Host name or IP address.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub address: Option<String>,
    /// Port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The destination service (superseded by `context.service.target`, still read by
    /// older servers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<DestinationService>,
}

/// `span.context.destination.service`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DestinationService {
    /// The resource, e.g. `postgresql/shop` or `api.example.com:443`.
    #[serde(serialize_with = "keyword")]
    pub resource: String,
    /// Deprecated; sent empty for old servers.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub name: Option<String>,
    /// Deprecated; sent empty for old servers.
    #[serde(
        rename = "type",
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub kind: Option<String>,
}

impl DestinationService {
    /// The destination resource, e.g. `postgresql/shop` or `api.example.com:443`.
    pub fn new(resource: impl Into<String>) -> Self {
        DestinationService {
            resource: resource.into(),
            name: None,
            kind: None,
        }
    }
}

/// `span.composite`: what a compressed span stands for.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Composite {
    /// `exact_match` or `same_kind`.
    pub compression_strategy: CompressionStrategy,
    /// How many spans were compressed (at least 2).
    pub count: u32,
    /// Their summed duration, in milliseconds.
    #[serde(serialize_with = "duration_ms")]
    pub sum: std::time::Duration,
}

/// How spans were compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompressionStrategy {
    /// Same name, kind and destination.
    ExactMatch,
    /// Same kind and destination, different names.
    SameKind,
}
