//! Redaction of secrets by field name (`sanitization.md`).

use crate::wildcard::WildcardMatchers;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// The spec's default `sanitize_field_names`, plus the extra names it allows.
pub const DEFAULT_SANITIZE_FIELD_NAMES: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "*key",
    "*token*",
    "*session*",
    "*credit*",
    "*card*",
    "*auth*",
    "set-cookie",
    "*principal*",
    "pw",
    "pass",
    "connect.sid",
];

/// Decides which header, cookie and form-field values are secrets.
#[derive(Debug, Clone)]
pub struct Sanitizer {
    names: WildcardMatchers,
}

impl Default for Sanitizer {
    fn default() -> Self {
        Sanitizer {
            names: WildcardMatchers::new(DEFAULT_SANITIZE_FIELD_NAMES),
        }
    }
}

impl Sanitizer {
    /// A sanitizer for these patterns.
    pub fn new(names: WildcardMatchers) -> Self {
        Sanitizer { names }
    }

    /// Whether the value of a field with this name must be redacted.
    pub fn is_sensitive(&self, field_name: &str) -> bool {
        self.names.matches_any(field_name)
    }

    /// The value to report for a field: `value` itself, or [`REDACTED`].
    pub fn sanitize<'a>(&self, field_name: &str, value: &'a str) -> &'a str {
        if self.is_sensitive(field_name) {
            REDACTED
        } else {
            value
        }
    }

    /// Redacts the sensitive fields of an `application/x-www-form-urlencoded` body or a
    /// query string, keeping the keys. Returns the input unchanged when nothing matches.
    pub fn sanitize_form(&self, form: &str) -> String {
        let mut out = String::with_capacity(form.len());
        for (i, pair) in form.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((key, _)) if self.is_sensitive(&percent_decode_lossy(key)) => {
                    out.push_str(key);
                    out.push('=');
                    out.push_str(REDACTED);
                }
                _ => out.push_str(pair),
            }
        }
        out
    }
}

/// Decodes `%XX` and `+` in a form key, so `pass%77ord` is still recognised.
fn percent_decode_lossy(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match crate::ids::decode_hex::<1>(&[
                    bytes[i + 1].to_ascii_lowercase(),
                    bytes[i + 2].to_ascii_lowercase(),
                ]) {
                    Some([b]) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names() {
        let s = Sanitizer::default();
        for name in [
            "Authorization",
            "password",
            "X-Api-Key",
            "Set-Cookie",
            "sessionid",
            "access_token",
        ] {
            assert!(s.is_sensitive(name), "{name}");
        }
        for name in ["Content-Type", "user", "accept"] {
            assert!(!s.is_sensitive(name), "{name}");
        }
        assert_eq!(s.sanitize("Authorization", "Bearer abc"), REDACTED);
    }

    #[test]
    fn form_bodies_keep_keys() {
        let s = Sanitizer::default();
        assert_eq!(
            s.sanitize_form("user=bob&password=hunter2&pass%77ord=x"),
            "user=bob&password=[REDACTED]&pass%77ord=[REDACTED]"
        );
        assert_eq!(s.sanitize_form("a=1&b"), "a=1&b");
        assert_eq!(s.sanitize_form("%"), "%");
        assert_eq!(s.sanitize_form("%4"), "%4");
    }
}
