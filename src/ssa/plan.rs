//! Plan: desired objects + the live cluster -> one `Change` per object.
//!
//! "After" is the server's answer to a forced server-side apply dry-run with our field manager,
//! exactly what apply will send; "before" is the live object. Requests run concurrently within
//! the cluster's request budget, and objects sharing a kind and namespace are read with one
//! LIST instead of a GET each.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, Result};
use futures::future::join_all;
use kube::api::{GetParams, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, Request, Resource};
use serde_json::Value;

use super::{
    Action, Change, Defaulted, FIELD_MANAGER, FieldPath, Kept, Plan, PlanError, SecretValues,
    SharedReason, mask_secret_pair, normalize,
};
use crate::cluster::{Cluster, describe};
use crate::inventory::{LABEL_PART_OF, Member};
use crate::object::ObjectRef;
use crate::render::{Manifest, Origin};

/// Read objects of one kind in one namespace with a LIST from this many on.
const LIST_THRESHOLD: usize = 2;

#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Show Secret values instead of masks (the user asked explicitly).
    pub show_secrets: bool,
    /// Take ownership of fields another field manager owns (a forced apply). Without it, a
    /// conflict is an error for that object, naming the manager and fields.
    pub force: bool,
    /// The ApplySet id every desired object is labelled with (`applyset.kubernetes.io/part-of`).
    pub part_of: Option<String>,
    /// Also prune Namespaces, CustomResourceDefinitions and PersistentVolumeClaims, whose
    /// deletion takes data with it.
    pub prune_protected: bool,
    /// Dry-run every object, even those whose live copy proves them unchanged.
    pub verify_unchanged: bool,
}

/// Kinds never pruned without `PlanOptions::prune_protected`.
pub(super) const PROTECTED_KINDS: &[(&str, &str)] = &[
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
}

/// One write apply will make.
pub struct Work {
    pub object: ObjectRef,
    pub resource: ApiResource,
    pub action: Action,
    /// The body to apply; None for a prune.
    pub body: Option<Value>,
    /// The live object's uid, so a prune deletes exactly the object that was planned.
    pub uid: Option<String>,
}

/// Why an object is planned from its rendered body instead of the server's dry-run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unvalidated {
    NamespaceCreatedByPlan,
    CrdCreatedByPlan,
}

impl Unvalidated {
    fn note(self) -> &'static str {
        match self {
            Unvalidated::NamespaceCreatedByPlan => {
                "not validated by the server yet: its namespace is created by this change"
            }
            Unvalidated::CrdCreatedByPlan => {
                "not validated by the server yet: its CustomResourceDefinition is created by this change"
            }
        }
    }
}

/// One desired object, resolved against the server's discovery.
struct Target<'a> {
    index: usize,
    manifest: &'a Manifest,
    object: ObjectRef,
    resource: ApiResource,
    /// The body to send: the manifest with its namespace resolved.
    body: Value,
    unvalidated: Option<Unvalidated>,
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
    let targets = resolve_targets(cluster, manifests, options, &mut errors).await?;

    let (live, outcomes, proven_unchanged) =
        read_and_dry_run(cluster, &targets, members, options).await;
    let created_namespaces: BTreeSet<&str> = manifests
        .iter()
        .filter(|m| m.kind() == "Namespace" && m.api_version() == "v1")
        .map(|m| m.name())
        .collect();

    let mut changes: Vec<(usize, Change, Work, Option<Vec<FieldPath>>)> = Vec::new();
    for (target, outcome) in targets.iter().zip(outcomes) {
        let secrets = SecretValues::from_object(&target.body);
        let redact = |text: String| {
            if options.show_secrets {
                text
            } else {
                secrets.redact(&text)
            }
        };
        let (after, unvalidated) = match (target.unvalidated, outcome) {
            (Some(reason), _) => (target.body.clone(), Some(reason)),
            (None, Ok(after)) => (after, None),
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
                    Some(Unvalidated::NamespaceCreatedByPlan),
                )
            }
            (None, Err(err)) => {
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
                        reason,
                    },
                ));
                continue;
            }
        };
        let before = match live.get(&target.object.identity()) {
            Some(Ok(found)) => found.clone(),
            Some(Err(message)) => {
                errors.push((
                    target.index,
                    PlanError {
                        object: target.object.clone(),
                        origin: Some(target.manifest.origin.clone()),
                        message: redact(format!("reading the live object: {message}")),
                        reason: None,
                    },
                ));
                continue;
            }
            None => None,
        };
        let (change, defaulted) = change(target, before, after, unvalidated, options);
        let work = Work {
            object: target.object.clone(),
            resource: target.resource.clone(),
            action: change.action,
            body: Some(target.body.clone()),
            uid: None,
        };
        changes.push((target.index, change, work, defaulted));
    }
    changes.sort_by_key(|(i, _, _, _)| *i);
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
        .chain(targets.iter().map(|t| {
            let (group, kind, namespace, name) = t.object.identity();
            (group, kind, name, namespace.unwrap_or_default())
        }))
        .collect();
    let (prunes, kept) = prunes(members, &desired, options);

    let mut plan = Plan::default();
    let mut work = Vec::new();
    for (_, change, w, defaulted) in changes {
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
    Ok(Planned {
        plan,
        work,
        proven_unchanged,
    })
}

/// Members no longer desired: pruned, or kept when their kind is protected.
fn prunes(
    members: &[Member],
    desired: &BTreeSet<(String, String, String, String)>,
    options: &PlanOptions,
) -> (Vec<(Change, Work)>, Vec<Kept>) {
    let mut prunes = Vec::new();
    let mut kept = Vec::new();
    for member in members {
        let (group, kind, namespace, name) = member.object.identity();
        if desired.contains(&(
            group.clone(),
            kind.clone(),
            name,
            namespace.unwrap_or_default(),
        )) {
            continue;
        }
        if !options.prune_protected && PROTECTED_KINDS.contains(&(group.as_str(), kind.as_str())) {
            kept.push(Kept {
                object: member.object.clone(),
                reason: "protected kind: not pruned without --prune-protected".into(),
            });
            continue;
        }
        let mut before = Some(comparable(member.live.clone(), &member.object));
        if !options.show_secrets {
            mask_secret_pair(before.as_mut(), None);
        }
        let uid = member.live["metadata"]["uid"].as_str().map(str::to_string);
        prunes.push((
            Change {
                action: Action::Prune,
                object: member.object.clone(),
                origin: None,
                validated: true,
                note: None,
                cause: None,
                before,
                after: None,
            },
            Work {
                object: member.object.clone(),
                resource: member.resource.clone(),
                action: Action::Prune,
                body: None,
                uid,
            },
        ));
    }
    (prunes, kept)
}

/// The change, and for a validated create the fields the server defaulted.
fn change(
    target: &Target<'_>,
    before: Option<Value>,
    answer: Value,
    unvalidated: Option<Unvalidated>,
    options: &PlanOptions,
) -> (Change, Option<Vec<FieldPath>>) {
    let mut before = before.map(|b| comparable(b, &target.object));
    let after = comparable(answer.clone(), &target.object);
    let action = match &before {
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
        cause: None,
        before,
        after,
    };
    (change, defaulted)
}

/// Normalised, with `apiVersion`/`kind` set (LIST items come without them).
pub(super) fn comparable(mut object: Value, object_ref: &ObjectRef) -> Value {
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

/// Resolves every manifest's kind and namespace; problems become errors for that object.
async fn resolve_targets<'a>(
    cluster: &Cluster,
    manifests: &'a [Manifest],
    options: &PlanOptions,
    errors: &mut Vec<(usize, PlanError)>,
) -> Result<Vec<Target<'a>>> {
    let kinds: BTreeSet<(&str, &str)> = manifests
        .iter()
        .map(|m| (m.api_version(), m.kind()))
        .collect();
    let answers = join_all(kinds.iter().map(|(api_version, kind)| async move {
        let resolved = cluster
            .discovery
            .resolve(api_version, kind)
            .await
            .with_context(|| {
                format!("discovering {kind} in {api_version} on {}", cluster.server)
            })?;
        anyhow::Ok(((*api_version, *kind), resolved))
    }))
    .await;
    let mut discovered = HashMap::new();
    for answer in answers {
        let (key, resolved) = answer?;
        discovered.insert(key, resolved);
    }
    let crds = CrdsInRender::from(manifests);

    let mut targets = Vec::new();
    let mut seen: HashMap<_, &Origin> = HashMap::new();
    for (index, manifest) in manifests.iter().enumerate() {
        let (resource, namespaced, unvalidated) = match discovered
            .get(&(manifest.api_version(), manifest.kind()))
            .cloned()
            .flatten()
        {
            Some(found) => (found.resource, found.namespaced, None),
            None => match crds.scope_of(manifest.api_version(), manifest.kind()) {
                Some((resource, namespaced)) => {
                    (resource, namespaced, Some(Unvalidated::CrdCreatedByPlan))
                }
                None => {
                    errors.push((
                            index,
                            PlanError {
                                object: manifest.object_ref(),
                                origin: Some(manifest.origin.clone()),
                                message: format!(
                                    "the server has no kind {} in {} (is its CustomResourceDefinition installed?)",
                                    manifest.kind(),
                                    manifest.api_version()
                                ),
                                reason: Some(SharedReason::KindNotFound {
                                    api_version: manifest.api_version().to_string(),
                                    kind: manifest.kind().to_string(),
                                }),
                            },
                        ));
                    continue;
                }
            },
        };
        let namespace = namespaced.then(|| {
            manifest
                .namespace()
                .map(str::to_string)
                .unwrap_or_else(|| cluster.default_namespace.clone())
        });
        let object = ObjectRef::new(
            manifest.api_version(),
            manifest.kind(),
            namespace.clone(),
            manifest.name(),
        );
        if let Some(first) = seen.get(&object.identity()) {
            errors.push((
                index,
                PlanError {
                    object: object.clone(),
                    origin: Some(manifest.origin.clone()),
                    message: format!(
                        "{object} is defined twice: at {first} and {}",
                        manifest.origin
                    ),
                    reason: None,
                },
            ));
            continue;
        }
        seen.insert(object.identity(), &manifest.origin);
        let mut body = Value::Object(manifest.object.clone());
        if let Some(metadata) = body.get_mut("metadata").and_then(Value::as_object_mut) {
            if let Some(id) = &options.part_of {
                let labels = metadata
                    .entry("labels")
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Some(labels) = labels.as_object_mut() {
                    labels.insert(LABEL_PART_OF.into(), Value::String(id.clone()));
                }
            }
            match &namespace {
                Some(ns) => {
                    metadata.insert("namespace".into(), Value::String(ns.clone()));
                }
                None => {
                    metadata.shift_remove("namespace");
                }
            }
        }
        targets.push(Target {
            index,
            manifest,
            object,
            resource,
            body,
            unvalidated,
        });
    }
    Ok(targets)
}

/// CustomResourceDefinitions in the render: the kinds they will make servable.
struct CrdsInRender {
    /// (group, kind) -> (served versions, namespaced, plural)
    kinds: HashMap<(String, String), (Vec<String>, bool, String)>,
}

impl CrdsInRender {
    fn from(manifests: &[Manifest]) -> Self {
        let mut kinds = HashMap::new();
        for m in manifests {
            if m.kind() != "CustomResourceDefinition"
                || !m.api_version().starts_with("apiextensions.k8s.io/")
            {
                continue;
            }
            let spec = m.object.get("spec");
            let text =
                |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
            let group = text(spec.and_then(|s| s.get("group")));
            let kind = text(
                spec.and_then(|s| s.get("names"))
                    .and_then(|n| n.get("kind")),
            );
            let plural = text(
                spec.and_then(|s| s.get("names"))
                    .and_then(|n| n.get("plural")),
            );
            let namespaced = text(spec.and_then(|s| s.get("scope"))) != "Cluster";
            let versions = spec
                .and_then(|s| s.get("versions"))
                .and_then(Value::as_array)
                .map(|vs| {
                    vs.iter()
                        .filter_map(|v| v.get("name")?.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            kinds.insert((group, kind), (versions, namespaced, plural));
        }
        CrdsInRender { kinds }
    }

    fn scope_of(&self, api_version: &str, kind: &str) -> Option<(ApiResource, bool)> {
        let (group, version) = api_version.split_once('/')?;
        let (versions, namespaced, plural) =
            self.kinds.get(&(group.to_string(), kind.to_string()))?;
        if !versions.iter().any(|v| v == version) {
            return None;
        }
        let resource = ApiResource {
            group: group.to_string(),
            version: version.to_string(),
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            plural: plural.clone(),
        };
        Some((resource, *namespaced))
    }
}

type Identity = (String, String, Option<String>, String);

type Live = HashMap<Identity, Result<Option<Value>, String>>;

/// Reads the live objects and dry-runs the targets; returns the live objects (a missing one is
/// `Ok(None)`, an unvalidated target has no entry), one dry-run outcome per target in order,
/// and how many dry-runs the live copy made unnecessary.
///
/// A target already in the ApplySet was just listed with the set's members, so that copy is
/// used. The others are read with one LIST per kind and namespace they share. A target whose
/// live copy proves the apply a no-op (see `unchanged`) skips its dry-run: in a steady state
/// that is most of them. A lone object is read with a GET at the same time as its dry-run, so a
/// small plan costs one round trip.
async fn read_and_dry_run(
    cluster: &Cluster,
    targets: &[Target<'_>],
    members: &[Member],
    options: &PlanOptions,
) -> (Live, Vec<Result<Value, DryRunError>>, usize) {
    let listed_members: HashMap<Identity, &Member> =
        members.iter().map(|m| (m.object.identity(), m)).collect();
    let mut known = Vec::new();
    let mut groups: HashMap<(String, Option<String>), Vec<usize>> = HashMap::new();
    for (at, t) in targets.iter().enumerate() {
        if t.unvalidated.is_some() {
            continue;
        }
        match listed_members.get(&t.object.identity()) {
            // Only as the same version: another one may name and shape fields differently.
            Some(m) if m.resource.api_version == t.resource.api_version => {
                known.push((at, m.live.clone()));
            }
            _ => groups
                .entry((
                    t.resource.api_version.clone() + "/" + &t.resource.plural,
                    t.object.namespace.clone(),
                ))
                .or_default()
                .push(at),
        }
    }
    // The dry-run, unless the live copy proves it would answer "unchanged".
    let settle = |at: usize, live: Option<Value>| async move {
        let t = &targets[at];
        let proven = !options.verify_unchanged
            && live
                .as_ref()
                .is_some_and(|l| super::unchanged::proven(&t.body, l, FIELD_MANAGER));
        let outcome = match (&live, proven) {
            (Some(found), true) => Ok(found.clone()),
            _ => dry_run(cluster, t, options).await,
        };
        (at, Ok(live), outcome, proven)
    };
    let from_members = join_all(known.into_iter().map(|(at, live)| settle(at, Some(live))));
    let groups = groups.into_values().map(|group| async move {
        let first = &targets[group[0]];
        let listed = if group.len() >= LIST_THRESHOLD {
            // Listing may be forbidden where reading by name is allowed; then GET each.
            list(cluster, &first.resource, first.object.namespace.as_deref())
                .await
                .ok()
        } else {
            None
        };
        join_all(group.into_iter().map(|at| {
            let listed = &listed;
            async move {
                match listed {
                    Some(items) => settle(at, items.get(&targets[at].object.name).cloned()).await,
                    None => {
                        let t = &targets[at];
                        let namespace = t.object.namespace.as_deref();
                        let (live, outcome) = futures::join!(
                            get(cluster, &t.resource, namespace, &t.object.name),
                            dry_run(cluster, t, options)
                        );
                        (at, live, outcome, false)
                    }
                }
            }
        }))
        .await
    });
    let (from_members, from_reads) = futures::join!(from_members, join_all(groups));
    let mut live = Live::new();
    let mut outcomes: Vec<Option<Result<Value, DryRunError>>> =
        targets.iter().map(|_| None).collect();
    let mut proven_unchanged = 0;
    for (at, found, outcome, proven) in from_members
        .into_iter()
        .chain(from_reads.into_iter().flatten())
    {
        proven_unchanged += usize::from(proven);
        live.insert(targets[at].object.identity(), found);
        outcomes[at] = Some(outcome);
    }
    let outcomes = outcomes
        .into_iter()
        // Unvalidated targets are planned from their body; `dry_run` answers them at once.
        .map(|o| o.unwrap_or(Ok(Value::Null)))
        .collect();
    (live, outcomes, proven_unchanged)
}

fn url_path(resource: &ApiResource, namespace: Option<&str>) -> String {
    DynamicObject::url_path(resource, namespace)
}

async fn get(
    cluster: &Cluster,
    resource: &ApiResource,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<Value>, String> {
    let request = Request::new(url_path(resource, namespace))
        .get(name, &GetParams::default())
        .map_err(|e| e.to_string())?;
    match cluster.send::<Value>(request).await {
        Ok(object) => Ok(Some(object)),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(err) => Err(describe(&err, &cluster.server)),
    }
}

async fn list(
    cluster: &Cluster,
    resource: &ApiResource,
    namespace: Option<&str>,
) -> Result<HashMap<String, Value>, String> {
    let request = Request::new(url_path(resource, namespace))
        .list(&ListParams::default())
        .map_err(|e| e.to_string())?;
    let mut answer = cluster
        .send::<Value>(request)
        .await
        .map_err(|e| describe(&e, &cluster.server))?;
    let items = match answer.get_mut("items").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    Ok(items
        .into_iter()
        .filter_map(|item| {
            let name = item.get("metadata")?.get("name")?.as_str()?.to_string();
            Some((name, item))
        })
        .collect())
}

#[derive(Debug, thiserror::Error)]
enum DryRunError {
    /// The server refused the object; its status carries the reason.
    #[error("{}{}", .0.message, conflict_hint(.0))]
    Status(Box<kube::core::Status>),
    /// The request failed on the way.
    #[error("{0}")]
    Transport(String),
}

async fn dry_run(
    cluster: &Cluster,
    target: &Target<'_>,
    options: &PlanOptions,
) -> Result<Value, DryRunError> {
    if target.unvalidated.is_some() {
        return Ok(Value::Null);
    }
    let mut params = PatchParams::apply(FIELD_MANAGER).dry_run();
    params.force = options.force;
    let request = Request::new(url_path(
        &target.resource,
        target.object.namespace.as_deref(),
    ))
    .patch(&target.object.name, &params, &Patch::Apply(&target.body))
    .map_err(|e| DryRunError::Transport(e.to_string()))?;
    match cluster.send::<Value>(request).await {
        Ok(after) => Ok(after),
        Err(kube::Error::Api(status)) => Err(DryRunError::Status(status)),
        Err(err) => Err(DryRunError::Transport(describe(&err, &cluster.server))),
    }
}

/// A field conflict is only an error until the user decides who owns the field.
fn conflict_hint(status: &kube::core::Status) -> &'static str {
    if status.code == 409 && status.reason == "Conflict" {
        " (pass --force-conflicts to take ownership of these fields)"
    } else {
        ""
    }
}

/// The namespace the object goes to does not exist (yet).
fn is_missing_namespace(status: &kube::core::Status) -> bool {
    status.code == 404
        && status
            .details
            .as_ref()
            .is_some_and(|d| d.kind == "namespaces")
}
