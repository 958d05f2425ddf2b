//! One request's transaction from start to end: whichever of the response future and
//! the response body holds it last ends it, also when dropped early.

use elastic_apm_core::{Agent, CaptureBody, Outcome, Segment, Transaction};
use http::{HeaderMap, StatusCode};

use crate::body::CaptureHandle;
use crate::classify;

/// How a captured request body is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// `application/x-www-form-urlencoded`: sanitised like a query string.
    Form,
    /// JSON, XML, text: reported as it is.
    Text,
}

pub(crate) struct TxGuard {
    tx: Transaction,
    capture: Option<(CaptureHandle, BodyKind)>,
    capture_body: CaptureBody,
    capture_headers: bool,
    /// The request had a body that capture_body kept out: reported as `[REDACTED]`.
    body_withheld: bool,
    /// Request and response context are recorded (see `Transaction::captures_context`).
    captures_context: bool,
    responded: bool,
}

impl TxGuard {
    pub(crate) fn new(
        tx: Transaction,
        capture: Option<(CaptureHandle, BodyKind)>,
        capture_body: CaptureBody,
        capture_headers: bool,
        body_withheld: bool,
        captures_context: bool,
    ) -> Self {
        TxGuard {
            tx,
            capture,
            capture_body,
            capture_headers,
            body_withheld,
            captures_context,
            responded: false,
        }
    }

    pub(crate) fn segment(&self) -> Option<Segment> {
        self.tx.segment()
    }

    pub(crate) fn respond(&mut self, status: StatusCode, headers: &HeaderMap) {
        self.responded = true;
        self.tx.set_result(classify::result(status));
        self.tx
            .set_instrumentation_outcome(classify::outcome(status));
        if self.captures_context {
            // Headers only when capture_headers (which is what a sanitizer means there).
            let config = self
                .tx
                .agent()
                .filter(|_| self.capture_headers)
                .map(Agent::config);
            let sanitizer = config.as_ref().map(|c| c.sanitizer());
            self.tx
                .with_http(|http| http.record_response(status, headers, sanitizer));
        }
    }

    /// The inner service failed without a response.
    pub(crate) fn failed(&mut self) {
        self.responded = true;
        self.tx.set_instrumentation_outcome(Outcome::Failure);
    }

    /// Reports an error the handler hands over (a panic, a [`ReportedError`]), with the
    /// request body when `capture_body` is `errors` or `all`.
    ///
    /// [`ReportedError`]: crate::ReportedError
    pub(crate) fn capture_error(
        &mut self,
        error: &(dyn std::error::Error + 'static),
        configure: impl FnOnce(elastic_apm_core::ErrorBuilder<'_>) -> elastic_apm_core::ErrorBuilder<'_>,
    ) {
        let for_errors = matches!(self.capture_body, CaptureBody::Errors | CaptureBody::All);
        let body = if for_errors {
            self.captured_body()
        } else {
            None
        };
        // The transaction is real (the layer only guards those): it has its agent.
        let Some(agent) = self.tx.agent() else {
            return;
        };
        let mut builder = configure(agent.error(error).parent(self.tx.segment()));
        if let Some(body) = body {
            // On the error's copy of the request only: the transaction keeps its own.
            builder = builder.with_context(move |c| {
                if let Some(request) = c.request.as_mut() {
                    request.body = Some(body);
                }
            });
        }
        builder.capture();
    }

    pub(crate) fn body_finished(&mut self, sent: bool) {
        // No response recorded, nothing to mark (and no context to create for it).
        if !self.captures_context {
            return;
        }
        self.tx.with_http(|http| http.set_finished(sent));
    }

    /// The body broke off: the answer the client got is incomplete.
    pub(crate) fn body_failed(&mut self) {
        self.body_finished(false);
        self.tx.set_instrumentation_outcome(Outcome::Failure);
    }

    fn captured_body(&self) -> Option<serde_json::Value> {
        let (handle, kind) = self.capture.as_ref()?;
        let captured = handle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if captured.bytes.is_empty() {
            return None;
        }
        let text = String::from_utf8_lossy(&captured.bytes);
        let text = match kind {
            BodyKind::Form => match self.tx.agent() {
                Some(agent) => agent.config().sanitizer().sanitize_form(&text),
                // Nothing records it; nothing to leak either.
                None => String::new(),
            },
            BodyKind::Text => text.into_owned(),
        };
        Some(serde_json::Value::String(text))
    }
}

impl Drop for TxGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Unwinding through us (panics not caught here): whatever the status said.
            self.tx.set_instrumentation_outcome(Outcome::Failure);
        } else if !self.responded {
            // Cancelled (the client went away) before the handler answered.
            self.tx.set_instrumentation_outcome(Outcome::Unknown);
        }
        if !self.captures_context {
            return;
        }
        let to_transaction = matches!(
            self.capture_body,
            CaptureBody::Transactions | CaptureBody::All
        );
        let body = if to_transaction {
            self.captured_body()
        } else if self.body_withheld {
            Some(serde_json::Value::String(
                elastic_apm_core::sanitize::REDACTED.to_owned(),
            ))
        } else {
            None
        };
        if let Some(body) = body {
            self.tx.with_http(|http| http.set_request_body(body));
        }
        // The transaction ends as its handle drops, right after this.
    }
}
