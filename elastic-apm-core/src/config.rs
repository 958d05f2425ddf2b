//! Agent configuration: the options of the Elastic agent spec (`configuration.md`),
//! with their names and defaults, read from `ELASTIC_APM_*` environment variables
//! and from code.
//!
//! Precedence follows the spec: environment variables override values set in code,
//! which override defaults. An invalid value is ignored with a warning and the option
//! keeps its lower-precedence value.

use std::fmt;
use std::time::Duration;

use crate::error::ConfigError;
use crate::model::Labels;
use crate::sampling::SampleRate;
use crate::sanitize::{DEFAULT_SANITIZE_FIELD_NAMES, REDACTED};
use crate::wildcard::WildcardMatchers;

/// How a transaction treats an incoming `traceparent` (`trace-continuation.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TraceContinuationStrategy {
    /// Continue the caller's trace (the default).
    #[default]
    Continue,
    /// Always start a new trace, linked to the caller's.
    Restart,
    /// Continue traces from Elastic agents (`tracestate` has an `es` entry); restart others.
    RestartExternal,
}

/// When request bodies are recorded (`capture_body`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaptureBody {
    /// Never (the default).
    #[default]
    Off,
    /// For errors.
    Errors,
    /// For transactions.
    Transactions,
    /// For both.
    All,
}

/// How much the agent logs about itself (`log_level`), through the `log` crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    /// Nothing.
    Off,
    /// Failures that lose data.
    Error,
    /// Problems the agent worked around (the default).
    #[default]
    Warning,
    /// Lifecycle events.
    Info,
    /// Details for debugging.
    Debug,
    /// Everything.
    Trace,
}

/// A secret string (token or API key) that never appears in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// The agent's configuration. Build one with [`Agent::builder`](crate::Agent::builder).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// `service_name`: defaults to the executable's name, else `unknown-rust-service`.
    pub service_name: String,
    /// `service_version`.
    pub service_version: Option<String>,
    /// `service_node_name`, for services with several instances.
    pub service_node_name: Option<String>,
    /// `environment`, e.g. `production`.
    pub environment: Option<String>,
    /// `hostname`: overrides the detected host name.
    pub hostname: Option<String>,
    /// `enabled` (default true): false makes the agent do nothing at all.
    pub enabled: bool,
    /// `recording` (default true): false records and sends nothing, keeping propagation.
    pub recording: bool,
    /// `server_url` (default `http://localhost:8200`).
    pub server_url: String,
    /// `secret_token`.
    pub secret_token: Option<Secret>,
    /// `api_key`, which takes precedence over `secret_token`.
    pub api_key: Option<Secret>,
    /// `verify_server_cert` (default true).
    pub verify_server_cert: bool,
    /// `server_timeout` (default 30s).
    pub server_timeout: Duration,
    /// `api_request_size` (default 768kb): bytes of compressed data per intake request.
    pub api_request_size: u64,
    /// `api_request_time` (default 10s): the longest an intake request stays open.
    pub api_request_time: Duration,
    /// `transaction_sample_rate` (default 1).
    pub transaction_sample_rate: SampleRate,
    /// `transaction_max_spans` (default 500).
    pub transaction_max_spans: u32,
    /// `sanitize_field_names`: header, cookie and form fields whose values are redacted.
    pub sanitize_field_names: WildcardMatchers,
    /// `transaction_ignore_urls`: request paths that start no transaction.
    pub transaction_ignore_urls: WildcardMatchers,
    /// `transaction_ignore_user_agents`: user agents whose requests start no transaction.
    pub transaction_ignore_user_agents: WildcardMatchers,
    /// `trace_continuation_strategy` (default `continue`).
    pub trace_continuation_strategy: TraceContinuationStrategy,
    /// `use_elastic_traceparent_header` (default true): also send `elastic-apm-traceparent`.
    pub use_elastic_traceparent_header: bool,
    /// `global_labels`: labels added to every event.
    pub global_labels: Labels,
    /// `capture_body` (default `off`).
    pub capture_body: CaptureBody,
    /// `capture_headers` (default true).
    pub capture_headers: bool,
    /// `long_field_max_length` (default 10000 characters).
    pub long_field_max_length: usize,
    /// `stack_trace_limit` (default 50 frames; 0 disables stack traces on errors).
    pub stack_trace_limit: usize,
    /// `log_level` (default `warning`).
    pub log_level: LogLevel,
    /// `server_ca_cert_file`: a PEM file of CA certificates APM Server's certificate is
    /// checked against, in addition to the system's.
    pub server_ca_cert_file: Option<std::path::PathBuf>,
    /// `central_config` (default true): poll APM Server for configuration from Kibana.
    pub central_config: bool,
    /// `cloud_provider` (default `auto`): which cloud metadata service to ask
    /// (`auto`, `aws`, `gcp`, `azure` or `none`).
    pub cloud_provider: CloudProvider,
    /// `max_queue_size` (default 1024): events waiting to be sent; more are dropped and
    /// counted.
    pub max_queue_size: usize,
    /// `disable_send` (default false): record everything but never contact APM Server.
    pub disable_send: bool,
    /// `exit_span_min_duration` (default 0ms): successful exit spans shorter than this
    /// that did not propagate the trace are dropped, and counted (dynamic).
    pub exit_span_min_duration: Duration,
    /// `span_compression_enabled` (default true): consecutive similar exit spans become
    /// one composite span (dynamic).
    pub span_compression_enabled: bool,
    /// `span_compression_exact_match_max_duration` (default 50ms) (dynamic).
    pub span_compression_exact_match_max_duration: Duration,
    /// `span_compression_same_kind_max_duration` (default 0ms: off) (dynamic).
    pub span_compression_same_kind_max_duration: Duration,
    /// `span_stack_trace_min_duration` (default 5ms): spans at least this long get a
    /// stack trace; `None` (a negative value) never, zero always (dynamic).
    pub span_stack_trace_min_duration: Option<Duration>,
    /// `metrics_interval` (default 30s): how often metrics are gathered and sent; zero
    /// sends none.
    pub metrics_interval: Duration,
    /// `disable_metrics` (default none): metric names, with wildcards, not to send
    /// (`system.*`, `agent.events.*`).
    pub disable_metrics: WildcardMatchers,
    /// `breakdown_metrics` (default true): record the time spent per span type in each
    /// transaction group (`span.self_time.*`).
    pub breakdown_metrics: bool,
}

/// Which cloud metadata service the agent asks for `metadata.cloud` (`cloud_provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CloudProvider {
    /// Try AWS, GCP and Azure at once; use whichever answers (the default).
    #[default]
    Auto,
    /// Amazon EC2.
    Aws,
    /// Google Compute Engine.
    Gcp,
    /// Microsoft Azure (virtual machines, App Service, Functions).
    Azure,
    /// None: send no cloud metadata.
    None,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            service_name: default_service_name(),
            service_version: None,
            service_node_name: None,
            environment: None,
            hostname: None,
            enabled: true,
            recording: true,
            server_url: "http://localhost:8200".to_owned(),
            secret_token: None,
            api_key: None,
            verify_server_cert: true,
            server_timeout: Duration::from_secs(30),
            api_request_size: 768 * 1024,
            api_request_time: Duration::from_secs(10),
            transaction_sample_rate: SampleRate::ALWAYS,
            transaction_max_spans: 500,
            sanitize_field_names: WildcardMatchers::new(DEFAULT_SANITIZE_FIELD_NAMES),
            transaction_ignore_urls: WildcardMatchers::default(),
            transaction_ignore_user_agents: WildcardMatchers::default(),
            trace_continuation_strategy: TraceContinuationStrategy::Continue,
            use_elastic_traceparent_header: true,
            global_labels: Labels::new(),
            capture_body: CaptureBody::Off,
            capture_headers: true,
            long_field_max_length: crate::model::limits::LONG_FIELD_MAX_CHARS,
            stack_trace_limit: 50,
            log_level: LogLevel::Warning,
            server_ca_cert_file: None,
            central_config: true,
            cloud_provider: CloudProvider::Auto,
            max_queue_size: 1024,
            disable_send: false,
            exit_span_min_duration: Duration::ZERO,
            span_compression_enabled: true,
            span_compression_exact_match_max_duration: Duration::from_millis(50),
            span_compression_same_kind_max_duration: Duration::ZERO,
            span_stack_trace_min_duration: Some(Duration::from_millis(5)),
            metrics_interval: Duration::from_secs(30),
            disable_metrics: WildcardMatchers::default(),
            breakdown_metrics: true,
        }
    }
}

/// The service name from the executable, cleaned to the characters APM Server accepts.
fn default_service_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|name| sanitize_service_name(&name))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown-rust-service".to_owned())
}

/// Replaces characters outside `[a-zA-Z0-9 _-]` with `_`, as the intake schema requires.
pub fn sanitize_service_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

const SECRET_OPTIONS: &[&str] = &["secret_token", "api_key"];

impl Config {
    /// Applies one option given by its spec name (`transaction_sample_rate`) and string
    /// value, as it would come from an environment variable or central configuration.
    /// Unknown names are ignored (`Ok(false)`); invalid values leave the option unchanged.
    pub fn apply(&mut self, option: &str, value: &str) -> Result<bool, ConfigError> {
        let value = value.trim();
        let invalid = |option: &'static str, expected: &'static str| ConfigError {
            option,
            value: if SECRET_OPTIONS.contains(&option) {
                REDACTED.to_owned()
            } else {
                crate::error::redact_userinfo(value).into_owned()
            },
            expected,
        };
        let opt_string = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        match option {
            "service_name" => {
                let name = sanitize_service_name(value);
                if name.is_empty() {
                    return Err(invalid("service_name", "a non-empty name"));
                }
                self.service_name = name;
            }
            "service_version" => self.service_version = opt_string(value),
            "service_node_name" => self.service_node_name = opt_string(value),
            "environment" => self.environment = opt_string(value),
            "hostname" => self.hostname = opt_string(value),
            "enabled" => {
                self.enabled =
                    parse_bool(value).ok_or_else(|| invalid("enabled", "true or false"))?
            }
            "recording" => {
                self.recording =
                    parse_bool(value).ok_or_else(|| invalid("recording", "true or false"))?
            }
            "server_url" => {
                if !(value.starts_with("http://") || value.starts_with("https://")) {
                    return Err(invalid("server_url", "an http:// or https:// URL"));
                }
                if crate::error::redact_userinfo(value) != value {
                    return Err(invalid(
                        "server_url",
                        "a URL without user:password@ (use secret_token or api_key)",
                    ));
                }
                self.server_url = value.trim_end_matches('/').to_owned();
            }
            "secret_token" => self.secret_token = opt_string(value).map(Secret),
            "api_key" => self.api_key = opt_string(value).map(Secret),
            "verify_server_cert" => {
                self.verify_server_cert = parse_bool(value)
                    .ok_or_else(|| invalid("verify_server_cert", "true or false"))?;
            }
            "server_timeout" => {
                self.server_timeout = parse_duration(value)
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| invalid("server_timeout", "a positive duration such as 30s"))?;
            }
            "api_request_size" => {
                self.api_request_size = parse_size(value)
                    .filter(|&s| s > 0)
                    .ok_or_else(|| invalid("api_request_size", "a size such as 768kb"))?;
            }
            "api_request_time" => {
                self.api_request_time =
                    parse_duration(value)
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| {
                            invalid("api_request_time", "a positive duration such as 10s")
                        })?;
            }
            "transaction_sample_rate" => {
                self.transaction_sample_rate = value
                    .parse::<f64>()
                    .ok()
                    .and_then(SampleRate::new)
                    .ok_or_else(|| invalid("transaction_sample_rate", "a number in [0, 1]"))?;
            }
            "transaction_max_spans" => {
                self.transaction_max_spans = value
                    .parse()
                    .map_err(|_| invalid("transaction_max_spans", "a non-negative integer"))?;
            }
            "sanitize_field_names" => self.sanitize_field_names = parse_list(value),
            "transaction_ignore_urls" => self.transaction_ignore_urls = parse_list(value),
            "transaction_ignore_user_agents" => {
                self.transaction_ignore_user_agents = parse_list(value)
            }
            "trace_continuation_strategy" => {
                self.trace_continuation_strategy = match value {
                    "continue" => TraceContinuationStrategy::Continue,
                    "restart" => TraceContinuationStrategy::Restart,
                    "restart_external" => TraceContinuationStrategy::RestartExternal,
                    _ => {
                        return Err(invalid(
                            "trace_continuation_strategy",
                            "continue, restart or restart_external",
                        ));
                    }
                };
            }
            "use_elastic_traceparent_header" => {
                self.use_elastic_traceparent_header = parse_bool(value)
                    .ok_or_else(|| invalid("use_elastic_traceparent_header", "true or false"))?;
            }
            "global_labels" => {
                self.global_labels = value
                    .split(',')
                    .map(str::trim)
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| kv.split_once('=').map(|(k, v)| (k.trim(), v.trim())))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| invalid("global_labels", "key=value pairs separated by commas"))?
                    .into_iter()
                    .collect();
            }
            "capture_body" => {
                self.capture_body = match value.to_ascii_lowercase().as_str() {
                    "off" => CaptureBody::Off,
                    "errors" => CaptureBody::Errors,
                    "transactions" => CaptureBody::Transactions,
                    "all" => CaptureBody::All,
                    _ => return Err(invalid("capture_body", "off, errors, transactions or all")),
                };
            }
            "capture_headers" => {
                self.capture_headers =
                    parse_bool(value).ok_or_else(|| invalid("capture_headers", "true or false"))?;
            }
            "long_field_max_length" => {
                self.long_field_max_length = value
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| invalid("long_field_max_length", "a positive integer"))?;
            }
            "stack_trace_limit" => {
                // Negative means "all" in other agents; cap it so a trace stays bounded.
                self.stack_trace_limit = match value.parse::<i64>() {
                    Ok(n) if n < 0 => 256,
                    Ok(n) => usize::try_from(n).unwrap_or(256).min(256),
                    Err(_) => return Err(invalid("stack_trace_limit", "an integer")),
                };
            }
            "log_level" => {
                self.log_level = match value.to_ascii_lowercase().as_str() {
                    "off" => LogLevel::Off,
                    "error" | "critical" => LogLevel::Error,
                    "warning" | "warn" => LogLevel::Warning,
                    "info" => LogLevel::Info,
                    "debug" => LogLevel::Debug,
                    "trace" => LogLevel::Trace,
                    _ => {
                        return Err(invalid(
                            "log_level",
                            "off, error, warning, info, debug or trace",
                        ));
                    }
                };
            }
            "server_ca_cert_file" => {
                self.server_ca_cert_file = opt_string(value).map(std::path::PathBuf::from)
            }
            "central_config" => {
                self.central_config =
                    parse_bool(value).ok_or_else(|| invalid("central_config", "true or false"))?
            }
            "cloud_provider" => {
                self.cloud_provider = match value.to_ascii_lowercase().as_str() {
                    "auto" => CloudProvider::Auto,
                    "aws" => CloudProvider::Aws,
                    "gcp" => CloudProvider::Gcp,
                    "azure" => CloudProvider::Azure,
                    "none" => CloudProvider::None,
                    _ => return Err(invalid("cloud_provider", "auto, aws, gcp, azure or none")),
                };
            }
            "max_queue_size" => {
                self.max_queue_size = value
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| invalid("max_queue_size", "a positive integer"))?;
            }
            "disable_send" => {
                self.disable_send =
                    parse_bool(value).ok_or_else(|| invalid("disable_send", "true or false"))?
            }
            "exit_span_min_duration" => {
                self.exit_span_min_duration = parse_granular_duration(value)
                    .ok_or_else(|| invalid("exit_span_min_duration", "a duration such as 5ms"))?;
            }
            "span_compression_enabled" => {
                self.span_compression_enabled = parse_bool(value)
                    .ok_or_else(|| invalid("span_compression_enabled", "true or false"))?;
            }
            "span_compression_exact_match_max_duration" => {
                self.span_compression_exact_match_max_duration =
                    parse_duration(value).ok_or_else(|| {
                        invalid(
                            "span_compression_exact_match_max_duration",
                            "a duration such as 50ms",
                        )
                    })?;
            }
            "span_compression_same_kind_max_duration" => {
                self.span_compression_same_kind_max_duration =
                    parse_duration(value).ok_or_else(|| {
                        invalid(
                            "span_compression_same_kind_max_duration",
                            "a duration such as 5ms",
                        )
                    })?;
            }
            "span_stack_trace_min_duration" => {
                self.span_stack_trace_min_duration = match value.strip_prefix('-') {
                    // Negative: never. Any negative duration says so.
                    Some(rest) if parse_duration(rest).is_some() => None,
                    _ => Some(parse_duration(value).ok_or_else(|| {
                        invalid(
                            "span_stack_trace_min_duration",
                            "a duration such as 5ms, or -1ms for never",
                        )
                    })?),
                };
            }
            "metrics_interval" => {
                self.metrics_interval = parse_duration(value)
                    .ok_or_else(|| invalid("metrics_interval", "a duration such as 30s, or 0s"))?;
            }
            "disable_metrics" => self.disable_metrics = parse_list(value),
            "breakdown_metrics" => {
                self.breakdown_metrics = parse_bool(value)
                    .ok_or_else(|| invalid("breakdown_metrics", "true or false"))?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Applies every `ELASTIC_APM_<OPTION>` variable from `vars` (e.g. `std::env::vars()`).
    /// Invalid values are logged and skipped; the errors are also returned.
    pub fn apply_env<I>(&mut self, vars: I) -> Vec<ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut errors = Vec::new();
        for (name, value) in vars {
            let Some(option) = name.strip_prefix("ELASTIC_APM_") else {
                continue;
            };
            let option = option.to_ascii_lowercase();
            match self.apply(&option, &value) {
                Ok(true) => {}
                Ok(false) => log::debug!("ignoring unknown option {name}"),
                Err(err) => {
                    log::warn!("{name}: {err}");
                    errors.push(err);
                }
            }
        }
        errors
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn parse_list(v: &str) -> WildcardMatchers {
    match v.parse() {
        Ok(list) => list,
        Err(never) => match never {},
    }
}

/// Parses a spec `Duration` (`^(-)?(\d+)(ms|s|m)$`); negative durations are `None` here.
pub fn parse_duration(v: &str) -> Option<Duration> {
    let split = v.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = v.split_at(split);
    let n: u64 = digits.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        _ => None,
    }
}

/// Parses a spec `GranularDuration` (`^(-)?(\d+)(us|ms|s|m)$`); negative is `None`.
pub fn parse_granular_duration(v: &str) -> Option<Duration> {
    match v.strip_suffix("us") {
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse().ok().map(Duration::from_micros)
        }
        _ => parse_duration(v),
    }
}

/// Parses a spec `Size` (`^(\d+)(b|kb|mb|gb)$`, case-insensitive) into bytes.
pub fn parse_size(v: &str) -> Option<u64> {
    let split = v.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = v.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "b" => 1,
        "kb" => 1 << 10,
        "mb" => 1 << 20,
        "gb" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = Config::default();
        assert_eq!(c.server_url, "http://localhost:8200");
        assert_eq!(c.transaction_max_spans, 500);
        assert_eq!(c.api_request_size, 768 * 1024);
        assert_eq!(c.api_request_time, Duration::from_secs(10));
        assert!(c.sanitize_field_names.matches_any("Authorization"));
        assert!(!c.service_name.is_empty());
    }

    #[test]
    fn env_overrides_and_invalid_values_are_ignored() {
        let mut c = Config::default();
        let errors = c.apply_env(env(&[
            ("ELASTIC_APM_SERVICE_NAME", "my.service"),
            ("ELASTIC_APM_TRANSACTION_SAMPLE_RATE", "0.55555"),
            ("ELASTIC_APM_TRANSACTION_MAX_SPANS", "lots"),
            ("ELASTIC_APM_API_REQUEST_TIME", "1h"),
            ("ELASTIC_APM_API_REQUEST_SIZE", "1MB"),
            ("ELASTIC_APM_SECRET_TOKEN", "s3cr3t"),
            ("ELASTIC_APM_GLOBAL_LABELS", "a=1, b.c = x"),
            (
                "ELASTIC_APM_TRACE_CONTINUATION_STRATEGY",
                "restart_external",
            ),
            ("PATH", "/bin"),
        ]));
        assert_eq!(c.service_name, "my_service");
        assert_eq!(c.transaction_sample_rate.get(), 0.5556);
        assert_eq!(c.transaction_max_spans, 500);
        assert_eq!(c.api_request_time, Duration::from_secs(10));
        assert_eq!(c.api_request_size, 1 << 20);
        assert_eq!(
            c.trace_continuation_strategy,
            TraceContinuationStrategy::RestartExternal
        );
        assert_eq!(c.global_labels.len(), 2);
        assert_eq!(errors.len(), 2);
        assert!(
            !format!("{c:?}").contains("s3cr3t"),
            "secrets never reach Debug output"
        );
    }

    #[test]
    fn secret_values_are_not_echoed_in_errors() {
        let err = ConfigError {
            option: "api_key",
            value: REDACTED.into(),
            expected: "x",
        };
        assert!(err.to_string().contains(REDACTED));
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("-5s"), None);
        assert_eq!(parse_size("768KB"), Some(768 * 1024));
        assert_eq!(parse_size("3"), None);
    }
}
