//! A self-contained tour of the agent: no APM Server needed.
//!
//! Run with `cargo run -p examples --bin demo`. It records a few simulated requests
//! (a distributed trace continued from a caller, nested and concurrent spans, a
//! captured error, an unsampled request) into an in-memory recorder and prints them as
//! a waterfall per trace, then the raw intake NDJSON of the first event of each kind.
//! Then it runs the same requests through the real transport: to the APM Server named
//! by `ELASTIC_APM_SERVER_URL` when set, otherwise to the test intake receiver started
//! in-process on loopback, and reports what arrived.

use std::collections::BTreeMap;
use std::time::Duration;

use elastic_apm_core::model::{Event, MetadataEvent};
use elastic_apm_core::testing::{Recorder, recording_agent};
use elastic_apm_core::{Agent, ApmFutureExt, Outcome, in_span};
use intake_receiver::IntakeReceiver;

#[derive(Debug)]
struct OutOfStock {
    product: u32,
}

impl std::fmt::Display for OutOfStock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "product {} is out of stock", self.product)
    }
}

impl std::error::Error for OutOfStock {}

async fn work(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (agent, recorder) = recording_agent(|b| b.service_name("shop-demo").environment("demo"));
    simulate_requests(&agent).await;
    print_waterfall(&recorder);
    print_intake_preview(&agent, &recorder);
    send_for_real().await;
}

/// Three requests: a continued distributed trace, a failure, an unsampled request.
async fn simulate_requests(agent: &Agent) {
    // 1. A request that continues a caller's trace, with nested and concurrent spans.
    let tx = agent
        .transaction("GET /products/{id}", "request")
        .parent_from_headers([
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("tracestate", "es=s:1"),
        ])
        .start();
    async {
        in_span("SELECT FROM products", "db", work(3)).await;
        in_span("load recommendations", "app", async {
            tokio::join!(
                in_span("GET recommender", "external", work(4)),
                in_span("GET reviews", "external", work(2))
            );
        })
        .await;
    }
    .in_segment(tx.segment())
    .await;
    tx.set_result("HTTP 2xx");
    tx.set_outcome(Outcome::Success);
    tx.end();

    // 2. A request whose handler fails: the error is captured and linked.
    let tx = agent.start_transaction("POST /orders", "request");
    async {
        in_span("BEGIN", "db", work(1)).await;
        elastic_apm_core::capture_error(&OutOfStock { product: 7 });
    }
    .in_segment(tx.segment())
    .await;
    tx.set_result("HTTP 5xx");
    tx.set_outcome(Outcome::Failure);
    tx.end();

    // 3. An unsampled request: the transaction is counted, no spans are recorded.
    let tx = agent
        .transaction("GET /health", "request")
        .parent_from_headers([(
            "traceparent",
            "00-11111111111111111111111111111111-2222222222222222-00",
        )])
        .start();
    tx.start_span("never recorded", "app").end();
    tx.end();
}

fn print_intake_preview(agent: &Agent, recorder: &Recorder) {
    println!(
        "\nIntake v2 NDJSON (metadata, then the first event of each kind, cut at {PREVIEW} characters):"
    );
    let metadata = agent.metadata();
    println!(
        "{}",
        preview(
            &serde_json::to_string(&MetadataEvent {
                metadata: &metadata
            })
            .unwrap_or_default()
        )
    );
    let mut seen = Vec::new();
    for event in recorder.events() {
        if !seen.contains(&event.kind()) {
            seen.push(event.kind());
            println!(
                "{}",
                preview(&serde_json::to_string(&event).unwrap_or_default())
            );
        }
    }
}

/// The same requests through the transport: gzip NDJSON over HTTP, as in production.
async fn send_for_real() {
    let configured = std::env::var("ELASTIC_APM_SERVER_URL").ok();
    let receiver = match configured {
        Some(_) => None,
        None => Some(IntakeReceiver::start().await),
    };
    let mut builder = Agent::builder()
        .service_name("shop-demo")
        .environment("demo")
        .cloud_provider(elastic_apm_core::CloudProvider::None);
    if let Some(receiver) = &receiver {
        builder = builder.server_url(receiver.url()).central_config(false);
    }
    let agent = builder.build();
    simulate_requests(&agent).await;
    let delivered = agent.shutdown(Duration::from_secs(10)).await;
    let health = agent.health();
    let server = &agent.config().server_url;
    println!(
        "\nSent to {server}: {} events in {} request(s), {} bytes gzip, {} dropped; delivered: {delivered}",
        health.events_sent,
        health.requests,
        health.bytes_sent,
        health.dropped()
    );
    match receiver {
        Some(receiver) => {
            let kinds = receiver.accepted_events();
            let count = |kind: &str| kinds.iter().filter(|(k, _)| k == kind).count();
            println!(
                "The in-process intake receiver got {} transactions, {} spans, {} errors; schema violations: {}{}",
                count("transaction"),
                count("span"),
                count("error"),
                receiver.violations().len(),
                if receiver.validates() {
                    ""
                } else {
                    " (schemas not found, not validated)"
                }
            );
            println!(
                "No APM Server was needed. Set ELASTIC_APM_SERVER_URL (and ELASTIC_APM_SECRET_TOKEN or ELASTIC_APM_API_KEY) to send to yours."
            );
        }
        None => println!("Look for service \"shop-demo\" in Kibana's APM app."),
    }
}

const PREVIEW: usize = 400;

fn preview(line: &str) -> String {
    elastic_apm_core::model::limits::truncate(line, PREVIEW).into_owned()
}

/// One line per transaction, span and error, indented by nesting, grouped by trace.
fn print_waterfall(recorder: &Recorder) {
    struct Row {
        parent: Option<String>,
        id: String,
        start: u64,
        line: String,
    }
    let mut traces: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for event in recorder.events() {
        match event {
            Event::Transaction(t) => traces.entry(t.trace_id.to_string()).or_default().push(Row {
                parent: None,
                id: t.id.to_string(),
                start: t.timestamp,
                line: format!(
                    "transaction {:<24} {:<9} {:>8.2} ms  {} {}",
                    t.name,
                    t.kind,
                    t.duration.as_secs_f64() * 1e3,
                    t.result.as_deref().unwrap_or(""),
                    if t.sampled { "" } else { "(unsampled)" }
                ),
            }),
            Event::Span(s) => traces.entry(s.trace_id.to_string()).or_default().push(Row {
                parent: Some(s.parent_id.to_string()),
                id: s.id.to_string(),
                start: s.timestamp,
                line: format!(
                    "span {:<31} {:<9} {:>8.2} ms",
                    s.name,
                    s.kind,
                    s.duration.as_secs_f64() * 1e3
                ),
            }),
            Event::Error(e) => {
                let Some(trace) = e.trace_id else { continue };
                traces.entry(trace.to_string()).or_default().push(Row {
                    parent: e.parent_id.map(|p| p.to_string()),
                    id: e.id.to_string(),
                    start: e.timestamp,
                    line: format!(
                        "error  {}",
                        e.exception
                            .as_ref()
                            .and_then(|x| x.message.as_deref())
                            .unwrap_or("?")
                    ),
                });
            }
            Event::Metricset(_) => {}
        }
    }
    for (trace, mut rows) in traces {
        println!("\ntrace {trace}");
        rows.sort_by_key(|r| r.start);
        let roots: Vec<usize> = (0..rows.len())
            .filter(|&i| {
                rows[i]
                    .parent
                    .as_ref()
                    .is_none_or(|p| !rows.iter().any(|r| &r.id == p))
            })
            .collect();
        fn walk(rows: &[Row], i: usize, depth: usize) {
            println!("  {}{}", "  ".repeat(depth), rows[i].line);
            for (j, row) in rows.iter().enumerate() {
                if row.parent.as_deref() == Some(rows[i].id.as_str()) {
                    walk(rows, j, depth + 1);
                }
            }
        }
        for root in roots {
            walk(&rows, root, 0);
        }
    }
}
