//! Metrics end to end (issue 9): what reaches the intake receiver every
//! `metrics_interval`, validated against `metricset.json`, and checked against what
//! the process can read about itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use elastic_apm_core::Agent;
use intake_receiver::IntakeReceiver;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

/// A sample's value in a metricset.
fn sample(set: &Value, name: &str) -> Option<f64> {
    set["samples"][name]["value"].as_f64()
}

/// The first value of `name` among the metricsets received, with `tags` matching.
fn find(receiver: &IntakeReceiver, name: &str, tags: &[(&str, &str)]) -> Option<f64> {
    receiver
        .accepted("metricset")
        .iter()
        .filter(|s| tags.iter().all(|(k, v)| s["tags"][*k] == *v))
        .find_map(|s| sample(s, name))
}

/// The sum of `name` over every metricset received whose `tags` and `span.type` match:
/// counters and breakdown sums arrive split over however many intervals they spanned.
fn sum(
    receiver: &IntakeReceiver,
    name: &str,
    tags: &[(&str, &str)],
    span_type: Option<&str>,
) -> f64 {
    receiver
        .accepted("metricset")
        .iter()
        .filter(|s| tags.iter().all(|(k, v)| s["tags"][*k] == *v))
        .filter(|s| span_type.is_none_or(|t| s["span"]["type"] == t))
        .filter_map(|s| sample(s, name))
        .sum()
}

fn names(receiver: &IntakeReceiver) -> Vec<String> {
    let mut names: Vec<String> = receiver
        .accepted("metricset")
        .iter()
        .flat_map(|s| {
            s["samples"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// `Key:  123 kB` of `/proc/self/status`, in bytes.
fn proc_status_bytes(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap();
    let kb: f64 = line[key.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    kb * 1024.0
}

/// One request with two queries, as the tower and sqlx integrations would record it.
fn request(agent: &Agent) {
    let tx = agent.start_transaction("GET /orders/{id}", "request");
    for _ in 0..2 {
        let span = tx
            .segment()
            .unwrap()
            .span("SELECT FROM orders", "db")
            .subtype("postgresql")
            .exit()
            .start();
        std::thread::sleep(Duration::from_millis(2));
        span.end();
    }
    tx.end();
}

fn assert_valid(receiver: &IntakeReceiver) {
    assert!(receiver.validates() || std::env::var("CI").is_err());
    assert!(
        receiver.violations().is_empty(),
        "{:#?}",
        receiver.violations()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metricset_is_valid_and_plausible() {
    let receiver = IntakeReceiver::start().await;
    let agent = receiver
        .agent_builder()
        .service_name("metrics")
        .metrics_interval(Duration::from_millis(200))
        // Events reach the receiver's record when their request ends.
        .api_request_time(Duration::from_millis(300))
        .build();
    let orders = agent
        .metric("shop.orders.count")
        .label("payment", "card")
        .counter();
    let cart = agent.metric("shop.cart.items").gauge();
    for _ in 0..3 {
        request(&agent);
        orders.increment();
    }
    cart.set(4.0);
    let expected = [
        "span.self_time.count",
        "system.cpu.total.norm.pct",
        "system.process.memory.rss.bytes",
        "tokio.workers.busy.pct",
        "agent.events.total",
        "agent.events.requests.count",
        "agent.events.queue.max_size.pct",
        "shop.orders.count",
    ];
    let arrived = receiver
        .wait_until(WAIT, |r| {
            let names = names(r);
            expected.iter().all(|e| names.iter().any(|n| n == e))
                && sum(r, "span.self_time.count", &[], Some("db")) == 6.0
                && sum(r, "span.self_time.count", &[], Some("app")) == 3.0
                && sum(
                    r,
                    "agent.events.total",
                    &[("event_type", "transaction")],
                    None,
                ) == 3.0
                && sum(r, "shop.orders.count", &[], None) == 3.0
        })
        .await;
    let rss_now = proc_status_bytes("VmRSS:");
    assert!(
        arrived,
        "missing some of {expected:?} in {:?}",
        names(&receiver)
    );
    assert_valid(&receiver);
    let sets = receiver.accepted("metricset");

    // Breakdown: the transaction group with `app` (the transaction's own time) and
    // `db/postgresql` (2 queries a request, at least 2 ms each).
    let breakdown: Vec<&Value> = sets.iter().filter(|s| s.get("span").is_some()).collect();
    for set in &breakdown {
        assert_eq!(set["transaction"]["name"], "GET /orders/{id}");
        assert_eq!(set["transaction"]["type"], "request");
        assert!(set.get("tags").is_none(), "{set}");
    }
    let db = breakdown
        .iter()
        .find(|s| s["span"]["type"] == "db")
        .expect("a db breakdown");
    assert_eq!(db["span"]["subtype"], "postgresql");
    assert_eq!(sample(db, "span.self_time.count"), Some(6.0));
    assert!(
        sample(db, "span.self_time.sum.us").unwrap() >= 12_000.0,
        "{db}"
    );
    let app = breakdown
        .iter()
        .find(|s| s["span"]["type"] == "app")
        .expect("an app breakdown");
    assert!(app["span"].get("subtype").is_none(), "{app}");
    assert_eq!(sample(app, "span.self_time.count"), Some(3.0));

    // System and process.
    let pct = |name: &str| {
        let v = find(&receiver, name, &[]).unwrap_or_else(|| panic!("{name}"));
        assert!((0.0..=1.0).contains(&v), "{name} = {v}");
    };
    pct("system.cpu.total.norm.pct");
    pct("system.process.cpu.total.norm.pct");
    let mem_total = find(&receiver, "system.memory.total", &[]).unwrap();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kb: f64 = meminfo.lines().next().unwrap()["MemTotal:".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(mem_total, total_kb * 1024.0);
    let free = find(&receiver, "system.memory.actual.free", &[]).unwrap();
    assert!(free > 0.0 && free <= mem_total);
    let rss = find(&receiver, "system.process.memory.rss.bytes", &[]).unwrap();
    assert!(
        (rss - rss_now).abs() <= 0.2 * rss_now,
        "RSS {rss} vs /proc/self/status {rss_now}"
    );
    let size = find(&receiver, "system.process.memory.size", &[]).unwrap();
    assert!(size >= rss, "virtual {size} < resident {rss}");

    // cgroup: the usage is there wherever this process has a memory cgroup.
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let has_memory_cgroup = cgroup.lines().any(|l| l.contains(":memory:"))
        || std::path::Path::new("/sys/fs/cgroup/memory.current").exists();
    let usage = find(
        &receiver,
        "system.process.cgroup.memory.mem.usage.bytes",
        &[],
    );
    if has_memory_cgroup {
        assert!(usage.is_some_and(|u| u > 0.0), "{:?}", names(&receiver));
    }
    if let Some(limit) = find(
        &receiver,
        "system.process.cgroup.memory.mem.limit.bytes",
        &[],
    ) {
        assert_ne!(limit, 9_223_372_036_854_771_712.0, "unlimited is not sent");
    }

    // tokio: the test's runtime, two workers.
    assert_eq!(find(&receiver, "tokio.workers.count", &[]), Some(2.0));
    assert!(find(&receiver, "tokio.tasks.alive.count", &[]).is_some());
    assert!(find(&receiver, "tokio.global_queue.depth", &[]).is_some());
    pct("tokio.workers.busy.pct");

    // Agent health: 3 transactions and 3 spans (each request's two queries compressed
    // into one) went into the queue; one intake request at least succeeded; counters
    // are increases, so across metricsets they add up.
    let total = |event_type: &str| {
        sum(
            &receiver,
            "agent.events.total",
            &[("event_type", event_type)],
            None,
        )
    };
    assert_eq!(total("transaction"), 3.0);
    assert_eq!(total("span"), 3.0);
    assert!(
        find(
            &receiver,
            "agent.events.requests.count",
            &[("success", "true")]
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        find(
            &receiver,
            "agent.events.requests.bytes",
            &[("success", "true")]
        )
        .unwrap()
            > 0.0
    );
    assert!(
        find(&receiver, "agent.events.dropped", &[]).is_none(),
        "nothing dropped"
    );
    let max = find(
        &receiver,
        "agent.events.queue.max_size.pct",
        &[("queue_name", "generic")],
    );
    assert!(max.is_some_and(|m| (0.0..=1.0).contains(&m)));
    // No zero increase is ever sent.
    for set in &sets {
        for name in ["agent.events.total", "agent.events.requests.count"] {
            assert_ne!(sample(set, name), Some(0.0), "{set}");
        }
    }

    // Application metrics, with their labels.
    assert_eq!(
        sum(&receiver, "shop.orders.count", &[("payment", "card")], None),
        3.0
    );
    assert_eq!(find(&receiver, "shop.cart.items", &[]), Some(4.0));
    agent.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_metrics_and_breakdown_metrics_switch_their_sets_off() {
    let receiver = IntakeReceiver::start().await;
    let agent = receiver
        .agent_builder()
        .metrics_interval(Duration::from_millis(100))
        .disable_metrics(elastic_apm_core::WildcardMatchers::new([
            "system.*",
            "agent.events.*",
        ]))
        .breakdown_metrics(false)
        .api_request_time(Duration::from_millis(300))
        .build();
    request(&agent);
    // tokio metrics are not disabled: their arrival shows gathering ran (twice, for the
    // busy share).
    let arrived = receiver
        .wait_until(WAIT, |r| {
            r.accepted("metricset").len() >= 2 && r.accepted("transaction").len() == 1
        })
        .await;
    assert!(arrived);
    agent.shutdown(WAIT).await;
    assert_valid(&receiver);
    let names = names(&receiver);
    assert!(names.iter().any(|n| n.starts_with("tokio.")), "{names:?}");
    assert!(
        names.iter().all(|n| !n.starts_with("system.")
            && !n.starts_with("agent.events.")
            && !n.starts_with("span.self_time")),
        "{names:?}"
    );
}

#[tokio::test]
async fn shutdown_sends_the_last_interval_and_zero_interval_sends_nothing() {
    let receiver = IntakeReceiver::start().await;
    let hourly = receiver
        .agent_builder()
        .metrics_interval(Duration::from_secs(3600))
        .build();
    request(&hourly);
    assert!(hourly.shutdown(WAIT).await);
    let breakdown = receiver
        .accepted("metricset")
        .into_iter()
        .filter(|s| s["span"]["type"] == "db")
        .count();
    assert_eq!(
        breakdown, 1,
        "the breakdown of the last interval, sent at shutdown"
    );

    let receiver = IntakeReceiver::start().await;
    let never = receiver
        .agent_builder()
        .metrics_interval(Duration::ZERO)
        .build();
    request(&never);
    assert!(never.shutdown(WAIT).await);
    assert_eq!(receiver.accepted("transaction").len(), 1);
    assert!(receiver.accepted("metricset").is_empty());
    assert_valid(&receiver);
}
