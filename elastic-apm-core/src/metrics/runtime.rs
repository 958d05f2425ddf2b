//! Tokio runtime metrics, the counterpart of the .NET agent's thread-pool metrics and
//! the Go agent's goroutine count, from the runtime the agent was built on.
//!
//! | name | kind | what |
//! |---|---|---|
//! | `tokio.workers.count` | gauge | worker threads |
//! | `tokio.tasks.alive.count` | gauge | tasks spawned and not yet finished |
//! | `tokio.global_queue.depth` | gauge | tasks waiting in the runtime's shared queue |
//! | `tokio.workers.busy.pct` | gauge | share of the workers' time spent running tasks since the last report, in `[0, 1]` |
//! | `tokio.workers.park.count` | counter | times workers went idle since the last report |
//!
//! All come from tokio's stable `RuntimeMetrics` (no `tokio_unstable`); the last two
//! need 64-bit atomics.

use std::time::{Duration, Instant};

use tokio::runtime::Handle;

/// The application's runtime and the previous readings of its cumulative counters.
#[derive(Debug)]
pub(crate) struct Runtime {
    handle: Handle,
    last_at: Instant,
    last_busy: Duration,
    last_parks: u64,
}

impl Runtime {
    /// The runtime the caller runs on, if any.
    pub(crate) fn current() -> Option<Self> {
        let handle = Handle::try_current().ok()?;
        let mut runtime = Runtime {
            handle,
            last_at: Instant::now(),
            last_busy: Duration::ZERO,
            last_parks: 0,
        };
        (runtime.last_busy, runtime.last_parks) = runtime.totals();
        Some(runtime)
    }

    /// Busy time and parks summed over the workers.
    fn totals(&self) -> (Duration, u64) {
        #[cfg(target_has_atomic = "64")]
        {
            let metrics = self.handle.metrics();
            (0..metrics.num_workers()).fold((Duration::ZERO, 0), |(busy, parks), worker| {
                (
                    busy.saturating_add(metrics.worker_total_busy_duration(worker)),
                    parks.saturating_add(metrics.worker_park_count(worker)),
                )
            })
        }
        #[cfg(not(target_has_atomic = "64"))]
        {
            (Duration::ZERO, 0)
        }
    }

    pub(crate) fn sample(&mut self, out: &mut Vec<(&'static str, f64)>) {
        let metrics = self.handle.metrics();
        let workers = metrics.num_workers();
        out.push(("tokio.workers.count", workers as f64));
        out.push(("tokio.tasks.alive.count", metrics.num_alive_tasks() as f64));
        out.push((
            "tokio.global_queue.depth",
            metrics.global_queue_depth() as f64,
        ));
        if cfg!(target_has_atomic = "64") {
            let now = Instant::now();
            let (busy, parks) = self.totals();
            let elapsed = now.saturating_duration_since(self.last_at).as_secs_f64();
            if elapsed > 0.0 && workers > 0 {
                let busy_delta = busy.saturating_sub(self.last_busy).as_secs_f64();
                let share = busy_delta / (elapsed * workers as f64);
                out.push(("tokio.workers.busy.pct", share.clamp(0.0, 1.0)));
            }
            let parked = parks.saturating_sub(self.last_parks);
            if parked > 0 {
                out.push(("tokio.workers.park.count", parked as f64));
            }
            (self.last_at, self.last_busy, self.last_parks) = (now, busy, parks);
        }
    }
}
