//! The cost of a `tracing` span (create, enter, exit, close) with `ApmTracingLayer`,
//! against a plain `tracing-subscriber` registry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use elastic_apm_core::Agent;
use elastic_apm_core::model::Event;
use elastic_apm_tracing::ApmTracingLayer;
use tracing_subscriber::layer::SubscriberExt;

fn span() {
    let span = tracing::info_span!("load_order", order_id = 7);
    span.in_scope(|| black_box(()));
}

fn debug_span() {
    let span = tracing::debug_span!("decode_frame", len = 7);
    span.in_scope(|| black_box(()));
}

fn layer(c: &mut Criterion) {
    {
        let _default = tracing::subscriber::set_default(tracing_subscriber::registry());
        c.bench_function("tracing span, plain registry", |b| b.iter(span));
    }

    // A reporter that drops events: the numbers are the bridge's and the tracer's.
    // No span limit: every span is recorded and reported, as in a normal transaction.
    let agent = Agent::builder()
        .read_env(false)
        .transaction_max_spans(u32::MAX)
        .reporter(|event: Event| drop(black_box(event)))
        .build();
    let _default = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(ApmTracingLayer::new(&agent)),
    );
    let tx = agent.start_transaction("GET /orders", "request");
    {
        let _current = tx.segment().unwrap().enter();
        c.bench_function(
            "tracing span, ApmTracingLayer, recorded as an APM span",
            |b| b.iter(span),
        );
        c.bench_function("tracing DEBUG span, ApmTracingLayer (not recorded)", |b| {
            b.iter(debug_span)
        });
    }
    c.bench_function(
        "tracing span, ApmTracingLayer, outside a transaction",
        |b| b.iter(span),
    );
    tx.end();
}

criterion_group!(benches, layer);
criterion_main!(benches);
