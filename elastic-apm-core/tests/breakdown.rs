//! Breakdown metrics through the public API: transactions and spans on explicit
//! timelines (`started_at` / `end_at`), and the `span.self_time.*` samples they give,
//! number by number.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use elastic_apm_core::model::{MetricSet, Sample};
use elastic_apm_core::testing::recording_agent;
use elastic_apm_core::{Agent, SampleRate, Segment};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// (transaction name, span type, span subtype) → (count, sum in µs).
type Breakdown = BTreeMap<(String, String, Option<String>), (f64, f64)>;

fn breakdown(sets: &[MetricSet]) -> Breakdown {
    let value = |set: &MetricSet, name: &str| match set.samples.get(name) {
        Some(Sample::Value { value }) => *value,
        other => panic!("{name}: {other:?}"),
    };
    sets.iter()
        .filter(|s| s.span.is_some())
        .map(|s| {
            let tx = s.transaction.as_ref().unwrap();
            let span = s.span.as_ref().unwrap();
            assert_eq!(tx.kind.as_deref(), Some("request"));
            (
                (
                    tx.name.clone().unwrap(),
                    span.kind.clone().unwrap(),
                    span.subtype.clone(),
                ),
                (
                    value(s, "span.self_time.count"),
                    value(s, "span.self_time.sum.us"),
                ),
            )
        })
        .collect()
}

fn key(tx: &str, kind: &str, subtype: Option<&str>) -> (String, String, Option<String>) {
    (tx.to_owned(), kind.to_owned(), subtype.map(str::to_owned))
}

/// A span of `parent` from `start` to `end` (ms after `t0`).
fn span(parent: &Segment, t0: Instant, kind: &str, subtype: &str, start: u64, end: u64) {
    let span = parent
        .span("s", kind.to_owned())
        .subtype(subtype.to_owned())
        .started_at(t0 + ms(start))
        .start();
    span.end_at(t0 + ms(end));
}

fn agent() -> Agent {
    recording_agent(|b| b).0
}

#[test]
fn sequential_spans() {
    // tx 0..30: db 5..10, db 15..25, http 26..28 → app 30-5-10-2 = 13.
    let agent = agent();
    let t0 = Instant::now();
    let tx = agent
        .transaction("GET /seq", "request")
        .started_at(t0)
        .start();
    let seg = tx.segment().unwrap();
    span(&seg, t0, "db", "postgresql", 5, 10);
    span(&seg, t0, "db", "postgresql", 15, 25);
    span(&seg, t0, "external", "http", 26, 28);
    tx.end_at(t0 + ms(30));
    let b = breakdown(&agent.collect_metrics());
    assert_eq!(b.len(), 3, "{b:?}");
    assert_eq!(b[&key("GET /seq", "app", None)], (1.0, 13_000.0));
    assert_eq!(
        b[&key("GET /seq", "db", Some("postgresql"))],
        (2.0, 15_000.0)
    );
    assert_eq!(
        b[&key("GET /seq", "external", Some("http"))],
        (1.0, 2_000.0)
    );
}

#[test]
fn nested_spans() {
    // tx 0..20; app span 2..18 with db 4..10 and db 12..14 inside.
    // app: tx self 20-16 = 4, plus the span's 16-6-2 = 8 → count 2, 12 ms. db: 8 ms.
    let agent = agent();
    let t0 = Instant::now();
    let tx = agent
        .transaction("GET /nested", "request")
        .started_at(t0)
        .start();
    let outer = tx
        .segment()
        .unwrap()
        .span("render", "app")
        .started_at(t0 + ms(2))
        .start();
    let inner = outer.segment().unwrap();
    span(&inner, t0, "db", "mysql", 4, 10);
    span(&inner, t0, "db", "mysql", 12, 14);
    outer.end_at(t0 + ms(18));
    tx.end_at(t0 + ms(20));
    let b = breakdown(&agent.collect_metrics());
    assert_eq!(b[&key("GET /nested", "app", None)], (2.0, 12_000.0));
    assert_eq!(b[&key("GET /nested", "db", Some("mysql"))], (2.0, 8_000.0));
}

#[test]
fn overlapping_spans() {
    // tx 0..20: db 2..8 and db 5..12 overlap, covering 2..12 → app 10; db self 6+7 = 13.
    let agent = agent();
    let t0 = Instant::now();
    let tx = agent
        .transaction("GET /overlap", "request")
        .started_at(t0)
        .start();
    let seg = tx.segment().unwrap();
    let a = seg.span("a", "db").started_at(t0 + ms(2)).start();
    let b_span = seg.span("b", "db").started_at(t0 + ms(5)).start();
    a.end_at(t0 + ms(8));
    b_span.end_at(t0 + ms(12));
    tx.end_at(t0 + ms(20));
    let b = breakdown(&agent.collect_metrics());
    assert_eq!(b[&key("GET /overlap", "app", None)], (1.0, 10_000.0));
    assert_eq!(b[&key("GET /overlap", "db", None)], (2.0, 13_000.0));
}

#[test]
fn concurrent_spans_on_other_threads() {
    // join! of three 10 ms calls at 5..15 in a 30 ms transaction, each ended on its own
    // thread: app 20; external 30 (each call's own time counts fully).
    let agent = agent();
    let t0 = Instant::now();
    let tx = agent
        .transaction("GET /join", "request")
        .started_at(t0)
        .start();
    let seg = tx.segment().unwrap();
    let spans: Vec<_> = (0..3)
        .map(|_| {
            seg.span("call", "external")
                .subtype("http")
                .started_at(t0 + ms(5))
                .start()
        })
        .collect();
    std::thread::scope(|s| {
        for span in spans {
            s.spawn(move || span.end_at(t0 + ms(15)));
        }
    });
    tx.end_at(t0 + ms(30));
    let b = breakdown(&agent.collect_metrics());
    assert_eq!(b[&key("GET /join", "app", None)], (1.0, 20_000.0));
    assert_eq!(
        b[&key("GET /join", "external", Some("http"))],
        (3.0, 30_000.0)
    );
}

#[test]
fn a_span_ending_after_its_transaction_is_left_out() {
    // tx 0..10; a spawned job 6..25 not awaited. The transaction's breakdown is worked
    // out when it ends, when the job has not: app counts all 10 ms, the job nothing.
    let agent = agent();
    let t0 = Instant::now();
    let tx = agent
        .transaction("GET /spawn", "request")
        .started_at(t0)
        .start();
    let job = tx
        .segment()
        .unwrap()
        .span("job", "worker")
        .started_at(t0 + ms(6))
        .start();
    tx.end_at(t0 + ms(10));
    job.end_at(t0 + ms(25));
    let b = breakdown(&agent.collect_metrics());
    assert_eq!(b[&key("GET /spawn", "app", None)], (1.0, 10_000.0));
    assert_eq!(b.len(), 1, "{b:?}");
}

#[test]
fn transactions_of_a_group_add_up_and_reset_after_each_report() {
    let agent = agent();
    for _ in 0..3 {
        let t0 = Instant::now();
        let tx = agent
            .transaction("GET /a", "request")
            .started_at(t0)
            .start();
        span(&tx.segment().unwrap(), t0, "db", "sqlite", 1, 4);
        tx.end_at(t0 + ms(5));
    }
    let b = breakdown(&agent.collect_metrics());
    assert_eq!(b[&key("GET /a", "app", None)], (3.0, 6_000.0));
    assert_eq!(b[&key("GET /a", "db", Some("sqlite"))], (3.0, 9_000.0));
    assert!(breakdown(&agent.collect_metrics()).is_empty());
}

#[test]
fn unsampled_transactions_and_breakdown_metrics_false_record_nothing() {
    for agent in [
        recording_agent(|b| b.transaction_sample_rate(SampleRate::NEVER)).0,
        recording_agent(|b| b.breakdown_metrics(false)).0,
    ] {
        let t0 = Instant::now();
        let tx = agent.transaction("GET /", "request").started_at(t0).start();
        if let Some(seg) = tx.segment() {
            span(&seg, t0, "db", "sqlite", 1, 2);
        }
        tx.end_at(t0 + ms(3));
        assert!(breakdown(&agent.collect_metrics()).is_empty());
    }
}

#[test]
fn timestamps_follow_explicit_instants() {
    let (agent, recorder) = recording_agent(|b| b);
    let t0 = Instant::now() - ms(50);
    let tx = agent.transaction("GET /", "request").started_at(t0).start();
    span(&tx.segment().unwrap(), t0, "db", "sqlite", 10, 30);
    tx.end_at(t0 + ms(40));
    let (t, s) = (&recorder.transactions()[0], &recorder.spans()[0]);
    assert_eq!(t.duration, ms(40));
    assert_eq!(s.duration, ms(20));
    assert_eq!(s.timestamp - t.timestamp, 10_000);
}

#[test]
fn spans_that_are_not_sent_still_count() {
    // Five 2 ms queries in a 20 ms transaction: two over transaction_max_spans=3 and one
    // fast exit span are not sent, yet all five count, and compressed ones too.
    let (agent, recorder) = recording_agent(|b| {
        b.transaction_max_spans(3)
            .exit_span_min_duration(ms(1))
            .span_compression_enabled(false)
    });
    let t0 = Instant::now();
    let tx = agent
        .transaction("GET /limit", "request")
        .started_at(t0)
        .start();
    let seg = tx.segment().unwrap();
    // A fast exit span first (dropped for exit_span_min_duration).
    seg.span("fast", "db")
        .subtype("sqlite")
        .exit()
        .started_at(t0)
        .start()
        .end_at(t0 + Duration::from_micros(500));
    for n in 0..5 {
        span(&seg, t0, "db", "sqlite", 1 + 3 * n, 3 + 3 * n);
    }
    tx.end_at(t0 + ms(20));
    assert_eq!(recorder.spans().len(), 3);
    let b = breakdown(&agent.collect_metrics());
    assert_eq!(b[&key("GET /limit", "db", Some("sqlite"))], (6.0, 10_500.0));
    assert_eq!(b[&key("GET /limit", "app", None)], (1.0, 9_500.0));
}

#[test]
fn compressed_spans_count_one_by_one() {
    let agent = agent();
    let t0 = Instant::now();
    let tx = agent
        .transaction("GET /compressed", "request")
        .started_at(t0)
        .start();
    let seg = tx.segment().unwrap();
    for n in 0..4 {
        let q = seg
            .span("SELECT 1", "db")
            .subtype("sqlite")
            .exit()
            .started_at(t0 + ms(2 * n))
            .start();
        q.end_at(t0 + ms(2 * n + 1));
    }
    tx.end_at(t0 + ms(10));
    let b = breakdown(&agent.collect_metrics());
    assert_eq!(
        b[&key("GET /compressed", "db", Some("sqlite"))],
        (4.0, 4_000.0)
    );
    assert_eq!(b[&key("GET /compressed", "app", None)], (1.0, 6_000.0));
}

#[test]
fn a_compressed_span_flushed_by_the_transactions_end_still_counts() {
    // Three 1 ms queries compressed into one composite, held back until the transaction
    // ends; exit_span_min_duration drops it then (sum 3 ms < 5 ms). All 3 ms are db.
    let agent = recording_agent(|b| b.exit_span_min_duration(ms(5))).0;
    let t0 = Instant::now();
    let tx = agent
        .transaction("GET /held", "request")
        .started_at(t0)
        .start();
    let seg = tx.segment().unwrap();
    for n in 0..3 {
        seg.span("SELECT 1", "db")
            .subtype("sqlite")
            .exit()
            .started_at(t0 + ms(2 * n))
            .start()
            .end_at(t0 + ms(2 * n + 1));
    }
    tx.end_at(t0 + ms(10));
    let b = breakdown(&agent.collect_metrics());
    assert_eq!(b[&key("GET /held", "db", Some("sqlite"))], (3.0, 3_000.0));
    assert_eq!(b[&key("GET /held", "app", None)], (1.0, 7_000.0));
}
