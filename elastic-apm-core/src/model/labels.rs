//! Labels (`context.tags` on the wire, `labels` in metadata) and header maps.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use smallvec::SmallVec;

use super::limits::{KEYWORD_MAX_CHARS, truncate};

/// A label value: string, boolean or number, as the intake accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelValue {
    /// A string (truncated to 1024 characters when sent).
    String(String),
    /// A boolean.
    Bool(bool),
    /// A number; non-finite numbers are sent as `null`.
    Number(f64),
}

impl Serialize for LabelValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            LabelValue::String(v) => s.serialize_str(&truncate(v, KEYWORD_MAX_CHARS)),
            LabelValue::Bool(v) => s.serialize_bool(*v),
            LabelValue::Number(v) if v.is_finite() => s.serialize_f64(*v),
            LabelValue::Number(_) => s.serialize_none(),
        }
    }
}

impl From<&str> for LabelValue {
    fn from(v: &str) -> Self {
        LabelValue::String(v.to_owned())
    }
}
impl From<String> for LabelValue {
    fn from(v: String) -> Self {
        LabelValue::String(v)
    }
}
impl From<bool> for LabelValue {
    fn from(v: bool) -> Self {
        LabelValue::Bool(v)
    }
}
macro_rules! number_label {
    ($($t:ty),*) => {$(
        impl From<$t> for LabelValue {
            fn from(v: $t) -> Self {
                #[allow(clippy::cast_precision_loss, clippy::cast_lossless)]
                LabelValue::Number(v as f64)
            }
        }
    )*};
}
number_label!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize, f32, f64);

/// An ordered set of labels. Keys may not contain `.`, `*` or `"`: those become `_`,
/// as in every Elastic agent. Setting a key again replaces its value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Labels(Vec<(String, LabelValue)>);

impl Labels {
    /// No labels.
    pub const fn new() -> Self {
        Labels(Vec::new())
    }

    /// Sets a label.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<LabelValue>) {
        let mut key = key.into();
        if key.contains(['.', '*', '"']) {
            key = key.replace(['.', '*', '"'], "_");
        }
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// The value of a label.
    pub fn get(&self, key: &str) -> Option<&LabelValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The labels in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &LabelValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl<K: Into<String>, V: Into<LabelValue>> FromIterator<(K, V)> for Labels {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut labels = Labels::new();
        for (k, v) in iter {
            labels.insert(k, v);
        }
        labels
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(&*truncate(k, KEYWORD_MAX_CHARS), v)?;
        }
        map.end()
    }
}

/// Headers whose offsets are kept without an allocation of their own: most requests
/// have about this many, and every allocation the event carries is one more `free`
/// of memory gone cold by the time the event has been sent.
const INLINE_HEADERS: usize = 8;

/// HTTP or message headers: names with one or more values, sent as a string or an array.
///
/// All names and values share one buffer, so that recording a request's headers takes
/// one allocation for up to eight of them, two for more.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Headers {
    /// Each name followed by its value, one header after another.
    text: String,
    /// Where each header's name and value end in `text`; each starts where the one
    /// before ended.
    ends: SmallVec<[(u32, u32); INLINE_HEADERS]>,
}

impl Headers {
    /// No headers.
    pub const fn new() -> Self {
        Headers {
            text: String::new(),
            ends: SmallVec::new_const(),
        }
    }

    /// No headers yet, with room for `headers` of them and `text` bytes of names and
    /// values.
    pub fn with_capacity(headers: usize, text: usize) -> Self {
        Headers {
            text: String::with_capacity(text),
            ends: SmallVec::with_capacity(headers),
        }
    }

    /// Adds a value; a repeated name (compared case-insensitively) is sent with all its
    /// values. Headers past 4 GiB of text in all are left out.
    pub fn append(&mut self, name: &str, value: &str) {
        let name_end = self.text.len() + name.len();
        let (Ok(name_end), Ok(value_end)) = (
            u32::try_from(name_end),
            u32::try_from(name_end + value.len()),
        ) else {
            return;
        };
        self.text.push_str(name);
        self.text.push_str(value);
        self.ends.push((name_end, value_end));
    }

    /// The values of a header, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The first value of a header.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Each header's name and value, in order (a repeated name comes again).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        (0..self.ends.len()).map(|index| self.entry(index))
    }

    /// Where the header at `index` starts in `text`: where the one before it ended.
    fn start(&self, index: usize) -> usize {
        index
            .checked_sub(1)
            .and_then(|before| self.ends.get(before))
            .map_or(0, |&(_, value_end)| value_end as usize)
    }

    /// The header at `index`: its name and value.
    fn entry(&self, index: usize) -> (&str, &str) {
        let Some(&(name_end, value_end)) = self.ends.get(index) else {
            return ("", "");
        };
        let (name_end, value_end) = (name_end as usize, value_end as usize);
        (
            self.text
                .get(self.start(index)..name_end)
                .unwrap_or_default(),
            self.text.get(name_end..value_end).unwrap_or_default(),
        )
    }

    /// Whether some name comes more than once. Names of different lengths differ,
    /// which the offsets alone tell.
    fn any_name_repeats(&self) -> bool {
        let name_len = |i: usize| {
            let name_end = self
                .ends
                .get(i)
                .map_or(0, |&(name_end, _)| name_end as usize);
            name_end.saturating_sub(self.start(i))
        };
        (1..self.ends.len()).any(|later| {
            (0..later).any(|earlier| {
                name_len(earlier) == name_len(later)
                    && same_name(self.entry(earlier).0, self.entry(later).0)
            })
        })
    }

    /// Each name as it is sent: in the order first seen, with all its values.
    pub(crate) fn grouped(&self) -> impl Iterator<Item = (&str, Values<'_>)> {
        let repeats = self.any_name_repeats();
        self.iter()
            .enumerate()
            .filter_map(move |(first, (name, value))| {
                let mut single = Some(value);
                if repeats {
                    // A repeated name went out with its first occurrence.
                    if (0..first).any(|earlier| same_name(self.entry(earlier).0, name)) {
                        return None;
                    }
                    if (first + 1..self.ends.len()).any(|i| same_name(self.entry(i).0, name)) {
                        single = None;
                    }
                }
                Some((
                    name,
                    Values {
                        headers: self,
                        first,
                        single,
                    },
                ))
            })
    }
}

/// The values of the header at `first` and of those after it with the same name: sent
/// as a string when there is one, else as an array.
pub(crate) struct Values<'a> {
    headers: &'a Headers,
    first: usize,
    single: Option<&'a str>,
}

impl<'a> Values<'a> {
    fn iter(&self) -> impl Iterator<Item = &'a str> {
        let headers = self.headers;
        let name = headers.entry(self.first).0;
        (self.first..headers.ends.len())
            .map(move |i| headers.entry(i))
            .filter(move |(n, _)| same_name(n, name))
            .map(|(_, v)| v)
    }

    /// The value, when the name has only the one.
    pub(crate) fn single(&self) -> Option<&'a str> {
        self.single
    }
}

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let Some(value) = self.single() {
            return s.serialize_str(value);
        }
        let mut seq = s.serialize_seq(None)?;
        for v in self.iter() {
            seq.serialize_element(v)?;
        }
        seq.end()
    }
}

fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.eq_ignore_ascii_case(b)
}

impl Serialize for Headers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (name, values) in self.grouped() {
            map.serialize_entry(name, &values)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys_are_cleaned_and_values_typed() {
        let labels: Labels = [
            ("a.b", LabelValue::from(1)),
            ("c*\"", true.into()),
            ("s", "x".into()),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            serde_json::to_string(&labels).unwrap(),
            r#"{"a_b":1.0,"c__":true,"s":"x"}"#
        );
    }

    #[test]
    fn headers_collect_values() {
        let mut h = Headers::new();
        h.append("Accept", "a");
        h.append("accept", "b");
        h.append("Host", "x");
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            r#"{"Accept":["a","b"],"Host":"x"}"#
        );
        assert_eq!(h.get("ACCEPT"), Some("a"));
        assert_eq!(h.get_all("accept").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(h.get("x"), None);
        assert_eq!(h.iter().count(), 3);
        assert!(Headers::new().is_empty() && !h.is_empty());
        assert_eq!(serde_json::to_string(&Headers::new()).unwrap(), "{}");
    }
}
