//! `context.request` and `context.response`, sanitised per `sanitize_field_names`.

use std::collections::BTreeMap;

use elastic_apm_core::ConfigSnapshot;
use elastic_apm_core::model::limits::{KEYWORD_MAX_CHARS, truncate};
use elastic_apm_core::model::{Headers, Request, Response, Socket, Url};
use elastic_apm_core::sanitize::Sanitizer;
use http::header::{COOKIE, HOST};
use http::{HeaderMap, Method, StatusCode, Uri, Version};

/// Headers recorded at most, per request or response; hyper allows 100 by default.
const MAX_HEADERS: usize = 100;

/// What a request looks like to the transaction, all of it borrowed from the request.
pub(crate) struct RequestView<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) version: Version,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) remote_addr: Option<std::net::SocketAddr>,
}

pub(crate) fn request(view: &RequestView<'_>, config: &ConfigSnapshot) -> Request {
    let sanitizer = config.sanitizer();
    let mut request = Request::default();
    request.method = method(view.method);
    request.url = url(view, sanitizer);
    request.http_version = Some(http_version(view.version).into());
    if config.capture_headers {
        request.headers = Some(headers(view.headers, sanitizer, true));
        request.cookies = cookies(view.headers, sanitizer);
    }
    request.socket = view.remote_addr.map(|addr| {
        let mut socket = Socket::default();
        socket.remote_address = Some(addr.ip().to_string());
        socket
    });
    request
}

pub(crate) fn response(
    status: StatusCode,
    headers: &HeaderMap,
    sanitizer: Option<&Sanitizer>,
) -> Response {
    let mut response = Response::default();
    response.status_code = Some(status.as_u16());
    response.headers_sent = Some(true);
    // Headers only when capture_headers (which is what a sanitizer here means).
    response.headers = sanitizer.map(|sanitizer| self::headers(headers, sanitizer, false));
    response
}

fn url(view: &RequestView<'_>, sanitizer: &Sanitizer) -> Url {
    let mut url = Url::default();
    // An absolute-form URI's authority may carry user:password@: never recorded.
    let host = view
        .uri
        .authority()
        .map(|a| {
            a.as_str()
                .rsplit_once('@')
                .map_or(a.as_str(), |(_, host)| host)
        })
        .or_else(|| view.headers.get(HOST).and_then(|h| h.to_str().ok()))
        .unwrap_or("");
    let host = truncate(host, KEYWORD_MAX_CHARS);
    let (hostname, port) = split_host(&host);
    let scheme = view.uri.scheme_str().unwrap_or("http");
    let path = truncate(view.uri.path(), KEYWORD_MAX_CHARS);
    let search = view.uri.query().map(|q| sanitizer.sanitize_form(q));
    let mut raw = String::with_capacity(path.len() + search.as_ref().map_or(0, |s| s.len() + 1));
    raw.push_str(&path);
    if let Some(search) = &search {
        raw.push('?');
        raw.push_str(search);
    }
    let mut full = String::with_capacity(scheme.len() + 3 + host.len() + raw.len());
    for part in [scheme, "://", &host, &raw] {
        full.push_str(part);
    }
    url.protocol = Some(match scheme {
        "http" => "http:".into(),
        "https" => "https:".into(),
        other => format!("{other}:").into(),
    });
    url.hostname = (!hostname.is_empty()).then(|| hostname.to_owned());
    url.port = port;
    url.pathname = Some(path.into_owned());
    url.raw = Some(raw);
    url.search = search;
    url.full = Some(full);
    url
}

/// `example.com:8080` → (`example.com`, 8080); `[::1]:80` → (`[::1]`, 80).
fn split_host(host: &str) -> (&str, Option<u16>) {
    match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && !port.contains(']') => (name, port.parse().ok()),
        _ => (host, None),
    }
}

/// The method's name, without allocating for the standard ones.
fn method(method: &Method) -> std::borrow::Cow<'static, str> {
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

/// Headers with sensitive values redacted. The request's `Cookie` header is left out:
/// its pairs are reported, sanitised, as `cookies`.
fn headers(map: &HeaderMap, sanitizer: &Sanitizer, skip_cookie: bool) -> Headers {
    let recorded = || {
        map.iter()
            .take(MAX_HEADERS)
            .filter(|(name, _)| !(skip_cookie && *name == COOKIE))
    };
    let text = recorded()
        .map(|(name, value)| name.as_str().len() + value.len().min(KEYWORD_MAX_CHARS))
        .sum();
    let mut headers = Headers::with_capacity(map.len().min(MAX_HEADERS), text);
    for (name, value) in recorded() {
        let value = match std::str::from_utf8(value.as_bytes()) {
            Ok(value) => value.into(),
            Err(_) => String::from_utf8_lossy(value.as_bytes()),
        };
        let value = sanitizer.sanitize(name.as_str(), &value);
        headers.append(name.as_str(), &truncate(value, KEYWORD_MAX_CHARS));
    }
    headers
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
    use elastic_apm_core::Agent;

    #[test]
    fn requests_are_recorded_sanitised() {
        let agent = Agent::disabled();
        let config = agent.config();
        let mut headers = HeaderMap::new();
        headers.insert(HOST, "shop.example.com:8080".parse().unwrap());
        headers.insert("authorization", "Bearer abc".parse().unwrap());
        headers.insert(COOKIE, "theme=dark; sessionid=s3cr3t".parse().unwrap());
        headers.insert("x-bin", http::HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        let uri: Uri = "/login?user=bob&password=hunter2".parse().unwrap();
        let view = RequestView {
            method: &Method::POST,
            uri: &uri,
            version: Version::HTTP_11,
            headers: &headers,
            remote_addr: Some(([10, 0, 0, 1], 5555).into()),
        };
        let request = request(&view, &config);
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(json["url"]["hostname"], "shop.example.com");
        assert_eq!(json["url"]["port"], 8080);
        assert_eq!(json["url"]["search"], "user=bob&password=[REDACTED]");
        assert_eq!(
            json["url"]["full"],
            "http://shop.example.com:8080/login?user=bob&password=[REDACTED]"
        );
        assert_eq!(json["headers"]["authorization"], "[REDACTED]");
        assert!(json["headers"].get("cookie").is_none());
        assert_eq!(json["cookies"]["theme"], "dark");
        assert_eq!(json["cookies"]["sessionid"], "[REDACTED]");
        assert_eq!(json["socket"]["remote_address"], "10.0.0.1");
        assert!(!json.to_string().contains("hunter2") && !json.to_string().contains("s3cr3t"));
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
