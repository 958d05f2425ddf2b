//! Metrics (`metrics.md`, `metrics-health.md`): breakdown, system and process, cgroup,
//! tokio runtime, agent health and application metrics, gathered every
//! `metrics_interval` by the reporter thread and sent as `metricset` events.
//!
//! The request path only touches atomics and per-transaction state; gathering takes
//! the locks, off the request path.

mod app;
mod breakdown;
mod runtime;
mod system;

use std::borrow::Cow;
use std::sync::Mutex;

pub use self::app::{Counter, Gauge, MetricBuilder};
pub(crate) use self::breakdown::{Breakdown, SpanTiming, fold};
use crate::config::Config;
use crate::model::{Labels, MetricSet, MetricSpan, MetricTransaction, Sample};
use crate::report::Health;

/// The reporting queue's lowest and highest usage since the last report, in `[0, 1]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueUsage {
    pub(crate) min: f64,
    pub(crate) max: f64,
}

/// The agent's metrics: what the request path feeds, and what gathering remembers.
#[derive(Debug)]
pub(crate) struct Metrics {
    pub(crate) breakdown: Breakdown,
    pub(crate) app: app::Registry,
    gatherer: Mutex<Gatherer>,
}

/// Previous readings, for rates and counter increases.
#[derive(Debug)]
struct Gatherer {
    system: system::System,
    runtime: Option<runtime::Runtime>,
    last_health: Health,
    warned_groups: bool,
}

impl Metrics {
    /// Primes the CPU readings, and remembers the tokio runtime the caller runs on.
    pub(crate) fn new() -> Self {
        Metrics {
            breakdown: Breakdown::default(),
            app: app::Registry::default(),
            gatherer: Mutex::new(Gatherer {
                system: system::System::new(),
                runtime: runtime::Runtime::current(),
                last_health: Health::default(),
                warned_groups: false,
            }),
        }
    }

    /// Gathers every metric not disabled by `disable_metrics`, as metricsets.
    pub(crate) fn collect(
        &self,
        config: &Config,
        health: Health,
        queue: Option<QueueUsage>,
    ) -> Vec<MetricSet> {
        let timestamp = crate::tracer::now_micros();
        let disabled = &config.disable_metrics;
        let mut gatherer = self
            .gatherer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut sets = Vec::new();
        let mut push = |samples: Vec<(Cow<'static, str>, f64)>,
                        labels: Labels,
                        transaction: Option<MetricTransaction>,
                        span: Option<MetricSpan>| {
            let samples: std::collections::BTreeMap<_, _> = samples
                .into_iter()
                .filter(|(name, value)| value.is_finite() && !disabled.matches_any(name))
                .map(|(name, value)| (name, Sample::Value { value }))
                .collect();
            if !samples.is_empty() {
                sets.push(MetricSet {
                    timestamp,
                    samples,
                    labels,
                    transaction,
                    span,
                });
            }
        };
        let statics = |samples: Vec<(&'static str, f64)>| -> Vec<(Cow<'static, str>, f64)> {
            samples
                .into_iter()
                .map(|(n, v)| (Cow::Borrowed(n), v))
                .collect()
        };

        let mut samples = Vec::new();
        gatherer.system.sample(&mut samples);
        if let Some(runtime) = &mut gatherer.runtime {
            runtime.sample(&mut samples);
        }
        push(statics(samples), Labels::new(), None, None);

        let (groups, overflowed) = self.breakdown.take();
        if overflowed > 0 && !std::mem::replace(&mut gatherer.warned_groups, true) {
            crate::logging::warning!(
                "more than {} transaction groups in one metrics interval: breakdown metrics of {overflowed} transaction(s) were not recorded (logged once)",
                breakdown::MAX_GROUPS
            );
        }
        for group in groups {
            for time in group.times {
                push(
                    statics(vec![
                        ("span.self_time.count", time.count as f64),
                        ("span.self_time.sum.us", breakdown::micros_f64(time.sum_ns)),
                    ]),
                    Labels::new(),
                    Some(MetricTransaction {
                        name: Some(group.transaction_name.clone().into()),
                        kind: Some(group.transaction_type.clone().into()),
                    }),
                    Some(MetricSpan {
                        kind: Some(time.kind.into_owned()),
                        subtype: time.subtype.map(Cow::into_owned),
                    }),
                );
            }
        }

        for (labels, samples) in health_samples(&gatherer.last_health, &health, queue) {
            push(statics(samples), labels, None, None);
        }
        gatherer.last_health = health;

        for (labels, samples) in self.app.gather() {
            push(samples, labels, None, None);
        }
        sets
    }
}

/// Adds a sample to the group of its labels (one metricset per set of labels).
pub(crate) fn group_by_labels<S>(groups: &mut Vec<(Labels, Vec<S>)>, labels: &Labels, sample: S) {
    match groups.iter_mut().find(|(l, _)| l == labels) {
        Some((_, samples)) => samples.push(sample),
        None => groups.push((labels.clone(), vec![sample])),
    }
}

/// Agent health metrics (`metrics-health.md`): counters as increases since the last
/// report (zero increases left out), grouped by their labels.
fn health_samples(
    last: &Health,
    now: &Health,
    queue: Option<QueueUsage>,
) -> Vec<(Labels, Vec<(&'static str, f64)>)> {
    let mut out = Vec::new();
    let mut counter =
        |name: &'static str, label: (&'static str, &'static str), now: u64, last: u64| {
            let increase = now.saturating_sub(last);
            if increase > 0 {
                out.push((Labels::from_iter([label]), vec![(name, increase as f64)]));
            }
        };
    let (by_type, last_by_type) = (now.events_by_type, last.events_by_type);
    const TOTAL: &str = "agent.events.total";
    counter(
        TOTAL,
        ("event_type", "transaction"),
        by_type.transactions,
        last_by_type.transactions,
    );
    counter(
        TOTAL,
        ("event_type", "span"),
        by_type.spans,
        last_by_type.spans,
    );
    counter(
        TOTAL,
        ("event_type", "error"),
        by_type.errors,
        last_by_type.errors,
    );
    counter(
        TOTAL,
        ("event_type", "metricset"),
        by_type.metricsets,
        last_by_type.metricsets,
    );
    // A reporter that does not count by type: the spec's `undefined`. Queued events
    // are counted by type as they come out.
    let untyped = |h: &Health| {
        h.events_total
            .saturating_sub(h.queue_len)
            .saturating_sub(h.events_by_type.sum())
    };
    counter(
        TOTAL,
        ("event_type", "undefined"),
        untyped(now),
        untyped(last),
    );
    const DROPPED: &str = "agent.events.dropped";
    counter(
        DROPPED,
        ("reason", "queue"),
        now.dropped_queue_full,
        last.dropped_queue_full,
    );
    counter(
        DROPPED,
        ("reason", "error"),
        now.dropped_error.saturating_add(now.dropped_too_large),
        last.dropped_error.saturating_add(last.dropped_too_large),
    );
    // Counters are read one by one while the reporter updates them: never subtract
    // past zero.
    let ok = |h: &Health| {
        (
            h.requests.saturating_sub(h.failed_requests),
            h.bytes_sent.saturating_sub(h.bytes_failed),
            (h.request_time.saturating_sub(h.failed_request_time)).as_micros() as u64,
        )
    };
    let failed = |h: &Health| {
        (
            h.failed_requests,
            h.bytes_failed,
            h.failed_request_time.as_micros() as u64,
        )
    };
    for (success, (requests, bytes, us), (last_requests, last_bytes, last_us)) in [
        ("true", ok(now), ok(last)),
        ("false", failed(now), failed(last)),
    ] {
        let label = ("success", success);
        counter(
            "agent.events.requests.count",
            label,
            requests,
            last_requests,
        );
        counter("agent.events.requests.bytes", label, bytes, last_bytes);
        counter("agent.events.requests.duration.sum.us", label, us, last_us);
    }
    let mut merged = Vec::new();
    for (labels, samples) in out {
        for sample in samples {
            group_by_labels(&mut merged, &labels, sample);
        }
    }
    if let Some(queue) = queue {
        merged.push((
            Labels::from_iter([("queue_name", "generic")]),
            vec![
                ("agent.events.queue.min_size.pct", queue.min),
                ("agent.events.queue.max_size.pct", queue.max),
            ],
        ));
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(sets: &[MetricSet], name: &str, label: Option<(&str, &str)>) -> Option<f64> {
        sets.iter()
            .filter(|s| match label {
                Some((k, v)) => s.labels.get(k) == Some(&v.into()),
                None => true,
            })
            .find_map(|s| match s.samples.get(name) {
                Some(Sample::Value { value }) => Some(*value),
                _ => None,
            })
    }

    #[test]
    fn health_counters_are_sent_as_increases_and_zero_increases_not_at_all() {
        let metrics = Metrics::new();
        let config = Config::default();
        let mut health = Health::default();
        health.events_by_type.transactions = 7;
        health.events_total = 7;
        health.requests = 2;
        health.failed_requests = 1;
        health.bytes_sent = 300;
        health.bytes_failed = 100;
        let first = metrics.collect(&config, health, None);
        let tx = Some(("event_type", "transaction"));
        assert_eq!(find(&first, "agent.events.total", tx), Some(7.0));
        assert_eq!(
            find(
                &first,
                "agent.events.requests.bytes",
                Some(("success", "true"))
            ),
            Some(200.0)
        );
        assert_eq!(
            find(
                &first,
                "agent.events.requests.bytes",
                Some(("success", "false"))
            ),
            Some(100.0)
        );
        // 7 → 10: 3; nothing else moved, so nothing else is sent.
        health.events_by_type.transactions = 10;
        health.events_total = 10;
        let second = metrics.collect(&config, health, None);
        assert_eq!(find(&second, "agent.events.total", tx), Some(3.0));
        assert_eq!(
            find(
                &second,
                "agent.events.requests.count",
                Some(("success", "true"))
            ),
            None
        );
        let third = metrics.collect(&config, health, None);
        assert_eq!(find(&third, "agent.events.total", tx), None);
    }

    #[test]
    fn disable_metrics_patterns_leave_samples_out() {
        let metrics = Metrics::new();
        let mut config = Config::default();
        config
            .apply("disable_metrics", "agent.events.*, span.self_time.sum.*")
            .unwrap();
        let mut tx = crate::testing::samples::maximal_transaction();
        tx.sampled = true;
        metrics
            .breakdown
            .observe(&crate::model::Event::Transaction(Box::new(tx)));
        let health = Health {
            events_total: 3,
            ..Health::default()
        };
        let sets = metrics.collect(&config, health, Some(QueueUsage { min: 0.0, max: 0.5 }));
        assert!(
            sets.iter()
                .all(|s| s.samples.keys().all(|n| !n.starts_with("agent.events.")))
        );
        let breakdown = sets.iter().find(|s| s.transaction.is_some()).unwrap();
        assert_eq!(
            breakdown.samples.keys().collect::<Vec<_>>(),
            ["span.self_time.count"]
        );
    }
}
