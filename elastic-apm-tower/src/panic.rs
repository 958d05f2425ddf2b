//! Catching a handler's panic: its message and the stack where it happened.
//!
//! By the time `catch_unwind` returns, the panicking stack is gone, so a panic hook
//! (installed once, chained to the previous one) keeps the raw backtrace of panics that
//! happen while an instrumented future is polled on this thread.

use std::any::Any;
use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Once};

thread_local! {
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    /// The hook left a backtrace behind: a plain flag, which every catch can test
    /// without touching the backtrace's cell (a thread-local with a destructor).
    static BACKTRACE_LEFT: Cell<bool> = const { Cell::new(false) };
    static LAST_BACKTRACE: RefCell<Option<Backtrace>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// A caught panic, reported as an error with type `panic`.
#[derive(Debug)]
pub(crate) struct Panic {
    pub(crate) message: String,
    pub(crate) backtrace: Option<Arc<Backtrace>>,
}

impl fmt::Display for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Panic {}

/// Chains our hook in front of the current one, once per process.
pub(crate) fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.get() {
                // Raw frames only: symbolising happens on the reporter thread.
                LAST_BACKTRACE.set(Some(Backtrace::force_capture()));
                BACKTRACE_LEFT.set(true);
            }
            previous(info);
        }));
    });
}

/// Runs `f`, turning a panic into a [`Panic`].
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Panic> {
    let outer = CATCHING.replace(true);
    let result = catch_unwind(AssertUnwindSafe(f));
    CATCHING.set(outer);
    match result {
        Ok(value) => {
            if BACKTRACE_LEFT.get() {
                // Left by a panic the application caught itself: not a later one's.
                take_backtrace();
            }
            Ok(value)
        }
        Err(payload) => Err(caught(payload)),
    }
}

#[cold]
#[inline(never)]
fn caught(payload: Box<dyn Any + Send>) -> Panic {
    Panic {
        message: message(payload.as_ref()),
        backtrace: take_backtrace().map(Arc::new),
    }
}

#[cold]
#[inline(never)]
fn take_backtrace() -> Option<Backtrace> {
    BACKTRACE_LEFT.set(false);
    LAST_BACKTRACE.take()
}

fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_are_caught_with_message_and_stack() {
        install_hook();
        let caught = catch(|| -> u32 { panic!("boom {}", 42) }).unwrap_err();
        assert_eq!(caught.message, "boom 42");
        assert!(caught.backtrace.is_some());
        assert_eq!(catch(|| 7).unwrap(), 7);
    }

    #[test]
    fn a_panic_caught_inside_leaves_no_stack_for_the_next() {
        install_hook();
        let result = catch(|| std::panic::catch_unwind(|| panic!("handled")).is_err());
        assert!(result.unwrap());
        // A panic that skips the hook (resumed, not raised) has no stack of its own.
        let caught = catch(|| -> u32 { std::panic::resume_unwind(Box::new("resumed")) });
        let caught = caught.unwrap_err();
        assert_eq!(caught.message, "resumed");
        assert!(
            caught.backtrace.is_none(),
            "the handled panic's stack came back"
        );
    }
}
