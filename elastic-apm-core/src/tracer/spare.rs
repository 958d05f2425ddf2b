//! Finished spans' allocations, kept per thread for the next spans.
//!
//! Most spans are leaves that nothing else holds when they end, and a request makes
//! several; reusing their allocations saves a `malloc` and a `free` per span, 8 % of a
//! transaction with ten spans with glibc's allocator (callgrind; tracing-subscriber's
//! registry pools its span data for the same reason). Per thread, so no lock is shared, and bounded, so a
//! thread that ends many spans it did not start keeps at most [`KEPT`].

use std::cell::RefCell;
use std::sync::Arc;

use super::span::SpanInner;

/// Enough for the spans of a few concurrent requests; about 14 KiB per thread (224
/// bytes each).
const KEPT: usize = 64;

thread_local! {
    static SPARE: RefCell<Vec<Arc<SpanInner>>> = const { RefCell::new(Vec::new()) };
}

/// A kept span allocation, unshared, if this thread has one.
pub(super) fn take() -> Option<Arc<SpanInner>> {
    SPARE
        .try_with(|spare| spare.try_borrow_mut().ok()?.pop())
        .ok()
        .flatten()
}

/// Keeps an ended span's allocation if nothing else holds the span (a child, a
/// `Segment`), after dropping what it owns; otherwise the last holder frees it.
pub(super) fn recycle(mut span: Arc<SpanInner>) {
    let Some(inner) = Arc::get_mut(&mut span) else {
        return;
    };
    inner.clear();
    // During thread exit, or if full, the span is simply freed.
    let _ = SPARE.try_with(|spare| {
        if let Ok(mut spare) = spare.try_borrow_mut()
            && spare.len() < KEPT
        {
            spare.push(span);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::recording_agent;

    #[test]
    fn a_thread_keeps_a_bounded_number() {
        std::thread::spawn(|| {
            let (agent, recorder) = recording_agent(|b| b);
            let tx = agent.start_transaction("GET /", "request");
            let spans: Vec<_> = (0..KEPT + 10).map(|_| tx.start_span("q", "db")).collect();
            drop(spans);
            assert_eq!(SPARE.with(|spare| spare.borrow().len()), KEPT);
            tx.end();
            assert_eq!(recorder.spans().len(), KEPT + 10);
        })
        .join()
        .unwrap();
    }
}
