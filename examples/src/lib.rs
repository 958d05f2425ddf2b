//! Runnable examples of the Elastic APM agent for Rust: the shop service (`shop`
//! binary), the demo that drives it (`demo`), and the overhead benchmark (`overhead`).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod shop;
pub mod waterfall;
