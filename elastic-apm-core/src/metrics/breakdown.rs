//! Breakdown metrics: how much of each transaction group's time is spent in each span
//! type (`span.self_time.count` and `span.self_time.sum.us`, Kibana's "time spent by
//! span type" chart).
//!
//! A span's self time is its duration minus the time covered by its direct children,
//! overlapping children counted once; a transaction's is reported under span type `app`.
//!
//! Nothing of this runs on the request path. The reporter thread sees every span
//! event before its transaction's; it keeps each span's timing ([`SpanTiming`]) until
//! the transaction arrives, then works out the self times of the whole tree at once
//! and adds them to its group. Spans that are never sent (over `transaction_max_spans`,
//! fast exit spans) travel inside the transaction event instead, recorded on the rare
//! path that drops them; compressed spans carry their count and sum.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use crate::ids::SpanId;
use crate::model::{self, Event};
use crate::tracer::nanos;

/// One span's timing, for its own self time and its parent's.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpanTiming {
    /// `None` for [`fold`]ed spans, which are nobody's parent.
    pub(crate) id: Option<SpanId>,
    pub(crate) parent: SpanId,
    /// Microseconds since the Unix epoch, as on the wire.
    pub(crate) timestamp_us: u64,
    pub(crate) duration_ns: u64,
    pub(crate) kind: Cow<'static, str>,
    pub(crate) subtype: Option<Cow<'static, str>>,
    /// For spans that stand for several (a composite, or folded spans): how many, and
    /// their summed self time. They have no children of their own.
    pub(crate) summary: Option<(u32, u64)>,
}

impl SpanTiming {
    pub(crate) fn of(span: &model::Span) -> Self {
        SpanTiming {
            id: Some(span.id),
            parent: span.parent_id,
            timestamp_us: span.timestamp,
            duration_ns: nanos(span.duration),
            kind: span.kind.clone(),
            subtype: span.subtype.clone(),
            summary: span.composite.as_ref().map(|c| (c.count, nanos(c.sum))),
        }
    }
}

/// Timings of unsent spans a transaction carries at most; more are [`fold`]ed.
pub(crate) const MAX_UNSENT: usize = 128;
/// Of those, the entries kept for folded spans.
const FOLDED_SLOTS: usize = 8;

/// Adds an unsent span's timing to a transaction's, within [`MAX_UNSENT`]: past it,
/// spans are summed per parent and type (their overlaps are no longer known), and
/// past that too they are left out of the breakdown.
pub(crate) fn fold(unsent: &mut Vec<SpanTiming>, timing: SpanTiming) {
    let folded_from = MAX_UNSENT - FOLDED_SLOTS;
    if unsent.len() < folded_from {
        unsent.push(timing);
        return;
    }
    let (count, sum) = timing.summary.unwrap_or((1, timing.duration_ns));
    let room = unsent.len() < MAX_UNSENT;
    let folded = unsent.iter_mut().find(|t| {
        t.id.is_none()
            && t.parent == timing.parent
            && t.kind == timing.kind
            && t.subtype == timing.subtype
    });
    match folded {
        Some(t) => {
            t.duration_ns = t.duration_ns.saturating_add(timing.duration_ns);
            if let Some((c, s)) = &mut t.summary {
                *c = c.saturating_add(count);
                *s = s.saturating_add(sum);
            }
        }
        None if room => unsent.push(SpanTiming {
            id: None,
            summary: Some((count, sum)),
            ..timing
        }),
        None => {}
    }
}

/// Self time summed for one span type and subtype.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SelfTime {
    pub(crate) kind: Cow<'static, str>,
    pub(crate) subtype: Option<Cow<'static, str>>,
    pub(crate) count: u64,
    pub(crate) sum_ns: u64,
}

/// String equality, first by address: span types are mostly the same literals.
fn same(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

// `&Cow`: cloning a borrowed `'static` type name costs nothing.
#[allow(clippy::ptr_arg)]
fn add_to(
    times: &mut Vec<SelfTime>,
    kind: &Cow<'static, str>,
    subtype: Option<&Cow<'static, str>>,
    count: u64,
    sum_ns: u64,
) {
    let found = times.iter_mut().find(|t| {
        same(&t.kind, kind)
            && match (&t.subtype, subtype) {
                (Some(a), Some(b)) => same(a, b),
                (None, None) => true,
                _ => false,
            }
    });
    match found {
        Some(t) => {
            t.count = t.count.saturating_add(count);
            t.sum_ns = t.sum_ns.saturating_add(sum_ns);
        }
        None => times.push(SelfTime {
            kind: kind.clone(),
            subtype: subtype.cloned(),
            count,
            sum_ns,
        }),
    }
}

/// The span type of a transaction's own time.
const APP: Cow<'static, str> = Cow::Borrowed("app");

/// The self times of a finished transaction and its spans, by span type: the
/// transaction's own under `app`.
pub(crate) fn self_times(tx: &model::Transaction, spans: &mut [SpanTiming]) -> Vec<SelfTime> {
    // Offsets from the transaction's start, in nanoseconds (timestamps are µs).
    let start_of = |t: &SpanTiming| {
        t.timestamp_us
            .saturating_sub(tx.timestamp)
            .saturating_mul(1000)
    };
    spans.sort_unstable_by_key(|s| (s.parent, start_of(s)));
    let tx_ns = nanos(tx.duration);
    // Spans' windows by id, built only when a span has children.
    let mut windows: Option<Vec<(SpanId, u64, u64)>> = None;
    // The time each parent's children cover within its window, in parent order.
    let mut covered: Vec<(SpanId, u64)> = Vec::new();
    for children in spans.chunk_by(|a, b| a.parent == b.parent) {
        let parent = children[0].parent;
        let window = if parent == tx.id {
            Some((0, tx_ns))
        } else {
            let windows = windows.get_or_insert_with(|| {
                let mut w: Vec<_> = spans
                    .iter()
                    .filter_map(|s| {
                        let start = start_of(s);
                        Some((s.id?, start, start.saturating_add(s.duration_ns)))
                    })
                    .collect();
                w.sort_unstable_by_key(|w| w.0);
                w
            });
            windows
                .binary_search_by_key(&parent, |w| w.0)
                .ok()
                .map(|i| (windows[i].1, windows[i].2))
        };
        // A parent that is not here (still running, say) has no self time to work out.
        if let Some((start, end)) = window {
            covered.push((parent, union(children, start, end, start_of)));
        }
    }
    let covered_of = |id: SpanId| {
        covered
            .binary_search_by_key(&id, |c| c.0)
            .map_or(0, |i| covered[i].1)
    };
    let mut times = Vec::new();
    add_to(
        &mut times,
        &APP,
        None,
        1,
        tx_ns.saturating_sub(covered_of(tx.id)),
    );
    for span in spans.iter() {
        let (count, self_ns) = match (span.summary, span.id) {
            (Some((count, sum)), _) => (u64::from(count), sum),
            (None, Some(id)) => (1, span.duration_ns.saturating_sub(covered_of(id))),
            (None, None) => continue,
        };
        add_to(
            &mut times,
            &span.kind,
            span.subtype.as_ref(),
            count,
            self_ns,
        );
    }
    times
}

/// The time `children` (sorted by start) cover within `[start, end)`, overlaps once.
fn union(
    children: &[SpanTiming],
    start: u64,
    end: u64,
    start_of: impl Fn(&SpanTiming) -> u64,
) -> u64 {
    let mut covered = 0u64;
    let mut reached = start;
    for child in children {
        let length = match child.summary {
            // A composite covers its spans' sum at most; folded spans, their sum.
            Some((_, sum)) => sum.min(child.duration_ns),
            None => child.duration_ns,
        };
        if child.id.is_none() {
            covered = covered.saturating_add(length);
            continue;
        }
        let child_end = start_of(child).saturating_add(length).min(end);
        let from = start_of(child).max(reached);
        if child_end > from {
            covered = covered.saturating_add(child_end - from);
            reached = child_end;
        }
    }
    covered.min(end.saturating_sub(start))
}

/// Span timings waiting for their transaction, bounded: past [`MAX_PENDING`], the
/// transaction waited for longest is given up (its spans are not in the breakdown),
/// which is also what becomes of a transaction the full queue dropped.
#[derive(Debug, Default)]
struct Pending {
    by_transaction: HashMap<SpanId, (u64, Vec<SpanTiming>), FxBuild>,
    /// Transactions by first arrival, oldest first; ids of finished ones linger until
    /// they reach the front or the next compaction.
    order: VecDeque<(u64, SpanId)>,
    /// Recently finished transactions, whose late spans (ended after them) are ignored.
    finished: VecDeque<SpanId>,
    spans: usize,
    arrivals: u64,
}

/// Span timings held at most while their transactions are still running.
const MAX_PENDING: usize = 16 * 1024;
/// Finished transactions remembered, to ignore their late spans.
const MAX_FINISHED: usize = 256;

impl Pending {
    fn add(&mut self, span: &model::Span) {
        if self.finished.contains(&span.transaction_id) {
            return;
        }
        self.arrivals += 1;
        let arrival = self.arrivals;
        let entry = self
            .by_transaction
            .entry(span.transaction_id)
            .or_insert_with(|| {
                self.order.push_back((arrival, span.transaction_id));
                (arrival, Vec::with_capacity(4))
            });
        entry.1.push(SpanTiming::of(span));
        self.spans += 1;
        while self.spans > MAX_PENDING {
            let Some((arrival, id)) = self.order.pop_front() else {
                break;
            };
            if self.by_transaction.get(&id).is_some_and(|e| e.0 == arrival)
                && let Some((_, spans)) = self.by_transaction.remove(&id)
            {
                self.spans -= spans.len();
            }
        }
        // Ids of finished transactions pile up in `order`: drop them now and then.
        if self.order.len() > 2 * self.by_transaction.len() + 64 {
            let live = &self.by_transaction;
            self.order
                .retain(|(arrival, id)| live.get(id).is_some_and(|e| e.0 == *arrival));
        }
    }

    fn finish(&mut self, id: SpanId) -> Vec<SpanTiming> {
        if self.finished.len() >= MAX_FINISHED {
            self.finished.pop_front();
        }
        self.finished.push_back(id);
        match self.by_transaction.remove(&id) {
            Some((_, spans)) => {
                self.spans -= spans.len();
                spans
            }
            None => Vec::new(),
        }
    }
}

/// Breakdown metricsets (transaction group and span type) kept per interval; more are
/// counted, not recorded (the Go and Java agents' limit), so a service with unbounded
/// transaction names cannot grow the agent's memory.
pub(crate) const MAX_GROUPS: usize = 1000;

/// Self times by transaction type, then name.
type Groups = HashMap<Box<str>, HashMap<Box<str>, Vec<SelfTime>, FxBuild>, FxBuild>;

/// The Fx hash (rustc's): a few instructions a word where SipHash takes a hundred.
/// Flooding is not a concern: the maps are bounded ([`MAX_GROUPS`], [`MAX_PENDING`])
/// and their keys are random ids or the service's own transaction names.
#[derive(Debug, Default, Clone, Copy)]
struct FxBuild;

#[derive(Debug, Default)]
struct FxHasher(u64);

impl std::hash::BuildHasher for FxBuild {
    type Hasher = FxHasher;
    fn build_hasher(&self) -> FxHasher {
        FxHasher::default()
    }
}

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

#[derive(Debug, Default)]
struct State {
    pending: Pending,
    groups: Groups,
    /// Entries (transaction group and span type) in `groups`.
    entries: usize,
    overflowed: u64,
}

/// The breakdown since the last report. Fed by the reporter thread (or, with a custom
/// reporter, as events are handed over), read when metrics are gathered.
#[derive(Debug, Default)]
pub(crate) struct Breakdown(Mutex<State>);

/// One transaction group's breakdown for the last interval.
#[derive(Debug, PartialEq)]
pub(crate) struct GroupTimes {
    pub(crate) transaction_type: Box<str>,
    pub(crate) transaction_name: Box<str>,
    pub(crate) times: Vec<SelfTime>,
}

impl Breakdown {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Looks at an event on its way to APM Server: spans wait for their transaction;
    /// a sampled transaction completes its tree.
    pub(crate) fn observe(&self, event: &Event) {
        match event {
            Event::Span(span) => self.lock().pending.add(span),
            Event::Transaction(tx) if tx.sampled => {
                let mut spans = self.lock().pending.finish(tx.id);
                spans.extend(tx.unsent_spans.iter().cloned());
                // Worked out outside the lock: with a custom reporter this runs on the
                // request path.
                let times = self_times(tx, &mut spans);
                self.lock().record(&tx.kind, &tx.name, times);
            }
            _ => {}
        }
    }

    /// Takes every group recorded since the last call, and how many transactions were
    /// not recorded for the group limit.
    pub(crate) fn take(&self) -> (Vec<GroupTimes>, u64) {
        let mut state = self.lock();
        let groups = std::mem::take(&mut state.groups);
        state.entries = 0;
        let overflowed = std::mem::take(&mut state.overflowed);
        drop(state);
        let mut out: Vec<GroupTimes> = groups
            .into_iter()
            .flat_map(|(kind, names)| {
                names.into_iter().map(move |(name, times)| GroupTimes {
                    transaction_type: kind.clone(),
                    transaction_name: name,
                    times,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.transaction_type, &a.transaction_name)
                .cmp(&(&b.transaction_type, &b.transaction_name))
        });
        (out, overflowed)
    }
}

impl State {
    fn record(&mut self, kind: &str, name: &str, times: Vec<SelfTime>) {
        let group = match self.groups.get_mut(kind).and_then(|n| n.get_mut(name)) {
            Some(group) => group,
            None if self.entries >= MAX_GROUPS => {
                self.overflowed += 1;
                return;
            }
            None => self
                .groups
                .entry(kind.into())
                .or_default()
                .entry(name.into())
                .or_default(),
        };
        let mut overflowed = false;
        for t in times {
            let known = group
                .iter()
                .any(|g| g.kind == t.kind && g.subtype == t.subtype);
            if !known {
                if self.entries >= MAX_GROUPS {
                    overflowed = true;
                    continue;
                }
                self.entries += 1;
            }
            add_to(group, &t.kind, t.subtype.as_ref(), t.count, t.sum_ns);
        }
        self.overflowed += u64::from(overflowed);
    }
}

/// Microseconds, with a fraction, from nanoseconds.
pub(crate) fn micros_f64(ns: u64) -> f64 {
    Duration::from_nanos(ns).as_secs_f64() * 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const T0: u64 = 1_700_000_000_000_000;

    fn id(n: u64) -> SpanId {
        SpanId::from_bytes(n.to_be_bytes()).unwrap()
    }

    fn tx(duration_ms: u64) -> model::Transaction {
        let mut tx = crate::testing::samples::maximal_transaction();
        tx.id = id(1);
        tx.timestamp = T0;
        tx.duration = Duration::from_millis(duration_ms);
        tx
    }

    /// Span `n`, child of `parent`, from `start` to `end` (ms after the transaction's start).
    fn span(n: u64, parent: u64, kind: &'static str, start: u64, end: u64) -> SpanTiming {
        SpanTiming {
            id: Some(id(n)),
            parent: id(parent),
            timestamp_us: T0 + start * 1000,
            duration_ns: (end - start) * MS,
            kind: Cow::Borrowed(kind),
            subtype: None,
            summary: None,
        }
    }

    /// (count, ms) by type.
    fn by_type(times: &[SelfTime]) -> Vec<(&str, u64, u64)> {
        let mut out: Vec<_> = times
            .iter()
            .map(|t| (&*t.kind, t.count, t.sum_ns / MS))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn no_spans_is_all_the_transactions_own_time() {
        assert_eq!(by_type(&self_times(&tx(30), &mut [])), [("app", 1, 30)]);
    }

    #[test]
    fn sequential_spans_are_subtracted_one_by_one() {
        // tx 0..30: db 5..10, db 15..25, http 26..28 → app 30-5-10-2 = 13.
        let mut spans = [
            span(2, 1, "db", 5, 10),
            span(3, 1, "db", 15, 25),
            span(4, 1, "external", 26, 28),
        ];
        assert_eq!(
            by_type(&self_times(&tx(30), &mut spans)),
            [("app", 1, 13), ("db", 2, 15), ("external", 1, 2)]
        );
    }

    #[test]
    fn nested_spans_subtract_only_their_direct_children() {
        // tx 0..20; render (app) 2..18 holding db 4..10 and db 12..14.
        // app: tx 20-16 = 4, render 16-6-2 = 8 → 2 spans, 12 ms. db: 8 ms.
        let mut spans = [
            span(2, 1, "app", 2, 18),
            span(3, 2, "db", 4, 10),
            span(4, 2, "db", 12, 14),
        ];
        assert_eq!(
            by_type(&self_times(&tx(20), &mut spans)),
            [("app", 2, 12), ("db", 2, 8)]
        );
    }

    #[test]
    fn overlapping_spans_cover_their_parent_once() {
        // 2..8 and 5..12 cover 2..12 of a 20 ms transaction; a span inside another
        // (3..4 in 1..9) changes neither.
        let mut spans = [span(2, 1, "db", 2, 8), span(3, 1, "db", 5, 12)];
        assert_eq!(
            by_type(&self_times(&tx(20), &mut spans)),
            [("app", 1, 10), ("db", 2, 13)]
        );
        let mut spans = [span(2, 1, "db", 1, 9), span(3, 1, "cache", 3, 4)];
        assert_eq!(
            by_type(&self_times(&tx(10), &mut spans)),
            [("app", 1, 2), ("cache", 1, 1), ("db", 1, 8)]
        );
    }

    #[test]
    fn concurrent_spans_count_once_for_the_parent_and_fully_for_themselves() {
        // join! of three 10 ms calls at 5..15 in 30 ms: app 20, external 3 × 10.
        let mut spans = [
            span(2, 1, "external", 5, 15),
            span(3, 1, "external", 5, 15),
            span(4, 1, "external", 5, 15),
        ];
        assert_eq!(
            by_type(&self_times(&tx(30), &mut spans)),
            [("app", 1, 20), ("external", 3, 30)]
        );
        // Staggered 0..10, 4..14, 8..18 cover 0..18 of 20.
        let mut spans = [
            span(2, 1, "external", 0, 10),
            span(3, 1, "external", 4, 14),
            span(4, 1, "external", 8, 18),
        ];
        assert_eq!(
            by_type(&self_times(&tx(20), &mut spans)),
            [("app", 1, 2), ("external", 3, 30)]
        );
    }

    #[test]
    fn a_child_outliving_its_parent_covers_it_until_the_parents_end() {
        // render 0..10 with a spawned job 6..25 under it, in a 30 ms transaction.
        let mut spans = [span(2, 1, "app", 0, 10), span(3, 2, "worker", 6, 25)];
        assert_eq!(
            by_type(&self_times(&tx(30), &mut spans)),
            [("app", 2, 20 + 6), ("worker", 1, 19)]
        );
    }

    #[test]
    fn composites_and_folded_spans_count_what_they_stand_for() {
        // A composite of 10 queries (sum 20 ms) spanning 2..32 of 40 ms.
        let mut composite = span(2, 1, "db", 2, 32);
        composite.summary = Some((10, 20 * MS));
        let mut spans = [composite];
        assert_eq!(
            by_type(&self_times(&tx(40), &mut spans)),
            [("app", 1, 20), ("db", 10, 20)]
        );
        // Past MAX_UNSENT, unsent spans fold into one entry per parent and type.
        let mut unsent = Vec::new();
        for n in 0..MAX_UNSENT as u64 + 5 {
            fold(&mut unsent, span(10 + n, 1, "db", 0, 0));
        }
        for _ in 0..3 {
            fold(&mut unsent, span(999, 1, "db", 0, 1));
        }
        assert_eq!(unsent.len(), MAX_UNSENT - FOLDED_SLOTS + 1);
        let folded = unsent.iter().find(|t| t.id.is_none()).unwrap();
        assert_eq!(folded.summary, Some((16, 3 * MS)));
    }

    #[test]
    fn spans_wait_for_their_transaction_and_groups_add_up() {
        let breakdown = Breakdown::default();
        for n in 0..2 {
            let mut db = crate::testing::samples::maximal_span();
            db.transaction_id = id(1);
            db.parent_id = id(1);
            db.id = id(10 + n);
            db.composite = None;
            db.kind = "db".into();
            db.subtype = None;
            db.timestamp = T0 + n * 5_000;
            db.duration = Duration::from_millis(5);
            breakdown.observe(&Event::Span(Box::new(db)));
        }
        let mut t = tx(20);
        t.sampled = true;
        t.kind = "request".into();
        t.name = "GET /".into();
        breakdown.observe(&Event::Transaction(Box::new(t)));
        let (groups, overflowed) = breakdown.take();
        assert_eq!(overflowed, 0);
        assert_eq!(by_type(&groups[0].times), [("app", 1, 10), ("db", 2, 10)]);
        assert!(breakdown.take().0.is_empty());
    }

    #[test]
    fn late_spans_are_ignored_and_pending_spans_are_bounded() {
        let breakdown = Breakdown::default();
        let span_of = |tx: u64, n: u64| {
            let mut s = crate::testing::samples::maximal_span();
            s.transaction_id = id(tx);
            s.id = id(n);
            Event::Span(Box::new(s))
        };
        let mut t = tx(5);
        t.sampled = true;
        breakdown.observe(&Event::Transaction(Box::new(t)));
        // A span of the finished transaction 1 is not kept.
        breakdown.observe(&span_of(1, 50));
        assert_eq!(breakdown.lock().pending.spans, 0);
        // Transactions that never arrive give way, oldest first.
        for n in 0..MAX_PENDING as u64 + 10 {
            breakdown.observe(&span_of(100 + n, 100 + n));
        }
        let state = breakdown.lock();
        assert_eq!(state.pending.spans, MAX_PENDING);
        assert!(!state.pending.by_transaction.contains_key(&id(100)));
        assert!(
            state
                .pending
                .by_transaction
                .contains_key(&id(100 + MAX_PENDING as u64 + 9))
        );
        assert!(state.pending.order.len() <= 2 * state.pending.by_transaction.len() + 64);
    }

    #[test]
    fn groups_are_bounded() {
        let breakdown = Breakdown::default();
        for i in 0..MAX_GROUPS + 5 {
            let mut t = tx(1);
            t.sampled = true;
            t.name = format!("GET /{i}").into();
            breakdown.observe(&Event::Transaction(Box::new(t)));
        }
        let (groups, overflowed) = breakdown.take();
        assert_eq!((groups.len(), overflowed), (MAX_GROUPS, 5));
    }

    #[test]
    fn micros_keep_their_fraction() {
        assert_eq!(micros_f64(1_500), 1.5);
    }
}
