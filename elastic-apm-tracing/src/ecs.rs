//! [`EcsFormat`]: log lines as ECS JSON that Kibana links to their trace.

use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use elastic_apm_core::Agent;
use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::fields::{Parts, is_part};

/// The ECS version the lines follow.
const ECS_VERSION: &str = "1.6.0";

/// A `tracing_subscriber::fmt` event format writing one ECS JSON object per line, the
/// format of Elastic's `ecs-logging` libraries, with the trace of the current
/// transaction or span, so that Kibana's Logs app links each line to its trace and the
/// APM app shows a trace's logs.
///
/// ```
/// use elastic_apm_core::Agent;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let agent = Agent::builder().service_name("shop").build();
/// let subscriber = tracing_subscriber::registry()
///     .with(elastic_apm_tracing::ApmTracingLayer::new(&agent))
///     .with(tracing_subscriber::fmt::layer().event_format(elastic_apm_tracing::EcsFormat::new(&agent)));
/// # drop(subscriber);
/// ```
///
/// A line inside a transaction:
///
/// ```json
/// {"@timestamp":"2026-11-26T10:15:02.123Z","log.level":"INFO","message":"order placed",
///  "ecs.version":"1.6.0","log.logger":"shop::orders","log.origin.file.name":"src/orders.rs",
///  "log.origin.file.line":42,"service.name":"shop","event.dataset":"shop",
///  "trace.id":"0af7651916cd43dd8448eb211c80319c","transaction.id":"b7ad6b7169203331",
///  "span.id":"00f067aa0ba902b7","order_id":7}
/// ```
///
/// (on one line). `service.version`, `service.environment` and `service.node.name` are
/// added when configured; `span.id` when a span, not the transaction itself, is current;
/// `error.message` for an event with an error (`#[instrument(err)]`, `error = %e`), and
/// `error.id` when [`ApmTracingLayer`](crate::ApmTracingLayer), added before this layer,
/// captured the event as an APM error. Records of the `log` crate bridged by
/// `tracing-log` keep their own logger and origin. The event's other fields follow under
/// their names, except those that would repeat one of the keys above.
#[derive(Debug, Clone)]
pub struct EcsFormat {
    /// `,"service.name":...` and the other service fields, written once.
    service: String,
}

impl EcsFormat {
    /// The format for `agent`'s service.
    pub fn new(agent: &Agent) -> Self {
        let config = agent.config();
        let mut service = String::new();
        let mut field = |key: &str, value: &str| {
            let _ = write!(service, ",\"{key}\":");
            let _ = write_json_str(&mut service, value);
        };
        field("service.name", &config.service_name);
        if let Some(version) = &config.service_version {
            field("service.version", version);
        }
        if let Some(environment) = &config.environment {
            field("service.environment", environment);
        }
        if let Some(node) = &config.service_node_name {
            field("service.node.name", node);
        }
        field("event.dataset", &config.service_name);
        EcsFormat { service }
    }
}

impl<S, N> FormatEvent<S, N> for EcsFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let parts = Parts::of(event);
        let origin = parts.origin.resolve(metadata);
        writer.write_str("{\"@timestamp\":\"")?;
        write_timestamp(&mut writer, SystemTime::now())?;
        write!(writer, "\",\"log.level\":\"{}\"", metadata.level())?;
        writer.write_str(",\"message\":")?;
        write_json_str(&mut writer, &parts.message_or(""))?;
        write!(writer, ",\"ecs.version\":\"{ECS_VERSION}\",\"log.logger\":")?;
        write_json_str(&mut writer, origin.target)?;
        if let Some(file) = origin.file {
            writer.write_str(",\"log.origin.file.name\":")?;
            write_json_str(&mut writer, file)?;
        }
        if let Some(line) = origin.line {
            write!(writer, ",\"log.origin.file.line\":{line}")?;
        }
        writer.write_str(&self.service)?;
        if let Some(error) = &parts.error {
            writer.write_str(",\"error.message\":")?;
            write_json_str(&mut writer, error)?;
        }
        if let Some(id) = crate::layer::error_of(event) {
            write!(writer, ",\"error.id\":\"{id}\"")?;
        }
        if let Some(segment) = elastic_apm_core::current_segment() {
            write!(
                writer,
                ",\"trace.id\":\"{}\",\"transaction.id\":\"{}\"",
                segment.trace_id(),
                segment.transaction_id()
            )?;
            if segment.is_span() {
                write!(writer, ",\"span.id\":\"{}\"", segment.id())?;
            }
        }
        let mut fields = Fields {
            writer: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_str("}\n")
    }
}

/// Keys this format writes itself; an event field of the same name is left out, as a
/// JSON object with a key twice is rejected by Elasticsearch.
const RESERVED: &[&str] = &[
    "@timestamp",
    "log.level",
    "ecs.version",
    "service.name",
    "service.version",
    "service.environment",
    "service.node.name",
    "event.dataset",
    "trace.id",
    "transaction.id",
    "span.id",
    "error.message",
    "error.id",
];

/// Writes an event's fields other than the message as JSON members.
struct Fields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        let name = field.name();
        if self.result.is_err() || is_part(name) || RESERVED.contains(&name) {
            return;
        }
        self.result = (|| {
            self.writer.write_char(',')?;
            write_json_str(self.writer, field.name())?;
            self.writer.write_char(':')?;
            value(self.writer)
        })();
    }
}

impl Visit for Fields<'_, '_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.member(field, |w| write!(w, "{value}"));
        } else {
            self.member(field, |w| write_json_str(w, &value.to_string()));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |w| write_json_str(w, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |w| write_json_str(w, &format!("{value:?}")));
    }
}

/// Writes `s` as a JSON string.
fn write_json_str(w: &mut impl fmt::Write, s: &str) -> fmt::Result {
    w.write_char('"')?;
    let mut from = 0;
    for (i, c) in s.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if (c as u32) < 0x20 => {
                w.write_str(&s[from..i])?;
                write!(w, "\\u{:04x}", c as u32)?;
                from = i + c.len_utf8();
                continue;
            }
            _ => continue,
        };
        w.write_str(&s[from..i])?;
        w.write_str(escape)?;
        from = i + c.len_utf8();
    }
    w.write_str(&s[from..])?;
    w.write_char('"')
}

/// Writes `at` as RFC 3339 UTC with milliseconds (`2026-11-26T10:15:02.123Z`).
fn write_timestamp(w: &mut impl fmt::Write, at: SystemTime) -> fmt::Result {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    write!(
        w,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// The date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        let mut out = String::new();
        let at = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        write_timestamp(&mut out, at).unwrap();
        assert_eq!(out, "2026-11-18T11:06:40.123Z");
        out.clear();
        write_timestamp(&mut out, UNIX_EPOCH + Duration::from_secs(951_782_400)).unwrap();
        assert_eq!(out, "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn strings_are_escaped_as_json() {
        let mut out = String::new();
        write_json_str(&mut out, "a\"b\\c\nd\u{1}é").unwrap();
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
        let parsed: String = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, "a\"b\\c\nd\u{1}é");
    }
}
