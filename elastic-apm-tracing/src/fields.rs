//! Reading `tracing` fields: the `apm.*` fields that shape a span, the rest as labels.

use std::fmt;

use elastic_apm_core::model::{LabelValue, Labels};
use tracing_core::field::{Field, Visit};

/// The field naming a span's APM type (`#[instrument(fields(apm.type = "db"))]`).
pub(crate) const TYPE: &str = "apm.type";
/// The field naming a span's APM subtype.
pub(crate) const SUBTYPE: &str = "apm.subtype";
/// The field of an event's formatted message.
pub(crate) const MESSAGE: &str = "message";

/// Collects `apm.type` and `apm.subtype` only.
#[derive(Debug, Default)]
pub(crate) struct Kind {
    pub(crate) kind: Option<String>,
    pub(crate) subtype: Option<String>,
}

impl Visit for Kind {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            TYPE => self.kind = Some(value.to_owned()),
            SUBTYPE => self.subtype = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if matches!(field.name(), TYPE | SUBTYPE) {
            self.record_str(field, format!("{value:?}").trim_matches('"'));
        }
    }
}

/// Collects fields as labels (keys with `.`, `*` or `"` get `_`, as for every label),
/// and an event's message apart.
#[derive(Debug)]
pub(crate) struct ToLabels<'a> {
    pub(crate) labels: &'a mut Labels,
    pub(crate) message: Option<String>,
}

impl<'a> ToLabels<'a> {
    pub(crate) fn new(labels: &'a mut Labels) -> Self {
        ToLabels {
            labels,
            message: None,
        }
    }

    fn put(&mut self, field: &Field, value: impl Into<LabelValue>) {
        match field.name() {
            TYPE | SUBTYPE => {}
            name => self.labels.insert(name, value),
        }
    }
}

impl Visit for ToLabels<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == MESSAGE {
            self.message = Some(value.to_owned());
        } else {
            self.put(field, value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == MESSAGE {
            self.message = Some(format!("{value:?}"));
        } else {
            self.put(field, format!("{value:?}"));
        }
    }
}
