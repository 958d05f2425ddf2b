//! Builds the `metadata` object from the configuration and the machine.

use crate::config::Config;
use crate::discovery::{container, hostname};
use crate::model::{
    AgentInfo, Container, Metadata, NameVersion, Process, Runtime, Service, ServiceNode, System,
};

/// The agent name sent to APM Server.
pub(crate) const AGENT_NAME: &str = "rust";
/// This crate's version.
pub(crate) const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The compiler that built the agent, recorded by the build script.
const RUSTC_VERSION: &str = env!("ELASTIC_APM_RUSTC_VERSION");

pub(super) fn build(config: &Config) -> Metadata {
    let process = Process {
        pid: std::process::id(),
        ppid: parent_pid(),
        title: std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())),
        argv: sanitized_argv(
            std::env::args_os().map(|a| a.to_string_lossy().into_owned()),
            &crate::sanitize::Sanitizer::new(config.sanitize_field_names.clone()),
        ),
    };
    let hostname = hostname::detect();
    let container = container::discover();
    let system = System {
        architecture: Some(std::env::consts::ARCH.to_owned()),
        platform: Some(std::env::consts::OS.to_owned()),
        kubernetes: container::kubernetes(&container, hostname.as_deref(), |name| {
            std::env::var(name).ok()
        }),
        container: container.container_id.map(Container::new),
        detected_hostname: hostname,
        configured_hostname: config.hostname.clone(),
    };
    Metadata {
        service: Service {
            name: config.service_name.clone(),
            version: config.service_version.clone(),
            environment: config.environment.clone(),
            agent: AgentInfo {
                name: AGENT_NAME.to_owned(),
                version: AGENT_VERSION.to_owned(),
                ephemeral_id: Some(crate::ids::TraceId::generate().to_string()),
                activation_method: None,
            },
            language: NameVersion::new("Rust", Some(RUSTC_VERSION.to_owned())),
            runtime: Runtime {
                name: "Rust".to_owned(),
                version: RUSTC_VERSION.to_owned(),
            },
            framework: None,
            node: config
                .service_node_name
                .clone()
                .map(|configured_name| ServiceNode { configured_name }),
        },
        process: Some(process),
        system: Some(system),
        cloud: None,
        labels: config.global_labels.clone(),
    }
}

/// Arguments kept, at most; each is cut to the keyword length.
const MAX_ARGS: usize = 64;

/// The command line, with the values of options named like secrets redacted:
/// `--password=x`, `token=x` and `--api-key x` (a flag and the argument after it).
fn sanitized_argv(
    args: impl Iterator<Item = String>,
    sanitizer: &crate::sanitize::Sanitizer,
) -> Vec<String> {
    let is_secret = |name: &str| {
        let name = name.trim_start_matches('-');
        !name.is_empty() && sanitizer.is_sensitive(name)
    };
    let mut redact_next = false;
    args.take(MAX_ARGS)
        .map(|arg| {
            if std::mem::take(&mut redact_next) {
                return crate::sanitize::REDACTED.to_owned();
            }
            let arg = crate::model::limits::truncate(&arg, crate::model::limits::KEYWORD_MAX_CHARS)
                .into_owned();
            match arg.split_once('=') {
                Some((name, _)) if is_secret(name) => {
                    format!("{name}={}", crate::sanitize::REDACTED)
                }
                Some(_) => arg,
                None => {
                    redact_next = arg.starts_with('-') && is_secret(&arg);
                    arg
                }
            }
        })
        .collect()
}

#[cfg(unix)]
fn parent_pid() -> Option<u32> {
    Some(std::os::unix::process::parent_id())
}

#[cfg(not(unix))]
fn parent_pid() -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_on_the_command_line_are_redacted() {
        let sanitizer = crate::sanitize::Sanitizer::new(Config::default().sanitize_field_names);
        let args = [
            "shop",
            "--port=80",
            "--password=hunter2",
            "--api-key",
            "k3y",
            "token=t",
            "-v",
        ];
        let argv = sanitized_argv(args.iter().map(|s| s.to_string()), &sanitizer);
        assert_eq!(
            argv,
            [
                "shop",
                "--port=80",
                "--password=[REDACTED]",
                "--api-key",
                "[REDACTED]",
                "token=[REDACTED]",
                "-v"
            ]
        );
        assert_eq!(
            sanitized_argv((0..1000).map(|i| i.to_string()), &sanitizer).len(),
            MAX_ARGS
        );
    }
}
