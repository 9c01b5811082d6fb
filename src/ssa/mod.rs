//! The engine: what the cluster would look like after a server-side apply of the desired
//! objects, as values. Printing is the caller's job (see `report`).

mod apply;
pub mod cascade;
mod compare;
mod conflict;
mod defaults;
mod departed;
mod ignore;
mod mask;
pub mod moves;
mod normalize;
mod order;
mod plan;
pub mod runs;
mod unchanged;
pub mod wait;

pub use apply::{Applied, ApplyOptions, Writes, apply, prune};
pub use compare::{OfflineOptions, classify, offline_plan};
pub use conflict::FieldConflict;
pub use defaults::{Defaulted, FieldPath, Segment, without as without_fields};
pub use ignore::{Ignored, IgnoredNote, IgnoredState};
pub use mask::{SecretValues, mask_secret_pair};
pub use normalize::normalize;
pub use order::phase;
pub use plan::{PlanOptions, Planned, Work, plan};

use serde::Serialize;
use serde_json::Value;

use crate::cluster::NotAttempted;
use crate::object::ObjectRef;
use crate::render::Origin;

use crate::meta::FIELD_MANAGER;

/// What applying the plan does to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Unchanged,
    Prune,
    /// Applying would change fields another field manager owns, and the plan does not force:
    /// apply refuses it. The change shows what `--force-conflicts` would do.
    Conflict,
    /// A Helm hook that ran (see [`runs`]): only ever an apply's result, never a planned change.
    Run,
}

/// One object's planned change. `before` and `after` are normalised, with Secret values
/// already masked, so no report built from a Change can leak them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub action: Action,
    pub object: ObjectRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// False when the server could not check the object yet, because its namespace or CRD is
    /// created by the same change: then `after` is the rendered body.
    pub validated: bool,
    /// Why the server could not validate it, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// For [`Action::Conflict`]: who owns which of the fields the apply would change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<FieldConflict>,
    /// Against a base revision (`diff --base`): whether the change comes from git since then
    /// or from drift the cluster already had. `None` without a base, and for unchanged objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// The object comes into the set from another ApplySet or from other tooling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handover: Option<crate::inventory::Handover>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Where a change of a three-way plan (base revision, head revision, live cluster) comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    /// The head renders the object differently from the base (or only one of them renders
    /// it): merging the head brings this change.
    Introduced,
    /// Base and head render the object alike, yet the cluster differs: a change made in the
    /// cluster (or an object already gone from git) that applying either revision reverts.
    Drift,
}

/// An object the plan could not be computed for, with the server's (redacted) reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanError {
    pub object: ObjectRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    pub message: String,
    /// Not sent: the server had stopped answering (see the cluster's breaker).
    #[serde(skip)]
    pub not_attempted: Option<NotAttempted>,
    /// A cause many objects can share, so reports can say it once for all of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<SharedReason>,
}

/// A failure that is one fact about the cluster, not about the object: every object in a
/// missing namespace, or of a kind the server does not serve, fails the same way.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum SharedReason {
    /// The object's namespace does not exist, and the plan does not create it.
    #[serde(rename_all = "camelCase")]
    NamespaceNotFound { namespace: String },
    /// The server has no such kind (usually: its CustomResourceDefinition is not installed),
    /// and the plan does not create one.
    #[serde(rename_all = "camelCase")]
    KindNotFound { api_version: String, kind: String },
}

impl SharedReason {
    /// What to do about it, in a few words.
    pub fn fix(&self) -> String {
        match self {
            SharedReason::NamespaceNotFound { namespace } => format!(
                "add a Namespace {namespace} to the tree, or create it \
                 (kubectl create namespace {namespace})"
            ),
            SharedReason::KindNotFound { .. } => {
                "add its CustomResourceDefinition to the tree, or install it on the cluster".into()
            }
        }
    }
}

/// A member of the ApplySet that is no longer rendered but is deliberately not pruned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kept {
    pub object: ObjectRef,
    pub reason: KeepReason,
}

/// Why a member that left the render is not pruned. Written in reports and JSON as its
/// sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepReason {
    /// The set does not prune (`prune: false`).
    PruningOff,
    /// An annotation asks for it (`helm.sh/resource-policy: keep`, ...), as written.
    Annotated { key: String, value: String },
    /// A protected kind (Namespace, CRD, PV, ...) without `--prune-protected`.
    ProtectedKind,
}

impl std::fmt::Display for KeepReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeepReason::PruningOff => f.write_str("pruning is off for this set (prune: false)"),
            KeepReason::Annotated { key, value } => {
                write!(f, "annotated {key}: {value}: never pruned")
            }
            KeepReason::ProtectedKind => {
                f.write_str("protected kind: not pruned without --prune-protected")
            }
        }
    }
}

impl Serialize for KeepReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Everything a report needs: one entry per desired (or pruned) object.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub errors: Vec<PlanError>,
    pub kept: Vec<Kept>,
    /// For each create the server validated: the fields it defaulted, which git does not set
    /// (reports fold them unless asked to show them). Updates have none: every changed field
    /// is shown, whoever set it.
    pub defaulted: Vec<Defaulted>,
    /// For prunes that take other objects with them (a Namespace, a CRD, an owner): what
    /// the cluster deletes along with them. Filled by the pipeline when asked to.
    pub cascades: Vec<cascade::Cascade>,
    /// Objects with ignored fields (git seeds them on create only): what ignoring each does.
    pub ignored: Vec<Ignored>,
    /// Helm hooks that run when this plan is applied (see [`runs`]); not changes, since they
    /// are deleted after they ran.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<runs::Hook>,
}

/// Counts of a plan, for summary lines and exit codes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub prune: usize,
    pub unchanged: usize,
    /// Objects apply refuses for their field conflicts (see [`Action::Conflict`]).
    pub conflicts: usize,
    pub errors: usize,
}

impl Plan {
    /// What the cluster deletes along with this change's object, if it is a prune that
    /// cascades.
    pub fn cascade_of(&self, change: &Change) -> Option<&cascade::Cascade> {
        if change.action != Action::Prune {
            return None;
        }
        self.cascades.iter().find(|c| c.object == change.object)
    }

    /// The fields the server defaulted on this change's object, if it is a create that has any.
    pub fn defaulted_of(&self, change: &Change) -> Option<&[FieldPath]> {
        if change.action != Action::Create {
            return None;
        }
        self.defaulted
            .iter()
            .find(|d| d.object == change.object)
            .map(|d| d.fields.as_slice())
            .filter(|fields| !fields.is_empty())
    }

    /// The ignored fields of this change's object, if it has any.
    pub fn ignored_of(&self, change: &Change) -> Option<&Ignored> {
        self.ignored
            .iter()
            .find(|i| i.object == change.object)
            .filter(|i| !i.fields.is_empty())
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            errors: self.errors.len(),
            ..Summary::default()
        };
        for change in &self.changes {
            match change.action {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Prune => s.prune += 1,
                Action::Unchanged => s.unchanged += 1,
                Action::Conflict => s.conflicts += 1,
                Action::Run => {}
            }
        }
        s
    }
}

impl Summary {
    /// True when applying would change the cluster.
    pub fn has_changes(&self) -> bool {
        self.create + self.update + self.prune > 0
    }

    /// Objects that keep the plan from being applied: those that failed to plan and those
    /// with field conflicts. Apply and the reconciler apply whole plans or nothing.
    pub fn blocked(&self) -> usize {
        self.errors + self.conflicts
    }
}
