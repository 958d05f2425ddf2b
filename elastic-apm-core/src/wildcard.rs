//! Wildcard matching as every Elastic agent does it (`wildcard_matcher_tests.json`).
//!
//! `*` matches any run of characters, including none; there is no other special
//! character. Matching ignores ASCII case unless the pattern starts with `(?-i)`.

use std::fmt;
use std::str::FromStr;

const CASE_SENSITIVE_PREFIX: &str = "(?-i)";

/// One wildcard pattern.
#[derive(Clone, PartialEq, Eq)]
pub struct WildcardMatcher {
    pattern: Box<str>,
    /// The pattern split at `*`; a pattern without `*` has one part.
    parts: Box<[Box<str>]>,
    case_sensitive: bool,
}

impl WildcardMatcher {
    /// Compiles a pattern.
    pub fn new(pattern: &str) -> Self {
        let (case_sensitive, body) = match pattern.strip_prefix(CASE_SENSITIVE_PREFIX) {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        WildcardMatcher {
            pattern: pattern.into(),
            parts: body.split('*').map(Box::from).collect(),
            case_sensitive,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        let eq = |a: &[u8], b: &[u8]| {
            if self.case_sensitive {
                a == b
            } else {
                a.eq_ignore_ascii_case(b)
            }
        };
        let hay = text.as_bytes();
        let parts = &self.parts;
        let (first, last) = match parts.as_ref() {
            [only] => return eq(only.as_bytes(), hay),
            [first, .., last] => (first.as_bytes(), last.as_bytes()),
            [] => return hay.is_empty(),
        };
        if hay.len() < first.len() + last.len() || !eq(&hay[..first.len()], first) {
            return false;
        }
        let end = hay.len() - last.len();
        if !eq(&hay[end..], last) {
            return false;
        }
        let mut rest = &hay[first.len()..end];
        for part in &parts[1..parts.len() - 1] {
            let part = part.as_bytes();
            match find(rest, part, &eq) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        true
    }
}

fn find(hay: &[u8], needle: &[u8], eq: &impl Fn(&[u8], &[u8]) -> bool) -> Option<usize> {
    let Some(&head) = needle.first() else {
        return Some(0);
    };
    // The first byte screens out most windows before the full comparison (header names
    // are checked against every `sanitize_field_names` pattern on each request).
    hay.windows(needle.len())
        .position(|w| w[0].eq_ignore_ascii_case(&head) && eq(w, needle))
}

impl fmt::Debug for WildcardMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WildcardMatcher")
            .field(&self.pattern)
            .finish()
    }
}

impl fmt::Display for WildcardMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

/// A list of wildcard patterns, as in `sanitize_field_names` or `transaction_ignore_urls`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct WildcardMatchers(Vec<WildcardMatcher>);

impl WildcardMatchers {
    /// Compiles each pattern.
    pub fn new<I, S>(patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        WildcardMatchers(
            patterns
                .into_iter()
                .map(|p| WildcardMatcher::new(p.as_ref()))
                .collect(),
        )
    }

    /// Whether any pattern matches `text`.
    pub fn matches_any(&self, text: &str) -> bool {
        self.0.iter().any(|m| m.matches(text))
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The patterns.
    pub fn iter(&self) -> impl Iterator<Item = &WildcardMatcher> {
        self.0.iter()
    }
}

impl FromStr for WildcardMatchers {
    type Err = std::convert::Infallible;

    /// Parses a comma-separated list; whitespace around items is stripped, empty items skipped.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(WildcardMatchers::new(
            s.split(',').map(str::trim).filter(|p| !p.is_empty()),
        ))
    }
}

impl fmt::Display for WildcardMatchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(m.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        assert!(WildcardMatcher::new("foo*").matches("FOOBAR"));
        assert!(!WildcardMatcher::new("(?-i)foo*").matches("FOOBAR"));
        assert!(WildcardMatcher::new("*").matches(""));
        assert!(!WildcardMatcher::new("*foo*oo*").matches("fooo"));
        assert!(WildcardMatcher::new("*foo*oo*").matches("foooo"));
        assert!(!WildcardMatcher::new("fo?").matches("foo"));
    }

    #[test]
    fn list_parsing() {
        let list: WildcardMatchers = " /health , *.css,,".parse().unwrap();
        assert_eq!(list.iter().count(), 2);
        assert!(list.matches_any("/static/app.CSS"));
        assert!(!list.matches_any("/api"));
        assert_eq!(list.to_string(), "/health, *.css");
    }
}
