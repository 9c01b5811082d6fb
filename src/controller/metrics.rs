//! The controller's Prometheus metrics. Per-sync series carry a `sync` label
//! (`namespace/name`): four series per sync (ready, last duration, last success time,
//! failures by stage, the last only once a stage failed), so 1,000 syncs make about 4,000
//! series. Controller-wide series have no per-sync label.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::runtime::metrics::Registry;

type Sync = [(&'static str, String); 1];
type SyncStage = [(&'static str, String); 2];

pub struct ControllerMetrics {
    registry: Registry,
    ready: Family<Sync, Gauge>,
    duration: Family<Sync, Gauge<f64, AtomicU64>>,
    last_success: Family<Sync, Gauge<f64, AtomicU64>>,
    failures: Family<SyncStage, Counter>,
    fetches: Counter,
    reconciles: Counter,
    leader: Gauge,
    /// Syncs with series, and the stages each has failed in, so those of syncs gone can be
    /// removed.
    known: std::sync::Mutex<std::collections::HashMap<String, std::collections::BTreeSet<String>>>,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ControllerMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("gitops_controller");
        ControllerMetrics {
            ready: registry.metric(
                "sync_ready",
                "1 while the sync's Ready condition is True",
                Family::<Sync, Gauge>::default(),
            ),
            duration: registry.seconds(
                "sync_last_reconcile_duration",
                "Duration of the sync's last reconcile (fetch, render, plan, apply, prune)",
                Family::<Sync, Gauge<f64, AtomicU64>>::default(),
            ),
            last_success: registry.metric(
                "sync_last_success_timestamp_seconds",
                "Unix time the sync last applied its revision without errors",
                Family::<Sync, Gauge<f64, AtomicU64>>::default(),
            ),
            failures: registry.metric(
                "sync_failures",
                "Failed reconciles of the sync, by the stage that failed",
                Family::<SyncStage, Counter>::default(),
            ),
            fetches: registry.metric(
                "git_fetches",
                "Git fetches made (shared by every sync of a repository and ref)",
                Counter::default(),
            ),
            reconciles: registry.metric(
                "reconciles",
                "Reconciles that ran the pipeline, all syncs together",
                Counter::default(),
            ),
            leader: registry.metric(
                "leader",
                "1 while this replica leads its shard",
                Gauge::default(),
            ),
            registry,
            known: Default::default(),
        }
    }

    pub fn observe(&self, sync: &str, ready: bool, seconds: f64, failed_stage: Option<&str>) {
        let label = [("sync", sync.to_string())];
        {
            let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            let stages = known.entry(sync.to_string()).or_default();
            if let Some(stage) = failed_stage {
                stages.insert(stage.to_string());
            }
        }
        self.ready.get_or_create(&label).set(i64::from(ready));
        self.duration.get_or_create(&label).set(seconds);
        self.reconciles.inc();
        match failed_stage {
            Some(stage) => {
                self.failures
                    .get_or_create(&[("sync", sync.to_string()), ("stage", stage.to_string())])
                    .inc();
            }
            None if ready => {
                let unix = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                self.last_success.get_or_create(&label).set(unix);
            }
            None => {}
        }
    }

    /// Removes the series of every sync not in `alive` (deleted, or moved to another shard).
    pub fn retain(&self, alive: &std::collections::HashSet<String>) {
        let gone: Vec<String> = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .filter(|s| !alive.contains(*s))
            .cloned()
            .collect();
        for sync in gone {
            self.forget(&sync);
        }
    }

    /// A sync that is gone leaves no series behind (failure counters included).
    pub fn forget(&self, sync: &str) {
        let stages = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(sync)
            .unwrap_or_default();
        for stage in stages {
            self.failures
                .remove(&[("sync", sync.to_string()), ("stage", stage)]);
        }
        let label = [("sync", sync.to_string())];
        self.ready.remove(&label);
        self.duration.remove(&label);
        self.last_success.remove(&label);
    }

    pub fn set_fetches(&self, total: u64) {
        let seen = self.fetches.get();
        if total > seen {
            self.fetches.inc_by(total - seen);
        }
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }
}

impl crate::runtime::serve::Exposition for ControllerMetrics {
    fn render(&self) -> String {
        self.registry.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::serve::Exposition;

    #[test]
    fn series_are_labelled_by_sync_and_go_with_it() {
        let metrics = ControllerMetrics::new();
        metrics.observe("team-a/apps", true, 0.5, None);
        metrics.observe("team-b/db", false, 0.1, Some("apply"));
        let text = metrics.render();
        assert!(
            text.contains(r#"gitops_controller_sync_ready{sync="team-a/apps"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"gitops_controller_sync_failures_total{sync="team-b/db",stage="apply"} 1"#
            ),
            "{text}"
        );
        metrics.forget("team-a/apps");
        assert!(
            !metrics
                .render()
                .contains(r#"sync_ready{sync="team-a/apps"}"#)
        );
    }
}
