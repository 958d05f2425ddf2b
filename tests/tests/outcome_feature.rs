//! The spec's `outcome.feature`: user and agent outcomes, outcomes from errors, the HTTP
//! server's outcome from the status `ApmLayer` sees, and the HTTP client's from what
//! `ApmMiddleware` sees. gRPC has no integration here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use elastic_apm_core::model::Outcome;
use elastic_apm_core::testing::{Recorder, recording_agent};
use elastic_apm_core::{Agent, Span, Transaction};
use elastic_apm_tower::ApmLayer;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use intake_receiver::{gherkin, spec};
use tower::ServiceExt;

#[derive(Debug)]
struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed")
    }
}

impl std::error::Error for Failed {}

fn outcome(text: &str) -> Outcome {
    match text {
        "success" => Outcome::Success,
        "failure" => Outcome::Failure,
        "unknown" => Outcome::Unknown,
        other => panic!("unknown outcome {other:?}"),
    }
}

struct World {
    agent: Agent,
    recorder: Recorder,
    transaction: Option<Transaction>,
    span: Option<Span>,
}

impl World {
    fn transaction(&mut self) -> &Transaction {
        let agent = self.agent.clone();
        self.transaction
            .get_or_insert_with(|| agent.start_transaction("t", "request"))
    }

    fn span(&self) -> &Span {
        self.span.as_ref().expect("an active span")
    }

    /// A request through `ApmLayer` whose handler answers `status` (-1: panics).
    async fn http_call_received(&mut self, status: i32) {
        // The layer makes the request's transaction: the one the scenario began is
        // set aside unrecorded.
        drop(self.transaction.take());
        self.recorder.clear();
        let app = Router::new()
            .route(
                "/",
                get(move || async move {
                    let Ok(status) = u16::try_from(status) else {
                        panic!("no status: the handler failed");
                    };
                    StatusCode::from_u16(status).unwrap()
                }),
            )
            .layer(ApmLayer::new(&self.agent));
        let response = app
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }

    /// A call through `ApmMiddleware`, under the active span, to a server answering
    /// `status` (-1: nothing listens, the connection is refused).
    async fn http_call_made(&mut self, status: i32) {
        let parent = self.span().segment().unwrap();
        if let Ok(status @ 100..=199) = u16::try_from(status) {
            // No real server answers 1xx as a final status: a middleware behind ours does.
            let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
                .with(elastic_apm_reqwest::ApmMiddleware::new(&self.agent))
                .with(Answer(status))
                .build();
            let _ = client
                .get("http://informational.invalid/")
                .with_extension(parent)
                .send()
                .await;
            return;
        }
        let addr = match u16::try_from(status) {
            Ok(status) => {
                let app = Router::new().route(
                    "/",
                    get(move || async move { StatusCode::from_u16(status).unwrap() }),
                );
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
                addr
            }
            Err(_) => std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap(),
        };
        let client = elastic_apm_reqwest::instrument(reqwest::Client::new(), &self.agent);
        let _ = client
            .get(format!("http://{addr}/"))
            .with_extension(parent)
            .send()
            .await;
    }
}

/// Answers every request with a fixed status, without a network.
struct Answer(u16);

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for Answer {
    async fn handle(
        &self,
        _: reqwest::Request,
        _: &mut http::Extensions,
        _: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let response = http::Response::builder().status(self.0).body("").unwrap();
        Ok(reqwest::Response::from(response))
    }
}

async fn run(scenario: &gherkin::Scenario) -> Result<(), String> {
    let (agent, recorder) = recording_agent(|b| b.service_name("outcome"));
    let mut world = World {
        agent,
        recorder,
        transaction: None,
        span: None,
    };
    for step in &scenario.steps {
        let text = step.text.as_str();
        if text == "an agent" {
        } else if text == "an active transaction" {
            world.transaction();
        } else if text == "an active span" {
            let span = world.transaction().start_span("s", "app");
            world.span = Some(span);
        } else if let Some(o) = step.quoted_after("the agent sets the span outcome to ") {
            world.span().set_instrumentation_outcome(outcome(o));
        } else if let Some(o) = step.quoted_after("a user sets the span outcome to ") {
            world.span().set_outcome(outcome(o));
        } else if let Some(o) = step.quoted_after("the agent sets the transaction outcome to ") {
            world.transaction().set_instrumentation_outcome(outcome(o));
        } else if let Some(o) = step.quoted_after("a user sets the transaction outcome to ") {
            world.transaction().set_outcome(outcome(o));
        } else if text == "an error is reported to the span" {
            world.span().capture_error(&Failed);
        } else if text == "an error is reported to the transaction" {
            world
                .transaction()
                .segment()
                .unwrap()
                .capture_error(&Failed);
        } else if text == "the span ends" {
            world.span.take().expect("an active span").end();
        } else if text == "the transaction ends" {
            if let Some(tx) = world.transaction.take() {
                tx.end();
            }
        } else if let Some(expected) = step.quoted_after("the span outcome is ") {
            // After an HTTP call, the span in question is the call's exit span.
            let spans = world.recorder.spans();
            let span = spans
                .iter()
                .find(|s| s.subtype.as_deref() == Some("http"))
                .or(spans.last());
            let got = span.and_then(|s| s.outcome);
            if got != Some(outcome(expected)) {
                return Err(format!("span outcome {got:?}, expected {expected}"));
            }
        } else if let Some(expected) = step.quoted_after("the transaction outcome is ") {
            let got = world.recorder.transactions().last().and_then(|t| t.outcome);
            if got != Some(outcome(expected)) {
                return Err(format!("transaction outcome {got:?}, expected {expected}"));
            }
        } else if let Some(status) = text.strip_prefix("a HTTP call is received that returns ") {
            world
                .http_call_received(status.trim().parse().unwrap())
                .await;
        } else if let Some(status) = text.strip_prefix("a HTTP call is made that returns ") {
            world.http_call_made(status.trim().parse().unwrap()).await;
        } else {
            panic!("{}: unexpected step {text:?}", scenario.name);
        }
    }
    Ok(())
}

#[tokio::test]
async fn outcome_feature() {
    let Some(feature) = spec::read_text("gherkin-specs/outcome.feature") else {
        return;
    };
    let scenarios = gherkin::parse(&feature);
    let (mut passed, mut not_applicable, mut failures) = (0, 0, Vec::new());
    for scenario in &scenarios {
        if scenario.name.contains("gRPC") {
            not_applicable += 1;
            continue;
        }
        match run(scenario).await {
            Ok(()) => passed += 1,
            Err(why) => failures.push(format!("{}: {why}", scenario.name)),
        }
    }
    println!(
        "outcome.feature: {passed}/{} cases passed ({not_applicable} gRPC cases not applicable)",
        scenarios.len() - not_applicable
    );
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
    assert!(passed >= 13, "the spec's scenarios were all found");
}
