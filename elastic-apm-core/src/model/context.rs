//! Context objects shared by transactions, spans and errors.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;

use super::labels::{Headers, Labels};
use super::limits::{keyword, opt_keyword};

/// Arbitrary JSON, as in `context.custom`.
pub type CustomContext = serde_json::Map<String, serde_json::Value>;

/// `context` of a transaction or an error.
///
/// The parts most HTTP transactions lack are boxed: the whole stays under 1 KiB, the
/// largest size glibc's allocator serves from its per-thread cache, and is cheaper to
/// create and drop on every request.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Context {
    /// The HTTP request that was handled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    /// The HTTP response sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
    /// The user the request was made for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Box<User>>,
    /// Labels (called `tags` on the wire).
    #[serde(rename = "tags", skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// Arbitrary, unindexed data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomContext>,
    /// The message that was received, for messaging transactions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Box<Message>>,
    /// The service, when it differs from the metadata's (e.g. a framework per event).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Box<ServiceContext>>,
}

impl Context {
    /// Whether nothing is set, so the object can be left out.
    pub fn is_empty(&self) -> bool {
        self == &Context::default()
    }
}

/// `context.request`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Request {
    /// HTTP method.
    #[serde(serialize_with = "keyword")]
    pub method: Cow<'static, str>,
    /// The URL, whole and in parts.
    pub url: Url,
    /// `1.1`, `2`, ...
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub http_version: Option<Cow<'static, str>>,
    /// Request headers (sanitised).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
    /// Parsed cookies (sanitised).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookies: Option<BTreeMap<String, String>>,
    /// The connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket: Option<Socket>,
    /// The body, as a string or parsed form (sanitised, truncated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

/// `context.request.url`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Url {
    /// The whole URL.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub full: Option<String>,
    /// The URL as it appeared in the request line.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub raw: Option<String>,
    /// `http` or `https` (no colon).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub protocol: Option<Cow<'static, str>>,
    /// The host name.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub hostname: Option<String>,
    /// The port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The path.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub pathname: Option<String>,
    /// The query string, without `?`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub search: Option<String>,
    /// The fragment, without `#`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub hash: Option<String>,
}

/// `context.request.socket`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Socket {
    /// The peer's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_address: Option<String>,
    /// Whether the connection used TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
}

/// `context.response`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Response {
    /// HTTP status code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Response headers (sanitised).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
    /// Whether the response was completely sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished: Option<bool>,
    /// Whether the headers were sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers_sent: Option<bool>,
    /// Bytes on the wire, headers included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_size: Option<u64>,
    /// Body bytes as sent (compressed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoded_body_size: Option<u64>,
    /// Body bytes after decoding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoded_body_size: Option<u64>,
}

/// `context.user`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct User {
    /// The user's id.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub id: Option<String>,
    /// The user's name.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub username: Option<String>,
    /// The user's e-mail address.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub email: Option<String>,
    /// The user's domain.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub domain: Option<String>,
}

/// `context.message`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Message {
    /// The queue or topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<Queue>,
    /// How long the message waited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<MessageAge>,
    /// The body (a long field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Message headers (sanitised).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
    /// The routing key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
}

/// `context.message.queue`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Queue {
    /// The queue name.
    #[serde(serialize_with = "keyword")]
    pub name: String,
}

/// `context.message.age`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MessageAge {
    /// Milliseconds.
    pub ms: u64,
}

/// `context.service`: a per-event service, or for spans the target service.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ServiceContext {
    /// The service name (`^[a-zA-Z0-9 _-]+$`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub name: Option<String>,
    /// The service version.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub version: Option<String>,
    /// The framework that handled the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub framework: Option<super::metadata::NameVersion>,
    /// The downstream service a span called (`tracing-spans-service-target.md`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<ServiceTarget>,
}

/// `context.service.target`: the type (e.g. `postgresql`) and name (e.g. the database)
/// of the service an exit span called.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub struct ServiceTarget {
    /// The target type; defaults to the span subtype.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The target name (database, queue, `host:port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ServiceTarget {
    /// A target with this type and optional name.
    pub fn new(kind: impl Into<String>, name: Option<String>) -> Self {
        ServiceTarget {
            kind: Some(kind.into()),
            name,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_context_fits_the_allocators_per_thread_cache() {
        // glibc serves requests of up to 1032 bytes from its thread cache; one every
        // request makes should not go to the shared arena.
        assert!(std::mem::size_of::<super::Context>() <= 1032);
    }
}
