//! Request and response bodies that watch the exchange: the request body is copied
//! (up to a limit) when `capture_body` asks for it, and the transaction ends when the
//! response body has been sent or dropped.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Buf;
use elastic_apm_core::Segment;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::guard::TxGuard;

/// The request body bytes copied for `capture_body`, shared with the transaction.
#[derive(Debug, Default)]
pub(crate) struct Captured {
    pub(crate) bytes: Vec<u8>,
}

pub(crate) type CaptureHandle = Arc<Mutex<Captured>>;

pin_project! {
    /// The request body as the inner service sees it: the same data, copied as it is
    /// read when `capture_body` is on. Nothing is buffered ahead of the handler.
    #[derive(Debug)]
    pub struct ApmRequestBody<B> {
        #[pin]
        inner: B,
        capture: Option<(CaptureHandle, usize)>,
    }
}

impl<B> ApmRequestBody<B> {
    pub(crate) fn new(inner: B, capture: Option<(CaptureHandle, usize)>) -> Self {
        ApmRequestBody { inner, capture }
    }

    /// The wrapped body.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for ApmRequestBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let (Poll::Ready(Some(Ok(frame))), Some((captured, limit))) =
            (&polled, this.capture.as_ref())
            && let Some(data) = frame.data_ref()
            && copy_prefix(captured, data.chunk(), *limit)
        {
            *this.capture = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Appends what fits under `limit`; `true` once the limit is reached.
fn copy_prefix(captured: &CaptureHandle, chunk: &[u8], limit: usize) -> bool {
    let mut captured = captured
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let room = limit.saturating_sub(captured.bytes.len());
    let take = room.min(chunk.len());
    captured.bytes.extend_from_slice(&chunk[..take]);
    captured.bytes.len() >= limit
}

pin_project! {
    /// The response body: the handler's, observed until it ends or is dropped, when the
    /// transaction ends. Empty for the 500 answered after a panic.
    pub struct ApmResponseBody<B> {
        #[pin]
        inner: Option<B>,
        guard: Option<TxGuard>,
        segment: Option<Segment>,
        // Empty from the start: servers never poll such a body, and it counts as sent.
        empty: bool,
    }

    impl<B> PinnedDrop for ApmResponseBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(mut guard) = this.guard.take() {
                guard.body_finished(*this.empty);
            }
        }
    }
}

impl<B> std::fmt::Debug for ApmResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApmResponseBody")
            .field("observing", &self.guard.is_some())
            .finish_non_exhaustive()
    }
}

impl<B: Body> ApmResponseBody<B> {
    /// `bodiless`: an answer that has no body on the wire whatever this one holds
    /// (to HEAD, or 204 / 304), which servers drop unread.
    pub(crate) fn new(
        inner: Option<B>,
        guard: Option<TxGuard>,
        segment: Option<Segment>,
        bodiless: bool,
    ) -> Self {
        let empty = bodiless || inner.as_ref().is_none_or(Body::is_end_stream);
        ApmResponseBody {
            inner,
            guard,
            segment,
            empty,
        }
    }
}

impl<B: Body> Body for ApmResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        // Streaming bodies run application code: keep the transaction current (until
        // it has ended).
        let _enter = this
            .guard
            .as_ref()
            .and(this.segment.as_ref())
            .map(Segment::enter);
        let Some(inner) = this.inner.as_pin_mut() else {
            if let Some(mut guard) = this.guard.take() {
                guard.body_finished(true);
            }
            return Poll::Ready(None);
        };
        let mut inner = inner;
        let polled = inner.as_mut().poll_frame(cx);
        match &polled {
            // The last frame: servers drop a body that says so without polling it again.
            Poll::Ready(Some(Ok(_))) if inner.is_end_stream() => {
                if let Some(mut guard) = this.guard.take() {
                    guard.body_finished(true);
                }
            }
            Poll::Ready(None) => {
                if let Some(mut guard) = this.guard.take() {
                    guard.body_finished(true);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(mut guard) = this.guard.take() {
                    guard.body_failed();
                }
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Some(inner) => inner.size_hint(),
            None => SizeHint::with_exact(0),
        }
    }
}
