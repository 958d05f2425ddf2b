//! Every event the model can produce validates against APM Server's intake v2 JSON
//! schemas (`intake-v2/schemas/`), in a representative form (made by the tracer) and a
//! maximal one (every field set).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use elastic_apm_core::model::{Event, MetadataEvent, limits::KEYWORD_MAX_CHARS};
use elastic_apm_core::testing::{recording_agent, samples};
use intake_receiver::spec::Schemas;
use serde_json::Value;

trait CheckExt {
    fn check_line(&self, line: &str);
    fn check_event(&self, event: &Event);
}

impl CheckExt for Schemas {
    fn check_line(&self, line: &str) {
        self.assert_valid(&serde_json::from_str::<Value>(line).expect("valid JSON"));
    }

    fn check_event(&self, event: &Event) {
        self.check_line(&serde_json::to_string(event).expect("serialises"));
    }
}

#[test]
fn maximal_events_validate() {
    let Some(schemas) = Schemas::load() else {
        return;
    };
    let metadata = samples::maximal_metadata();
    schemas.check_line(
        &serde_json::to_string(&MetadataEvent {
            metadata: &metadata,
        })
        .unwrap(),
    );
    schemas.check_event(&Event::Transaction(
        Box::new(samples::maximal_transaction()),
    ));
    schemas.check_event(&Event::Span(Box::new(samples::maximal_span())));
    schemas.check_event(&Event::Error(Box::new(samples::maximal_error())));
    schemas.check_event(&Event::Metricset(Box::new(samples::maximal_metricset())));
}

#[derive(Debug)]
struct OrderError(std::io::Error);

impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("could not place order")
    }
}

impl std::error::Error for OrderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn tracer_events_validate() {
    let Some(schemas) = Schemas::load() else {
        return;
    };
    let (agent, recorder) = recording_agent(|b| b.service_name("shop"));
    // Sampled, continuing a trace, with spans and an error.
    let tx = agent
        .transaction("GET /products/{id}", "request")
        .parent_from_headers([
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("tracestate", "es=s:0.5"),
        ])
        .start();
    tx.set_label("tenant", "acme");
    tx.set_custom("cart", serde_json::json!({"items": 2}));
    let span = tx
        .segment()
        .unwrap()
        .span("SELECT FROM products", "db")
        .subtype("postgresql")
        .action("query")
        .exit()
        .start();
    span.with_context(|c| {
        let mut db = elastic_apm_core::model::Db::default();
        db.statement = Some("SELECT * FROM products WHERE id = $1".into());
        db.kind = Some("sql".into());
        c.db = Some(db);
    });
    let child = span.start_span("nested http", "external");
    assert!(
        !child.is_recording(),
        "a child of an exit span with another type is not recorded"
    );
    drop(child);
    span.capture_error(&OrderError(std::io::Error::other("connection refused")));
    span.end();
    tx.set_result("HTTP 2xx");
    tx.end();
    // Root, unsampled.
    let (agent0, recorder0) =
        recording_agent(|b| b.transaction_sample_rate(elastic_apm_core::SampleRate::NEVER));
    agent0.start_transaction("GET /", "request").end();
    // An error outside any transaction.
    agent.capture_error(&std::io::Error::other("outside"));

    let mut lines = 0;
    for recorder in [&recorder, &recorder0] {
        for line in recorder.to_ndjson(&agent.metadata()).lines() {
            schemas.check_line(line);
            lines += 1;
        }
    }
    assert_eq!(
        lines,
        2 + 3 + 1 + 1,
        "metadata twice, tx, span, error, unsampled tx, outside error"
    );
    let unsampled = &recorder0.transactions()[0];
    assert!(!unsampled.sampled);
    assert_eq!(unsampled.sample_rate, Some(0.0));
    let error = &recorder.errors()[0];
    assert_eq!(error.exception.as_ref().unwrap().cause.len(), 1);
    assert_eq!(error.transaction_id, recorder.transactions()[0].id.into());
}

#[test]
fn over_long_keywords_are_truncated_not_rejected() {
    let Some(schemas) = Schemas::load() else {
        return;
    };
    let (agent, recorder) = recording_agent(|b| b);
    let long = "é".repeat(5000);
    let tx = agent.start_transaction(long.clone(), "request");
    tx.set_result(long.clone());
    tx.set_label("big", long.clone());
    tx.end();
    let line = recorder
        .to_ndjson(&agent.metadata())
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    schemas.check_line(&line);
    let value: Value = serde_json::from_str(&line).unwrap();
    let name = value["transaction"]["name"].as_str().unwrap();
    assert_eq!(name.chars().count(), KEYWORD_MAX_CHARS);
    assert!(name.ends_with('…'));
    assert_eq!(
        value["transaction"]["result"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        KEYWORD_MAX_CHARS
    );
    assert_eq!(
        value["transaction"]["context"]["tags"]["big"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        KEYWORD_MAX_CHARS
    );
}

#[test]
fn long_fields_are_truncated_at_the_configured_length() {
    let (agent, recorder) = recording_agent(|b| b.long_field_max_length(100));
    let tx = agent.start_transaction("t", "request");
    let span = tx.start_span("q", "db");
    span.with_context(|c| {
        let mut db = elastic_apm_core::model::Db::default();
        db.statement = Some("x".repeat(20_000));
        c.db = Some(db);
    });
    span.end();
    tx.end();
    let statement = recorder.spans()[0]
        .context
        .as_ref()
        .unwrap()
        .db
        .as_ref()
        .unwrap()
        .statement
        .clone()
        .unwrap();
    assert_eq!(statement.chars().count(), 100);
    assert!(statement.ends_with('…'));
}

#[test]
fn the_validator_rejects_what_apm_server_rejects() {
    let Some(schemas) = Schemas::load() else {
        return;
    };
    let bad = [
        r#"{"transaction":{"id":"a","trace_id":"b","type":"request","duration":1}}"#,
        r#"{"span":{"id":"a","trace_id":"b","parent_id":"c","name":"n","type":"db","duration":1}}"#,
        r#"{"metadata":{"service":{"name":"bad/name","agent":{"name":"rust","version":"1"}}}}"#,
    ];
    for line in bad {
        let caught =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| schemas.check_line(line)));
        assert!(caught.is_err(), "should be rejected: {line}");
    }
}
