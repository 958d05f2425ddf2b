//! Application metrics: counters and gauges with labels, sent with the agent's own
//! metrics every `metrics_interval`.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::model::{LabelValue, Labels};

/// Metrics an application may register; more are handed out unregistered (they count,
/// but are never sent), so a metric name built from request data cannot grow memory.
pub(crate) const MAX_APP_METRICS: usize = 1000;

/// A monotonic counter, sent as its increase since the last report (not sent when it
/// did not increase), like the agent's own counters (`metrics-health.md`). Made by
/// [`MetricBuilder::counter`]; cheap to clone, one atomic add per update.
#[derive(Clone, Default)]
pub struct Counter(Option<Arc<AtomicU64>>);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        if let Some(value) = &self.0 {
            value.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Adds one.
    pub fn increment(&self) {
        self.add(1);
    }
}

impl fmt::Debug for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Counter")
            .field(&self.0.as_ref().map(|v| v.load(Ordering::Relaxed)))
            .finish()
    }
}

/// A value sampled when metrics are gathered (a pool's size, a cache's entries). Made
/// by [`MetricBuilder::gauge`]; not sent until first set.
#[derive(Clone, Default)]
pub struct Gauge(Option<Arc<AtomicU64>>);

impl Gauge {
    /// Sets the value (NaN unsets it).
    pub fn set(&self, value: f64) {
        if let Some(cell) = &self.0 {
            cell.store(value.to_bits(), Ordering::Relaxed);
        }
    }

    /// The value last set.
    pub fn get(&self) -> Option<f64> {
        let value = f64::from_bits(self.0.as_ref()?.load(Ordering::Relaxed));
        (!value.is_nan()).then_some(value)
    }
}

impl fmt::Debug for Gauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Gauge").field(&self.get()).finish()
    }
}

/// Names and labels a metric before registering it. Made by
/// [`Agent::metric`](crate::Agent::metric).
///
/// ```
/// let agent = elastic_apm_core::Agent::builder().service_name("shop").build();
/// let orders = agent.metric("shop.orders.count").label("payment", "card").counter();
/// orders.increment();
/// let cart = agent.metric("shop.cart.items").gauge();
/// cart.set(3.0);
/// ```
#[must_use = "call .counter() or .gauge() to register the metric"]
pub struct MetricBuilder<'a> {
    registry: Option<&'a Registry>,
    name: Cow<'static, str>,
    labels: Labels,
}

impl fmt::Debug for MetricBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricBuilder")
            .field("name", &self.name)
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

impl<'a> MetricBuilder<'a> {
    pub(crate) fn new(registry: Option<&'a Registry>, name: Cow<'static, str>) -> Self {
        // The intake schema allows any metric name without `*` or `"`.
        let name = if name.contains(['*', '"']) {
            Cow::Owned(name.replace(['*', '"'], "_"))
        } else {
            name
        };
        MetricBuilder {
            registry,
            name,
            labels: Labels::new(),
        }
    }

    /// Adds a label (sent as a metricset tag; metrics with the same labels share a
    /// metricset).
    pub fn label(mut self, key: impl Into<String>, value: impl Into<LabelValue>) -> Self {
        self.labels.insert(key, value);
        self
    }

    /// Registers a counter; the same name and labels give the same counter.
    pub fn counter(self) -> Counter {
        Counter(self.register(Kind::Counter, 0))
    }

    /// Registers a gauge; the same name and labels give the same gauge.
    pub fn gauge(self) -> Gauge {
        Gauge(self.register(Kind::Gauge, f64::NAN.to_bits()))
    }

    fn register(self, kind: Kind, initial: u64) -> Option<Arc<AtomicU64>> {
        let registry = self.registry?;
        Some(registry.register(self.name, self.labels, kind, initial))
    }
}

/// Samples by name.
pub(crate) type Samples = Vec<(Cow<'static, str>, f64)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

struct Entry {
    name: Cow<'static, str>,
    labels: Labels,
    kind: Kind,
    value: Arc<AtomicU64>,
}

/// Registered application metrics. The lock is taken to register and to gather, never
/// to update.
#[derive(Default)]
pub(crate) struct Registry {
    entries: Mutex<Vec<Entry>>,
    warned: AtomicBool,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn register(
        &self,
        name: Cow<'static, str>,
        labels: Labels,
        kind: Kind,
        initial: u64,
    ) -> Arc<AtomicU64> {
        let mut entries = self.lock();
        if let Some(entry) = entries
            .iter()
            .find(|e| e.name == name && e.labels == labels && e.kind == kind)
        {
            return entry.value.clone();
        }
        let value = Arc::new(AtomicU64::new(initial));
        if entries.len() >= MAX_APP_METRICS {
            if !self.warned.swap(true, Ordering::Relaxed) {
                crate::logging::warning!(
                    "more than {MAX_APP_METRICS} application metrics registered; `{name}` and later ones are not sent"
                );
            }
            return value;
        }
        entries.push(Entry {
            name,
            labels,
            kind,
            value: value.clone(),
        });
        value
    }

    /// Samples every metric, grouped by labels: counters' increases since the last
    /// call (zero left out), gauges that were set.
    pub(crate) fn gather(&self) -> Vec<(Labels, Samples)> {
        let entries = self.lock();
        let mut groups: Vec<(Labels, Samples)> = Vec::new();
        for entry in entries.iter() {
            let value = match entry.kind {
                Kind::Counter => match entry.value.swap(0, Ordering::Relaxed) {
                    0 => continue,
                    n => n as f64,
                },
                Kind::Gauge => match f64::from_bits(entry.value.load(Ordering::Relaxed)) {
                    v if v.is_nan() => continue,
                    v => v,
                },
            };
            let sample = (entry.name.clone(), value);
            match groups
                .iter_mut()
                .find(|(labels, _)| *labels == entry.labels)
            {
                Some((_, samples)) => samples.push(sample),
                None => groups.push((entry.labels.clone(), vec![sample])),
            }
        }
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_report_increases_and_gauges_their_value() {
        let registry = Registry::default();
        let builder = || MetricBuilder::new(Some(&registry), "orders".into());
        let card = builder().label("payment", "card").counter();
        let cash = builder().label("payment", "cash").counter();
        let again = builder().label("payment", "card").counter();
        let gauge = MetricBuilder::new(Some(&registry), "cart*\"size".into()).gauge();
        card.add(2);
        again.increment();
        assert!(
            registry
                .gather()
                .iter()
                .all(|(_, s)| s.iter().all(|(n, _)| n == "orders"))
        );
        // Nothing changed: no counter is sent, and the gauge was never set.
        assert!(registry.gather().is_empty());
        gauge.set(4.5);
        cash.increment();
        let groups = registry.gather();
        assert_eq!(groups.len(), 2);
        let (labels, samples) = &groups[0];
        assert_eq!(labels.get("payment"), Some(&LabelValue::from("cash")));
        assert_eq!(samples, &[(Cow::Borrowed("orders"), 1.0)]);
        assert_eq!(groups[1].1, vec![(Cow::Borrowed("cart__size"), 4.5)]);
    }

    #[test]
    fn a_disabled_agent_hands_out_metrics_that_do_nothing() {
        let counter = MetricBuilder::new(None, "orders".into()).counter();
        counter.increment();
        assert_eq!(format!("{counter:?}"), "Counter(None)");
    }

    #[test]
    fn registrations_are_bounded() {
        let registry = Registry::default();
        let counters: Vec<Counter> = (0..MAX_APP_METRICS + 3)
            .map(|i| MetricBuilder::new(Some(&registry), format!("m{i}").into()).counter())
            .collect();
        counters.iter().for_each(Counter::increment);
        let sent: usize = registry.gather().iter().map(|(_, s)| s.len()).sum();
        assert_eq!(sent, MAX_APP_METRICS);
    }
}
