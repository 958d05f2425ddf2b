//! The current transaction or span follows each task through `.await`, `join!`,
//! `select!`, nested async fns and spawned subtasks, and concurrent requests never see
//! each other's context.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use elastic_apm_core::testing::recording_agent;
use elastic_apm_core::{ApmFutureExt, SpanId, current_segment, in_span, start_span};

const TASKS: usize = 200;

async fn query(label: &'static str) {
    in_span(label, "db", async {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    })
    .await;
}

async fn handler(request: usize) -> (SpanId, SpanId) {
    let tx_id = current_segment().expect("transaction is current").id();
    // Nested async fns, each a span, awaited one after the other.
    in_span("load", "app", async {
        query("SELECT FROM a").await;
        query("SELECT FROM b").await;
    })
    .await;
    // Concurrent children of one span with join! and select!.
    in_span("fan-out", "app", async {
        tokio::join!(query("SELECT FROM c"), query("SELECT FROM d"));
        tokio::select! {
            () = query("SELECT FROM e") => {}
            () = tokio::time::sleep(Duration::from_secs(30)) => unreachable!(),
        }
    })
    .await;
    // A spawned subtask carries the context.
    let parent = current_segment().expect("still inside").id();
    let child = elastic_apm_core::spawn(async move {
        let span = start_span(format!("background {request}"), "app");
        tokio::time::sleep(Duration::from_millis(1)).await;
        let seen = current_segment().map(|s| s.id());
        drop(span);
        seen
    })
    .await
    .expect("subtask");
    assert_eq!(
        child,
        Some(parent),
        "spawned task sees its parent's segment"
    );
    (tx_id, parent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_transactions_keep_their_own_context() {
    let (agent, recorder) = recording_agent(|b| b);
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let agent = agent.clone();
        tasks.push(tokio::spawn(async move {
            let tx = agent.start_transaction(format!("request {i}"), "request");
            let (seen, _) = handler(i).in_segment(tx.segment()).await;
            assert_eq!(Some(seen), tx.id());
            tx.end();
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    assert!(
        current_segment().is_none(),
        "nothing leaks into the test's own task"
    );

    let transactions = recorder.transactions();
    let spans = recorder.spans();
    assert_eq!(transactions.len(), TASKS);
    // Per request: load, a, b, fan-out, c, d, e, background.
    assert_eq!(spans.len(), TASKS * 8);

    let tx_by_id: HashMap<SpanId, _> = transactions.iter().map(|t| (t.id, t)).collect();
    let span_by_id: HashMap<SpanId, _> = spans.iter().map(|s| (s.id, s)).collect();
    let parent_name = |id: &SpanId| -> String {
        span_by_id
            .get(id)
            .map(|s| s.name.to_string())
            .unwrap_or_else(|| "<transaction>".into())
    };
    for span in &spans {
        let tx = tx_by_id
            .get(&span.transaction_id)
            .expect("span's transaction was reported");
        assert_eq!(
            span.trace_id, tx.trace_id,
            "span {} is in its transaction's trace",
            span.name
        );
        let expected_parent = match span.name.as_ref() {
            "load" | "fan-out" => "<transaction>",
            "SELECT FROM a" | "SELECT FROM b" => "load",
            "SELECT FROM c" | "SELECT FROM d" | "SELECT FROM e" => "fan-out",
            name if name.starts_with("background") => "<transaction>",
            other => panic!("unexpected span {other}"),
        };
        assert_eq!(
            parent_name(&span.parent_id),
            expected_parent,
            "parent of {}",
            span.name
        );
        if expected_parent == "<transaction>" {
            assert_eq!(span.parent_id, tx.id);
        } else {
            let parent = span_by_id[&span.parent_id];
            assert_eq!(
                parent.transaction_id, span.transaction_id,
                "parent span belongs to the same transaction"
            );
        }
        if let Some(n) = span.name.strip_prefix("background ") {
            assert_eq!(
                tx.name,
                format!("request {n}"),
                "the spawned span joined its own request"
            );
        }
    }
    for tx in &transactions {
        assert_eq!(tx.span_count.started, 8);
    }
}

#[test]
fn enter_guard_restores_the_previous_segment() {
    let (agent, _recorder) = recording_agent(|b| b);
    let tx = agent.start_transaction("outer", "request");
    let outer = tx.segment().unwrap();
    let _g = outer.enter();
    elastic_apm_core::with_span("inner", "app", |span| {
        assert_eq!(current_segment().map(|s| s.id()), span.id());
    });
    assert_eq!(current_segment().map(|s| s.id()), Some(outer.id()));
}

#[test]
fn context_is_restored_after_a_panicking_poll() {
    let (agent, _recorder) = recording_agent(|b| b);
    let tx = agent.start_transaction("t", "request");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { panic!("handler panicked") }.in_segment(tx.segment()))
    }));
    assert!(result.is_err());
    assert!(
        current_segment().is_none(),
        "a panic inside the future does not leave its segment current"
    );
}

#[test]
fn disabled_agent_records_nothing() {
    let agent = elastic_apm_core::Agent::disabled();
    let tx = agent.start_transaction("t", "request");
    assert!(!tx.is_recording());
    assert!(tx.segment().is_none());
    let span = tx.start_span("s", "db");
    assert!(span.segment().is_none());
    assert!(agent.capture_error(&std::io::Error::other("x")).is_none());
}
