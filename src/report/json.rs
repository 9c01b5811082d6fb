//! The machine-readable report. The schema is versioned and documented in
//! docs/json-output.md; fields are only ever added.

use std::io::{self, Write};

use serde::Serialize;

use super::{Destination, Options, change_diff};
use crate::object::ObjectRef;
use crate::render::Origin;
use crate::ssa::{Action, Cause, FieldPath, Plan, PlanError, Summary};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Report<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    context: &'a str,
    server: &'a str,
    /// The digest `diff --out` gives this plan (absent when it cannot be applied).
    #[serde(rename = "planDigest", skip_serializing_if = "Option::is_none")]
    plan_digest: Option<&'a str>,
    summary: Summary,
    changes: Vec<JsonChange<'a>>,
    errors: &'a [PlanError],
    /// Members that left git but are not pruned (protected kinds).
    kept: &'a [crate::ssa::Kept],
    /// Helm hooks an apply runs (and deletes after they ran) when it changes something.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    hooks: &'a [crate::ssa::runs::Hook],
    /// `apply -o json`: what was done with the plan above.
    #[serde(skip_serializing_if = "Option::is_none")]
    applied: Option<&'a Outcome<'a>>,
}

/// What `apply -o json` did with the plan: the schema of `diff -o json` plus this.
#[derive(Debug, Serialize)]
pub struct Outcome<'a> {
    pub result: ApplyResult,
    /// One entry per write attempted, in order: each names its object, its action and, when
    /// it failed, the server's reason.
    pub writes: &'a [crate::ssa::Applied],
    pub created: usize,
    pub updated: usize,
    pub pruned: usize,
    pub failed: usize,
    /// Prunes planned but not done (something failed, or over --max-prune).
    #[serde(rename = "prunesSkipped")]
    pub prunes_skipped: usize,
    /// Why nothing (or not everything) was written, for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How an apply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ApplyResult {
    /// Every write was made.
    Applied,
    /// Some writes failed; nothing was pruned.
    Failed,
    /// The plan was not applied (errors, conflicts, moves between sets, an empty render).
    Refused,
    /// The cluster already matched.
    NoChanges,
    /// --dry-run: nothing was written.
    DryRun,
    /// The user answered no.
    Cancelled,
    /// Interrupted between writes: `writes` lists those made, nothing was pruned.
    Interrupted,
}

#[derive(Serialize)]
struct JsonChange<'a> {
    action: Action,
    object: &'a ObjectRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<&'a Origin>,
    validated: bool,
    /// Why the server could not validate it, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
    /// For a conflict: who owns which fields the apply would change.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    conflicts: &'a [crate::ssa::FieldConflict],
    /// Against `--base`: "introduced" or "drift".
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<Cause>,
    /// The object comes into the set from another ApplySet or from other tooling.
    #[serde(skip_serializing_if = "Option::is_none")]
    handover: Option<&'a crate::inventory::Handover>,
    /// For a prune: what the cluster deletes along with the object.
    #[serde(skip_serializing_if = "Option::is_none")]
    cascade: Option<&'a crate::ssa::cascade::Cascade>,
    /// The unified diff, as text shows it (empty when unchanged).
    diff: String,
    /// A create's fields the server defaulted (git does not set them); folded in `diff`
    /// unless --show-defaults, always present in `after`.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    defaulted: &'a [FieldPath],
    /// The object's ignored fields (kubectl-gitops.io/ignore-fields, .gitops-ignore.yaml) and
    /// what ignoring each does in this plan.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    ignored: &'a [crate::ssa::IgnoredNote],
    before: &'a Option<serde_json::Value>,
    after: &'a Option<serde_json::Value>,
}

pub fn write(
    plan: &Plan,
    destination: &Destination,
    options: &Options,
    out: &mut dyn Write,
) -> io::Result<()> {
    write_with_outcome(plan, destination, options, None, out)
}

/// The report of `plan`, with what an apply did with it.
pub fn write_with_outcome(
    plan: &Plan,
    destination: &Destination,
    options: &Options,
    applied: Option<&Outcome>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let report = Report {
        schema_version: SCHEMA_VERSION,
        context: &destination.context,
        server: &destination.server,
        plan_digest: destination.plan_digest.as_deref(),
        summary: plan.summary(),
        changes: plan
            .changes
            .iter()
            .map(|c| JsonChange {
                action: c.action,
                object: &c.object,
                origin: c.origin.as_ref(),
                validated: c.validated,
                note: c.note.as_deref(),
                conflicts: &c.conflicts,
                cause: c.cause,
                handover: c.handover.as_ref(),
                cascade: plan.cascade_of(c),
                diff: change_diff(plan, c, options)
                    .iter()
                    .map(|l| l.unified() + "\n")
                    .collect(),
                defaulted: plan.defaulted_of(c).unwrap_or_default(),
                ignored: plan
                    .ignored_of(c)
                    .map(|i| i.fields.as_slice())
                    .unwrap_or_default(),
                before: &c.before,
                after: &c.after,
            })
            .collect(),
        errors: &plan.errors,
        kept: &plan.kept,
        hooks: &plan.hooks,
        applied,
    };
    serde_json::to_writer_pretty(&mut *out, &report)?;
    writeln!(out)
}
