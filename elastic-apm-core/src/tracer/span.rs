//! Spans.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::micros;
use super::segment::Segment;
use super::transaction::TxInner;
use crate::clock::Tick;
use crate::ids::{SpanId, TraceId};
use crate::metrics::SpanTiming;
use crate::model::{self, LabelValue, Link, Outcome, SpanContext, limits::truncate_in_place};

/// A recorded span's own state. Its transaction is held beside it, by the `Span` handle
/// and by `Segment`, so that a finished `SpanInner` owns nothing and its allocation can
/// be kept for the thread's next span (see [`spare`](super::spare)).
pub(crate) struct SpanInner {
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
    /// An exit span that may be dropped when shorter than `exit_span_min_duration`;
    /// not once it propagated the trace downstream (`tracing-spans-drop-fast-exit.md`).
    discardable: AtomicBool,
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
}

impl SpanData {
    /// A finished span's data: nothing owned.
    const EMPTY: SpanData = SpanData {
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
    };
}

impl SpanInner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, SpanData> {
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The start, in microseconds since the Unix epoch, on the transaction's clock.
    fn timestamp_us(&self, tx: &TxInner) -> u64 {
        let since_tx = micros(self.start.since(tx.start));
        tx.timestamp_us.saturating_add(since_tx)
    }

    /// A span with nothing in it yet, to be written by `SpanBuilder::start`.
    fn idle(id: SpanId, start: Tick) -> SpanInner {
        SpanInner {
            id,
            parent_id: id,
            parent: None,
            buffer: Default::default(),
            exit: false,
            dropped: false,
            discardable: AtomicBool::new(false),
            start,
            ended: AtomicBool::new(false),
            data: Mutex::new(SpanData::EMPTY),
        }
    }

    /// Drops what an ended span still holds, so that its allocation can be kept. Its
    /// end moved its data into the event, except for a span that was not sent.
    pub(super) fn clear(&mut self) {
        self.parent = None;
        drop(self.buffer.take());
        if self.dropped {
            *self.data.get_mut().unwrap_or_else(PoisonError::into_inner) = SpanData::EMPTY;
        }
    }

    fn end(&self, tx: &TxInner, end: Tick) {
        // Only the `Span` that owns this ends it, and once: its drop, or `end_at`, which
        // disarms the drop. A store, then, not a read-modify-write.
        self.ended.store(true, Ordering::Release);
        // Children go out before their parent.
        if let Some(buffered) = self.buffer.take() {
            tx.emit(buffered, true);
        }
        let mut data = self.lock();
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
                timestamp_us: self.timestamp_us(tx),
                duration_ns: super::nanos(duration),
                kind: data.kind.clone(),
                subtype: data.subtype.clone(),
                summary: None,
            });
            drop(data);
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
                timestamp: self.timestamp_us(tx),
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
        drop(data);
        // Compressible (and droppable when fast): a successful exit span whose context
        // did not go downstream.
        let eligible =
            self.exit && outcome == Outcome::Success && self.discardable.load(Ordering::Relaxed);
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
        // Written field by field into a kept allocation, or a new one (see `spare`).
        let id = SpanId::generate();
        let mut span = super::spare::take().unwrap_or_else(|| Arc::new(SpanInner::idle(id, start)));
        let Some(slot) = Arc::get_mut(&mut span) else {
            // Not reached: kept spans and new ones are unshared.
            return Span(State::Noop);
        };
        slot.id = id;
        slot.parent_id = parent_id;
        slot.parent = parent;
        slot.exit = exit;
        slot.dropped = dropped;
        *slot.discardable.get_mut() = exit;
        slot.start = start;
        *slot.ended.get_mut() = false;
        // Field by field: a kept span's data is empty (its end moved it into the event,
        // or `clear` dropped it), so there is nothing to drop, unlike a whole `SpanData`.
        let data = slot.data.get_mut().unwrap_or_else(PoisonError::into_inner);
        data.name = name;
        data.kind = kind;
        data.subtype = subtype;
        data.action = action;
        data.sync = None;
        data.outcome = None;
        data.instrumentation_outcome = None;
        data.context = None;
        data.links = links;
        data.error_captured = false;
        Span(State::Recording(tx, span))
    }
}

/// A span: a unit of work inside a transaction, such as a query or an outgoing call.
/// Ends when [`end`](Self::end) is called or when dropped.
#[must_use = "a span ends when dropped"]
pub struct Span(State);

enum State {
    /// Nothing to record or propagate.
    Noop,
    /// Not recorded; propagation uses the parent.
    Discarded(Segment),
    Recording(Arc<TxInner>, Arc<SpanInner>),
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
        matches!(&self.0, State::Recording(tx, s) if !s.dropped && !tx.span_limit_reached())
    }

    /// The segment to make current inside this span and to propagate downstream: the
    /// span itself, or its parent when the span is not recorded.
    pub fn segment(&self) -> Option<Segment> {
        match &self.0 {
            State::Noop => None,
            State::Discarded(parent) => Some(parent.clone()),
            State::Recording(tx, span) => {
                Some(Segment::from_span(Arc::clone(tx), Arc::clone(span)))
            }
        }
    }

    /// The span id, if recorded.
    pub fn id(&self) -> Option<SpanId> {
        match &self.0 {
            State::Recording(_, span) => Some(span.id),
            _ => None,
        }
    }

    /// The trace id, if in a trace.
    pub fn trace_id(&self) -> Option<TraceId> {
        match &self.0 {
            State::Noop => None,
            State::Discarded(parent) => Some(parent.trace_id()),
            State::Recording(tx, _) => Some(tx.trace_id),
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
        if let State::Recording(_, span) = &self.0 {
            f(&mut span.lock());
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
        if let State::Recording(_, inner) = &self.0 {
            inner.discardable.store(discardable, Ordering::Relaxed);
        }
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
    /// statement's signature, say) on [`is_recording`](Self::is_recording).
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
    pub fn end(self) {
        drop(self);
    }

    /// Ends the span at `at` (a timing taken elsewhere).
    pub fn end_at(mut self, at: Instant) {
        if let State::Recording(tx, span) = std::mem::replace(&mut self.0, State::Noop) {
            span.end(&tx, Tick::at(at));
            super::spare::recycle(span);
        }
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let State::Recording(tx, span) = std::mem::replace(&mut self.0, State::Noop) {
            span.end(&tx, Tick::now());
            // Kept for the thread's next span, unless a child or a segment holds it.
            super::spare::recycle(span);
        }
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            State::Noop => f.write_str("Span(noop)"),
            State::Discarded(parent) => f.debug_tuple("Span::Discarded").field(parent).finish(),
            State::Recording(tx, span) => f
                .debug_struct("Span")
                .field("id", &span.id)
                .field("trace_id", &tx.trace_id)
                .finish_non_exhaustive(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::recording_agent;

    fn state(span: &Span) -> *const SpanInner {
        match &span.0 {
            State::Recording(_, inner) => Arc::as_ptr(inner),
            _ => std::ptr::null(),
        }
    }

    /// On a thread of its own, whose kept spans no other test touches.
    fn on_new_thread(f: impl FnOnce() + Send + 'static) {
        std::thread::spawn(f).join().unwrap();
    }

    #[test]
    fn an_ended_span_leaves_its_allocation_to_the_next() {
        on_new_thread(|| {
            let (agent, recorder) = recording_agent(|b| b);
            let tx = agent.start_transaction("GET /", "request");
            let first = tx.start_span("first", "db");
            let first_state = state(&first);
            let first_id = first.id();
            first.end();
            let second = tx
                .segment()
                .unwrap()
                .span("second", "external")
                .subtype("http")
                .start();
            assert_eq!(state(&second), first_state, "the allocation is reused");
            assert_ne!(second.id(), first_id);
            second.end();
            tx.end();
            let spans = recorder.spans();
            let names: Vec<_> = spans.iter().map(|s| (&*s.name, &*s.kind)).collect();
            assert_eq!(names, [("first", "db"), ("second", "external")]);
            assert_eq!(spans[1].subtype.as_deref(), Some("http"));
            assert!(spans.iter().all(|s| s.parent_id == spans[0].transaction_id));
        });
    }

    #[test]
    fn a_span_still_held_is_not_reused() {
        on_new_thread(|| {
            let (agent, recorder) = recording_agent(|b| b);
            let tx = agent.start_transaction("GET /", "request");
            let parent = tx.start_span("parent", "app");
            let held = parent.segment().unwrap();
            let child = parent.start_span("child", "db");
            let parent_id = parent.id().unwrap();
            let parent_state = state(&parent);
            // Ended before its child, and held by a segment: neither lets it go.
            parent.end();
            let other = tx.start_span("other", "db");
            assert_ne!(state(&other), parent_state);
            assert_eq!(held.id(), parent_id);
            drop(held);
            other.end();
            child.end();
            tx.end();
            let spans = recorder.spans();
            let child = spans.iter().find(|s| s.name == "child").unwrap();
            assert_eq!(child.parent_id, parent_id);
        });
    }

    #[test]
    fn a_span_over_the_limit_keeps_nothing_it_owned() {
        on_new_thread(|| {
            let (agent, recorder) = recording_agent(|b| b.transaction_max_spans(1));
            let tx = agent.start_transaction("GET /", "request");
            tx.start_span("kept", "db").end();
            let parent = tx.start_span(String::from("over the limit"), "app");
            let child = parent.start_span(String::from("under it"), "db");
            child.set_label("key", "value");
            child.end();
            parent.end();
            // Not sent, so their data never moved into an event; kept, it is cleared.
            // Kept last in, first out: the parent, then the child, which held the parent.
            for _ in ["over the limit", "under it"] {
                let kept = super::super::spare::take().unwrap();
                assert!(kept.parent.is_none());
                let data = kept.lock();
                assert!(data.name.is_empty() && data.kind.is_empty());
                assert!(data.context.is_none() && data.links.is_empty());
            }
            tx.end();
            let names: Vec<_> = recorder
                .spans()
                .iter()
                .map(|s| s.name.to_string())
                .collect();
            assert_eq!(names, ["kept"]);
            assert_eq!(recorder.transactions()[0].span_count.dropped, 2);
        });
    }
}
