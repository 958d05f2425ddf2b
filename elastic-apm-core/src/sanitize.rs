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
    /// Bit `i`: whether `COMMON_NAMES[i]` is sensitive. Worked out once here, so the
    /// headers nearly every request carries are not matched against every pattern on
    /// every request.
    common: u64,
}

impl Default for Sanitizer {
    fn default() -> Self {
        Sanitizer::new(WildcardMatchers::new(DEFAULT_SANITIZE_FIELD_NAMES))
    }
}

impl Sanitizer {
    /// A sanitizer for these patterns.
    pub fn new(names: WildcardMatchers) -> Self {
        let common = COMMON_NAMES
            .iter()
            .enumerate()
            .filter(|(_, name)| names.matches_any(name))
            .fold(0, |bits, (i, _)| bits | 1 << i);
        Sanitizer { names, common }
    }

    /// Whether the value of a field with this name must be redacted.
    pub fn is_sensitive(&self, field_name: &str) -> bool {
        match common_index(field_name) {
            Some(i) => self.common >> i & 1 == 1,
            None => self.names.matches_any(field_name),
        }
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

/// Lists header names most requests and responses carry, as `http` spells them (lower
/// case), and finds one among them: lengths first, bytes only where they agree.
macro_rules! common_names {
    ($($name:literal),* $(,)?) => {
        const COMMON_NAMES: &[&str] = &[$($name),*];

        fn common_index(name: &str) -> Option<u32> {
            let mut i = 0;
            $(
                if name.len() == $name.len() && name == $name {
                    return Some(i);
                }
                i += 1;
            )*
            let _ = i;
            None
        }
    };
}

common_names![
    "host",
    "user-agent",
    "accept",
    "accept-encoding",
    "accept-language",
    "connection",
    "content-type",
    "content-length",
    "cache-control",
    "pragma",
    "origin",
    "referer",
    "upgrade-insecure-requests",
    "if-none-match",
    "if-modified-since",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-real-ip",
    "x-request-id",
    "forwarded",
    "traceparent",
    "tracestate",
    "sec-fetch-site",
    "sec-fetch-mode",
    "sec-fetch-dest",
    "sec-ch-ua",
    "sec-ch-ua-mobile",
    "sec-ch-ua-platform",
    "priority",
    "date",
    "server",
    "vary",
    "etag",
    "last-modified",
    "location",
    "content-encoding",
    "transfer-encoding",
    "keep-alive",
    "expires",
];

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
    fn common_names_get_the_verdict_of_the_patterns() {
        assert!(COMMON_NAMES.len() <= 64, "one bit each in a u64");
        for (i, name) in COMMON_NAMES.iter().enumerate() {
            assert_eq!(common_index(name), Some(i as u32), "{name}");
        }
        assert_eq!(common_index("Host"), None);
        for patterns in ["*", "host, *encoding", "x-*", "", "*-*"] {
            let names: WildcardMatchers = patterns.parse().unwrap();
            let sanitizer = Sanitizer::new(names.clone());
            for name in COMMON_NAMES.iter().chain(&["Host", "authorization", "x"]) {
                assert_eq!(
                    sanitizer.is_sensitive(name),
                    names.matches_any(name),
                    "{name} against {patterns:?}"
                );
            }
        }
        assert!(Sanitizer::new("host".parse().unwrap()).is_sensitive("host"));
        assert!(!Sanitizer::default().is_sensitive("host"));
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
