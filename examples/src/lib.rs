//! Runnable examples of the Elastic APM agent for Rust: the shop service (`shop`
//! binary), the demo that drives it (`demo`), the overhead benchmark (`overhead`) and
//! its callgrind harness (`request_path`).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod shop;
pub mod small_app;
pub mod waterfall;
