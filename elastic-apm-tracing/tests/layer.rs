//! The layer in-process, with a recording agent: what `tracing` spans and events
//! become, and how they nest with the agent's own spans.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use elastic_apm_core::model::LabelValue;
use elastic_apm_core::testing::{Recorder, recording_agent};
use elastic_apm_core::{Agent, ApmFutureExt};
use elastic_apm_tracing::{ApmTracingLayer, EcsFormat};
use tracing::instrument::WithSubscriber;
use tracing_subscriber::layer::SubscriberExt;

fn setup(
    configure: impl FnOnce(ApmTracingLayer) -> ApmTracingLayer,
) -> (Agent, Recorder, impl tracing::Subscriber + Send + Sync) {
    let (agent, recorder) = recording_agent(|b| b);
    let layer = configure(ApmTracingLayer::new(&agent));
    (agent, recorder, tracing_subscriber::registry().with(layer))
}

#[test]
fn spans_inside_a_transaction_become_its_spans_with_labels() {
    let (agent, recorder, subscriber) = setup(|l| l);
    tracing::subscriber::with_default(subscriber, || {
        let tx = agent.start_transaction("GET /orders", "request");
        let current = tx.segment().unwrap().enter();
        let outer = tracing::info_span!("load_order", order.id = 7, cached = false);
        outer.in_scope(|| {
            let inner = tracing::info_span!("price", apm.type = "db", apm.subtype = "redis");
            inner.in_scope(|| {});
            // A span of the agent's API inside a `tracing` span nests under it too.
            elastic_apm_core::start_span("SELECT FROM orders", "db").end();
        });
        drop(outer);
        drop(current);
        tx.end();
    });
    let tx = &recorder.transactions()[0];
    let spans = recorder.spans();
    let by_name = |n: &str| spans.iter().find(|s| s.name == n).unwrap();
    let (load, price, select) = (
        by_name("load_order"),
        by_name("price"),
        by_name("SELECT FROM orders"),
    );
    assert_eq!(load.parent_id, tx.id);
    assert_eq!(
        (&*load.kind, load.subtype.as_deref()),
        ("app", Some("internal"))
    );
    let labels = &load.context.as_ref().unwrap().labels;
    assert_eq!(labels.get("order_id"), Some(&LabelValue::from(7i64)));
    assert_eq!(labels.get("cached"), Some(&LabelValue::from(false)));
    assert_eq!(price.parent_id, load.id);
    assert_eq!(
        (&*price.kind, price.subtype.as_deref()),
        ("db", Some("redis"))
    );
    assert_eq!(select.parent_id, load.id);
    assert_eq!(spans.len(), 3);
}

#[test]
fn verbose_spans_ignored_targets_and_no_transaction_record_nothing() {
    let (agent, recorder, subscriber) = setup(|l| l.ignore_target("h2"));
    tracing::subscriber::with_default(subscriber, || {
        // Outside any transaction: nothing (no transactions from root spans by default).
        tracing::info_span!("startup").in_scope(|| {});
        let tx = agent.start_transaction("GET /", "request");
        let _current = tx.segment().unwrap().enter();
        tracing::debug_span!("decode").in_scope(|| {});
        tracing::info_span!(target: "h2::codec", "frame").in_scope(|| {});
        tracing::info_span!(target: "elastic_apm", "agent").in_scope(|| {});
        tracing::info_span!(target: "h2c", "not h2").in_scope(|| {});
    });
    let names: Vec<_> = recorder
        .spans()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["not h2"]);
}

#[test]
fn root_spans_can_start_transactions_and_follows_from_links() {
    let (_agent, recorder, subscriber) = setup(|l| {
        l.transactions_from_root_spans(true)
            .spans_at(tracing::Level::DEBUG)
    });
    tracing::subscriber::with_default(subscriber, || {
        let producer = tracing::info_span!("produce", apm.type = "messaging");
        producer.in_scope(|| tracing::debug_span!("encode").in_scope(|| {}));
        let consumer = tracing::info_span!("consume_batch", batch = 3);
        consumer.follows_from(&producer);
        drop(producer);
        drop(consumer);
    });
    let txs = recorder.transactions();
    let produce = txs.iter().find(|t| t.name == "produce").unwrap();
    let consume = txs.iter().find(|t| t.name == "consume_batch").unwrap();
    assert_eq!(produce.kind, "messaging");
    assert_eq!(consume.kind, "custom");
    assert_eq!(consume.links.len(), 1);
    assert_eq!(consume.links[0].trace_id, produce.trace_id);
    assert_eq!(consume.links[0].span_id, produce.id);
    assert_eq!(recorder.spans()[0].name, "encode");
    assert_eq!(recorder.spans()[0].parent_id, produce.id);
}

#[test]
fn error_events_become_errors_of_the_span_they_happen_in() {
    let (agent, recorder, subscriber) = setup(|l| l);
    tracing::subscriber::with_default(subscriber, || {
        let tx = agent.start_transaction("POST /orders", "request");
        let current = tx.segment().unwrap().enter();
        tracing::info_span!("charge").in_scope(|| {
            tracing::error!(order_id = 7, "payment declined: {}", "insufficient funds");
            tracing::warn!("retrying");
        });
        tracing::error!(target: "elastic_apm", "the agent's own line");
        drop(current);
        // Outside a transaction: nothing.
        tracing::error!("no transaction here");
    });
    let errors = recorder.errors();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let error = &errors[0];
    let span = &recorder.spans()[0];
    let log = error.log.as_ref().unwrap();
    assert_eq!(log.message, "payment declined: insufficient funds");
    assert_eq!(log.level.as_deref(), Some("error"));
    assert_eq!(log.logger_name.as_deref(), Some("layer"));
    assert_eq!(error.parent_id, Some(span.id));
    assert_eq!(error.trace_id, Some(span.trace_id));
    let culprit = error.culprit.as_deref().unwrap();
    assert!(culprit.contains("tests/layer.rs:"), "{culprit}");
    let labels = &error.context.as_ref().unwrap().labels;
    assert_eq!(labels.get("order_id"), Some(&LabelValue::from(7i64)));
    assert!(error.exception.is_none());
}

#[tracing::instrument(fields(apm.type = "db"))]
async fn fetch(id: u32) -> u32 {
    tokio::task::yield_now().await;
    elastic_apm_core::start_span("GET cache", "cache").end();
    id * 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instrumented_async_functions_nest_across_awaits_and_threads() {
    let (agent, recorder, subscriber) = setup(|l| l);
    let tx = agent.start_transaction("GET /items", "request");
    let doubled = async {
        let (a, b) = tokio::join!(fetch(1), fetch(2));
        a + b
    }
    .in_segment(tx.segment())
    .with_subscriber(subscriber)
    .await;
    tx.end();
    assert_eq!(doubled, 6);
    let t = &recorder.transactions()[0];
    let spans = recorder.spans();
    let fetches: Vec<_> = spans.iter().filter(|s| s.name == "fetch").collect();
    assert_eq!(fetches.len(), 2);
    for f in &fetches {
        assert_eq!(f.parent_id, t.id);
        assert_eq!(f.kind, "db");
        assert!(f.context.as_ref().unwrap().labels.get("id").is_some());
    }
    let caches: Vec<_> = spans.iter().filter(|s| s.name == "GET cache").collect();
    assert_eq!(caches.len(), 2);
    for c in caches {
        assert!(fetches.iter().any(|f| f.id == c.parent_id), "{c:?}");
    }
}

/// A writer into a shared buffer.
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

#[test]
fn ecs_lines_carry_the_trace_they_were_written_in() {
    let (agent, recorder) = recording_agent(|b| b.service_name("shop").service_version("1.2"));
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::registry()
        .with(ApmTracingLayer::new(&agent))
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(EcsFormat::new(&agent))
                .with_writer(move || writer.clone()),
        );
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("before any transaction");
        let tx = agent.start_transaction("GET /", "request");
        let _current = tx.segment().unwrap().enter();
        tracing::info!(
            order_id = 7,
            note = "a \"quoted\"\nline",
            "in the transaction"
        );
        tracing::info_span!("work").in_scope(|| tracing::warn!("in a span"));
    });
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    let tx = &recorder.transactions()[0];
    let span = &recorder.spans()[0];
    for line in &lines {
        for key in ["@timestamp", "log.level", "message", "ecs.version"] {
            assert!(line.get(key).is_some(), "{key} in {line}");
        }
        assert_eq!(line["service.name"], "shop");
        assert_eq!(line["service.version"], "1.2");
        assert_eq!(line["event.dataset"], "shop");
    }
    assert!(lines[0].get("trace.id").is_none());
    assert_eq!(lines[1]["message"], "in the transaction");
    assert_eq!(lines[1]["trace.id"], tx.trace_id.to_string());
    assert_eq!(lines[1]["transaction.id"], tx.id.to_string());
    assert!(lines[1].get("span.id").is_none());
    assert_eq!(lines[1]["order_id"], 7);
    assert_eq!(lines[1]["note"], "a \"quoted\"\nline");
    assert_eq!(lines[2]["log.level"], "WARN");
    assert_eq!(lines[2]["span.id"], span.id.to_string());
    assert_eq!(lines[2]["transaction.id"], tx.id.to_string());
}
