//! The agent and its tracer API: transactions, spans, errors.

mod capture;
mod metadata;
mod segment;
mod span;
mod transaction;

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) use self::capture::parse_backtrace;
pub use self::capture::{AsDynError, ErrorBuilder};
pub use self::segment::Segment;
pub use self::span::{Span, SpanBuilder};
pub use self::transaction::{Transaction, TransactionBuilder};
use crate::config::Config;
use crate::model::Metadata;
use crate::report::{DiscardReporter, Reporter};
use crate::sanitize::Sanitizer;

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
    config: Config,
    /// `enabled && recording`, read on every transaction start.
    active: bool,
    reporter: Arc<dyn Reporter>,
    metadata: Metadata,
    sanitizer: Sanitizer,
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

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The metadata sent at the start of every intake request.
    pub fn metadata(&self) -> &Metadata {
        &self.inner.metadata
    }

    /// The sanitizer built from `sanitize_field_names`, for integrations that record
    /// headers, cookies or form bodies.
    pub fn sanitizer(&self) -> &Sanitizer {
        &self.inner.sanitizer
    }

    /// Whether the agent records anything (`enabled` and `recording`).
    pub fn is_recording(&self) -> bool {
        self.inner.active
    }

    /// Whether a request path matches `transaction_ignore_urls`, so HTTP integrations
    /// start no transaction for it.
    pub fn ignores_url(&self, path: &str) -> bool {
        self.inner.config.transaction_ignore_urls.matches_any(path)
    }

    /// Whether a `User-Agent` matches `transaction_ignore_user_agents`.
    pub fn ignores_user_agent(&self, user_agent: &str) -> bool {
        self.inner
            .config
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

    /// Configures an error to capture: its parent, whether it was handled.
    pub fn error<'a, E>(&'a self, error: &'a E) -> ErrorBuilder<'a>
    where
        E: AsDynError + ?Sized,
    {
        ErrorBuilder::new(self, error)
    }

    /// Events the reporter has dropped so far.
    pub fn dropped_events(&self) -> u64 {
        self.inner.reporter.dropped()
    }

    pub(crate) fn report(&self, event: crate::model::Event) {
        self.inner.reporter.report(event);
    }
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("service_name", &self.inner.config.service_name)
            .field("recording", &self.inner.active)
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
        /// `server_url`.
        server_url: impl Into<String> => |c, v| c.server_url = v.into();
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

    /// Where finished events go. Without one (and until the APM Server transport is
    /// configured) events are dropped and counted.
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
        let sanitizer = Sanitizer::new(config.sanitize_field_names.clone());
        let reporter = reporter.unwrap_or_else(|| Arc::new(DiscardReporter::default()));
        Agent {
            inner: Arc::new(AgentInner {
                active: config.enabled && config.recording,
                config,
                reporter,
                metadata,
                sanitizer,
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
