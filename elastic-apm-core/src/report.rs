//! Where finished events go.
//!
//! The tracer hands every finished event to a [`Reporter`]. The reporter must not
//! block: the call happens on the application's request path. The APM Server
//! transport is one reporter; [`testing::Recorder`](crate::testing::Recorder) is
//! another.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::model::Event;

/// Receives finished events. Implementations must return quickly and never block:
/// when they cannot take an event they drop it and count it. Before serialising an
/// event, off the request path, call [`Event::prepare`] (it symbolises error stacks).
pub trait Reporter: Send + Sync + 'static {
    /// Takes one finished event.
    fn report(&self, event: Event);

    /// Events this reporter has dropped so far.
    fn dropped(&self) -> u64 {
        0
    }
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
