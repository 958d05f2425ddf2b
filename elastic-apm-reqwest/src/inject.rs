//! Trace context headers on the outgoing request.

use elastic_apm_core::Segment;
use http::header::{HeaderMap, HeaderName, HeaderValue};

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
const LEGACY_TRACEPARENT: HeaderName = HeaderName::from_static("elastic-apm-traceparent");

/// Writes `traceparent` (and `tracestate`, and the legacy header when `legacy`) with
/// `parent` as the caller. Headers the application set itself are kept unless
/// `overwrite`.
pub(crate) fn trace_headers(
    headers: &mut HeaderMap,
    parent: &Segment,
    legacy: bool,
    overwrite: bool,
) {
    let traceparent = parent.traceparent().to_header();
    let mut set = |name: HeaderName, value: &[u8]| {
        if !overwrite && headers.contains_key(&name) {
            return;
        }
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.insert(name, value);
        }
    };
    set(TRACEPARENT, traceparent.as_bytes());
    if legacy {
        set(LEGACY_TRACEPARENT, traceparent.as_bytes());
    }
    if let Some(tracestate) = parent.tracestate().to_header() {
        set(TRACESTATE, tracestate.as_bytes());
    }
}
