//! [`ApmTracingLayer`]: `tracing` spans as APM spans, ERROR events as APM errors.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;

use elastic_apm_core::model::{Labels, Link, Log};
use elastic_apm_core::{Agent, ErrorId, Segment, Span, Transaction};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::fields::{self, Parts, ToLabels};

/// A [`tracing_subscriber::Layer`] that records `tracing` spans as APM spans of the
/// current transaction, and ERROR events as APM errors.
///
/// - A span created while an APM transaction or span is current (an `ApmLayer`
///   handler, a `tracing` span this layer recorded, an `in_span` future) becomes its
///   child. While the `tracing` span is entered its APM span is current, so spans of
///   the other integrations (a `sqlx` query, an outgoing `reqwest` call) nest under it.
/// - Its name is the span's name; its type and subtype come from the fields
///   `apm.type` and `apm.subtype`, else `app` / `internal`; its other fields become
///   labels. It starts when the `tracing` span is created and ends when it closes.
/// - `follows_from` becomes a span link.
/// - With [`transactions_from_root_spans`](Self::transactions_from_root_spans), a
///   span with no APM parent starts a transaction (a background job, say).
/// - Events at [`errors_at`](Self::errors_at) (ERROR by default) inside a transaction
///   are captured as errors (`error.log`), with their fields as labels.
///
/// Only spans at [`spans_at`](Self::spans_at) (INFO by default) or more severe are
/// recorded, so the DEBUG and TRACE spans of hyper, h2 and tokio cost a level check
/// when created and entered; targets under [`ignore_target`](Self::ignore_target) are
/// skipped, and so are the agent's own `elastic_apm*` targets. Per-layer filters
/// (`tracing_subscriber::Layer::with_filter`) work too. Fields whose names match
/// `sanitize_field_names` are redacted.
#[derive(Clone)]
pub struct ApmTracingLayer {
    agent: Agent,
    spans_at: Level,
    errors_at: Option<Level>,
    root_transactions: bool,
    ignored_targets: Vec<Cow<'static, str>>,
}

impl fmt::Debug for ApmTracingLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApmTracingLayer")
            .field("spans_at", &self.spans_at)
            .field("errors_at", &self.errors_at)
            .field("root_transactions", &self.root_transactions)
            .field("ignored_targets", &self.ignored_targets)
            .finish_non_exhaustive()
    }
}

/// What this layer keeps in a `tracing` span's extensions.
struct Recorded {
    /// Ends the APM span or transaction when dropped (when the `tracing` span closes).
    owner: Owner,
    /// What is current while the `tracing` span is entered.
    segment: Option<Segment>,
}

#[allow(
    clippy::large_enum_variant,
    reason = "stored once per `tracing` span, in extensions the registry already boxes"
)]
enum Owner {
    Span(Span),
    Transaction(Transaction),
}

impl Owner {
    /// Whether labels set now would be sent.
    fn keeps_labels(&self) -> bool {
        match self {
            Owner::Span(span) => span.is_recording(),
            Owner::Transaction(tx) => tx.is_sampled(),
        }
    }

    fn add_labels(&self, labels: Labels) {
        match self {
            Owner::Span(span) => span.with_context(|context| merge(&mut context.labels, labels)),
            Owner::Transaction(tx) => tx.with_context(|context| merge(&mut context.labels, labels)),
        }
    }
}

thread_local! {
    /// The recorded `tracing` spans entered on this thread, innermost last, each with
    /// the segment that was current before it.
    static ENTERED: RefCell<Vec<(Id, Option<Segment>)>> = const { RefCell::new(Vec::new()) };
    /// The error last captured from an event on this thread, by the event's address,
    /// so that [`EcsFormat`](crate::EcsFormat) can write its `error.id`.
    static LAST_ERROR: Cell<Option<(usize, ErrorId)>> = const { Cell::new(None) };
}

/// The id of the APM error `event` became, if it became one on this thread just now.
pub(crate) fn error_of(event: &Event<'_>) -> Option<ErrorId> {
    let address = std::ptr::from_ref(event) as usize;
    LAST_ERROR
        .try_with(|last| last.get())
        .ok()
        .flatten()
        .filter(|(at, _)| *at == address)
        .map(|(_, id)| id)
}

/// Moves `labels` into `into`, cheaply when it has none yet.
fn merge(into: &mut Labels, labels: Labels) {
    if into.is_empty() {
        *into = labels;
    } else {
        for (key, value) in labels.iter() {
            into.insert(key, value.clone());
        }
    }
}

/// The agent's own diagnostics (`elastic_apm`, `elastic_apm_core::...`); never recorded.
const AGENT_TARGET: &str = "elastic_apm";

impl ApmTracingLayer {
    /// A layer recording into `agent`, with the defaults above.
    pub fn new(agent: &Agent) -> Self {
        ApmTracingLayer {
            agent: agent.clone(),
            spans_at: Level::INFO,
            errors_at: Some(Level::ERROR),
            root_transactions: false,
            ignored_targets: Vec::new(),
        }
    }

    /// Records spans of this level or more severe (default INFO; TRACE records all).
    pub fn spans_at(mut self, level: Level) -> Self {
        self.spans_at = level;
        self
    }

    /// Captures events of this level or more severe as errors (default ERROR; `None`:
    /// none).
    pub fn errors_at(mut self, level: Option<Level>) -> Self {
        self.errors_at = level;
        self
    }

    /// Whether a span with no APM transaction or span above it starts a transaction
    /// (named after the span, of type `apm.type` or `custom`). Default false.
    pub fn transactions_from_root_spans(mut self, enabled: bool) -> Self {
        self.root_transactions = enabled;
        self
    }

    /// Skips spans and events of this target and the modules under it
    /// (`ignore_target("h2")` also skips `h2::codec`).
    pub fn ignore_target(mut self, target: impl Into<Cow<'static, str>>) -> Self {
        self.ignored_targets.push(target.into());
        self
    }

    /// Fields as labels, formatted here rather than under the agent's locks.
    fn labels(&self, record: impl FnOnce(&mut ToLabels<'_>)) -> Labels {
        let mut labels = Labels::new();
        let config = self.agent.config();
        record(&mut ToLabels::new(&mut labels, config.sanitizer()));
        labels
    }

    fn ignored(&self, target: &str) -> bool {
        let under = |prefix: &str| {
            target
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        };
        // The agent's crates log under `elastic_apm` and their module paths.
        target.starts_with(AGENT_TARGET) || self.ignored_targets.iter().any(|t| under(t))
    }

    fn records_span(&self, metadata: &Metadata<'_>) -> bool {
        // Levels order by verbosity: TRACE is the greatest.
        *metadata.level() <= self.spans_at && !self.ignored(metadata.target())
    }

    /// The APM parent of a new span or event: for a contextual one, the current
    /// segment (the innermost, whichever integration made it); for one with an
    /// explicit parent, the nearest recorded ancestor.
    fn parent<S>(
        &self,
        contextual: bool,
        explicit: Option<&Id>,
        ctx: &Context<'_, S>,
    ) -> Option<Segment>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let from_ancestors = |id: &Id| {
            ctx.span(id)?.scope().find_map(|span| {
                span.extensions()
                    .get::<Recorded>()
                    .and_then(|r| r.segment.clone())
            })
        };
        if contextual {
            elastic_apm_core::current_segment()
                .or_else(|| from_ancestors(&ctx.current_span().id()?.clone()))
        } else {
            explicit.and_then(from_ancestors)
        }
    }
}

impl<S> tracing_subscriber::Layer<S> for ApmTracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let metadata = attrs.metadata();
        if !self.records_span(metadata) {
            return;
        }
        let parent = self.parent(attrs.is_contextual(), attrs.parent(), &ctx);
        let mut kind = fields::Kind::default();
        if metadata.fields().field(fields::TYPE).is_some()
            || metadata.fields().field(fields::SUBTYPE).is_some()
        {
            attrs.record(&mut kind);
        }
        let name = metadata.name();
        let owner = match parent {
            Some(parent) => Owner::Span(
                parent
                    .span(name, kind.kind.map_or(Cow::Borrowed("app"), Cow::Owned))
                    .subtype(kind.subtype.map_or(Cow::Borrowed("internal"), Cow::Owned))
                    .start(),
            ),
            None if self.root_transactions => Owner::Transaction(
                self.agent
                    .start_transaction(name, kind.kind.map_or(Cow::Borrowed("custom"), Cow::Owned)),
            ),
            None => return,
        };
        if !metadata.fields().is_empty() && owner.keeps_labels() {
            owner.add_labels(self.labels(|visitor| attrs.record(visitor)));
        }
        let segment = match &owner {
            Owner::Span(span) => span.segment(),
            Owner::Transaction(tx) => tx.segment(),
        };
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Recorded { owner, segment });
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let extensions = span.extensions();
        let Some(recorded) = extensions.get::<Recorded>() else {
            return;
        };
        if recorded.owner.keeps_labels() {
            recorded
                .owner
                .add_labels(self.labels(|visitor| values.record(visitor)));
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let segment_of = |id: &Id| {
            ctx.span(id)?
                .extensions()
                .get::<Recorded>()
                .and_then(|r| r.segment.clone())
        };
        let (Some(span), Some(cause)) = (ctx.span(id), segment_of(follows)) else {
            return;
        };
        let link = Link {
            trace_id: cause.trace_id(),
            span_id: cause.id(),
        };
        if let Some(recorded) = span.extensions().get::<Recorded>() {
            match &recorded.owner {
                Owner::Span(span) => span.add_link(link),
                Owner::Transaction(tx) => tx.add_link(link),
            }
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        // A span this layer does not record costs no lock.
        if !self.records_span(span.metadata()) {
            return;
        }
        let segment = match span.extensions().get::<Recorded>() {
            Some(Recorded {
                segment: Some(segment),
                ..
            }) => segment.clone(),
            _ => return,
        };
        let _ = ENTERED.try_with(|entered| {
            let previous = elastic_apm_core::replace_current_segment(Some(segment));
            entered.borrow_mut().push((id.clone(), previous));
        });
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        let _ = ENTERED.try_with(|entered| {
            let mut entered = entered.borrow_mut();
            let Some(at) = entered.iter().rposition(|(entered_id, _)| entered_id == id) else {
                return;
            };
            let (_, previous) = entered.remove(at);
            if at == entered.len() {
                // The innermost: what was current before it is current again.
                elastic_apm_core::replace_current_segment(previous);
            } else {
                // Exited out of order: the span entered after it now restores what
                // was current before this one, and the current segment stays.
                entered[at].1 = previous;
            }
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let recorded = span.extensions_mut().remove::<Recorded>();
        // Ends the APM span or transaction, outside the extensions' lock.
        drop(recorded);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let metadata = event.metadata();
        let Some(errors_at) = self.errors_at else {
            return;
        };
        if *metadata.level() > errors_at {
            return;
        }
        let parts = Parts::of(event);
        let origin = parts.origin.resolve(metadata);
        if self.ignored(origin.target) {
            return;
        }
        let Some(parent) = self.parent(event.is_contextual(), event.parent(), &ctx) else {
            return;
        };
        let labels = self.labels(|visitor| event.record(visitor));
        // Where it was logged: the callsite, also the message's stable key for grouping.
        let culprit = match (origin.file, origin.line) {
            (Some(file), Some(line)) => format!("{file}:{line}"),
            _ => origin.module_path.unwrap_or(origin.target).to_owned(),
        };
        let mut log = Log::new(parts.message_or(metadata.name()));
        log.level = Some(metadata.level().as_str().to_ascii_lowercase());
        log.logger_name = Some(origin.target.to_owned());
        log.param_message = Some(culprit.clone());
        let id = self
            .agent
            .log_error(log)
            .parent(Some(parent))
            .culprit(culprit)
            .with_context(move |context| merge(&mut context.labels, labels))
            .capture();
        if let Some(id) = id {
            let address = std::ptr::from_ref(event) as usize;
            let _ = LAST_ERROR.try_with(|last| last.set(Some((address, id))));
        }
    }
}
