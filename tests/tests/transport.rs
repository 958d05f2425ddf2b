//! The transport end to end, over loopback: what reaches the intake receiver, and what
//! the application feels when APM Server is down, slow, failing or hanging.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use elastic_apm_core::{Agent, AgentBuilder, CloudProvider, SampleRate};
use intake_receiver::{Fault, IntakeReceiver};

/// An agent sending to `url`, isolated from the environment and from cloud lookups.
fn agent(url: &str, configure: impl FnOnce(AgentBuilder) -> AgentBuilder) -> Agent {
    configure(
        Agent::builder()
            .read_env(false)
            .service_name("e2e")
            .server_url(url)
            .cloud_provider(CloudProvider::None)
            .central_config(false),
    )
    .build()
}

/// One request's worth of work: a transaction with `spans` spans.
fn record(agent: &Agent, spans: usize) {
    let tx = agent.start_transaction("GET /products", "request");
    for _ in 0..spans {
        tx.start_span("SELECT FROM products", "db").end();
    }
    tx.end();
}

/// Records `count` requests the way the application would, and checks what the
/// application must never feel from the transport: no request slowed down (no
/// blocking), and no more events held than the queue's bound.
fn record_unaffected(agent: &Agent, count: usize, spans: usize) {
    let mut slowest = Duration::ZERO;
    for _ in 0..count {
        let one = Instant::now();
        record(agent, spans);
        slowest = slowest.max(one.elapsed());
    }
    assert!(
        slowest < Duration::from_millis(100),
        "one request took {slowest:?}"
    );
    let health = agent.health();
    let bound = agent.config().max_queue_size as u64;
    assert!(
        health.queue_len <= bound,
        "queue bounded by {bound}: {health:?}"
    );
}

/// Polls `condition` until it holds or `timeout` passes (for agent-side state, which
/// has no change notification).
async fn eventually(timeout: Duration, condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}

/// A loopback port nothing listens on (yet).
fn free_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[derive(Debug)]
struct CheckoutError;

impl std::fmt::Display for CheckoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("checkout failed")
    }
}

impl std::error::Error for CheckoutError {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reporter_takes_events_under_steady_load_and_after_going_idle() {
    let receiver = IntakeReceiver::start().await;
    let agent = agent(&receiver.url(), |b| b);
    // Steady load: the reporter drains on its own timer, nobody rings.
    for _ in 0..100 {
        record(&agent, 0);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let drained = || agent.health().queue_len == 0;
    assert!(
        eventually(Duration::from_secs(5), drained).await,
        "{:?}",
        agent.health()
    );
    // Quiet for a few batch delays (200 ms: a drain finds the queue empty and the
    // reporter goes idle), then one event alone, which must ring.
    tokio::time::sleep(Duration::from_millis(700)).await;
    record(&agent, 0);
    let all = || agent.health().events_total == 101 && agent.health().queue_len == 0;
    assert!(
        eventually(Duration::from_secs(5), all).await,
        "{:?}",
        agent.health()
    );
    assert!(agent.flush(Duration::from_secs(10)).await);
    assert_eq!(receiver.accepted("transaction").len(), 101);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_to_an_apm_server_on_this_host_go_uncompressed() {
    let receiver = IntakeReceiver::start().await;
    let agent = agent(&receiver.url(), |b| b);
    agent.start_transaction("GET /", "request").end();
    assert!(agent.flush(Duration::from_secs(10)).await);
    let requests = receiver.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(request.content_encoding(), None);
    }
    assert_eq!(receiver.accepted("transaction").len(), 1);
    assert!(receiver.validates(), "{:?}", receiver.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_valid_compressed_and_authenticated() {
    // Another loopback address: bodies to 127.0.0.1 go uncompressed, as the spec asks.
    let receiver = IntakeReceiver::start_on(([127, 0, 0, 2], 0).into()).await;
    let agent = agent(&receiver.url(), |b| {
        b.secret_token("s3cr3t-token").service_version("1.2.3")
    });
    let tx = agent.start_transaction("POST /orders", "request");
    tx.start_span("INSERT INTO orders", "db").end();
    tx.segment().unwrap().capture_error(&CheckoutError);
    tx.end();
    record(&agent, 3);

    assert!(
        agent.flush(Duration::from_secs(10)).await,
        "{:?}",
        agent.health()
    );

    let requests = receiver.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(request.content_encoding(), Some("gzip"));
        assert_eq!(request.header("content-type"), Some("application/x-ndjson"));
        assert_eq!(request.header("authorization"), Some("Bearer s3cr3t-token"));
        let user_agent = request.header("user-agent").unwrap();
        assert!(
            user_agent.starts_with("apm-agent-rust/") && user_agent.ends_with("(e2e 1.2.3)"),
            "{user_agent}"
        );
        assert!(request.lines[0].get("metadata").is_some(), "metadata first");
        let service = &request.lines[0]["metadata"]["service"];
        assert_eq!(service["name"], "e2e");
        assert_eq!(service["agent"]["name"], "rust");
    }
    assert_eq!(receiver.accepted("transaction").len(), 2);
    assert_eq!(receiver.accepted("span").len(), 4);
    assert_eq!(receiver.accepted("error").len(), 1);
    assert!(
        receiver.violations().is_empty(),
        "{:#?}",
        receiver.violations()
    );
    let health = agent.health();
    assert_eq!(health.events_total, 7);
    // Counted by type as they left the queue.
    let by_type = health.events_by_type;
    assert_eq!(
        (by_type.transactions, by_type.spans, by_type.errors),
        (2, 4, 1),
        "{health:?}"
    );
    assert_eq!(health.events_sent, 7);
    assert_eq!(health.dropped(), 0);
    assert!(health.bytes_sent > 0);
}

#[tokio::test(flavor = "current_thread")]
async fn api_key_header_on_a_current_thread_runtime() {
    let receiver = IntakeReceiver::start().await;
    let agent = agent(&receiver.url(), |b| b.api_key("a2V5OnNlY3JldA=="));
    record(&agent, 1);
    assert!(agent.flush(Duration::from_secs(10)).await);
    let requests = receiver.requests();
    assert_eq!(
        requests[0].header("authorization"),
        Some("ApiKey a2V5OnNlY3JldA==")
    );
    assert_eq!(receiver.accepted("span").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_close_at_api_request_size_and_time() {
    let receiver = IntakeReceiver::start().await;
    let agent = agent(&receiver.url(), |b| {
        b.api_request_size(2 * 1024)
            .api_request_time(Duration::from_millis(200))
            .max_queue_size(10_000)
    });
    for _ in 0..300 {
        record(&agent, 5);
    }
    assert!(agent.flush(Duration::from_secs(10)).await);
    let requests = receiver.requests();
    let sizes: Vec<usize> = requests.iter().map(|r| r.wire_bytes).collect();
    assert!(requests.len() > 2, "size limit splits requests: {sizes:?}");
    assert_eq!(receiver.accepted("transaction").len(), 300);
    assert!(
        requests
            .iter()
            .all(|r| r.lines[0].get("metadata").is_some())
    );

    // Time limit: one event, no flush; the request closes by itself.
    let before = receiver.requests().len();
    record(&agent, 0);
    assert!(
        receiver
            .wait_until(Duration::from_secs(5), |r| r.requests().len() > before)
            .await,
        "api_request_time closes the request"
    );
    assert!(
        receiver.violations().is_empty(),
        "{:#?}",
        receiver.violations()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_at_start_then_up() {
    let addr = free_port();
    let agent = agent(&format!("http://{addr}"), |b| {
        b.api_request_time(Duration::from_millis(50))
    });
    record(&agent, 2);
    // Whether or not the failure was settled before the flush, it is counted after it.
    agent.flush(Duration::from_secs(5)).await;
    let health = agent.health();
    assert!(health.failed_requests >= 1);
    assert_eq!(
        health.dropped_error, 3,
        "the failed request's events are counted"
    );

    record_unaffected(&agent, 2_000, 0);
    let receiver = IntakeReceiver::start_on(addr).await;
    // What queued while the server was down drains first (what overflowed is counted).
    assert!(eventually(Duration::from_secs(10), || agent.health().queue_len == 0).await);
    record(&agent, 1);
    assert!(
        receiver
            .wait_until(Duration::from_secs(10), |r| r.accepted("span").len() == 1)
            .await,
        "events after recovery arrive: {:?}",
        agent.health()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_off_after_consecutive_failures() {
    let receiver = IntakeReceiver::start().await;
    receiver.set_fault(Fault::Status(503));
    let agent = agent(&receiver.url(), |b| {
        b.api_request_time(Duration::from_millis(50))
    });
    // First failure: retry at once (0 s); second: about 1 s later (min(1, 6)² ± 10 %).
    for failures in 1..=2u64 {
        record(&agent, 0);
        assert!(
            eventually(Duration::from_secs(5), || agent.health().failed_requests
                == failures)
            .await
        );
    }
    record(&agent, 0);
    assert!(
        receiver
            .wait_until(Duration::from_secs(5), |r| r.requests().len() == 3)
            .await
    );
    let requests = receiver.requests();
    let gap = requests[2].received_at - requests[1].received_at;
    assert!(
        gap >= Duration::from_millis(900),
        "back-off respected: {gap:?}"
    );
    assert!(gap < Duration::from_secs(3), "and not much longer: {gap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_answers_drop_and_count_the_events() {
    for status in [503, 429, 400] {
        let receiver = IntakeReceiver::start().await;
        receiver.set_fault(Fault::Status(status));
        let agent = agent(&receiver.url(), |b| b);
        record_unaffected(&agent, 100, 1);
        assert!(!agent.flush(Duration::from_secs(10)).await);
        let health = agent.health();
        assert_eq!(health.dropped_error, 200, "{status}: {health:?}");
        assert_eq!(health.events_sent, 0);
        assert!(health.failed_requests >= 1);
        assert_eq!(receiver.requests()[0].status, status);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_server_never_blocks_producers_and_memory_stays_bounded() {
    let receiver = IntakeReceiver::start().await;
    receiver.set_fault(Fault::Hang);
    let agent = agent(&receiver.url(), |b| {
        b.server_timeout(Duration::from_millis(500))
            .api_request_time(Duration::from_millis(100))
            .max_queue_size(100)
    });
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for _ in 0..20_000 {
        let one = Instant::now();
        record(&agent, 1);
        slowest = slowest.max(one.elapsed());
    }
    let producing = started.elapsed();
    let health = agent.health();
    assert!(
        producing < Duration::from_secs(5),
        "20k transactions took {producing:?}"
    );
    assert!(
        slowest < Duration::from_millis(100),
        "one transaction took {slowest:?}"
    );
    assert!(health.queue_len <= 100, "queue bounded: {health:?}");
    assert!(
        health.dropped_queue_full > 0,
        "overflow counted: {health:?}"
    );
    // While the queue is full, integrations are told to spare the request context.
    assert!(
        eventually(Duration::from_secs(5), || {
            record(&agent, 10);
            !agent
                .start_transaction("probe", "request")
                .captures_context()
        })
        .await,
        "a full queue sheds context: {:?}",
        agent.health()
    );
    assert!(
        eventually(Duration::from_secs(10), || agent.health().failed_requests
            >= 1)
        .await,
        "server_timeout ends the hanging request: {:?}",
        agent.health()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_reset_mid_stream_loses_only_that_request() {
    let receiver = IntakeReceiver::start().await;
    receiver.set_fault(Fault::Reset);
    let agent = agent(&receiver.url(), |b| b);
    record_unaffected(&agent, 2_000, 4);
    assert!(!agent.flush(Duration::from_secs(10)).await);
    let health = agent.health();
    assert!(health.failed_requests >= 1);
    assert!(health.dropped_error > 0);
    assert_eq!(
        health.events_total,
        health.events_sent + health.dropped() + health.queue_len
    );

    receiver.set_fault(Fault::None);
    record(&agent, 1);
    assert!(
        agent.flush(Duration::from_secs(10)).await,
        "{:?}",
        agent.health()
    );
    assert_eq!(receiver.accepted("transaction").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_overflow_is_counted_exactly() {
    let receiver = IntakeReceiver::start().await;
    receiver.set_fault(Fault::Slow(Duration::from_millis(300)));
    // Small requests: the reporter waits 300 ms for each answer while producers go on.
    let agent = agent(&receiver.url(), |b| {
        b.max_queue_size(10).api_request_size(1024)
    });
    record_unaffected(&agent, 5_000, 0);
    assert!(agent.flush(Duration::from_secs(10)).await);
    let health = agent.health();
    assert!(health.dropped_queue_full > 0, "{health:?}");
    assert_eq!(health.events_total, 5_000);
    // Turned away or taken out, every one is counted by type.
    assert_eq!(health.events_by_type.transactions, 5_000, "{health:?}");
    assert_eq!(
        health.events_sent + health.dropped_queue_full,
        5_000,
        "{health:?}"
    );
    assert_eq!(
        receiver.accepted("transaction").len() as u64,
        health.events_sent
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_loses_no_completed_transaction() {
    let receiver = IntakeReceiver::start().await;
    let agent = agent(&receiver.url(), |b| b.max_queue_size(10_000));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let agent = agent.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    record(&agent, 3);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(agent.shutdown(Duration::from_secs(10)).await);
    assert_eq!(receiver.accepted("transaction").len(), 400);
    assert_eq!(receiver.accepted("span").len(), 1200);
    // After shutdown nothing more is sent; events are counted as dropped.
    record(&agent, 0);
    assert_eq!(agent.health().dropped_queue_full, 1);
    assert!(receiver.violations().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsampled_transactions_go_only_to_servers_before_8() {
    for (version, expected) in [("8.15.0", 0), ("7.17.9", 1)] {
        let receiver = IntakeReceiver::start().await;
        receiver.set_server_version(Some(version));
        let agent = agent(&receiver.url(), |b| {
            b.transaction_sample_rate(SampleRate::NEVER)
        });
        assert!(
            eventually(Duration::from_secs(5), || agent.server_version().is_some()).await,
            "GET / tells the version"
        );
        record(&agent, 2);
        assert!(agent.flush(Duration::from_secs(10)).await);
        let transactions = receiver.accepted("transaction");
        assert_eq!(transactions.len(), expected, "server {version}");
        if let Some(tx) = transactions.first() {
            assert_eq!(tx["sampled"], false);
            assert_eq!(tx["sample_rate"], 0.0);
        }
        assert!(receiver.accepted("span").is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_config_applies_live_and_honours_etags() {
    let receiver = IntakeReceiver::start().await;
    receiver.set_central_config(serde_json::json!({"transaction_sample_rate": "0"}), 1);
    let agent = agent(&receiver.url(), |b| {
        b.central_config(true).environment("staging")
    });
    assert!(
        eventually(Duration::from_secs(5), || agent
            .config()
            .transaction_sample_rate
            == SampleRate::NEVER)
        .await,
        "central transaction_sample_rate applied"
    );
    assert!(!agent.start_transaction("t", "request").is_sampled());
    let first = &receiver.config_polls()[0];
    assert_eq!(first.query, "service.name=e2e&service.environment=staging");

    // A change in Kibana reaches the running agent at the next poll (max-age 1 s,
    // polled no more often than every 5 s).
    receiver.set_central_config(serde_json::json!({"transaction_sample_rate": "1"}), 1);
    assert!(
        eventually(Duration::from_secs(10), || agent
            .config()
            .transaction_sample_rate
            == SampleRate::ALWAYS)
        .await,
        "changed rate applied without restart"
    );
    assert!(agent.start_transaction("t", "request").is_sampled());

    // Unchanged: the agent presents the ETag and the server answers 304.
    assert!(
        receiver
            .wait_until(Duration::from_secs(10), |r| r.config_polls().len() >= 3)
            .await
    );
    let third = &receiver.config_polls()[2];
    assert!(third.if_none_match.is_some());
    assert_eq!(third.status, 304);
    assert_eq!(agent.config().transaction_sample_rate, SampleRate::ALWAYS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_send_never_contacts_the_server() {
    let receiver = IntakeReceiver::start().await;
    let agent = agent(&receiver.url(), |b| {
        b.disable_send(true).central_config(true)
    });
    record(&agent, 1);
    assert!(agent.flush(Duration::from_secs(1)).await);
    assert_eq!(receiver.connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_keeps_its_deadline_when_the_server_stops_reading() {
    let receiver = IntakeReceiver::start().await;
    receiver.set_fault(Fault::Hang);
    // Default server_timeout (30 s): only the flush deadline can end the wait. A small
    // api_request_size makes the reporter wait for an answer while taking events.
    let agent = agent(&receiver.url(), |b| {
        b.max_queue_size(100_000).api_request_size(16 * 1024)
    });
    for _ in 0..3_000 {
        record(&agent, 5);
    }
    let started = Instant::now();
    let delivered = agent.flush(Duration::from_millis(500)).await;
    let waited = started.elapsed();
    assert!(!delivered);
    assert!(
        waited < Duration::from_secs(3),
        "flush(500ms) took {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_flush_deadline_loses_no_count() {
    let receiver = IntakeReceiver::start().await;
    receiver.set_fault(Fault::Slow(Duration::from_millis(700)));
    let agent = agent(&receiver.url(), |b| b.max_queue_size(10_000));
    record_unaffected(&agent, 200, 2);
    let started = Instant::now();
    assert!(
        !agent.flush(Duration::from_millis(100)).await,
        "the server answers later"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    // The request goes on and is delivered; nothing is lost from the counts.
    assert!(
        agent.flush(Duration::MAX).await,
        "no deadline: {:?}",
        agent.health()
    );
    let health = agent.health();
    assert_eq!(health.events_total, 600);
    assert_eq!(health.events_sent, 600, "{health:?}");
    assert_eq!(
        health.failed_requests, 0,
        "a short flush does not fail a healthy request"
    );
    assert_eq!(receiver.accepted("transaction").len(), 200);
}
