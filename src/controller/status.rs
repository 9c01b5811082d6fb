//! How a reconcile's verdict becomes a GitSync's status: kstatus conditions (`Ready`,
//! `Reconciling`, `Stalled`) at the observed generation, revisions and times, counts and the
//! scrubbed last error. Pure functions of their inputs; the caller writes the result.

use std::time::Duration;

use k8s_openapi::jiff::{Timestamp, Unit};

use super::crd::{Condition, Counts, GitSync, GitSyncStatus, REQUESTED_AT};
use super::reason::{Failure, Reason as ConditionReason, Stall};

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";

/// How one reconcile ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The revision is applied without errors.
    Applied { revision: String, counts: Counts },
    /// A stage failed; retried with backoff. `revision` when the fetch got that far.
    Failed {
        reason: Failure,
        message: String,
        revision: Option<String>,
    },
    /// The revision is applied and `spec.wait` follows its workloads, not all Current yet.
    Progressing {
        revision: String,
        counts: Counts,
        message: String,
    },
    /// The revision is applied but a workload failed, or was not Current within
    /// `spec.timeout`; retried with backoff.
    Unhealthy { message: String },
    /// A dependency is not Ready yet; retried soon, not counted as a failure.
    Waiting { message: String },
    /// The spec cannot work as written (no ServiceAccount, a bad interval): nothing is retried
    /// until the GitSync changes.
    Stalled { reason: Stall, message: String },
}

/// What a verdict says in the conditions: Ready's status and reason, the message all of them
/// share, and whether the abnormal-true conditions are present.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Conditions {
    ready: ConditionStatus,
    reason: ConditionReason,
    message: String,
    reconciling: bool,
    stalled: bool,
}

/// A condition's status as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionStatus {
    True,
    False,
}

impl ConditionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
        }
    }
}

/// `REF@sha1:COMMIT`, as Flux writes revisions.
pub fn revision(reference: &str, commit: &str) -> String {
    format!("{reference}@sha1:{commit}")
}

pub fn now() -> String {
    let now = Timestamp::now();
    now.round(Unit::Second).unwrap_or(now).to_string()
}

/// A revision applied, whether or not its workloads are Current yet: the revision drift is put
/// back to, and the failure streak ended.
fn record_applied(status: &mut GitSyncStatus, revision: &str, counts: &Counts, now: &str) {
    status.last_attempted_revision = Some(revision.to_string());
    status.last_attempted_time = Some(now.to_string());
    status.last_applied_revision = Some(revision.to_string());
    status.last_applied_time = Some(now.to_string());
    status.counts = Some(counts.clone());
    status.last_error = None;
    status.consecutive_failures = 0;
}

/// The status after `verdict`, from the status before it.
pub fn next(sync: &GitSync, verdict: &Verdict, now: &str) -> GitSyncStatus {
    let generation = sync.metadata.generation;
    let mut status = sync.status.clone().unwrap_or_default();
    status.observed_generation = generation;
    status.last_handled_reconcile_at = sync.annotations_requested_at().map(str::to_string);
    let said = match verdict {
        Verdict::Applied { revision, counts } => {
            record_applied(&mut status, revision, counts, now);
            Conditions {
                ready: ConditionStatus::True,
                reason: ConditionReason::Succeeded,
                message: match counts.drifted {
                    0 => format!("Applied revision {revision}"),
                    n => format!(
                        "Applied revision {revision}; {n} object(s) differ from git and are \
                         left as they are (drift: Report)"
                    ),
                },
                reconciling: false,
                stalled: false,
            }
        }
        Verdict::Progressing {
            revision,
            counts,
            message,
        } => {
            // Applied: what drift is put back to and what `dependsOn` reads as applied.
            record_applied(&mut status, revision, counts, now);
            Conditions {
                ready: ConditionStatus::False,
                reason: ConditionReason::Progressing,
                message: message.clone(),
                reconciling: true,
                stalled: false,
            }
        }
        Verdict::Unhealthy { message } => {
            status.last_attempted_time = Some(now.to_string());
            status.last_error = Some(message.clone());
            status.consecutive_failures = status.consecutive_failures.saturating_add(1);
            Conditions {
                ready: ConditionStatus::False,
                reason: ConditionReason::HealthCheckFailed,
                message: message.clone(),
                reconciling: false,
                stalled: false,
            }
        }
        Verdict::Failed {
            reason,
            message,
            revision,
        } => {
            if let Some(revision) = revision {
                status.last_attempted_revision = Some(revision.clone());
            }
            status.last_attempted_time = Some(now.to_string());
            status.last_error = Some(message.clone());
            status.consecutive_failures = status.consecutive_failures.saturating_add(1);
            Conditions {
                ready: ConditionStatus::False,
                reason: ConditionReason::Failed(*reason),
                message: message.clone(),
                reconciling: false,
                stalled: false,
            }
        }
        Verdict::Waiting { message } => {
            status.last_attempted_time = Some(now.to_string());
            Conditions {
                ready: ConditionStatus::False,
                reason: ConditionReason::DependencyNotReady,
                message: message.clone(),
                reconciling: true,
                stalled: false,
            }
        }
        Verdict::Stalled { reason, message } => {
            status.last_attempted_time = Some(now.to_string());
            status.last_error = Some(message.clone());
            Conditions {
                ready: ConditionStatus::False,
                reason: ConditionReason::Stalled(*reason),
                message: message.clone(),
                reconciling: false,
                stalled: true,
            }
        }
    };
    let conditions = &mut status.conditions;
    set(
        conditions,
        READY,
        said.ready,
        said.reason,
        &said.message,
        generation,
        now,
    );
    // kstatus: Reconciling and Stalled are present only while true ("abnormal-true").
    toggle(
        conditions,
        RECONCILING,
        said.reconciling,
        ConditionReason::Progressing,
        &said.message,
        generation,
        now,
    );
    toggle(
        conditions,
        STALLED,
        said.stalled,
        said.reason,
        &said.message,
        generation,
        now,
    );
    status
}

fn toggle(
    conditions: &mut Vec<Condition>,
    type_: &str,
    on: bool,
    reason: ConditionReason,
    message: &str,
    generation: Option<i64>,
    now: &str,
) {
    if on {
        set(
            conditions,
            type_,
            ConditionStatus::True,
            reason,
            message,
            generation,
            now,
        );
    } else {
        conditions.retain(|c| c.type_ != type_);
    }
}

/// Sets a condition; its transition time moves only when its status does.
fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: ConditionStatus,
    reason: ConditionReason,
    message: &str,
    generation: Option<i64>,
    now: &str,
) {
    let transition = conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == status.as_str())
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.to_string());
    conditions.retain(|c| c.type_ != type_);
    conditions.push(Condition {
        type_: type_.to_string(),
        status: status.as_str().to_string(),
        reason: reason.as_str().to_string(),
        message: message.to_string(),
        observed_generation: generation,
        last_transition_time: transition,
    });
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
}

/// Why a sync must be reconciled now, or how long until it must.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Now(Reason),
    In(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Never reconciled, or the spec changed since.
    Changed,
    /// `kubectl gitops sync` asked.
    Requested,
    /// The interval (or after failures, the backoff) elapsed.
    Interval,
    /// A managed object changed outside git: put it back at the revision last applied.
    Drift,
}

/// When `sync` is due: at once when its spec or request annotation changed, else when the
/// interval (after a success) or `retry` (otherwise) has passed since the last attempt.
pub fn due(sync: &GitSync, interval: Duration, retry: Duration, now: Timestamp) -> Due {
    let Some(status) = &sync.status else {
        return Due::Now(Reason::Changed);
    };
    if status.observed_generation != sync.metadata.generation {
        return Due::Now(Reason::Changed);
    }
    if sync.annotations_requested_at() != status.last_handled_reconcile_at.as_deref() {
        return Due::Now(Reason::Requested);
    }
    let Some(last) = status
        .last_attempted_time
        .as_deref()
        .and_then(|t| t.parse::<Timestamp>().ok())
    else {
        return Due::Now(Reason::Changed);
    };
    let wait = if sync.is_ready() { interval } else { retry };
    let elapsed = now
        .duration_since(last)
        .try_into()
        .unwrap_or(Duration::ZERO);
    match wait.checked_sub(elapsed) {
        Some(left) if !left.is_zero() => Due::In(left),
        _ => Due::Now(Reason::Interval),
    }
}

impl GitSync {
    /// Whether the last reconcile left it waiting for a dependency to turn Ready.
    pub fn waiting_for_dependencies(&self) -> bool {
        self.condition(READY)
            .is_some_and(|c| ConditionReason::DependencyNotReady.is(&c.reason))
    }

    /// The commit of `status.lastAppliedRevision` (`REF@sha1:COMMIT`).
    pub fn last_applied_commit(&self) -> Option<gix::ObjectId> {
        let revision = self.status.as_ref()?.last_applied_revision.as_deref()?;
        let (_, hex) = revision.rsplit_once("@sha1:")?;
        gix::ObjectId::from_hex(hex.as_bytes()).ok()
    }

    pub fn annotations_requested_at(&self) -> Option<&str> {
        self.metadata
            .annotations
            .as_ref()?
            .get(REQUESTED_AT)
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::crd::GitSyncSpec;

    fn sync(generation: i64) -> GitSync {
        let mut sync = GitSync::new("apps", GitSyncSpec::default());
        sync.metadata.namespace = Some("team-a".into());
        sync.metadata.generation = Some(generation);
        sync
    }

    fn condition<'a>(status: &'a GitSyncStatus, type_: &str) -> Option<&'a Condition> {
        status.conditions.iter().find(|c| c.type_ == type_)
    }

    #[test]
    fn an_applied_revision_is_ready_at_the_observed_generation() {
        let sync = sync(3);
        let status = next(
            &sync,
            &Verdict::Applied {
                revision: revision("main", "abc"),
                counts: Counts::default(),
            },
            "2026-01-01T00:00:00Z",
        );
        let ready = condition(&status, READY).unwrap();
        assert_eq!(ready.status, "True");
        assert_eq!(ready.observed_generation, Some(3));
        assert_eq!(
            status.last_applied_revision.as_deref(),
            Some("main@sha1:abc")
        );
        assert!(condition(&status, STALLED).is_none());
        assert!(condition(&status, RECONCILING).is_none());
    }

    #[test]
    fn a_failure_keeps_the_last_applied_revision_and_counts_the_failures() {
        let mut sync = sync(1);
        sync.status = Some(next(
            &sync,
            &Verdict::Applied {
                revision: revision("main", "good"),
                counts: Counts::default(),
            },
            "2026-01-01T00:00:00Z",
        ));
        let failed = Verdict::Failed {
            reason: Failure::ApplyFailed,
            message: "ConfigMap/a/b: forbidden".into(),
            revision: Some(revision("main", "bad")),
        };
        sync.status = Some(next(&sync, &failed, "2026-01-01T00:01:00Z"));
        let status = next(&sync, &failed, "2026-01-01T00:02:00Z");
        assert_eq!(
            status.last_applied_revision.as_deref(),
            Some("main@sha1:good")
        );
        assert_eq!(
            status.last_attempted_revision.as_deref(),
            Some("main@sha1:bad")
        );
        assert_eq!(status.consecutive_failures, 2);
        let ready = condition(&status, READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "ApplyFailed")
        );
        // The condition turned False at the first failure, not at the latest.
        assert_eq!(ready.last_transition_time, "2026-01-01T00:01:00Z");
    }

    #[test]
    fn a_spec_that_cannot_work_is_stalled_and_waiting_is_reconciling() {
        let sync = sync(1);
        let stalled = next(
            &sync,
            &Verdict::Stalled {
                reason: Stall::NoServiceAccount,
                message: "no serviceAccountName".into(),
            },
            "2026-01-01T00:00:00Z",
        );
        assert_eq!(condition(&stalled, STALLED).unwrap().status, "True");
        let waiting = next(
            &sync,
            &Verdict::Waiting {
                message: "dependency team-a/base is not Ready".into(),
            },
            "2026-01-01T00:00:00Z",
        );
        assert_eq!(condition(&waiting, RECONCILING).unwrap().status, "True");
        assert_eq!(
            condition(&waiting, READY).unwrap().reason,
            "DependencyNotReady"
        );
    }

    #[test]
    fn an_applied_revision_whose_workloads_roll_out_is_reconciling_not_ready() {
        let mut sync = sync(2);
        sync.status = Some(next(
            &sync,
            &Verdict::Progressing {
                revision: revision("main", "abc"),
                counts: Counts::default(),
                message: "0/1 ready; Deployment/team-a/web: 0/1 replicas available".into(),
            },
            "2026-01-01T00:00:00Z",
        ));
        let status = sync.status.as_ref().unwrap();
        let ready = condition(status, READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "Progressing")
        );
        assert!(ready.message.contains("Deployment/team-a/web"));
        assert_eq!(condition(status, RECONCILING).unwrap().status, "True");
        assert_eq!(
            status.last_applied_revision.as_deref(),
            Some("main@sha1:abc")
        );
        // A workload that fails: not Ready, no longer Reconciling, the revision still applied.
        let status = next(
            &sync,
            &Verdict::Unhealthy {
                message: "Deployment/team-a/web: the rollout exceeded its progress deadline".into(),
            },
            "2026-01-01T00:05:00Z",
        );
        let ready = condition(&status, READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "HealthCheckFailed")
        );
        assert!(condition(&status, RECONCILING).is_none());
        assert_eq!(status.consecutive_failures, 1);
        assert_eq!(
            status.last_applied_revision.as_deref(),
            Some("main@sha1:abc")
        );
    }

    #[test]
    fn a_sync_is_due_on_change_on_request_and_after_its_interval() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let minute = Duration::from_secs(60);
        let mut sync = sync(1);
        assert_eq!(due(&sync, minute, minute, t0), Due::Now(Reason::Changed));
        sync.status = Some(next(
            &sync,
            &Verdict::Applied {
                revision: revision("main", "a"),
                counts: Counts::default(),
            },
            "2026-01-01T00:00:00Z",
        ));
        let later = t0 + Duration::from_secs(20);
        assert_eq!(
            due(&sync, minute, minute, later),
            Due::In(Duration::from_secs(40))
        );
        assert_eq!(
            due(&sync, minute, minute, t0 + minute),
            Due::Now(Reason::Interval)
        );
        sync.metadata.annotations = Some([(REQUESTED_AT.to_string(), "now".to_string())].into());
        assert_eq!(
            due(&sync, minute, minute, later),
            Due::Now(Reason::Requested)
        );
        sync.metadata.annotations = None;
        sync.metadata.generation = Some(2);
        assert_eq!(due(&sync, minute, minute, later), Due::Now(Reason::Changed));
    }
}
