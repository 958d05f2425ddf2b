//! Property tests: no `traceparent`/`tracestate` input makes the parsers panic, and
//! every valid context survives a format/parse round trip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use elastic_apm_core::{SpanId, TraceContext, TraceFlags, TraceId, TraceParent, TraceState};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn traceparent_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = TraceParent::parse_bytes(&bytes);
    }

    #[test]
    fn traceparent_shaped_input_never_panics(s in "[0-9a-fA-F-]{0,3}-[0-9a-fA-Fz]{30,34}-[0-9a-f.]{14,18}-[0-9a-f]{0,4}[ \t-]?.{0,8}") {
        if let Ok(tp) = TraceParent::parse(&s) {
            // Whatever parses formats to a canonical header that parses to the same.
            prop_assert_eq!(TraceParent::parse(tp.to_header().as_str()), Ok(tp));
        }
    }

    #[test]
    fn tracestate_never_panics(values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..6)) {
        let parsed = TraceState::parse_headers(values.iter().map(Vec::as_slice));
        if let Some(header) = parsed.ok().and_then(|state| state.to_header()) {
            prop_assert!(header.len() <= elastic_apm_core::trace_context::TRACESTATE_MAX_LEN);
            // What we propagate is itself valid.
            prop_assert!(TraceState::parse_headers([header.as_bytes()]).is_ok());
        }
    }

    #[test]
    fn tracestate_shaped_input_never_panics(s in "([a-z0-9@_*/-]{0,20}=[ -~]{0,20}[, \t]{0,3}){0,40}") {
        let _ = TraceState::parse_headers([s.as_bytes()]);
    }

    #[test]
    fn headers_of_any_shape_never_panic(headers in proptest::collection::vec((".{0,20}", proptest::collection::vec(any::<u8>(), 0..80)), 0..8)) {
        let _ = TraceContext::from_headers(headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())));
    }

    #[test]
    fn valid_contexts_round_trip(trace in any::<[u8; 16]>(), span in any::<[u8; 8]>(), flags in any::<u8>()) {
        let (Some(trace_id), Some(parent_id)) = (TraceId::from_bytes(trace), SpanId::from_bytes(span)) else {
            return Ok(());
        };
        let tp = TraceParent { trace_id, parent_id, flags: TraceFlags::from_byte(flags) };
        let header = tp.to_header();
        prop_assert_eq!(header.as_str().len(), 55);
        let ctx = TraceContext::from_headers([("TraceParent", header.as_bytes())]).unwrap();
        prop_assert_eq!(ctx.traceparent, tp);
    }
}
