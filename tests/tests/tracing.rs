//! The `tracing` bridge end to end (issue 10): an axum handler behind `ApmLayer` calls a
//! `#[tracing::instrument]` function that queries through an `ApmPool`; what reaches
//! the intake receiver, and what the fmt layer writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use elastic_apm_core::model::Link;
use elastic_apm_sqlx::ApmPool;
use elastic_apm_tower::ApmLayer;
use elastic_apm_tracing::{ApmTracingLayer, EcsFormat};
use intake_receiver::IntakeReceiver;
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;

mod support;

/// A writer into a shared buffer, for the fmt layer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tracing::instrument(skip(pool))]
async fn load_product(pool: &ApmPool<sqlx::Sqlite>, id: i64) -> Result<String, sqlx::Error> {
    tracing::info!(product_id = id, "loading product");
    let (name,): (String,) = sqlx::query_as("SELECT name FROM products WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await?;
    if id == 2 {
        tracing::error!(product_id = id, "product 2 is discontinued");
    }
    Ok(name)
}

async fn get_product(State(pool): State<ApmPool<sqlx::Sqlite>>, Path(id): Path<i64>) -> String {
    load_product(&pool, id).await.unwrap_or_default()
}

fn by_id<'a>(events: &'a [Value], id: &Value) -> &'a Value {
    events.iter().find(|e| e["id"] == *id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instrumented_functions_join_the_trace_and_their_logs_carry_it() {
    let receiver = IntakeReceiver::start().await;
    let agent = receiver
        .agent_builder()
        .service_name("tracing-e2e")
        // Events reach the receiver's record when their request ends.
        .api_request_time(Duration::from_millis(300))
        .build();
    let logs = Buffer::default();
    let writer = logs.clone();
    // Global: axum runs each connection in a task of its own.
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(ApmTracingLayer::new(&agent))
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(EcsFormat::new(&agent))
                    .with_writer(move || writer.clone()),
            ),
    )
    .unwrap();

    let pool = support::sqlite_in_memory(&agent).await;
    sqlx::query("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO products (name) VALUES ('kettle'), ('toaster')")
        .execute(&pool)
        .await
        .unwrap();
    let app = Router::new()
        .route("/products/{id}", get(get_product))
        .with_state(pool)
        .layer(ApmLayer::new(&agent));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    for (id, name) in [(1, "kettle"), (2, "toaster")] {
        let body = reqwest::get(format!("http://{addr}/products/{id}"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, name);
    }

    // A batch consumer linking the traces of the messages it handles.
    let (first, second) = (
        "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
        "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
    );
    let link = |pair: &str| {
        let (trace, span) = pair.split_once('-').unwrap();
        Link {
            trace_id: elastic_apm_core::TraceId::from_hex(trace).unwrap(),
            span_id: elastic_apm_core::SpanId::from_hex(span).unwrap(),
        }
    };
    let batch = agent
        .transaction("consume orders", "messaging")
        .link(link(first))
        .start();
    batch.add_link(link(second));
    batch.end();

    let all_arrived = receiver
        .wait_until(Duration::from_secs(20), |r| {
            r.accepted("transaction").len() == 3 && r.accepted("error").len() == 1
        })
        .await;
    assert!(agent.flush(Duration::from_secs(10)).await);
    assert!(all_arrived);
    assert!(receiver.validates() || std::env::var("CI").is_err());
    assert!(
        receiver.violations().is_empty(),
        "{:#?}",
        receiver.violations()
    );

    let transactions = receiver.accepted("transaction");
    let spans = receiver.accepted("span");
    let requests: Vec<&Value> = transactions
        .iter()
        .filter(|t| t["name"] == "GET /products/{id}")
        .collect();
    assert_eq!(requests.len(), 2);
    // transaction → tracing span → db span, for each request.
    for tx in &requests {
        let load = spans
            .iter()
            .find(|s| s["name"] == "load_product" && s["transaction_id"] == tx["id"])
            .unwrap_or_else(|| panic!("no load_product span in {spans:#?}"));
        assert_eq!(load["parent_id"], tx["id"]);
        assert_eq!(load["type"], "app");
        assert_eq!(load["subtype"], "internal");
        let query = spans
            .iter()
            .find(|s| s["type"] == "db" && s["transaction_id"] == tx["id"])
            .unwrap();
        assert_eq!(query["parent_id"], load["id"], "{query:#}");
        assert_eq!(query["name"], "SELECT FROM products");
    }

    // The ERROR event: an error of the second request's load_product span.
    let error = &receiver.accepted("error")[0];
    assert_eq!(error["log"]["message"], "product 2 is discontinued");
    assert_eq!(error["log"]["level"], "error");
    let parent = by_id(&spans, &error["parent_id"]);
    assert_eq!(parent["name"], "load_product");
    let tx = by_id(&transactions, &error["transaction_id"]);
    assert_eq!(tx["name"], "GET /products/{id}");
    assert_eq!(error["trace_id"], tx["trace_id"]);
    assert_eq!(error["context"]["tags"]["product_id"].as_f64(), Some(2.0));

    // Log lines, as the fmt layer wrote them, carry the trace they were written in.
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let all: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let error_line = all
        .iter()
        .find(|l| l["message"] == "product 2 is discontinued")
        .unwrap();
    assert_eq!(error_line["error.id"], error["id"]);
    assert_eq!(error_line["log.level"], "ERROR");
    let lines: Vec<&Value> = all
        .iter()
        .filter(|l| l["message"] == "loading product")
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    for line in &lines {
        let tx = transactions
            .iter()
            .find(|t| t["trace_id"] == line["trace.id"])
            .unwrap_or_else(|| panic!("no transaction of trace {}", line["trace.id"]));
        assert_eq!(line["transaction.id"], tx["id"]);
        let span = by_id(&spans, &line["span.id"]);
        assert_eq!(span["name"], "load_product");
        assert_eq!(line["service.name"], "tracing-e2e");
    }

    // Links on the wire, in the order they were added.
    let batch = transactions
        .iter()
        .find(|t| t["name"] == "consume orders")
        .unwrap();
    let links: Vec<String> = batch["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{}-{}",
                l["trace_id"].as_str().unwrap(),
                l["span_id"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(links, [first, second]);
}
