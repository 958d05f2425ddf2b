//! Elastic APM for code instrumented with `tracing`: spans join the APM trace, ERROR
//! events become APM errors, and log lines carry the trace they were written in.
//!
//! ```
//! use elastic_apm_core::Agent;
//! use elastic_apm_tracing::{ApmTracingLayer, EcsFormat};
//! use tracing_subscriber::layer::SubscriberExt;
//! use tracing_subscriber::util::SubscriberInitExt;
//!
//! let agent = Agent::builder().service_name("shop").build();
//! tracing_subscriber::registry()
//!     // `tracing` spans inside a transaction become its spans.
//!     .with(ApmTracingLayer::new(&agent))
//!     // Log lines as ECS JSON with `trace.id`, `transaction.id` and `span.id`.
//!     .with(tracing_subscriber::fmt::layer().event_format(EcsFormat::new(&agent)))
//!     .init();
//! ```
//!
//! With that, a function annotated `#[tracing::instrument]` called from an `ApmLayer`
//! handler is a span of the request's transaction, the `sqlx` queries it runs through
//! an `ApmPool` are spans under it, and `tracing::error!` inside it is an APM error
//! attached to it. See [`ApmTracingLayer`] for what is recorded and how to keep hot
//! library spans out, and [`EcsFormat`] for the log format.
//!
//! Not done: sending log records to APM Server (`log_sending`; Kibana reads the ECS
//! lines from files or stdout instead, as with every Elastic agent without it).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod ecs;
mod fields;
mod layer;

pub use elastic_apm_core as core;

pub use crate::ecs::EcsFormat;
pub use crate::layer::ApmTracingLayer;
