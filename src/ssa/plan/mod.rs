//! Plan: desired objects + the live cluster -> one `Change` per object.
//!
//! "After" is the server's answer to a server-side apply dry-run with our field manager and the
//! plan's force setting, exactly what apply will send (see [`Planned::force`]); "before" is the
//! live object. Requests run concurrently within the cluster's request budget, and objects
//! sharing a kind and namespace are read with one LIST instead of a GET each.
//!
//! Each step lives in a file of its own: `targets` resolves the desired objects (with `scope`
//! for kinds the render's own CRDs define), `live` reads the live copies while `dry_run` asks
//! the server, `prunes` finds members no longer desired; this file joins them into changes.

mod dry_run;
mod hook_checks;
mod live;
mod prunes;
mod scope;
mod targets;

pub(in crate::ssa) use prunes::kept_by_annotation;

use std::collections::BTreeSet;

use anyhow::Result;
use kube::core::ApiResource;
use serde_json::Value;

use super::{
    Action, Change, Defaulted, FIELD_MANAGER, FieldConflict, FieldPath, Ignored, Plan, PlanError,
    SecretValues, SharedReason, ignore, mask_secret_pair, normalize,
};
use crate::cluster::Cluster;
use crate::inventory::{Member, handover};
use crate::object::ObjectRef;
use crate::render::Manifest;
use crate::render::helm::hooks::Stage;
use crate::ssa::runs::{self, Run};
use dry_run::{DryRunError, is_missing_namespace};
use scope::Unvalidated;
use targets::Desired;

#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Show Secret values instead of masks (the user asked explicitly).
    pub show_secrets: bool,
    /// Take ownership of fields another field manager owns (a forced apply). Without it, an
    /// object whose apply would change such fields is planned as [`Action::Conflict`], naming
    /// the managers and fields, with the change a forced apply would make.
    pub force: bool,
    /// The ApplySet id every desired object is labelled with (`applyset.kubernetes.io/part-of`).
    pub part_of: Option<String>,
    /// Also prune Namespaces, CustomResourceDefinitions and PersistentVolumeClaims, whose
    /// deletion takes data with it.
    pub prune_protected: bool,
    /// Dry-run every object, even those whose live copy proves them unchanged.
    pub verify_unchanged: bool,
    /// Ids of earlier parents of this set (being migrated): their members are ours too.
    pub legacy_ids: Vec<String>,
    /// Consent to move objects from other ApplySets into this one (`--adopt`).
    pub adopt: bool,
    /// Keep every member that is no longer desired (pruning is off).
    pub keep_unrendered: bool,
}

/// Kinds never pruned without `PlanOptions::prune_protected`.
pub(in crate::ssa) const PROTECTED_KINDS: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("", "PersistentVolumeClaim"),
];

/// The plan and what executing it takes. `work` holds clear-text bodies (Secrets included),
/// so it has no Debug and is never printed; reports only ever see `plan`.
pub struct Planned {
    pub plan: Plan,
    pub work: Vec<Work>,
    /// Objects planned as unchanged from their live copy, without a dry-run.
    pub proven_unchanged: usize,
    /// Whether the plan was made with a forced apply; executing it applies the same way, so
    /// what was shown is what is done. The one place force is decided is the plan's options.
    pub force: bool,
    /// The Helm hooks an apply of this plan runs (listed for reports in `plan.hooks`).
    pub runs: Vec<Run>,
}

/// One write apply will make.
pub struct Work {
    pub object: ObjectRef,
    pub resource: ApiResource,
    pub action: Action,
    /// When, within the apply, it is written (a Helm hook's stage; prunes are main).
    pub stage: Stage,
    /// The body to apply; None for a prune.
    pub body: Option<Value>,
    /// The live object's uid (none for a create), so a prune deletes exactly the object that
    /// was planned, and an apply of a plan file writes to the object it was planned against.
    pub uid: Option<String>,
    /// The live object's resourceVersion when planned: a prune deletes it only as it was seen,
    /// never after someone changed it (a plan can wait at its prompt for hours); an apply of a
    /// plan file sends it as the apply's precondition.
    pub resource_version: Option<String>,
}

/// The uid and resourceVersion of the live object a change was planned against.
fn planned_against(live: Option<&Value>) -> (Option<String>, Option<String>) {
    let field = |name: &str| {
        live.and_then(|l| l["metadata"][name].as_str())
            .map(str::to_string)
    };
    (field("uid"), field("resourceVersion"))
}

/// Computes the plan: one change per desired object, and a prune for every live member of
/// the ApplySet (`members`) that is no longer desired. Per-object problems (rejections, unknown
/// kinds) become `Plan::errors`; only a cluster that cannot be talked to at all is an `Err`.
pub async fn plan(
    cluster: &Cluster,
    manifests: &[Manifest],
    members: &[Member],
    options: &PlanOptions,
) -> Result<Planned> {
    let mut errors: Vec<(usize, PlanError)> = Vec::new();
    let targets = targets::resolve(cluster, manifests, options, &mut errors).await?;
    let created_namespaces: BTreeSet<&str> = manifests
        .iter()
        .filter(|m| m.kind() == "Namespace" && m.api_version() == "v1")
        .map(|m| m.name())
        .collect();
    // Hooks that run are not compared with the cluster: they run on apply. The server checks
    // them as they will be created.
    let (runs, targets): (Vec<_>, Vec<_>) = targets
        .into_iter()
        .partition(|t| t.manifest.hook.run.is_some());
    errors.extend(
        hook_checks::refused(cluster, &runs, &created_namespaces, options.show_secrets).await,
    );
    let runs: Vec<Run> = runs
        .into_iter()
        .filter_map(|t| {
            let run = t.manifest.hook.run?;
            Some(Run::new(
                t.object,
                t.resource,
                t.body,
                run,
                t.manifest.origin.clone(),
            ))
        })
        .collect();

    let (live, outcomes, proven_unchanged) =
        live::read_and_dry_run(cluster, &targets, members, options).await;

    let mut changes: Vec<Planned1> = Vec::new();
    for (target, outcome) in targets.iter().zip(outcomes) {
        let secrets = SecretValues::from_object(&target.body);
        let redact = |text: String| {
            if options.show_secrets {
                text
            } else {
                secrets.redact(&text)
            }
        };
        let (after, conflicts, unvalidated) = match (target.unvalidated, outcome) {
            (Some(reason), _) => (target.body.clone(), Vec::new(), Some(reason)),
            (None, Ok(answer)) => (answer.after, answer.conflicts, None),
            (None, Err(DryRunError::Status(status)))
                if is_missing_namespace(&status)
                    && target
                        .object
                        .namespace
                        .as_deref()
                        .is_some_and(|ns| created_namespaces.contains(ns)) =>
            {
                (
                    target.body.clone(),
                    Vec::new(),
                    Some(Unvalidated::NamespaceCreatedByPlan),
                )
            }
            (None, Err(err)) => {
                let not_attempted = match &err {
                    DryRunError::Transport(failure) => failure.not_attempted.clone(),
                    DryRunError::Status(_) => None,
                };
                let reason = match (&err, &target.object.namespace) {
                    (DryRunError::Status(status), Some(namespace))
                        if is_missing_namespace(status) =>
                    {
                        Some(SharedReason::NamespaceNotFound {
                            namespace: namespace.clone(),
                        })
                    }
                    _ => None,
                };
                errors.push((
                    target.index,
                    PlanError {
                        object: target.object.clone(),
                        origin: Some(target.manifest.origin.clone()),
                        message: redact(err.to_string()),
                        not_attempted,
                        reason,
                    },
                ));
                continue;
            }
        };
        let before = match live.get(&target.object.identity()) {
            Some(Ok(found)) => found.clone(),
            Some(Err(failure)) => {
                errors.push((
                    target.index,
                    PlanError {
                        object: target.object.clone(),
                        origin: Some(target.manifest.origin.clone()),
                        message: redact(format!("reading the live object: {failure}")),
                        not_attempted: failure.not_attempted.clone(),
                        reason: None,
                    },
                ));
                continue;
            }
            None => None,
        };
        let (uid, resource_version) = planned_against(before.as_ref());
        let body = target.body_for(before.as_ref());
        let ignored = (!target.manifest.ignored.is_empty()).then(|| Ignored {
            object: target.object.clone(),
            fields: ignore::notes(
                &target.body,
                before.as_ref(),
                target.ignored(),
                FIELD_MANAGER,
            ),
        });
        let (change, defaulted) = change(target, before, after, conflicts, unvalidated, options);
        let work = Work {
            object: target.object.clone(),
            resource: target.resource.clone(),
            action: change.action,
            stage: target.manifest.hook.stage,
            body: Some(body),
            uid,
            resource_version,
        };
        changes.push((target.index, change, work, defaulted, ignored));
    }
    changes.sort_by_key(|(i, ..)| *i);
    errors.sort_by_key(|(i, _)| *i);

    // Everything rendered counts as desired, even objects that failed to plan: a failure must
    // never turn into a deletion.
    let desired: BTreeSet<_> = manifests
        .iter()
        .map(|m| {
            let namespace = m
                .namespace()
                .map(str::to_string)
                .unwrap_or_else(|| cluster.default_namespace.clone());
            (
                m.object_ref().group().to_string(),
                m.kind().to_string(),
                m.name().to_string(),
                namespace,
            )
        })
        .chain(
            targets
                .iter()
                .map(|t| &t.object)
                .chain(runs.iter().map(|r| &r.object))
                .map(|o| {
                    let (group, kind, namespace, name) = o.identity();
                    (group, kind, name, namespace.unwrap_or_default())
                }),
        )
        .collect();
    let (prunes, kept) = prunes::prunes(members, &desired, options);

    let mut plan = Plan::default();
    let mut work = Vec::new();
    for (_, change, w, defaulted, ignored) in changes {
        plan.ignored.extend(ignored);
        if let Some(fields) = defaulted {
            plan.defaulted.push(Defaulted {
                object: change.object.clone(),
                fields,
            });
        }
        plan.changes.push(change);
        work.push(w);
    }
    for (change, w) in prunes {
        plan.changes.push(change);
        work.push(w);
    }
    plan.errors = errors.into_iter().map(|(_, e)| e).collect();
    plan.kept = kept;
    plan.hooks = runs::listed(&runs).into_iter().map(Run::hook).collect();
    Ok(Planned {
        plan,
        work,
        proven_unchanged,
        force: options.force,
        runs,
    })
}

/// One desired object's change, in render order: the work, the create's defaulted fields and
/// what its ignored fields do.
type Planned1 = (usize, Change, Work, Option<Vec<FieldPath>>, Option<Ignored>);

/// The change, and for a validated create the fields the server defaulted.
fn change(
    target: &Desired<'_>,
    before: Option<Value>,
    answer: Value,
    conflicts: Vec<FieldConflict>,
    unvalidated: Option<Unvalidated>,
    options: &PlanOptions,
) -> (Change, Option<Vec<FieldPath>>) {
    let handover = options.part_of.as_ref().and_then(|id| {
        let own: Vec<String> = std::iter::once(id.clone())
            .chain(options.legacy_ids.iter().cloned())
            .collect();
        handover::detect(before.as_ref(), &target.body, &own, options.adopt)
    });
    let mut before = before.map(|b| comparable(b, &target.object));
    let after = comparable(answer.clone(), &target.object);
    let action = match &before {
        _ if !conflicts.is_empty() => Action::Conflict,
        None => Action::Create,
        Some(b) if *b == after => Action::Unchanged,
        Some(_) => Action::Update,
    };
    let defaulted = (action == Action::Create && unvalidated.is_none())
        .then(|| super::defaults::defaulted_fields(&answer, &after, FIELD_MANAGER))
        .flatten();
    let mut after = Some(after);
    if !options.show_secrets {
        mask_secret_pair(before.as_mut(), after.as_mut());
    }
    let change = Change {
        action,
        object: target.object.clone(),
        origin: Some(target.manifest.origin.clone()),
        validated: unvalidated.is_none(),
        note: unvalidated.map(|u| u.note().to_string()),
        conflicts,
        cause: None,
        handover,
        before,
        after,
    };
    (change, defaulted)
}

/// Normalised, with `apiVersion`/`kind` set (LIST items come without them).
pub(in crate::ssa) fn comparable(mut object: Value, object_ref: &ObjectRef) -> Value {
    normalize(&mut object);
    if let Some(map) = object.as_object_mut() {
        map.insert(
            "apiVersion".into(),
            Value::String(object_ref.api_version.clone()),
        );
        map.insert("kind".into(), Value::String(object_ref.kind.clone()));
        // Keep apiVersion and kind on top, where a reader expects them.
        let mut ordered = serde_json::Map::new();
        for key in ["apiVersion", "kind"] {
            if let Some(v) = map.shift_remove(key) {
                ordered.insert(key.to_string(), v);
            }
        }
        ordered.append(map);
        return Value::Object(ordered);
    }
    object
}
