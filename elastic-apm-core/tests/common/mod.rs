//! Finds Elastic's agent spec (`../shared/apm-spec` beside the checkout, or
//! `$ELASTIC_APM_SPEC_DIR`) for the conformance tests. The files are read at run time
//! and never copied into the project.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

/// The spec directory, or `None` (after saying so loudly) when it is missing outside
/// CI. Under `CI=true` a missing spec fails the test.
pub fn spec_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ELASTIC_APM_SPEC_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/apm-spec"));
    if dir.join("json-specs").is_dir() {
        return Some(dir);
    }
    let msg = format!(
        "the Elastic APM spec was not found at {} (set ELASTIC_APM_SPEC_DIR); spec conformance NOT TESTED",
        dir.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// Reads a spec JSON file, allowing the `//` comment lines some of them carry.
pub fn read_json(relative: &str) -> Option<serde_json::Value> {
    let path = spec_dir()?.join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display())))
}

/// Reads a spec text file (a Gherkin `.feature`, say).
pub fn read_text(relative: &str) -> Option<String> {
    let path = spec_dir()?.join(relative);
    Some(
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display())),
    )
}
