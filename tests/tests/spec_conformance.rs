//! Elastic's cross-agent test cases (`json-specs/`, `gherkin-specs/`) that need no
//! network, run against `elastic-apm-core`. The transport's features are in
//! `transport_features.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use elastic_apm_core::__private::{azure_from_env, parse_container};
use elastic_apm_core::sql::{Scanner, signature};
use elastic_apm_core::{TraceContext, TraceState, WildcardMatcher};
use intake_receiver::{gherkin, spec};
use serde_json::Value;

#[test]
fn w3c_distributed_tracing() {
    let Some(cases) = spec::read_json("json-specs/w3c_distributed_tracing.json") else {
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
    spec::report("w3c_distributed_tracing.json", cases.len(), &failures);
    assert!(passed > 50, "the file should hold the full W3C suite");
}

#[test]
fn wildcard_matcher() {
    let Some(groups) = spec::read_json("json-specs/wildcard_matcher_tests.json") else {
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
    spec::report("wildcard_matcher_tests.json", total, &failures);
    assert!(total > 50);
}

#[test]
fn sql_signature_examples() {
    let Some(cases) = spec::read_json("json-specs/sql_signature_examples.json") else {
        return;
    };
    let cases = cases.as_array().expect("an array of cases");
    let (mut passed, mut failures) = (0, Vec::new());
    for case in cases {
        let input = case["input"].as_str().expect("input");
        let expected = case["output"].as_str().expect("output");
        let actual = signature(input);
        if actual == expected {
            passed += 1;
        } else {
            failures.push(format!("{input:?}: expected {expected:?}, got {actual:?}"));
        }
    }
    spec::report("sql_signature_examples.json", cases.len(), &failures);
    assert_eq!(passed, cases.len());
}

#[test]
fn sql_token_examples() {
    let Some(cases) = spec::read_json("json-specs/sql_token_examples.json") else {
        return;
    };
    let cases = cases.as_array().expect("an array of cases");
    let (mut passed, mut failures) = (0, Vec::new());
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let input = case["input"].as_str().expect("input");
        // A case without `tokens` expects none.
        let expected: Vec<(&str, &str)> = case
            .get("tokens")
            .map(|tokens| {
                tokens
                    .as_array()
                    .expect("an array of tokens")
                    .iter()
                    .map(|t| {
                        (
                            t["kind"].as_str().expect("kind"),
                            t["text"].as_str().expect("text"),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let actual: Vec<(&str, &str)> = Scanner::new(input)
            .map(|t| (t.kind.as_str(), t.text))
            .collect();
        if actual == expected {
            passed += 1;
        } else {
            failures.push(format!(
                "{name} {input:?}: expected {expected:?}, got {actual:?}"
            ));
        }
    }
    spec::report("sql_token_examples.json", cases.len(), &failures);
    assert_eq!(passed, cases.len());
}

#[test]
fn container_metadata_discovery() {
    let Some(cases) = spec::read_json("json-specs/container_metadata_discovery.json") else {
        return;
    };
    let cases = cases.as_object().expect("an object of cases");
    let file = |case: &Value, name: &str| {
        case["files"].get(name).map(|lines| {
            let lines: Vec<&str> = lines
                .as_array()
                .expect("an array of lines")
                .iter()
                .map(|l| l.as_str().expect("a line"))
                .collect();
            lines.join("\n")
        })
    };
    let (mut passed, mut failures) = (0, Vec::new());
    for (name, case) in cases {
        let cgroup = file(case, "/proc/self/cgroup").unwrap_or_default();
        let mountinfo = file(case, "/proc/self/mountinfo");
        let info = parse_container(&cgroup, mountinfo.as_deref());
        let expected = (case["containerId"].as_str(), case["podId"].as_str());
        if (info.container_id.as_deref(), info.pod_uid.as_deref()) == expected {
            passed += 1;
        } else {
            failures.push(format!("{name}: expected {expected:?}, got {info:?}"));
        }
    }
    spec::report("container_metadata_discovery", cases.len(), &failures);
    assert_eq!(passed, cases.len());
    assert!(passed >= 6, "the file should hold the spec's cases");
}

type Pairs = Vec<(String, String)>;

/// An Azure scenario: its environment and the expected cloud metadata fields (`None`:
/// no cloud metadata). Unknown steps fail the test.
fn azure_scenario(scenario: &gherkin::Scenario) -> (Pairs, Option<Pairs>) {
    let (mut env, mut not_null, mut fields) = (Vec::new(), None, Vec::new());
    for step in &scenario.steps {
        match step.text.as_str() {
            "an agent configured with" => {
                assert_eq!(
                    step.pairs(),
                    [("cloud_provider".to_owned(), "azure".to_owned())]
                );
            }
            "the following environment variables are present" => env = step.pairs(),
            "cloud metadata is collected" => {}
            "cloud metadata is null" => not_null = Some(false),
            "cloud metadata is not null" => not_null = Some(true),
            text => {
                let (field, value) = text
                    .strip_prefix("cloud metadata '")
                    .and_then(|r| r.strip_suffix('\''))
                    .and_then(|r| r.split_once("' is '"))
                    .unwrap_or_else(|| panic!("{}: unexpected step {text:?}", scenario.name));
                fields.push((field.to_owned(), value.to_owned()));
            }
        }
    }
    let not_null = not_null.unwrap_or_else(|| panic!("{}: no null/not-null step", scenario.name));
    (env, not_null.then_some(fields))
}

fn azure_feature(file: &str) {
    let Some(feature) = spec::read_text(&format!("gherkin-specs/{file}")) else {
        return;
    };
    let scenarios = gherkin::parse(&feature);
    let mut failures = Vec::new();
    for scenario in &scenarios {
        let (env, expected) = azure_scenario(scenario);
        let cloud =
            azure_from_env(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()));
        let cloud = cloud.map(|c| serde_json::to_value(c).expect("serialises"));
        let ok = match (&cloud, &expected) {
            (None, None) => true,
            (Some(cloud), Some(fields)) => fields.iter().all(|(path, value)| {
                path.split('.').fold(cloud, |v, key| &v[key]).as_str() == Some(value.as_str())
            }),
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{}: expected {expected:?}, got {cloud:?}",
                scenario.name
            ));
        }
    }
    spec::report(file, scenarios.len(), &failures);
    let declared = feature.matches("Scenario").count();
    assert!(scenarios.len() >= declared && declared > 0);
}

#[test]
fn azure_app_service_metadata() {
    azure_feature("azure_app_service_metadata.feature");
}

#[test]
fn azure_functions_metadata() {
    azure_feature("azure_functions_metadata.feature");
}

#[test]
fn service_resource_inference() {
    use elastic_apm_core::model::{Db, Message, Queue, ServiceContext, ServiceTarget, SpanHttp};
    let Some(cases) = spec::read_json("json-specs/service_resource_inference.json") else {
        return;
    };
    let cases = cases.as_array().expect("an array of cases");
    let (agent, recorder) = elastic_apm_core::testing::recording_agent(|b| b);
    let mut failures = Vec::new();
    for case in cases {
        let span_spec = &case["span"];
        let str_of = |v: &Value| v.as_str().map(str::to_owned);
        let tx = agent.start_transaction("t", "request");
        let mut builder = tx
            .segment()
            .unwrap()
            .span("s", span_spec["type"].as_str().unwrap().to_owned());
        if let Some(subtype) = str_of(&span_spec["subtype"]) {
            builder = builder.subtype(subtype);
        }
        if span_spec["exit"] == "true" {
            builder = builder.exit();
        }
        let span = builder.start();
        let context = &span_spec["context"];
        span.with_context(|c| {
            if let Some(db) = context.get("db") {
                let mut d = Db::default();
                d.instance = str_of(&db["instance"]);
                d.kind = str_of(&db["type"]);
                c.db = Some(d);
            }
            if let Some(http) = context.get("http") {
                let mut h = SpanHttp::default();
                h.url = str_of(&http["url"]);
                c.http = Some(h);
            }
            if let Some(message) = context.get("message") {
                let mut m = Message::default();
                m.body = str_of(&message["body"]);
                m.queue = str_of(&message["queue"]["name"]).map(|name| {
                    let mut q = Queue::default();
                    q.name = name;
                    q
                });
                c.message = Some(m);
            }
            if let Some(target) = context.get("service").and_then(|s| s.get("target")) {
                let mut t = ServiceTarget::default();
                t.kind = str_of(&target["type"]);
                t.name = str_of(&target["name"]);
                let mut service = ServiceContext::default();
                service.target = Some(t);
                c.service = Some(service);
            }
        });
        span.end();
        tx.end();
        let recorded = recorder.spans().pop().expect("the span");
        recorder.clear();
        let json = serde_json::to_value(&recorded.context).unwrap();
        let resource = &json["destination"]["service"]["resource"];
        let target = &json["service"]["target"];
        let expected_resource = &case["expected_resource"];
        let expected_target = &case["expected_service_target"];
        if resource != expected_resource || target != expected_target {
            failures.push(format!(
                "{}: resource {resource}, target {target}; expected {expected_resource}, {expected_target}",
                case["failure_message"]
            ));
        }
    }
    spec::report("service_resource_inference.json", cases.len(), &failures);
    assert!(cases.len() >= 10);
}

#[test]
fn span_types_include_external_http() {
    let Some(types) = spec::read_json("json-specs/span_types.json") else {
        return;
    };
    // The types and subtypes the integrations of this workspace emit.
    for (kind, subtype) in [
        ("external", "http"),
        ("db", "postgresql"),
        ("db", "mysql"),
        ("db", "sqlite"),
    ] {
        assert!(
            types[kind]["subtypes"].get(subtype).is_some(),
            "span_types.json has no {kind}/{subtype}"
        );
    }
    println!("span_types.json: 4/4 cases passed");
}
