//! Elastic APM for axum, hyper and any tower HTTP service: one layer, and every request
//! becomes a transaction.
//!
//! ```
//! use axum::{Router, routing::get};
//! use elastic_apm_core::Agent;
//! use elastic_apm_tower::ApmLayer;
//!
//! let agent = Agent::builder().service_name("shop").build();
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "a user" }))
//!     .layer(ApmLayer::new(&agent));
//! ```
//!
//! Each request gets a transaction of type `request`, named after the matched route
//! (`GET /users/{id}`; `GET unknown route` when none matched), with result `HTTP 2xx`
//! and the like, outcome `failure` for 5xx only, and, when sampled, `context.request`
//! (URL, headers, cookies, remote address, body per `capture_body`) and
//! `context.response`, sanitised per `sanitize_field_names`. An incoming `traceparent`
//! (or `elastic-apm-traceparent`) continues the caller's trace.
//!
//! The transaction is current while the handler and its response body run, so spans
//! started anywhere inside (`elastic_apm_core::in_span`, the reqwest and sqlx
//! integrations) nest under it. It ends when the response body has been sent or
//! dropped, so streaming and SSE responses are timed whole; a request the client
//! abandons before the answer ends with outcome `unknown`.
//!
//! A handler that panics is reported as an error (type `panic`, with the panic's stack
//! trace) and answered with an empty 500, unless [`ApmLayer::catch_panic`] is off.
//! Errors a handler turns into 5xx answers can be reported with
//! `elastic_apm_core::capture_error`, or by attaching a [`ReportedError`] to the
//! response.
//!
//! # Request and response bodies
//!
//! The request body the handler sees is the caller's, wrapped in [`ApmRequestBody`],
//! which copies up to `long_field_max_length` bytes of form, JSON, XML and text bodies
//! as the handler reads them, when `capture_body` asks for it: nothing is read ahead,
//! and a body the handler never reads is not captured. With `capture_body` off (the
//! default) a request that had a body records it as `[REDACTED]`. Form bodies and
//! query strings have the values of sensitive fields redacted.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod body;
mod classify;
mod future;
mod guard;
mod layer;
mod naming;
mod panic;
mod reported;
mod service;

pub use elastic_apm_core as core;

pub use crate::body::{ApmRequestBody, ApmResponseBody};
pub use crate::future::ResponseFuture;
pub use crate::layer::ApmLayer;
pub use crate::naming::RouteInfo;
pub use crate::reported::ReportedError;
pub use crate::service::ApmService;

/// The axum release line this crate is built against, for `service.framework`.
#[cfg(feature = "axum")]
const AXUM_VERSION: &str = "0.8";
