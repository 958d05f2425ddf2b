//! Transactions.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::segment::Segment;
use super::span::Span;
use super::{Agent, micros, now_micros};
use crate::clock::Tick;
use crate::config::TraceContinuationStrategy;
use crate::ids::{SpanId, TraceId};
use crate::live::ConfigSnapshot;
use crate::metrics::SpanTiming;
use crate::model::{self, Context, DroppedSpanStats, LabelValue, Link, Outcome, SpanCount, User};
use crate::sampling::SampleRate;
use crate::trace_context::{TraceContext, TraceFlags, TraceParent, TraceState};

/// What every span of a transaction shares: ids, sampling, counters, and the mutable
/// transaction data behind a lock of its own (never a lock shared between requests).
pub(crate) struct TxInner {
    pub(crate) agent: Agent,
    pub(crate) trace_id: TraceId,
    pub(crate) id: SpanId,
    parent_id: Option<SpanId>,
    pub(crate) flags: TraceFlags,
    /// `None` when continuing a trace whose rate is unknown.
    pub(crate) sample_rate: Option<SampleRate>,
    pub(crate) tracestate: TraceState,
    pub(crate) timestamp_us: u64,
    pub(crate) start: Tick,
    /// `transaction_max_spans`, read once at start (configuration snapshot).
    max_spans: u32,
    /// `exit_span_min_duration`, read once at start.
    pub(crate) exit_span_min_duration: std::time::Duration,
    /// `span_stack_trace_min_duration` and `stack_trace_limit`, read once at start.
    pub(crate) span_stack: Option<(std::time::Duration, usize)>,
    /// The compression options, read once at start.
    pub(crate) compression: super::compression::Compression,
    /// One ended child span kept back for compression.
    pub(crate) buffer: super::compression::Buffer,
    /// Breakdown metrics are recorded (`breakdown_metrics`, and sampled): spans that
    /// are not sent leave their timing with the transaction.
    pub(crate) breakdown: bool,
    eligible_spans: AtomicU32,
    dropped_spans: AtomicU32,
    ended: AtomicBool,
    pub(crate) data: Mutex<TxData>,
}

pub(crate) struct TxData {
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: Cow<'static, str>,
    result: Option<Cow<'static, str>>,
    outcome: Option<Outcome>,
    /// What an integration determined (an HTTP status, say); the application's own
    /// `set_outcome` wins over it.
    instrumentation_outcome: Option<Outcome>,
    /// Boxed on first use: the transaction's shared state stays small enough for the
    /// allocator's per-thread cache, and the box goes to the event as it is.
    pub(crate) context: Option<Box<Context>>,
    /// The HTTP exchange an integration records. Not boxed: nearly every transaction
    /// of a web service has one, and it moves into the event (itself a box) whole.
    pub(crate) http: Option<model::HttpExchange>,
    links: Vec<Link>,
    pub(crate) error_captured: bool,
    dropped_stats: Vec<DroppedSpanStats>,
    /// Timings of spans not sent, for breakdown metrics.
    unsent_spans: Vec<SpanTiming>,
}

impl TxData {
    fn context(&mut self) -> &mut Context {
        self.context.get_or_insert_default()
    }
}

/// Entries of `dropped_spans_stats` kept at most (`tracing-spans-dropped-stats.md`).
const MAX_DROPPED_STATS: usize = 128;

impl TxInner {
    pub(crate) fn is_sampled(&self) -> bool {
        self.flags.is_sampled()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, TxData> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a new span would still be reported (the limit check before starting).
    pub(crate) fn span_limit_reached(&self) -> bool {
        self.eligible_spans.load(Ordering::Relaxed) >= self.max_spans
    }

    /// Decides at span end whether it is reported, counting it either way.
    pub(crate) fn admit_span(&self) -> bool {
        if self.eligible_spans.load(Ordering::Relaxed) < self.max_spans
            && self.eligible_spans.fetch_add(1, Ordering::Relaxed) < self.max_spans
        {
            true
        } else {
            self.dropped_spans.fetch_add(1, Ordering::Relaxed);
            false
        }
    }

    pub(crate) fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Sends an ended span (or composite), unless it is a fast exit span (`discardable`
    /// and shorter, in all, than `exit_span_min_duration`) or over the span limit; those
    /// are counted and kept in `dropped_spans_stats`.
    pub(crate) fn emit(&self, span: Box<model::Span>, discardable: bool) {
        let (count, measured) = match &span.composite {
            Some(composite) => (composite.count, composite.sum),
            None => (1, span.duration),
        };
        let fast = discardable && measured < self.exit_span_min_duration;
        if fast {
            self.dropped_spans.fetch_add(count, Ordering::Relaxed);
        }
        if fast || !self.admit_span() {
            self.keep_unsent(|| SpanTiming::of(&span));
            if span
                .context
                .as_ref()
                .is_some_and(|c| c.service.as_ref().is_some_and(|s| s.target.is_some()))
            {
                let outcome = span.outcome.unwrap_or(Outcome::Success);
                self.track_dropped(span.context.as_deref(), outcome, count, measured);
            }
            return;
        }
        self.agent.report(model::Event::Span(span));
    }

    /// Keeps the timing of a span that is not sent, for breakdown metrics.
    pub(crate) fn keep_unsent(&self, timing: impl FnOnce() -> SpanTiming) {
        // Also after the end: a compressed child flushed by the end comes here.
        if self.breakdown {
            crate::metrics::fold(&mut self.lock().unsent_spans, timing());
        }
    }

    /// Counts a span dropped for another reason than the limit (a fast exit span).
    pub(crate) fn count_dropped(&self) {
        self.dropped_spans.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds a dropped exit span to `dropped_spans_stats`, by destination and outcome.
    pub(crate) fn track_dropped(
        &self,
        context: Option<&model::SpanContext>,
        outcome: Outcome,
        count: u32,
        duration: std::time::Duration,
    ) {
        let Some(context) = context else { return };
        let target = context.service.as_ref().and_then(|s| s.target.as_ref());
        let resource = context
            .destination
            .as_ref()
            .and_then(|d| d.service.as_ref())
            .map(|s| s.resource.as_str());
        let (target_type, target_name) = match target {
            Some(t) => (t.kind.as_deref(), t.name.as_deref()),
            None => (None, None),
        };
        if target_type.is_none() && resource.is_none() {
            return;
        }
        let us = micros(duration);
        let mut data = self.lock();
        let stats = &mut data.dropped_stats;
        let room = stats.len() < MAX_DROPPED_STATS;
        let found = stats.iter_mut().find(|s| {
            s.outcome == outcome
                && s.destination_service_resource.as_deref() == resource
                && s.service_target_type.as_deref() == target_type
                && s.service_target_name.as_deref() == target_name
        });
        match found {
            Some(stats) => {
                stats.duration.count = stats.duration.count.saturating_add(count);
                stats.duration.sum.us = stats.duration.sum.us.saturating_add(us);
            }
            None if room => {
                let mut entry = DroppedSpanStats::new(
                    resource.map(str::to_owned),
                    target_type.map(str::to_owned),
                    target_name.map(str::to_owned),
                    outcome,
                    us,
                );
                entry.duration.count = count;
                stats.push(entry);
            }
            None => {}
        }
    }

    pub(crate) fn sample_rate_for_events(&self) -> Option<f64> {
        if self.is_sampled() {
            self.sample_rate.map(SampleRate::get)
        } else {
            Some(0.0)
        }
    }

    fn end(&self, end: Tick) {
        // Only the `Transaction` that owns this ends it, and once: its drop, or `end_at`, which
        // disarms the drop. A store, then, not a read-modify-write.
        self.ended.store(true, Ordering::Release);
        // A child kept back for compression goes out before the transaction.
        if let Some(buffered) = self.buffer.take() {
            self.emit(buffered, true);
        }
        let sampled = self.is_sampled();
        // APM Server 8+ does not need unsampled transactions (tracing-sampling.md); an
        // unknown version is treated as older.
        if !sampled && self.agent.server_version().is_some_and(|v| v.major() >= 8) {
            return;
        }
        if self
            .agent
            .drop_if_backlogged(crate::report::EventKind::Transaction)
        {
            return;
        }
        let mut data = self.lock();
        let outcome = Outcome::or_inferred(
            data.outcome.or(data.instrumentation_outcome),
            data.error_captured,
        );
        let context = data.context.take();
        // Allocated first, so the event is built in place rather than copied.
        let mut tx = Box::write(
            Box::new_uninit(),
            model::Transaction {
                id: self.id,
                trace_id: self.trace_id,
                parent_id: self.parent_id,
                name: std::mem::take(&mut data.name),
                kind: std::mem::take(&mut data.kind),
                timestamp: self.timestamp_us,
                duration: end.since(self.start),
                result: data.result.take(),
                outcome: Some(outcome),
                sampled,
                sample_rate: self.sample_rate_for_events(),
                span_count: SpanCount {
                    // Each count below the limit was handed out once: that many were sent.
                    started: self
                        .eligible_spans
                        .load(Ordering::Relaxed)
                        .min(self.max_spans),
                    dropped: self.dropped_spans.load(Ordering::Relaxed),
                },
                // Unsampled transactions carry no context (tracing-sampling.md).
                context: context.filter(|c| sampled && !c.is_empty()),
                dropped_spans_stats: if sampled {
                    std::mem::take(&mut data.dropped_stats)
                } else {
                    Vec::new()
                },
                links: std::mem::take(&mut data.links),
                otel: None,
                http: None,
                unsent_spans: std::mem::take(&mut data.unsent_spans),
            },
        );
        // Moved straight into the event (a few hundred bytes): not through `filter`.
        tx.http = data.http.take();
        drop(data);
        if tx.http.as_ref().is_some_and(|h| !sampled || h.is_empty()) {
            tx.http = None;
        }
        self.agent.report(model::Event::Transaction(tx));
    }
}

/// Configures a transaction before it starts. Made by [`Agent::transaction`].
#[must_use = "call .start() to start the transaction"]
pub struct TransactionBuilder<'a> {
    agent: &'a Agent,
    name: Cow<'static, str>,
    kind: Cow<'static, str>,
    parent: Option<TraceContext>,
    timestamp: Option<SystemTime>,
    started_at: Option<Instant>,
    links: Vec<Link>,
    config: Option<&'a ConfigSnapshot>,
}

impl fmt::Debug for TransactionBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransactionBuilder")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<'a> TransactionBuilder<'a> {
    pub(super) fn new(agent: &'a Agent, name: Cow<'static, str>, kind: Cow<'static, str>) -> Self {
        TransactionBuilder {
            agent,
            name,
            kind,
            parent: None,
            timestamp: None,
            started_at: None,
            links: Vec::new(),
            config: None,
        }
    }

    /// Starts the transaction with `config`, a snapshot of this agent's configuration
    /// the integration took for the same request already, rather than taking another:
    /// one snapshot per request, and one load of it fewer on the request path.
    pub fn with_config(mut self, config: &'a ConfigSnapshot) -> Self {
        self.config = Some(config);
        self
    }

    /// Continues the caller's trace, subject to `trace_continuation_strategy`.
    pub fn parent(mut self, parent: impl Into<Option<TraceContext>>) -> Self {
        self.parent = parent.into();
        self
    }

    /// Reads the caller's trace context from request headers; see
    /// [`TraceContext::from_headers`].
    pub fn parent_from_headers<I, N, V>(self, headers: I) -> Self
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let parent = TraceContext::from_headers(headers);
        self.parent(parent)
    }

    /// When the transaction started, if earlier than now.
    pub fn timestamp(mut self, at: SystemTime) -> Self {
        self.timestamp = Some(at);
        self
    }

    /// When the transaction started, as an [`Instant`] (a timing taken elsewhere);
    /// overrides [`timestamp`](Self::timestamp).
    pub fn started_at(mut self, at: Instant) -> Self {
        self.started_at = Some(at);
        self
    }

    /// Links the transaction to another trace's span.
    pub fn link(mut self, link: Link) -> Self {
        self.links.push(link);
        self
    }

    /// Starts the transaction. On a disabled or non-recording agent this allocates
    /// nothing and returns a transaction that records nothing.
    pub fn start(self) -> Transaction {
        let TransactionBuilder {
            agent,
            name,
            kind,
            parent,
            timestamp,
            started_at,
            mut links,
            config,
        } = self;
        if !agent.is_recording() {
            return Transaction { inner: None };
        }
        let loaded;
        let config = match config {
            Some(config) => config,
            None => {
                loaded = agent.config();
                &loaded
            }
        };
        let parent = parent.and_then(|p| {
            let restart = match config.trace_continuation_strategy {
                TraceContinuationStrategy::Continue => false,
                TraceContinuationStrategy::Restart => true,
                TraceContinuationStrategy::RestartExternal => !p.tracestate.has_es_entry(),
            };
            if restart {
                links.push(Link {
                    trace_id: p.traceparent.trace_id,
                    span_id: p.traceparent.parent_id,
                });
                None
            } else {
                Some(p)
            }
        });
        let (trace_id, parent_id, flags, sample_rate, tracestate) = match parent {
            Some(TraceContext {
                traceparent:
                    TraceParent {
                        trace_id,
                        parent_id,
                        flags,
                    },
                tracestate,
            }) => (
                trace_id,
                Some(parent_id),
                flags,
                tracestate.sample_rate(),
                tracestate,
            ),
            None => {
                let rate = config.transaction_sample_rate;
                let sampled = rate.sample();
                let recorded_rate = if sampled { rate } else { SampleRate::NEVER };
                (
                    TraceId::generate(),
                    None,
                    TraceFlags::NOT_SAMPLED.with_sampled(sampled),
                    Some(recorded_rate),
                    TraceState::for_root(recorded_rate),
                )
            }
        };
        let now = Tick::now();
        let (timestamp_us, start) = match (started_at, timestamp) {
            (Some(at), _) => {
                let start = Tick::at(at);
                (now_micros().saturating_sub(micros(now.since(start))), start)
            }
            (None, Some(at)) => {
                let ago = SystemTime::now().duration_since(at).unwrap_or_default();
                let us = at.duration_since(UNIX_EPOCH).map_or(0, micros);
                (us, now.before(ago))
            }
            (None, None) => (now_micros(), now),
        };
        let inner = TxInner {
            agent: agent.clone(),
            trace_id,
            id: SpanId::generate(),
            parent_id,
            flags,
            sample_rate,
            tracestate,
            timestamp_us,
            start,
            max_spans: config.transaction_max_spans,
            exit_span_min_duration: config.exit_span_min_duration,
            span_stack: config
                .span_stack_trace_min_duration
                .filter(|_| config.stack_trace_limit > 0)
                .map(|min| (min, config.stack_trace_limit)),
            compression: super::compression::Compression {
                enabled: config.span_compression_enabled,
                exact_match_max: config.span_compression_exact_match_max_duration,
                same_kind_max: config.span_compression_same_kind_max_duration,
            },
            buffer: Default::default(),
            breakdown: agent.records_breakdown() && flags.is_sampled(),
            eligible_spans: AtomicU32::new(0),
            dropped_spans: AtomicU32::new(0),
            ended: AtomicBool::new(false),
            data: Mutex::new(TxData {
                name,
                kind: if kind.is_empty() {
                    Cow::Borrowed("custom")
                } else {
                    kind
                },
                result: None,
                outcome: None,
                instrumentation_outcome: None,
                context: None,
                links,
                error_captured: false,
                dropped_stats: Vec::new(),
                http: None,
                unsent_spans: Vec::new(),
            }),
        };
        Transaction {
            inner: Some(Arc::new(inner)),
        }
    }
}

/// A transaction: one request or job handled by the service. Ends when
/// [`end`](Self::end) is called or when dropped.
///
/// Spans are started with [`start_span`](Self::start_span), or anywhere below a future
/// wrapped with [`ApmFutureExt::in_segment`](crate::ApmFutureExt::in_segment)`(tx.segment())`.
#[must_use = "a transaction ends when dropped"]
pub struct Transaction {
    inner: Option<Arc<TxInner>>,
}

impl Transaction {
    /// A transaction that records nothing.
    pub fn noop() -> Self {
        Transaction { inner: None }
    }

    /// Whether this transaction records anything.
    pub fn is_recording(&self) -> bool {
        self.inner.is_some()
    }

    /// Whether it is sampled: only sampled transactions record spans and context.
    pub fn is_sampled(&self) -> bool {
        self.inner.as_ref().is_some_and(|tx| tx.is_sampled())
    }

    /// Whether integrations should record request and response context (headers, URL,
    /// body): the transaction is sampled and the reporter has room for events. While
    /// its queue is full (APM Server down or slow) an event would most likely be
    /// dropped, so the agent spares the application that work; the transaction itself
    /// is still reported, or counted as dropped.
    pub fn captures_context(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|tx| tx.is_sampled() && !tx.agent.is_backlogged())
    }

    /// The agent the transaction reports to (none for a transaction that records
    /// nothing).
    pub fn agent(&self) -> Option<&Agent> {
        self.inner.as_ref().map(|tx| &tx.agent)
    }

    /// The trace id.
    pub fn trace_id(&self) -> Option<TraceId> {
        self.inner.as_ref().map(|tx| tx.trace_id)
    }

    /// The transaction id.
    pub fn id(&self) -> Option<SpanId> {
        self.inner.as_ref().map(|tx| tx.id)
    }

    /// A handle to make this transaction current or to start spans from elsewhere;
    /// `None` for a transaction that records nothing.
    pub fn segment(&self) -> Option<Segment> {
        self.inner.clone().map(Segment::from_transaction)
    }

    /// Starts a child span.
    pub fn start_span(
        &self,
        name: impl Into<Cow<'static, str>>,
        kind: impl Into<Cow<'static, str>>,
    ) -> Span {
        Span::under(self.segment(), name, kind)
    }

    fn with_data(&self, f: impl FnOnce(&mut TxData)) {
        if let Some(tx) = &self.inner {
            f(&mut tx.lock());
        }
    }

    /// Renames the transaction (e.g. once the route is known).
    pub fn set_name(&self, name: impl Into<Cow<'static, str>>) {
        self.with_data(|d| d.name = name.into());
    }

    /// Sets the type (`request`, `messaging`, ...).
    pub fn set_type(&self, kind: impl Into<Cow<'static, str>>) {
        self.with_data(|d| d.kind = kind.into());
    }

    /// Sets the result, e.g. `HTTP 2xx`.
    pub fn set_result(&self, result: impl Into<Cow<'static, str>>) {
        self.with_data(|d| d.result = Some(result.into()));
    }

    /// Sets the outcome; it takes precedence over what the agent would infer. Without
    /// it, a transaction is a failure if an error was captured for it, else a success.
    pub fn set_outcome(&self, outcome: Outcome) {
        self.with_data(|d| d.outcome = Some(outcome));
    }

    /// For integrations: the outcome their protocol says (an HTTP status, say). It
    /// takes precedence over inference from captured errors, but not over the
    /// application's own [`set_outcome`](Self::set_outcome).
    pub fn set_instrumentation_outcome(&self, outcome: Outcome) {
        self.with_data(|d| d.instrumentation_outcome = Some(outcome));
    }

    /// Links the transaction to a span of another trace, after it started. Links keep
    /// their order.
    pub fn add_link(&self, link: Link) {
        self.with_data(|d| d.links.push(link));
    }

    /// Sets a label (an indexed, searchable key-value pair).
    pub fn set_label(&self, key: impl Into<String>, value: impl Into<LabelValue>) {
        self.with_data(|d| d.context().labels.insert(key, value));
    }

    /// Sets the user.
    pub fn set_user(&self, user: User) {
        self.with_data(|d| d.context().user = Some(Box::new(user)));
    }

    /// Adds custom (unindexed) data.
    pub fn set_custom(&self, key: impl Into<String>, value: serde_json::Value) {
        self.with_data(|d| {
            d.context()
                .custom
                .get_or_insert_with(Default::default)
                .insert(key.into(), value);
        });
    }

    /// Edits the context (request, response, ...) in place. Only sampled transactions
    /// run `f`: unsampled ones send no context, so integrations skip the work. The
    /// request and response an integration records with [`with_http`](Self::with_http)
    /// are not in it until the event is prepared; a `request` or `response` set here
    /// replaces them.
    pub fn with_context(&self, f: impl FnOnce(&mut Context)) {
        if self.is_sampled() {
            self.with_data(|d| f(d.context()));
        }
    }

    /// Records the HTTP request and response (see [`model::HttpExchange`]): what an
    /// integration uses instead of [`with_context`](Self::with_context), leaving the
    /// building of `context.request` and `context.response` to the reporter thread.
    /// Only sampled transactions run `f`.
    pub fn with_http(&self, f: impl FnOnce(&mut model::HttpExchange)) {
        if self.is_sampled() {
            self.with_data(|d| f(d.http.get_or_insert_default()));
        }
    }

    /// Ends the transaction now. Spans still open are reported when they end.
    pub fn end(self) {
        drop(self);
    }

    /// Ends the transaction at `at` (a timing taken elsewhere).
    pub fn end_at(mut self, at: Instant) {
        if let Some(tx) = self.inner.take() {
            tx.end(Tick::at(at));
        }
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if let Some(tx) = self.inner.take() {
            tx.end(Tick::now());
        }
    }
}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Some(tx) => f
                .debug_struct("Transaction")
                .field("trace_id", &tx.trace_id)
                .field("id", &tx.id)
                .field("sampled", &tx.is_sampled())
                .finish_non_exhaustive(),
            None => f.write_str("Transaction(noop)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::testing::recording_agent;

    #[test]
    fn a_transaction_keeps_the_snapshot_it_was_given() {
        let (agent, events) = recording_agent(|b| b);
        let before = agent.config();
        let central = BTreeMap::from([("transaction_max_spans".to_owned(), "1".to_owned())]);
        agent.inner.shared.live.apply_central(&central);
        let with_three_spans = |tx: super::Transaction| {
            for _ in 0..3 {
                tx.start_span("SELECT", "db").end();
            }
            tx.end();
        };
        with_three_spans(
            agent
                .transaction("given", "test")
                .with_config(&before)
                .start(),
        );
        with_three_spans(agent.transaction("loaded", "test").start());
        let counts: Vec<_> = events
            .transactions()
            .iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    t.span_count.started,
                    t.span_count.dropped,
                )
            })
            .collect();
        assert_eq!(
            counts,
            [("given".to_owned(), 3, 0), ("loaded".to_owned(), 1, 2)]
        );
    }
}
