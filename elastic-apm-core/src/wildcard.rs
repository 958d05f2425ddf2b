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
    /// The pattern split at `*`; a pattern without `*` has one part. Lowercase when
    /// matching ignores case, so that only the text's bytes need folding.
    parts: Box<[Box<[u8]>]>,
    case_sensitive: bool,
    /// The byte classes (see [`classes`]) every match must contain.
    required: u64,
}

impl WildcardMatcher {
    /// Compiles a pattern.
    pub fn new(pattern: &str) -> Self {
        let (case_sensitive, body) = match pattern.strip_prefix(CASE_SENSITIVE_PREFIX) {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        let parts: Box<[Box<[u8]>]> = body
            .split('*')
            .map(|part| {
                let mut part = part.as_bytes().to_vec();
                if !case_sensitive {
                    part.make_ascii_lowercase();
                }
                part.into_boxed_slice()
            })
            .collect();
        WildcardMatcher {
            pattern: pattern.into(),
            required: parts.iter().fold(0, |all, part| all | classes(part)),
            parts,
            case_sensitive,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        if self.case_sensitive {
            self.matches_with(text.as_bytes(), |a, b| a == b)
        } else {
            self.matches_with(text.as_bytes(), |a, b| a.to_ascii_lowercase() == b)
        }
    }

    /// `eq(text byte, pattern byte)`.
    #[inline]
    fn matches_with(&self, hay: &[u8], eq: impl Fn(u8, u8) -> bool + Copy) -> bool {
        let same = |text: &[u8], part: &[u8]| {
            text.len() == part.len() && text.iter().zip(part).all(|(&a, &b)| eq(a, b))
        };
        let (first, last) = match self.parts.as_ref() {
            [only] => return same(hay, only),
            [first, .., last] => (&first[..], &last[..]),
            [] => return hay.is_empty(),
        };
        if hay.len() < first.len() + last.len() || !same(&hay[..first.len()], first) {
            return false;
        }
        let end = hay.len() - last.len();
        if !same(&hay[end..], last) {
            return false;
        }
        let mut rest = &hay[first.len()..end];
        for part in &self.parts[1..self.parts.len() - 1] {
            let Some(&head) = part.first() else {
                continue;
            };
            let found = rest
                .windows(part.len())
                .position(|w| eq(w[0], head) && same(w, part));
            match found {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        true
    }
}

/// A screen that rejects most non-matching texts without comparing: one bit per
/// ASCII letter (either case) and digit, one for every other byte. A text can only
/// match a pattern if it has every class the pattern's literal parts have
/// (header names are checked against every `sanitize_field_names` pattern on each
/// request, and most of them share few letters with most patterns).
fn classes(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0, |all, &b| all | 1 << CLASS_BIT[usize::from(b)])
}

/// Each byte's bit in [`classes`], looked up: this runs over every header name.
static CLASS_BIT: [u8; 256] = {
    let mut bits = [63; 256];
    let mut b = 0;
    while b < 26 {
        bits[b'a' as usize + b] = b as u8;
        bits[b'A' as usize + b] = b as u8;
        b += 1;
    }
    let mut d = 0;
    while d < 10 {
        bits[b'0' as usize + d] = 26 + d as u8;
        d += 1;
    }
    bits
};

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
        if self.0.is_empty() {
            return false;
        }
        let present = classes(text.as_bytes());
        self.0
            .iter()
            .any(|m| m.required & !present == 0 && m.matches(text))
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
        assert!(WildcardMatcher::new("*AuTh*").matches("x-Authorization"));
        assert!(!WildcardMatcher::new("(?-i)*Auth*").matches("x-authorization"));
    }

    #[test]
    fn the_screen_never_rejects_a_match() {
        let patterns: WildcardMatchers = "*auth*, *key, pass*wd, (?-i)*Sess*, 2fa*, *-*, *"
            .parse()
            .unwrap();
        for text in [
            "Authorization",
            "x-api-KEY",
            "PASSWD",
            "pass_word_wd",
            "x-Session",
            "2FA-code",
            "a-b",
            "",
            "\u{e9}t\u{e9}",
        ] {
            let any = patterns.iter().any(|m| m.matches(text));
            assert_eq!(patterns.matches_any(text), any, "{text}");
        }
        assert!(
            !"*auth*, *key"
                .parse::<WildcardMatchers>()
                .unwrap()
                .matches_any("accept")
        );
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
