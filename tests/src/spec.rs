//! Elastic's agent spec beside the checkout (`../shared/apm-spec`, or
//! `$ELASTIC_APM_SPEC_DIR`), read at run time, and the intake v2 JSON schemas in it.

use std::path::PathBuf;

use serde_json::Value;

/// The spec directory, or `None` (after saying so loudly) when it is missing outside
/// CI. Under `CI=true` a missing spec panics, so conformance never passes silently.
pub fn spec_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ELASTIC_APM_SPEC_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/apm-spec"));
    if dir.join("intake-v2/schemas").is_dir() {
        return Some(dir);
    }
    let msg = format!(
        "the Elastic APM spec was not found at {} (set ELASTIC_APM_SPEC_DIR); intake schema validation NOT DONE",
        dir.display()
    );
    assert!(std::env::var("CI").map_or(true, |v| v != "true"), "{msg}");
    eprintln!("SKIPPED: {msg}");
    None
}

/// Reads a spec JSON file (`json-specs/...`), allowing the `//` comment lines some carry.
/// `None` when the spec is missing (outside CI).
///
/// # Panics
/// When the file is unreadable or not JSON.
pub fn read_json(relative: &str) -> Option<Value> {
    let text = read_text(relative)?;
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {relative}: {e}")))
}

/// Reads a spec text file (a Gherkin `.feature`, say); `None` when the spec is missing
/// (outside CI).
///
/// # Panics
/// When the file is unreadable.
pub fn read_text(relative: &str) -> Option<String> {
    let path = spec_dir()?.join(relative);
    Some(
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display())),
    )
}

/// Prints `<file>: <passed>/<total> cases passed` (CI shows these lines), then fails
/// with every failing case, if any.
///
/// # Panics
/// When `failures` is not empty.
pub fn report(file: &str, total: usize, failures: &[String]) {
    println!(
        "{file}: {}/{total} cases passed",
        total.saturating_sub(failures.len())
    );
    assert!(
        failures.is_empty(),
        "{file}: failing cases:\n{}",
        failures.join("\n")
    );
}

/// Validators for the five intake event kinds.
pub struct Schemas {
    validators: Vec<(&'static str, jsonschema::Validator)>,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas").finish_non_exhaustive()
    }
}

impl Schemas {
    /// Loads and compiles the schemas; `None` when the spec is missing (outside CI).
    ///
    /// # Panics
    /// When a schema file is unreadable or does not compile.
    pub fn load() -> Option<Self> {
        let dir = spec_dir()?.join("intake-v2/schemas");
        let validators = ["metadata", "transaction", "span", "error", "metricset"]
            .into_iter()
            .map(|name| {
                let path = dir.join(format!("{name}.json"));
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let mut schema: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                // The `$id`s are relative paths of APM Server's repository, not URIs.
                if let Some(object) = schema.as_object_mut() {
                    object.remove("$id");
                }
                let validator = jsonschema::validator_for(&schema)
                    .unwrap_or_else(|e| panic!("{name} schema: {e}"));
                (name, validator)
            })
            .collect();
        Some(Schemas { validators })
    }

    /// Checks one intake line (`{"<kind>": {...}}`); returns every violation found.
    pub fn violations(&self, line: &Value) -> Vec<String> {
        let Some((kind, body)) = line
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.iter().next())
        else {
            return vec![format!("not a single-key event object: {line}")];
        };
        let Some((_, validator)) = self.validators.iter().find(|(n, _)| n == kind) else {
            return vec![format!("unknown event kind {kind:?}")];
        };
        validator
            .iter_errors(body)
            .map(|e| format!("{kind}: {e} at {}", e.instance_path()))
            .collect()
    }

    /// Panics with every violation of one line, showing the event.
    ///
    /// # Panics
    /// When the line does not validate.
    pub fn assert_valid(&self, line: &Value) {
        let errors = self.violations(line);
        assert!(
            errors.is_empty(),
            "event fails the intake schema:\n{}\n{line:#}",
            errors.join("\n")
        );
    }
}
