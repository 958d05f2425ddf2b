//! An HTTP request and its response as recorded on the application's thread, turned
//! into `context.request` and `context.response` on the reporter's.
//!
//! Building those objects where the request is handled took about half of what an
//! instrumented request cost the application (six small strings, a boxed context, the
//! parsing of URL and headers, all dropped again later), and most of that code ran
//! cold once per request. Here the request thread only decides what is secret and
//! copies the bytes worth keeping into one buffer; the rest waits for the reporter
//! thread, which does it for a batch of events at a time (or for whoever
//! [prepares](super::Event::prepare) the event).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use http::header::{COOKIE, HOST};
use http::{HeaderMap, Method, StatusCode, Uri, Version};
use smallvec::SmallVec;

use super::limits::{KEYWORD_MAX_CHARS, truncate};
use super::{Headers, Request, Response, Socket, Url};
use crate::sanitize::{REDACTED, Sanitizer};

/// Headers recorded at most, per request or response; hyper allows 100 by default.
const MAX_HEADERS: usize = 100;

/// Bytes of a header value kept: enough for the 1024 characters reported, however
/// they are encoded, and a bound on what a hostile header can make the agent hold.
const MAX_VALUE_BYTES: usize = 4 * KEYWORD_MAX_CHARS;

/// Bytes reserved with the request's for the response's headers, so that recording
/// those rarely grows the buffer.
const RESPONSE_ROOM: usize = 96;

/// Headers whose offsets are kept inline; more spill to the heap.
const INLINE_HEADERS: usize = 12;

/// The request as an integration sees it, all of it borrowed.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequestView<'a> {
    /// The method.
    pub method: &'a Method,
    /// The request target.
    pub uri: &'a Uri,
    /// The protocol version.
    pub version: Version,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The client's address, when the server knows it.
    pub remote_addr: Option<std::net::SocketAddr>,
}

/// An HTTP request and its response, recorded for a transaction with
/// [`Transaction::with_http`](crate::Transaction::with_http).
///
/// Values are sanitised as they are recorded (a secret header's value is never
/// copied); the `context.request` and `context.response` objects are built from it
/// when the event is encoded or [prepared](super::Event::prepare). A `request` or
/// `response` the application sets in the context itself takes precedence.
#[derive(Clone, Default, PartialEq)]
pub struct HttpExchange {
    /// Scheme, path, the URI's host (if it has one), each header's name and value one
    /// after another, then the `Host` header's value if it was not among them.
    text: Vec<u8>,
    scheme_end: u32,
    path_end: u32,
    /// Where the host is in `text`: the URI's, or the `Host` header's value.
    host: Option<(u32, u32)>,
    headers_start: u32,
    headers: SmallVec<[HeaderEnds; INLINE_HEADERS]>,
    method: Option<Method>,
    version: Version,
    /// The query string, sanitised.
    search: Option<String>,
    cookies: Option<BTreeMap<String, String>>,
    remote: Option<IpAddr>,
    request_headers: bool,
    request_body: Option<serde_json::Value>,
    status: Option<u16>,
    response_headers: bool,
    finished: Option<bool>,
}

/// Where a header's name and value end in `text`; it starts where the one before ended.
#[derive(Debug, Clone, Copy, PartialEq)]
struct HeaderEnds {
    name_end: u32,
    value_end: u32,
    flags: u8,
}

const REDACT: u8 = 1;
const RESPONSE: u8 = 2;

impl std::fmt::Debug for HttpExchange {
    // Secret values were never copied, but the text is still the user's data: the
    // resolved objects say what will be sent.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpExchange")
            .field("request", &self.to_request())
            .field("response", &self.to_response())
            .finish()
    }
}

impl HttpExchange {
    /// Records the request: method, URL and, when `capture_headers`, its headers
    /// (`Cookie` as sanitised `cookies`). Secret values are redacted here. Call it
    /// first: it replaces whatever was recorded before.
    pub fn record_request(
        &mut self,
        request: &HttpRequestView<'_>,
        sanitizer: &Sanitizer,
        capture_headers: bool,
    ) {
        if !self.is_empty() || !self.text.is_empty() {
            *self = HttpExchange::default();
        }
        self.method = Some(request.method.clone());
        self.version = request.version;
        self.remote = request.remote_addr.map(|addr| addr.ip());
        // An absolute-form URI's authority may carry user:password@: never recorded.
        let authority = request.uri.authority().map(|a| {
            a.as_str()
                .rsplit_once('@')
                .map_or(a.as_str(), |(_, host)| host)
        });
        let scheme = request.uri.scheme_str().unwrap_or("http");
        let path = request.uri.path();
        let headers = if capture_headers {
            // And room for a usual response's headers (content-type, content-length).
            text_len(request.headers) + RESPONSE_ROOM
        } else {
            0
        };
        self.text
            .reserve(scheme.len() + path.len() + authority.map_or(0, str::len) + headers);
        self.text.extend_from_slice(scheme.as_bytes());
        self.scheme_end = self.end();
        self.push_capped(path.as_bytes());
        self.path_end = self.end();
        if let Some(host) = authority {
            self.push_capped(host.as_bytes());
            self.host = Some((self.path_end, self.end()));
        }
        self.headers_start = self.end();
        self.search = request.uri.query().map(|q| sanitizer.sanitize_form(q));
        if capture_headers {
            self.request_headers = true;
            if self.record_headers(request.headers, sanitizer, 0) {
                self.cookies = cookies(request.headers, sanitizer);
            }
        }
        if self.host.is_none() {
            // The headers were not recorded, or the Host header's value was secret.
            let host = request.headers.get(HOST).and_then(|h| h.to_str().ok());
            let start = self.end();
            self.push_capped(host.unwrap_or("").as_bytes());
            self.host = Some((start, self.end()));
        }
    }

    fn push_capped(&mut self, bytes: &[u8]) {
        self.text
            .extend_from_slice(&bytes[..bytes.len().min(MAX_VALUE_BYTES)]);
    }

    /// Records the response: its status and, with a `sanitizer` (`capture_headers`),
    /// its headers.
    pub fn record_response(
        &mut self,
        status: StatusCode,
        headers: &HeaderMap,
        sanitizer: Option<&Sanitizer>,
    ) {
        self.status = Some(status.as_u16());
        if let Some(sanitizer) = sanitizer {
            self.response_headers = true;
            self.text.reserve(text_len(headers));
            self.record_headers(headers, sanitizer, RESPONSE);
        }
    }

    /// Whether the whole response body was sent (`context.response.finished`).
    pub fn set_finished(&mut self, finished: bool) {
        self.finished = Some(finished);
    }

    /// The request body to report (`context.request.body`), as captured and sanitised.
    pub fn set_request_body(&mut self, body: serde_json::Value) {
        self.request_body = Some(body);
    }

    /// Whether neither request nor response was recorded.
    pub fn is_empty(&self) -> bool {
        self.method.is_none() && self.status.is_none()
    }

    fn end(&self) -> u32 {
        // Text past 4 GiB cannot be recorded: MAX_HEADERS values of MAX_VALUE_BYTES.
        u32::try_from(self.text.len()).unwrap_or(u32::MAX)
    }

    /// Records the headers' names and values; returns whether a request's `Cookie`
    /// header was left for [`cookies`].
    fn record_headers(&mut self, map: &HeaderMap, sanitizer: &Sanitizer, flags: u8) -> bool {
        let request = flags & RESPONSE == 0;
        let mut cookie = false;
        for (name, value) in map.iter().take(MAX_HEADERS) {
            // The request's Cookie header is reported, sanitised, as `cookies`.
            if request && name == COOKIE {
                cookie = true;
                continue;
            }
            let is_host = request && name == HOST;
            let name = name.as_str();
            self.text.extend_from_slice(name.as_bytes());
            let name_end = self.end();
            let redact = sanitizer.is_sensitive(name);
            if !redact {
                self.push_capped(value.as_bytes());
            }
            let value_end = self.end();
            // The URL's host, unless the URI had one: the first Host value, as
            // `HeaderMap::get` would give it, and only as valid text.
            if is_host && !redact && self.host.is_none() && value.to_str().is_ok() {
                self.host = Some((name_end, value_end));
            }
            self.headers.push(HeaderEnds {
                name_end,
                value_end,
                flags: flags | if redact { REDACT } else { 0 },
            });
        }
        cookie
    }

    fn slice(&self, start: u32, end: u32) -> &[u8] {
        self.text.get(start as usize..end as usize).unwrap_or(&[])
    }

    /// Sets `context.request` and `context.response` from what was recorded, where the
    /// application did not set them itself.
    pub(crate) fn fill(&self, context: &mut super::Context) {
        if context.request.is_none() {
            context.request = self.to_request();
        }
        if context.response.is_none() {
            context.response = self.to_response();
        }
    }

    /// The URL's parts as they are reported, when the whole URL is short enough that
    /// no part of it is cut (the usual case): the intake encoder writes them as they
    /// are, without building the strings of [`Url`].
    pub(crate) fn short_url(&self) -> Option<ShortUrl<'_>> {
        let url = std::str::from_utf8(self.slice(0, self.path_end)).ok()?;
        let scheme = url.get(..self.scheme_end as usize)?;
        let path = url.get(self.scheme_end as usize..)?;
        let (start, end) = self.host.unwrap_or_default();
        let host = std::str::from_utf8(self.slice(start, end)).ok()?;
        let search = self.search.as_deref();
        let full = scheme.len() + 3 + host.len() + path.len() + search.map_or(0, |s| s.len() + 1);
        if full > KEYWORD_MAX_CHARS {
            return None;
        }
        let (hostname, port) = split_host(host);
        Some(ShortUrl {
            scheme,
            host,
            hostname,
            port,
            path,
            search,
        })
    }

    /// The method as reported.
    pub(crate) fn method_name(&self) -> Option<Cow<'static, str>> {
        self.method.as_ref().map(method_name)
    }

    pub(crate) fn http_version(&self) -> &'static str {
        http_version(self.version)
    }

    pub(crate) fn request_parts(&self) -> RequestParts<'_> {
        RequestParts {
            headers: self.request_headers,
            cookies: self.cookies.as_ref(),
            remote: self.remote,
            body: self.request_body.as_ref(),
        }
    }

    pub(crate) fn response_parts(&self) -> Option<ResponseParts> {
        Some(ResponseParts {
            status: self.status?,
            headers: self.response_headers,
            finished: self.finished,
        })
    }

    /// The request's (`response` false) or the response's headers, each name and value
    /// as reported (cut, redacted). `HeaderMap` yields the values of a name one after
    /// another: a repeated name comes in a run.
    pub(crate) fn header_entries(
        &self,
        response: bool,
    ) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
        let flags = if response { RESPONSE } else { 0 };
        // One check of the whole text instead of one per name and value.
        let text = std::str::from_utf8(&self.text).ok();
        let part = move |start: u32, end: u32| match text
            .and_then(|t| t.get(start as usize..end as usize))
        {
            Some(part) => Cow::Borrowed(part),
            None => lossy(self.slice(start, end)),
        };
        let mut start = self.headers_start;
        self.headers.iter().filter_map(move |ends| {
            let (name_start, value_start) = (start, ends.name_end);
            start = ends.value_end;
            if ends.flags & RESPONSE != flags {
                return None;
            }
            let value = if ends.flags & REDACT != 0 {
                Cow::Borrowed(REDACTED)
            } else {
                match part(value_start, ends.value_end) {
                    Cow::Borrowed(value) => truncate(value, KEYWORD_MAX_CHARS),
                    Cow::Owned(value) => {
                        Cow::Owned(truncate(&value, KEYWORD_MAX_CHARS).into_owned())
                    }
                }
            };
            Some((part(name_start, ends.name_end), value))
        })
    }

    /// `context.request`, when a request was recorded.
    pub fn to_request(&self) -> Option<Request> {
        let method = self.method.as_ref()?;
        Some(Request {
            method: method_name(method),
            url: self.url(),
            http_version: Some(http_version(self.version).into()),
            headers: self.request_headers.then(|| self.headers(false)),
            cookies: self.cookies.clone(),
            socket: self.remote.map(|ip| Socket {
                remote_address: Some(ip.to_string()),
                encrypted: None,
            }),
            body: self.request_body.clone(),
        })
    }

    /// `context.response`, when a response was recorded.
    pub fn to_response(&self) -> Option<Response> {
        let status = self.status?;
        Some(Response {
            status_code: Some(status),
            headers: self.response_headers.then(|| self.headers(true)),
            finished: self.finished,
            headers_sent: Some(true),
            ..Response::default()
        })
    }

    fn url(&self) -> Url {
        let text = |start, end| lossy(self.slice(start, end));
        let scheme = text(0, self.scheme_end);
        let (host_start, host_end) = self.host.unwrap_or_default();
        let host = text(host_start, host_end);
        let host = truncate(&host, KEYWORD_MAX_CHARS);
        let path = text(self.scheme_end, self.path_end);
        let path = truncate(&path, KEYWORD_MAX_CHARS);
        let (hostname, port) = split_host(&host);
        let search = self.search.as_deref();
        let mut raw = String::with_capacity(path.len() + search.map_or(0, |s| s.len() + 1));
        raw.push_str(&path);
        if let Some(search) = search {
            raw.push('?');
            raw.push_str(search);
        }
        let mut full = String::with_capacity(scheme.len() + 3 + host.len() + raw.len());
        for part in [&*scheme, "://", &host, &raw] {
            full.push_str(part);
        }
        Url {
            full: Some(full),
            raw: Some(raw),
            protocol: Some(match &*scheme {
                "http" => "http:".into(),
                "https" => "https:".into(),
                other => format!("{other}:").into(),
            }),
            hostname: (!hostname.is_empty()).then(|| hostname.to_owned()),
            port,
            pathname: Some(path.into_owned()),
            search: self.search.clone(),
            hash: None,
        }
    }

    /// The request's (`response` false) or the response's headers.
    fn headers(&self, response: bool) -> Headers {
        let mut headers = Headers::new();
        for (name, value) in self.header_entries(response) {
            headers.append(&name, &value);
        }
        headers
    }
}

/// `String::from_utf8_lossy`, but checking first with `str::from_utf8`, several
/// times faster on the ASCII that header names and values almost always are.
fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// A URL short enough to be reported uncut; see [`HttpExchange::short_url`].
pub(crate) struct ShortUrl<'a> {
    pub(crate) scheme: &'a str,
    pub(crate) host: &'a str,
    pub(crate) hostname: &'a str,
    pub(crate) port: Option<u16>,
    pub(crate) path: &'a str,
    pub(crate) search: Option<&'a str>,
}

pub(crate) struct RequestParts<'a> {
    /// Headers were recorded (`capture_headers`).
    pub(crate) headers: bool,
    pub(crate) cookies: Option<&'a BTreeMap<String, String>>,
    pub(crate) remote: Option<IpAddr>,
    pub(crate) body: Option<&'a serde_json::Value>,
}

pub(crate) struct ResponseParts {
    pub(crate) status: u16,
    /// Headers were recorded (`capture_headers`).
    pub(crate) headers: bool,
    pub(crate) finished: Option<bool>,
}

/// Bytes of text the headers take once recorded (at most).
fn text_len(map: &HeaderMap) -> usize {
    map.iter()
        .take(MAX_HEADERS)
        .map(|(name, value)| name.as_str().len() + value.len().min(MAX_VALUE_BYTES))
        .sum()
}

/// `example.com:8080` → (`example.com`, 8080); `[::1]:80` → (`[::1]`, 80).
fn split_host(host: &str) -> (&str, Option<u16>) {
    match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && !port.contains(']') => (name, port.parse().ok()),
        _ => (host, None),
    }
}

/// The method's name, without allocating for the standard ones.
fn method_name(method: &Method) -> Cow<'static, str> {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::PATCH,
        Method::CONNECT,
        Method::TRACE,
    ];
    const NAMES: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
    ];
    match STANDARD.iter().position(|m| m == method) {
        Some(i) => NAMES[i].into(),
        None => truncate(method.as_str(), KEYWORD_MAX_CHARS)
            .into_owned()
            .into(),
    }
}

fn http_version(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

fn cookies(map: &HeaderMap, sanitizer: &Sanitizer) -> Option<BTreeMap<String, String>> {
    let mut cookies = BTreeMap::new();
    for header in map.get_all(COOKIE) {
        let header = String::from_utf8_lossy(header.as_bytes());
        for pair in header.split(';').take(MAX_HEADERS) {
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let name = truncate(name.trim(), KEYWORD_MAX_CHARS).into_owned();
            let value = sanitizer.sanitize(&name, value.trim());
            cookies.insert(name, truncate(value, KEYWORD_MAX_CHARS).into_owned());
        }
    }
    (!cookies.is_empty()).then_some(cookies)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Agent;

    fn recorded(uri: &str, headers: &HeaderMap, capture_headers: bool) -> HttpExchange {
        let agent = Agent::disabled();
        let config = agent.config();
        let uri: Uri = uri.parse().unwrap();
        let view = HttpRequestView {
            method: &Method::POST,
            uri: &uri,
            version: Version::HTTP_11,
            headers,
            remote_addr: Some(([10, 0, 0, 1], 5555).into()),
        };
        recorded_with(&view, config.sanitizer(), capture_headers)
    }

    #[test]
    fn requests_are_recorded_sanitised() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, "shop.example.com:8080".parse().unwrap());
        headers.insert("authorization", "Bearer abc".parse().unwrap());
        headers.insert(COOKIE, "theme=dark; sessionid=s3cr3t".parse().unwrap());
        headers.insert("x-bin", http::HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        let exchange = recorded("/login?user=bob&password=hunter2", &headers, true);
        assert!(!String::from_utf8_lossy(&exchange.text).contains("Bearer abc"));
        let json = serde_json::to_value(exchange.to_request().unwrap()).unwrap();
        assert_eq!(json["method"], "POST");
        assert_eq!(json["http_version"], "1.1");
        assert_eq!(json["url"]["hostname"], "shop.example.com");
        assert_eq!(json["url"]["port"], 8080);
        assert_eq!(json["url"]["pathname"], "/login");
        assert_eq!(json["url"]["search"], "user=bob&password=[REDACTED]");
        assert_eq!(
            json["url"]["full"],
            "http://shop.example.com:8080/login?user=bob&password=[REDACTED]"
        );
        assert_eq!(json["url"]["raw"], "/login?user=bob&password=[REDACTED]");
        assert_eq!(json["headers"]["authorization"], "[REDACTED]");
        assert_eq!(json["headers"]["x-bin"], "\u{fffd}\u{fffd}");
        assert!(json["headers"].get("cookie").is_none());
        assert_eq!(json["cookies"]["theme"], "dark");
        assert_eq!(json["cookies"]["sessionid"], "[REDACTED]");
        assert_eq!(json["socket"]["remote_address"], "10.0.0.1");
        let text = json.to_string();
        assert!(!text.contains("hunter2") && !text.contains("s3cr3t") && !text.contains("abc"));
        assert!(!format!("{exchange:?}").contains("Bearer abc"));
    }

    #[test]
    fn responses_keep_their_own_headers() {
        let mut request_headers = HeaderMap::new();
        request_headers.insert("accept", "text/html".parse().unwrap());
        let mut exchange = recorded("/", &request_headers, true);
        assert!(exchange.to_response().is_none());
        let mut headers = HeaderMap::new();
        headers.insert("set-cookie", "sessionid=s3cr3t".parse().unwrap());
        headers.append("x-many", "1".parse().unwrap());
        headers.append("x-many", "2".parse().unwrap());
        let sanitizer = Agent::disabled().config().sanitizer().clone();
        exchange.record_response(StatusCode::CREATED, &headers, Some(&sanitizer));
        exchange.set_finished(true);
        let response = serde_json::to_value(exchange.to_response().unwrap()).unwrap();
        assert_eq!(
            response,
            serde_json::json!({
                "status_code": 201,
                "headers": {"set-cookie": "[REDACTED]", "x-many": ["1", "2"]},
                "finished": true,
                "headers_sent": true,
            })
        );
        let request = serde_json::to_value(exchange.to_request().unwrap()).unwrap();
        assert_eq!(
            request["headers"],
            serde_json::json!({"accept": "text/html"})
        );
    }

    #[test]
    fn without_capture_headers_only_the_url_is_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, "h:1".parse().unwrap());
        headers.insert("x-a", "b".parse().unwrap());
        let mut exchange = recorded("/p", &headers, false);
        exchange.record_response(StatusCode::OK, &headers, None);
        let request = exchange.to_request().unwrap();
        assert_eq!(request.headers, None);
        assert_eq!(request.url.full.as_deref(), Some("http://h:1/p"));
        assert_eq!(exchange.to_response().unwrap().headers, None);
    }

    #[test]
    fn long_values_are_cut_and_bounded() {
        let mut headers = HeaderMap::new();
        let long = "é".repeat(5000);
        headers.insert("x-long", long.parse().unwrap());
        let exchange = recorded(&format!("/{}", "a".repeat(5000)), &headers, true);
        assert!(exchange.text.len() <= 3 * MAX_VALUE_BYTES);
        let request = exchange.to_request().unwrap();
        let value = request.headers.unwrap().get("x-long").unwrap().to_owned();
        assert_eq!(value.chars().count(), KEYWORD_MAX_CHARS);
        assert!(value.ends_with('…'));
        let path = request.url.pathname.unwrap();
        assert_eq!(path.chars().count(), KEYWORD_MAX_CHARS);
    }

    #[test]
    fn recording_a_request_again_replaces_the_first() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, "first:1".parse().unwrap());
        let mut exchange = recorded("/first", &headers, true);
        let mut again = HeaderMap::new();
        again.insert(HOST, "second:2".parse().unwrap());
        let uri: Uri = "/second".parse().unwrap();
        let view = HttpRequestView {
            method: &Method::GET,
            uri: &uri,
            version: Version::HTTP_11,
            headers: &again,
            remote_addr: None,
        };
        let sanitizer = Agent::disabled().config().sanitizer().clone();
        exchange.record_request(&view, &sanitizer, true);
        assert_eq!(exchange, recorded_with(&view, &sanitizer, true));
        let request = exchange.to_request().unwrap();
        assert_eq!(request.url.full.as_deref(), Some("http://second:2/second"));
        assert_eq!(request.headers.unwrap().iter().count(), 1);
    }

    fn recorded_with(
        view: &HttpRequestView<'_>,
        sanitizer: &Sanitizer,
        capture_headers: bool,
    ) -> HttpExchange {
        let mut exchange = HttpExchange::default();
        exchange.record_request(view, sanitizer, capture_headers);
        exchange
    }

    #[test]
    fn hosts_split() {
        assert_eq!(split_host("a.b:80"), ("a.b", Some(80)));
        assert_eq!(split_host("a.b"), ("a.b", None));
        assert_eq!(split_host("[::1]:8200"), ("[::1]", Some(8200)));
        assert_eq!(split_host("[::1]"), ("[::1]", None));
        assert_eq!(split_host(":x"), (":x", None));
    }
}
