//! A reader for the small Gherkin subset of the spec's `.feature` files: scenarios,
//! outlines with `Examples`, a `Background`, steps with data tables. Interpreting the
//! steps is each test's job; a step it does not know should fail it, so the spec cannot
//! drift past the tests.

/// One step, its keyword (`Given`, `When`, `Then`, `And`, `But`) removed and outline
/// placeholders filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The step's text, e.g. `an agent configured with`.
    pub text: String,
    /// Its data table, header row included; empty when it has none.
    pub table: Vec<Vec<String>>,
}

impl Step {
    /// The table's rows after the header, as `(first cell, second cell)` pairs.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.table
            .iter()
            .skip(1)
            .map(|row| {
                (
                    row.first().cloned().unwrap_or_default(),
                    row.get(1).cloned().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// The text between the first pair of single quotes after `prefix`, if the step
    /// starts with it: `quoted("the Authorization header of the request is ")`.
    pub fn quoted_after(&self, prefix: &str) -> Option<&str> {
        let rest = self.text.strip_prefix(prefix)?;
        rest.strip_prefix('\'')?.strip_suffix('\'')
    }
}

/// One scenario, or one row of an outline's examples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// The scenario's name; `#n` is appended for outline rows.
    pub name: String,
    /// Background steps, then its own.
    pub steps: Vec<Step>,
}

/// Parses a feature file into its scenarios, outlines expanded.
///
/// # Panics
/// On a table with no step before it.
pub fn parse(feature: &str) -> Vec<Scenario> {
    struct Raw {
        name: String,
        steps: Vec<Step>,
        examples: Vec<Vec<String>>,
        outline: bool,
    }
    let cells = |row: &str| -> Vec<String> {
        row.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let mut background: Vec<Step> = Vec::new();
    let mut raws: Vec<Raw> = Vec::new();
    let mut in_background = false;
    let mut in_examples = false;
    for line in feature.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
            continue;
        }
        if line.starts_with('|') {
            let row = cells(line);
            if in_examples {
                if let Some(raw) = raws.last_mut() {
                    raw.examples.push(row);
                }
                continue;
            }
            let steps = match raws.last_mut() {
                Some(raw) if !in_background => &mut raw.steps,
                _ => &mut background,
            };
            let step = steps
                .last_mut()
                .unwrap_or_else(|| panic!("a table outside a step: {line}"));
            step.table.push(row);
            continue;
        }
        in_examples = false;
        if line.starts_with("Feature:") {
            continue;
        }
        if line.starts_with("Background:") {
            in_background = true;
            continue;
        }
        if let Some(name) = line.strip_prefix("Scenario Outline:") {
            in_background = false;
            raws.push(Raw {
                name: name.trim().to_owned(),
                steps: Vec::new(),
                examples: Vec::new(),
                outline: true,
            });
            continue;
        }
        if let Some(name) = line.strip_prefix("Scenario:") {
            in_background = false;
            raws.push(Raw {
                name: name.trim().to_owned(),
                steps: Vec::new(),
                examples: Vec::new(),
                outline: false,
            });
            continue;
        }
        if line.starts_with("Examples:") {
            in_examples = true;
            continue;
        }
        let text = ["Given ", "When ", "Then ", "And ", "But "]
            .iter()
            .find_map(|k| line.strip_prefix(k))
            .unwrap_or(line);
        let step = Step {
            text: text.to_owned(),
            table: Vec::new(),
        };
        match raws.last_mut() {
            Some(raw) if !in_background => raw.steps.push(step),
            _ => background.push(step),
        }
    }
    raws.into_iter()
        .flat_map(|raw| {
            let steps: Vec<Step> = background.iter().cloned().chain(raw.steps).collect();
            // Some outlines in the spec have no examples: they are plain scenarios.
            let Some((header, rows)) = raw.examples.split_first().filter(|_| raw.outline) else {
                return vec![Scenario {
                    name: raw.name,
                    steps,
                }];
            };
            rows.iter()
                .enumerate()
                .map(|(i, row)| {
                    let fill = |text: &str| {
                        header
                            .iter()
                            .zip(row)
                            .fold(text.to_owned(), |t, (h, v)| t.replace(&format!("<{h}>"), v))
                    };
                    Scenario {
                        name: format!("{} #{}", raw.name, i + 1),
                        steps: steps
                            .iter()
                            .map(|s| Step {
                                text: fill(&s.text),
                                table: s
                                    .table
                                    .iter()
                                    .map(|r| r.iter().map(|c| fill(c)).collect())
                                    .collect(),
                            })
                            .collect(),
                    }
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outlines_expand_with_background() {
        let feature = "Feature: f\n  Background:\n    Given an agent\n  Scenario Outline: o\n    When x is <X>\n      | k | v |\n      | a | <X> |\n    Examples:\n      | X |\n      | 1 |\n      | 2 |\n  Scenario: plain\n    Then done\n";
        let scenarios = parse(feature);
        assert_eq!(scenarios.len(), 3);
        assert_eq!(scenarios[0].name, "o #1");
        assert_eq!(scenarios[1].steps[1].text, "x is 2");
        assert_eq!(
            scenarios[1].steps[1].pairs(),
            [("a".to_owned(), "2".to_owned())]
        );
        assert_eq!(scenarios[2].steps.len(), 2);
        assert_eq!(scenarios[2].steps[0].text, "an agent");
    }
}
