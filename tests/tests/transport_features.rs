//! The spec's transport scenarios (`gherkin-specs/api_key.feature`,
//! `user_agent.feature`), each run against the intake receiver over loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use elastic_apm_core::{Agent, CloudProvider};
use intake_receiver::{IntakeReceiver, gherkin, spec};

/// Runs every scenario of a feature file; returns `(passed, total)`.
async fn run_feature(file: &str) -> Option<(usize, usize)> {
    let feature = spec::read_text(&format!("gherkin-specs/{file}"))?;
    let scenarios = gherkin::parse(&feature);
    let mut failures = Vec::new();
    for scenario in &scenarios {
        if let Err(why) = run_scenario(scenario).await {
            failures.push(format!("{}: {why}", scenario.name));
        }
    }
    spec::report(file, scenarios.len(), &failures);
    Some((scenarios.len() - failures.len(), scenarios.len()))
}

async fn run_scenario(scenario: &gherkin::Scenario) -> Result<(), String> {
    let receiver = IntakeReceiver::start().await;
    let mut builder = Some(
        Agent::builder()
            .read_env(false)
            .server_url(receiver.url())
            .cloud_provider(CloudProvider::None)
            .central_config(false),
    );
    let mut agent = None;
    for step in &scenario.steps {
        match step.text.as_str() {
            "an agent" => {}
            "an agent configured with" => {
                for (setting, value) in step.pairs() {
                    let b = builder.take().ok_or("configured after start")?;
                    builder = Some(b.option(&setting, &value).map_err(|e| e.to_string())?);
                }
            }
            "the agent sends a request to APM server" => {
                let a = builder.take().ok_or("started twice")?.build();
                a.start_transaction("t", "request").end();
                if !a.flush(Duration::from_secs(10)).await {
                    return Err(format!("not delivered: {:?}", a.health()));
                }
                agent = Some(a);
            }
            _ => {
                let request = receiver.requests().into_iter().next().ok_or("no request")?;
                if let Some(expected) =
                    step.quoted_after("the Authorization header of the request is ")
                {
                    let got = request.header("authorization");
                    if got != Some(expected) {
                        return Err(format!("Authorization {got:?}, expected {expected:?}"));
                    }
                } else if let Some(pattern) =
                    step.quoted_after("the User-Agent header of the request matches regex ")
                {
                    let got = request.header("user-agent").unwrap_or("");
                    let regex = regex_lite::Regex::new(pattern).map_err(|e| e.to_string())?;
                    if !regex.is_match(got) {
                        return Err(format!("User-Agent {got:?} does not match {pattern:?}"));
                    }
                } else {
                    panic!("{}: unexpected step {:?}", scenario.name, step.text);
                }
            }
        }
    }
    drop(agent);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_feature() {
    if let Some((passed, total)) = run_feature("api_key.feature").await {
        assert!(passed == total && total >= 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_agent_feature() {
    if let Some((passed, total)) = run_feature("user_agent.feature").await {
        assert!(passed == total && total >= 5);
    }
}
