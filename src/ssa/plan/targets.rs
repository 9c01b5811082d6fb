//! Desired objects: each manifest resolved against the server's discovery (or the render's own
//! CRDs), its namespace settled, labelled as a member of the set. Problems become errors for
//! that object.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, Result};
use futures::future::join_all;
use kube::core::ApiResource;
use serde_json::Value;

use super::PlanOptions;
use super::scope::{CrdsInRender, Unvalidated};
use crate::cluster::Cluster;
use crate::meta::LABEL_PART_OF;
use crate::object::ObjectRef;
use crate::render::{Manifest, Origin};
use crate::ssa::{PlanError, SharedReason};

/// One desired object, resolved against the server's discovery.
pub(super) struct Desired<'a> {
    pub(super) index: usize,
    pub(super) manifest: &'a Manifest,
    pub(super) object: ObjectRef,
    pub(super) resource: ApiResource,
    /// The body to send: the manifest with its namespace resolved.
    pub(super) body: Value,
    pub(super) unvalidated: Option<Unvalidated>,
}

impl Desired<'_> {
    /// The fields git seeds on create and leaves alone afterwards.
    pub(super) fn ignored(&self) -> impl Iterator<Item = &crate::render::IgnoredField> {
        self.manifest.ignored_in(self.object.namespace.as_deref())
    }

    /// The body to dry-run and apply against the live copy `live` (None: a create): the
    /// ignored fields as `ssa::ignore` decides.
    pub(super) fn body_for(&self, live: Option<&Value>) -> Value {
        if self.manifest.ignored.is_empty() {
            return self.body.clone();
        }
        crate::ssa::ignore::body(&self.body, live, self.ignored(), crate::ssa::FIELD_MANAGER)
    }
}

/// Resolves every manifest's kind and namespace; problems become errors for that object.
pub(super) async fn resolve<'a>(
    cluster: &Cluster,
    manifests: &'a [Manifest],
    options: &PlanOptions,
    errors: &mut Vec<(usize, PlanError)>,
) -> Result<Vec<Desired<'a>>> {
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
                                not_attempted: None,
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
        if let Some(error) = unnamed(manifest, &object) {
            errors.push((index, error));
            continue;
        }
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
                    not_attempted: None,
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
        targets.push(Desired {
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

/// An object named only by `metadata.generateName`: server-side apply addresses an object by
/// its name, so the server cannot make one up; the object gets this error instead of a
/// request with an empty name. It is shown as `Kind/namespace/prefix*`.
fn unnamed(manifest: &Manifest, object: &ObjectRef) -> Option<PlanError> {
    if !manifest.name().is_empty() {
        return None;
    }
    let prefix = manifest
        .object
        .get("metadata")
        .and_then(|m| m.get("generateName"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut object = object.clone();
    object.name = format!("{prefix}*");
    Some(PlanError {
        object,
        origin: Some(manifest.origin.clone()),
        message: format!(
            "metadata.generateName ({prefix:?}) is not supported: server-side apply needs \
             metadata.name; give the object a name"
        ),
        reason: None,
        not_attempted: None,
    })
}
