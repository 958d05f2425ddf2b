//! The agent and its tracer API: transactions, spans, errors.

mod capture;
mod compression;
mod metadata;
mod segment;
mod service_target;
mod span;
mod transaction;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) use self::capture::parse_backtrace;
pub use self::capture::{AsDynError, ErrorBuilder};
pub(crate) use self::metadata::AGENT_VERSION;
pub use self::segment::Segment;
pub use self::span::{Span, SpanBuilder};
pub use self::transaction::{Transaction, TransactionBuilder};
use crate::config::Config;
use crate::live::{ConfigSnapshot, ServerVersion, Shared};
use crate::model::{Metadata, NameVersion};
use crate::report::{DiscardReporter, Flush, Health, Reporter};

/// The Elastic APM agent: configuration, tracer and the reporter events go to.
///
/// Cheap to clone (one reference count) and `Send + Sync`: build one at start-up and
/// hand clones to every integration.
///
/// ```
/// use elastic_apm_core::Agent;
///
/// let agent = Agent::builder().service_name("shop").build();
/// let tx = agent.start_transaction("GET /products", "request");
/// let span = tx.start_span("SELECT FROM products", "db");
/// span.end();
/// tx.end();
/// ```
#[derive(Clone)]
pub struct Agent {
    inner: Arc<AgentInner>,
}

pub(crate) struct AgentInner {
    /// `enabled` never changes; `recording` may (central configuration).
    enabled: bool,
    shared: Arc<Shared>,
    reporter: Arc<dyn Reporter>,
    /// Breakdown metrics are worked out from events as they are reported (a custom
    /// reporter that asks for it); the transport does it on its own thread instead.
    observe_events: bool,
}

impl Agent {
    /// Starts configuring an agent.
    pub fn builder() -> AgentBuilder {
        AgentBuilder::default()
    }

    /// An agent configured from `ELASTIC_APM_*` environment variables alone.
    pub fn from_env() -> Agent {
        AgentBuilder::default().build()
    }

    /// An agent that records nothing, for code that needs an `Agent` but no APM.
    pub fn disabled() -> Agent {
        AgentBuilder::default()
            .read_env(false)
            .enabled(false)
            .build()
    }

    /// The configuration in force now: local options with central configuration on
    /// top. Lock-free; hold it only briefly. Its
    /// [`sanitizer`](ConfigSnapshot::sanitizer) redacts `sanitize_field_names`.
    pub fn config(&self) -> ConfigSnapshot {
        self.inner.shared.live.load()
    }

    /// The metadata sent at the start of every intake request, as known now.
    pub fn metadata(&self) -> Metadata {
        self.inner.shared.metadata()
    }

    /// Names the web framework in the metadata (`service.framework`); integrations call
    /// it once. The first call wins.
    pub fn set_framework(&self, name: &str, version: Option<&str>) {
        self.inner
            .shared
            .set_framework(NameVersion::new(name, version.map(str::to_owned)));
    }

    /// APM Server's version, once the agent has heard it.
    pub fn server_version(&self) -> Option<ServerVersion> {
        self.inner.shared.live.server_version()
    }

    /// Whether the agent records anything (`enabled` and `recording`).
    pub fn is_recording(&self) -> bool {
        self.inner.enabled && self.inner.shared.live.is_recording()
    }

    /// Whether a request path matches `transaction_ignore_urls`, so HTTP integrations
    /// start no transaction for it.
    pub fn ignores_url(&self, path: &str) -> bool {
        self.config().transaction_ignore_urls.matches_any(path)
    }

    /// Whether a `User-Agent` matches `transaction_ignore_user_agents`.
    pub fn ignores_user_agent(&self, user_agent: &str) -> bool {
        self.config()
            .transaction_ignore_user_agents
            .matches_any(user_agent)
    }

    /// Starts a transaction with default options; see [`Agent::transaction`].
    pub fn start_transaction(
        &self,
        name: impl Into<std::borrow::Cow<'static, str>>,
        kind: impl Into<std::borrow::Cow<'static, str>>,
    ) -> Transaction {
        self.transaction(name, kind).start()
    }

    /// Configures a transaction: its parent trace context, start time, links.
    pub fn transaction(
        &self,
        name: impl Into<std::borrow::Cow<'static, str>>,
        kind: impl Into<std::borrow::Cow<'static, str>>,
    ) -> TransactionBuilder<'_> {
        TransactionBuilder::new(self, name.into(), kind.into())
    }

    /// Captures an error, linked to the current transaction or span when there is one.
    /// Returns `None` when the agent is not recording.
    pub fn capture_error<E>(&self, error: &E) -> Option<crate::ErrorId>
    where
        E: AsDynError + ?Sized,
    {
        self.error(error)
            .parent(crate::context::current_segment())
            .capture()
    }

    /// Configures an error reported as a log record (`error.log`), such as an
    /// ERROR-level `tracing` event.
    pub fn log_error(&self, log: crate::model::Log) -> ErrorBuilder<'_> {
        ErrorBuilder::log(self, log)
    }

    /// Configures an error to capture: its parent, whether it was handled.
    pub fn error<'a, E>(&'a self, error: &'a E) -> ErrorBuilder<'a>
    where
        E: AsDynError + ?Sized,
    {
        ErrorBuilder::new(self, error)
    }

    /// Names an application metric to register as a [`Counter`](crate::Counter) or a
    /// [`Gauge`](crate::Gauge); it is sent with the agent's metrics every
    /// `metrics_interval`. On a disabled agent the metric does nothing.
    pub fn metric(
        &self,
        name: impl Into<std::borrow::Cow<'static, str>>,
    ) -> crate::MetricBuilder<'_> {
        let registry = self.inner.enabled.then_some(&self.inner.shared.metrics.app);
        crate::MetricBuilder::new(registry, name.into())
    }

    /// Gathers every metric now (breakdown, system, process, cgroup, tokio runtime,
    /// agent health, application), as the APM Server transport does every
    /// `metrics_interval`; for a custom [`Reporter`], which is not asked for metrics.
    /// Counters restart from here: what this returns is not sent again.
    pub fn collect_metrics(&self) -> Vec<crate::model::MetricSet> {
        if !self.inner.enabled {
            return Vec::new();
        }
        let shared = &self.inner.shared;
        shared
            .metrics
            .collect(shared.live.local(), self.inner.reporter.health(), None)
    }

    /// Events the reporter has dropped so far.
    pub fn dropped_events(&self) -> u64 {
        self.inner.reporter.dropped()
    }

    /// The reporter's counters: events queued, sent and dropped, intake requests.
    pub fn health(&self) -> Health {
        self.inner.reporter.health()
    }

    /// Sends everything recorded so far, waiting at most `timeout`; `true` when it was
    /// delivered. Runs on any async runtime (the work happens on the reporter thread).
    pub fn flush(&self, timeout: Duration) -> Flush {
        self.inner.reporter.flush(timeout)
    }

    /// Flushes, then stops sending: call it once, when the application stops (after
    /// `axum::serve(..).with_graceful_shutdown(..)` returns). Without it, dropping the
    /// last handle to the agent gives the reporter thread a few seconds to send what
    /// is queued, which a process that exits right away does not wait for.
    pub fn shutdown(&self, timeout: Duration) -> Flush {
        self.inner.reporter.shutdown(timeout)
    }

    /// Whether transactions keep the timing of spans they do not send.
    pub(crate) fn records_breakdown(&self) -> bool {
        self.inner.shared.breakdown
    }

    pub(crate) fn is_backlogged(&self) -> bool {
        self.inner.reporter.is_backlogged()
    }

    /// Counts an event as dropped before it is built when the reporter has no room for
    /// it; never when breakdown metrics are worked out from events as they are handed
    /// over (they would miss it).
    pub(crate) fn drop_if_backlogged(&self, kind: crate::report::EventKind) -> bool {
        !self.inner.observe_events && self.inner.reporter.drop_if_backlogged(kind)
    }

    pub(crate) fn report(&self, event: crate::model::Event) {
        if self.inner.observe_events {
            self.inner.shared.metrics.breakdown.observe(&event);
        }
        self.inner.reporter.report(event);
    }
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("service_name", &self.config().service_name)
            .field("recording", &self.is_recording())
            .finish_non_exhaustive()
    }
}

/// Builds an [`Agent`]. Values set here are overridden by `ELASTIC_APM_*` environment
/// variables (the spec's precedence) unless [`read_env(false)`](Self::read_env).
#[must_use]
pub struct AgentBuilder {
    config: Config,
    read_env: bool,
    reporter: Option<Arc<dyn Reporter>>,
}

impl Default for AgentBuilder {
    fn default() -> Self {
        AgentBuilder {
            config: Config::default(),
            read_env: true,
            reporter: None,
        }
    }
}

impl fmt::Debug for AgentBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentBuilder")
            .field("config", &self.config)
            .field("read_env", &self.read_env)
            .finish_non_exhaustive()
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty => |$c:ident, $v:ident| $body:expr;)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, $v: $ty) -> Self {
            let $c = &mut self.config;
            $body;
            self
        }
    )*};
}

impl AgentBuilder {
    setters! {
        /// `service_name` (characters outside `[a-zA-Z0-9 _-]` become `_`).
        service_name: impl AsRef<str> => |c, v| c.service_name = crate::config::sanitize_service_name(v.as_ref());
        /// `service_version`.
        service_version: impl Into<String> => |c, v| c.service_version = Some(v.into());
        /// `service_node_name`.
        service_node_name: impl Into<String> => |c, v| c.service_node_name = Some(v.into());
        /// `environment`.
        environment: impl Into<String> => |c, v| c.environment = Some(v.into());
        /// `enabled`: false makes the agent do nothing.
        enabled: bool => |c, v| c.enabled = v;
        /// `recording`: false records nothing but keeps trace propagation.
        recording: bool => |c, v| c.recording = v;
        /// `server_url` (an `http://` or `https://` URL without credentials; anything else
        /// is logged and ignored).
        server_url: impl AsRef<str> => |c, v| if let Err(err) = c.apply("server_url", v.as_ref()) {
            crate::logging::warning!("{err}");
        };
        /// `secret_token`.
        secret_token: impl Into<String> => |c, v| c.secret_token = Some(crate::config::Secret::new(v));
        /// `api_key`.
        api_key: impl Into<String> => |c, v| c.api_key = Some(crate::config::Secret::new(v));
        /// `transaction_sample_rate`.
        transaction_sample_rate: crate::SampleRate => |c, v| c.transaction_sample_rate = v;
        /// `transaction_max_spans`.
        transaction_max_spans: u32 => |c, v| c.transaction_max_spans = v;
        /// `sanitize_field_names`.
        sanitize_field_names: crate::WildcardMatchers => |c, v| c.sanitize_field_names = v;
        /// `transaction_ignore_urls`.
        transaction_ignore_urls: crate::WildcardMatchers => |c, v| c.transaction_ignore_urls = v;
        /// `trace_continuation_strategy`.
        trace_continuation_strategy: crate::TraceContinuationStrategy => |c, v| c.trace_continuation_strategy = v;
        /// A global label, sent with every event.
        global_label: (&str, impl Into<crate::model::LabelValue>) => |c, v| c.global_labels.insert(v.0, v.1);
        /// `capture_body`.
        capture_body: crate::CaptureBody => |c, v| c.capture_body = v;
        /// `capture_headers`.
        capture_headers: bool => |c, v| c.capture_headers = v;
        /// `long_field_max_length`.
        long_field_max_length: usize => |c, v| c.long_field_max_length = v.max(1);
        /// `stack_trace_limit` (0 disables stack traces on errors).
        stack_trace_limit: usize => |c, v| c.stack_trace_limit = v;
        /// `hostname`: the host name to report instead of the detected one.
        hostname: impl Into<String> => |c, v| c.hostname = Some(v.into());
        /// `verify_server_cert`: false accepts any certificate from APM Server.
        verify_server_cert: bool => |c, v| c.verify_server_cert = v;
        /// `server_ca_cert_file`: a PEM file of CA certificates to trust for APM Server.
        server_ca_cert_file: impl Into<std::path::PathBuf> => |c, v| c.server_ca_cert_file = Some(v.into());
        /// `server_timeout`: how long APM Server may take to answer (zero is ignored).
        server_timeout: Duration => |c, v| if !v.is_zero() { c.server_timeout = v };
        /// `api_request_time`: the longest an intake request stays open (zero is ignored).
        api_request_time: Duration => |c, v| if !v.is_zero() { c.api_request_time = v };
        /// `api_request_size`: compressed bytes after which an intake request is closed.
        api_request_size: u64 => |c, v| c.api_request_size = v.max(1);
        /// `max_queue_size`: events that may wait for the reporter; more are dropped.
        max_queue_size: usize => |c, v| c.max_queue_size = v.max(1);
        /// `central_config`: whether to poll APM Server for configuration from Kibana.
        central_config: bool => |c, v| c.central_config = v;
        /// `cloud_provider`: which cloud metadata service to ask.
        cloud_provider: crate::CloudProvider => |c, v| c.cloud_provider = v;
        /// `disable_send`: record everything, never contact APM Server.
        disable_send: bool => |c, v| c.disable_send = v;
        /// `exit_span_min_duration`: exit spans faster than this are dropped (and counted
        /// in `dropped_spans_stats`) unless they failed or propagated the trace.
        exit_span_min_duration: Duration => |c, v| c.exit_span_min_duration = v;
        /// `span_compression_enabled`: compress consecutive similar exit spans.
        span_compression_enabled: bool => |c, v| c.span_compression_enabled = v;
        /// `span_compression_exact_match_max_duration`.
        span_compression_exact_match_max_duration: Duration => |c, v| c.span_compression_exact_match_max_duration = v;
        /// `span_compression_same_kind_max_duration` (zero: no same-kind compression).
        span_compression_same_kind_max_duration: Duration => |c, v| c.span_compression_same_kind_max_duration = v;
        /// `span_stack_trace_min_duration`: spans at least this long get a stack trace
        /// (`None`: never; zero: always).
        span_stack_trace_min_duration: Option<Duration> => |c, v| c.span_stack_trace_min_duration = v;
        /// `metrics_interval`: how often metrics are sent (zero: never).
        metrics_interval: Duration => |c, v| c.metrics_interval = v;
        /// `disable_metrics`: metric names (wildcards allowed) not to send.
        disable_metrics: crate::WildcardMatchers => |c, v| c.disable_metrics = v;
        /// `breakdown_metrics`: record time spent per span type (`span.self_time.*`).
        breakdown_metrics: bool => |c, v| c.breakdown_metrics = v;
        /// `log_level` of the agent's own log lines.
        log_level: crate::LogLevel => |c, v| c.log_level = v;
    }

    /// Sets any option by its spec name and string value, as an environment variable
    /// would (`option("transaction_sample_rate", "0.1")`).
    pub fn option(mut self, name: &str, value: &str) -> Result<Self, crate::ConfigError> {
        self.config.apply(name, value)?;
        Ok(self)
    }

    /// Whether `ELASTIC_APM_*` variables override the values set here (default true).
    pub fn read_env(mut self, read: bool) -> Self {
        self.read_env = read;
        self
    }

    /// Where finished events go, instead of APM Server (tests, custom pipelines).
    /// See [`Reporter::wants_breakdown_metrics`] for breakdown metrics.
    pub fn reporter(mut self, reporter: impl Reporter) -> Self {
        self.reporter = Some(Arc::new(reporter));
        self
    }

    /// Same as [`reporter`](Self::reporter), for a reporter that is already shared.
    pub fn shared_reporter(mut self, reporter: Arc<dyn Reporter>) -> Self {
        self.reporter = Some(reporter);
        self
    }

    /// Builds the agent. Never fails: invalid environment values are logged and ignored.
    pub fn build(self) -> Agent {
        let AgentBuilder {
            mut config,
            read_env,
            reporter,
        } = self;
        if read_env {
            config.apply_env(
                std::env::vars_os()
                    .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
            );
        }
        let metadata = metadata::build(&config);
        let enabled = config.enabled;
        if enabled {
            crate::clock::calibrate();
        }
        let send = enabled && !config.disable_send;
        // Breakdown metrics are worked out by the transport when metrics are sent, or
        // by the agent for a custom reporter that asks for them.
        let breakdown = config.breakdown_metrics
            && match &reporter {
                Some(reporter) => reporter.wants_breakdown_metrics(),
                None => send && !config.metrics_interval.is_zero(),
            };
        let observe_events = breakdown && reporter.is_some();
        let shared = Arc::new(Shared::new(config, metadata, breakdown));
        let reporter = reporter.unwrap_or_else(|| {
            if !send {
                return Arc::new(DiscardReporter::default());
            }
            match crate::transport::Transport::start(shared.clone()) {
                Ok(transport) => Arc::new(transport),
                Err(err) => {
                    crate::logging::error!(
                        "APM Server transport not started, events will be dropped: {err}"
                    );
                    Arc::new(DiscardReporter::default())
                }
            }
        });
        Agent {
            inner: Arc::new(AgentInner {
                enabled,
                shared,
                reporter,
                observe_events,
            }),
        }
    }
}

/// Microseconds since the Unix epoch, now.
pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

pub(crate) fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

pub(crate) fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
