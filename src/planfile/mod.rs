//! Plan files: a plan written by `diff --out PLAN`, applied by `apply --plan PLAN`.
//!
//! A plan file is a serialisation of what [`crate::pipeline::plan`] returned, never a second
//! way of planning: `apply --plan` plans again from the render and the cluster, builds the
//! same record from that plan and compares the two ([`verify`]). It applies the new plan only
//! when every object matches — same action, same digest of the body to apply, same live
//! object (uid) in the same version (resourceVersion) — and then pins each update to that
//! version, so the server refuses a write to an object that changed in between.
//!
//! No Secret value is in a plan file: bodies are recorded as digests only, a Secret's with a
//! salted, iterated digest (see [`digest`]). The format is documented in docs/plan-format.md.

pub mod digest;
mod verify;

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::inventory::ApplySet;
use crate::object::ObjectRef;
use crate::render::Manifest;
use crate::source::{Snapshot, SourceOrigin};
use crate::ssa::{Action, Planned};

pub use verify::{Mismatch, verify};

/// What the `kind` field of every plan file says.
pub const KIND: &str = "kubectl-gitops/Plan";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// One plan, as written to disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanFile {
    pub kind: String,
    pub format_version: u32,
    /// `sha256:` over the parts that decide what applying the plan does (see
    /// [`PlanFile::compute_digest`]); what pull-request previews show.
    pub digest: String,
    /// The program that wrote it (not part of the digest).
    pub generator: String,
    pub source: SourceRecord,
    pub cluster: ClusterRecord,
    pub apply_set: SetRecord,
    pub settings: Settings,
    pub summary: Counts,
    /// Every object of the plan, in the order it was planned (prunes last).
    pub objects: Vec<PlannedObject>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRecord {
    /// PATH relative to the repository root.
    pub path: String,
    /// The revision as given (`--ref`), when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The commit rendered (for a working tree: the commit `HEAD` is on); none for a plain
    /// directory or a repository without commits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Rendered from the working tree, uncommitted edits included, rather than from the
    /// commit alone.
    #[serde(default)]
    pub working_tree: bool,
    /// Digest of the render: every object's identity and body digest, in render order.
    pub content_digest: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRecord {
    /// The kubeconfig context (not part of the digest: names differ between machines).
    pub context: String,
    pub server: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetRecord {
    pub name: String,
    pub namespace: String,
    /// The `applyset.kubernetes.io/id` of the parent.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
}

/// The flags that shape a plan; `apply --plan` plans again with exactly these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub force_conflicts: bool,
    pub prune_protected: bool,
    pub adopt: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    pub create: usize,
    pub update: usize,
    pub prune: usize,
    pub unchanged: usize,
}

/// One object of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedObject {
    pub action: Action,
    pub object: ObjectRef,
    /// Where git defines it (`file:line`; not part of the digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The live object's uid the plan was made against; none for a create.
    #[serde(default)]
    pub uid: Option<String>,
    /// The live object's resourceVersion the plan was made against; none for a create.
    #[serde(default)]
    pub resource_version: Option<String>,
    /// Digest of the body to apply; none for a prune.
    #[serde(default)]
    pub body_digest: Option<String>,
}

/// Where the plan came from and where it goes, beside the plan itself.
pub struct Origin<'a> {
    pub snapshot: &'a Snapshot,
    pub manifests: &'a [Manifest],
    pub set: &'a ApplySet,
    pub context: &'a str,
    pub server: &'a str,
    pub settings: Settings,
}

/// Why a plan cannot be written to a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "no plan file written: {0} objects cannot be applied as planned (errors or field conflicts)"
)]
pub struct Unapplicable(pub usize);

impl PlanFile {
    /// The record of `planned`. A plan with errors or conflicts is refused: apply would not
    /// execute it.
    pub fn of(planned: &Planned, context: &Origin<'_>) -> Result<Self, Unapplicable> {
        let blocked = planned.plan.summary().blocked();
        if blocked > 0 {
            return Err(Unapplicable(blocked));
        }
        let set_id = context.set.id();
        // The first change of each object, as a search in order would find it.
        let mut origins = HashMap::new();
        for change in &planned.plan.changes {
            origins
                .entry(&change.object)
                .or_insert(change.origin.as_ref());
        }
        let bodies: Vec<(&ObjectRef, &Value)> = planned
            .work
            .iter()
            .filter_map(|w| Some((&w.object, w.body.as_ref()?)))
            .collect();
        let mut digests = digest::of_bodies(&bodies, &set_id).into_iter();
        let objects = planned
            .work
            .iter()
            .map(|w| PlannedObject {
                action: w.action,
                object: w.object.clone(),
                origin: origins
                    .get(&w.object)
                    .copied()
                    .flatten()
                    .map(ToString::to_string),
                uid: w.uid.clone(),
                resource_version: w.resource_version.clone(),
                body_digest: w.body.as_ref().and_then(|_| digests.next()),
            })
            .collect();
        let s = planned.plan.summary();
        let identity = context.set.identity.as_ref();
        let mut file = PlanFile {
            kind: KIND.to_string(),
            format_version: FORMAT_VERSION,
            digest: String::new(),
            generator: format!("kubectl-gitops {}", env!("CARGO_PKG_VERSION")),
            source: SourceRecord {
                path: context
                    .snapshot
                    .display_prefix
                    .to_string_lossy()
                    .replace('\\', "/"),
                reference: context.snapshot.revision.as_ref().map(|r| r.spec.clone()),
                revision: revision(context.snapshot),
                working_tree: context.snapshot.revision.is_none(),
                content_digest: content_digest(context.manifests, &set_id),
            },
            cluster: ClusterRecord {
                context: context.context.to_string(),
                server: context.server.to_string(),
            },
            apply_set: SetRecord {
                name: context.set.name.clone(),
                namespace: context.set.namespace.clone(),
                id: set_id,
                repository: identity.map(|i| i.repository.as_str().to_string()),
                path: identity.map(|i| i.path.clone()),
                target_namespace: identity.map(|i| i.namespace.clone()),
            },
            settings: context.settings,
            summary: Counts {
                create: s.create,
                update: s.update,
                prune: s.prune,
                unchanged: s.unchanged,
            },
            objects,
        };
        file.digest = file.compute_digest();
        Ok(file)
    }

    /// The digest over what decides the plan's effect: the format version, the render's
    /// content, the server, the ApplySet, the settings and every object's action, uid,
    /// resourceVersion and body digest. Not the commit (a merge commit renders the same
    /// content under another id), the context name, the origins or the generator.
    pub fn compute_digest(&self) -> String {
        let objects: Vec<Value> = self
            .objects
            .iter()
            .map(|o| {
                json!({
                    "action": o.action,
                    "object": o.object,
                    "uid": o.uid,
                    "resourceVersion": o.resource_version,
                    "bodyDigest": o.body_digest,
                })
            })
            .collect();
        digest::of_value(&json!({
            "formatVersion": self.format_version,
            "contentDigest": self.source.content_digest,
            "server": self.cluster.server,
            "applySet": {
                "name": self.apply_set.name,
                "namespace": self.apply_set.namespace,
                "id": self.apply_set.id,
            },
            "settings": self.settings,
            "objects": objects,
        }))
    }

    /// Reads and checks a plan file: its kind and version, and that its digest matches its
    /// content (an edited file is refused).
    pub fn read(path: &Path) -> Result<Self> {
        let bytes =
            std::fs::read(path).with_context(|| format!("reading plan {}", path.display()))?;
        let header: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a plan file (not JSON)", path.display()))?;
        if header["kind"].as_str() != Some(KIND) {
            bail!(
                "{} is not a plan file (its kind is not {KIND}); write one with \
                 `kubectl gitops diff --out PLAN`",
                path.display()
            );
        }
        match header["formatVersion"].as_u64() {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            Some(v) => bail!(
                "{} is a plan of format version {v}; this kubectl-gitops reads version \
                 {FORMAT_VERSION}: plan again with it",
                path.display()
            ),
            None => bail!("{} has no formatVersion", path.display()),
        }
        let file: PlanFile = serde_json::from_value(header)
            .with_context(|| format!("reading plan {}", path.display()))?;
        let computed = file.compute_digest();
        if computed != file.digest {
            bail!(
                "{} was changed after it was written: its content has digest {computed}, \
                 not the {} it records",
                path.display(),
                file.digest
            );
        }
        Ok(file)
    }

    /// [`PlanFile::read`], refusing a plan whose digest is not `expected` (when given).
    pub fn read_expecting(path: &Path, expected: Option<&str>) -> Result<Self> {
        let file = PlanFile::read(path)?;
        if let Some(expected) = expected
            && !file.has_digest(expected)
        {
            bail!(
                "{} is not the expected plan: its digest is {}, not {expected}",
                path.display(),
                file.digest
            );
        }
        Ok(file)
    }

    /// Writes the file (pretty JSON), replacing any earlier one.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        std::fs::write(path, text).with_context(|| format!("writing plan {}", path.display()))
    }

    /// Whether `expected` names this plan's digest (with or without the `sha256:` prefix).
    pub fn has_digest(&self, expected: &str) -> bool {
        let expected = expected.trim();
        self.digest == expected || self.digest.strip_prefix("sha256:") == Some(expected)
    }
}

/// The commit a snapshot was read at: its revision's, or the one a working tree's `HEAD` is on.
fn revision(snapshot: &Snapshot) -> Option<String> {
    match (&snapshot.revision, &snapshot.origin) {
        (Some(revision), _) => Some(revision.commit.clone()),
        (None, SourceOrigin::Worktree { repo_root }) => crate::source::head_commit(repo_root),
        (None, SourceOrigin::PlainDirectory) => None,
    }
}

/// The render's digest: every rendered object's identity and body digest, in render order.
fn content_digest(manifests: &[Manifest], set_id: &str) -> String {
    let objects: Vec<ObjectRef> = manifests.iter().map(Manifest::object_ref).collect();
    let bodies: Vec<Value> = manifests
        .iter()
        .map(|m| Value::Object(m.object.clone()))
        .collect();
    let items: Vec<(&ObjectRef, &Value)> = objects.iter().zip(&bodies).collect();
    let entries: Vec<Value> = objects
        .iter()
        .zip(digest::of_bodies(&items, set_id))
        .map(|(object, body)| json!([object, body]))
        .collect();
    digest::of_value(&Value::Array(entries))
}

/// Whether the plan's action writes (create, update, prune).
pub fn writes(action: Action) -> bool {
    matches!(action, Action::Create | Action::Update | Action::Prune)
}
