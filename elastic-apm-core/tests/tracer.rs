//! Sampling, trace continuation, span limits and error capture through the public API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use elastic_apm_core::testing::recording_agent;
use elastic_apm_core::{Outcome, SampleRate, TraceContinuationStrategy};

const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const UNSAMPLED_PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";

#[test]
fn continues_the_callers_trace_and_sample_rate() {
    let (agent, recorder) = recording_agent(|b| b.transaction_sample_rate(SampleRate::NEVER));
    let tx = agent
        .transaction("GET /", "request")
        .parent_from_headers([("traceparent", PARENT), ("tracestate", "es=s:0.25,rojo=1")])
        .start();
    assert!(
        tx.is_sampled(),
        "the caller's decision wins over the local rate"
    );
    let segment = tx.segment().unwrap();
    assert_eq!(
        segment.tracestate().to_header().as_deref(),
        Some("es=s:0.25,rojo=1")
    );
    tx.start_span("s", "app").end();
    tx.end();
    let t = &recorder.transactions()[0];
    assert_eq!(t.trace_id.to_string(), "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(t.parent_id.unwrap().to_string(), "b7ad6b7169203331");
    assert_eq!(t.sample_rate, Some(0.25));
    assert_eq!(recorder.spans()[0].sample_rate, Some(0.25));
}

#[test]
fn without_es_rate_the_sample_rate_is_omitted() {
    let (agent, recorder) = recording_agent(|b| b);
    agent
        .transaction("GET /", "request")
        .parent_from_headers([("traceparent", PARENT)])
        .start()
        .end();
    assert_eq!(recorder.transactions()[0].sample_rate, None);
}

#[test]
fn unsampled_parent_records_no_spans_but_propagates() {
    let (agent, recorder) = recording_agent(|b| b);
    let tx = agent
        .transaction("GET /", "request")
        .parent_from_headers([("traceparent", UNSAMPLED_PARENT)])
        .start();
    assert!(!tx.is_sampled());
    tx.set_label("ignored", true);
    let span = tx.start_span("SELECT", "db");
    assert!(!span.is_recording());
    let outgoing = span.segment().unwrap().traceparent();
    assert_eq!(
        Some(outgoing.parent_id),
        tx.id(),
        "an unsampled span propagates its transaction's id"
    );
    assert!(!outgoing.flags.is_sampled());
    span.end();
    tx.end();
    assert!(recorder.spans().is_empty());
    let t = &recorder.transactions()[0];
    assert!(!t.sampled);
    assert_eq!(t.sample_rate, Some(0.0));
    assert!(
        t.context.is_none(),
        "unsampled transactions carry no context"
    );
}

#[test]
fn root_transactions_record_the_configured_rate_in_tracestate() {
    let (agent, recorder) =
        recording_agent(|b| b.transaction_sample_rate(SampleRate::new(1.0).unwrap()));
    let tx = agent.start_transaction("job", "scheduled");
    assert_eq!(
        tx.segment().unwrap().tracestate().to_header().as_deref(),
        Some("es=s:1")
    );
    tx.end();
    let t = &recorder.transactions()[0];
    assert_eq!(t.parent_id, None);
    assert_eq!(t.sample_rate, Some(1.0));
    assert_eq!(t.outcome, Some(Outcome::Success));
}

#[test]
fn sampling_rate_is_applied_to_roots() {
    let (agent, recorder) =
        recording_agent(|b| b.transaction_sample_rate(SampleRate::new(0.5).unwrap()));
    for _ in 0..2000 {
        agent.start_transaction("t", "request").end();
    }
    let sampled = recorder.transactions().iter().filter(|t| t.sampled).count();
    assert!(
        (800..1200).contains(&sampled),
        "{sampled} of 2000 sampled at 0.5"
    );
    assert!(
        recorder
            .transactions()
            .iter()
            .all(|t| t.sample_rate == Some(if t.sampled { 0.5 } else { 0.0 }))
    );
}

#[test]
fn restart_strategy_starts_a_new_trace_linked_to_the_old() {
    let (agent, recorder) =
        recording_agent(|b| b.trace_continuation_strategy(TraceContinuationStrategy::Restart));
    agent
        .transaction("GET /", "request")
        .parent_from_headers([("traceparent", PARENT), ("tracestate", "es=s:1")])
        .start()
        .end();
    let t = &recorder.transactions()[0];
    assert_ne!(t.trace_id.to_string(), "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(t.parent_id, None);
    assert_eq!(t.links.len(), 1);
    assert_eq!(
        t.links[0].trace_id.to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(t.links[0].span_id.to_string(), "b7ad6b7169203331");
}

#[test]
fn restart_external_continues_only_elastic_callers() {
    let (agent, recorder) = recording_agent(|b| {
        b.trace_continuation_strategy(TraceContinuationStrategy::RestartExternal)
    });
    agent
        .transaction("a", "request")
        .parent_from_headers([("traceparent", PARENT), ("tracestate", "es=s:1")])
        .start()
        .end();
    agent
        .transaction("b", "request")
        .parent_from_headers([("traceparent", PARENT), ("tracestate", "other=1")])
        .start()
        .end();
    let txs = recorder.transactions();
    assert_eq!(
        txs[0].trace_id.to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert!(txs[0].links.is_empty());
    assert_ne!(
        txs[1].trace_id.to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(txs[1].links.len(), 1);
}

#[test]
fn malformed_traceparent_starts_a_new_trace() {
    let (agent, recorder) = recording_agent(|b| b);
    agent
        .transaction("GET /", "request")
        .parent_from_headers([("traceparent", "garbage")])
        .start()
        .end();
    let t = &recorder.transactions()[0];
    assert_eq!(t.parent_id, None);
    assert!(t.sampled);
}

#[test]
fn spans_over_the_limit_are_counted_not_sent() {
    let (agent, recorder) = recording_agent(|b| b.transaction_max_spans(3));
    let tx = agent.start_transaction("t", "request");
    for _ in 0..5 {
        tx.start_span("s", "app").end();
    }
    tx.end();
    assert_eq!(recorder.spans().len(), 3);
    let count = recorder.transactions()[0].span_count;
    assert_eq!((count.started, count.dropped), (3, 2));
}

#[test]
fn outcome_follows_captured_errors_unless_set() {
    let (agent, recorder) = recording_agent(|b| b);
    let tx = agent.start_transaction("t", "request");
    let span = tx.start_span("s", "app");
    span.capture_error(&std::io::Error::other("boom"));
    span.end();
    let ok_span = tx.start_span("s2", "app");
    ok_span.set_outcome(Outcome::Unknown);
    ok_span.end();
    tx.end();
    let spans = recorder.spans();
    assert_eq!(spans[0].outcome, Some(Outcome::Failure));
    assert_eq!(spans[1].outcome, Some(Outcome::Unknown));
    assert_eq!(
        recorder.transactions()[0].outcome,
        Some(Outcome::Success),
        "a span's error is not the transaction's"
    );
}

#[test]
fn captured_error_carries_chain_type_stack_and_links() {
    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("outer failed")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let (agent, recorder) = recording_agent(|b| b);
    let tx = agent.start_transaction("POST /orders", "request");
    let _g = tx.segment().unwrap().enter();
    let boxed: Box<dyn std::error::Error + Send + Sync> =
        Box::new(Outer(std::io::Error::other("inner")));
    elastic_apm_core::capture_error(&Outer(std::io::Error::other("inner"))).unwrap();
    elastic_apm_core::capture_error(&*boxed).unwrap();
    drop(_g);
    tx.end();
    let errors = recorder.errors();
    let e = &errors[0];
    let ex = e.exception.as_ref().unwrap();
    assert_eq!(ex.message.as_deref(), Some("outer failed"));
    assert!(
        ex.kind.as_deref().unwrap().ends_with("Outer"),
        "{:?}",
        ex.kind
    );
    assert_eq!(ex.cause[0].message.as_deref(), Some("inner"));
    assert!(!ex.stacktrace.is_empty());
    assert!(
        e.culprit
            .as_deref()
            .unwrap()
            .contains("captured_error_carries_chain_type_stack_and_links"),
        "{:?}",
        e.culprit
    );
    assert_eq!(e.transaction_id, tx_id(&recorder));
    assert_eq!(e.parent_id, tx_id(&recorder));
    assert_eq!(e.transaction.as_ref().unwrap().name, "POST /orders");
    assert_eq!(
        errors[1].exception.as_ref().unwrap().kind,
        None,
        "a trait object has no useful type name"
    );
    assert_eq!(recorder.transactions()[0].outcome, Some(Outcome::Failure));
}

fn tx_id(recorder: &elastic_apm_core::testing::Recorder) -> Option<elastic_apm_core::SpanId> {
    recorder.transactions().first().map(|t| t.id)
}

#[test]
fn ignore_url_and_user_agent_helpers() {
    let (agent, _) = recording_agent(|b| {
        b.transaction_ignore_urls("/health*, *.css".parse().unwrap())
            .option("transaction_ignore_user_agents", "curl/*")
            .unwrap()
    });
    assert!(agent.ignores_url("/healthz"));
    assert!(agent.ignores_url("/static/APP.CSS"));
    assert!(!agent.ignores_url("/products"));
    assert!(agent.ignores_user_agent("curl/8.5.0"));
    assert!(!agent.ignores_user_agent("Mozilla/5.0"));
}

#[test]
fn handles_are_send_sync_and_static() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<elastic_apm_core::Agent>();
    assert_send_sync::<elastic_apm_core::Segment>();
    assert_send_sync::<elastic_apm_core::Transaction>();
    assert_send_sync::<elastic_apm_core::Span>();
    fn assert_send<T: Send>(_: &T) {}
    let (agent, _) = recording_agent(|b| b);
    let tx = agent.start_transaction("t", "request");
    assert_send(&elastic_apm_core::ApmFutureExt::in_segment(
        async {},
        tx.segment(),
    ));
    assert_send(&elastic_apm_core::in_span("s", "app", async {}));
}

#[test]
fn stacks_are_symbolised_by_the_reporter_not_the_caller() {
    use std::sync::{Arc, Mutex};
    let raw: Arc<Mutex<Vec<elastic_apm_core::model::Event>>> = Arc::default();
    let sink = Arc::clone(&raw);
    let agent = elastic_apm_core::Agent::builder()
        .read_env(false)
        .reporter(move |event| sink.lock().unwrap().push(event))
        .build();
    agent.capture_error(&std::io::Error::other("boom")).unwrap();
    let mut event = raw.lock().unwrap().pop().unwrap();
    let elastic_apm_core::model::Event::Error(error) = &event else {
        panic!("an error event")
    };
    assert!(
        error.exception.as_ref().unwrap().stacktrace.is_empty(),
        "not symbolised on the caller's thread"
    );
    assert!(error.culprit.is_none());
    event.prepare();
    let elastic_apm_core::model::Event::Error(error) = &event else {
        panic!("an error event")
    };
    assert!(!error.exception.as_ref().unwrap().stacktrace.is_empty());
    assert!(
        error
            .culprit
            .as_deref()
            .unwrap()
            .contains("stacks_are_symbolised_by_the_reporter"),
        "{:?}",
        error.culprit
    );
}

fn exit_db_span(parent: &elastic_apm_core::Segment, instance: &str) -> elastic_apm_core::Span {
    let span = parent
        .span("SELECT FROM t", "db")
        .subtype("postgresql")
        .exit()
        .start();
    span.with_context(|c| {
        let mut db = elastic_apm_core::model::Db::default();
        db.instance = Some(instance.to_owned());
        c.db = Some(db);
    });
    span
}

#[test]
fn spans_started_over_the_limit_and_their_children_are_dropped_with_statistics() {
    // Without compression, which holds spans back and so changes when the limit bites.
    let (agent, recorder) =
        recording_agent(|b| b.transaction_max_spans(2).span_compression_enabled(false));
    let tx = agent.start_transaction("t", "request");
    let segment = tx.segment().unwrap();
    tx.start_span("first", "app").end();
    exit_db_span(&segment, "shop").end();
    // Over the limit from here on: counted, never sent, children included.
    let over = tx.start_span("over", "app");
    over.start_span("child of dropped", "app").end();
    over.end();
    for _ in 0..3 {
        exit_db_span(&segment, "shop").end();
    }
    let failing = exit_db_span(&segment, "shop");
    failing.set_outcome(Outcome::Failure);
    failing.end();
    exit_db_span(&segment, "audit").end();
    tx.end();

    let names: Vec<String> = recorder
        .spans()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["first", "SELECT FROM t"]);
    let tx = &recorder.transactions()[0];
    assert_eq!((tx.span_count.started, tx.span_count.dropped), (2, 7));
    let stats = serde_json::to_value(&tx.dropped_spans_stats).unwrap();
    assert_eq!(
        stats,
        serde_json::json!([
            {"destination_service_resource": "postgresql/shop", "service_target_type": "postgresql",
             "service_target_name": "shop", "outcome": "success",
             "duration": {"count": 3, "sum": {"us": stats[0]["duration"]["sum"]["us"]}}},
            {"destination_service_resource": "postgresql/shop", "service_target_type": "postgresql",
             "service_target_name": "shop", "outcome": "failure",
             "duration": {"count": 1, "sum": {"us": stats[1]["duration"]["sum"]["us"]}}},
            {"destination_service_resource": "postgresql/audit", "service_target_type": "postgresql",
             "service_target_name": "audit", "outcome": "success",
             "duration": {"count": 1, "sum": {"us": stats[2]["duration"]["sum"]["us"]}}},
        ])
    );
}

#[test]
fn dropped_span_statistics_are_capped_at_128_destinations() {
    let (agent, recorder) =
        recording_agent(|b| b.transaction_max_spans(0).span_compression_enabled(false));
    let tx = agent.start_transaction("t", "request");
    let segment = tx.segment().unwrap();
    for i in 0..200 {
        exit_db_span(&segment, &format!("db{i}")).end();
    }
    tx.end();
    let tx = &recorder.transactions()[0];
    assert_eq!(tx.dropped_spans_stats.len(), 128);
    assert_eq!(tx.span_count.dropped, 200);
}

#[test]
fn fast_exit_spans_are_dropped_unless_they_failed_or_propagated() {
    let (agent, recorder) = recording_agent(|b| {
        b.exit_span_min_duration(std::time::Duration::from_secs(60))
            .transaction_max_spans(1)
            .span_compression_enabled(false)
    });
    let tx = agent.start_transaction("t", "request");
    let segment = tx.segment().unwrap();
    for _ in 0..5 {
        exit_db_span(&segment, "shop").end(); // fast: dropped, not against the limit
    }
    let propagated = exit_db_span(&segment, "shop");
    propagated.set_discardable(false);
    propagated.set_name("propagated");
    propagated.end();
    let failed = exit_db_span(&segment, "shop");
    failed.set_outcome(Outcome::Failure);
    failed.set_name("failed");
    failed.end(); // kept, but over the limit of 1 now
    tx.start_span("not an exit span", "app").end();
    tx.end();

    let names: Vec<String> = recorder
        .spans()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["propagated"], "fast spans did not use up the limit");
    let tx = &recorder.transactions()[0];
    assert_eq!((tx.span_count.started, tx.span_count.dropped), (1, 7));
    let stats = &tx.dropped_spans_stats;
    assert_eq!(stats[0].duration.count, 5, "the five fast ones");
    assert_eq!(stats[0].outcome, Outcome::Success);
    assert_eq!(stats[1].outcome, Outcome::Failure);
}

/// Ends `n` exit spans named `name` to postgresql/`instance` under `parent`.
fn db_calls(parent: &elastic_apm_core::Segment, instance: &str, names: &[&'static str]) {
    for name in names {
        let span = exit_db_span(parent, instance);
        span.set_name(*name);
        span.end();
    }
}

#[test]
fn consecutive_exact_matches_become_one_composite_span() {
    let (agent, recorder) = recording_agent(|b| b);
    let tx = agent.start_transaction("GET /users", "request");
    let segment = tx.segment().unwrap();
    db_calls(&segment, "shop", &["SELECT FROM users"; 10]);
    tx.end();
    let spans = recorder.spans();
    assert_eq!(spans.len(), 1);
    let composite = spans[0].composite.as_ref().expect("a composite");
    assert_eq!(composite.count, 10);
    assert_eq!(
        composite.compression_strategy,
        elastic_apm_core::model::CompressionStrategy::ExactMatch
    );
    assert!(composite.sum <= spans[0].duration, "net within gross");
    assert_eq!(spans[0].name, "SELECT FROM users");
    assert_eq!(
        recorder.transactions()[0].span_count.started,
        1,
        "the composite counts once"
    );
}

#[test]
fn same_kind_compression_names_the_destination_and_breaks_on_other_spans() {
    let (agent, recorder) = recording_agent(|b| {
        b.span_compression_same_kind_max_duration(std::time::Duration::from_secs(1))
    });
    let tx = agent.start_transaction("GET /users", "request");
    let segment = tx.segment().unwrap();
    // Alternating statements: same kind. Then another database, a failure, an app span.
    db_calls(
        &segment,
        "shop",
        &[
            "SELECT FROM users",
            "SELECT FROM orders",
            "SELECT FROM users",
        ],
    );
    db_calls(&segment, "audit", &["INSERT INTO log", "INSERT INTO log"]);
    let failed = exit_db_span(&segment, "audit");
    failed.set_outcome(Outcome::Failure);
    failed.end();
    db_calls(&segment, "audit", &["INSERT INTO log"]);
    tx.start_span("render", "app").end();
    tx.end();
    let spans = recorder.spans();
    let summary: Vec<(String, u32)> = spans
        .iter()
        .map(|s| {
            (
                s.name.to_string(),
                s.composite.as_ref().map_or(1, |c| c.count),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("Calls to postgresql/shop".to_owned(), 3),
            ("INSERT INTO log".to_owned(), 2),
            ("SELECT FROM t".to_owned(), 1),
            ("INSERT INTO log".to_owned(), 1),
            ("render".to_owned(), 1),
        ]
    );
    assert_eq!(
        spans[0].composite.as_ref().unwrap().compression_strategy,
        elastic_apm_core::model::CompressionStrategy::SameKind
    );
    assert_eq!(
        spans[1].composite.as_ref().unwrap().compression_strategy,
        elastic_apm_core::model::CompressionStrategy::ExactMatch
    );
}

#[test]
fn compression_respects_thresholds_propagation_and_the_switch() {
    // Exact matches over the threshold are not compressed (nor tried as same kind).
    let (agent, recorder) = recording_agent(|b| {
        b.span_compression_exact_match_max_duration(std::time::Duration::ZERO)
            .span_compression_same_kind_max_duration(std::time::Duration::from_secs(1))
    });
    let tx = agent.start_transaction("t", "request");
    let segment = tx.segment().unwrap();
    let slow = |_| {
        let span = exit_db_span(&segment, "shop");
        std::thread::sleep(std::time::Duration::from_millis(1));
        span.end();
    };
    (0..3).for_each(slow);
    tx.end();
    assert_eq!(recorder.spans().len(), 3);

    // Spans that propagated the trace are never compressed; nor anything when disabled.
    for disabled in [false, true] {
        let (agent, recorder) = recording_agent(|b| b.span_compression_enabled(!disabled));
        let tx = agent.start_transaction("t", "request");
        let segment = tx.segment().unwrap();
        for _ in 0..3 {
            let span = exit_db_span(&segment, "shop");
            if !disabled {
                span.set_discardable(false);
            }
            span.end();
        }
        tx.end();
        assert_eq!(recorder.spans().len(), 3, "disabled: {disabled}");
    }
}

#[test]
fn a_fast_composite_is_dropped_whole_and_counted() {
    let (agent, recorder) =
        recording_agent(|b| b.exit_span_min_duration(std::time::Duration::from_secs(60)));
    let tx = agent.start_transaction("t", "request");
    let segment = tx.segment().unwrap();
    db_calls(&segment, "shop", &["SELECT FROM users"; 4]);
    tx.end();
    assert!(recorder.spans().is_empty());
    let tx = &recorder.transactions()[0];
    assert_eq!((tx.span_count.started, tx.span_count.dropped), (0, 4));
    assert_eq!(tx.dropped_spans_stats[0].duration.count, 4);
}

#[test]
fn slow_spans_get_a_stack_trace_fast_ones_do_not() {
    use std::time::Duration;
    // Default threshold (5 ms): a fast span has none, a slow one has one.
    let (agent, recorder) = recording_agent(|b| b.span_compression_enabled(false));
    let tx = agent.start_transaction("t", "request");
    tx.start_span("fast", "app").end();
    let slow = tx.start_span("slow", "app");
    std::thread::sleep(Duration::from_millis(6));
    slow.end();
    tx.end();
    let spans = recorder.spans();
    assert!(spans[0].stacktrace.is_empty());
    let frames = serde_json::to_string(&spans[1].stacktrace).unwrap();
    assert!(
        frames.contains("slow_spans_get_a_stack_trace_fast_ones_do_not"),
        "where the span ended: {frames}"
    );
    assert!(
        !frames.contains("elastic_apm_core::tracer"),
        "the agent own frames are left out: {frames}"
    );

    // Zero: always. Negative (None): never.
    for (min, expected) in [(Some(Duration::ZERO), true), (None, false)] {
        let (agent, recorder) = recording_agent(|b| b.span_stack_trace_min_duration(min));
        let tx = agent.start_transaction("t", "request");
        let span = tx.start_span("s", "app");
        std::thread::sleep(Duration::from_millis(6));
        span.end();
        tx.end();
        assert_eq!(
            !recorder.spans()[0].stacktrace.is_empty(),
            expected,
            "{min:?}"
        );
    }
    let mut config = elastic_apm_core::Config::default();
    config
        .apply("span_stack_trace_min_duration", "-1ms")
        .unwrap();
    assert_eq!(config.span_stack_trace_min_duration, None);
    config
        .apply("span_stack_trace_min_duration", "10ms")
        .unwrap();
    assert_eq!(
        config.span_stack_trace_min_duration,
        Some(Duration::from_millis(10))
    );
}

#[test]
fn a_backlogged_reporter_counts_transactions_dropped_before_they_are_built() {
    use elastic_apm_core::Reporter;
    use elastic_apm_core::report::EventKind;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Events reported, and transactions dropped before they were built.
    type Counts = Arc<[AtomicU64; 2]>;
    struct Full(Counts);
    impl Reporter for Full {
        fn report(&self, _event: elastic_apm_core::model::Event) {
            self.0[0].fetch_add(1, Ordering::Relaxed);
        }
        fn is_backlogged(&self) -> bool {
            true
        }
        fn drop_if_backlogged(&self, kind: EventKind) -> bool {
            assert_eq!(kind, EventKind::Transaction);
            self.0[1].fetch_add(1, Ordering::Relaxed);
            true
        }
    }
    let counts = Counts::default();
    let agent = elastic_apm_core::Agent::builder()
        .read_env(false)
        .reporter(Full(counts.clone()))
        .build();
    for _ in 0..3 {
        agent.transaction("GET /", "request").start().end();
    }
    assert_eq!(counts[1].load(Ordering::Relaxed), 3);
    assert_eq!(counts[0].load(Ordering::Relaxed), 0);
}
