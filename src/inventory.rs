//! What we manage, recorded with the Kubernetes ApplySet standard (KEP-3659, the one
//! `kubectl apply --prune --applyset` uses), so kubectl's own tooling can read our sets.
//!
//! A parent Secret carries the set's id label and annotations listing the group-kinds and
//! namespaces its members live in; every member carries the `part-of` label. Prune candidates
//! are found by that label only, in those group-kinds and namespaces only.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use base64::Engine;
use futures::future::join_all;
use kube::api::{ListParams, Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, Request, Resource};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cluster::Cluster;
use crate::object::ObjectRef;
use crate::source::{Snapshot, SourceOrigin};
use crate::ssa::FIELD_MANAGER;

pub const LABEL_ID: &str = "applyset.kubernetes.io/id";
pub const LABEL_PART_OF: &str = "applyset.kubernetes.io/part-of";
pub const ANNOTATION_TOOLING: &str = "applyset.kubernetes.io/tooling";
pub const ANNOTATION_GROUP_KINDS: &str = "applyset.kubernetes.io/contains-group-kinds";
pub const ANNOTATION_NAMESPACES: &str = "applyset.kubernetes.io/additional-namespaces";

/// The value of our tooling annotation: `kubectl-gitops/<version>`.
pub fn tooling() -> String {
    format!("kubectl-gitops/v{}", env!("CARGO_PKG_VERSION"))
}

/// One ApplySet: its parent Secret's name and namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplySet {
    pub name: String,
    pub namespace: String,
}

impl ApplySet {
    /// The id the standard defines: `applyset-<base64url(sha256(name.namespace.kind.group))>-v1`.
    pub fn id(&self) -> String {
        let digest = Sha256::digest(format!("{}.{}.Secret.", self.name, self.namespace).as_bytes());
        format!(
            "applyset-{}-v1",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
        )
    }

    pub fn parent_ref(&self) -> ObjectRef {
        ObjectRef::new("v1", "Secret", Some(self.namespace.clone()), &self.name)
    }

    /// The set's name when `--applyset` is not given: stable for a repository and PATH, so
    /// every checkout (and the in-cluster reconciler, given the same repository name and path)
    /// resolves to the same set. `gitops-<repository>-<path>`, e.g. `gitops-platform-deploy-prod`.
    pub fn default_name(snapshot: &Snapshot) -> String {
        let repository = match &snapshot.origin {
            SourceOrigin::Worktree { repo_root } => dir_name(repo_root),
            SourceOrigin::PlainDirectory => dir_name(&snapshot.root),
        };
        let path = snapshot.display_prefix.to_string_lossy().into_owned();
        default_name_for(&repository, &path)
    }
}

impl fmt::Display for ApplySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "secret/{} in namespace {}", self.name, self.namespace)
    }
}

fn dir_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".to_string())
}

/// `gitops-<repository>-<path>` as a DNS label; long names keep a hash of the whole so two
/// long paths never collide after truncation.
pub fn default_name_for(repository: &str, path: &str) -> String {
    let raw = if path.trim_matches('/').is_empty() {
        format!("gitops-{repository}")
    } else {
        format!("gitops-{repository}-{path}")
    };
    let mut name = String::new();
    for c in raw.to_lowercase().chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if c == '-' && name.ends_with('-') {
            continue;
        }
        name.push(c);
    }
    let name = name.trim_matches('-').to_string();
    if name.len() <= 63 {
        return name;
    }
    let hash = Sha256::digest(raw.as_bytes());
    let suffix: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}-{suffix}", name[..54].trim_end_matches('-'))
}

/// A group and kind as the contains-group-kinds annotation spells them: `Kind.group`, or just
/// `Kind` for the core group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKind {
    pub group: String,
    pub kind: String,
}

impl GroupKind {
    pub fn of(object: &ObjectRef) -> Self {
        GroupKind {
            group: object.group().to_string(),
            kind: object.kind.clone(),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        Some(match text.split_once('.') {
            Some((kind, group)) => GroupKind {
                group: group.to_string(),
                kind: kind.to_string(),
            },
            None => GroupKind {
                group: String::new(),
                kind: text.to_string(),
            },
        })
    }
}

impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}.{}", self.kind, self.group)
        }
    }
}

/// What the parent records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub parent_exists: bool,
    pub group_kinds: BTreeSet<GroupKind>,
    /// Namespaces other than the parent's that hold members.
    pub namespaces: BTreeSet<String>,
}

/// A live member of the set: its resource and the object as the server returned it.
#[derive(Debug, Clone)]
pub struct Member {
    pub object: ObjectRef,
    pub resource: ApiResource,
    pub live: Value,
}

fn parent_resource() -> ApiResource {
    ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: "Secret".into(),
        plural: "secrets".into(),
    }
}

/// Reads the parent. A parent written by other tooling is refused: its members are not ours.
pub async fn read(cluster: &Cluster, set: &ApplySet) -> Result<Inventory> {
    let request = Request::new(DynamicObject::url_path(
        &parent_resource(),
        Some(&set.namespace),
    ))
    .get(&set.name, &Default::default())?;
    let parent: Value = {
        match cluster.send::<Value>(request).await {
            Ok(parent) => parent,
            Err(kube::Error::Api(status)) if status.code == 404 => return Ok(Inventory::default()),
            Err(err) => {
                let context = format!("reading the ApplySet parent {set}");
                return Err(
                    match crate::cluster::transport_failure(&err, &cluster.server) {
                        Some(reason) => anyhow::anyhow!(reason).context(context),
                        None => anyhow::Error::new(err).context(context),
                    },
                );
            }
        }
    };
    let metadata = &parent["metadata"];
    let id = metadata["labels"][LABEL_ID].as_str().unwrap_or_default();
    if id != set.id() {
        bail!(
            "{set} exists but is not the parent of this ApplySet (its {LABEL_ID} label is {id:?}, expected {:?}); \
             choose another name with --applyset",
            set.id()
        );
    }
    let annotations = &metadata["annotations"];
    let tooling = annotations[ANNOTATION_TOOLING].as_str().unwrap_or_default();
    if !tooling.starts_with("kubectl-gitops/") {
        bail!(
            "{set} is managed by {tooling:?}, not kubectl-gitops; refusing to take over its members"
        );
    }
    let list = |key: &str| -> Vec<String> {
        annotations[key]
            .as_str()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    Ok(Inventory {
        parent_exists: true,
        group_kinds: list(ANNOTATION_GROUP_KINDS)
            .iter()
            .filter_map(|gk| GroupKind::parse(gk))
            .collect(),
        namespaces: list(ANNOTATION_NAMESPACES).into_iter().collect(),
    })
}

/// Lists the live members: objects labelled part-of this set, in the group-kinds and
/// namespaces the parent records. Nothing else is ever returned, whatever its name.
pub async fn members(
    cluster: &Cluster,
    set: &ApplySet,
    inventory: &Inventory,
) -> Result<Vec<Member>> {
    let id = set.id();
    let selector = format!("{LABEL_PART_OF}={id}");
    let mut namespaces: BTreeSet<&str> = inventory.namespaces.iter().map(String::as_str).collect();
    namespaces.insert(&set.namespace);

    let mut lists = Vec::new();
    for gk in &inventory.group_kinds {
        let Some(resolved) = cluster
            .discovery
            .resolve_group_kind(&gk.group, &gk.kind)
            .await
            .with_context(|| format!("discovering {gk}"))?
        else {
            // The kind is gone from the server (its CRD was deleted): nothing left to prune.
            continue;
        };
        if resolved.namespaced {
            for ns in &namespaces {
                lists.push((resolved.resource.clone(), Some(ns.to_string())));
            }
        } else {
            lists.push((resolved.resource.clone(), None));
        }
    }
    let answers = join_all(lists.iter().map(|(resource, ns)| {
        let selector = selector.clone();
        async move {
            let request = Request::new(DynamicObject::url_path(resource, ns.as_deref()))
                .list(&ListParams::default().labels(&selector))?;
            let answer: Value = cluster.send(request).await.with_context(|| {
                format!(
                    "listing {} members{}",
                    resource.kind,
                    ns.as_ref()
                        .map(|n| format!(" in namespace {n}"))
                        .unwrap_or_default()
                )
            })?;
            anyhow::Ok((resource, answer))
        }
    }))
    .await;

    let mut members = Vec::new();
    for answer in answers {
        let (resource, answer) = answer?;
        for item in answer["items"].as_array().into_iter().flatten() {
            // The server filtered by label; check again, since deleting is irreversible.
            if item["metadata"]["labels"][LABEL_PART_OF].as_str() != Some(id.as_str()) {
                continue;
            }
            let Some(name) = item["metadata"]["name"].as_str() else {
                continue;
            };
            let namespace = item["metadata"]["namespace"].as_str().map(str::to_string);
            members.push(Member {
                object: ObjectRef::new(&resource.api_version, &resource.kind, namespace, name),
                resource: resource.clone(),
                live: item.clone(),
            });
        }
    }
    Ok(members)
}

/// Writes the parent Secret with the given contents (server-side apply, our field manager).
pub async fn write_parent(
    cluster: &Cluster,
    set: &ApplySet,
    group_kinds: &BTreeSet<GroupKind>,
    namespaces: &BTreeSet<String>,
) -> Result<()> {
    let kinds: Vec<String> = group_kinds.iter().map(ToString::to_string).collect();
    let others: Vec<&str> = namespaces
        .iter()
        .map(String::as_str)
        .filter(|ns| *ns != set.namespace)
        .collect();
    let body = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": set.name,
            "namespace": set.namespace,
            "labels": {LABEL_ID: set.id()},
            "annotations": {
                ANNOTATION_TOOLING: tooling(),
                ANNOTATION_GROUP_KINDS: kinds.join(","),
                ANNOTATION_NAMESPACES: others.join(","),
            }
        }
    });
    let request = Request::new(DynamicObject::url_path(
        &parent_resource(),
        Some(&set.namespace),
    ))
    .patch(
        &set.name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )?;
    cluster
        .send::<Value>(request)
        .await
        .with_context(|| format!("writing the ApplySet parent {set}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_follows_the_applyset_standard() {
        // The id kubectl itself computed for `--applyset=secret/probe -n aset-probe`.
        let set = ApplySet {
            name: "probe".into(),
            namespace: "aset-probe".into(),
        };
        assert_eq!(
            set.id(),
            "applyset-O6oaKgutxC8i9gyDGb95uj4mtzDfwiFEJX9_qF3mFY8-v1"
        );
    }

    #[test]
    fn group_kinds_are_spelled_kind_dot_group() {
        let gk = GroupKind::of(&ObjectRef::new("apps/v1", "Deployment", None, "x"));
        assert_eq!(gk.to_string(), "Deployment.apps");
        assert_eq!(GroupKind::parse("Deployment.apps"), Some(gk));
        assert_eq!(
            GroupKind::parse("ConfigMap").unwrap().to_string(),
            "ConfigMap"
        );
        assert_eq!(GroupKind::parse(" "), None);
    }

    #[test]
    fn default_names_are_dns_labels_derived_from_repository_and_path() {
        assert_eq!(
            default_name_for("platform", "deploy/prod"),
            "gitops-platform-deploy-prod"
        );
        assert_eq!(
            default_name_for("Platform_Repo", ""),
            "gitops-platform-repo"
        );
        let long = default_name_for("r", &"very-long-segment/".repeat(10));
        assert!(long.len() <= 63, "{long}");
        assert_ne!(
            long,
            default_name_for("r", &"very-long-segment/".repeat(11))
        );
    }
}
