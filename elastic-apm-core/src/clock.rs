//! The tracer's clock: when transactions and spans start and end.
//!
//! A transaction with ten spans reads the clock 22 times, and `Instant::now` (the OS's
//! monotonic clock, through the vDSO) was a quarter of that hot path. Where the CPU's
//! time stamp counter is invariant, [quanta] reads it directly and scales it to
//! nanoseconds, calibrated against the OS clock once; elsewhere it falls back to the
//! OS clock. Durations are only ever taken between two [`Tick`]s.

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

fn clock() -> &'static quanta::Clock {
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Calibrates the clock now (a millisecond or so, at most 200), so that no request
/// pays for it.
pub(crate) fn calibrate() {
    clock();
}

/// An `Instant` and the tick read with it. `Instant`s given to the tracer convert
/// through it, so that the offsets between them stay exact; it is read again every
/// ten seconds, so that the counter's drift against the OS clock cannot add up.
static ANCHOR: Mutex<Option<(Instant, Tick)>> = Mutex::new(None);

const ANCHOR_LIFETIME: Duration = Duration::from_secs(10);

/// A point in time on the tracer's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Tick(quanta::Instant);

impl Tick {
    pub(crate) fn now() -> Tick {
        Tick(clock().now())
    }

    /// The tick of an `Instant` taken elsewhere (for explicit timings, off the hot
    /// path).
    pub(crate) fn at(instant: Instant) -> Tick {
        let mut anchor = ANCHOR.lock().unwrap_or_else(PoisonError::into_inner);
        let (anchor_instant, anchor_tick) = match *anchor {
            Some((at, tick)) if at.elapsed() < ANCHOR_LIFETIME => (at, tick),
            _ => *anchor.insert((Instant::now(), Tick::now())),
        };
        drop(anchor);
        let tick = match instant.checked_duration_since(anchor_instant) {
            Some(after) => anchor_tick.0.checked_add(after),
            None => anchor_tick
                .0
                .checked_sub(anchor_instant.saturating_duration_since(instant)),
        };
        tick.map_or(anchor_tick, Tick)
    }

    /// The time from `earlier` to this tick; zero if `earlier` is later.
    pub(crate) fn since(self, earlier: Tick) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// This tick moved back by `duration` (to the start of the clock at most).
    pub(crate) fn before(self, duration: Duration) -> Tick {
        Tick(self.0.checked_sub(duration).unwrap_or(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_measure_what_the_os_clock_measures() {
        let (tick, instant) = (Tick::now(), Instant::now());
        std::thread::sleep(Duration::from_millis(20));
        let (by_tick, by_instant) = (Tick::now().since(tick), instant.elapsed());
        let off = by_tick.abs_diff(by_instant);
        assert!(
            off < Duration::from_millis(2),
            "{by_tick:?} against {by_instant:?}"
        );
        assert_eq!(tick.since(Tick::now()), Duration::ZERO);
    }

    #[test]
    fn an_instant_taken_elsewhere_lands_where_it_was() {
        let earlier = Instant::now();
        std::thread::sleep(Duration::from_millis(10));
        let ago = Tick::now().since(Tick::at(earlier));
        let by_instant = earlier.elapsed();
        assert!(ago >= Duration::from_millis(10), "{ago:?}");
        assert!(
            by_instant.abs_diff(ago) < Duration::from_millis(1),
            "{ago:?}"
        );
        let future = Instant::now() + Duration::from_secs(5);
        let ahead = Tick::at(future).since(Tick::now());
        assert!(ahead > Duration::from_millis(4990), "{ahead:?}");
        let (a, b) = (
            Instant::now(),
            Instant::now() + Duration::from_nanos(12_345),
        );
        assert_eq!(
            Tick::at(b).since(Tick::at(a)),
            b - a,
            "exact between instants"
        );
    }
}
