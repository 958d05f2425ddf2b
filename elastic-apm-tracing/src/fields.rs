//! Reading `tracing` fields: the `apm.*` fields that shape a span, an event's message
//! and error, where a record bridged from the `log` crate really comes from, and the
//! rest as labels.

use std::fmt;

use elastic_apm_core::model::{LabelValue, Labels};
use elastic_apm_core::sanitize::{REDACTED, Sanitizer};
use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Metadata};

/// The field naming a span's APM type (`#[instrument(fields(apm.type = "db"))]`).
pub(crate) const TYPE: &str = "apm.type";
/// The field naming a span's APM subtype.
pub(crate) const SUBTYPE: &str = "apm.subtype";
/// The field of an event's formatted message.
pub(crate) const MESSAGE: &str = "message";
/// The field `#[instrument(err)]` and `error = %e` put an error in.
pub(crate) const ERROR: &str = "error";

/// Labels hold numbers as `f64`: integers beyond 2^53 go as text, exactly.
const EXACT_IN_F64: u64 = 1 << 53;

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

/// Where an event comes from. For a record of the `log` crate bridged by
/// `tracing-log`, the metadata says target `log` and the truth is in `log.*` fields.
#[derive(Debug, Default)]
pub(crate) struct Origin {
    pub(crate) target: Option<String>,
    pub(crate) module_path: Option<String>,
    pub(crate) file: Option<String>,
    pub(crate) line: Option<u64>,
}

impl Origin {
    /// Records a `log.*` field; false for any other field.
    fn record(&mut self, name: &str, text: impl FnOnce() -> String, number: Option<u64>) -> bool {
        match name {
            "log.target" => self.target = Some(text()),
            "log.module_path" => self.module_path = Some(text()),
            "log.file" => self.file = Some(text()),
            "log.line" => self.line = number,
            _ => return false,
        }
        true
    }

    /// The event's target, file, line and module, from `log.*` fields when bridged.
    pub(crate) fn resolve<'a>(&'a self, metadata: &'a Metadata<'a>) -> Resolved<'a> {
        Resolved {
            target: self.target.as_deref().unwrap_or(metadata.target()),
            file: self.file.as_deref().or(metadata.file()),
            line: self.line.or(metadata.line().map(u64::from)),
            module_path: self.module_path.as_deref().or(metadata.module_path()),
        }
    }
}

/// An event's origin, bridged or native.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Resolved<'a> {
    pub(crate) target: &'a str,
    pub(crate) file: Option<&'a str>,
    pub(crate) line: Option<u64>,
    pub(crate) module_path: Option<&'a str>,
}

/// An event's message, its error (`error` field or any `record_error` value), and
/// origin: what a log line or an APM error is made of besides the other fields.
#[derive(Debug, Default)]
pub(crate) struct Parts {
    pub(crate) message: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) origin: Origin,
}

impl Parts {
    pub(crate) fn of(event: &Event<'_>) -> Self {
        let mut parts = Parts::default();
        event.record(&mut parts);
        parts
    }

    /// The message, else the error's, else `fallback`.
    pub(crate) fn message_or(&self, fallback: &str) -> String {
        self.message
            .clone()
            .or_else(|| self.error.clone())
            .unwrap_or_else(|| fallback.to_owned())
    }
}

/// Whether a field is one of [`Parts`] rather than a plain field.
pub(crate) fn is_part(name: &str) -> bool {
    name == MESSAGE || name == ERROR || name.starts_with("log.")
}

impl Visit for Parts {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.origin
            .record(field.name(), || value.to_string(), Some(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.origin.record(
            field.name(),
            || value.to_string(),
            u64::try_from(value).ok(),
        );
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            MESSAGE => self.message = Some(value.to_owned()),
            ERROR => self.error = Some(value.to_owned()),
            name => {
                self.origin.record(name, || value.to_owned(), None);
            }
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if field.name() == ERROR || self.error.is_none() {
            self.error = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            MESSAGE => self.message = Some(format!("{value:?}")),
            ERROR => self.error = Some(format!("{value:?}")),
            name => {
                self.origin.record(name, || format!("{value:?}"), None);
            }
        }
    }
}

/// Collects fields as labels: keys with `.`, `*` or `"` get `_` (as for every label),
/// values of names matching `sanitize_field_names` are redacted, and the `apm.*`,
/// message, error and `log.*` fields are left to their own uses.
#[derive(Debug)]
pub(crate) struct ToLabels<'a> {
    pub(crate) labels: &'a mut Labels,
    sanitizer: &'a Sanitizer,
}

impl<'a> ToLabels<'a> {
    pub(crate) fn new(labels: &'a mut Labels, sanitizer: &'a Sanitizer) -> Self {
        ToLabels { labels, sanitizer }
    }

    fn put(&mut self, field: &Field, value: impl FnOnce() -> LabelValue) {
        let name = field.name();
        if name == TYPE || name == SUBTYPE || is_part(name) {
            return;
        }
        if self.sanitizer.is_sensitive(name) {
            self.labels.insert(name, REDACTED);
        } else {
            self.labels.insert(name, value());
        }
    }
}

impl Visit for ToLabels<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, || value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, || {
            if value.unsigned_abs() < EXACT_IN_F64 {
                value.into()
            } else {
                value.to_string().into()
            }
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, || {
            if value < EXACT_IN_F64 {
                value.into()
            } else {
                value.to_string().into()
            }
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, || value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, || value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, || value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, || format!("{value:?}").into());
    }
}
