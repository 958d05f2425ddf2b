//! The intake JSON of a transaction, written by hand.
//!
//! A transaction goes out for every request, and serde_json spent most of the
//! reporter's time on it: each key went through the string escaper and each field
//! through the serializer's state machine. Here keys are written as they are and values
//! take a fast path when nothing needs escaping. The output is byte for byte what the
//! serde derivations write (tested below); those stay the reference, and serialise
//! every other event and the rarer parts of a transaction.

use std::io::Write as _;

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter};

use super::limits::{KEYWORD_MAX_CHARS, truncate};
use super::{Context, Event, Headers, HttpExchange, Request, Response, Transaction, Url};

/// A member's name as [`Object::key`] takes it: `,"name":`.
macro_rules! k {
    ($name:literal) => {
        concat!(",\"", $name, "\":")
    };
}

/// Appends `event`'s JSON to `out`.
pub(crate) fn write_event(out: &mut Vec<u8>, event: &Event) -> serde_json::Result<()> {
    match event {
        Event::Transaction(tx) => {
            out.extend_from_slice(b"{\"transaction\":");
            transaction(&mut Writer { out }, tx)?;
            out.push(b'}');
            Ok(())
        }
        other => serde_json::to_writer(out, other),
    }
}

fn transaction(w: &mut Writer<'_>, tx: &Transaction) -> serde_json::Result<()> {
    let mut o = w.object();
    o.key(k!("id")).raw_string(tx.id.to_hex().as_str());
    o.key(k!("trace_id"))
        .raw_string(tx.trace_id.to_hex().as_str());
    if let Some(parent) = tx.parent_id {
        o.key(k!("parent_id")).raw_string(parent.to_hex().as_str());
    }
    o.key(k!("name")).keyword(&tx.name)?;
    o.key(k!("type")).keyword(&tx.kind)?;
    o.key(k!("timestamp")).u64(tx.timestamp);
    o.key(k!("duration"))
        .f64(tx.duration.as_secs_f64() * 1000.0);
    if let Some(result) = &tx.result {
        o.key(k!("result")).keyword(result)?;
    }
    if let Some(outcome) = tx.outcome {
        o.key(k!("outcome")).raw_string(outcome.as_str());
    }
    o.key(k!("sampled")).bool(tx.sampled);
    if let Some(rate) = tx.sample_rate {
        o.key(k!("sample_rate")).f64(rate);
    }
    let mut counts = o.key(k!("span_count")).object();
    counts.key(k!("started")).u64(tx.span_count.started.into());
    counts.key(k!("dropped")).u64(tx.span_count.dropped.into());
    counts.end();
    let http = tx.http.as_ref().filter(|http| !http.is_empty());
    if tx.context.is_some() || http.is_some() {
        self::context(o.key(k!("context")), tx.context.as_deref(), http)?;
    }
    let stats = &tx.dropped_spans_stats;
    o.serde_if_some(
        k!("dropped_spans_stats"),
        (!stats.is_empty()).then_some(stats),
    )?;
    o.serde_if_some(k!("links"), (!tx.links.is_empty()).then_some(&tx.links))?;
    o.serde_if_some(k!("otel"), tx.otel.as_ref())?;
    o.end();
    Ok(())
}

/// The context, with the request and response the exchange records where the
/// application did not set its own (as [`Transaction::resolve_http`] does).
fn context(
    w: &mut Writer<'_>,
    context: Option<&Context>,
    http: Option<&HttpExchange>,
) -> serde_json::Result<()> {
    let mut o = w.object();
    match context.and_then(|c| c.request.as_ref()) {
        Some(request) => self::request(o.key(k!("request")), request)?,
        None => {
            if let Some(http) = http {
                exchange_request(&mut o, http)?;
            }
        }
    }
    match context.and_then(|c| c.response.as_ref()) {
        Some(response) => self::response(o.key(k!("response")), response)?,
        None => {
            if let Some(http) = http {
                exchange_response(&mut o, http)?;
            }
        }
    }
    let Some(context) = context else {
        o.end();
        return Ok(());
    };
    o.serde_if_some(k!("user"), context.user.as_ref())?;
    let labels = (!context.labels.is_empty()).then_some(&context.labels);
    o.serde_if_some(k!("tags"), labels)?;
    o.serde_if_some(k!("custom"), context.custom.as_ref())?;
    o.serde_if_some(k!("message"), context.message.as_ref())?;
    o.serde_if_some(k!("service"), context.service.as_ref())?;
    o.end();
    Ok(())
}

/// `request` from the exchange, as [`HttpExchange::to_request`] would have it, but
/// without building its strings (unless the URL is too long to go uncut).
fn exchange_request(o: &mut Object<'_, '_>, http: &HttpExchange) -> serde_json::Result<()> {
    let (Some(method), Some(url)) = (http.method_name(), http.short_url()) else {
        if let Some(resolved) = http.to_request() {
            request(o.key(k!("request")), &resolved)?;
        }
        return Ok(());
    };
    let mut o = o.key(k!("request")).object();
    o.key(k!("method")).keyword(&method)?;
    {
        let mut u = o.key(k!("url")).object();
        let (question, search) = url.search.map_or(("", ""), |search| ("?", search));
        u.key(k!("full"))
            .string_of(&[url.scheme, "://", url.host, url.path, question, search])?;
        u.key(k!("raw")).string_of(&[url.path, question, search])?;
        u.key(k!("protocol")).string_of(&[url.scheme, ":"])?;
        if !url.hostname.is_empty() {
            u.key(k!("hostname")).string(url.hostname)?;
        }
        if let Some(port) = url.port {
            u.key(k!("port")).u64(port.into());
        }
        u.key(k!("pathname")).string(url.path)?;
        if let Some(search) = url.search {
            u.key(k!("search")).string(search)?;
        }
        u.end();
    }
    o.key(k!("http_version")).raw_string(http.http_version());
    let parts = http.request_parts();
    if parts.headers {
        exchange_headers(o.key(k!("headers")), http, false)?;
    }
    o.serde_if_some(k!("cookies"), parts.cookies)?;
    if let Some(ip) = parts.remote {
        let w = o.key(k!("socket"));
        w.out.extend_from_slice(b"{\"remote_address\":\"");
        // An address's text needs no escaping; writing to a `Vec` cannot fail.
        let _ = write!(w.out, "{ip}");
        w.out.extend_from_slice(b"\"}");
    }
    o.serde_if_some(k!("body"), parts.body)?;
    o.end();
    Ok(())
}

/// `response` from the exchange, as [`HttpExchange::to_response`] would have it.
fn exchange_response(o: &mut Object<'_, '_>, http: &HttpExchange) -> serde_json::Result<()> {
    let Some(parts) = http.response_parts() else {
        return Ok(());
    };
    let mut o = o.key(k!("response")).object();
    o.key(k!("status_code")).u64(parts.status.into());
    if parts.headers {
        exchange_headers(o.key(k!("headers")), http, true)?;
    }
    if let Some(finished) = parts.finished {
        o.key(k!("finished")).bool(finished);
    }
    o.key(k!("headers_sent")).bool(true);
    o.end();
    Ok(())
}

fn exchange_headers(
    w: &mut Writer<'_>,
    http: &HttpExchange,
    response: bool,
) -> serde_json::Result<()> {
    let mut o = w.object();
    let mut entries = http.header_entries(response).peekable();
    while let Some((name, value)) = entries.next() {
        let w = o.key_escaped(&name)?;
        let repeated = entries.peek().is_some_and(|(next, _)| *next == name);
        if repeated {
            w.out.push(b'[');
        }
        w.string(&value)?;
        while let Some((_, value)) = entries.next_if(|(next, _)| *next == name) {
            w.out.push(b',');
            w.string(&value)?;
        }
        if repeated {
            w.out.push(b']');
        }
    }
    o.end();
    Ok(())
}

fn request(w: &mut Writer<'_>, request: &Request) -> serde_json::Result<()> {
    let mut o = w.object();
    o.key(k!("method")).keyword(&request.method)?;
    url(o.key(k!("url")), &request.url)?;
    if let Some(version) = &request.http_version {
        o.key(k!("http_version")).keyword(version)?;
    }
    if let Some(headers) = &request.headers {
        self::headers(o.key(k!("headers")), headers)?;
    }
    o.serde_if_some(k!("cookies"), request.cookies.as_ref())?;
    o.serde_if_some(k!("socket"), request.socket.as_ref())?;
    o.serde_if_some(k!("body"), request.body.as_ref())?;
    o.end();
    Ok(())
}

fn url(w: &mut Writer<'_>, url: &Url) -> serde_json::Result<()> {
    let mut o = w.object();
    for (key, value) in [
        (k!("full"), url.full.as_deref()),
        (k!("raw"), url.raw.as_deref()),
        (k!("protocol"), url.protocol.as_deref()),
        (k!("hostname"), url.hostname.as_deref()),
    ] {
        if let Some(value) = value {
            o.key(key).keyword(value)?;
        }
    }
    if let Some(port) = url.port {
        o.key(k!("port")).u64(port.into());
    }
    for (key, value) in [
        (k!("pathname"), url.pathname.as_deref()),
        (k!("search"), url.search.as_deref()),
        (k!("hash"), url.hash.as_deref()),
    ] {
        if let Some(value) = value {
            o.key(key).keyword(value)?;
        }
    }
    o.end();
    Ok(())
}

fn response(w: &mut Writer<'_>, response: &Response) -> serde_json::Result<()> {
    let mut o = w.object();
    if let Some(status) = response.status_code {
        o.key(k!("status_code")).u64(status.into());
    }
    if let Some(headers) = &response.headers {
        self::headers(o.key(k!("headers")), headers)?;
    }
    if let Some(finished) = response.finished {
        o.key(k!("finished")).bool(finished);
    }
    if let Some(sent) = response.headers_sent {
        o.key(k!("headers_sent")).bool(sent);
    }
    for (key, value) in [
        (k!("transfer_size"), response.transfer_size),
        (k!("encoded_body_size"), response.encoded_body_size),
        (k!("decoded_body_size"), response.decoded_body_size),
    ] {
        if let Some(value) = value {
            o.key(key).u64(value);
        }
    }
    o.end();
    Ok(())
}

fn headers(w: &mut Writer<'_>, headers: &Headers) -> serde_json::Result<()> {
    let mut o = w.object();
    for (name, values) in headers.grouped() {
        let value = o.key_escaped(name)?;
        match values.single() {
            Some(single) => value.string(single)?,
            None => value.serde(&values)?,
        }
    }
    o.end();
    Ok(())
}

/// Appends JSON to a buffer.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    fn object(&mut self) -> Object<'_, 'a> {
        self.out.push(b'{');
        Object {
            w: self,
            first: true,
        }
    }

    /// A string known to need no escaping: ids, outcomes.
    #[inline(always)]
    fn raw_string(&mut self, s: &str) {
        self.out.push(b'"');
        self.out.extend_from_slice(s.as_bytes());
        self.out.push(b'"');
    }

    fn string(&mut self, s: &str) -> serde_json::Result<()> {
        if needs_escape(s.as_bytes()) {
            serde_json::to_writer(&mut *self.out, s)
        } else {
            self.raw_string(s);
            Ok(())
        }
    }

    /// A string made of these parts, each escaped as needed.
    fn string_of(&mut self, parts: &[&str]) -> serde_json::Result<()> {
        self.out.push(b'"');
        for part in parts {
            if needs_escape(part.as_bytes()) {
                // serde_json quotes what it escapes: drop its quotes.
                let start = self.out.len();
                serde_json::to_writer(&mut *self.out, part)?;
                self.out.remove(start);
                self.out.pop();
            } else {
                self.out.extend_from_slice(part.as_bytes());
            }
        }
        self.out.push(b'"');
        Ok(())
    }

    /// A keyword field: cut to the intake's limit, as [`super::limits::keyword`] does.
    fn keyword(&mut self, s: &str) -> serde_json::Result<()> {
        self.string(&truncate(s, KEYWORD_MAX_CHARS))
    }

    fn u64(&mut self, n: u64) {
        // Writing to a `Vec` cannot fail.
        let _ = CompactFormatter.write_u64(self.out, n);
    }

    /// A number, or `null` when not finite, as serde_json writes it.
    fn f64(&mut self, v: f64) {
        // The usual sample rate, without the float formatter.
        if v == 1.0 {
            self.out.extend_from_slice(b"1.0");
            return;
        }
        let _ = if v.is_finite() {
            CompactFormatter.write_f64(self.out, v)
        } else {
            CompactFormatter.write_null(self.out)
        };
    }

    fn bool(&mut self, v: bool) {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
    }

    fn serde<T: Serialize + ?Sized>(&mut self, value: &T) -> serde_json::Result<()> {
        serde_json::to_writer(&mut *self.out, value)
    }
}

/// An object being written: separates its members and closes it.
struct Object<'w, 'a> {
    w: &'w mut Writer<'a>,
    first: bool,
}

impl<'a> Object<'_, 'a> {
    #[inline(always)]
    fn separate(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.w.out.push(b',');
        }
    }

    /// A member named by one of our field names (plain ASCII); its value comes next.
    /// `key` is `,"name":`, as [`k!`] writes it: one copy for the separator, the name
    /// and the colon, without the comma for the first member.
    #[inline(always)]
    fn key(&mut self, key: &'static str) -> &mut Writer<'a> {
        let key = if std::mem::take(&mut self.first) {
            key.get(1..).unwrap_or(key)
        } else {
            key
        };
        self.w.out.extend_from_slice(key.as_bytes());
        self.w
    }

    /// A member written by serde, when there is one: the parts of an event that are
    /// rarely set.
    fn serde_if_some<T: Serialize>(
        &mut self,
        key: &'static str,
        value: Option<&T>,
    ) -> serde_json::Result<()> {
        match value {
            Some(value) => self.key(key).serde(value),
            None => Ok(()),
        }
    }

    /// A member named by data (a header name).
    fn key_escaped(&mut self, key: &str) -> serde_json::Result<&mut Writer<'a>> {
        self.separate();
        self.w.string(key)?;
        self.w.out.push(b':');
        Ok(self.w)
    }

    fn end(self) {
        self.w.out.push(b'}');
    }
}

/// Whether serde_json would escape any of these bytes: control characters, `"`, `\`.
/// Eight bytes at a time, with the bit tricks of "Bit Twiddling Hacks" (`hasless`,
/// `haszero`), which tell exactly whether any byte of a word matches.
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES * 0x80;
    let less_than = |word: u64, n: u64| word.wrapping_sub(ONES * n) & !word & HIGH;
    let escaped_in = |word: &[u8]| {
        let mut eight = [0; 8];
        eight.copy_from_slice(word);
        let word = u64::from_ne_bytes(eight);
        less_than(word, 0x20)
            | less_than(word ^ (ONES * u64::from(b'"')), 1)
            | less_than(word ^ (ONES * u64::from(b'\\')), 1)
            != 0
    };
    if bytes.len() < 8 {
        return bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
    }
    // The last word overlaps the one before rather than leaving bytes for a slow loop.
    let last = bytes.len() - 8;
    bytes.chunks_exact(8).any(escaped_in) || escaped_in(&bytes[last..])
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use proptest::prelude::*;

    use super::*;
    use crate::model::Outcome;
    use crate::testing::samples;

    fn by_hand(event: &Event) -> String {
        let mut out = Vec::new();
        write_event(&mut out, event).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn assert_same_as_serde(tx: Transaction) {
        let event = Event::Transaction(Box::new(tx));
        assert_eq!(by_hand(&event), serde_json::to_string(&event).unwrap());
    }

    #[test]
    fn a_maximal_transaction_is_written_as_serde_writes_it() {
        assert_same_as_serde(samples::maximal_transaction());
    }

    #[test]
    fn a_minimal_transaction_is_written_as_serde_writes_it() {
        let mut tx = samples::maximal_transaction();
        tx.parent_id = None;
        tx.result = None;
        tx.outcome = None;
        tx.sample_rate = None;
        tx.context = None;
        tx.dropped_spans_stats.clear();
        tx.links.clear();
        tx.otel = None;
        assert_same_as_serde(tx);
    }

    #[test]
    fn empty_context_objects_and_odd_numbers_are_written_as_serde_writes_them() {
        let mut tx = samples::maximal_transaction();
        tx.sample_rate = Some(f64::NAN);
        tx.duration = std::time::Duration::from_nanos(1);
        tx.context = Some(Box::new(Context {
            request: Some(Request::default()),
            response: Some(Response::default()),
            ..Context::default()
        }));
        assert_same_as_serde(tx);
    }

    fn exchange(path: &str) -> HttpExchange {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "shop:8080".parse().unwrap());
        headers.insert("authorization", "secret".parse().unwrap());
        headers.append("x-many", "1".parse().unwrap());
        headers.append("x-many", "\"2\"".parse().unwrap());
        headers.insert("x-bin", http::HeaderValue::from_bytes(b"\xff\t\\").unwrap());
        let uri: http::Uri = format!("{path}?q=1&token=x").parse().unwrap();
        let view = super::super::HttpRequestView {
            method: &http::Method::GET,
            uri: &uri,
            version: http::Version::HTTP_2,
            headers: &headers,
            remote_addr: Some(([127, 0, 0, 1], 1).into()),
        };
        let sanitizer = crate::Agent::disabled().config().sanitizer().clone();
        let mut exchange = HttpExchange::default();
        exchange.record_request(&view, &sanitizer, true);
        exchange.record_response(http::StatusCode::NOT_FOUND, &headers, Some(&sanitizer));
        exchange.set_finished(false);
        exchange
    }

    /// Written from the exchange as serde writes the event once prepared.
    fn assert_same_as_prepared(tx: Transaction) {
        let event = Event::Transaction(Box::new(tx));
        let mut prepared = event.clone();
        prepared.prepare();
        assert_eq!(by_hand(&event), serde_json::to_string(&prepared).unwrap());
        assert_eq!(by_hand(&event), by_hand(&prepared));
    }

    #[test]
    fn a_recorded_exchange_is_written_as_its_context_would_be() {
        let mut tx = samples::maximal_transaction();
        // Too long a URL is cut as `context.request.url` would be.
        tx.http = Some(exchange(&format!("/{}", "x".repeat(1100))));
        tx.context = None;
        assert_same_as_prepared(tx.clone());
        tx.context = Some(Box::new(samples::maximal_context()));
        tx.http = Some(exchange("/a%20b"));
        // The application's own request wins; the response comes from the exchange.
        if let Some(context) = &mut tx.context {
            context.response = None;
        }
        assert_same_as_prepared(tx.clone());
        tx.context = None;
        assert_same_as_prepared(tx.clone());
        let text = by_hand(&Event::Transaction(Box::new(tx)));
        assert!(text.contains(r#""status_code":404"#), "{text}");
        assert!(text.contains(r#""x-many":["1","\"2\""]"#), "{text}");
        assert!(
            text.contains(r#""search":"q=1&token=[REDACTED]""#),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn other_events_are_left_to_serde() {
        let event = Event::Span(Box::new(samples::maximal_span()));
        assert_eq!(by_hand(&event), serde_json::to_string(&event).unwrap());
    }

    #[test]
    fn every_byte_that_needs_escaping_is_found_wherever_it_is() {
        for len in 0..40 {
            for at in 0..len {
                for b in (0u8..0x20).chain([b'"', b'\\']) {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    assert!(needs_escape(&bytes), "{b:#x} at {at} of {len}");
                }
            }
            assert!(!needs_escape(&vec![b'a'; len]));
        }
        assert!(!needs_escape(
            "é\u{7f}…!#[]~ 日本語 \u{ff}\u{80}".repeat(3).as_bytes()
        ));
    }

    proptest! {
        #[test]
        fn any_strings_are_written_as_serde_writes_them(
            name in any::<String>(),
            method in "\\PC{0,8}|[\"\\\\\u{0}-\u{1f}]{1,3}",
            path in ".{0,40}",
            long in proptest::option::of("[a-zé]{1020,1030}"),
            headers in proptest::collection::vec(("[A-Ca-c]{1,2}|\\PC{0,6}", any::<String>()), 0..6),
            status in proptest::option::of(any::<u16>()),
            rate in proptest::option::of(prop_oneof![any::<f64>(), Just(1.0), Just(-1.0)]),
            counts in (any::<u32>(), any::<u32>()),
        ) {
            let mut tx = samples::maximal_transaction();
            tx.name = Cow::Owned(name);
            tx.result = long.clone().map(Cow::Owned);
            tx.sample_rate = rate;
            tx.span_count.started = counts.0;
            tx.span_count.dropped = counts.1;
            tx.outcome = Some(Outcome::Unknown);
            let mut context = samples::maximal_context();
            let mut request_headers = Headers::new();
            for (name, value) in &headers {
                request_headers.append(name, value);
            }
            if let Some(request) = &mut context.request {
                request.method = Cow::Owned(method);
                request.url.pathname = Some(path);
                request.url.search = long;
                request.headers = Some(request_headers);
            }
            if let Some(response) = &mut context.response {
                response.status_code = status;
            }
            tx.context = Some(Box::new(context));
            let event = Event::Transaction(Box::new(tx));
            prop_assert_eq!(by_hand(&event), serde_json::to_string(&event).unwrap());
        }
    }
}
