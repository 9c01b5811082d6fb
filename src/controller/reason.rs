//! The reasons a GitSync's conditions and Events give, as types: a failed verdict can carry
//! only a failure's reason, a stalled one only a stall's, and the words the API shows (and
//! the `stage` label of the failure metric) are written in one place.

use std::fmt;

use crate::runtime::cycle::Stage;

/// Why a reconcile failed; it is retried with backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// The sync's ServiceAccount could not be acted as.
    ImpersonationFailed,
    /// `dependsOn` names a sync in a namespace the account may not read.
    DependencyForbidden,
    /// The controller does not fetch from this repository URL.
    SourceRefused,
    /// The credentials Secret could not be read, or lacks its token.
    CredentialsFailed,
    FetchFailed,
    SourceFailed,
    RenderFailed,
    PlanFailed,
    ApplyFailed,
    /// Applied, but the prunes were withheld: more than `maxPrune` allows.
    PruneLimitExceeded,
    /// Another sync holds the ApplySet this one resolves to.
    ApplySetInUse,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::ImpersonationFailed => "ImpersonationFailed",
            Failure::DependencyForbidden => "DependencyForbidden",
            Failure::SourceRefused => "SourceRefused",
            Failure::CredentialsFailed => "CredentialsFailed",
            Failure::FetchFailed => "FetchFailed",
            Failure::SourceFailed => "SourceFailed",
            Failure::RenderFailed => "RenderFailed",
            Failure::PlanFailed => "PlanFailed",
            Failure::ApplyFailed => "ApplyFailed",
            Failure::PruneLimitExceeded => "PruneLimitExceeded",
            Failure::ApplySetInUse => "ApplySetInUse",
        }
    }
}

/// The stage of the cycle that failed says the reason.
impl From<Stage> for Failure {
    fn from(stage: Stage) -> Self {
        match stage {
            Stage::Fetch => Failure::FetchFailed,
            Stage::Source => Failure::SourceFailed,
            Stage::Render => Failure::RenderFailed,
            Stage::Plan => Failure::PlanFailed,
            Stage::Apply => Failure::ApplyFailed,
            Stage::Prune => Failure::PruneLimitExceeded,
        }
    }
}

/// Why a spec cannot work as written: nothing is retried until the GitSync changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stall {
    /// A field does not parse or breaks a rule (the message names it).
    InvalidSpec,
    /// No `serviceAccountName` and no `--default-service-account`.
    NoServiceAccount,
}

impl Stall {
    pub fn as_str(self) -> &'static str {
        match self {
            Stall::InvalidSpec => "InvalidSpec",
            Stall::NoServiceAccount => "NoServiceAccount",
        }
    }
}

/// The `reason` of a condition the controller writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Ready: the revision is applied.
    Succeeded,
    /// Ready is False and Reconciling True: a dependency is not Ready yet.
    DependencyNotReady,
    /// Reconciling (and Ready's reason with `spec.wait`): the sync is on its way to Ready.
    Progressing,
    /// Applied, but a workload failed or was not Current within `spec.timeout`.
    HealthCheckFailed,
    Failed(Failure),
    Stalled(Stall),
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Succeeded => "ReconciliationSucceeded",
            Reason::DependencyNotReady => "DependencyNotReady",
            Reason::Progressing => "Progressing",
            Reason::HealthCheckFailed => "HealthCheckFailed",
            Reason::Failed(failure) => failure.as_str(),
            Reason::Stalled(stall) => stall.as_str(),
        }
    }

    /// Whether a condition read back from the API gives this reason.
    pub fn is(self, written: &str) -> bool {
        self.as_str() == written
    }
}

impl From<Failure> for Reason {
    fn from(failure: Failure) -> Self {
        Reason::Failed(failure)
    }
}

impl From<Stall> for Reason {
    fn from(stall: Stall) -> Self {
        Reason::Stalled(stall)
    }
}

/// The reason of an Event the controller records on a GitSync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventReason {
    /// A new revision was written.
    Applied,
    /// Objects changed outside git were put back at the revision already applied.
    DriftCorrected,
    /// A reconcile failed; the last good state is kept.
    ReconcileFailed,
    /// The applied workloads failed, or were not Current in time.
    HealthCheckFailed,
    /// The spec cannot work as written (one Event per distinct refusal).
    Stalled(Stall),
    /// A sync being deleted with `deletionPolicy: Delete` could not prune its objects.
    PruneOnDeleteFailed,
}

impl EventReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EventReason::Applied => "Applied",
            EventReason::DriftCorrected => "DriftCorrected",
            EventReason::ReconcileFailed => "ReconcileFailed",
            EventReason::HealthCheckFailed => "HealthCheckFailed",
            EventReason::Stalled(stall) => stall.as_str(),
            EventReason::PruneOnDeleteFailed => "PruneOnDeleteFailed",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for EventReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stage_of_a_cycle_fails_with_the_reason_the_api_has_always_shown() {
        let reasons: Vec<&str> = [
            Stage::Fetch,
            Stage::Source,
            Stage::Render,
            Stage::Plan,
            Stage::Apply,
            Stage::Prune,
        ]
        .into_iter()
        .map(|stage| Failure::from(stage).as_str())
        .collect();
        assert_eq!(
            reasons,
            [
                "FetchFailed",
                "SourceFailed",
                "RenderFailed",
                "PlanFailed",
                "ApplyFailed",
                "PruneLimitExceeded"
            ]
        );
    }

    #[test]
    fn a_failure_or_a_stall_gives_its_own_words_as_the_condition_reason() {
        assert_eq!(
            Reason::from(Failure::ApplySetInUse).as_str(),
            "ApplySetInUse"
        );
        assert_eq!(Reason::from(Stall::InvalidSpec).as_str(), "InvalidSpec");
        assert!(Reason::DependencyNotReady.is("DependencyNotReady"));
        assert!(!Reason::DependencyNotReady.is("Progressing"));
    }
}
