//! The example shop end to end against the intake receiver: every route's whole trace,
//! the distributed trace of an order, errors and panics, sanitising, W3C's test
//! service, all of it schema-valid and nothing lost on graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use examples::shop;
use intake_receiver::IntakeReceiver;
use serde_json::Value;

struct Run {
    receiver: IntakeReceiver,
    base: String,
    transactions: Vec<Value>,
    spans: Vec<Value>,
    errors: Vec<Value>,
}

impl Run {
    fn transaction(&self, name: &str) -> &Value {
        self.transactions
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no transaction {name:?}"))
    }

    fn children(&self, parent: &Value) -> Vec<&Value> {
        self.spans
            .iter()
            .filter(|s| s["parent_id"] == parent["id"])
            .collect()
    }
}

/// One request to send: method, path, JSON body (`{base}` becomes the shop's URL), headers.
type Call<'a> = (&'a str, &'a str, Option<&'a str>, &'a [(&'a str, &'a str)]);

/// Starts the shop with an agent sending to a fresh receiver, sends `requests`, shuts
/// both down gracefully, and collects what arrived.
async fn run(requests: &[Call<'_>]) -> Run {
    let receiver = IntakeReceiver::start().await;
    let agent = receiver.agent_builder().service_name("shop").build();
    let db = shop::Db::connect(None, &agent).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(shop::serve(listener, shop::app(&agent, db, &base), async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    for (method, path, body, headers) in requests {
        let url = format!("{base}{path}");
        let mut request = match *method {
            "POST" => client
                .post(url)
                .header("content-type", "application/json")
                .body(body.unwrap_or("").replace("{base}", &base)),
            _ => client.get(url),
        };
        for (name, value) in *headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap();
    }
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    // Everything recorded before the graceful shutdown returned is delivered.
    assert!(
        agent.shutdown(Duration::from_secs(10)).await,
        "{:?}",
        agent.health()
    );
    let health = agent.health();
    assert_eq!(health.dropped(), 0, "{health:?}");
    assert_eq!(health.events_total, health.events_sent, "{health:?}");
    assert!(
        receiver.violations().is_empty(),
        "{:#?}",
        receiver.violations()
    );
    Run {
        transactions: receiver.accepted("transaction"),
        spans: receiver.accepted("span"),
        errors: receiver.accepted("error"),
        receiver,
        base,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_traced_end_to_end() {
    let none: &[(&str, &str)] = &[];
    let run = run(&[
        ("GET", "/health", None, none),
        (
            "GET",
            "/products",
            None,
            &[
                ("authorization", "Bearer s3cr3t"),
                ("cookie", "session=abc123"),
            ],
        ),
        ("GET", "/products/2", None, none),
        ("GET", "/products/99", None, none),
        (
            "POST",
            "/orders",
            Some(r#"{"product_id": 1, "quantity": 2}"#),
            none,
        ),
        ("GET", "/error", None, none),
        ("GET", "/panic", None, none),
        ("GET", "/nowhere", None, none),
    ])
    .await;
    let names: HashMap<&str, usize> = run.transactions.iter().fold(HashMap::new(), |mut m, t| {
        *m.entry(t["name"].as_str().unwrap()).or_default() += 1;
        m
    });
    for (name, count) in [
        ("GET /health", 1),
        ("GET /products", 1),
        ("GET /products/{id}", 2),
        ("POST /orders", 1),
        ("GET /stock/{id}", 1),
        ("GET /error", 1),
        ("GET /panic", 1),
        ("GET unknown route", 1),
    ] {
        assert_eq!(names.get(name), Some(&count), "{name}: {names:?}");
    }
    assert!(run.transactions.iter().all(|t| t["type"] == "request"));

    // /products: one query span; its request's secrets redacted.
    let products = run.transaction("GET /products");
    let spans = run.children(products);
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0]["name"], "SELECT FROM products");
    assert_eq!(spans[0]["type"], "db");
    assert_eq!(spans[0]["subtype"], "sqlite");
    let request = &products["context"]["request"];
    assert_eq!(request["headers"]["authorization"], "[REDACTED]");
    assert_eq!(request["cookies"]["session"], "[REDACTED]");

    // 404 from a route keeps its name; its result says 4xx.
    let missing = run
        .transactions
        .iter()
        .find(|t| t["name"] == "GET /products/{id}" && t["result"] == "HTTP 4xx")
        .expect("the 404");
    assert_eq!(missing["outcome"], "success");

    // POST /orders: an exit span to /stock, whose transaction continues the trace, then
    // the database transaction.
    let order = run.transaction("POST /orders");
    let stock = run.transaction("GET /stock/{id}");
    let exit = run
        .children(order)
        .into_iter()
        .find(|s| s["type"] == "external")
        .expect("the call to /stock");
    assert_eq!(exit["subtype"], "http");
    assert_eq!(stock["trace_id"], order["trace_id"]);
    assert_eq!(stock["parent_id"], exit["id"]);
    let order_spans: Vec<&str> = run
        .children(order)
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for name in ["BEGIN", "UPDATE products", "INSERT INTO orders", "COMMIT"] {
        assert!(order_spans.contains(&name), "{name} in {order_spans:?}");
    }
    assert_eq!(run.children(stock)[0]["name"], "SELECT FROM products");

    // /error: the failed query and the handler's error with its cause chain.
    let error_tx = run.transaction("GET /error");
    assert_eq!(error_tx["outcome"], "failure");
    let failed_query = &run.children(error_tx)[0];
    assert_eq!(failed_query["outcome"], "failure");
    let handler_error = run
        .errors
        .iter()
        .find(|e| e["exception"]["message"] == "could not apply the discount")
        .expect("the handler's error");
    assert_eq!(handler_error["transaction_id"], error_tx["id"]);
    assert!(
        !handler_error["exception"]["cause"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // /panic: reported, answered 500.
    let panic_tx = run.transaction("GET /panic");
    assert_eq!(panic_tx["result"], "HTTP 5xx");
    let panic = run
        .errors
        .iter()
        .find(|e| e["exception"]["type"] == "panic")
        .expect("the panic");
    assert_eq!(panic["transaction_id"], panic_tx["id"]);

    assert!(run.receiver.validates() || std::env::var("CI").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_w3c_test_service_endpoint_propagates_trace_context() {
    // As the W3C suite drives a test service: a traceparent in, a list of calls to make.
    let body =
        r#"[{"url": "{base}/test", "arguments": [{"url": "{base}/health", "arguments": []}]}]"#;
    let run = run(&[(
        "POST",
        "/test",
        Some(body),
        &[
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("tracestate", "foo=bar"),
        ],
    )])
    .await;
    assert!(run.base.starts_with("http://127.0.0.1:"));
    let tests: Vec<&Value> = run
        .transactions
        .iter()
        .filter(|t| t["name"] == "POST /test")
        .collect();
    assert_eq!(
        tests.len(),
        2,
        "the suite's request, and the call it asked for"
    );
    let outer = tests
        .iter()
        .find(|t| t["parent_id"] == "b7ad6b7169203331")
        .expect("continues the suite's trace");
    let inner = tests
        .iter()
        .find(|t| t["parent_id"] != "b7ad6b7169203331")
        .unwrap();
    assert_eq!(outer["trace_id"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(inner["trace_id"], "0af7651916cd43dd8448eb211c80319c");
    let exit = &run.children(outer)[0];
    assert_eq!(inner["parent_id"], exit["id"]);
    assert_eq!(exit["name"], "POST 127.0.0.1");
}
