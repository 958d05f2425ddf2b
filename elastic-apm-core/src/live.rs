//! The configuration in force, which central configuration changes while the
//! application runs, and what the agent learned about APM Server.
//!
//! Reading it is lock-free ([`arc_swap`]): transactions take a snapshot at start
//! (the spec's configuration snapshotting) without touching a lock shared by requests.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::model::{Cloud, Metadata, NameVersion};
use crate::sanitize::Sanitizer;

/// What the tracer and the transport share: the live configuration and the metadata,
/// parts of which (framework, cloud) are learned after start-up.
pub(crate) struct Shared {
    pub(crate) live: LiveConfig,
    pub(crate) metrics: crate::metrics::Metrics,
    /// Breakdown metrics are worked out (by the transport, or as a custom reporter
    /// asks): spans not sent keep their timing for them. Set once at start.
    pub(crate) breakdown: bool,
    metadata: Metadata,
    framework: OnceLock<NameVersion>,
    cloud: OnceLock<Cloud>,
}

impl Shared {
    pub(crate) fn new(config: Config, metadata: Metadata, breakdown: bool) -> Self {
        Shared {
            live: LiveConfig::new(config),
            metrics: crate::metrics::Metrics::new(),
            breakdown,
            metadata,
            framework: OnceLock::new(),
            cloud: OnceLock::new(),
        }
    }

    /// The metadata as known now.
    pub(crate) fn metadata(&self) -> Metadata {
        let mut metadata = self.metadata.clone();
        if let Some(framework) = self.framework.get() {
            metadata.service.framework = Some(framework.clone());
        }
        if let Some(cloud) = self.cloud.get() {
            metadata.cloud = Some(cloud.clone());
        }
        // metadata.md: SHOULD be sent, MUST NOT be to 8.7.0 (an APM Server bug there).
        if self.live.server_version() != Some(ServerVersion::new(8, 7, 0)) {
            metadata.service.agent.activation_method = Some("unknown".to_owned());
        }
        metadata
    }

    /// Records the framework; the first integration to say wins.
    pub(crate) fn set_framework(&self, framework: NameVersion) {
        let _ = self.framework.set(framework);
    }

    pub(crate) fn set_cloud(&self, cloud: Cloud) {
        let _ = self.cloud.set(cloud);
    }
}

/// Options central configuration may change at run time. Others are reported as
/// unsupported, as the spec asks.
pub(crate) const DYNAMIC_OPTIONS: &[&str] = &[
    "capture_body",
    "capture_headers",
    "exit_span_min_duration",
    "log_level",
    "recording",
    "sanitize_field_names",
    "span_compression_enabled",
    "span_compression_exact_match_max_duration",
    "span_compression_same_kind_max_duration",
    "span_stack_trace_min_duration",
    "stack_trace_limit",
    "trace_continuation_strategy",
    "transaction_ignore_urls",
    "transaction_ignore_user_agents",
    "transaction_max_spans",
    "transaction_sample_rate",
];

pub(crate) struct Snapshot {
    config: Config,
    sanitizer: Sanitizer,
}

impl Snapshot {
    fn new(config: Config) -> Self {
        crate::logging::set_level(config.log_level);
        let sanitizer = Sanitizer::new(config.sanitize_field_names.clone());
        Snapshot { config, sanitizer }
    }
}

/// The configuration in force now: local options with central configuration applied.
/// Derefs to [`Config`]; hold it briefly (it pins one version of the configuration).
pub struct ConfigSnapshot(arc_swap::Guard<Arc<Snapshot>>);

impl ConfigSnapshot {
    /// The sanitizer built from `sanitize_field_names`, for integrations that record
    /// headers, cookies or form bodies.
    pub fn sanitizer(&self) -> &Sanitizer {
        &self.0.sanitizer
    }
}

impl Deref for ConfigSnapshot {
    type Target = Config;

    fn deref(&self) -> &Config {
        &self.0.config
    }
}

impl fmt::Debug for ConfigSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0.config, f)
    }
}

/// What central configuration did with one response.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct CentralOutcome {
    pub(crate) unsupported: Vec<String>,
    pub(crate) invalid: Vec<String>,
}

pub(crate) struct LiveConfig {
    local: Config,
    current: ArcSwap<Snapshot>,
    /// `recording` of `current`, kept beside it: asked on every request, and a load of
    /// the snapshot costs two atomic read-modify-writes.
    recording: AtomicBool,
    /// APM Server's version as `major << 16 | minor << 8 | patch` (saturating), 0 = not known.
    server_version: AtomicU32,
}

impl LiveConfig {
    pub(crate) fn new(local: Config) -> Self {
        LiveConfig {
            current: ArcSwap::from_pointee(Snapshot::new(local.clone())),
            recording: AtomicBool::new(local.recording),
            local,
            server_version: AtomicU32::new(0),
        }
    }

    pub(crate) fn load(&self) -> ConfigSnapshot {
        ConfigSnapshot(self.current.load())
    }

    /// `recording` as central configuration last set it.
    pub(crate) fn is_recording(&self) -> bool {
        self.recording.load(Ordering::Relaxed)
    }

    /// The configuration set in code and environment, before central configuration.
    pub(crate) fn local(&self) -> &Config {
        &self.local
    }

    /// Replaces the central configuration: local values with `central` on top, so an
    /// option removed in Kibana goes back to its local value.
    pub(crate) fn apply_central(&self, central: &BTreeMap<String, String>) -> CentralOutcome {
        let mut config = self.local.clone();
        let mut outcome = CentralOutcome::default();
        for (name, value) in central {
            if !DYNAMIC_OPTIONS.contains(&name.as_str()) {
                outcome.unsupported.push(name.clone());
                continue;
            }
            if let Err(err) = config.apply(name, value) {
                outcome.invalid.push(err.to_string());
            }
        }
        self.recording.store(config.recording, Ordering::Relaxed);
        self.current.store(Arc::new(Snapshot::new(config)));
        outcome
    }

    pub(crate) fn set_server_version(&self, version: ServerVersion) {
        self.server_version.store(version.0, Ordering::Relaxed);
    }

    pub(crate) fn server_version(&self) -> Option<ServerVersion> {
        match self.server_version.load(Ordering::Relaxed) {
            0 => None,
            v => Some(ServerVersion(v)),
        }
    }
}

/// An APM Server version, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion(u32);

impl ServerVersion {
    /// A version from its parts (each saturating at 255, plenty for ordering).
    pub fn new(major: u32, minor: u32, patch: u32) -> Self {
        let part = |v: u32| v.min(255);
        ServerVersion(part(major) << 16 | part(minor) << 8 | part(patch))
    }

    /// Parses `8.15.2`, `8.15.2-SNAPSHOT` or `7.17`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        let core = s.trim().split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
        let major = parts.next()??;
        let minor = parts.next().flatten().unwrap_or(0);
        let patch = parts.next().flatten().unwrap_or(0);
        (major > 0).then(|| ServerVersion::new(major, minor, patch))
    }

    /// The major version.
    pub fn major(self) -> u32 {
        self.0 >> 16
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}",
            self.0 >> 16,
            (self.0 >> 8) & 0xff,
            self.0 & 0xff
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn central_values_override_and_removal_reverts() {
        let local = Config {
            transaction_max_spans: 7,
            ..Config::default()
        };
        let live = LiveConfig::new(local);
        let mut central = BTreeMap::new();
        central.insert("transaction_max_spans".to_owned(), "3".to_owned());
        central.insert("transaction_sample_rate".to_owned(), "1.5".to_owned());
        central.insert("server_url".to_owned(), "http://evil".to_owned());
        let outcome = live.apply_central(&central);
        assert_eq!(live.load().transaction_max_spans, 3);
        assert_eq!(outcome.unsupported, ["server_url"]);
        assert_eq!(outcome.invalid.len(), 1, "{outcome:?}");
        assert_eq!(live.load().transaction_sample_rate.get(), 1.0);

        live.apply_central(&BTreeMap::new());
        assert_eq!(live.load().transaction_max_spans, 7);

        central.insert("recording".to_owned(), "false".to_owned());
        live.apply_central(&central);
        assert!(!live.is_recording() && !live.load().recording);
        live.apply_central(&BTreeMap::new());
        assert!(live.is_recording());
    }

    #[test]
    fn server_versions() {
        let v = ServerVersion::parse("8.15.2-SNAPSHOT").unwrap();
        assert_eq!(v.to_string(), "8.15.2");
        assert_eq!(v.major(), 8);
        assert!(ServerVersion::parse("7.17").unwrap() < ServerVersion::new(8, 0, 0));
        assert_eq!(ServerVersion::parse("banana"), None);
        assert_eq!(ServerVersion::parse(""), None);
    }
}
