//! The hot path the criterion benches and `examples/hot_path.rs` time.

use std::hint::black_box;

use elastic_apm_core::Agent;

/// Start a transaction, start and end ten spans, end the transaction: eleven events
/// handed to the agent's reporter.
#[inline(never)]
pub(crate) fn one_request(agent: &Agent) {
    let tx = agent.start_transaction("GET /products/{id}", "request");
    for _ in 0..10 {
        let span = tx.start_span("SELECT FROM products", "db");
        black_box(&span);
        span.end();
    }
    tx.end();
}
