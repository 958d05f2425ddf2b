//! The `metadata` object that starts every intake request.

use serde::Serialize;

use super::labels::Labels;
use super::limits::{keyword, opt_keyword};

/// Who sends the events: service, process, system.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Metadata {
    /// The service.
    pub service: Service,
    /// The process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    /// The host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<System>,
    /// The cloud it runs in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud: Option<Cloud>,
    /// Global labels, applied to every event.
    #[serde(skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
}

/// A name and a version, as of a language, runtime or framework.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct NameVersion {
    /// The name.
    #[serde(serialize_with = "keyword")]
    pub name: String,
    /// The version.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub version: Option<String>,
}

impl NameVersion {
    /// A name with an optional version.
    pub fn new(name: impl Into<String>, version: Option<String>) -> Self {
        NameVersion {
            name: name.into(),
            version,
        }
    }
}

/// `metadata.service`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Service {
    /// The service name (`^[a-zA-Z0-9 _-]+$`).
    #[serde(serialize_with = "keyword")]
    pub name: String,
    /// The deployed version.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub version: Option<String>,
    /// `production`, `staging`, ...
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub environment: Option<String>,
    /// This agent.
    pub agent: AgentInfo,
    /// The language (`Rust`).
    pub language: NameVersion,
    /// The runtime (`Rust` and the compiler version).
    pub runtime: Runtime,
    /// The web framework, once an integration reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub framework: Option<NameVersion>,
    /// The node, for services with several instances.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<ServiceNode>,
}

/// `metadata.service.agent`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AgentInfo {
    /// The agent name, `rust`.
    #[serde(serialize_with = "keyword")]
    pub name: String,
    /// The agent version.
    #[serde(serialize_with = "keyword")]
    pub version: String,
    /// Random id of this agent instance.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub ephemeral_id: Option<String>,
    /// How the agent was set up (`code` for a library).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub activation_method: Option<String>,
}

/// `metadata.service.runtime` (both fields required by the schema).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Runtime {
    /// The runtime name.
    #[serde(serialize_with = "keyword")]
    pub name: String,
    /// The runtime version.
    #[serde(serialize_with = "keyword")]
    pub version: String,
}

/// `metadata.service.node`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ServiceNode {
    /// `service_node_name` from the configuration.
    #[serde(serialize_with = "keyword")]
    pub configured_name: String,
}

/// `metadata.process`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ppid: Option<u32>,
    /// The executable's name.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub title: Option<String>,
    /// Command-line arguments (not sent by default: they may hold secrets).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
}

/// `metadata.system`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct System {
    /// CPU architecture.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub architecture: Option<String>,
    /// Operating system.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub platform: Option<String>,
    /// The host name found on the machine.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub detected_hostname: Option<String>,
    /// The host name from `hostname` in the configuration.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub configured_hostname: Option<String>,
    /// The container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    /// Kubernetes placement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<Kubernetes>,
}

/// `metadata.system.container`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Container {
    /// Container id.
    #[serde(serialize_with = "keyword")]
    pub id: String,
}

impl Container {
    /// A container with the given id.
    pub fn new(id: impl Into<String>) -> Self {
        Container { id: id.into() }
    }
}

/// `metadata.system.kubernetes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Kubernetes {
    /// Namespace.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub namespace: Option<String>,
    /// Node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<KubernetesName>,
    /// Pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<KubernetesPod>,
}

/// A Kubernetes object known by name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct KubernetesName {
    /// Name.
    #[serde(serialize_with = "keyword")]
    pub name: String,
}

impl KubernetesName {
    /// An object with the given name.
    pub fn new(name: impl Into<String>) -> Self {
        KubernetesName { name: name.into() }
    }
}

/// `metadata.system.kubernetes.pod`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct KubernetesPod {
    /// Pod name.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub name: Option<String>,
    /// Pod uid.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub uid: Option<String>,
}

/// `metadata.cloud`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Cloud {
    /// `aws`, `gcp`, `azure`.
    #[serde(serialize_with = "keyword")]
    pub provider: String,
    /// Region.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub region: Option<String>,
    /// Availability zone.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub availability_zone: Option<String>,
    /// The account (AWS account, Azure subscription).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<CloudIdName>,
    /// The VM or instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<CloudIdName>,
    /// The machine type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine: Option<CloudMachine>,
    /// The project (GCP project, Azure resource group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<CloudIdName>,
    /// The cloud service (`functions` for Azure Functions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<CloudService>,
}

impl Cloud {
    /// Metadata for `provider` with every optional field unset.
    pub fn new(provider: impl Into<String>) -> Self {
        Cloud {
            provider: provider.into(),
            region: None,
            availability_zone: None,
            account: None,
            instance: None,
            machine: None,
            project: None,
            service: None,
        }
    }
}

/// `metadata.cloud.account`, `.instance` and `.project`: an id and a name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CloudIdName {
    /// Id.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub id: Option<String>,
    /// Name.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub name: Option<String>,
}

impl CloudIdName {
    /// An id and a name; `None` when both are unset, so that empty objects are not sent.
    pub fn new(id: Option<String>, name: Option<String>) -> Option<Self> {
        (id.is_some() || name.is_some()).then_some(CloudIdName { id, name })
    }
}

/// `metadata.cloud.machine`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CloudMachine {
    /// Machine type, as `t2.medium`.
    #[serde(
        rename = "type",
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub machine_type: Option<String>,
}

impl CloudMachine {
    /// A machine of the given type.
    pub fn new(machine_type: impl Into<String>) -> Self {
        CloudMachine {
            machine_type: Some(machine_type.into()),
        }
    }
}

/// `metadata.cloud.service`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CloudService {
    /// Service name, as `functions`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub name: Option<String>,
}

impl CloudService {
    /// A service with the given name.
    pub fn new(name: impl Into<String>) -> Self {
        CloudService {
            name: Some(name.into()),
        }
    }
}
