//! Capturing errors: message, type, `source()` chain, stack trace, culprit.

use std::backtrace::Backtrace;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use super::segment::Segment;
use super::{Agent, now_micros};
use crate::ids::ErrorId;
use crate::model::{self, ErrorTransaction, Exception, PendingStack, StackFrame, limits::truncate};

/// How deep a `source()` chain is followed; guards against cycles.
const MAX_CAUSES: usize = 32;

/// Anything that can be seen as `&dyn Error`: every sized error type, and the trait
/// objects `dyn Error` (+ `Send + Sync`), so `&*boxed_error` can be captured too.
pub trait AsDynError {
    /// This error as a trait object.
    fn as_dyn_error(&self) -> &(dyn StdError + 'static);
}

impl<E: StdError + 'static> AsDynError for E {
    fn as_dyn_error(&self) -> &(dyn StdError + 'static) {
        self
    }
}

impl AsDynError for dyn StdError + 'static {
    fn as_dyn_error(&self) -> &(dyn StdError + 'static) {
        self
    }
}

impl AsDynError for dyn StdError + Send + Sync + 'static {
    fn as_dyn_error(&self) -> &(dyn StdError + 'static) {
        self
    }
}

/// Configures an error before it is captured. Made by [`Agent::error`] and
/// [`Agent::log_error`].
#[must_use = "call .capture() to send the error"]
pub struct ErrorBuilder<'a> {
    agent: &'a Agent,
    what: What<'a>,
    culprit: Option<String>,
    type_name: Option<&'static str>,
    parent: Option<Segment>,
    handled: Option<bool>,
    stack: Option<Arc<Backtrace>>,
    edit_context: Option<ContextEdit<'a>>,
}

/// An exception, or a log record.
enum What<'a> {
    Exception(&'a (dyn StdError + 'static)),
    Log(model::Log),
}

/// A change to an error's context, applied when it is captured.
type ContextEdit<'a> = Box<dyn FnOnce(&mut model::Context) + 'a>;

impl fmt::Debug for ErrorBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorBuilder")
            .field("type_name", &self.type_name)
            .field("parent", &self.parent)
            .finish_non_exhaustive()
    }
}

impl<'a> ErrorBuilder<'a> {
    pub(super) fn new<E: AsDynError + ?Sized>(agent: &'a Agent, error: &'a E) -> Self {
        let type_name = std::any::type_name::<E>();
        // A trait object's static type says nothing about the error.
        let type_name = (!type_name.starts_with("dyn ")).then_some(type_name);
        ErrorBuilder {
            agent,
            what: What::Exception(error.as_dyn_error()),
            culprit: None,
            type_name,
            parent: None,
            handled: None,
            stack: None,
            edit_context: None,
        }
    }

    pub(super) fn log(agent: &'a Agent, log: model::Log) -> Self {
        ErrorBuilder {
            agent,
            what: What::Log(log),
            culprit: None,
            type_name: None,
            parent: None,
            handled: None,
            stack: None,
            edit_context: None,
        }
    }

    /// Where the error comes from (`culprit`), e.g. a function or a `file:line`.
    pub fn culprit(mut self, culprit: impl Into<String>) -> Self {
        self.culprit = Some(culprit.into());
        self
    }

    /// Edits the error's context (a copy of its transaction's, when that is sampled),
    /// e.g. to add what only errors carry, such as a request body under
    /// `capture_body=errors`. Not run for errors of unsampled transactions.
    pub fn with_context(mut self, edit: impl FnOnce(&mut model::Context) + 'a) -> Self {
        self.edit_context = Some(Box::new(edit));
        self
    }

    /// The exception type to report, instead of the Rust type's name (`panic`, say).
    pub fn kind(mut self, type_name: &'static str) -> Self {
        self.type_name = Some(type_name);
        self
    }

    /// Where the error happened, when that is not here: a panic hook's backtrace, say.
    /// Only its raw frames should be captured; they are symbolised in the background.
    pub fn stack_trace(mut self, backtrace: Arc<Backtrace>) -> Self {
        self.stack = Some(backtrace);
        self
    }

    /// The transaction or span the error happened in (`None`: outside any).
    pub fn parent(mut self, parent: Option<Segment>) -> Self {
        self.parent = parent;
        self
    }

    /// Whether the application handled the error (a panic is not handled).
    pub fn handled(mut self, handled: bool) -> Self {
        self.handled = Some(handled);
        self
    }

    /// Sends the error; returns its id, or `None` when the agent is not recording.
    pub fn capture(self) -> Option<ErrorId> {
        let ErrorBuilder {
            agent,
            what,
            culprit,
            type_name,
            parent,
            handled,
            stack,
            edit_context,
        } = self;
        if !agent.is_recording() {
            return None;
        }
        let config = agent.config();
        let long = config.long_field_max_length;
        let message = |e: &dyn StdError| truncate(&e.to_string(), long).into_owned();

        let (exception, log) = match what {
            What::Exception(error) => {
                let mut cause = Vec::new();
                let mut source = error.source();
                while let Some(e) = source {
                    if cause.len() >= MAX_CAUSES {
                        break;
                    }
                    cause.push(Exception {
                        message: Some(message(e)),
                        ..Exception::default()
                    });
                    source = e.source();
                }
                let (kind, module) = match type_name {
                    Some(name) => (Some(name.to_owned()), module_of(name)),
                    None => (None, None),
                };
                let exception = Exception {
                    message: Some(message(error)),
                    kind,
                    module,
                    handled,
                    cause,
                    ..Exception::default()
                };
                (Some(exception), None)
            }
            What::Log(mut log) => {
                if log.message.len() > long {
                    log.message = truncate(&log.message, long).into_owned();
                }
                (None, Some(log))
            }
        };
        // Only the raw frames now; symbolising waits for the reporter (Event::prepare).
        // A log record has a stack only when given one: where it was logged is known.
        let pending_stack = (config.stack_trace_limit > 0
            && (exception.is_some() || stack.is_some()))
        .then(|| PendingStack {
            backtrace: stack.unwrap_or_else(|| Arc::new(Backtrace::force_capture())),
            limit: config.stack_trace_limit,
        });

        let id = ErrorId::generate();
        let mut event = model::Error {
            id,
            timestamp: now_micros(),
            trace_id: None,
            transaction_id: None,
            parent_id: None,
            transaction: None,
            culprit,
            exception,
            log,
            context: None,
            pending_stack,
        };
        if let Some(parent) = &parent {
            let tx = parent.tx();
            parent.mark_error();
            event.trace_id = Some(tx.trace_id);
            event.transaction_id = Some(tx.id);
            event.parent_id = Some(parent.id());
            let data = tx.lock();
            event.transaction = Some(ErrorTransaction {
                name: data.name.to_string(),
                kind: data.kind.to_string(),
                sampled: tx.is_sampled(),
            });
            if tx.is_sampled() {
                let mut context = data.context.as_deref().cloned().unwrap_or_default();
                if let Some(http) = &data.http {
                    http.fill(&mut context);
                }
                if let Some(edit) = edit_context {
                    edit(&mut context);
                }
                event.context = (!context.is_empty()).then(|| Box::new(context));
            }
        } else if let Some(edit) = edit_context {
            let mut context = model::Context::default();
            edit(&mut context);
            event.context = (!context.is_empty()).then(|| Box::new(context));
        }
        agent.report(model::Event::Error(Box::new(event)));
        Some(id)
    }
}

/// Parses the text form of `std::backtrace::Backtrace`, leaving out the frames of the
/// capture machinery and of this agent:
/// `  12: crate::module::function` followed by `at /path/file.rs:10:5` lines.
pub(crate) fn parse_backtrace(text: &str, limit: usize) -> Vec<StackFrame> {
    let cwd = std::env::current_dir()
        .ok()
        .map(|d| d.to_string_lossy().into_owned());
    let mut frames: Vec<StackFrame> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(location) = line.strip_prefix("at ") {
            if let Some(frame) = frames.last_mut() {
                let mut parts = location.rsplitn(3, ':');
                let (col, lineno, path) = (parts.next(), parts.next(), parts.next());
                let (path, lineno, colno) = match (
                    path,
                    lineno.and_then(|l| l.parse().ok()),
                    col.and_then(|c| c.parse().ok()),
                ) {
                    (Some(path), Some(l), Some(c)) => (path, Some(l), Some(c)),
                    _ => (location, None, None),
                };
                frame.library_frame |= is_library_path(path);
                frame.filename = match &cwd {
                    Some(cwd) => path
                        .strip_prefix(cwd.as_str())
                        .map_or(path, |p| p.trim_start_matches('/'))
                        .to_owned(),
                    None => path.to_owned(),
                };
                frame.abs_path = Some(path.to_owned());
                frame.lineno = lineno;
                frame.colno = colno;
            }
            continue;
        }
        let Some((index, function)) = line.split_once(": ") else {
            continue;
        };
        if index.parse::<u32>().is_err() {
            continue;
        }
        let function = strip_hash(function);
        frames.push(StackFrame {
            filename: "<unknown>".to_owned(),
            function: Some(function.to_owned()),
            module: module_of(function),
            library_frame: is_library_function(function),
            ..StackFrame::default()
        });
    }
    // Leave out the capture machinery and the agent: everything up to the last of its
    // frames before the first application frame (generic library code it called, such
    // as `Option::map` or a `drop_in_place` of its types, included).
    let agent = |f: &StackFrame| f.function.as_deref().is_some_and(is_capture_frame);
    let first_app = frames
        .iter()
        .position(|f| !f.library_frame && !agent(f))
        .unwrap_or(frames.len());
    let cut = frames[..first_app]
        .iter()
        .rposition(agent)
        .map_or(0, |i| i + 1);
    frames.drain(..cut);
    frames.truncate(limit);
    frames
}

/// The module part of a Rust path (`shop::orders` of `shop::orders::Error<T>`).
fn module_of(path: &str) -> Option<String> {
    let base = path.split('<').next().unwrap_or(path);
    base.rsplit_once("::").map(|(m, _)| m.to_owned())
}

fn strip_hash(function: &str) -> &str {
    match function.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => function,
    }
}

/// Frames of the capture machinery itself: the backtrace and this agent.
fn is_capture_frame(function: &str) -> bool {
    function.starts_with("std::backtrace")
        || function.starts_with("<std::backtrace")
        || function.contains("elastic_apm_core::")
}

fn is_library_function(function: &str) -> bool {
    let f = function.trim_start_matches('<');
    [
        "std::",
        "core::",
        "alloc::",
        "tokio::",
        "futures",
        "hyper::",
        "tower::",
        "axum::",
        "__rust",
        "rust_begin_unwind",
        "_start",
        "__libc",
    ]
    .iter()
    .any(|p| f.starts_with(p))
}

fn is_library_path(path: &str) -> bool {
    path.starts_with("/rustc/")
        || path.contains("/.cargo/registry/")
        || path.contains("/.cargo/git/")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "   0: std::backtrace_rs::backtrace::libunwind::trace
             at /rustc/abc/library/std/src/../../backtrace/src/backtrace/libunwind.rs:116:5
   1: std::backtrace::Backtrace::create
             at /rustc/abc/library/std/src/backtrace.rs:331:13
   2: elastic_apm_core::tracer::capture::capture_stacktrace
             at ./src/tracer/capture.rs:10:5
   3: shop::handlers::create_order::h0123456789abcdef
             at /home/me/shop/src/handlers.rs:42:17
   4: tokio::runtime::task::core::Core<T,S>::poll
             at /root/.cargo/registry/src/index.crates.io-1/tokio-1.47.0/src/runtime/task/core.rs:331:17
   5: main
";

    #[test]
    fn parses_frames_and_skips_capture_machinery() {
        let frames = parse_backtrace(SAMPLE, 50);
        assert_eq!(frames.len(), 3, "{frames:#?}");
        assert_eq!(
            frames[0].function.as_deref(),
            Some("shop::handlers::create_order")
        );
        assert_eq!(frames[0].module.as_deref(), Some("shop::handlers"));
        assert_eq!(frames[0].lineno, Some(42));
        assert_eq!(frames[0].colno, Some(17));
        assert!(!frames[0].library_frame);
        assert!(frames[1].library_frame);
        assert_eq!(frames[2].filename, "<unknown>");
        assert_eq!(parse_backtrace(SAMPLE, 1).len(), 1);
    }

    #[test]
    fn garbage_does_not_panic() {
        for text in [
            "",
            "at",
            "0:",
            "x: y\n at ::::",
            "  9999999999999: f\n at a:b:c",
        ] {
            let _ = parse_backtrace(text, 10);
        }
    }
}
