//! Spans.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use super::micros;
use super::segment::Segment;
use super::transaction::TxInner;
use crate::clock::Tick;
use crate::ids::{SpanId, TraceId};
use crate::metrics::SpanTiming;
use crate::model::{self, LabelValue, Link, Outcome, SpanContext, limits::truncate_in_place};

pub(crate) struct SpanInner {
    pub(crate) tx: Arc<TxInner>,
    pub(crate) id: SpanId,
    parent_id: SpanId,
    /// The parent span (`None`: the transaction), whose buffer this span's end offers
    /// itself to for compression.
    parent: Option<Arc<SpanInner>>,
    /// One ended child kept back for compression with its next sibling.
    buffer: super::compression::Buffer,
    exit: bool,
    /// Over `transaction_max_spans` when it started, or under such a span: never sent,
    /// only counted (and its statistics kept).
    dropped: bool,
    start: Tick,
    ended: AtomicBool,
    data: Mutex<SpanData>,
}

pub(crate) struct SpanData {
    name: Cow<'static, str>,
    kind: Cow<'static, str>,
    subtype: Option<Cow<'static, str>>,
    action: Option<Cow<'static, str>>,
    sync: Option<bool>,
    outcome: Option<Outcome>,
    /// What an integration determined (an HTTP status, say); the application's own
    /// `set_outcome` wins over it.
    instrumentation_outcome: Option<Outcome>,
    /// Boxed when first set: most spans of the application's own have none, and a big
    /// inline context cost every span a move and a drop.
    context: Option<Box<SpanContext>>,
    links: Vec<Link>,
    pub(crate) error_captured: bool,
    /// An exit span that may be dropped when shorter than `exit_span_min_duration`;
    /// not once it propagated the trace downstream (`tracing-spans-drop-fast-exit.md`).
    discardable: bool,
}

impl SpanData {
    /// Nothing: what is left where a span's data was taken from (a shared span's
    /// handle, an ending shared span).
    const MOVED: SpanData = SpanData {
        name: Cow::Borrowed(""),
        kind: Cow::Borrowed(""),
        subtype: None,
        action: None,
        sync: None,
        outcome: None,
        instrumentation_outcome: None,
        context: None,
        links: Vec::new(),
        error_captured: false,
        discardable: false,
    };
}

impl SpanInner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, SpanData> {
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The start, in microseconds since the Unix epoch, on the transaction's clock.
    fn timestamp_us(&self) -> u64 {
        let since_tx = micros(self.start.since(self.tx.start));
        self.tx.timestamp_us.saturating_add(since_tx)
    }

    /// Ends a shared span: its data is taken out under the lock, which is then released,
    /// since others may still hold the span while its events go to the reporter.
    fn end(&self, end: Tick) {
        let mut data = std::mem::replace(&mut *self.lock(), SpanData::MOVED);
        self.end_with(&mut data, end);
    }

    /// Ends the span, taking what its event needs out of `data`. By reference: a span's
    /// data is larger than a cache line, and moving it cost a copy per span.
    fn end_with(&self, data: &mut SpanData, end: Tick) {
        // Only the `Span` that owns this ends it, and once: its drop, or `end_at`, which
        // disarms the drop. A store, then, not a read-modify-write.
        self.ended.store(true, Ordering::Release);
        let tx = &self.tx;
        // Children go out before their parent.
        if let Some(buffered) = self.buffer.take() {
            tx.emit(buffered, true);
        }
        let outcome = Outcome::or_inferred(
            data.outcome.or(data.instrumentation_outcome),
            data.error_captured,
        );
        let duration = end.since(self.start);
        let mut context = data.context.take();
        if self.exit || context.is_some() {
            let context = context.get_or_insert_with(Box::default);
            super::service_target::infer(context, &data.kind, data.subtype.as_deref(), self.exit);
        }
        if self.dropped {
            // Not sent, but its time still counts in the breakdown.
            let timing = tx.breakdown.then(|| SpanTiming {
                id: Some(self.id),
                parent: self.parent_id,
                timestamp_us: self.timestamp_us(),
                duration_ns: super::nanos(duration),
                // Taken from the data, which ends here: moved, not cloned.
                kind: std::mem::take(&mut data.kind),
                subtype: data.subtype.take(),
                summary: None,
            });
            if let Some(timing) = timing {
                tx.keep_unsent(|| timing);
            }
            tx.count_dropped();
            if self.exit {
                tx.track_dropped(context.as_deref(), outcome, 1, duration);
            }
            return;
        }
        if let Some(statement) = context
            .as_mut()
            .and_then(|c| c.db.as_mut())
            .and_then(|db| db.statement.as_mut())
        {
            truncate_in_place(statement, tx.agent.config().long_field_max_length);
        }
        // A slow span's stack: raw frames now, symbolised by the reporter.
        let pending_stack = tx
            .span_stack
            .filter(|(min, _)| duration >= *min)
            .map(|(_, limit)| model::PendingStack {
                backtrace: Arc::new(std::backtrace::Backtrace::force_capture()),
                limit,
            });
        // Allocated first, so the event is built in place rather than copied (336 bytes).
        let span = Box::write(
            Box::new_uninit(),
            model::Span {
                id: self.id,
                trace_id: tx.trace_id,
                transaction_id: tx.id,
                parent_id: self.parent_id,
                name: std::mem::take(&mut data.name),
                kind: std::mem::take(&mut data.kind),
                subtype: data.subtype.take(),
                action: data.action.take(),
                timestamp: self.timestamp_us(),
                duration,
                sync: data.sync,
                outcome: Some(outcome),
                sample_rate: tx.sample_rate_for_events(),
                context: context.filter(|c| !c.is_empty()),
                stacktrace: Vec::new(),
                composite: None,
                links: std::mem::take(&mut data.links),
                pending_stack,
                otel: None,
            },
        );
        // Compressible (and droppable when fast): a successful exit span whose context
        // did not go downstream.
        let eligible = self.exit && outcome == Outcome::Success && data.discardable;
        let (buffer, parent_ended) = match &self.parent {
            Some(parent) => (&parent.buffer, parent.ended.load(Ordering::Acquire)),
            None => (&tx.buffer, tx.has_ended()),
        };
        if eligible && tx.compression.enabled && !parent_ended {
            if let Some(out) = buffer.offer(span, tx.compression) {
                tx.emit(out, true);
            }
        } else {
            // A sibling that cannot be compressed ends the sequence.
            if let Some(buffered) = buffer.take() {
                tx.emit(buffered, true);
            }
            tx.emit(span, eligible);
        }
    }
}

/// Configures a span before it starts. Made by [`Segment::span`].
#[must_use = "call .start() to start the span"]
pub struct SpanBuilder {
    parent: Segment,
    name: Cow<'static, str>,
    kind: Cow<'static, str>,
    subtype: Option<Cow<'static, str>>,
    action: Option<Cow<'static, str>>,
    exit: bool,
    started_at: Option<Instant>,
    links: Vec<Link>,
}

impl fmt::Debug for SpanBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanBuilder")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl SpanBuilder {
    pub(super) fn new(parent: Segment, name: Cow<'static, str>, kind: Cow<'static, str>) -> Self {
        SpanBuilder {
            parent,
            name,
            kind,
            subtype: None,
            action: None,
            exit: false,
            started_at: None,
            links: Vec::new(),
        }
    }

    /// The subtype, e.g. `postgresql` or `http`.
    pub fn subtype(mut self, subtype: impl Into<Cow<'static, str>>) -> Self {
        self.subtype = Some(subtype.into());
        self
    }

    /// The action, e.g. `query` or `request`.
    pub fn action(mut self, action: impl Into<Cow<'static, str>>) -> Self {
        self.action = Some(action.into());
        self
    }

    /// Marks the span as an exit span: a call to another service. Its children of a
    /// different type or subtype are not recorded (`tracing-spans.md`).
    pub fn exit(mut self) -> Self {
        self.exit = true;
        self
    }

    /// When the span started, if before now (a timing taken elsewhere).
    pub fn started_at(mut self, at: Instant) -> Self {
        self.started_at = Some(at);
        self
    }

    /// Links the span to a span of another trace.
    pub fn link(mut self, link: Link) -> Self {
        self.links.push(link);
        self
    }

    /// Starts the span. In an unsampled transaction, or under an exit span of another
    /// kind, nothing is recorded, but the span still propagates its parent's context.
    pub fn start(self) -> Span {
        let SpanBuilder {
            parent,
            name,
            kind,
            subtype,
            action,
            exit,
            started_at,
            links,
        } = self;
        if !parent.tx().is_sampled() {
            return Span(State::Discarded(parent));
        }
        if let Some(parent_span) = parent.as_span().filter(|s| s.exit) {
            let data = parent_span.lock();
            if data.kind != kind || data.subtype != subtype {
                drop(data);
                return Span(State::Discarded(parent));
            }
        }
        let parent_id = parent.id();
        // The parent's references move into the span: no count goes up and down again.
        let (tx, parent) = parent.into_parts();
        // Over the limit, or under a span that was: recorded for the counts and the
        // dropped-span statistics only (`tracing-spans-limit.md`).
        let dropped = tx.span_limit_reached() || parent.as_ref().is_some_and(|p| p.dropped);
        let kind = if kind.is_empty() {
            Cow::Borrowed("custom")
        } else {
            kind
        };
        let name = if name.is_empty() {
            Cow::Borrowed("unnamed")
        } else {
            name
        };
        let start = started_at.map_or_else(Tick::now, Tick::at);
        let inner = SpanInner {
            id: SpanId::generate(),
            parent_id,
            parent,
            buffer: Default::default(),
            exit,
            dropped,
            start,
            ended: AtomicBool::new(false),
            data: Mutex::new(SpanData {
                name,
                kind,
                subtype,
                action,
                sync: None,
                outcome: None,
                instrumentation_outcome: None,
                context: None,
                links,
                error_captured: false,
                discardable: exit,
            }),
            tx,
        };
        Span(State::Recording(LocalSpan {
            inner,
            shared: OnceLock::new(),
        }))
    }
}

/// A span: a unit of work inside a transaction, such as a query or an outgoing call.
/// Ends when [`end`](Self::end) is called or when dropped.
#[must_use = "a span ends when dropped"]
pub struct Span(State);

#[allow(
    clippy::large_enum_variant,
    reason = "the recorded state is inline on purpose: boxing it is the allocation this saves"
)]
enum State {
    /// Nothing to record or propagate.
    Noop,
    /// Not recorded; propagation uses the parent.
    Discarded(Segment),
    Recording(LocalSpan),
}

/// A recorded span's state, in the handle itself: most spans are leaves that nothing
/// else refers to, and they then cost no allocation, no reference counts and no
/// contended lock. A child, a `Segment` (to make the span current or propagate it) or a
/// captured error needs the state shared: it then moves, once, into `shared`.
struct LocalSpan {
    inner: SpanInner,
    shared: OnceLock<Arc<SpanInner>>,
}

impl LocalSpan {
    /// The span's state, shared from now on.
    fn shared(&self) -> &Arc<SpanInner> {
        if let Some(shared) = self.shared.get() {
            return shared;
        }
        // Held until `shared` is set, so that a concurrent `with_data` either ran before
        // the data moved or sees `shared` once it has the lock.
        let mut data = self.inner.lock();
        let inner = &self.inner;
        self.shared.get_or_init(|| {
            Arc::new(SpanInner {
                tx: Arc::clone(&inner.tx),
                id: inner.id,
                parent_id: inner.parent_id,
                parent: inner.parent.clone(),
                buffer: Default::default(),
                exit: inner.exit,
                dropped: inner.dropped,
                start: inner.start,
                ended: AtomicBool::new(false),
                data: Mutex::new(std::mem::replace(&mut *data, SpanData::MOVED)),
            })
        })
    }

    fn with_data(&self, f: impl FnOnce(&mut SpanData)) {
        if let Some(shared) = self.shared.get() {
            return f(&mut shared.lock());
        }
        let mut data = self.inner.lock();
        match self.shared.get() {
            // Shared since: the data is there now.
            Some(shared) => {
                drop(data);
                f(&mut shared.lock());
            }
            None => f(&mut data),
        }
    }

    fn end(&mut self, at: Tick) {
        match self.shared.take() {
            Some(shared) => shared.end(at),
            // Not shared: no one else can take the lock, which only lends the data in
            // place (taking it out cost a copy larger than a cache line).
            None => self.inner.end_with(&mut self.inner.lock(), at),
        }
    }
}

impl Span {
    /// A span that records nothing.
    pub fn noop() -> Self {
        Span(State::Noop)
    }

    /// A child of `parent`, or a no-op span when there is no parent.
    pub(crate) fn under(
        parent: Option<Segment>,
        name: impl Into<Cow<'static, str>>,
        kind: impl Into<Cow<'static, str>>,
    ) -> Span {
        match parent {
            // The segment moves into the span (no reference count up and down).
            Some(segment) => SpanBuilder::new(segment, name.into(), kind.into()).start(),
            None => Span::noop(),
        }
    }

    /// Whether this span will be recorded (it may still be dropped at the end by
    /// `transaction_max_spans`). Integrations skip expensive context when false.
    pub fn is_recording(&self) -> bool {
        matches!(&self.0, State::Recording(s) if !s.inner.dropped && !s.inner.tx.span_limit_reached())
    }

    /// The segment to make current inside this span and to propagate downstream: the
    /// span itself, or its parent when the span is not recorded.
    pub fn segment(&self) -> Option<Segment> {
        match &self.0 {
            State::Noop => None,
            State::Discarded(parent) => Some(parent.clone()),
            State::Recording(span) => Some(Segment::from_span(Arc::clone(span.shared()))),
        }
    }

    /// The span id, if recorded.
    pub fn id(&self) -> Option<SpanId> {
        match &self.0 {
            State::Recording(span) => Some(span.inner.id),
            _ => None,
        }
    }

    /// The trace id, if in a trace.
    pub fn trace_id(&self) -> Option<TraceId> {
        match &self.0 {
            State::Noop => None,
            State::Discarded(parent) => Some(parent.trace_id()),
            State::Recording(span) => Some(span.inner.tx.trace_id),
        }
    }

    /// Starts a child span.
    pub fn start_span(
        &self,
        name: impl Into<Cow<'static, str>>,
        kind: impl Into<Cow<'static, str>>,
    ) -> Span {
        Span::under(self.segment(), name, kind)
    }

    fn with_data(&self, f: impl FnOnce(&mut SpanData)) {
        if let State::Recording(span) = &self.0 {
            span.with_data(f);
        }
    }

    /// Renames the span.
    pub fn set_name(&self, name: impl Into<Cow<'static, str>>) {
        self.with_data(|d| d.name = name.into());
    }

    /// Sets the action.
    pub fn set_action(&self, action: impl Into<Cow<'static, str>>) {
        self.with_data(|d| d.action = Some(action.into()));
    }

    /// Sets the outcome; it takes precedence over inference (failure if an error was
    /// captured for the span, else success).
    pub fn set_outcome(&self, outcome: Outcome) {
        self.with_data(|d| d.outcome = Some(outcome));
    }

    /// For integrations: the outcome their protocol says (an HTTP status, say). It
    /// takes precedence over inference from captured errors, but not over the
    /// application's own [`set_outcome`](Self::set_outcome).
    pub fn set_instrumentation_outcome(&self, outcome: Outcome) {
        self.with_data(|d| d.instrumentation_outcome = Some(outcome));
    }

    /// Whether this exit span may be dropped when faster than `exit_span_min_duration`.
    /// Integrations set it to false once the span's context went downstream (an
    /// outgoing HTTP request), since dropping it would orphan the callee's transaction.
    pub fn set_discardable(&self, discardable: bool) {
        self.with_data(|d| d.discardable = discardable);
    }

    /// Marks the span as asynchronous (`sync: false`) or blocking.
    pub fn set_sync(&self, sync: bool) {
        self.with_data(|d| d.sync = Some(sync));
    }

    /// Sets a label.
    pub fn set_label(&self, key: impl Into<String>, value: impl Into<LabelValue>) {
        self.with_data(|d| {
            d.context
                .get_or_insert_with(Box::default)
                .labels
                .insert(key, value)
        });
    }

    /// Links the span to a span of another trace, after it started (a consumer that
    /// learns which messages it handles as it goes). Links keep their order.
    pub fn add_link(&self, link: Link) {
        self.with_data(|d| d.links.push(link));
    }

    /// Edits the context (db, http, destination, service target) in place. `f` also
    /// runs for a span dropped by `transaction_max_spans`, whose destination still
    /// counts in `dropped_spans_stats`: keep it cheap, and gate costly details (a
    /// statement's signature, say) on [`is_recording`](Self::is_recording). The span's
    /// data is locked while `f` runs: calling this span's methods from `f` deadlocks.
    pub fn with_context(&self, f: impl FnOnce(&mut SpanContext)) {
        self.with_data(|d| f(d.context.get_or_insert_with(Box::default)));
    }

    /// Captures an error as happening in this span.
    pub fn capture_error<E>(&self, error: &E) -> Option<crate::ErrorId>
    where
        E: crate::tracer::AsDynError + ?Sized,
    {
        self.segment().and_then(|s| s.capture_error(error))
    }

    /// Ends the span now.
    // Inlined, so that the handle is dropped where it is rather than copied into a call.
    #[inline]
    pub fn end(self) {
        drop(self);
    }

    /// Ends the span at `at` (a timing taken elsewhere).
    pub fn end_at(mut self, at: Instant) {
        if let State::Recording(mut span) = std::mem::replace(&mut self.0, State::Noop) {
            span.end(Tick::at(at));
        }
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let State::Recording(span) = &mut self.0 {
            span.end(Tick::now());
        }
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            State::Noop => f.write_str("Span(noop)"),
            State::Discarded(parent) => f.debug_tuple("Span::Discarded").field(parent).finish(),
            State::Recording(span) => f
                .debug_struct("Span")
                .field("id", &span.inner.id)
                .field("trace_id", &span.inner.tx.trace_id)
                .finish_non_exhaustive(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::recording_agent;

    fn is_shared(span: &Span) -> bool {
        matches!(&span.0, State::Recording(local) if local.shared.get().is_some())
    }

    #[test]
    fn a_leaf_span_stays_in_its_handle() {
        let (agent, recorder) = recording_agent(|b| b);
        let tx = agent.start_transaction("GET /", "request");
        let span = tx.start_span("SELECT", "db");
        span.set_name("SELECT FROM products");
        span.with_context(|c| c.db = Some(Default::default()));
        assert!(!is_shared(&span));
        span.end();
        tx.end();
        let spans = recorder.spans();
        assert_eq!(spans[0].name, "SELECT FROM products");
        assert!(spans[0].context.as_ref().is_some_and(|c| c.db.is_some()));
    }

    #[test]
    fn edits_after_sharing_reach_the_event() {
        // Every exit span here is fast: sent only if not discardable.
        let min = std::time::Duration::from_secs(60);
        let (agent, recorder) = recording_agent(|b| b.exit_span_min_duration(min));
        let tx = agent.start_transaction("GET /", "request");
        let fast = tx
            .segment()
            .unwrap()
            .span("fast", "external")
            .exit()
            .start();
        drop(fast.segment());
        fast.end();
        let span = tx
            .segment()
            .unwrap()
            .span("GET example.com", "external")
            .subtype("http")
            .exit()
            .start();
        span.set_label("before", true);
        let segment = span.segment().unwrap();
        assert!(is_shared(&span));
        assert_eq!(Some(segment.id()), span.id());
        // Its context went downstream: it must not be dropped as a fast exit span.
        span.set_discardable(false);
        span.set_name("GET example.com/");
        span.set_label("after", true);
        let child = segment.span("child", "external").subtype("http").start();
        assert!(
            child.id().is_some(),
            "a child of the same type and subtype is recorded"
        );
        drop(child);
        drop(segment);
        span.end();
        tx.end();
        let spans = recorder.spans();
        let child = spans.iter().find(|s| s.name == "child").unwrap();
        let span = spans
            .iter()
            .find(|s| s.kind == "external" && s.name != "child");
        let span = span.expect("the exit span is sent: it is not discardable");
        assert!(
            spans.iter().all(|s| s.name != "fast"),
            "a discardable one is not"
        );
        assert_eq!(span.name, "GET example.com/");
        assert_eq!(child.parent_id, span.id);
        let labels = &span.context.as_ref().unwrap().labels;
        assert_eq!(labels.len(), 2, "{labels:?}");
    }

    #[test]
    fn sharing_while_other_threads_edit_loses_nothing() {
        let (agent, recorder) = recording_agent(|b| b);
        let tx = agent.start_transaction("GET /", "request");
        let span = tx.start_span("work", "app");
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let span = &span;
                scope.spawn(move || {
                    for label in 0..50 {
                        span.set_label(format!("t{thread}-{label}"), true);
                    }
                });
            }
            let span = &span;
            scope.spawn(move || span.segment().map(|s| s.id()));
        });
        span.end();
        tx.end();
        let spans = recorder.spans();
        assert_eq!(spans[0].context.as_ref().unwrap().labels.len(), 200);
    }
}
