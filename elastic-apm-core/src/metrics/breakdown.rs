//! Breakdown metrics: how much of each transaction group's time is spent in each span
//! type (`span.self_time.count` and `span.self_time.sum.us`, Kibana's "time spent by
//! span type" chart).
//!
//! A span's self time is its duration minus the time covered by its direct children,
//! overlapping children counted once; a transaction's is reported under span type `app`.
//! Each transaction or span keeps a [`ChildTimer`] (three atomics, no lock), each
//! transaction sums its spans' self times in a [`SelfTimes`] of its own, and a finished
//! transaction adds them to one [`Shard`] of the agent's [`Breakdown`], picked by thread,
//! so requests on different threads never share a lock.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Tracks the time during which at least one direct child of a transaction or span is
/// running, in nanoseconds since the transaction started (the union of the children's
/// intervals). The Java agent's algorithm: the clock runs while the count of running
/// children is above zero.
#[derive(Debug, Default)]
pub(crate) struct ChildTimer {
    running: AtomicU32,
    since: AtomicU64,
    covered: AtomicU64,
}

impl ChildTimer {
    /// A child started at `at`.
    pub(crate) fn child_started(&self, at: u64) {
        if self.running.fetch_add(1, Ordering::AcqRel) == 0 {
            self.since.store(at, Ordering::Release);
        }
    }

    /// A child ended at `at`.
    pub(crate) fn child_ended(&self, at: u64) {
        if self.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            let since = self.since.load(Ordering::Acquire);
            self.covered
                .fetch_add(at.saturating_sub(since), Ordering::AcqRel);
        }
    }

    /// Time covered by children up to `at` (the parent's end); children still running
    /// count until then.
    pub(crate) fn covered_until(&self, at: u64) -> u64 {
        let mut covered = self.covered.load(Ordering::Acquire);
        if self.running.load(Ordering::Acquire) > 0 {
            covered += at.saturating_sub(self.since.load(Ordering::Acquire));
        }
        covered
    }
}

/// Nanoseconds from `start` to `at`, the unit of [`ChildTimer`].
pub(crate) fn nanos_since(start: std::time::Instant, at: std::time::Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(start).as_nanos()).unwrap_or(u64::MAX)
}

/// Self time summed for one span type and subtype.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SelfTime {
    pub(crate) kind: Cow<'static, str>,
    pub(crate) subtype: Option<Cow<'static, str>>,
    pub(crate) count: u64,
    pub(crate) sum_ns: u64,
}

// `&Cow`, not `&str`: cloning a borrowed `'static` type name costs nothing.
#[allow(clippy::ptr_arg)]
fn add_to(
    times: &mut Vec<SelfTime>,
    kind: &Cow<'static, str>,
    subtype: Option<&Cow<'static, str>>,
    count: u64,
    sum_ns: u64,
) {
    let found = times
        .iter_mut()
        .find(|t| t.kind == *kind && t.subtype.as_ref() == subtype);
    match found {
        Some(t) => {
            t.count += count;
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

/// One transaction's self times by span type, under a lock of its own.
#[derive(Debug, Default)]
pub(crate) struct SelfTimes(Mutex<Vec<SelfTime>>);

impl SelfTimes {
    fn lock(&self) -> MutexGuard<'_, Vec<SelfTime>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds one span's self time.
    #[allow(clippy::ptr_arg)]
    pub(crate) fn add(
        &self,
        kind: &Cow<'static, str>,
        subtype: Option<&Cow<'static, str>>,
        self_ns: u64,
    ) {
        add_to(&mut self.lock(), kind, subtype, 1, self_ns);
    }

    /// Runs `f` on the self times recorded so far.
    pub(crate) fn with(&self, f: impl FnOnce(&[SelfTime])) {
        f(&self.lock());
    }
}

/// The span type a transaction's own time is reported under.
const APP: Cow<'static, str> = Cow::Borrowed("app");

/// Transaction groups kept per interval; more are counted, not recorded (the Go and
/// Java agents' limit), so a service with unbounded transaction names cannot grow the
/// agent's memory.
pub(crate) const MAX_GROUPS: usize = 1000;

/// Self times by transaction type, then name.
type Groups = HashMap<Box<str>, HashMap<Box<str>, Vec<SelfTime>, FxBuild>, FxBuild>;

/// The Fx hash (rustc's): a few instructions a word where SipHash takes a hundred.
/// Flooding is not a concern: a shard holds at most [`MAX_GROUPS`] names.
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

    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Finished transactions' self times since the last report, sharded by thread.
#[derive(Debug)]
pub(crate) struct Breakdown {
    shards: Box<[Mutex<Groups>]>,
    groups: AtomicUsize,
    overflowed: AtomicU64,
}

impl Default for Breakdown {
    fn default() -> Self {
        let shards = std::thread::available_parallelism()
            .map_or(4, |n| n.get())
            .clamp(2, 64)
            .next_power_of_two();
        Breakdown {
            shards: (0..shards).map(|_| Mutex::default()).collect(),
            groups: AtomicUsize::new(0),
            overflowed: AtomicU64::new(0),
        }
    }
}

fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    SHARD.try_with(|s| *s).unwrap_or(0)
}

fn lock(shard: &Mutex<Groups>) -> MutexGuard<'_, Groups> {
    shard
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One transaction group's breakdown for the last interval.
#[derive(Debug, PartialEq)]
pub(crate) struct GroupTimes {
    pub(crate) transaction_type: Box<str>,
    pub(crate) transaction_name: Box<str>,
    pub(crate) times: Vec<SelfTime>,
}

impl Breakdown {
    /// Adds a finished transaction's self times: its spans', and its own under `app`.
    pub(crate) fn record(&self, kind: &str, name: &str, times: &[SelfTime], own_ns: u64) {
        let shard = &self.shards[shard_index() & (self.shards.len() - 1)];
        let mut groups = lock(shard);
        let group = match groups.get_mut(kind).and_then(|names| names.get_mut(name)) {
            Some(group) => group,
            None => {
                if self.groups.fetch_add(1, Ordering::Relaxed) >= MAX_GROUPS {
                    self.groups.fetch_sub(1, Ordering::Relaxed);
                    self.overflowed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                groups
                    .entry(kind.into())
                    .or_default()
                    .entry(name.into())
                    .or_default()
            }
        };
        for t in times {
            add_to(group, &t.kind, t.subtype.as_ref(), t.count, t.sum_ns);
        }
        add_to(group, &APP, None, 1, own_ns);
    }

    /// Takes every group recorded since the last call, merged across shards; and how
    /// many transactions were not recorded for the group limit.
    pub(crate) fn take(&self) -> (Vec<GroupTimes>, u64) {
        let mut merged = Groups::default();
        for shard in self.shards.iter() {
            let groups = std::mem::take(&mut *lock(shard));
            for (kind, names) in groups {
                let into = merged.entry(kind).or_default();
                for (name, times) in names {
                    let group = into.entry(name).or_default();
                    for t in times {
                        add_to(group, &t.kind, t.subtype.as_ref(), t.count, t.sum_ns);
                    }
                }
            }
        }
        self.groups.store(0, Ordering::Relaxed);
        let mut out: Vec<GroupTimes> = merged
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
        (out, self.overflowed.swap(0, Ordering::Relaxed))
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

    /// The self time of a parent running from `0` to `end` with children at `spans`
    /// (start, end), played in time order as the tracer would see them.
    fn self_time(end: u64, children: &[(u64, u64)]) -> u64 {
        let timer = ChildTimer::default();
        let mut events: Vec<(u64, bool)> = children
            .iter()
            .flat_map(|&(s, e)| [(s, true), (e, false)])
            .filter(|&(at, _)| at <= end)
            .collect();
        // Ends before starts at the same instant, as an end is observed first.
        events.sort_by_key(|&(at, start)| (at, start));
        for (at, start) in events {
            if start {
                timer.child_started(at);
            } else {
                timer.child_ended(at);
            }
        }
        end.saturating_sub(timer.covered_until(end))
    }

    #[test]
    fn no_children_is_all_self_time() {
        assert_eq!(self_time(30 * MS, &[]), 30 * MS);
    }

    #[test]
    fn sequential_children_are_subtracted_one_by_one() {
        // tx 0..30; db 5..10; db 15..25: self 30 - 5 - 10 = 15.
        assert_eq!(
            self_time(30 * MS, &[(5 * MS, 10 * MS), (15 * MS, 25 * MS)]),
            15 * MS
        );
        // Back to back: 0..10, 10..20 under 0..20 leaves nothing.
        assert_eq!(self_time(20 * MS, &[(0, 10 * MS), (10 * MS, 20 * MS)]), 0);
    }

    #[test]
    fn overlapping_children_count_once() {
        // 2..8 and 5..12 cover 2..12: 10 ms of a 20 ms parent.
        assert_eq!(
            self_time(20 * MS, &[(2 * MS, 8 * MS), (5 * MS, 12 * MS)]),
            10 * MS
        );
        // A child inside another: 1..9 covers 3..4.
        assert_eq!(
            self_time(10 * MS, &[(MS, 9 * MS), (3 * MS, 4 * MS)]),
            2 * MS
        );
    }

    #[test]
    fn concurrent_children_count_once() {
        // join! of three 10 ms calls started together at 5 ms, in a 30 ms transaction.
        let three = [(5 * MS, 15 * MS), (5 * MS, 15 * MS), (5 * MS, 15 * MS)];
        assert_eq!(self_time(30 * MS, &three), 20 * MS);
        // Staggered: 0..10, 4..14, 8..18 cover 0..18.
        assert_eq!(
            self_time(
                20 * MS,
                &[(0, 10 * MS), (4 * MS, 14 * MS), (8 * MS, 18 * MS)]
            ),
            2 * MS
        );
    }

    #[test]
    fn a_child_outliving_its_parent_counts_until_the_parent_ends() {
        // Parent 0..10; child 6..25 (spawned, not awaited): covers 6..10.
        assert_eq!(self_time(10 * MS, &[(6 * MS, 25 * MS)]), 6 * MS);
    }

    #[test]
    fn groups_merge_across_shards_and_reset() {
        let breakdown = Breakdown::default();
        let db = SelfTime {
            kind: "db".into(),
            subtype: Some("postgresql".into()),
            count: 1,
            sum_ns: 2 * MS,
        };
        breakdown.record("request", "GET /", std::slice::from_ref(&db), 3 * MS);
        std::thread::scope(|s| {
            s.spawn(|| breakdown.record("request", "GET /", std::slice::from_ref(&db), 0));
        });
        let (groups, overflowed) = breakdown.take();
        assert_eq!(overflowed, 0);
        assert_eq!(groups.len(), 1);
        let times = &groups[0].times;
        let db_total = times.iter().find(|t| t.kind == "db").unwrap();
        assert_eq!((db_total.count, db_total.sum_ns), (2, 4 * MS));
        let app_total = times.iter().find(|t| t.kind == "app").unwrap();
        assert_eq!((app_total.count, app_total.sum_ns), (2, 3 * MS));
        assert_eq!(breakdown.take().0, Vec::new());
    }

    #[test]
    fn groups_are_bounded() {
        let breakdown = Breakdown::default();
        for i in 0..MAX_GROUPS + 5 {
            breakdown.record("request", &format!("GET /{i}"), &[], 0);
        }
        let (groups, overflowed) = breakdown.take();
        assert_eq!((groups.len(), overflowed), (MAX_GROUPS, 5));
    }

    #[test]
    fn micros_keep_their_fraction() {
        assert_eq!(micros_f64(1_500), 1.5);
    }
}
