//! `traceparent` / `tracestate` parsing and formatting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use elastic_apm_core::{TraceContext, TraceParent};

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn trace_context(c: &mut Criterion) {
    c.bench_function("traceparent parse", |b| {
        b.iter(|| TraceParent::parse(black_box(TRACEPARENT)));
    });

    let parsed = TraceParent::parse(TRACEPARENT).expect("valid");
    c.bench_function("traceparent format", |b| {
        b.iter(|| black_box(black_box(&parsed).to_header()));
    });

    let headers = [
        ("host", "shop.example"),
        ("traceparent", TRACEPARENT),
        ("tracestate", "es=s:0.5,rojo=00f067aa0ba902b7"),
        ("accept", "*/*"),
    ];
    c.bench_function("trace context from headers (with tracestate)", |b| {
        b.iter(|| TraceContext::from_headers(black_box(headers)));
    });
}

criterion_group!(benches, trace_context);
criterion_main!(benches);
