//! Labels (`context.tags` on the wire, `labels` in metadata) and header maps.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

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

/// HTTP or message headers: names with one or more values, sent as a string or an array.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Headers(Vec<(String, HeaderValues)>);

/// One header's values: almost always one, kept without a `Vec` of its own.
#[derive(Debug, Clone, PartialEq)]
enum HeaderValues {
    One(String),
    Many(Vec<String>),
}

impl HeaderValues {
    fn as_slice(&self) -> &[String] {
        match self {
            HeaderValues::One(value) => std::slice::from_ref(value),
            HeaderValues::Many(values) => values,
        }
    }

    fn push(&mut self, value: String) {
        match self {
            HeaderValues::One(first) => {
                *self = HeaderValues::Many(vec![std::mem::take(first), value]);
            }
            HeaderValues::Many(values) => values.push(value),
        }
    }
}

impl Headers {
    /// No headers.
    pub const fn new() -> Self {
        Headers(Vec::new())
    }

    /// No headers yet, with room for `names` of them.
    pub fn with_capacity(names: usize) -> Self {
        Headers(Vec::with_capacity(names))
    }

    /// Adds a value; a repeated name (compared case-insensitively) collects its values.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        match self
            .0
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some((_, values)) => values.push(value.into()),
            None => self.0.push((name, HeaderValues::One(value.into()))),
        }
    }

    /// The values of a header.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The headers in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }
}

struct Values<'a>(&'a [String]);

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            [one] => s.serialize_str(one),
            many => {
                let mut seq = s.serialize_seq(Some(many.len()))?;
                for v in many {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
        }
    }
}

impl Serialize for Headers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, &Values(v.as_slice()))?;
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
    }
}
