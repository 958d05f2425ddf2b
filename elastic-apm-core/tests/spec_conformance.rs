//! Elastic's cross-agent test cases (`json-specs/`), run against this crate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use elastic_apm_core::{TraceContext, TraceState, WildcardMatcher};
use serde_json::Value;

#[test]
fn w3c_distributed_tracing() {
    let Some(cases) = common::read_json("json-specs/w3c_distributed_tracing.json") else {
        return;
    };
    let cases = cases.as_array().expect("an array of cases");
    let (mut passed, mut failures) = (0, Vec::new());
    for (i, case) in cases.iter().enumerate() {
        let headers: Vec<(String, String)> = case["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .map(|h| {
                (
                    h[0].as_str().expect("name").to_owned(),
                    h[1].as_str().expect("value").to_owned(),
                )
            })
            .collect();
        let ctx =
            TraceContext::from_headers(headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())));
        let mut ok = ctx.is_some()
            == case["is_traceparent_valid"]
                .as_bool()
                .expect("is_traceparent_valid");
        if let Some(expected) = case.get("is_tracestate_valid").and_then(Value::as_bool) {
            let values = headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("tracestate"))
                .map(|(_, v)| v.as_bytes());
            let parsed = TraceState::parse_headers(values);
            ok &= parsed.is_ok() == expected;
            // A valid state survives into the context and is propagated unchanged in content.
            if let (Ok(state), Some(ctx)) = (&parsed, &ctx) {
                ok &= &ctx.tracestate == state;
            }
        }
        if ok {
            passed += 1;
        } else {
            failures.push(format!("case {i}: {case}"));
        }
    }
    println!(
        "w3c_distributed_tracing.json: {passed}/{} cases",
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
    assert!(passed > 50, "the file should hold the full W3C suite");
}

#[test]
fn wildcard_matcher() {
    let Some(groups) = common::read_json("json-specs/wildcard_matcher_tests.json") else {
        return;
    };
    let (mut total, mut failures) = (0, Vec::new());
    for (group, patterns) in groups.as_object().expect("object of groups") {
        for (pattern, cases) in patterns.as_object().expect("object of patterns") {
            let matcher = WildcardMatcher::new(pattern);
            for (text, expected) in cases.as_object().expect("object of cases") {
                total += 1;
                if matcher.matches(text) != expected.as_bool().expect("bool") {
                    failures.push(format!(
                        "{group}: {pattern:?} vs {text:?} should be {expected}"
                    ));
                }
            }
        }
    }
    println!(
        "wildcard_matcher_tests.json: {}/{total} cases",
        total - failures.len()
    );
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
    assert!(total > 50);
}
