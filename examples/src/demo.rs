//! A self-contained tour of the agent: no APM Server needed.
//!
//! Run with `cargo run -p examples --bin demo`. It records a few simulated requests
//! (a distributed trace continued from a caller, nested and concurrent spans, a
//! captured error, an unsampled request) into an in-memory recorder and prints what
//! the agent would send to APM Server as a waterfall per trace, then the raw intake
//! NDJSON of the first event of each kind.

use std::collections::BTreeMap;
use std::time::Duration;

use elastic_apm_core::model::{Event, MetadataEvent};
use elastic_apm_core::testing::{Recorder, recording_agent};
use elastic_apm_core::{ApmFutureExt, Outcome, in_span};

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

    print_waterfall(&recorder);
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
    println!(
        "\nNo APM Server was needed. Point ELASTIC_APM_SERVER_URL at one once the transport lands (issue 3)."
    );
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
