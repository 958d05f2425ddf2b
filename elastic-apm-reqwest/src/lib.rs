//! Elastic APM for outgoing HTTP calls made with `reqwest`: each request becomes an exit
//! span of the current transaction, and carries the trace to the service it calls.
//!
//! ```
//! use elastic_apm_core::Agent;
//!
//! let agent = Agent::builder().service_name("shop").build();
//! // One call...
//! let client = elastic_apm_reqwest::instrument(reqwest::Client::new(), &agent);
//! // ...or the middleware in your own stack.
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(elastic_apm_reqwest::ApmMiddleware::new(&agent))
//!     .build();
//! ```
//!
//! Inside a transaction (an `ApmLayer` handler, say) a call such as
//! `client.get("http://stock/items/7").send().await` records a span of type `external`,
//! subtype `http`, named `GET stock`, with `context.http` (method, URL without
//! credentials and with sensitive query values redacted, status code),
//! `context.destination` and `context.service.target` (`http`, `stock:80`). Its outcome
//! is `failure` for 4xx and 5xx answers and for transport errors, which are also
//! captured as errors.
//!
//! `traceparent`, `tracestate` (and `elastic-apm-traceparent` unless
//! `use_elastic_traceparent_header` is off) go downstream with the span as the parent;
//! in an unsampled transaction no span is recorded but the unsampled decision is
//! passed on. Trace headers the application set itself are kept unless
//! [`ApmMiddleware::overwrite_trace_headers`]. Outside any transaction the request
//! goes out untouched. The agent's own requests to APM Server do not use reqwest and
//! are never recorded.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod inject;
mod middleware;

pub use elastic_apm_core as core;
pub use reqwest_middleware;

pub use crate::middleware::ApmMiddleware;

/// `client` with [`ApmMiddleware`], ready to use.
pub fn instrument(
    client: reqwest::Client,
    agent: &elastic_apm_core::Agent,
) -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(client)
        .with(ApmMiddleware::new(agent))
        .build()
}
