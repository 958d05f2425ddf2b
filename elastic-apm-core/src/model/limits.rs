//! Field length limits (`field-limits.md`): keyword fields hold at most 1024 characters,
//! long fields (`db.statement`, bodies, messages) 10,000 by default. Over-long values
//! are truncated, never rejected: the last kept character becomes `…`.
//!
//! Keyword fields are truncated while serialising, so no event can carry one that APM
//! Server would reject, whoever built it. Long fields are truncated when recorded, using
//! the configured `long_field_max_length`.

use std::borrow::Cow;

use serde::Serializer;

/// The intake limit for keyword fields, in characters.
pub const KEYWORD_MAX_CHARS: usize = 1024;
/// The default limit for long fields, in characters.
pub const LONG_FIELD_MAX_CHARS: usize = 10_000;

/// `value` cut to at most `max_chars` characters, the last one replaced by `…` if cut.
pub fn truncate(value: &str, max_chars: usize) -> Cow<'_, str> {
    // A string of at most `max_chars` bytes has at most that many characters.
    if value.len() <= max_chars {
        return Cow::Borrowed(value);
    }
    match value.char_indices().nth(max_chars) {
        None => Cow::Borrowed(value),
        Some(_) if max_chars == 0 => Cow::Borrowed(""),
        Some(_) => {
            let keep = value
                .char_indices()
                .nth(max_chars - 1)
                .map_or(value.len(), |(i, _)| i);
            let mut out = String::with_capacity(keep + '…'.len_utf8());
            out.push_str(&value[..keep]);
            out.push('…');
            Cow::Owned(out)
        }
    }
}

/// Truncates `value` in place; see [`truncate`].
pub fn truncate_in_place(value: &mut String, max_chars: usize) {
    if let Cow::Owned(cut) = truncate(value, max_chars) {
        *value = cut;
    }
}

pub(crate) fn keyword<S: Serializer, T: AsRef<str> + ?Sized>(
    value: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&truncate(value.as_ref(), KEYWORD_MAX_CHARS))
}

pub(crate) fn opt_keyword<S: Serializer, T: AsRef<str>>(
    value: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => keyword(v, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_by_characters() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(truncate("ééé", 3), "ééé");
        assert_eq!(truncate("éééé", 3), "éé…");
        assert_eq!(
            truncate(&"x".repeat(2000), KEYWORD_MAX_CHARS)
                .chars()
                .count(),
            KEYWORD_MAX_CHARS
        );
        assert_eq!(truncate("abc", 0), "");
        let mut s = "hello".to_string();
        truncate_in_place(&mut s, 4);
        assert_eq!(s, "hel…");
    }
}
