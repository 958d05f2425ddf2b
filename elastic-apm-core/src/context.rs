//! The current transaction or span, carried through async code.
//!
//! Each thread has a "current" [`Segment`]. A future wrapped with
//! [`ApmFutureExt::in_segment`] makes its segment current only while it is being
//! polled, the pattern of `tracing::Instrumented`: nothing is held across an
//! `.await`, so the context is right under tokio's work-stealing scheduler, inside
//! `join!`/`select!`, and concurrent requests never see each other's context.
//!
//! ```
//! use elastic_apm_core::{Agent, ApmFutureExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let agent = Agent::builder().read_env(false).build();
//! let tx = agent.start_transaction("GET /users/{id}", "request");
//! async {
//!     // Spans started here are children of `tx`.
//!     let span = elastic_apm_core::start_span("SELECT FROM users", "db");
//!     assert!(span.is_recording());
//! }
//! .in_segment(tx.segment())
//! .await;
//! # }
//! ```

use std::cell::RefCell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::tracer::{Segment, Span};

thread_local! {
    static CURRENT: RefCell<Option<Segment>> = const { RefCell::new(None) };
}

/// Replaces the thread's current segment, returning the previous one.
fn swap_current(segment: Option<Segment>) -> Option<Segment> {
    CURRENT
        .try_with(|cur| cur.replace(segment))
        .unwrap_or_default()
}

/// Replaces the thread's current segment and returns the previous one, for
/// integrations whose framework calls "enter" and "exit" separately (a `tracing`
/// layer): put the returned segment back on exit. Elsewhere use [`Segment::enter`] or
/// [`ApmFutureExt::in_segment`], which cannot forget to.
pub fn replace_current_segment(segment: Option<Segment>) -> Option<Segment> {
    swap_current(segment)
}

/// The current transaction or span on this thread, if any.
pub fn current_segment() -> Option<Segment> {
    CURRENT.try_with(|cur| cur.borrow().clone()).ok().flatten()
}

/// Makes a segment current until dropped; see [`Segment::enter`]. Not `Send`: it
/// belongs to the thread it was made on. Do not hold it across an `.await`; wrap the
/// future with [`ApmFutureExt::in_segment`] instead.
#[must_use = "the segment is current only while the guard lives"]
#[derive(Debug)]
pub struct EnterGuard {
    previous: Option<Segment>,
    _not_send: PhantomData<*const ()>,
}

impl EnterGuard {
    pub(crate) fn new(segment: Segment) -> Self {
        EnterGuard {
            previous: swap_current(Some(segment)),
            _not_send: PhantomData,
        }
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        swap_current(self.previous.take());
    }
}

pin_project! {
    /// A future that runs with a transaction or span as the current segment each
    /// time it is polled. Made by [`ApmFutureExt`].
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug, Clone)]
    pub struct ApmFuture<F> {
        #[pin]
        inner: F,
        segment: Option<Segment>,
    }
}

impl<F> ApmFuture<F> {
    /// The wrapped future.
    pub fn inner(&self) -> &F {
        &self.inner
    }

    /// The segment made current while polling.
    pub fn segment(&self) -> Option<&Segment> {
        self.segment.as_ref()
    }

    /// Unwraps the future.
    pub fn into_inner(self) -> F {
        self.inner
    }
}

/// Puts the previous current segment back when polling ends, even by a panic.
struct Restore<'a> {
    slot: &'a mut Option<Segment>,
    previous: Option<Segment>,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        *self.slot = swap_current(self.previous.take());
    }
}

impl<F: Future> Future for ApmFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // Move the segment into the thread-local slot and back: no clone per poll.
        let previous = swap_current(this.segment.take());
        let _restore = Restore {
            slot: this.segment,
            previous,
        };
        this.inner.poll(cx)
    }
}

/// Attaches a transaction or span to a future so it is current whenever the future
/// runs. Implemented for every future.
pub trait ApmFutureExt: Sized {
    /// Runs `self` with `segment` as the current segment.
    fn in_segment(self, segment: impl Into<Option<Segment>>) -> ApmFuture<Self> {
        ApmFuture {
            inner: self,
            segment: segment.into(),
        }
    }

    /// Runs `self` with the segment that is current now, e.g. to carry it into
    /// `tokio::spawn` (see [`spawn`]).
    fn in_current_segment(self) -> ApmFuture<Self> {
        ApmFuture {
            inner: self,
            segment: current_segment(),
        }
    }
}

impl<F: Future> ApmFutureExt for F {}

/// `tokio::spawn` that carries the current transaction or span into the new task, so
/// spans started there are its children.
///
/// # Panics
///
/// Like `tokio::spawn`, when called outside a tokio runtime.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.in_current_segment())
}

pin_project! {
    /// A future run as a span: the span is current while it runs and ends when it
    /// completes or is dropped. Made by [`in_span`](crate::in_span).
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct InSpan<F> {
        #[pin]
        inner: ApmFuture<F>,
        span: Option<Span>,
    }
}

impl<F: Future> InSpan<F> {
    pub(crate) fn new(inner: F, span: Span) -> Self {
        let segment = span.segment();
        InSpan {
            inner: inner.in_segment(segment),
            span: Some(span),
        }
    }
}

impl<F: Future> Future for InSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        if let Some(span) = this.span.take() {
            span.end();
        }
        Poll::Ready(out)
    }
}
