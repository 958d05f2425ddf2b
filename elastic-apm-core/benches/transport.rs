//! The reporter thread's work per request: serialise a typical HTTP transaction with
//! five database spans as NDJSON and gzip it, as the intake request streams.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use elastic_apm_core::model::{Db, Event, Headers, Request, Response, Url};
use elastic_apm_core::testing::recording_agent;
use elastic_apm_core::transport::IntakeEncoder;

/// The events of one typical request, as the tracer makes them.
fn typical_request() -> (Vec<Event>, elastic_apm_core::model::Metadata) {
    let (agent, recorder) = recording_agent(|b| {
        // Five separate spans, as when they are too slow to be compressed.
        b.service_name("shop").span_compression_enabled(false)
    });
    let tx = agent.start_transaction("GET /products/{id}", "request");
    tx.with_context(|c| {
        let mut request = Request::default();
        request.method = "GET".into();
        let mut url = Url::default();
        url.full = Some("http://shop.example.com/products/42?ref=home".into());
        url.pathname = Some("/products/42".into());
        url.search = Some("ref=home".into());
        url.hostname = Some("shop.example.com".into());
        url.protocol = Some("http:".into());
        request.url = url;
        request.http_version = Some("1.1".into());
        let mut headers = Headers::new();
        headers.append("host", "shop.example.com");
        headers.append(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        );
        headers.append("accept", "application/json");
        request.headers = Some(headers);
        c.request = Some(request);
        let mut response = Response::default();
        response.status_code = Some(200);
        c.response = Some(response);
    });
    for i in 0..5 {
        let span = tx
            .segment()
            .unwrap()
            .span("SELECT FROM products", "db")
            .subtype("postgresql")
            .action("query")
            .exit()
            .start();
        span.with_context(|c| {
            let mut db = Db::default();
            db.kind = Some("sql".into());
            db.instance = Some("shop".into());
            db.statement = Some(format!(
                "SELECT id, name, price FROM products WHERE id = $1 -- {i}"
            ));
            c.db = Some(db);
        });
        span.end();
    }
    tx.set_result("HTTP 2xx");
    tx.end();
    (recorder.events(), agent.metadata())
}

fn encode_and_compress(c: &mut Criterion) {
    let (events, metadata) = typical_request();
    assert_eq!(events.len(), 6);
    let mut group = c.benchmark_group("intake encode+gzip");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("HTTP transaction + 5 db spans", |b| {
        let mut encoder = IntakeEncoder::new(&metadata).unwrap();
        b.iter(|| {
            for event in &events {
                encoder.push(event).unwrap();
            }
            black_box(encoder.take_output(16 * 1024));
            // A new request at the default api_request_size, as the reporter does.
            if encoder.compressed_len() > 768 * 1024 {
                let full = std::mem::replace(&mut encoder, IntakeEncoder::new(&metadata).unwrap());
                black_box(full.finish().unwrap());
            }
        });
    });
    group.finish();
}

criterion_group!(benches, encode_and_compress);
criterion_main!(benches);
