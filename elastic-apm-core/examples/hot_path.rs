//! The tracer's hot path, for instruction counts under callgrind, which are repeatable
//! where criterion's timings on a shared machine are not:
//!
//! ```text
//! cargo build --release -p elastic-apm-core --example hot_path
//! valgrind --tool=callgrind --toggle-collect='hot_path::run' \
//!     target/release/examples/hot_path [breakdown|no-breakdown|observe] 10000
//! ```
//!
//! Divide the `Collected` instructions by the iterations: one iteration is a
//! transaction with ten spans, ended and handed to a reporter that drops it. `observe`
//! works breakdown metrics out as events are handed over, which is what the APM Server
//! transport does on its own thread: the difference is that thread's extra work.
//!
//! Fewer instructions is not always less time (a per-thread span pool cut 8.5 % of the
//! instructions and was 3-7 % slower), so the program also prints its wall time per
//! iteration. To compare two builds, run them alternately, pinned, a million iterations
//! each, several times, and compare each build's minimum:
//!
//! ```text
//! taskset -c 1 target/release/examples/hot_path breakdown 1000000
//! ```

use std::hint::black_box;

use elastic_apm_core::model::Event;
use elastic_apm_core::{Agent, Reporter};

/// Drops every event; asks for breakdown metrics when `observe`.
struct Discard {
    observe: bool,
}

impl Reporter for Discard {
    fn report(&self, event: Event) {
        drop(black_box(event));
    }

    fn wants_breakdown_metrics(&self) -> bool {
        self.observe
    }
}

#[path = "../benches/support/hot_path.rs"]
mod support;

#[inline(never)]
fn run(agent: &Agent, iterations: u64) {
    for _ in 0..iterations {
        support::one_request(agent);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let iterations = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let agent = Agent::builder()
        .read_env(false)
        .breakdown_metrics(mode != "no-breakdown")
        .reporter(Discard {
            observe: mode == "observe",
        })
        .build();
    // Warm up allocator and lazily initialised state outside the measured function.
    for _ in 0..100 {
        agent.start_transaction("warm-up", "request").end();
    }
    let started = std::time::Instant::now();
    run(&agent, iterations);
    let elapsed = started.elapsed();
    black_box(agent.collect_metrics());
    println!(
        "{} ns per iteration",
        elapsed.as_nanos() / u128::from(iterations.max(1))
    );
}
