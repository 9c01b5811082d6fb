//! Prometheus metrics, served as text on `/metrics` (OpenMetrics format, which Prometheus
//! scrapes natively): the reconciler's, and the [`Registry`] the controller's are kept in too.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Unit};

/// The metrics of one runner under its prefix: each registered with its help in one call that
/// hands back the metric to update, and all of them rendered as `/metrics` serves them.
pub struct Registry(prometheus_client::registry::Registry);

impl Registry {
    /// An empty registry whose metrics are named `{prefix}_...`.
    pub fn with_prefix(prefix: &str) -> Self {
        Registry(prometheus_client::registry::Registry::with_prefix(prefix))
    }

    /// Registers `metric` as `name`, explained by `help`; the handle updates what is served.
    pub fn metric<M: Metric + Clone>(&mut self, name: &str, help: &str, metric: M) -> M {
        self.0.register(name, help, metric.clone());
        metric
    }

    /// [`Registry::metric`] for a metric measured in seconds (`{name}_seconds`).
    pub fn seconds<M: Metric + Clone>(&mut self, name: &str, help: &str, metric: M) -> M {
        self.0
            .register_with_unit(name, help, Unit::Seconds, metric.clone());
        metric
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.0);
        out
    }
}

type Labels = [(&'static str, &'static str); 1];

pub struct Metrics {
    registry: Registry,
    cycle_duration: Family<Labels, Histogram>,
    last_success: Gauge<f64, AtomicU64>,
    managed_objects: Gauge,
    drift_corrections: Counter,
    drifted_objects: Gauge,
    errors: Family<Labels, Counter>,
    leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("gitops_reconcile");
        Metrics {
            cycle_duration: registry.seconds(
                "cycle_duration",
                "Duration of reconcile cycles (fetch, render, plan, apply, prune), by trigger",
                Family::<Labels, Histogram>::new_with_constructor(|| {
                    Histogram::new(exponential_buckets(0.01, 2.0, 14))
                }),
            ),
            last_success: registry.metric(
                "last_success_timestamp_seconds",
                "Unix time of the last cycle that applied its revision without errors",
                Gauge::<f64, AtomicU64>::default(),
            ),
            managed_objects: registry.metric(
                "managed_objects",
                "Objects in the ApplySet as of the last planned cycle",
                Gauge::default(),
            ),
            drift_corrections: registry.metric(
                "drift_corrections",
                "Objects changed in the cluster outside git and put back",
                Counter::default(),
            ),
            drifted_objects: registry.metric(
                "drifted_objects",
                "With --drift report: objects that differ from git and are left as they are",
                Gauge::default(),
            ),
            errors: registry.metric(
                "errors",
                "Failed cycles, by the stage that failed (fetch, source, render, plan, apply)",
                Family::<Labels, Counter>::default(),
            ),
            leader: registry.metric(
                "leader",
                "1 while this replica holds the leader Lease",
                Gauge::default(),
            ),
            registry,
        }
    }

    pub fn observe_cycle(&self, trigger: &'static str, seconds: f64) {
        self.cycle_duration
            .get_or_create(&[("trigger", trigger)])
            .observe(seconds);
    }

    pub fn succeeded(&self, unix_seconds: f64) {
        self.last_success.set(unix_seconds);
    }

    pub fn set_managed(&self, managed: u64) {
        self.managed_objects.set(managed as i64);
    }

    pub fn drift_corrected(&self, objects: u64) {
        self.drift_corrections.inc_by(objects);
    }

    pub fn set_drifted(&self, objects: u64) {
        self.drifted_objects.set(objects as i64);
    }

    pub fn failed(&self, stage: &'static str) {
        self.errors.get_or_create(&[("stage", stage)]).inc();
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        self.registry.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_every_metric() {
        let m = Metrics::new();
        m.observe_cycle("interval", 0.25);
        m.succeeded(1_700_000_000.0);
        m.set_managed(12);
        m.drift_corrected(2);
        m.set_drifted(3);
        m.failed("fetch");
        m.set_leader(true);
        let text = m.render();
        for needle in [
            "gitops_reconcile_cycle_duration_seconds_bucket{",
            "gitops_reconcile_cycle_duration_seconds_count{trigger=\"interval\"} 1",
            "gitops_reconcile_last_success_timestamp_seconds 1700000000",
            "gitops_reconcile_managed_objects 12",
            "gitops_reconcile_drift_corrections_total 2",
            "gitops_reconcile_drifted_objects 3",
            "gitops_reconcile_errors_total{stage=\"fetch\"} 1",
            "gitops_reconcile_leader 1",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
    }
}
