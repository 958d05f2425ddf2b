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
        // Command lines often carry secrets; not sent.
        argv: Vec::new(),
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

#[cfg(unix)]
fn parent_pid() -> Option<u32> {
    Some(std::os::unix::process::parent_id())
}

#[cfg(not(unix))]
fn parent_pid() -> Option<u32> {
    None
}
