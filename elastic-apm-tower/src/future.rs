//! The response future: the transaction is current while the handler runs; the answer
//! sets result and outcome; a panic becomes an error and a 500.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use elastic_apm_core::Segment;
use http::{Response, StatusCode};
use pin_project_lite::pin_project;

use crate::ReportedError;
use crate::body::ApmResponseBody;
use crate::guard::TxGuard;
use crate::panic::{self, Panic};

pin_project! {
    /// The future of [`ApmService`](crate::ApmService)'s response.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Option<F>,
        guard: Option<TxGuard>,
        segment: Option<Segment>,
        catch_panic: bool,
        // The inner service's `call` itself panicked.
        call_panic: Option<Panic>,
        // A HEAD request: the answer goes out without its body.
        head: bool,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("instrumented", &self.guard.is_some())
            .finish_non_exhaustive()
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        inner: Result<F, Panic>,
        guard: Option<TxGuard>,
        segment: Option<Segment>,
        catch_panic: bool,
        head: bool,
    ) -> Self {
        let (inner, call_panic) = match inner {
            Ok(inner) => (Some(inner), None),
            Err(panic) => (None, Some(panic)),
        };
        ResponseFuture {
            inner,
            guard,
            segment,
            catch_panic,
            call_panic,
            head,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
{
    type Output = Result<Response<ApmResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(panic) = this.call_panic.take() {
            return Poll::Ready(Ok(answer_panic(this.guard.take(), panic)));
        }
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            // Polled again after completing: keep the promise of never panicking.
            return Poll::Pending;
        };
        let polled = {
            let _enter = this.segment.as_ref().map(Segment::enter);
            if *this.catch_panic {
                panic::catch(|| inner.poll(cx))
            } else {
                Ok(inner.poll(cx))
            }
        };
        let result = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(result)) => result,
            Err(panic) => {
                let guard = this.guard.take();
                // Dropping a future that panicked may panic again: not our answer's problem.
                let _ = panic::catch(|| this.inner.set(None));
                return Poll::Ready(Ok(answer_panic(guard, panic)));
            }
        };
        let mut guard = this.guard.take();
        this.inner.set(None);
        match result {
            Ok(mut response) => {
                if let Some(guard) = guard.as_mut() {
                    guard.respond(response.status(), response.headers());
                    if let Some(reported) = response.extensions_mut().remove::<ReportedError>() {
                        let kind = reported.type_name();
                        guard.capture_error(reported.as_error(), |b| b.kind(kind));
                    }
                }
                let segment = this.segment.take();
                let status = response.status();
                let bodiless = *this.head
                    || status == http::StatusCode::NO_CONTENT
                    || status == http::StatusCode::NOT_MODIFIED;
                Poll::Ready(Ok(response.map(|body| {
                    ApmResponseBody::new(Some(body), guard, segment, bodiless)
                })))
            }
            Err(error) => {
                if let Some(guard) = guard.as_mut() {
                    guard.failed();
                }
                Poll::Ready(Err(error))
            }
        }
    }
}

/// Reports the panic under the transaction and answers 500 with an empty body.
fn answer_panic<B: http_body::Body>(
    guard: Option<TxGuard>,
    panic: Panic,
) -> Response<ApmResponseBody<B>> {
    let mut response = Response::new(ApmResponseBody::new(None, None, None, true));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    if let Some(mut guard) = guard {
        guard.respond(StatusCode::INTERNAL_SERVER_ERROR, response.headers());
        // No stack is better than the catcher's: without the hook's, none is sent.
        let backtrace = panic
            .backtrace
            .clone()
            .unwrap_or_else(|| std::sync::Arc::new(std::backtrace::Backtrace::disabled()));
        guard.capture_error(&panic, |builder| {
            builder.kind("panic").handled(false).stack_trace(backtrace)
        });
        let segment = guard.segment();
        response = response.map(|_| ApmResponseBody::new(None, Some(guard), segment, true));
    }
    response
}
