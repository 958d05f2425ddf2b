//! `ApmService`: starts the transaction and hands the request on.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use elastic_apm_core::model::HttpRequestView;
use elastic_apm_core::{CaptureBody, Segment, current_segment};
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, Request, Response};
use tower_service::Service;

use crate::body::{ApmRequestBody, CaptureHandle, Captured};
use crate::future::ResponseFuture;
use crate::guard::{BodyKind, TxGuard};
use crate::layer::ApmLayer;
use crate::naming::RouteInfo;
use crate::panic;

/// The service [`ApmLayer`] wraps around an HTTP service.
#[derive(Clone, Debug)]
pub struct ApmService<S> {
    inner: S,
    layer: ApmLayer,
}

struct Started {
    guard: TxGuard,
    segment: Option<Segment>,
    capture: Option<(CaptureHandle, usize)>,
}

impl<S> ApmService<S> {
    pub(crate) fn new(inner: S, layer: ApmLayer) -> Self {
        ApmService { inner, layer }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Starts the request's transaction, unless the agent is off or the request ignored.
    fn start(&self, parts: &http::request::Parts, body_is_empty: bool) -> Option<Started> {
        let agent = &self.layer.agent;
        if !agent.is_recording() {
            return None;
        }
        let info = RouteInfo {
            method: &parts.method,
            uri: &parts.uri,
            route: matched_path(&parts.extensions),
        };
        if let Some(outer) = current_segment().filter(|s| !s.is_span()) {
            // Inside another ApmLayer (nested routers, layer + route_layer): one request,
            // one transaction; this layer, nearer the handler, may know the route.
            if info.route.is_some() {
                outer.set_transaction_name(self.layer.settings.naming.name(&info));
            }
            return None;
        }
        let config = agent.config();
        if config.transaction_ignore_urls.matches_any(parts.uri.path()) {
            return None;
        }
        // Usually there is nothing to ignore: then the header is not even looked up.
        let ignored_agents = &config.transaction_ignore_user_agents;
        if !ignored_agents.is_empty() {
            let user_agent = parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
            if user_agent.is_some_and(|ua| ignored_agents.matches_any(ua)) {
                return None;
            }
        }
        let name = self.layer.settings.naming.name(&info);
        let mut tx = agent.transaction(name, "request").with_config(&config);
        if has_trace_context(&parts.headers) {
            tx = tx.parent_from_headers(TRACE_HEADERS.iter().flat_map(|name| {
                parts
                    .headers
                    .get_all(name)
                    .iter()
                    .map(move |v| (name.as_str(), v.as_bytes()))
            }));
        }
        let tx = tx.start();
        let (mut capture, mut withheld) = (None, false);
        let captures_context = tx.captures_context();
        if captures_context {
            let view = HttpRequestView {
                method: &parts.method,
                uri: &parts.uri,
                version: parts.version,
                headers: &parts.headers,
                remote_addr: remote_addr(&parts.extensions),
            };
            tx.with_http(|http| {
                http.record_request(&view, config.sanitizer(), config.capture_headers);
            });
            // A body that says it has ended has nothing to capture or withhold, whatever
            // the headers claim; one that cannot tell is taken to have something.
            if !body_is_empty {
                let kind = match config.capture_body {
                    CaptureBody::Off => None,
                    _ => body_kind(&parts.headers),
                };
                withheld = !matches!(
                    config.capture_body,
                    CaptureBody::Transactions | CaptureBody::All
                ) || kind.is_none();
                capture = kind.map(|kind| (Arc::new(Mutex::new(Captured::default())), kind));
            }
        }
        let limit = config.long_field_max_length;
        let guard = TxGuard::new(
            tx,
            capture.clone(),
            config.capture_body,
            config.capture_headers,
            withheld,
            captures_context,
        );
        Some(Started {
            segment: guard.segment(),
            guard,
            capture: capture.map(|(handle, _)| (handle, limit)),
        })
    }
}

/// Whether the request carries trace context to continue (tracestate alone continues
/// nothing). Most requests do not. A walk over a few names, comparing each (a
/// standard name against ours is one integer comparison), costs less than hashing
/// ours for two lookups; with many names the lookups win.
fn has_trace_context(headers: &HeaderMap) -> bool {
    let [traceparent, _, legacy] = &TRACE_HEADERS;
    if headers.keys_len() <= 16 {
        headers
            .keys()
            .any(|name| name == traceparent || name == legacy)
    } else {
        headers.contains_key(traceparent) || headers.contains_key(legacy)
    }
}

/// The headers trace context is read from (parsed names: no parsing per request).
static TRACE_HEADERS: [http::HeaderName; 3] = [
    http::HeaderName::from_static("traceparent"),
    http::HeaderName::from_static("tracestate"),
    http::HeaderName::from_static("elastic-apm-traceparent"),
];

impl<S, ReqB, ResB> Service<Request<ReqB>> for ApmService<S>
where
    S: Service<Request<ApmRequestBody<ReqB>>, Response = Response<ResB>>,
    ReqB: http_body::Body,
    ResB: http_body::Body,
{
    type Response = Response<crate::ApmResponseBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let (parts, body) = request.into_parts();
        let parts_is_head = parts.method == http::Method::HEAD;
        let (guard, segment, capture) = match self.start(&parts, body.is_end_stream()) {
            Some(Started {
                guard,
                segment,
                capture,
            }) => (Some(guard), segment, capture),
            None => (None, None, None),
        };
        let request = Request::from_parts(parts, ApmRequestBody::new(body, capture));
        // Whether or not this request is recorded, a panic is answered the same way.
        let catch_panic = self.layer.settings.catch_panic;
        if catch_panic {
            panic::install_hook();
        }
        let head = parts_is_head;
        let inner = &mut self.inner;
        let future = {
            let _enter = segment.as_ref().map(Segment::enter);
            if catch_panic {
                panic::catch(|| inner.call(request))
            } else {
                Ok(inner.call(request))
            }
        };
        ResponseFuture::new(future, guard, segment, catch_panic, head)
    }
}

/// Bodies worth reading as text; others (binary uploads) are never captured.
fn body_kind(headers: &HeaderMap) -> Option<BodyKind> {
    let content_type = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let mime = content_type.split(';').next()?.trim();
    let is = |other: &str| mime.eq_ignore_ascii_case(other);
    let ends = |suffix: &str| {
        mime.len() >= suffix.len()
            && mime.as_bytes()[mime.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    };
    let starts = |prefix: &str| {
        mime.len() >= prefix.len()
            && mime.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    };
    if is("application/x-www-form-urlencoded") {
        Some(BodyKind::Form)
    } else if starts("text/")
        || is("application/json")
        || is("application/xml")
        || ends("+json")
        || ends("+xml")
    {
        Some(BodyKind::Text)
    } else {
        None
    }
}

#[cfg(feature = "axum")]
fn matched_path(extensions: &http::Extensions) -> Option<&str> {
    extensions
        .get::<axum::extract::MatchedPath>()
        .map(axum::extract::MatchedPath::as_str)
}

#[cfg(not(feature = "axum"))]
fn matched_path(_: &http::Extensions) -> Option<&str> {
    None
}

#[cfg(feature = "axum")]
fn remote_addr(extensions: &http::Extensions) -> Option<std::net::SocketAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0)
}

#[cfg(not(feature = "axum"))]
fn remote_addr(_: &http::Extensions) -> Option<std::net::SocketAddr> {
    None
}
