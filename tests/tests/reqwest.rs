//! `ApmMiddleware` end to end: an axum service instrumented with `ApmLayer` calls
//! another over loopback through an instrumented reqwest client; one distributed trace.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use elastic_apm_core::Agent;
use elastic_apm_core::model::Outcome;
use elastic_apm_core::testing::{Recorder, recording_agent};
use elastic_apm_tower::ApmLayer;
use http::StatusCode;
use intake_receiver::IntakeReceiver;
use reqwest_middleware::ClientWithMiddleware;

/// Headers the downstream service saw, per request.
type Seen = Arc<Mutex<Vec<HeaderMap>>>;

/// The downstream service: records the headers it got; `/status/{n}` answers `n`.
async fn downstream(agent: &Agent) -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route(
            "/stock/{id}",
            get(|State(seen): State<Seen>, headers: HeaderMap| async move {
                seen.lock().unwrap().push(headers);
                "12"
            }),
        )
        .route(
            "/status/{n}",
            get(
                |axum::extract::Path(n): axum::extract::Path<u16>| async move {
                    StatusCode::from_u16(n).unwrap()
                },
            ),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .with_state(seen.clone())
        .layer(ApmLayer::new(agent));
    (serve(app).await, seen)
}

/// The upstream service: `/order` calls `{downstream}/stock/7` through `client`.
async fn upstream(agent: &Agent, client: ClientWithMiddleware, target: String) -> SocketAddr {
    let app = Router::new()
        .route(
            "/order",
            get(move || {
                let client = client.clone();
                let target = target.clone();
                async move {
                    match client.get(target).send().await {
                        Ok(response) => response.text().await.unwrap_or_default(),
                        Err(_) => "failed".to_owned(),
                    }
                }
            }),
        )
        .layer(ApmLayer::new(agent));
    serve(app).await
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A plain client for the test's own calls (not instrumented).
async fn fetch(url: String, headers: &[(&str, &str)]) -> String {
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().text().await.unwrap()
}

async fn until<T>(what: impl Fn() -> Vec<T>, n: usize) -> Vec<T> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while what().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let found = what();
    assert_eq!(found.len(), n, "expected {n}");
    found
}

fn recorded() -> (Agent, Recorder) {
    recording_agent(|b| b.service_name("reqwest-e2e"))
}

#[tokio::test]
async fn one_distributed_trace_across_two_services() {
    let (down_agent, down) = recorded();
    let (up_agent, up) = recorded();
    let (down_addr, seen) = downstream(&down_agent).await;
    let client = elastic_apm_reqwest::instrument(reqwest::Client::new(), &up_agent);
    let up_addr = upstream(
        &up_agent,
        client,
        format!("http://{down_addr}/stock/7?token=abc&x=1"),
    )
    .await;

    assert_eq!(fetch(format!("http://{up_addr}/order"), &[]).await, "12");

    let caller = &until(|| up.transactions(), 1).await[0];
    let callee = &until(|| down.transactions(), 1).await[0];
    let span = &up.spans()[0];
    assert_eq!(callee.trace_id, caller.trace_id);
    assert_eq!(
        callee.parent_id,
        Some(span.id),
        "the exit span is the downstream's parent"
    );
    assert_eq!(span.parent_id, caller.id);
    assert_eq!(span.name, "GET 127.0.0.1");
    assert_eq!(span.kind, "external");
    assert_eq!(span.subtype.as_deref(), Some("http"));
    assert_eq!(span.outcome, Some(Outcome::Success));
    let context = serde_json::to_value(&span.context).unwrap();
    assert_eq!(context["http"]["method"], "GET");
    assert_eq!(
        context["http"]["url"],
        format!("http://{down_addr}/stock/7?token=[REDACTED]&x=1")
    );
    assert_eq!(context["http"]["response"]["status_code"], 200);
    assert_eq!(context["destination"]["address"], "127.0.0.1");
    assert_eq!(context["destination"]["port"], down_addr.port());
    assert_eq!(context["service"]["target"]["type"], "http");
    assert_eq!(
        context["service"]["target"]["name"],
        format!("127.0.0.1:{}", down_addr.port())
    );
    assert_eq!(
        context["destination"]["service"]["resource"],
        format!("127.0.0.1:{}", down_addr.port())
    );

    let headers = &seen.lock().unwrap()[0];
    let traceparent = headers["traceparent"].to_str().unwrap();
    assert_eq!(
        traceparent,
        format!("00-{}-{}-01", caller.trace_id, span.id)
    );
    assert_eq!(headers["elastic-apm-traceparent"], traceparent);
    assert_eq!(headers["tracestate"], "es=s:1");
}

#[tokio::test]
async fn tracestate_carries_the_sample_rate_and_unsampled_decisions_propagate() {
    let (down_agent, down) = recorded();
    let (up_agent, up) = recorded();
    let (down_addr, seen) = downstream(&down_agent).await;
    let client = elastic_apm_reqwest::instrument(reqwest::Client::new(), &up_agent);
    let up_addr = upstream(&up_agent, client, format!("http://{down_addr}/stock/7")).await;

    // Sampled at 0.5 upstream of us.
    fetch(
        format!("http://{up_addr}/order"),
        &[
            (
                "traceparent",
                "00-11111111111111111111111111111111-2222222222222222-01",
            ),
            ("tracestate", "es=s:0.5,vendor=x"),
        ],
    )
    .await;
    // Not sampled upstream of us.
    fetch(
        format!("http://{up_addr}/order"),
        &[(
            "traceparent",
            "00-33333333333333333333333333333333-4444444444444444-00",
        )],
    )
    .await;

    let callees = until(|| down.transactions(), 2).await;
    let seen = seen.lock().unwrap().clone();
    let tracestate = seen[0]["tracestate"].to_str().unwrap();
    assert!(tracestate.starts_with("es=s:0.5"), "{tracestate}");
    assert!(
        tracestate.contains("vendor=x"),
        "other vendors' entries pass through: {tracestate}"
    );
    assert_eq!(callees[0].sample_rate, Some(0.5));

    let unsampled = seen[1]["traceparent"].to_str().unwrap();
    assert!(unsampled.starts_with("00-33333333333333333333333333333333-"));
    assert!(
        unsampled.ends_with("-00"),
        "the unsampled flag travels: {unsampled}"
    );
    assert!(!callees[1].sampled);
    assert_eq!(up.spans().len(), 1, "no span for the unsampled call");
}

#[tokio::test]
async fn outside_a_transaction_requests_go_out_untouched() {
    let (down_agent, _down) = recorded();
    let (up_agent, up) = recorded();
    let (down_addr, seen) = downstream(&down_agent).await;
    let client = elastic_apm_reqwest::instrument(reqwest::Client::new(), &up_agent);
    client
        .get(format!("http://{down_addr}/stock/1"))
        .send()
        .await
        .unwrap();
    assert!(seen.lock().unwrap()[0].get("traceparent").is_none());
    assert!(up.events().is_empty(), "no orphan span");
}

#[tokio::test]
async fn trace_headers_the_application_set_are_kept() {
    let (down_agent, _down) = recorded();
    let (up_agent, _up) = recorded();
    let (down_addr, seen) = downstream(&down_agent).await;
    let client = elastic_apm_reqwest::instrument(reqwest::Client::new(), &up_agent);
    let tx = up_agent.start_transaction("job", "background");
    let mine = "00-55555555555555555555555555555555-6666666666666666-01";
    let call = client
        .get(format!("http://{down_addr}/stock/1"))
        .header("traceparent", mine)
        .with_extension(tx.segment().unwrap())
        .send();
    call.await.unwrap();
    tx.end();
    assert_eq!(seen.lock().unwrap()[0]["traceparent"], mine);
}

#[tokio::test]
async fn failures_are_failures_and_credentials_never_show() {
    let (down_agent, _down) = recorded();
    let (agent, recorder) = recorded();
    let (down_addr, _) = downstream(&down_agent).await;
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let client = elastic_apm_reqwest::instrument(
        reqwest::Client::builder()
            .timeout(Duration::from_millis(100))
            .build()
            .unwrap(),
        &agent,
    );
    let tx = agent.start_transaction("job", "background");
    let segment = tx.segment().unwrap();
    for url in [
        format!("http://user:hunter2@{refused}/x"),
        format!("http://user:hunter2@{down_addr}/slow"),
        format!("http://user:hunter2@{down_addr}/status/500"),
        format!("http://user:hunter2@{down_addr}/status/404"),
    ] {
        let _ = client.get(url).with_extension(segment.clone()).send().await;
    }
    tx.end();
    let spans = recorder.spans();
    assert_eq!(spans.len(), 4);
    assert!(
        spans.iter().all(|s| s.outcome == Some(Outcome::Failure)),
        "{spans:#?}"
    );
    let errors = recorder.errors();
    assert_eq!(
        errors.len(),
        2,
        "transport errors (refused, timeout) are captured; answers are not"
    );
    for error in &errors {
        let parent = error.parent_id.unwrap();
        assert!(
            spans[..2].iter().any(|s| s.id == parent),
            "each error belongs to its failed span"
        );
    }
    let everything = serde_json::to_string(&recorder.events()).unwrap();
    assert!(
        !everything.contains("hunter2"),
        "a password leaked: {everything}"
    );
    assert!(
        everything.contains("http://127.0.0.1:"),
        "URLs are there, without credentials"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_validates_through_the_intake_receiver() {
    let receiver = IntakeReceiver::start().await;
    let agent = receiver.agent_builder().service_name("reqwest-e2e").build();
    let (down_addr, _) = downstream(&agent).await;
    let client = elastic_apm_reqwest::instrument(reqwest::Client::new(), &agent);
    let up_addr = upstream(
        &agent,
        client,
        format!("http://u:p@{down_addr}/stock/7?secret=1"),
    )
    .await;
    fetch(format!("http://{up_addr}/order"), &[]).await;
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let client = elastic_apm_reqwest::instrument(reqwest::Client::new(), &agent);
    let up_addr = upstream(&agent, client, format!("http://{refused}/x")).await;
    fetch(format!("http://{up_addr}/order"), &[]).await;
    // 3 transactions, 2 spans, 1 error, each reported as its request finishes.
    let deadline = Instant::now() + Duration::from_secs(10);
    while agent.health().events_total < 6 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(agent.flush(Duration::from_secs(10)).await);
    assert_eq!(receiver.accepted("transaction").len(), 3);
    assert_eq!(receiver.accepted("span").len(), 2);
    assert_eq!(receiver.accepted("error").len(), 1);
    assert!(
        receiver.violations().is_empty(),
        "{:#?}",
        receiver.violations()
    );
}
