//! Cloud provider metadata (metadata.md, "Cloud Provider Metadata"): the metadata
//! endpoints, and parsers from their response bodies (or, on Azure App Service and
//! Functions, the environment) to `metadata.cloud`. Fetching is done elsewhere.

use serde_json::Value;

use crate::model::{Cloud, CloudIdName, CloudMachine, CloudService};

/// AWS IMDSv2: `PUT` here for a session token.
pub(crate) const AWS_TOKEN_URL: &str = "http://169.254.169.254/latest/api/token";
/// Header (and value) of the token request: the token's lifetime in seconds.
pub(crate) const AWS_TOKEN_TTL_HEADER: (&str, &str) =
    ("X-aws-ec2-metadata-token-ttl-seconds", "300");
/// AWS: `GET` the instance identity document here, for [`parse_aws`].
pub(crate) const AWS_IDENTITY_URL: &str =
    "http://169.254.169.254/latest/dynamic/instance-identity/document";
/// Header carrying the session token on the identity document request.
pub(crate) const AWS_TOKEN_HEADER: &str = "X-aws-ec2-metadata-token";
/// GCP: `GET` the whole metadata tree here, for [`parse_gcp`].
pub(crate) const GCP_METADATA_URL: &str =
    "http://metadata.google.internal/computeMetadata/v1/?recursive=true";
/// Header (and value) required by the GCP metadata server.
pub(crate) const GCP_HEADER: (&str, &str) = ("Metadata-Flavor", "Google");
/// Azure IMDS: `GET` the compute document here, for [`parse_azure`].
pub(crate) const AZURE_METADATA_URL: &str =
    "http://169.254.169.254/metadata/instance/compute?api-version=2019-08-15";
/// Header (and value) required by Azure IMDS.
pub(crate) const AZURE_HEADER: (&str, &str) = ("Metadata", "true");

/// From the AWS instance identity document. `None` unless it is a JSON object holding
/// at least one known field.
pub(crate) fn parse_aws(identity_document: &str) -> Option<Cloud> {
    let doc: Value = serde_json::from_str(identity_document).ok()?;
    let field = |key| text(&doc[key]);
    known(Cloud {
        account: CloudIdName::new(field("accountId"), None),
        instance: CloudIdName::new(field("instanceId"), None),
        availability_zone: field("availabilityZone"),
        machine: field("instanceType").map(CloudMachine::new),
        region: field("region"),
        ..Cloud::new("aws")
    })
}

/// From the recursive GCP metadata document. The instance id is a JSON integer beyond
/// 2^53; serde_json reads it exactly as a `u64`.
pub(crate) fn parse_gcp(document: &str) -> Option<Cloud> {
    let doc: Value = serde_json::from_str(document).ok()?;
    let instance = &doc["instance"];
    let last_segment = |key| text(&instance[key]).and_then(|v| last_part(&v, '/'));
    let zone = last_segment("zone");
    known(Cloud {
        instance: CloudIdName::new(text(&instance["id"]), text(&instance["name"])),
        project: CloudIdName::new(text(&doc["project"]["projectId"]), None),
        machine: last_segment("machineType").map(CloudMachine::new),
        // `us-west1-b` is in region `us-west1`.
        region: zone
            .as_deref()
            .and_then(|z| z.rsplit_once('-'))
            .map(|(region, _)| region.to_owned()),
        availability_zone: zone,
        ..Cloud::new("gcp")
    })
}

/// From the Azure IMDS compute document.
pub(crate) fn parse_azure(compute_document: &str) -> Option<Cloud> {
    let doc: Value = serde_json::from_str(compute_document).ok()?;
    let field = |key| text(&doc[key]);
    known(Cloud {
        account: CloudIdName::new(field("subscriptionId"), None),
        instance: CloudIdName::new(field("vmId"), field("name")),
        project: CloudIdName::new(None, field("resourceGroupName")),
        availability_zone: field("zone"),
        machine: field("vmSize").map(CloudMachine::new),
        region: field("location"),
        ..Cloud::new("azure")
    })
}

/// Azure Functions or, failing that, App Service metadata from the environment: what
/// the agent has on Azure PaaS, where IMDS is out of reach.
pub fn azure_from_env(env: impl Fn(&str) -> Option<String>) -> Option<Cloud> {
    azure_functions(&env).or_else(|| azure_app_service(&env))
}

/// Azure App Service, from `WEBSITE_*` variables; `None` unless all four are set.
pub(crate) fn azure_app_service(env: impl Fn(&str) -> Option<String>) -> Option<Cloud> {
    let env = non_empty(env);
    let owner = OwnerName::parse(&env("WEBSITE_OWNER_NAME")?)?;
    let project = env("WEBSITE_RESOURCE_GROUP")?;
    let site = env("WEBSITE_SITE_NAME")?;
    let instance = env("WEBSITE_INSTANCE_ID")?;
    Some(Cloud {
        account: CloudIdName::new(Some(owner.subscription), None),
        instance: CloudIdName::new(Some(instance), Some(site)),
        project: CloudIdName::new(None, Some(project)),
        region: owner.region,
        ..Cloud::new("azure")
    })
}

/// Azure Functions (consumption and premium plans), recognised by
/// `FUNCTIONS_EXTENSION_VERSION`; `cloud.service.name` is `functions`.
pub(crate) fn azure_functions(env: impl Fn(&str) -> Option<String>) -> Option<Cloud> {
    let env = non_empty(env);
    env("FUNCTIONS_EXTENSION_VERSION")?;
    let owner = OwnerName::parse(&env("WEBSITE_OWNER_NAME")?)?;
    let site = env("WEBSITE_SITE_NAME")?;
    Some(Cloud {
        account: CloudIdName::new(Some(owner.subscription), None),
        instance: CloudIdName::new(None, Some(site)),
        project: CloudIdName::new(None, env("WEBSITE_RESOURCE_GROUP").or(owner.resource_group)),
        region: env("REGION_NAME").or(owner.region),
        service: Some(CloudService::new("functions")),
        ..Cloud::new("azure")
    })
}

/// `WEBSITE_OWNER_NAME`: `{subscription}+{resource group}-{region}webspace{.*}`.
#[derive(Debug, PartialEq)]
struct OwnerName {
    subscription: String,
    resource_group: Option<String>,
    region: Option<String>,
}

impl OwnerName {
    /// `None` without the `+`, which the spec's cases treat as malformed.
    fn parse(value: &str) -> Option<Self> {
        let (subscription, website) = value.split_once('+')?;
        let (group, region) = website
            .split_once("webspace")
            .and_then(|(before, _)| before.rsplit_once('-'))
            .unzip();
        let owned = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
        Some(OwnerName {
            subscription: owned(Some(subscription))?,
            resource_group: owned(group),
            region: owned(region),
        })
    }
}

/// A non-empty string, or an integer as its decimal text.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

fn last_part(value: &str, separator: char) -> Option<String> {
    value
        .rsplit(separator)
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn non_empty(env: impl Fn(&str) -> Option<String>) -> impl Fn(&str) -> Option<String> {
    move |name| env(name).filter(|v| !v.is_empty())
}

/// `cloud` when any field besides the provider is known.
fn known(cloud: Cloud) -> Option<Cloud> {
    let empty = Cloud::new(cloud.provider.clone());
    (cloud != empty).then_some(cloud)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(cloud: &Cloud) -> Value {
        serde_json::to_value(cloud).unwrap()
    }

    #[test]
    fn aws_identity_document() {
        let doc = r#"{"accountId":"123456789012","architecture":"x86_64",
            "availabilityZone":"us-east-2a","imageId":"ami-1","instanceId":"i-0ae894a7c1c4f2a75",
            "instanceType":"t2.medium","privateIp":"10.0.0.1","region":"us-east-2","version":"2017-09-30"}"#;
        assert_eq!(
            json(&parse_aws(doc).unwrap()),
            serde_json::json!({
                "provider": "aws", "region": "us-east-2", "availability_zone": "us-east-2a",
                "account": {"id": "123456789012"}, "instance": {"id": "i-0ae894a7c1c4f2a75"},
                "machine": {"type": "t2.medium"}
            })
        );
    }

    #[test]
    fn gcp_metadata_document() {
        let doc = r#"{"instance":{"id":4306570268266786072,"machineType":"projects/513326162531/machineTypes/n1-standard-1",
            "name":"basepi-test","zone":"projects/513326162531/zones/us-west3-a","attributes":{}},
            "project":{"numericProjectId":513326162531,"projectId":"elastic-apm"}}"#;
        assert_eq!(
            json(&parse_gcp(doc).unwrap()),
            serde_json::json!({
                "provider": "gcp", "region": "us-west3", "availability_zone": "us-west3-a",
                "instance": {"id": "4306570268266786072", "name": "basepi-test"},
                "machine": {"type": "n1-standard-1"}, "project": {"id": "elastic-apm"}
            })
        );
        // Ids up to u64::MAX keep every digit; a string id is taken as is.
        let cloud = parse_gcp(r#"{"instance":{"id":18446744073709551615}}"#).unwrap();
        assert_eq!(json(&cloud)["instance"]["id"], "18446744073709551615");
        let cloud = parse_gcp(r#"{"instance":{"id":"123","zone":"nozone"}}"#).unwrap();
        assert_eq!(
            (cloud.availability_zone.as_deref(), cloud.region),
            (Some("nozone"), None)
        );
        // Beyond u64 it would be rounded: dropped instead.
        assert_eq!(parse_gcp(r#"{"instance":{"id":1e30}}"#), None);
    }

    #[test]
    fn azure_compute_document() {
        let doc = r#"{"location":"westus2","name":"basepi-test","resourceGroupName":"basepi-testing",
            "subscriptionId":"7657426d-c4c3-44ac-88a2-3b2cd59e6dba","vmId":"e11ebedc-019d-427f-84dd-56cd4388d3a8",
            "vmScaleSetName":"","vmSize":"Standard_D2s_v3","zone":""}"#;
        assert_eq!(
            json(&parse_azure(doc).unwrap()),
            serde_json::json!({
                "provider": "azure", "region": "westus2",
                "account": {"id": "7657426d-c4c3-44ac-88a2-3b2cd59e6dba"},
                "instance": {"id": "e11ebedc-019d-427f-84dd-56cd4388d3a8", "name": "basepi-test"},
                "project": {"name": "basepi-testing"}, "machine": {"type": "Standard_D2s_v3"}
            })
        );
    }

    #[test]
    fn hostile_documents_are_none() {
        let huge = format!("[{}]", "1,".repeat(1 << 18) + "1");
        let deep = "[".repeat(10_000);
        for body in [
            "",
            "null",
            "{}",
            "[]",
            "\"x\"",
            "{",
            "{\"accountId\":",
            "\u{fffd}",
            "{\"region\":\"\"}",
            r#"{"instance":null,"project":7}"#,
            r#"{"instance":{"zone":["a"]}}"#,
            &huge,
            &deep,
        ] {
            assert_eq!(parse_aws(body), None, "{body:.40}");
            assert_eq!(parse_gcp(body), None, "{body:.40}");
            assert_eq!(parse_azure(body), None, "{body:.40}");
        }
    }

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn owner_name() {
        let owner = OwnerName::parse("sub+my-group-WestEuropewebspace-Linux").unwrap();
        assert_eq!(owner.subscription, "sub");
        assert_eq!(owner.resource_group.as_deref(), Some("my-group"));
        assert_eq!(owner.region.as_deref(), Some("WestEurope"));
        let owner = OwnerName::parse("sub+nowebspacehere").unwrap();
        assert_eq!((owner.resource_group, owner.region), (None, None));
        assert_eq!(OwnerName::parse("sub-group-Regionwebspace"), None);
        assert_eq!(OwnerName::parse("+group-Regionwebspace"), None);
    }

    #[test]
    fn azure_app_service_and_functions() {
        let app = [
            ("WEBSITE_OWNER_NAME", "sub+group-Regionwebspace"),
            ("WEBSITE_RESOURCE_GROUP", "rg"),
            ("WEBSITE_SITE_NAME", "site"),
            ("WEBSITE_INSTANCE_ID", "inst"),
        ];
        let cloud = azure_from_env(env_of(&app)).unwrap();
        assert_eq!(
            json(&cloud),
            serde_json::json!({
                "provider": "azure", "region": "Region", "account": {"id": "sub"},
                "instance": {"id": "inst", "name": "site"}, "project": {"name": "rg"}
            })
        );
        assert_eq!(azure_app_service(env_of(&app[..3])), None);
        assert_eq!(azure_functions(env_of(&app)), None);

        let func = [
            ("FUNCTIONS_EXTENSION_VERSION", "~4"),
            ("WEBSITE_OWNER_NAME", "sub+group-Regionwebspace"),
            ("WEBSITE_SITE_NAME", "site"),
            ("WEBSITE_RESOURCE_GROUP", ""),
        ];
        let cloud = azure_from_env(env_of(&func)).unwrap();
        assert_eq!(
            json(&cloud),
            serde_json::json!({
                "provider": "azure", "region": "Region", "account": {"id": "sub"},
                "instance": {"name": "site"}, "project": {"name": "group"},
                "service": {"name": "functions"}
            })
        );
        assert_eq!(azure_from_env(env_of(&func[1..])), None);
        assert_eq!(azure_from_env(env_of(&[])), None);
    }
}
