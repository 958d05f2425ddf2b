//! A handle to a running transaction or span.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use super::Agent;
use super::span::{SpanBuilder, SpanInner};
use super::transaction::TxInner;
use crate::context::EnterGuard;
use crate::ids::{SpanId, TraceId};
use crate::trace_context::{TraceParent, TraceState};
use crate::tracer::Span;

/// A running transaction or span: what is "current" in async code, what new spans
/// become children of, and what outgoing requests propagate.
///
/// Cheap to clone (one reference count), `Send + Sync`, and `'static`, so it can go into
/// `http::Request` extensions or another task. Holding one does not keep its
/// transaction or span from ending; it only lets you start children and read ids.
#[derive(Clone)]
pub struct Segment(Kind);

#[derive(Clone)]
enum Kind {
    Transaction(Arc<TxInner>),
    Span(Arc<SpanInner>),
}

impl Segment {
    pub(crate) fn from_transaction(tx: Arc<TxInner>) -> Self {
        Segment(Kind::Transaction(tx))
    }

    pub(crate) fn from_span(span: Arc<SpanInner>) -> Self {
        Segment(Kind::Span(span))
    }

    pub(crate) fn tx(&self) -> &Arc<TxInner> {
        match &self.0 {
            Kind::Transaction(tx) => tx,
            Kind::Span(span) => &span.tx,
        }
    }

    /// The transaction and, under a span, the span: moved out, without touching the
    /// reference counts.
    pub(crate) fn into_parts(self) -> (Arc<TxInner>, Option<Arc<SpanInner>>) {
        match self.0 {
            Kind::Transaction(tx) => (tx, None),
            Kind::Span(span) => (Arc::clone(&span.tx), Some(span)),
        }
    }

    pub(crate) fn as_span(&self) -> Option<&Arc<SpanInner>> {
        match &self.0 {
            Kind::Transaction(_) => None,
            Kind::Span(span) => Some(span),
        }
    }

    /// The current segment on this thread; see [`crate::context`].
    pub fn current() -> Option<Segment> {
        crate::context::current_segment()
    }

    /// The agent that records this segment.
    pub fn agent(&self) -> &Agent {
        &self.tx().agent
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.tx().trace_id
    }

    /// The id of this transaction or span.
    pub fn id(&self) -> SpanId {
        match &self.0 {
            Kind::Transaction(tx) => tx.id,
            Kind::Span(span) => span.id,
        }
    }

    /// The id of the transaction this segment belongs to.
    pub fn transaction_id(&self) -> SpanId {
        self.tx().id
    }

    /// Whether this is a span (rather than the transaction itself).
    pub fn is_span(&self) -> bool {
        matches!(self.0, Kind::Span(_))
    }

    /// Whether the trace is sampled.
    pub fn is_sampled(&self) -> bool {
        self.tx().is_sampled()
    }

    /// The `traceparent` to send downstream with this segment as the parent.
    pub fn traceparent(&self) -> TraceParent {
        let tx = self.tx();
        TraceParent {
            trace_id: tx.trace_id,
            parent_id: self.id(),
            flags: tx.flags,
        }
    }

    /// The `tracestate` to send downstream.
    pub fn tracestate(&self) -> &TraceState {
        &self.tx().tracestate
    }

    /// Makes this segment current on this thread until the guard drops. For synchronous
    /// code; for futures use [`ApmFutureExt::in_segment`](crate::ApmFutureExt::in_segment).
    pub fn enter(&self) -> EnterGuard {
        EnterGuard::new(self.clone())
    }

    /// Starts a child span.
    pub fn start_span(
        &self,
        name: impl Into<Cow<'static, str>>,
        kind: impl Into<Cow<'static, str>>,
    ) -> Span {
        SpanBuilder::new(self.clone(), name.into(), kind.into()).start()
    }

    /// Configures a child span: subtype, action, exit span.
    pub fn span(
        &self,
        name: impl Into<Cow<'static, str>>,
        kind: impl Into<Cow<'static, str>>,
    ) -> SpanBuilder {
        SpanBuilder::new(self.clone(), name.into(), kind.into())
    }

    /// Renames the transaction this segment belongs to (an inner integration that knows
    /// the route, say).
    pub fn set_transaction_name(&self, name: impl Into<Cow<'static, str>>) {
        self.tx().lock().name = name.into();
    }

    /// Captures an error as happening in this segment.
    pub fn capture_error<E>(&self, error: &E) -> Option<crate::ErrorId>
    where
        E: crate::tracer::AsDynError + ?Sized,
    {
        self.agent()
            .error(error)
            .parent(Some(self.clone()))
            .capture()
    }

    /// Marks that an error was captured here, for outcome inference.
    pub(crate) fn mark_error(&self) {
        match &self.0 {
            Kind::Transaction(tx) => tx.lock().error_captured = true,
            Kind::Span(span) => span.lock().error_captured = true,
        }
    }
}

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(if self.is_span() {
            "Segment::Span"
        } else {
            "Segment::Transaction"
        })
        .field("trace_id", &self.trace_id())
        .field("id", &self.id())
        .finish()
    }
}
