//! `ApmLayer` end to end: real axum routers and hyper servers over loopback, and
//! in-process calls with `ServiceExt::oneshot`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use bytes::Bytes;
use elastic_apm_core::model::{self, Outcome};
use elastic_apm_core::testing::{Recorder, recording_agent};
use elastic_apm_core::{Agent, AgentBuilder, CaptureBody, in_span};
use elastic_apm_tower::{ApmLayer, ReportedError};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use intake_receiver::IntakeReceiver;
use tower::ServiceExt;

/// The shop the tests call: a route with a parameter, errors, a panic, a stream.
fn app(agent: &Agent) -> Router {
    Router::new()
        .route(
            "/users/{id}",
            get(|Path(id): Path<u32>| async move { format!("user {id}") }),
        )
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/redirect",
            get(|| async { (StatusCode::FOUND, [("location", "/")]) }),
        )
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route("/reported", get(reported_error))
        .route("/panic", get(panicking))
        .route(
            "/login",
            post(|body: String| async move { format!("{} bytes", body.len()) }),
        )
        .route(
            "/stream",
            get(|| async { Body::new(SlowBody::new(3, Duration::from_millis(60))) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        )
        .route(
            "/nested",
            get(|| async {
                in_span("SELECT FROM users", "db", async {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                })
                .await;
                "ok"
            }),
        )
        .route("/health", get(|| async { "ok" }))
        .layer(ApmLayer::new(agent))
}

async fn panicking() -> &'static str {
    panic!("the handler broke");
}

#[derive(Debug)]
struct OutOfStock;

impl std::fmt::Display for OutOfStock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("product 7 is out of stock")
    }
}

impl std::error::Error for OutOfStock {}

async fn reported_error() -> axum::response::Response {
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, "sorry").into_response();
    response
        .extensions_mut()
        .insert(ReportedError::new(OutOfStock));
    response
}

/// A body of `chunks` chunks, one every `pause`.
struct SlowBody {
    left: u32,
    pause: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl SlowBody {
    fn new(chunks: u32, pause: Duration) -> Self {
        SlowBody {
            left: chunks,
            pause,
            sleep: Box::pin(tokio::time::sleep(pause)),
        }
    }
}

impl hyper::body::Body for SlowBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.left -= 1;
                let pause = self.pause;
                self.sleep
                    .as_mut()
                    .reset(tokio::time::Instant::now() + pause);
                Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from_static(
                    b"chunk\n",
                )))))
            }
        }
    }
}

fn recorded(configure: impl FnOnce(AgentBuilder) -> AgentBuilder) -> (Agent, Recorder) {
    recording_agent(|b| configure(b.service_name("tower-e2e")))
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// Sends a request over loopback; returns status, headers and the whole body.
async fn call(addr: SocketAddr, request: Request<Full<Bytes>>) -> (StatusCode, HeaderMap, Bytes) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let (parts, body) = request.into_parts();
    let mut uri = format!("http://{addr}{}", parts.uri);
    if parts.uri.path().is_empty() {
        uri.push('/');
    }
    let mut request = Request::from_parts(parts, body);
    *request.uri_mut() = uri.parse().unwrap();
    let response = client.request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

fn get_request(path: &str) -> Request<Full<Bytes>> {
    Request::get(path).body(Full::default()).unwrap()
}

/// The recorder's transactions once `n` have ended (they end as the body finishes,
/// right after the client has it).
async fn transactions(recorder: &Recorder, n: usize) -> Vec<model::Transaction> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while recorder.transactions().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let transactions = recorder.transactions();
    assert_eq!(transactions.len(), n, "{transactions:#?}");
    transactions
}

fn request_context(tx: &model::Transaction) -> serde_json::Value {
    serde_json::to_value(&tx.context.as_ref().expect("sampled: context").request).unwrap()
}

#[tokio::test]
async fn route_templates_name_transactions_and_unknown_routes_are_grouped() {
    let (agent, recorder) = recorded(|b| b);
    let addr = serve(app(&agent)).await;
    for path in ["/users/42", "/users/7", "/no/such/page"] {
        call(addr, get_request(path)).await;
    }
    let txs = transactions(&recorder, 3).await;
    assert_eq!(txs[0].name, "GET /users/{id}");
    assert_eq!(txs[1].name, "GET /users/{id}");
    assert_eq!(txs[2].name, "GET unknown route");
    assert_eq!(txs[2].result.as_deref(), Some("HTTP 4xx"));
    assert!(txs.iter().all(|t| t.kind == "request"));
    let framework = agent.metadata().service.framework.unwrap();
    assert_eq!(framework.name, "axum");
}

#[tokio::test]
async fn results_and_outcomes_follow_the_status() {
    let (agent, recorder) = recorded(|b| b);
    let app = app(&agent);
    let cases = [
        ("/users/1", "HTTP 2xx", Outcome::Success),
        ("/redirect", "HTTP 3xx", Outcome::Success),
        ("/missing", "HTTP 4xx", Outcome::Success),
        ("/fail", "HTTP 5xx", Outcome::Failure),
    ];
    for (path, _, _) in cases {
        let response = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }
    let txs = transactions(&recorder, cases.len()).await;
    for ((path, result, outcome), tx) in cases.iter().zip(&txs) {
        assert_eq!(tx.result.as_deref(), Some(*result), "{path}");
        assert_eq!(tx.outcome, Some(*outcome), "{path}");
        let response = tx.context.as_ref().unwrap().response.as_ref().unwrap();
        assert_eq!(response.finished, Some(true), "{path}");
    }
    assert_eq!(
        txs[2].name, "GET /missing",
        "a route that answers 404 keeps its name"
    );
}

#[tokio::test]
async fn an_incoming_trace_context_is_continued_and_an_invalid_one_ignored() {
    let (agent, recorder) = recorded(|b| b);
    let addr = serve(app(&agent)).await;
    let valid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let invalid = "00-0af7651916cd43dd8448eb211c80319c-zzzzzzzzzzzzzzzz-01";
    // Past 16 names the layer looks the trace headers up rather than walking the names.
    let padding: Vec<String> = (0..20).map(|i| format!("x-pad-{i}")).collect();
    let mut many: Vec<(&str, &str)> = padding.iter().map(|name| (name.as_str(), "1")).collect();
    many.push(("traceparent", valid));
    let cases: [&[(&str, &str)]; 5] = [
        &many,
        &[("traceparent", valid), ("tracestate", "es=s:1,other=x")],
        &[("traceparent", invalid)],
        // The legacy header alone still continues the trace.
        &[("elastic-apm-traceparent", valid), ("tracestate", "es=s:1")],
        // A tracestate alone continues nothing.
        &[("tracestate", "es=s:1")],
    ];
    for headers in cases {
        let mut request = Request::get("/health");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        call(addr, request.body(Full::default()).unwrap()).await;
    }
    // Each connection is new, so the order in which they end is not the requests':
    // each transaction's recorded headers tell which case it was.
    let txs = transactions(&recorder, 5).await;
    let mut continued = 0;
    for tx in &txs {
        let headers = &request_context(tx)["headers"];
        let sent = |name: &str| headers[name].as_str() == Some(valid);
        if sent("traceparent") || sent("elastic-apm-traceparent") {
            continued += 1;
            assert_eq!(tx.trace_id.to_string(), "0af7651916cd43dd8448eb211c80319c");
            assert_eq!(tx.parent_id.unwrap().to_string(), "b7ad6b7169203331");
        } else {
            assert_ne!(tx.trace_id.to_string(), "0af7651916cd43dd8448eb211c80319c");
            assert!(tx.parent_id.is_none(), "a new trace: {headers}");
        }
    }
    assert_eq!(continued, 3);
}

#[tokio::test]
async fn request_and_response_context_is_recorded_and_sanitised() {
    let (agent, recorder) = recorded(|b| b);
    let addr = serve(app(&agent)).await;
    let request = Request::get("/users/42?tab=orders&password=hunter2")
        .header("authorization", "Bearer s3cr3t")
        .header("cookie", "theme=dark; sessionid=abc123")
        .header("user-agent", "e2e-test/1.0")
        .body(Full::default())
        .unwrap();
    call(addr, request).await;
    let tx = &transactions(&recorder, 1).await[0];
    let request = request_context(tx);
    assert_eq!(request["method"], "GET");
    assert_eq!(request["http_version"], "1.1");
    assert_eq!(request["url"]["pathname"], "/users/42");
    assert_eq!(request["url"]["search"], "tab=orders&password=[REDACTED]");
    assert_eq!(request["url"]["hostname"], "127.0.0.1");
    assert_eq!(request["url"]["port"], addr.port());
    assert_eq!(request["headers"]["authorization"], "[REDACTED]");
    assert_eq!(request["headers"]["user-agent"], "e2e-test/1.0");
    assert_eq!(request["cookies"]["theme"], "dark");
    assert_eq!(request["cookies"]["sessionid"], "[REDACTED]");
    assert_eq!(request["socket"]["remote_address"], "127.0.0.1");
    let text = serde_json::to_string(tx).unwrap();
    for secret in ["hunter2", "s3cr3t", "abc123"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let response = serde_json::to_value(&tx.context.as_ref().unwrap().response).unwrap();
    assert_eq!(response["status_code"], 200);
    assert_eq!(
        response["headers"]["content-type"],
        "text/plain; charset=utf-8"
    );
}

/// A recorder whose queue says it is full while `full` is set.
struct Backlogged {
    recorder: Recorder,
    full: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl elastic_apm_core::Reporter for Backlogged {
    fn report(&self, event: model::Event) {
        elastic_apm_core::Reporter::report(&self.recorder, event);
    }

    fn is_backlogged(&self) -> bool {
        self.full.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[tokio::test]
async fn a_backlogged_reporter_gets_transactions_without_request_context() {
    let recorder = Recorder::new();
    let full = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let agent = Agent::builder()
        .read_env(false)
        .reporter(Backlogged {
            recorder: recorder.clone(),
            full: full.clone(),
        })
        .build();
    let request = || {
        Request::get("/users/7")
            .header("user-agent", "e2e-test/1.0")
            .body(Body::empty())
            .unwrap()
    };
    app(&agent).oneshot(request()).await.unwrap();
    full.store(false, std::sync::atomic::Ordering::Relaxed);
    app(&agent).oneshot(request()).await.unwrap();
    let transactions = transactions(&recorder, 2).await;
    let shed = &transactions[0];
    assert_eq!(shed.name, "GET /users/{id}");
    assert_eq!(shed.result.as_deref(), Some("HTTP 2xx"));
    assert!(shed.context.is_none(), "{:?}", shed.context);
    assert_eq!(
        request_context(&transactions[1])["headers"]["user-agent"],
        "e2e-test/1.0"
    );
}

#[tokio::test]
async fn request_bodies_are_redacted_by_default_and_captured_sanitised_on_request() {
    let login = || {
        Request::post("/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("user=bob&password=hunter2"))
            .unwrap()
    };
    let (agent, recorder) = recorded(|b| b);
    let response = app(&agent).oneshot(login()).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "25 bytes", "the handler still gets the whole body");
    let tx = &transactions(&recorder, 1).await[0];
    assert_eq!(
        request_context(tx)["body"],
        "[REDACTED]",
        "capture_body is off by default"
    );

    let (agent, recorder) = recorded(|b| b.capture_body(CaptureBody::All));
    app(&agent).oneshot(login()).await.unwrap();
    let tx = &transactions(&recorder, 1).await[0];
    assert_eq!(request_context(tx)["body"], "user=bob&password=[REDACTED]");
}

#[tokio::test]
async fn ignored_urls_and_user_agents_start_no_transaction() {
    let (agent, recorder) = recorded(|b| {
        b.transaction_ignore_urls("/health,/static/*".parse().unwrap())
            .option("transaction_ignore_user_agents", "curl/*")
            .unwrap()
    });
    let app = app(&agent);
    app.clone()
        .oneshot(Request::get("/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let from_curl = Request::get("/users/1")
        .header("user-agent", "curl/8.5")
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(from_curl).await.unwrap();
    app.oneshot(Request::get("/users/2").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let txs = transactions(&recorder, 1).await;
    assert_eq!(txs[0].name, "GET /users/{id}");
}

#[tokio::test]
async fn a_streamed_body_is_timed_to_its_end() {
    let (agent, recorder) = recorded(|b| b);
    let addr = serve(app(&agent)).await;
    let started = Instant::now();
    let (status, _, body) = call(addr, get_request("/stream")).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "chunk\nchunk\nchunk\n");
    let tx = &transactions(&recorder, 1).await[0];
    assert!(
        tx.duration >= Duration::from_millis(170),
        "covers the stream: {:?}",
        tx.duration
    );
    assert!(
        tx.duration <= took + Duration::from_millis(50),
        "{:?} vs {took:?}",
        tx.duration
    );
    let response = tx.context.as_ref().unwrap().response.as_ref().unwrap();
    assert_eq!(response.finished, Some(true));
}

#[tokio::test]
async fn a_panicking_handler_is_reported_and_answered_500() {
    let (agent, recorder) = recorded(|b| b);
    let addr = serve(app(&agent)).await;
    let (status, _, _) = call(addr, get_request("/panic")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    // The server keeps serving after the panic.
    assert_eq!(call(addr, get_request("/health")).await.0, StatusCode::OK);
    let txs = transactions(&recorder, 2).await;
    let tx = &txs[0];
    assert_eq!(tx.result.as_deref(), Some("HTTP 5xx"));
    assert_eq!(tx.outcome, Some(Outcome::Failure));
    let errors = recorder.errors();
    assert_eq!(errors.len(), 1);
    let error = &errors[0];
    let exception = error.exception.as_ref().unwrap();
    assert_eq!(exception.message.as_deref(), Some("the handler broke"));
    assert_eq!(exception.kind.as_deref(), Some("panic"));
    assert_eq!(exception.handled, Some(false));
    assert_eq!(error.transaction_id, Some(tx.id));
    let frames = serde_json::to_string(&exception.stacktrace).unwrap();
    assert!(
        frames.contains("panicking"),
        "the panic's own stack: {frames}"
    );
}

#[tokio::test]
async fn errors_attached_to_responses_are_reported() {
    let (agent, recorder) = recorded(|b| b);
    app(&agent)
        .oneshot(Request::get("/reported").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let tx = &transactions(&recorder, 1).await[0];
    assert_eq!(tx.outcome, Some(Outcome::Failure));
    let errors = recorder.errors();
    assert_eq!(errors.len(), 1);
    let exception = errors[0].exception.as_ref().unwrap();
    assert_eq!(
        exception.message.as_deref(),
        Some("product 7 is out of stock")
    );
    assert_eq!(exception.kind.as_deref(), Some("tower::OutOfStock"));
    assert_eq!(errors[0].parent_id, Some(tx.id));
}

#[tokio::test]
async fn spans_in_handlers_nest_under_the_transaction() {
    let (agent, recorder) = recorded(|b| b);
    app(&agent)
        .oneshot(Request::get("/nested").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let tx = &transactions(&recorder, 1).await[0];
    let spans = recorder.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].parent_id, tx.id);
    assert_eq!(spans[0].transaction_id, tx.id);
    assert_eq!(tx.span_count.started, 1);
}

#[tokio::test]
async fn a_request_abandoned_before_the_answer_ends_with_outcome_unknown() {
    let (agent, recorder) = recorded(|b| b);
    let call = app(&agent).oneshot(Request::get("/slow").body(Body::empty()).unwrap());
    assert!(
        tokio::time::timeout(Duration::from_millis(50), call)
            .await
            .is_err()
    );
    let tx = &transactions(&recorder, 1).await[0];
    assert_eq!(tx.name, "GET /slow");
    assert_eq!(tx.outcome, Some(Outcome::Unknown));
    assert_eq!(tx.result, None);
}

#[tokio::test]
async fn route_layer_and_naming_options() {
    let (agent, recorder) = recorded(|b| b);
    let app = Router::new()
        .route("/items/{id}", get(|| async { "item" }))
        .route_layer(ApmLayer::new(&agent));
    app.oneshot(Request::get("/items/9").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(transactions(&recorder, 1).await[0].name, "GET /items/{id}");

    let (agent, recorder) = recorded(|b| b);
    let raw = Router::new()
        .route("/items/{id}", get(|| async { "item" }))
        .layer(ApmLayer::new(&agent).use_path_as_transaction_name(true));
    raw.oneshot(Request::get("/items/9").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(transactions(&recorder, 1).await[0].name, "GET /items/9");

    let (agent, recorder) = recorded(|b| b);
    let custom = Router::new()
        .route("/items/{id}", get(|| async { "item" }))
        .layer(ApmLayer::new(&agent).transaction_name(|info| {
            format!(
                "{} {}",
                info.method,
                info.route.unwrap_or("?").trim_start_matches('/')
            )
        }));
    custom
        .oneshot(Request::get("/items/9").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(transactions(&recorder, 1).await[0].name, "GET items/{id}");
}

#[tokio::test]
async fn a_plain_hyper_service_behind_a_hyper_util_server() {
    let (agent, recorder) = recorded(|b| b);
    let service = tower::ServiceBuilder::new()
        .layer(ApmLayer::new(&agent))
        .service_fn(|request: Request<_>| async move {
            let _: &elastic_apm_tower::ApmRequestBody<hyper::body::Incoming> = request.body();
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let service = hyper_util::service::TowerToHyperService::new(service);
        hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
            .await
            .unwrap();
    });
    let (status, _, body) = call(addr, get_request("/anything")).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"hello"[..]));
    let tx = &transactions(&recorder, 1).await[0];
    assert_eq!(tx.name, "GET unknown route", "no router, no route template");
    assert_eq!(tx.result.as_deref(), Some("HTTP 2xx"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_validates_through_the_intake_receiver() {
    let receiver = IntakeReceiver::start().await;
    let agent = receiver
        .agent_builder()
        .service_name("tower-e2e")
        .capture_body(CaptureBody::All)
        .build();
    let addr = serve(app(&agent)).await;
    for path in [
        "/users/3?password=x",
        "/nested",
        "/missing",
        "/fail",
        "/panic",
        "/reported",
        "/stream",
        "/nope",
    ] {
        let request = Request::get(path)
            .header("cookie", "a=1; session=2")
            .header(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )
            .body(Full::default())
            .unwrap();
        call(addr, request).await;
    }
    let login = Request::post("/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from_static(b"user=bob&password=hunter2")))
        .unwrap();
    call(addr, login).await;
    // 9 transactions, 2 errors (the panic, the reported one), 1 span; each transaction
    // ends on the server just after its client has the answer.
    let deadline = Instant::now() + Duration::from_secs(10);
    while agent.health().events_total < 12 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(agent.flush(Duration::from_secs(10)).await);
    assert_eq!(receiver.accepted("transaction").len(), 9);
    assert_eq!(receiver.accepted("error").len(), 2);
    assert_eq!(receiver.accepted("span").len(), 1);
    assert!(receiver.validates() || std::env::var("CI").is_err());
    assert!(
        receiver.violations().is_empty(),
        "{:#?}",
        receiver.violations()
    );
}

#[tokio::test]
async fn nested_layers_record_one_transaction_named_by_the_inner_route() {
    let (agent, recorder) = recorded(|b| b);
    let api = Router::new()
        .route("/orders/{id}", get(|| async { "order" }))
        .layer(ApmLayer::new(&agent));
    let app = Router::new().nest("/api", api).layer(ApmLayer::new(&agent));
    let response = app
        .oneshot(Request::get("/api/orders/5").body(Body::empty()).unwrap())
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();
    let txs = transactions(&recorder, 1).await;
    assert_eq!(txs[0].name, "GET /api/orders/{id}");
}

#[tokio::test]
async fn bodiless_answers_count_as_finished_and_set_cookie_is_redacted() {
    let (agent, recorder) = recorded(|b| b);
    let app = Router::new()
        .route(
            "/login",
            get(|| async { ([("set-cookie", "session=s3cr3t; HttpOnly")], "welcome") }),
        )
        .layer(ApmLayer::new(&agent));
    let addr = serve(app).await;
    let head = Request::head("/login").body(Full::default()).unwrap();
    call(addr, head).await;
    call(addr, get_request("/login")).await;
    let txs = transactions(&recorder, 2).await;
    for tx in &txs {
        let response = tx.context.as_ref().unwrap().response.as_ref().unwrap();
        assert_eq!(response.finished, Some(true));
        let headers = serde_json::to_value(&response.headers).unwrap();
        assert_eq!(headers["set-cookie"], "[REDACTED]");
    }
}

#[tokio::test]
async fn panics_are_answered_500_even_for_unrecorded_requests() {
    let (agent, recorder) = recorded(|b| b.transaction_ignore_urls("/panic".parse().unwrap()));
    let addr = serve(app(&agent)).await;
    assert_eq!(
        call(addr, get_request("/panic")).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert!(recorder.events().is_empty(), "ignored: nothing recorded");
}

#[tokio::test]
async fn capture_body_errors_puts_the_body_on_errors_only() {
    let (agent, recorder) = recorded(|b| b.capture_body(CaptureBody::Errors));
    let app = Router::new()
        .route(
            "/pay",
            post(|body: String| async move {
                let mut response = (StatusCode::BAD_GATEWAY, body).into_response();
                response
                    .extensions_mut()
                    .insert(ReportedError::new(OutOfStock));
                response
            }),
        )
        .layer(ApmLayer::new(&agent));
    let request = Request::post("/pay")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"card":"4111"}"#))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    response.into_body().collect().await.unwrap();
    let tx = &transactions(&recorder, 1).await[0];
    assert_eq!(request_context(tx)["body"], "[REDACTED]");
    let error = &recorder.errors()[0];
    let body = &error
        .context
        .as_ref()
        .unwrap()
        .request
        .as_ref()
        .unwrap()
        .body;
    assert_eq!(body.as_ref().unwrap(), r#"{"card":"4111"}"#);
}
