//! Span compression (`handling-huge-traces/tracing-spans-compress.md`): consecutive
//! sibling exit spans to the same destination become one composite span.
//!
//! Each parent buffers at most one ended child. The next eligible sibling is compressed
//! into it or replaces it (and the buffered one is sent); a sibling that is not eligible,
//! or the parent's end, sends it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::model::{self, Composite, CompressionStrategy};

/// The compression options of one transaction, read at its start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Compression {
    pub(crate) enabled: bool,
    pub(crate) exact_match_max: Duration,
    pub(crate) same_kind_max: Duration,
}

/// A parent's one buffered child. Boxed (it is boxed for the reporter anyway), so an
/// empty buffer costs a pointer, and flagged, so most span ends take no lock.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    slot: Mutex<Option<Box<model::Span>>>,
    occupied: AtomicBool,
}

impl Buffer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Box<model::Span>>> {
        self.slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Offers an ended, compression-eligible child; returns the span to send now, if any.
    pub(crate) fn offer(
        &self,
        child: Box<model::Span>,
        rules: Compression,
    ) -> Option<Box<model::Span>> {
        let mut slot = self.lock();
        self.occupied.store(true, Ordering::Release);
        match slot.take() {
            None => {
                *slot = Some(child);
                None
            }
            Some(mut buffered) => {
                if compress(&mut buffered, &child, rules) {
                    *slot = Some(buffered);
                    None
                } else {
                    *slot = Some(child);
                    Some(buffered)
                }
            }
        }
    }

    /// Takes the buffered child, to send it.
    pub(crate) fn take(&self) -> Option<Box<model::Span>> {
        if !self.occupied.load(Ordering::Acquire) {
            return None;
        }
        let mut slot = self.lock();
        self.occupied.store(false, Ordering::Release);
        slot.take()
    }
}

fn target(span: &model::Span) -> Option<&model::ServiceTarget> {
    span.context.as_ref()?.service.as_ref()?.target.as_ref()
}

fn resource(span: &model::Span) -> Option<&str> {
    Some(
        span.context
            .as_ref()?
            .destination
            .as_ref()?
            .service
            .as_ref()?
            .resource
            .as_str(),
    )
}

fn same_kind(a: &model::Span, b: &model::Span) -> bool {
    a.kind == b.kind
        && a.subtype == b.subtype
        && target(a) == target(b)
        && resource(a) == resource(b)
}

/// Compresses `child` into `buffered` if the rules allow; `false` leaves both unchanged.
fn compress(buffered: &mut model::Span, child: &model::Span, rules: Compression) -> bool {
    let strategy = match &buffered.composite {
        Some(composite) => {
            let fits = match composite.compression_strategy {
                CompressionStrategy::ExactMatch => {
                    buffered.name == child.name && child.duration <= rules.exact_match_max
                }
                CompressionStrategy::SameKind => child.duration <= rules.same_kind_max,
            };
            if !(fits && same_kind(buffered, child)) {
                return false;
            }
            composite.compression_strategy
        }
        None => {
            if !same_kind(buffered, child) {
                return false;
            }
            let both_within = |max: Duration| buffered.duration <= max && child.duration <= max;
            if buffered.name == child.name {
                // An exact match too slow to compress ends the attempt: it does not fall
                // back to same-kind (the spec's rule).
                if !both_within(rules.exact_match_max) {
                    return false;
                }
                CompressionStrategy::ExactMatch
            } else if both_within(rules.same_kind_max) {
                buffered.name = composite_name(target(buffered)).into();
                CompressionStrategy::SameKind
            } else {
                return false;
            }
        }
    };
    let composite = buffered.composite.get_or_insert(Composite {
        compression_strategy: strategy,
        count: 1,
        sum: buffered.duration,
    });
    composite.count = composite.count.saturating_add(1);
    composite.sum += child.duration;
    // Gross duration: from the first span's start to the last one's end.
    let child_end = child.timestamp + micros(child.duration);
    let end = (buffered.timestamp + micros(buffered.duration)).max(child_end);
    buffered.duration = Duration::from_micros(end.saturating_sub(buffered.timestamp));
    true
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// `Calls to <type>/<name>` (the spec's `getCompositeSpanName`).
fn composite_name(target: Option<&model::ServiceTarget>) -> String {
    let (kind, name) = match target {
        Some(t) => (
            t.kind.as_deref().filter(|k| !k.is_empty()),
            t.name.as_deref().filter(|n| !n.is_empty()),
        ),
        None => (None, None),
    };
    match (kind, name) {
        (Some(kind), Some(name)) => format!("Calls to {kind}/{name}"),
        (Some(kind), None) => format!("Calls to {kind}"),
        (None, Some(name)) => format!("Calls to {name}"),
        (None, None) => "Calls to unknown".to_owned(),
    }
}
