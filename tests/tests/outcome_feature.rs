//! The spec's `outcome.feature`: user and agent outcomes, outcomes from errors, and the
//! HTTP server's outcome from the status `ApmLayer` sees. The HTTP client half of the
//! HTTP outline belongs to the reqwest integration; gRPC has no integration here.
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
}

/// Runs one scenario; `Ok(false)` when its client-side HTTP half was left out.
async fn run(scenario: &gherkin::Scenario) -> Result<bool, String> {
    let (agent, recorder) = recording_agent(|b| b.service_name("outcome"));
    let mut world = World {
        agent,
        recorder,
        transaction: None,
        span: None,
    };
    let mut client_half_skipped = false;
    for step in &scenario.steps {
        let text = step.text.as_str();
        if client_half_skipped {
            continue;
        }
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
            let got = world.recorder.spans().last().and_then(|s| s.outcome);
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
        } else if text.starts_with("a HTTP call is made that returns ") {
            // The client half: elastic-apm-reqwest's (issue 5). The server half was checked.
            client_half_skipped = true;
            // The step before this one began a span for it; it is not part of the check.
            drop(world.span.take());
        } else {
            panic!("{}: unexpected step {text:?}", scenario.name);
        }
    }
    Ok(!client_half_skipped)
}

#[tokio::test]
async fn outcome_feature() {
    let Some(feature) = spec::read_text("gherkin-specs/outcome.feature") else {
        return;
    };
    let scenarios = gherkin::parse(&feature);
    let (mut passed, mut partial, mut not_applicable, mut failures) = (0, 0, 0, Vec::new());
    for scenario in &scenarios {
        if scenario.name.contains("gRPC") {
            not_applicable += 1;
            continue;
        }
        match run(scenario).await {
            Ok(true) => passed += 1,
            Ok(false) => partial += 1,
            Err(why) => failures.push(format!("{}: {why}", scenario.name)),
        }
    }
    println!(
        "outcome.feature: {}/{} cases passed ({partial} of them the HTTP server half only; \
         {not_applicable} gRPC cases not applicable)",
        passed + partial,
        scenarios.len() - not_applicable
    );
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
    assert!(
        passed >= 6 && partial >= 7,
        "the spec's scenarios were all found"
    );
}
