//! The core of the Elastic APM agent for Rust: the intake v2 data model, the tracer
//! API, context propagation across async code, and W3C trace context.
//!
//! Integrations (`elastic-apm-tower`, `elastic-apm-reqwest`, `elastic-apm-sqlx`) build
//! on this crate; application code uses it directly for custom transactions and spans.
//!
//! ```
//! use elastic_apm_core::{Agent, ApmFutureExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // Reads ELASTIC_APM_* environment variables; values set here are the fallback.
//! let agent = Agent::builder().service_name("shop").build();
//!
//! // Continue the caller's trace from its headers, if any.
//! let headers = [("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")];
//! let tx = agent.transaction("GET /products/{id}", "request").parent_from_headers(headers).start();
//!
//! async {
//!     // Runs as a child span of the transaction: context follows the future.
//!     let rows = elastic_apm_core::in_span("SELECT FROM products", "db", async { 3 }).await;
//!     assert_eq!(rows, 3);
//!     // The headers for a downstream call.
//!     let segment = elastic_apm_core::current_segment().expect("inside the transaction");
//!     assert!(segment.traceparent().to_string().starts_with("00-0af7651916cd43dd8448eb211c80319c-"));
//! }
//! .in_segment(tx.segment())
//! .await;
//! tx.set_result("HTTP 2xx");
//! tx.end();
//! # }
//! ```
//!
//! # What costs what
//!
//! Starting a transaction allocates once (its shared state), and ending a transaction
//! or a span allocates the event box handed to the reporter. A span keeps its state in
//! its handle (about 230 bytes) and allocates only when something shares it: a child
//! span, a [`Segment`] taken to make it current or to propagate it, a captured error.
//! No lock is shared between requests: each transaction and span has its own. A
//! disabled agent (`ELASTIC_APM_ENABLED=false`) or one with `recording=false` allocates
//! nothing.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
pub mod config;
pub mod context;
mod discovery;
mod error;
mod ids;
mod live;
mod logging;
mod metrics;
pub mod model;
pub mod report;
pub mod sampling;
pub mod sanitize;
pub mod sql;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trace_context;
mod tracer;
pub mod transport;
pub mod wildcard;

/// Internals exposed for this crate's integration tests only; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::discovery::cloud::azure_from_env;
    pub use crate::discovery::container::{ContainerInfo, parse as parse_container};
}

use std::borrow::Cow;
use std::future::Future;

pub use crate::config::{CaptureBody, CloudProvider, Config, LogLevel, TraceContinuationStrategy};
pub use crate::context::{
    ApmFuture, ApmFutureExt, EnterGuard, InSpan, current_segment, replace_current_segment, spawn,
};
pub use crate::error::{ConfigError, TraceContextError, TransportError};
pub use crate::ids::{ErrorId, HexBuf, SpanId, TraceId};
pub use crate::live::{ConfigSnapshot, ServerVersion};
pub use crate::metrics::{Counter, Gauge, MetricBuilder};
pub use crate::model::Outcome;
pub use crate::report::Reporter;
pub use crate::sampling::SampleRate;
pub use crate::trace_context::{TraceContext, TraceFlags, TraceParent, TraceState};
pub use crate::tracer::{
    Agent, AgentBuilder, AsDynError, ErrorBuilder, Segment, Span, SpanBuilder, Transaction,
    TransactionBuilder,
};
pub use crate::wildcard::{WildcardMatcher, WildcardMatchers};

/// Starts a span under the current transaction or span; a no-op span when there is none.
pub fn start_span(name: impl Into<Cow<'static, str>>, kind: impl Into<Cow<'static, str>>) -> Span {
    Span::under(current_segment(), name, kind)
}

/// Runs a future as a span under the current transaction or span. The span is current
/// inside the future and ends when the future completes or is dropped.
pub fn in_span<F: Future>(
    name: impl Into<Cow<'static, str>>,
    kind: impl Into<Cow<'static, str>>,
    future: F,
) -> InSpan<F> {
    InSpan::new(future, start_span(name, kind))
}

/// Runs a closure as a span under the current transaction or span; the span is current
/// inside the closure and ends when it returns.
pub fn with_span<R>(
    name: impl Into<Cow<'static, str>>,
    kind: impl Into<Cow<'static, str>>,
    f: impl FnOnce(&Span) -> R,
) -> R {
    let span = start_span(name, kind);
    let _guard = span.segment().map(|s| s.enter());
    f(&span)
}

/// Captures an error in the current transaction or span. Returns `None` outside any
/// (use [`Agent::capture_error`] there).
pub fn capture_error<E>(error: &E) -> Option<ErrorId>
where
    E: AsDynError + ?Sized,
{
    current_segment().and_then(|s| s.capture_error(error))
}
