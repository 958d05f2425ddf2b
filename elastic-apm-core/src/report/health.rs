//! Agent health counters (`metrics-health.md`): what happened to the events handed
//! to the reporter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::model::Event;

/// A reading of the reporter's counters, all monotonic since the agent started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Events handed to the reporter (`agent.events.total`).
    pub events_total: u64,
    /// Of those, transactions, spans, errors and metricsets (zero where the reporter
    /// does not count by type). The APM Server transport counts an event's type as it
    /// leaves the queue or is turned away: those still queued are in `queue_len`.
    pub events_by_type: EventCounts,
    /// Events waiting in the queue now.
    pub queue_len: u64,
    /// Events APM Server accepted.
    pub events_sent: u64,
    /// Events dropped because the queue was full, or reported after
    /// [`shutdown`](crate::Agent::shutdown) (`agent.events.dropped`, `reason=queue`).
    pub dropped_queue_full: u64,
    /// Events dropped after leaving the queue: the request failed or the server rejected
    /// them (`reason=error`; an upper bound when a request failed mid-stream).
    pub dropped_error: u64,
    /// Events dropped because they were larger than APM Server accepts.
    pub dropped_too_large: u64,
    /// Intake requests finished: answered, failed or abandoned
    /// (`agent.events.requests.count`; one still streaming is not counted yet).
    pub requests: u64,
    /// Intake requests that failed (no answer or not 2xx).
    pub failed_requests: u64,
    /// Compressed body bytes sent (`agent.events.requests.bytes`).
    pub bytes_sent: u64,
    /// Of those, bytes of failed requests.
    pub bytes_failed: u64,
    /// Time intake requests took, from opening to the server's answer.
    pub request_time: Duration,
    /// Of that, the time of failed requests.
    pub failed_request_time: Duration,
}

/// Events counted by type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventCounts {
    /// Transactions.
    pub transactions: u64,
    /// Spans.
    pub spans: u64,
    /// Errors.
    pub errors: u64,
    /// Metricsets.
    pub metricsets: u64,
}

impl EventCounts {
    /// Their sum.
    pub fn sum(&self) -> u64 {
        self.transactions
            .saturating_add(self.spans)
            .saturating_add(self.errors)
            .saturating_add(self.metricsets)
    }
}

impl Health {
    /// Every event dropped, for any reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full + self.dropped_error + self.dropped_too_large
    }
}

/// The live counters behind [`Health`]. Each is its own atomic. An event that goes
/// into the queue touches none on the application's thread: the reporter counts it as
/// it takes it out, so that no counter is a line that every request of every thread
/// writes. Only events turned away are counted where they are handed over.
#[derive(Debug, Default)]
pub(crate) struct HealthCounters {
    /// Events out of the queue or turned away, by [`type_index`].
    pub(crate) by_type: Padded<[AtomicU64; 4]>,
    pub(crate) events_sent: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_error: AtomicU64,
    pub(crate) dropped_too_large: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) failed_requests: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) bytes_failed: AtomicU64,
    pub(crate) request_us: AtomicU64,
    pub(crate) failed_request_us: AtomicU64,
    /// The queue's highest and lowest length since metrics were last gathered.
    pub(crate) queue_max: AtomicU64,
    pub(crate) queue_min: AtomicU64,
}

/// A value alone on its cache lines (two: the prefetcher fetches lines in pairs), so
/// that the reporter's writes and the application's do not take turns at one line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// The index of an event's type in [`HealthCounters::by_type`].
pub(crate) fn type_index(event: &Event) -> usize {
    kind_index(match event {
        Event::Transaction(_) => super::EventKind::Transaction,
        Event::Span(_) => super::EventKind::Span,
        Event::Error(_) => super::EventKind::Error,
        Event::Metricset(_) => super::EventKind::Metricset,
    })
}

/// The index of an event type in [`HealthCounters::by_type`].
pub(crate) fn kind_index(kind: super::EventKind) -> usize {
    match kind {
        super::EventKind::Transaction => 0,
        super::EventKind::Span => 1,
        super::EventKind::Error => 2,
        super::EventKind::Metricset => 3,
    }
}

impl HealthCounters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters, with `queue_len` events in the queue now.
    pub(crate) fn read(&self, queue_len: u64) -> Health {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let [transactions, spans, errors, metricsets] = self.by_type.each_ref().map(get);
        let events_by_type = EventCounts {
            transactions,
            spans,
            errors,
            metricsets,
        };
        Health {
            events_total: events_by_type.sum().saturating_add(queue_len),
            events_by_type,
            queue_len,
            events_sent: get(&self.events_sent),
            dropped_queue_full: get(&self.dropped_queue_full),
            dropped_error: get(&self.dropped_error),
            dropped_too_large: get(&self.dropped_too_large),
            requests: get(&self.requests),
            failed_requests: get(&self.failed_requests),
            bytes_sent: get(&self.bytes_sent),
            bytes_failed: get(&self.bytes_failed),
            request_time: Duration::from_micros(get(&self.request_us)),
            failed_request_time: Duration::from_micros(get(&self.failed_request_us)),
        }
    }

    /// Counts an event of type `index` (see [`type_index`]) that the queue turned away
    /// before it went in.
    pub(crate) fn refused(&self, index: usize) {
        Self::add(&self.by_type[index], 1);
        Self::add(&self.dropped_queue_full, 1);
    }

    /// Counts an event taken out of the queue, leaving `len` behind: it was `len + 1`
    /// long, the longest it has been since the last event came out, for only the
    /// reporter takes events out.
    pub(crate) fn dequeued(&self, index: usize, len: u64) {
        Self::add(&self.by_type[index], 1);
        self.queue_grew_to(len.saturating_add(1));
        self.queue_shrank_to(len);
    }

    /// Records a length the queue reached; `capacity` when it turned an event away.
    pub(crate) fn queue_grew_to(&self, len: u64) {
        // A plain load first: the common case writes nothing to this shared line.
        if len > self.queue_max.load(Ordering::Relaxed) {
            self.queue_max.fetch_max(len, Ordering::Relaxed);
        }
    }

    /// Records the queue's length after an event came out.
    fn queue_shrank_to(&self, len: u64) {
        if len < self.queue_min.load(Ordering::Relaxed) {
            self.queue_min.fetch_min(len, Ordering::Relaxed);
        }
    }

    /// The lowest and highest queue length since the last call; both restart from `now`.
    pub(crate) fn take_queue_range(&self, now: u64) -> (u64, u64) {
        let min = self.queue_min.swap(now, Ordering::Relaxed).min(now);
        let max = self.queue_max.swap(now, Ordering::Relaxed).max(now);
        (min, max)
    }
}
