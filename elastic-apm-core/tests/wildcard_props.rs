//! Property test: the byte-class screen of `WildcardMatchers::matches_any` never turns
//! a match into a miss, whatever the patterns and the text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use elastic_apm_core::wildcard::{WildcardMatcher, WildcardMatchers};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn screening_agrees_with_matching_each_pattern(
        patterns in proptest::collection::vec("(\\(\\?-i\\))?[aAbZ1*_\u{e9}-]{0,6}", 1..5),
        text in "[aAbBzZ19_\u{e9}-]{0,10}",
    ) {
        let list = WildcardMatchers::new(&patterns);
        let each = patterns.iter().any(|p| WildcardMatcher::new(p).matches(&text));
        prop_assert_eq!(list.matches_any(&text), each);
    }
}
