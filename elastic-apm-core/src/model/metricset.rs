//! The `metricset` event.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;

use super::labels::Labels;
use super::limits::opt_keyword;

/// A set of metric samples taken at one time, optionally for one transaction group or
/// span type (breakdown metrics).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MetricSet {
    /// When the samples were taken, microseconds since the Unix epoch.
    pub timestamp: u64,
    /// Samples by metric name (names may not contain `*` or `"`).
    pub samples: BTreeMap<Cow<'static, str>, Sample>,
    /// Labels (called `tags` on the wire).
    #[serde(rename = "tags", skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// The transaction group, for breakdown metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction: Option<MetricTransaction>,
    /// The span type, for breakdown metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<MetricSpan>,
}

/// One metric sample: a value, or a histogram of values and counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Sample {
    /// A gauge or counter value.
    Value {
        /// The value.
        value: f64,
    },
    /// A histogram.
    Histogram {
        /// Bucket values.
        values: Vec<f64>,
        /// Bucket counts.
        counts: Vec<u64>,
        /// `histogram`.
        #[serde(rename = "type")]
        kind: &'static str,
    },
}

/// `metricset.transaction`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MetricTransaction {
    /// Transaction name.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub name: Option<String>,
    /// Transaction type.
    #[serde(
        rename = "type",
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub kind: Option<String>,
}

/// `metricset.span`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MetricSpan {
    /// Span type.
    #[serde(
        rename = "type",
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub kind: Option<String>,
    /// Span subtype.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_keyword"
    )]
    pub subtype: Option<String>,
}
