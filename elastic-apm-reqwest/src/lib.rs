//! reqwest instrumentation for the Elastic APM agent.
//!
//! Not implemented yet: this crate reserves its place in the workspace. See the
//! project's issue tracker for its plan.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use elastic_apm_core as core;
