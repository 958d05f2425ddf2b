//! W3C trace context: the `traceparent` and `tracestate` headers.
//!
//! Parsing follows the W3C Trace Context recommendation and the Elastic agent spec
//! (`tracing-distributed-tracing.md`): ids must be lower-case hex and not all zeros,
//! version `ff` is invalid, a newer version may carry more fields after a `-`, and two
//! `traceparent` headers make the context invalid. `tracestate` is validated entry by
//! entry; the `es` entry carries the sample rate (`es=s:0.5`). Nothing here panics on
//! any input, and nothing grows without bound: what is propagated is capped at
//! [`TRACESTATE_MAX_LEN`] bytes.

use std::fmt;

use crate::error::TraceContextError;
use crate::ids::{SpanId, TraceId, decode_hex, encode_hex};
use crate::sampling::SampleRate;

/// The W3C `traceparent` header name.
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// The W3C `tracestate` header name.
pub const TRACESTATE_HEADER: &str = "tracestate";
/// The header Elastic agents used before W3C trace context was final.
pub const LEGACY_TRACEPARENT_HEADER: &str = "elastic-apm-traceparent";
/// The most `tracestate` bytes propagated; W3C asks vendors to keep at least 512.
pub const TRACESTATE_MAX_LEN: usize = 512;
/// Entries longer than this are the first dropped when `tracestate` must shrink (W3C).
const TRACESTATE_LONG_ENTRY: usize = 128;
/// Past this many entries a `tracestate` is treated as hostile. Elastic does not enforce
/// W3C's 32 (see the spec), but the duplicate check must stay cheap.
const TRACESTATE_MAX_ENTRIES: usize = 256;
/// The most an `es` entry may hold (Elastic spec).
const ES_ENTRY_MAX_LEN: usize = 256;

const TRACEPARENT_LEN: usize = 55;

/// The flags byte of a `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// Only the sampled bit set.
    pub const SAMPLED: TraceFlags = TraceFlags(0x01);
    /// No flag set.
    pub const NOT_SAMPLED: TraceFlags = TraceFlags(0x00);

    /// Flags from the raw byte.
    pub const fn from_byte(byte: u8) -> Self {
        TraceFlags(byte)
    }

    /// The raw byte.
    pub const fn to_byte(self) -> u8 {
        self.0
    }

    /// Whether the caller recorded this trace (the least significant bit).
    pub const fn is_sampled(self) -> bool {
        self.0 & 0x01 == 0x01
    }

    /// These flags with the sampled bit set or cleared.
    pub const fn with_sampled(self, sampled: bool) -> Self {
        if sampled {
            TraceFlags(self.0 | 0x01)
        } else {
            TraceFlags(self.0 & !0x01)
        }
    }
}

/// A parsed `traceparent`: the trace, the caller's span and the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The id of the whole trace.
    pub trace_id: TraceId,
    /// The id of the calling transaction or span, the parent of what starts here.
    pub parent_id: SpanId,
    /// The trace flags; only the sampled bit is defined.
    pub flags: TraceFlags,
}

impl TraceParent {
    /// Parses a `traceparent` value. Surrounding spaces and tabs are ignored.
    pub fn parse(value: &str) -> Result<Self, TraceContextError> {
        Self::parse_bytes(value.as_bytes())
    }

    /// Parses a `traceparent` header value given as raw bytes (header values need not be UTF-8).
    pub fn parse_bytes(value: &[u8]) -> Result<Self, TraceContextError> {
        use TraceContextError::InvalidTraceParent as Invalid;
        let value = trim_ows(value);
        if value.len() < TRACEPARENT_LEN {
            return Err(Invalid("too short"));
        }
        let version =
            decode_hex::<1>(&value[0..2]).ok_or(Invalid("version is not lower-case hex"))?[0];
        if version == 0xff {
            return Err(Invalid("version ff is forbidden"));
        }
        if version == 0 && value.len() != TRACEPARENT_LEN {
            return Err(Invalid("version 00 has exactly four fields"));
        }
        if version > 0 && value.len() > TRACEPARENT_LEN && value[TRACEPARENT_LEN] != b'-' {
            return Err(Invalid("fields after the flags must follow a '-'"));
        }
        if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return Err(Invalid("fields must be separated by '-'"));
        }
        let trace_id = decode_hex::<16>(&value[3..35])
            .and_then(TraceId::from_bytes)
            .ok_or(Invalid(
                "trace-id must be 32 lower-case hex digits, not all zero",
            ))?;
        let parent_id = decode_hex::<8>(&value[36..52])
            .and_then(SpanId::from_bytes)
            .ok_or(Invalid(
                "parent-id must be 16 lower-case hex digits, not all zero",
            ))?;
        let flags = decode_hex::<1>(&value[53..55])
            .ok_or(Invalid("flags must be 2 lower-case hex digits"))?[0];
        Ok(TraceParent {
            trace_id,
            parent_id,
            flags: TraceFlags(flags),
        })
    }

    /// The header value (`00-<trace-id>-<parent-id>-<flags>`), formatted on the stack.
    pub fn to_header(&self) -> TraceParentHeader {
        let mut buf = [b'-'; TRACEPARENT_LEN];
        buf[0] = b'0';
        buf[1] = b'0';
        encode_hex(&self.trace_id.to_bytes(), &mut buf[3..35]);
        encode_hex(&self.parent_id.to_bytes(), &mut buf[36..52]);
        encode_hex(&[self.flags.0], &mut buf[53..55]);
        TraceParentHeader(buf)
    }
}

impl std::str::FromStr for TraceParent {
    type Err = TraceContextError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.to_header().as_str())
    }
}

/// A formatted `traceparent` value, 55 ASCII bytes on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceParentHeader([u8; TRACEPARENT_LEN]);

impl TraceParentHeader {
    /// The header value.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written into the buffer.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The header value as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for TraceParentHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `tracestate` header: other vendors' entries, kept for propagation, and the
/// values of Elastic's own `es` entry.
#[derive(Debug, Clone, Default)]
pub struct TraceState {
    /// The sample rate from `es=s:<rate>`, if the entry holds a valid one.
    sample_rate: Option<SampleRate>,
    /// Whether an `es` entry was present at all (`restart_external` looks for it).
    has_es: bool,
    /// The `es` entry's value as received, without the `es=` key.
    es_value: Option<Box<str>>,
    /// A root's own state: its `es` entry is `s:<sample_rate>`, formatted only when
    /// sent (most transactions never call downstream).
    root: bool,
    /// Other vendors' entries, normalised (`k=v,k=v`) and capped.
    others: Box<str>,
}

/// Equal when they say the same: a root's state equals one parsed from what it sends.
impl PartialEq for TraceState {
    fn eq(&self, other: &Self) -> bool {
        self.sample_rate == other.sample_rate
            && self.has_es == other.has_es
            && self.es() == other.es()
            && self.others == other.others
    }
}

impl TraceState {
    /// A state with only an `es` entry recording `sample_rate`, as a trace root sends it.
    pub fn for_root(sample_rate: SampleRate) -> Self {
        TraceState {
            sample_rate: Some(sample_rate),
            has_es: true,
            es_value: None,
            root: true,
            others: Box::default(),
        }
    }

    /// Parses one or more `tracestate` header values (several headers are joined with `,`).
    /// Empty values are ignored; an invalid entry makes the whole state invalid, and such
    /// a state is not propagated.
    pub fn parse_headers<'a, I>(values: I) -> Result<Self, TraceContextError>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        use TraceContextError::InvalidTraceState as Invalid;
        let mut state = TraceState::default();
        let mut keys: Vec<&[u8]> = Vec::new();
        let mut kept: Vec<&[u8]> = Vec::new();
        for value in values {
            for member in value.split(|&c| c == b',') {
                let member = trim_ows(member);
                if member.is_empty() {
                    continue;
                }
                let eq = member
                    .iter()
                    .position(|&c| c == b'=')
                    .ok_or(Invalid("entry without '='"))?;
                let (key, val) = (&member[..eq], &member[eq + 1..]);
                if !valid_key(key) {
                    return Err(Invalid("invalid key"));
                }
                if !valid_value(val) {
                    return Err(Invalid("invalid value"));
                }
                if keys.len() >= TRACESTATE_MAX_ENTRIES {
                    return Err(Invalid("too many entries"));
                }
                if keys.contains(&key) {
                    return Err(Invalid("duplicate key"));
                }
                keys.push(key);
                if key == b"es" {
                    state.has_es = true;
                    // Checked to be printable ASCII by `valid_value`.
                    let text = std::str::from_utf8(val).unwrap_or_default();
                    state.sample_rate = parse_es_sample_rate(text);
                    state.es_value = Some(text.into());
                } else {
                    kept.push(member);
                }
            }
        }
        state.others = cap_entries(&kept, state.es_value.as_ref().map_or(0, |v| v.len() + 4));
        Ok(state)
    }

    /// The sample rate carried by the `es` entry.
    pub fn sample_rate(&self) -> Option<SampleRate> {
        self.sample_rate
    }

    /// Whether the state has an `es` entry, i.e. the caller is traced by an Elastic agent.
    pub fn has_es_entry(&self) -> bool {
        self.has_es
    }

    /// Whether there is nothing to propagate.
    pub fn is_empty(&self) -> bool {
        self.es_value.is_none() && !self.root && self.others.is_empty()
    }

    /// The `es` entry's value, if any.
    fn es(&self) -> Option<std::borrow::Cow<'_, str>> {
        match (&self.es_value, self.sample_rate) {
            (Some(value), _) => Some(std::borrow::Cow::Borrowed(value)),
            (None, Some(rate)) if self.root => Some(std::borrow::Cow::Owned(format!("s:{rate}"))),
            _ => None,
        }
    }

    /// The header value to send downstream, or `None` when empty (a blank `tracestate`
    /// must not be propagated).
    pub fn to_header(&self) -> Option<String> {
        match (self.es(), self.others.is_empty()) {
            (None, true) => None,
            (None, false) => Some(self.others.to_string()),
            (Some(es), true) => Some(format!("es={es}")),
            (Some(es), false) => Some(format!("es={es},{}", self.others)),
        }
    }
}

fn parse_es_sample_rate(es_value: &str) -> Option<SampleRate> {
    if es_value.len() > ES_ENTRY_MAX_LEN {
        return None;
    }
    es_value
        .split(';')
        .filter_map(|attr| attr.split_once(':'))
        .find(|(k, _)| *k == "s")
        .and_then(|(_, v)| v.parse::<f64>().ok())
        .and_then(SampleRate::new_exact)
}

/// Joins entries with `,`, dropping what does not fit into [`TRACESTATE_MAX_LEN`]
/// (less `reserved`): long entries first, then from the end, as W3C prescribes.
fn cap_entries(entries: &[&[u8]], reserved: usize) -> Box<str> {
    let budget = TRACESTATE_MAX_LEN.saturating_sub(reserved);
    let total = |list: &[&[u8]]| {
        list.iter()
            .map(|e| e.len() + 1)
            .sum::<usize>()
            .saturating_sub(1)
    };
    let mut list: Vec<&[u8]> = entries.to_vec();
    if total(&list) > budget {
        list.retain(|e| e.len() <= TRACESTATE_LONG_ENTRY);
    }
    while total(&list) > budget {
        list.pop();
    }
    let joined = list.join(&b","[..]);
    // Keys and values were checked to be printable ASCII.
    String::from_utf8(joined)
        .unwrap_or_default()
        .into_boxed_str()
}

fn is_key_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'*' | b'/')
}

/// W3C key: `simple-key` or `tenant@system`.
fn valid_key(key: &[u8]) -> bool {
    let starts_ok = |s: &[u8]| {
        s.first()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    match key.iter().position(|&c| c == b'@') {
        None => key.len() <= 256 && starts_ok(key) && key.iter().all(|&c| is_key_char(c)),
        Some(at) => {
            let (tenant, system) = (&key[..at], &key[at + 1..]);
            tenant.len() <= 241
                && starts_ok(tenant)
                && tenant.iter().all(|&c| is_key_char(c))
                && system.len() <= 14
                && system.first().is_some_and(u8::is_ascii_lowercase)
                && system.iter().all(|&c| is_key_char(c))
        }
    }
}

/// W3C value: 1 to 256 printable ASCII characters except `,` and `=`, not ending in a space.
fn valid_value(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && value.last() != Some(&b' ')
        && value
            .iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
}

/// Strips HTTP optional white space (spaces and tabs) from both ends.
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// An incoming distributed trace context: what a transaction continues.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceContext {
    /// The caller's `traceparent`.
    pub traceparent: TraceParent,
    /// The caller's `tracestate`; empty when absent or invalid.
    pub tracestate: TraceState,
}

impl TraceContext {
    /// Reads trace context from request headers given as `(name, value)` pairs, such as
    /// an `http::HeaderMap`'s iterator. Names are compared case-insensitively. Returns
    /// `None` when there is no valid `traceparent` (two of them are invalid). The legacy
    /// `elastic-apm-traceparent` header is used only when `traceparent` is absent. An
    /// invalid `tracestate` is dropped; the `traceparent` is still used.
    pub fn from_headers<I, N, V>(headers: I) -> Option<Self>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let mut traceparent: Option<Result<TraceParent, TraceContextError>> = None;
        let mut legacy: Option<Result<TraceParent, TraceContextError>> = None;
        let mut tracestate: Vec<V> = Vec::new();
        for (name, value) in headers {
            let name = name.as_ref();
            if name.eq_ignore_ascii_case(TRACEPARENT_HEADER) {
                traceparent = Some(match traceparent {
                    None => TraceParent::parse_bytes(value.as_ref()),
                    Some(_) => Err(TraceContextError::InvalidTraceParent(
                        "more than one traceparent header",
                    )),
                });
            } else if name.eq_ignore_ascii_case(TRACESTATE_HEADER) {
                tracestate.push(value);
            } else if name.eq_ignore_ascii_case(LEGACY_TRACEPARENT_HEADER) && legacy.is_none() {
                legacy = Some(TraceParent::parse_bytes(value.as_ref()));
            }
        }
        let traceparent = match traceparent {
            Some(parsed) => parsed.ok()?,
            None => legacy?.ok()?,
        };
        let tracestate =
            TraceState::parse_headers(tracestate.iter().map(AsRef::as_ref)).unwrap_or_default();
        Some(TraceContext {
            traceparent,
            tracestate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn a_roots_state_equals_the_state_parsed_from_what_it_sends() {
        let root = TraceState::for_root(SampleRate::ALWAYS);
        let header = root.to_header().unwrap();
        assert_eq!(header, "es=s:1");
        let parsed = TraceState::parse_headers([header.as_bytes()]).unwrap();
        assert_eq!(root, parsed);
        assert!(!root.is_empty());
    }

    #[test]
    fn parses_and_formats_traceparent() {
        let tp = TraceParent::parse(VALID).unwrap();
        assert_eq!(tp.trace_id.to_string(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(tp.parent_id.to_string(), "b7ad6b7169203331");
        assert!(tp.flags.is_sampled());
        assert_eq!(tp.to_header().as_str(), VALID);
        assert_eq!(tp.to_string(), VALID);
    }

    #[test]
    fn future_versions_keep_their_known_fields() {
        let tp =
            TraceParent::parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00-extra")
                .unwrap();
        assert!(!tp.flags.is_sampled());
        // We always answer in the version we speak.
        assert!(tp.to_string().starts_with("00-"));
    }

    #[test]
    fn tracestate_extracts_es_sample_rate_and_keeps_others() {
        let st = TraceState::parse_headers([
            &b"es=s:0.25,rojo=00f067aa0ba902b7"[..],
            b"congo=t61rcWkgMzE",
        ])
        .unwrap();
        assert_eq!(st.sample_rate().map(SampleRate::get), Some(0.25));
        assert!(st.has_es_entry());
        assert_eq!(
            st.to_header().unwrap(),
            "es=s:0.25,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
        );
    }

    #[test]
    fn blank_tracestate_is_not_propagated() {
        let st = TraceState::parse_headers([&b""[..]]).unwrap();
        assert!(st.is_empty());
        assert_eq!(st.to_header(), None);
    }

    #[test]
    fn bad_es_rate_is_ignored_but_entry_kept() {
        let st = TraceState::parse_headers([&b"es=s:1.5"[..]]).unwrap();
        assert_eq!(st.sample_rate(), None);
        assert!(st.has_es_entry());
    }

    #[test]
    fn oversized_tracestate_is_capped() {
        let mut header = String::new();
        for i in 0..100 {
            header.push_str(&format!("vendor{i}=value{i},"));
        }
        header.push_str(&format!("long={}", "x".repeat(200)));
        let st = TraceState::parse_headers([header.as_bytes()]).unwrap();
        let out = st.to_header().unwrap();
        assert!(out.len() <= TRACESTATE_MAX_LEN, "{}", out.len());
        assert!(out.starts_with("vendor0=value0,"));
        assert!(!out.contains("long="));
    }

    #[test]
    fn legacy_header_is_second_choice() {
        let other = "00-11111111111111111111111111111111-2222222222222222-00";
        let ctx = TraceContext::from_headers([
            ("elastic-apm-traceparent", other),
            ("traceparent", VALID),
        ])
        .unwrap();
        assert_eq!(ctx.traceparent.to_string(), VALID);
        let ctx = TraceContext::from_headers([("Elastic-Apm-Traceparent", other)]).unwrap();
        assert_eq!(ctx.traceparent.to_string(), other);
    }

    #[test]
    fn non_utf8_and_huge_values_are_rejected_quietly() {
        assert!(TraceParent::parse_bytes(&[0xff; 55]).is_err());
        assert!(TraceState::parse_headers([&[0xc3u8, 0x28][..]]).is_err());
        let huge = vec![b'a'; 1 << 20];
        assert!(TraceParent::parse_bytes(&huge).is_err());
    }
}
