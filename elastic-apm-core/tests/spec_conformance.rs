//! Elastic's cross-agent test cases (`json-specs/`), run against this crate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use elastic_apm_core::__private::{azure_from_env, parse_container};
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

#[test]
fn container_metadata_discovery() {
    let Some(cases) = common::read_json("json-specs/container_metadata_discovery.json") else {
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
    println!(
        "container_metadata_discovery: {passed}/{} cases passed",
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
    assert_eq!(passed, cases.len());
    assert!(passed >= 6, "the file should hold the spec's cases");
}

/// One expanded Gherkin scenario: environment variables and the expected
/// `cloud metadata` (`None`: expected to be null).
struct AzureScenario {
    name: String,
    env: Vec<(String, String)>,
    expected: Option<Vec<(String, String)>>,
}

/// Parses the small Gherkin subset the Azure cloud metadata features use: a table of
/// environment variables, null/not-null and `'field' is 'value'` steps, and `Examples`
/// tables for outlines. Any other step fails the test, so the spec cannot drift past it.
fn azure_scenarios(feature: &str) -> Vec<AzureScenario> {
    #[derive(PartialEq)]
    enum Table {
        None,
        Config,
        Env,
        Examples,
    }
    struct Raw {
        name: String,
        env: Vec<(String, String)>,
        not_null: Option<bool>,
        fields: Vec<(String, String)>,
        examples: Vec<Vec<String>>,
    }
    let cells = |row: &str| -> Vec<String> {
        row.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let mut raws: Vec<Raw> = Vec::new();
    let mut table = Table::None;
    let mut header_seen = false;
    for line in feature.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('|') {
            let row = cells(line);
            let first_row = !std::mem::replace(&mut header_seen, true);
            match table {
                Table::Config => {
                    if !first_row {
                        assert_eq!(row, ["cloud_provider", "azure"], "unexpected setting");
                    }
                }
                Table::Env if !first_row => {
                    let raw = raws.last_mut().expect("a scenario");
                    raw.env.push((row[0].clone(), row[1].clone()));
                }
                // The header names the placeholders; it is kept as the first row.
                Table::Examples => raws.last_mut().expect("a scenario").examples.push(row),
                Table::Env => assert_eq!(row, ["name", "value"]),
                Table::None => panic!("a table outside a step: {line}"),
            }
            continue;
        }
        header_seen = false;
        table = Table::None;
        if let Some(name) = line
            .strip_prefix("Scenario Outline:")
            .or_else(|| line.strip_prefix("Scenario:"))
        {
            raws.push(Raw {
                name: name.trim().to_owned(),
                env: Vec::new(),
                not_null: None,
                fields: Vec::new(),
                examples: Vec::new(),
            });
        } else if line.starts_with("Feature:")
            || line == "Background:"
            || line == "When cloud metadata is collected"
        {
        } else if line == "Given an agent configured with" {
            table = Table::Config;
        } else if line == "Given the following environment variables are present" {
            table = Table::Env;
        } else if line == "Examples:" {
            table = Table::Examples;
        } else if line == "Then cloud metadata is null" {
            raws.last_mut().expect("a scenario").not_null = Some(false);
        } else if line == "Then cloud metadata is not null" {
            raws.last_mut().expect("a scenario").not_null = Some(true);
        } else if let Some(rest) = line.strip_prefix("And cloud metadata '") {
            let (field, value) = rest
                .strip_suffix('\'')
                .and_then(|r| r.split_once("' is '"))
                .unwrap_or_else(|| panic!("unexpected step: {line}"));
            let raw = raws.last_mut().expect("a scenario");
            raw.fields.push((field.to_owned(), value.to_owned()));
        } else {
            panic!("unexpected step: {line}");
        }
    }
    raws.into_iter()
        .flat_map(|raw| {
            let not_null = raw.not_null.expect("a null or not-null step");
            let (header, rows) = match raw.examples.split_first() {
                Some((header, rows)) => (header.clone(), rows.to_vec()),
                None => (Vec::new(), vec![Vec::new()]),
            };
            rows.into_iter().enumerate().map(move |(i, row)| {
                let fill = |text: &str| {
                    header
                        .iter()
                        .zip(&row)
                        .fold(text.to_owned(), |t, (h, v)| t.replace(&format!("<{h}>"), v))
                };
                let fill_pairs = |pairs: &[(String, String)]| -> Vec<(String, String)> {
                    pairs.iter().map(|(k, v)| (k.clone(), fill(v))).collect()
                };
                AzureScenario {
                    name: format!("{} #{}", raw.name, i + 1),
                    env: fill_pairs(&raw.env),
                    expected: not_null.then(|| fill_pairs(&raw.fields)),
                }
            })
        })
        .collect()
}

fn azure_feature(file: &str) {
    let Some(feature) = common::read_text(&format!("gherkin-specs/{file}")) else {
        return;
    };
    let scenarios = azure_scenarios(&feature);
    let mut failures = Vec::new();
    for scenario in &scenarios {
        let cloud = azure_from_env(|name| {
            scenario
                .env
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        });
        let cloud = cloud.map(|c| serde_json::to_value(c).expect("serialises"));
        let ok = match (&cloud, &scenario.expected) {
            (None, None) => true,
            (Some(cloud), Some(fields)) => fields.iter().all(|(path, value)| {
                path.split('.').fold(cloud, |v, key| &v[key]).as_str() == Some(value.as_str())
            }),
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{}: expected {:?}, got {cloud:?}",
                scenario.name, scenario.expected
            ));
        }
    }
    println!(
        "{file}: {}/{} cases passed",
        scenarios.len() - failures.len(),
        scenarios.len()
    );
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
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
