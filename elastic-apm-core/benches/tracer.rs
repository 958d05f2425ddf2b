//! The hot path: start a transaction, start and end ten spans, end the transaction,
//! hand every event to the reporter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use elastic_apm_core::Agent;
use elastic_apm_core::model::Event;

fn agent(enabled: bool) -> Agent {
    agent_with(enabled, true)
}

fn agent_with(enabled: bool, breakdown: bool) -> Agent {
    // A reporter that drops events, so the numbers are the tracer's alone.
    Agent::builder()
        .read_env(false)
        .enabled(enabled)
        .breakdown_metrics(breakdown)
        .reporter(|event: Event| drop(black_box(event)))
        .build()
}

fn transaction_with_spans(c: &mut Criterion) {
    let enabled = agent(true);
    let without_breakdown = agent_with(true, false);
    // Side by side: breakdown metrics cost the request path nothing (the transport works
    // them out on its own thread; see examples/hot_path.rs for that thread's share).
    for (name, agent) in [
        ("transaction + 10 spans", &enabled),
        (
            "transaction + 10 spans (breakdown_metrics=false)",
            &without_breakdown,
        ),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| {
                let tx = agent.start_transaction("GET /products/{id}", "request");
                for _ in 0..10 {
                    let span = tx.start_span("SELECT FROM products", "db");
                    black_box(&span);
                    span.end();
                }
                tx.end();
            });
        });
    }

    c.bench_function("transaction + 10 spans via current context", |b| {
        b.iter(|| {
            let tx = enabled.start_transaction("GET /products/{id}", "request");
            let _guard = tx.segment().map(|s| s.enter());
            for _ in 0..10 {
                elastic_apm_core::with_span("SELECT FROM products", "db", |span| {
                    black_box(span);
                });
            }
        });
    });

    let disabled = agent(false);
    c.bench_function("transaction + 10 spans (disabled agent)", |b| {
        b.iter(|| {
            let tx = disabled.start_transaction("GET /products/{id}", "request");
            for _ in 0..10 {
                tx.start_span("SELECT FROM products", "db").end();
            }
            tx.end();
        });
    });
}

fn capture_error(c: &mut Criterion) {
    let agent = agent(true);
    let tx = agent.start_transaction("POST /orders", "request");
    let segment = tx.segment();
    let error = std::io::Error::other("connection refused");
    c.bench_function(
        "capture error (raw stack; symbolised later by the reporter)",
        |b| {
            b.iter(|| segment.as_ref().map(|s| s.capture_error(black_box(&error))));
        },
    );
}

criterion_group!(benches, transaction_with_spans, capture_error);
criterion_main!(benches);
