//! Agent health counters (`metrics-health.md`): what happened to the events handed
//! to the reporter.

use std::sync::atomic::{AtomicU64, Ordering};

/// A reading of the reporter's counters, all monotonic since the agent started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Events handed to the reporter (`agent.events.total`).
    pub events_total: u64,
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
    /// Intake requests made or attempted (`agent.events.requests.count`).
    pub requests: u64,
    /// Intake requests that failed (no answer or not 2xx).
    pub failed_requests: u64,
    /// Compressed body bytes sent (`agent.events.requests.bytes`).
    pub bytes_sent: u64,
}

impl Health {
    /// Every event dropped, for any reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full + self.dropped_error + self.dropped_too_large
    }
}

/// The live counters behind [`Health`]. Each is its own atomic; the enqueue path
/// touches two of them.
#[derive(Debug, Default)]
pub(crate) struct HealthCounters {
    pub(crate) events_total: AtomicU64,
    pub(crate) dequeued: AtomicU64,
    pub(crate) events_sent: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_error: AtomicU64,
    pub(crate) dropped_too_large: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) failed_requests: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
}

impl HealthCounters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn read(&self) -> Health {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let total = get(&self.events_total);
        let dropped_queue_full = get(&self.dropped_queue_full);
        Health {
            events_total: total,
            queue_len: total.saturating_sub(dropped_queue_full + get(&self.dequeued)),
            events_sent: get(&self.events_sent),
            dropped_queue_full,
            dropped_error: get(&self.dropped_error),
            dropped_too_large: get(&self.dropped_too_large),
            requests: get(&self.requests),
            failed_requests: get(&self.failed_requests),
            bytes_sent: get(&self.bytes_sent),
        }
    }
}
