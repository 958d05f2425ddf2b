//! Where finished events go.
//!
//! The tracer hands every finished event to a [`Reporter`]. The reporter must not
//! block: the call happens on the application's request path. The APM Server
//! transport is one reporter; [`testing::Recorder`](crate::testing::Recorder) is
//! another.

mod health;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use self::health::{EventCounts, Health};
pub(crate) use self::health::{HealthCounters, kind_index, type_index};
use crate::model::Event;

/// The future returned by [`Reporter::flush`]: `true` when everything reported before
/// the call was delivered (or dropped and counted) within the timeout.
pub type Flush = Pin<Box<dyn Future<Output = bool> + Send + 'static>>;

/// Receives finished events. Implementations must return quickly and never block:
/// when they cannot take an event they drop it and count it. Before serialising an
/// event, off the request path, call [`Event::prepare`] (it symbolises error stacks).
pub trait Reporter: Send + Sync + 'static {
    /// Takes one finished event.
    fn report(&self, event: Event);

    /// Events this reporter has dropped so far.
    fn dropped(&self) -> u64 {
        self.health().dropped()
    }

    /// The reporter's counters. The default knows nothing.
    fn health(&self) -> Health {
        Health::default()
    }

    /// Delivers what was reported so far, waiting at most `timeout`. The default has
    /// nothing buffered.
    fn flush(&self, timeout: Duration) -> Flush {
        let _ = timeout;
        Box::pin(std::future::ready(true))
    }

    /// Whether the agent works out breakdown metrics from each event as it hands it
    /// over (on the caller's thread, under a lock shared by all requests), so that
    /// [`Agent::collect_metrics`](crate::Agent::collect_metrics) includes them. The
    /// default is no: the APM Server transport works them out on its own thread, and a
    /// reporter for tests can say yes.
    fn wants_breakdown_metrics(&self) -> bool {
        false
    }

    /// Whether the reporter has no room for another event right now (its queue is full:
    /// APM Server is down, slow or rejecting). Integrations then skip context that
    /// would most likely be dropped with its event. The default always has room.
    fn is_backlogged(&self) -> bool {
        false
    }

    /// Counts an event of this kind as dropped, before it is built, when the reporter
    /// has no room for it (see [`is_backlogged`](Self::is_backlogged)), and says
    /// whether it did: while APM Server is down the application is spared building
    /// events only to drop them. The default never does.
    fn drop_if_backlogged(&self, kind: EventKind) -> bool {
        let _ = kind;
        false
    }

    /// Flushes, then stops: later events are dropped. The default only flushes.
    fn shutdown(&self, timeout: Duration) -> Flush {
        self.flush(timeout)
    }
}

/// The type of an event, for [`Reporter::drop_if_backlogged`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// A transaction.
    Transaction,
    /// A span.
    Span,
    /// An error.
    Error,
    /// A metricset.
    Metricset,
}

/// The reporter of an agent with no transport: it drops every event and counts it.
#[derive(Default)]
pub struct DiscardReporter {
    dropped: AtomicU64,
}

impl Reporter for DiscardReporter {
    fn report(&self, _event: Event) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn health(&self) -> Health {
        let dropped = self.dropped();
        Health {
            events_total: dropped,
            dropped_queue_full: dropped,
            ..Health::default()
        }
    }
}

impl fmt::Debug for DiscardReporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscardReporter")
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl<F> Reporter for F
where
    F: Fn(Event) + Send + Sync + 'static,
{
    fn report(&self, event: Event) {
        self(event);
    }
}
