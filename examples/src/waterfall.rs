//! A terminal waterfall of intake events: one tree per trace, transactions and spans
//! with their type and duration, errors where they happened.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

/// Renders events (`(kind, body)` as the intake receiver decoded them) as one indented
/// tree per trace, in time order.
pub fn render(events: &[(String, Value)]) -> String {
    let mut traces: BTreeMap<(u64, String), Vec<&(String, Value)>> = BTreeMap::new();
    let mut first_seen: BTreeMap<String, u64> = BTreeMap::new();
    for event in events {
        let Some(trace) = event.1["trace_id"].as_str() else {
            continue;
        };
        let at = event.1["timestamp"].as_u64().unwrap_or(0);
        let first = first_seen.entry(trace.to_owned()).or_insert(at);
        *first = (*first).min(at);
    }
    for event in events {
        let Some(trace) = event.1["trace_id"].as_str() else {
            continue;
        };
        traces
            .entry((first_seen[trace], trace.to_owned()))
            .or_default()
            .push(event);
    }
    let mut out = String::new();
    for ((_, trace), mut items) in traces {
        let _ = writeln!(out, "\ntrace {trace}");
        items.sort_by_key(|(_, body)| body["timestamp"].as_u64().unwrap_or(0));
        let ids: Vec<&str> = items.iter().filter_map(|(_, b)| b["id"].as_str()).collect();
        let is_root = |(kind, body): &(String, Value)| {
            kind == "transaction" && !body["parent_id"].as_str().is_some_and(|p| ids.contains(&p))
        };
        for root in items.iter().filter(|item| is_root(item)) {
            walk(&mut out, &items, root, 1);
        }
    }
    out
}

fn walk(out: &mut String, items: &[&(String, Value)], node: &(String, Value), depth: usize) {
    let _ = writeln!(out, "{}{}", "  ".repeat(depth), line(node));
    let Some(id) = node.1["id"].as_str() else {
        return;
    };
    for child in items
        .iter()
        .filter(|(_, b)| b["parent_id"].as_str() == Some(id))
    {
        walk(out, items, child, depth + 1);
    }
}

fn line((kind, body): &(String, Value)) -> String {
    let text = |key: &str| body[key].as_str().unwrap_or("");
    let duration = body["duration"].as_f64().unwrap_or(0.0);
    let failed = if body["outcome"] == "failure" {
        "  ✗ failure"
    } else {
        ""
    };
    match kind.as_str() {
        "transaction" => format!(
            "{:<28} {:<9} {:>8.2} ms  {}{}{}",
            text("name"),
            text("type"),
            duration,
            text("result"),
            failed,
            if body["sampled"] == false {
                " (unsampled)"
            } else {
                ""
            }
        ),
        "span" => {
            let kind = match body["subtype"].as_str() {
                Some(subtype) => format!("{}/{subtype}", text("type")),
                None => text("type").to_owned(),
            };
            format!(
                "{:<28} {:<9} {:>8.2} ms{}",
                text("name"),
                kind,
                duration,
                failed
            )
        }
        "error" => {
            let exception = &body["exception"];
            let mut causes = String::new();
            for cause in exception["cause"].as_array().into_iter().flatten() {
                let _ = write!(causes, " ← {}", cause["message"].as_str().unwrap_or("?"));
            }
            format!(
                "error {}: {}{causes}",
                exception["type"].as_str().unwrap_or("?"),
                exception["message"].as_str().unwrap_or("?")
            )
        }
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn trees_follow_parent_links() {
        let events = vec![
            (
                "transaction".to_owned(),
                json!({"id": "t1", "trace_id": "a", "name": "GET /", "type": "request", "duration": 2.0, "timestamp": 1, "result": "HTTP 2xx"}),
            ),
            (
                "span".to_owned(),
                json!({"id": "s1", "trace_id": "a", "parent_id": "t1", "name": "SELECT FROM t", "type": "db", "subtype": "sqlite", "duration": 1.0, "timestamp": 2}),
            ),
            (
                "error".to_owned(),
                json!({"id": "e1", "trace_id": "a", "parent_id": "s1", "timestamp": 3, "exception": {"type": "E", "message": "boom", "cause": [{"message": "deeper"}]}}),
            ),
        ];
        let text = render(&events);
        let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines[0], "trace a");
        assert!(lines[1].starts_with("  GET /"));
        assert!(lines[2].starts_with("    SELECT FROM t") && lines[2].contains("db/sqlite"));
        assert_eq!(lines[3], "      error E: boom ← deeper");
    }
}
