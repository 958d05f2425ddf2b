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
fn the_current_segment_is_restored_on_exit_even_out_of_order() {
    let (agent, recorder, subscriber) = setup(|l| l);
    tracing::subscriber::with_default(subscriber, || {
        let tx = agent.start_transaction("GET /", "request");
        let _current = tx.segment().unwrap().enter();
        let current = || elastic_apm_core::current_segment().unwrap().id();
        let (a, b) = (tracing::info_span!("a"), tracing::info_span!("b"));
        let entered_a = a.enter();
        let a_id = current();
        let entered_b = b.enter();
        let b_id = current();
        // a exits first: b stays current; then b exits: the transaction is current.
        drop(entered_a);
        assert_eq!(current(), b_id);
        drop(entered_b);
        assert_eq!(current(), tx.id().unwrap());
        // Entering a again makes it current again.
        a.in_scope(|| assert_eq!(current(), a_id));
        assert_eq!(current(), tx.id().unwrap());
    });
    assert_eq!(recorder.spans().len(), 2);
}

#[test]
fn sensitive_fields_are_redacted_and_big_integers_kept_exact() {
    let (agent, recorder, subscriber) = setup(|l| l);
    tracing::subscriber::with_default(subscriber, || {
        let tx = agent.start_transaction("POST /login", "request");
        let _current = tx.segment().unwrap().enter();
        let id: u64 = (1 << 60) + 1;
        tracing::info_span!("login", password = "hunter2", user = "ada", account = id)
            .in_scope(|| {});
    });
    let span = &recorder.spans()[0];
    let labels = &span.context.as_ref().unwrap().labels;
    assert_eq!(
        labels.get("password"),
        Some(&LabelValue::from("[REDACTED]"))
    );
    assert_eq!(labels.get("user"), Some(&LabelValue::from("ada")));
    assert_eq!(
        labels.get("account"),
        Some(&LabelValue::from(((1u64 << 60) + 1).to_string()))
    );
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
    assert_eq!(
        error.log.as_ref().unwrap().param_message.as_deref(),
        error.culprit.as_deref()
    );
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

#[derive(Debug)]
struct Declined;

impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("card declined")
    }
}

impl std::error::Error for Declined {}

#[tracing::instrument(err)]
fn charge(amount: u32) -> Result<(), Declined> {
    Err(Declined)
}

#[test]
fn instrument_err_and_bridged_log_records_are_reported_by_what_they_say() {
    let (agent, recorder, subscriber) = setup(|l| l);
    tracing::subscriber::with_default(subscriber, || {
        let tx = agent.start_transaction("POST /pay", "request");
        let _current = tx.segment().unwrap().enter();
        let _ = charge(3);
        // What tracing-log makes of `log::error!(target: "billing", ...)` ...
        tracing::event!(
            target: "log",
            tracing::Level::ERROR,
            log.target = "billing",
            log.module_path = "shop::billing",
            log.file = "src/billing.rs",
            log.line = 12u64,
            "ledger out of balance"
        );
        // ... and of the agent's own log lines, which are never recorded.
        tracing::event!(
            target: "log",
            tracing::Level::ERROR,
            log.target = "elastic_apm",
            "intake request failed"
        );
    });
    let errors = recorder.errors();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    let declined = errors[0].log.as_ref().unwrap();
    assert_eq!(declined.message, "card declined");
    let bridged = &errors[1];
    let log = bridged.log.as_ref().unwrap();
    assert_eq!(log.message, "ledger out of balance");
    assert_eq!(log.logger_name.as_deref(), Some("billing"));
    assert_eq!(bridged.culprit.as_deref(), Some("src/billing.rs:12"));
    // The log.* fields are its origin, not labels.
    assert!(bridged.context.is_none(), "{:?}", bridged.context);
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
    for c in &caches {
        assert!(fetches.iter().any(|f| f.id == c.parent_id), "{c:?}");
    }
    // One under each: the two calls, interleaved by join!, did not see each other's.
    assert_ne!(caches[0].parent_id, caches[1].parent_id);
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
        // An error without a message, and fields that would repeat the format's keys.
        let _ = charge(5);
        tracing::info!(trace.id = "mine", service.name = "other", "clashing fields");
    });
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 5, "{text}");
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
    // #[instrument(err)]: the error is the message, and error.id names the APM error.
    let error = &recorder.errors()[0];
    assert_eq!(lines[3]["message"], "card declined");
    assert_eq!(lines[3]["error.message"], "card declined");
    assert_eq!(lines[3]["error.id"], error.id.to_string());
    assert!(lines[2].get("error.id").is_none());
    // A key is never written twice (serde_json keeps the last of duplicates).
    let clashing = text.lines().nth(4).unwrap();
    assert_eq!(clashing.matches("\"trace.id\"").count(), 1, "{clashing}");
    assert_eq!(
        clashing.matches("\"service.name\"").count(),
        1,
        "{clashing}"
    );
    assert_eq!(lines[4]["trace.id"], tx.trace_id.to_string());
}
