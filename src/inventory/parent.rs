//! The parent Secret: read (refusing one that is not ours or records another identity),
//! written by server-side apply, and listed for `kubectl gitops status`.

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::core::{DynamicObject, Request, Resource};
use serde_json::{Value, json};

use super::identity::{ANNOTATION_NAMESPACE, ANNOTATION_PATH, ANNOTATION_REPOSITORY};
use super::{
    ANNOTATION_GROUP_KINDS, ANNOTATION_NAMESPACES, ANNOTATION_TOOLING, ApplySet, GroupKind,
    Inventory, LABEL_ID, ParentRef, migration, parent_resource, tooling,
};
use crate::cluster::Cluster;
use crate::meta::FIELD_MANAGER;

/// How many objects the set held after its last full apply.
pub const ANNOTATION_MEMBERS: &str = "kubectl-gitops.io/members";
/// When the set was last applied (RFC 3339).
pub const ANNOTATION_APPLIED_AT: &str = "kubectl-gitops.io/applied-at";

/// The parent as the server has it, `None` when it does not exist.
pub(super) async fn get(cluster: &Cluster, parent: &ParentRef) -> Result<Option<Value>> {
    let request = Request::new(DynamicObject::url_path(
        &parent_resource(),
        Some(&parent.namespace),
    ))
    .get(&parent.name, &Default::default())?;
    match cluster.send::<Value>(request).await {
        Ok(found) => Ok(Some(found)),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(err) => Err(failure(
            cluster,
            err,
            format!("reading the ApplySet parent {parent}"),
        )),
    }
}

/// A failed request as an error: a server that cannot be reached is named with the reason.
pub(super) fn failure(cluster: &Cluster, err: kube::Error, context: String) -> anyhow::Error {
    match crate::cluster::transport_failure(&err, &cluster.server) {
        Some(reason) => anyhow::anyhow!(reason).context(context),
        None => anyhow::Error::new(err).context(context),
    }
}

/// A comma-separated annotation as a list.
pub(super) fn annotation_list(parent: &Value, key: &str) -> Vec<String> {
    parent["metadata"]["annotations"][key]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub(super) fn is_ours(parent: &Value) -> bool {
    parent["metadata"]["annotations"][ANNOTATION_TOOLING]
        .as_str()
        .is_some_and(|t| t.starts_with("kubectl-gitops/"))
}

pub(super) fn group_kinds(parent: &Value) -> BTreeSet<GroupKind> {
    annotation_list(parent, ANNOTATION_GROUP_KINDS)
        .iter()
        .filter_map(|gk| GroupKind::parse(gk))
        .collect()
}

/// Reads the parent, and the parents earlier versions left for the same deployment. A parent
/// written by other tooling is refused (its members are not ours), and so is one recording
/// another identity: same name, another repository, path or namespace.
pub async fn read(cluster: &Cluster, set: &ApplySet) -> Result<Inventory> {
    let parent = get(cluster, &set.parent()).await?;
    let legacy = migration::find(cluster, set).await?;
    let Some(parent) = parent else {
        return Ok(Inventory {
            legacy,
            ..Inventory::default()
        });
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
    if !is_ours(&parent) {
        let tooling = metadata["annotations"][ANNOTATION_TOOLING]
            .as_str()
            .unwrap_or_default();
        bail!(
            "{set} is managed by {tooling:?}, not kubectl-gitops; refusing to take over its members"
        );
    }
    if let (Some(mine), Some(recorded)) = (&set.identity, recorded_identity(&parent)) {
        let mine = (
            mine.repository.as_str(),
            mine.path.as_str(),
            mine.namespace.as_str(),
        );
        if mine
            != (
                recorded.0.as_str(),
                recorded.1.as_str(),
                recorded.2.as_str(),
            )
        {
            bail!(
                "{set} belongs to another deployment: it records repository {}, path {}, \
                 namespace {}, and this is repository {}, path {}, namespace {}; refusing to \
                 manage (or prune) its members. Choose another name with --applyset",
                recorded.0,
                shown_path(&recorded.1),
                recorded.2,
                mine.0,
                shown_path(mine.1),
                mine.2
            );
        }
    }
    Ok(Inventory {
        parent_exists: true,
        group_kinds: group_kinds(&parent),
        namespaces: annotation_list(&parent, ANNOTATION_NAMESPACES)
            .into_iter()
            .collect(),
        recorded_members: metadata["annotations"][ANNOTATION_MEMBERS]
            .as_str()
            .and_then(|n| n.parse().ok()),
        legacy,
    })
}

fn shown_path(path: &str) -> &str {
    if path.is_empty() { "." } else { path }
}

/// Repository, path and namespace as the parent records them; `None` for a parent written
/// before identities were recorded.
pub(super) fn recorded_identity(parent: &Value) -> Option<(String, String, String)> {
    let annotations = &parent["metadata"]["annotations"];
    let repository = annotations[ANNOTATION_REPOSITORY].as_str()?;
    let get = |key: &str| annotations[key].as_str().unwrap_or_default().to_string();
    Some((
        repository.to_string(),
        get(ANNOTATION_PATH),
        get(ANNOTATION_NAMESPACE),
    ))
}

/// Writes the parent Secret with the given contents (server-side apply, our field manager),
/// recording the set's identity, its member count and the time.
pub async fn write_parent(
    cluster: &Cluster,
    set: &ApplySet,
    group_kinds: &BTreeSet<GroupKind>,
    namespaces: &BTreeSet<String>,
    members: Option<usize>,
) -> Result<()> {
    let kinds: Vec<String> = group_kinds.iter().map(ToString::to_string).collect();
    let others: Vec<&str> = namespaces
        .iter()
        .map(String::as_str)
        .filter(|ns| *ns != set.namespace)
        .collect();
    let mut annotations = json!({
        ANNOTATION_TOOLING: tooling(),
        ANNOTATION_GROUP_KINDS: kinds.join(","),
        ANNOTATION_NAMESPACES: others.join(","),
        ANNOTATION_APPLIED_AT: k8s_openapi::jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
    });
    if let Some(members) = members {
        annotations[ANNOTATION_MEMBERS] = json!(members.to_string());
    }
    if let Some(identity) = &set.identity {
        annotations[ANNOTATION_REPOSITORY] = json!(identity.repository.as_str());
        annotations[ANNOTATION_PATH] = json!(identity.path);
        annotations[ANNOTATION_NAMESPACE] = json!(identity.namespace);
    }
    let body = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": set.name,
            "namespace": set.namespace,
            "labels": {LABEL_ID: set.id()},
            "annotations": annotations,
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

/// Creates the namespace the parent lives in, bare (no label, no field of ours), for a plan
/// that creates it: the parent is written before any member carries the set's label, and it
/// cannot be written before its namespace exists. The Namespace is then applied as a member
/// like any other. One that already exists is left as it is.
pub async fn create_parent_namespace(cluster: &Cluster, namespace: &str) -> Result<()> {
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
    let request = Request::new("/api/v1/namespaces")
        .create(&PostParams::default(), serde_json::to_vec(&body)?)?;
    match cluster.send::<Value>(request).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(err) => Err(anyhow::Error::new(err).context(format!(
            "creating namespace {namespace}, which holds the ApplySet parent"
        ))),
    }
}

/// One of our parents, as `kubectl gitops status` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentSummary {
    pub parent: ParentRef,
    /// Repository, path and target namespace; `None` for a set an earlier version wrote.
    pub identity: Option<(String, String, String)>,
    pub members: Option<usize>,
    pub applied_at: Option<String>,
}

/// Our parents the caller may list: everywhere when they may list Secrets cluster-wide,
/// otherwise in `namespace`. Returns the parents and whether the listing was cluster-wide.
pub async fn list_parents(
    cluster: &Cluster,
    namespace: &str,
) -> Result<(Vec<ParentSummary>, bool)> {
    let params = ListParams::default().labels(LABEL_ID);
    let everywhere =
        Request::new(DynamicObject::url_path(&parent_resource(), None)).list(&params)?;
    let (answer, cluster_wide) = match cluster.send::<Value>(everywhere).await {
        Ok(answer) => (answer, true),
        Err(kube::Error::Api(status)) if status.code == 403 => {
            let here = Request::new(DynamicObject::url_path(&parent_resource(), Some(namespace)))
                .list(&params)?;
            let answer = cluster
                .send::<Value>(here)
                .await
                .with_context(|| format!("listing ApplySet parents in namespace {namespace}"))?;
            (answer, false)
        }
        Err(err) => return Err(anyhow::Error::new(err).context("listing ApplySet parents")),
    };
    let mut found: Vec<ParentSummary> = answer["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| is_ours(p))
        .filter_map(|p| {
            let metadata = &p["metadata"];
            Some(ParentSummary {
                parent: ParentRef {
                    name: metadata["name"].as_str()?.to_string(),
                    namespace: metadata["namespace"].as_str()?.to_string(),
                },
                identity: recorded_identity(p),
                members: metadata["annotations"][ANNOTATION_MEMBERS]
                    .as_str()
                    .and_then(|n| n.parse().ok()),
                applied_at: metadata["annotations"][ANNOTATION_APPLIED_AT]
                    .as_str()
                    .map(str::to_string),
            })
        })
        .collect();
    found.sort_by(|a, b| a.parent.cmp(&b.parent));
    Ok((found, cluster_wide))
}
