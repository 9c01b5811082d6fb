//! `spec.wait`: after a sync's revision is applied, its workloads are followed to Current by
//! the health rules `kubectl gitops apply --wait` uses (`ssa::wait`). One look per requeue,
//! never a loop in the worker: between looks the sync reads Ready=False, reason `Progressing`,
//! and its slot serves other syncs while Pods start.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::core::ApiResource;

use super::crd::{Counts, GitSync};
use super::status::Verdict;
use crate::cluster::Cluster;
use crate::object::ObjectRef;
use crate::source::redact;
use crate::ssa::wait::{self, Health};

/// How soon a rollout is looked at again. A status write wakes the sync at once; it is not
/// looked at again before this.
pub const LOOK_EVERY: Duration = Duration::from_secs(2);

/// An applied revision whose workloads are being followed.
#[derive(Debug, Clone)]
pub struct Rollout {
    /// The generation it was applied at: a changed spec ends it.
    pub generation: Option<i64>,
    pub revision: String,
    /// What the apply did, reported again once the workloads are Current.
    pub counts: Counts,
    pub workloads: Vec<(ObjectRef, ApiResource)>,
    pub timeout: Duration,
    pub deadline: Instant,
    pub next_look: Instant,
}

impl Rollout {
    pub fn new(
        sync: &GitSync,
        revision: String,
        counts: Counts,
        workloads: Vec<(ObjectRef, ApiResource)>,
        timeout: Duration,
        now: Instant,
    ) -> Self {
        Rollout {
            generation: sync.metadata.generation,
            revision,
            counts,
            workloads,
            timeout,
            deadline: now + timeout,
            next_look: now,
        }
    }

    /// The verdict on the workloads' healths seen at `now`.
    pub fn judge(&self, states: &[(ObjectRef, Health)], now: Instant) -> Verdict {
        let revision = &self.revision;
        // A reason read from the server goes to the status as every message does: scrubbed.
        let said = |why: String| redact::truncate(&crate::scrub::text(&why), 4096);
        match wait::overall(states) {
            Health::Ready => Verdict::Applied {
                revision: revision.clone(),
                counts: self.counts.clone(),
            },
            Health::Failed(why) => Verdict::Unhealthy {
                message: said(format!("revision {revision} is applied, but {why}")),
            },
            Health::Progressing(why) if now >= self.deadline => Verdict::Unhealthy {
                message: said(format!(
                    "revision {revision} is applied, but its workloads were not Current within \
                     {} (spec.timeout): {why}",
                    humantime::format_duration(self.timeout)
                )),
            },
            Health::Progressing(why) => Verdict::Progressing {
                revision: revision.clone(),
                counts: self.counts.clone(),
                message: said(format!(
                    "Applied revision {revision}; waiting for workloads: {why}"
                )),
            },
        }
    }

    /// Reads every workload once, as `cluster` (the sync's account), and judges.
    pub async fn look(&mut self, cluster: &Cluster) -> Verdict {
        let states = wait::check(cluster, self.workloads.iter().map(|(o, r)| (o, r))).await;
        let now = Instant::now();
        self.next_look = now + LOOK_EVERY;
        self.judge(&states, now)
    }
}

/// The rollouts being followed, by sync (`namespace/name`). Held in memory: after a restart a
/// sync not Ready is due again, and its next cycle starts following afresh.
#[derive(Default)]
pub struct Rollouts(Mutex<HashMap<String, Rollout>>);

impl Rollouts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Rollout>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn follow(&self, sync: &GitSync, rollout: Rollout) {
        self.lock().insert(sync.key(), rollout);
    }

    /// The rollout followed for `sync`, when it is of the sync's generation and last applied
    /// revision. Another is left alone, not dropped: the sync seen may be older than the
    /// status that started it (the watch event of that write still on its way). A whole cycle
    /// replaces or forgets it.
    pub fn of(&self, sync: &GitSync) -> Option<Rollout> {
        let applied = sync
            .status
            .as_ref()
            .and_then(|s| s.last_applied_revision.as_deref());
        self.lock()
            .get(&sync.key())
            .filter(|r| r.generation == sync.metadata.generation && applied == Some(&r.revision))
            .cloned()
    }

    pub fn forget(&self, sync: &GitSync) {
        self.lock().remove(&sync.key());
    }

    /// Keeps the rollouts of `keys` only (syncs deleted or moved away go).
    pub fn retain(&self, keys: &HashSet<String>) {
        self.lock().retain(|k, _| keys.contains(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::crd::GitSyncSpec;

    fn web() -> ObjectRef {
        ObjectRef::new("apps/v1", "Deployment", Some("team-a".into()), "web")
    }

    fn rollout(now: Instant) -> Rollout {
        let mut sync = GitSync::new("apps", GitSyncSpec::default());
        sync.metadata.namespace = Some("team-a".into());
        sync.metadata.generation = Some(1);
        Rollout::new(
            &sync,
            "main@sha1:abc".into(),
            Counts::default(),
            Vec::new(),
            Duration::from_secs(60),
            now,
        )
    }

    #[test]
    fn a_rollout_is_progressing_until_every_workload_is_current() {
        let now = Instant::now();
        let rollout = rollout(now);
        let starting = [(web(), Health::Progressing("0/2 replicas available".into()))];
        match rollout.judge(&starting, now) {
            Verdict::Progressing { message, .. } => {
                assert!(message.contains("Deployment/team-a/web"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            rollout.judge(&[(web(), Health::Ready)], now),
            Verdict::Applied {
                revision: "main@sha1:abc".into(),
                counts: Counts::default()
            }
        );
    }

    #[test]
    fn a_failed_workload_or_the_timeout_makes_the_rollout_unhealthy_by_name() {
        let now = Instant::now();
        let rollout = rollout(now);
        let failed = [(
            web(),
            Health::Failed("the rollout exceeded its progress deadline".into()),
        )];
        let Verdict::Unhealthy { message } = rollout.judge(&failed, now) else {
            panic!("a failed workload is unhealthy");
        };
        assert!(message.contains("Deployment/team-a/web"), "{message}");
        let starting = [(web(), Health::Progressing("0/2 replicas available".into()))];
        let late = now + Duration::from_secs(60);
        let Verdict::Unhealthy { message } = rollout.judge(&starting, late) else {
            panic!("a rollout past its timeout is unhealthy");
        };
        assert!(message.contains("within 1m"), "{message}");
        assert!(message.contains("Deployment/team-a/web: 0/2"), "{message}");
    }

    #[test]
    fn a_rollout_is_followed_only_at_its_generation_and_revision() {
        let rollouts = Rollouts::default();
        let mut sync = GitSync::new("apps", GitSyncSpec::default());
        sync.metadata.namespace = Some("team-a".into());
        sync.metadata.generation = Some(1);
        sync.status = Some(crate::controller::crd::GitSyncStatus {
            last_applied_revision: Some("main@sha1:abc".into()),
            ..Default::default()
        });
        rollouts.follow(&sync, rollout(Instant::now()));
        assert!(rollouts.of(&sync).is_some());
        sync.metadata.generation = Some(2);
        assert!(rollouts.of(&sync).is_none());
        sync.metadata.generation = Some(1);
        let status = sync.status.as_mut().unwrap();
        status.last_applied_revision = Some("main@sha1:def".into());
        assert!(rollouts.of(&sync).is_none());
        rollouts.forget(&sync);
        let status = sync.status.as_mut().unwrap();
        status.last_applied_revision = Some("main@sha1:abc".into());
        assert!(rollouts.of(&sync).is_none(), "a rollout forgotten is over");
    }
}
