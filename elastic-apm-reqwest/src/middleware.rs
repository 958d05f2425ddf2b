//! `ApmMiddleware`: an exit span per outgoing request.

use elastic_apm_core::model::{Destination, SpanHttp, SpanHttpResponse};
use elastic_apm_core::{Agent, ApmFutureExt, Outcome, Segment, current_segment};
use http::Extensions;
use reqwest::{Request, Response, Url};
use reqwest_middleware::{Middleware, Next, Result};

use crate::inject;

/// Records every request sent through a `reqwest_middleware` client as an exit span
/// (`external`/`http`, named `GET host`) of the current transaction, and sends the
/// trace context downstream.
///
/// The parent is the current transaction or span (`elastic_apm_core::current_segment`),
/// or a [`Segment`] put in the request's extensions
/// (`client.get(url).with_extension(segment)`), which wins. Outside any, the request
/// goes out untouched.
///
/// The span covers sending the request and receiving the response head: the body is
/// read later, by the caller, and is not part of it (read it inside your own span to
/// time the download).
#[derive(Clone, Debug)]
pub struct ApmMiddleware {
    agent: Agent,
    overwrite_headers: bool,
}

impl ApmMiddleware {
    /// A middleware recording into `agent`.
    pub fn new(agent: &Agent) -> Self {
        ApmMiddleware {
            agent: agent.clone(),
            overwrite_headers: false,
        }
    }

    /// Whether `traceparent` / `tracestate` the application set on a request are
    /// replaced (default false: they are kept).
    pub fn overwrite_trace_headers(mut self, overwrite: bool) -> Self {
        self.overwrite_headers = overwrite;
        self
    }
}

#[async_trait::async_trait]
impl Middleware for ApmMiddleware {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        let parent = extensions
            .get::<Segment>()
            .cloned()
            .or_else(current_segment);
        let Some(parent) = parent else {
            return next.run(request, extensions).await;
        };
        let legacy = self.agent.config().use_elastic_traceparent_header;
        if !parent.is_sampled() {
            // Unsampled: no span, but downstream must know the decision.
            inject::trace_headers(
                request.headers_mut(),
                &parent,
                legacy,
                self.overwrite_headers,
            );
            return next.run(request, extensions).await;
        }
        let url = request.url();
        let host = url.host_str().unwrap_or("unknown").to_owned();
        let url_text = url.as_str().to_owned();
        let clean_url = clean_url(&self.agent, url);
        let span = parent
            .span(format!("{} {host}", request.method()), "external")
            .subtype("http")
            .action("request")
            .exit()
            .start();
        // A span that is not recorded (over transaction_max_spans, say) still passes on
        // the trace, with its parent as the caller.
        let caller = span.segment().unwrap_or_else(|| parent.clone());
        inject::trace_headers(
            request.headers_mut(),
            &caller,
            legacy,
            self.overwrite_headers,
        );
        // The callee's transaction will name this span its parent: never drop it as fast.
        span.set_discardable(false);
        // Also for a span over the limit: its destination counts in dropped_spans_stats.
        let (http, destination) = span_context(request.method(), request.url(), &clean_url, &host);
        span.with_context(|c| {
            c.http = Some(http);
            c.destination = Some(destination);
        });
        let result = next
            .run(request, extensions)
            .in_segment(span.segment())
            .await;
        match &result {
            Ok(response) => {
                let status = response.status();
                span.set_instrumentation_outcome(if status.as_u16() >= 400 {
                    Outcome::Failure
                } else {
                    Outcome::Success
                });
                span.with_context(|c| {
                    if let Some(http) = c.http.as_mut() {
                        let mut answer = SpanHttpResponse::default();
                        answer.status_code = Some(status.as_u16());
                        http.response = Some(answer);
                    }
                });
            }
            Err(error) => {
                span.set_instrumentation_outcome(Outcome::Failure);
                // reqwest's messages quote the URL, credentials included.
                let failure = RequestFailed(redacted_message(error, &url_text, &clean_url));
                self.agent
                    .error(&failure)
                    .parent(span.segment())
                    .kind("reqwest_middleware::Error")
                    .capture();
            }
        }
        span.end();
        result
    }
}

/// The URL as recorded: no credentials, no fragment, sensitive query values redacted.
fn clean_url(agent: &Agent, url: &Url) -> String {
    let mut clean = url.clone();
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    if let Some(query) = url.query() {
        let sanitized = agent.config().sanitizer().sanitize_form(query);
        clean.set_query(Some(&sanitized));
    }
    clean.set_fragment(None);
    clean.into()
}

/// The error's message and causes, with the request URL replaced by its clean form.
fn redacted_message(error: &reqwest_middleware::Error, url: &str, clean: &str) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message.replace(url, clean)
}

/// A failed request, as reported: the message of reqwest's error, credentials removed.
#[derive(Debug)]
struct RequestFailed(String);

impl std::fmt::Display for RequestFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RequestFailed {}

/// `context.http` and `context.destination`.
fn span_context(
    method: &http::Method,
    url: &Url,
    clean_url: &str,
    host: &str,
) -> (SpanHttp, Destination) {
    let mut http = SpanHttp::default();
    http.method = Some(method.as_str().to_owned());
    http.url = Some(clean_url.to_owned());
    let mut destination = Destination::default();
    destination.address = Some(host.to_owned());
    destination.port = url.port_or_known_default();
    (http, destination)
}
