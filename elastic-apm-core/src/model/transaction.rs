//! The `transaction` event.

use std::borrow::Cow;

use serde::Serialize;

use super::context::Context;
use super::limits::{keyword, opt_keyword};
use super::{Link, OtelInfo, Outcome, duration_ms};
use crate::ids::{SpanId, TraceId};

/// A transaction: one request or job handled by the service.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Transaction {
    /// This transaction's id.
    pub id: SpanId,
    /// The trace it belongs to.
    pub trace_id: TraceId,
    /// The caller's span, for a transaction that continues a trace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<SpanId>,
    /// Low-cardinality name, e.g. `GET /users/{id}`.
    #[serde(serialize_with = "keyword")]
    pub name: Cow<'static, str>,
    /// `request`, `messaging`, `scheduled`, ...
    #[serde(rename = "type", serialize_with = "keyword")]
    pub kind: Cow<'static, str>,
    /// Start, microseconds since the Unix epoch.
    pub timestamp: u64,
    /// Duration in milliseconds.
    #[serde(serialize_with = "duration_ms")]
    pub duration: std::time::Duration,
    /// Protocol-specific result, e.g. `HTTP 2xx`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub result: Option<Cow<'static, str>>,
    /// Success or failure, for error rates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Whether spans and context were recorded.
    pub sampled: bool,
    /// The sampling rate: 0 when not sampled, absent when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<f64>,
    /// How many spans were started and dropped.
    pub span_count: SpanCount,
    /// Request, response, user, labels, custom data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Box<Context>>,
    /// Aggregates of spans that were not sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped_spans_stats: Vec<DroppedSpanStats>,
    /// Links to other traces, e.g. the one a restarted trace came from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// OpenTelemetry attributes and kind, for bridged transactions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otel: Option<OtelInfo>,
    /// Timings of spans that were not sent (over the limit, fast exit spans), for the
    /// breakdown metrics the reporter works out. Not serialised.
    #[serde(skip)]
    pub(crate) unsent_spans: Vec<crate::metrics::SpanTiming>,
    /// The HTTP request and response, until they become `context.request` and
    /// `context.response` (when the event is encoded or prepared).
    #[serde(skip)]
    pub(crate) http: Option<super::HttpExchange>,
}

impl Transaction {
    /// Turns the recorded HTTP exchange into `context.request` and `context.response`.
    pub(crate) fn resolve_http(&mut self) {
        if let Some(http) = self.http.take() {
            let context = self.context.get_or_insert_default();
            http.fill(context);
            if context.is_empty() {
                self.context = None;
            }
        }
    }
}

/// `transaction.span_count`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SpanCount {
    /// Spans started, including dropped ones.
    pub started: u32,
    /// Spans not sent.
    pub dropped: u32,
}

/// One entry of `transaction.dropped_spans_stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DroppedSpanStats {
    /// The destination resource, for older servers.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub destination_service_resource: Option<String>,
    /// The target service type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_target_type: Option<String>,
    /// The target service name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_target_name: Option<String>,
    /// The spans' outcome.
    pub outcome: Outcome,
    /// Count and summed duration.
    pub duration: DroppedSpanDuration,
}

impl DroppedSpanStats {
    /// One entry: `count` 1 of `us` microseconds.
    pub fn new(
        destination_service_resource: Option<String>,
        service_target_type: Option<String>,
        service_target_name: Option<String>,
        outcome: Outcome,
        us: u64,
    ) -> Self {
        DroppedSpanStats {
            destination_service_resource,
            service_target_type,
            service_target_name,
            outcome,
            duration: DroppedSpanDuration {
                count: 1,
                sum: DurationSumUs { us },
            },
        }
    }
}

/// `dropped_spans_stats[].duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DroppedSpanDuration {
    /// How many spans.
    pub count: u32,
    /// Their summed duration.
    pub sum: DurationSumUs,
}

/// A duration sum in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DurationSumUs {
    /// Microseconds.
    pub us: u64,
}
