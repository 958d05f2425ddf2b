//! The test intake receiver of the elastic-apm-rs workspace: a stand-in APM Server on
//! loopback that every end-to-end test (and the demo) can send to, with Elastic's
//! intake schemas checking every event.
//!
//! The end-to-end tests themselves live in `tests/tests/`.
#![deny(missing_docs)]

pub mod gherkin;
mod receiver;
pub mod spec;

pub use receiver::{ConfigPoll, Fault, IntakeReceiver, IntakeRequest};

/// The README's examples, compiled and run as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
