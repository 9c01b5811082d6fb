//! Cascade preview: what the cluster deletes along with a prune, which the plan does not list.
//!
//! - A Namespace takes every object in it: every namespaced kind the server serves is listed
//!   there.
//! - A CustomResourceDefinition takes every custom resource of its kind, in every namespace.
//! - Any other object takes its dependents: the garbage collector deletes objects whose
//!   `ownerReferences` name it, and theirs in turn (a Deployment's ReplicaSets and their Pods).
//!   Dependents are looked for among the kinds controllers commonly create in the owner's
//!   namespace ([`DEPENDENT_KINDS`]); a dependent of another kind, or in another namespace, is
//!   not counted.
//!
//! Only metadata is read (a `PartialObjectMetadataList`), so listing a namespace's Secrets to
//! count them reads no value. A kind that cannot be listed (RBAC) leaves the count incomplete
//! and says which kind; it never fails the plan.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::future::join_all;
use serde::Serialize;
use serde_json::Value;

use super::{Action, Plan, Work};
use crate::cluster::{Cluster, describe};
use crate::object::ObjectRef;

/// Kinds searched for dependents of a pruned object: (apiVersion, plural, kind).
pub const DEPENDENT_KINDS: &[(&str, &str, &str)] = &[
    ("apps/v1", "replicasets", "ReplicaSet"),
    ("apps/v1", "controllerrevisions", "ControllerRevision"),
    ("v1", "pods", "Pod"),
    ("batch/v1", "jobs", "Job"),
    ("discovery.k8s.io/v1", "endpointslices", "EndpointSlice"),
    ("v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
];

/// Objects per page of a LIST.
const PAGE: u32 = 500;

/// What the cluster deletes with one pruned object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cascade {
    /// The pruned object.
    pub object: ObjectRef,
    /// Why its deletion cascades: "namespace", "customResourceDefinition" or "owner".
    pub via: Via,
    /// Objects deleted with it, counted per kind (sorted by group, then kind).
    pub deletes: Vec<KindCount>,
    /// Kinds that could not be listed, with the server's reason: the counts are a lower bound.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_counted: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Via {
    Namespace,
    CustomResourceDefinition,
    Owner,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindCount {
    /// The API group, empty for the core group.
    pub group: String,
    pub kind: String,
    pub count: usize,
}

impl Cascade {
    pub fn total(&self) -> usize {
        self.deletes.iter().map(|k| k.count).sum()
    }

    /// "deletes with it 3 ConfigMap, 2 Pod (5 objects)", or None when nothing goes with it.
    pub fn line(&self) -> Option<String> {
        if self.deletes.is_empty() && self.not_counted.is_empty() {
            return None;
        }
        let counts: Vec<String> = self
            .deletes
            .iter()
            .map(|k| {
                if k.group.is_empty() {
                    format!("{} {}", k.count, k.kind)
                } else {
                    format!("{} {}.{}", k.count, k.kind, k.group)
                }
            })
            .collect();
        let what = match self.via {
            Via::Namespace => "every object in it",
            Via::CustomResourceDefinition => "every resource of its kind",
            Via::Owner => "its dependents",
        };
        let total = self.total();
        let mut line = if counts.is_empty() {
            format!("deletes with it {what}: none found")
        } else {
            format!(
                "deletes with it {what}: {} ({total} {})",
                counts.join(", "),
                if total == 1 { "object" } else { "objects" }
            )
        };
        if !self.not_counted.is_empty() {
            line.push_str(&format!("; not counted: {}", self.not_counted.join("; ")));
        }
        Some(line)
    }
}

/// The cascade of every prune in `work` that takes something with it.
pub async fn preview(cluster: &Cluster, plan: &Plan, work: &[Work]) -> Vec<Cascade> {
    let prunes: Vec<&Work> = work.iter().filter(|w| w.action == Action::Prune).collect();
    if prunes.is_empty() {
        return Vec::new();
    }
    let is = |w: &Work, group: &str, kind: &str| w.object.group() == group && w.object.kind == kind;
    let mut found = Vec::new();

    let namespaces: Vec<&Work> = prunes
        .iter()
        .copied()
        .filter(|w| is(w, "", "Namespace"))
        .collect();
    if !namespaces.is_empty() {
        let kinds = namespaced_kinds(cluster).await;
        let namespace_cascades = join_all(namespaces.iter().map(|w| {
            let kinds = &kinds;
            async move { namespace(cluster, &w.object, kinds).await }
        }))
        .await;
        found.extend(namespace_cascades);
    }

    let crds = prunes
        .iter()
        .filter(|w| is(w, "apiextensions.k8s.io", "CustomResourceDefinition"));
    let crd_cascades = join_all(crds.map(|w| {
        let before = plan
            .changes
            .iter()
            .find(|c| c.object == w.object && c.action == Action::Prune)
            .and_then(|c| c.before.as_ref());
        custom_resources(cluster, &w.object, before)
    }))
    .await;
    found.extend(crd_cascades);

    let owners: Vec<&Work> = prunes
        .iter()
        .copied()
        .filter(|w| w.object.namespace.is_some() && w.uid.is_some())
        .collect();
    found.extend(dependents(cluster, &owners, &prunes).await);
    found.retain(|c| c.line().is_some());
    found
}

/// A namespaced kind the server serves and lists.
#[derive(Debug, Clone)]
struct ListedKind {
    api_version: String,
    plural: String,
    kind: String,
}

/// The namespaced, listable kinds the server serves, and the group-versions that did not say
/// which they serve (an aggregated API that is down), with the reason.
struct ServedKinds {
    kinds: Vec<ListedKind>,
    unanswered: Vec<String>,
}

/// Every namespaced, listable kind at its group's preferred version.
async fn namespaced_kinds(cluster: &Cluster) -> Result<ServedKinds, Unanswered> {
    let groups: Value = get(cluster, "/apis").await?;
    let mut versions = vec!["v1".to_string()];
    for group in groups["groups"].as_array().into_iter().flatten() {
        if let Some(gv) = group["preferredVersion"]["groupVersion"].as_str() {
            versions.push(gv.to_string());
        }
    }
    let lists = join_all(versions.iter().map(|gv| async move {
        let path = if gv == "v1" {
            "/api/v1".to_string()
        } else {
            format!("/apis/{gv}")
        };
        (gv, get(cluster, &path).await)
    }))
    .await;
    let mut kinds = Vec::new();
    let mut unanswered = Vec::new();
    for (gv, list) in lists {
        let list = match list {
            Ok(list) => list,
            Err(reason) => {
                unanswered.push(format!("the kinds of {gv} ({reason})"));
                continue;
            }
        };
        for resource in list["resources"].as_array().into_iter().flatten() {
            let name = resource["name"].as_str().unwrap_or_default();
            let listable = resource["verbs"]
                .as_array()
                .is_some_and(|v| v.iter().any(|v| v == "list"));
            if name.contains('/') || !listable || resource["namespaced"] != Value::Bool(true) {
                continue;
            }
            kinds.push(ListedKind {
                api_version: gv.clone(),
                plural: name.to_string(),
                kind: resource["kind"].as_str().unwrap_or_default().to_string(),
            });
        }
    }
    Ok(ServedKinds { kinds, unanswered })
}

async fn namespace(
    cluster: &Cluster,
    object: &ObjectRef,
    served: &Result<ServedKinds, Unanswered>,
) -> Cascade {
    let mut cascade = Cascade {
        object: object.clone(),
        via: Via::Namespace,
        deletes: Vec::new(),
        not_counted: Vec::new(),
    };
    let kinds = match served {
        Ok(served) => {
            cascade
                .not_counted
                .extend(served.unanswered.iter().cloned());
            &served.kinds
        }
        Err(reason) => {
            cascade
                .not_counted
                .push(format!("the server's kinds ({reason})"));
            return cascade;
        }
    };
    let listed = join_all(kinds.iter().map(|k| async move {
        let path = collection(&k.api_version, Some(&object.name), &k.plural);
        (k, list_metadata(cluster, &path).await)
    }))
    .await;
    // One object can be served under two groups (core and events.k8s.io Events): count it once.
    let mut seen = BTreeSet::new();
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (kind, items) in listed {
        match items {
            Ok(items) => {
                for item in items {
                    let uid = item["metadata"]["uid"].as_str().unwrap_or_default();
                    if !uid.is_empty() && !seen.insert(uid.to_string()) {
                        continue;
                    }
                    *counts
                        .entry(group_kind(&kind.api_version, &kind.kind))
                        .or_default() += 1;
                }
            }
            Err(reason) => cascade
                .not_counted
                .push(format!("{} ({reason})", kind.kind)),
        }
    }
    cascade.deletes = into_counts(counts);
    cascade
}

async fn custom_resources(cluster: &Cluster, object: &ObjectRef, crd: Option<&Value>) -> Cascade {
    let mut cascade = Cascade {
        object: object.clone(),
        via: Via::CustomResourceDefinition,
        deletes: Vec::new(),
        not_counted: Vec::new(),
    };
    let spec = crd.map(|c| &c["spec"]).unwrap_or(&Value::Null);
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    let kind = spec["names"]["kind"].as_str().unwrap_or_default();
    let version = spec["versions"]
        .as_array()
        .and_then(|versions| {
            versions
                .iter()
                .find(|v| v["storage"] == Value::Bool(true))
                .or_else(|| versions.iter().find(|v| v["served"] == Value::Bool(true)))
        })
        .and_then(|v| v["name"].as_str())
        .unwrap_or_default();
    if group.is_empty() || plural.is_empty() || version.is_empty() {
        cascade
            .not_counted
            .push("its resources (the definition names no served version)".into());
        return cascade;
    }
    let path = collection(&format!("{group}/{version}"), None, plural);
    match list_metadata(cluster, &path).await {
        Ok(items) if items.is_empty() => {}
        Ok(items) => cascade.deletes.push(KindCount {
            group: group.to_string(),
            kind: kind.to_string(),
            count: items.len(),
        }),
        Err(reason) => cascade.not_counted.push(format!("{kind} ({reason})")),
    }
    cascade
}

/// Dependents of each owner through `ownerReferences`, transitively, among
/// [`DEPENDENT_KINDS`] in the owners' namespaces. Objects that are themselves pruned are not
/// counted again.
async fn dependents(cluster: &Cluster, owners: &[&Work], prunes: &[&Work]) -> Vec<Cascade> {
    if owners.is_empty() {
        return Vec::new();
    }
    let namespaces: BTreeSet<&str> = owners
        .iter()
        .filter_map(|w| w.object.namespace.as_deref())
        .collect();
    let pruned: BTreeSet<&str> = prunes.iter().filter_map(|w| w.uid.as_deref()).collect();
    let lists = join_all(namespaces.iter().flat_map(|ns| {
        DEPENDENT_KINDS
            .iter()
            .map(move |(api_version, plural, kind)| async move {
                let path = collection(api_version, Some(ns), plural);
                (
                    *ns,
                    *api_version,
                    *kind,
                    list_metadata(cluster, &path).await,
                )
            })
    }))
    .await;
    // Per namespace and owner uid: each object it owns.
    let mut children: HashMap<(&str, String), Vec<Owned>> = HashMap::new();
    let mut failed: HashMap<&str, Vec<String>> = HashMap::new();
    for (ns, api_version, kind, items) in lists {
        let items = match items {
            Ok(items) => items,
            Err(reason) => {
                failed
                    .entry(ns)
                    .or_default()
                    .push(format!("{kind} ({reason})"));
                continue;
            }
        };
        let (group, _) = group_kind(api_version, kind);
        for item in items {
            let uid = item["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            for owner in item["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let Some(owner_uid) = owner["uid"].as_str() {
                    children
                        .entry((ns, owner_uid.to_string()))
                        .or_default()
                        .push((group.clone(), kind.to_string(), uid.clone()));
                }
            }
        }
    }
    owners
        .iter()
        .map(|owner| {
            let ns = owner.object.namespace.as_deref().unwrap_or_default();
            let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
            let mut seen = BTreeSet::new();
            let mut queue = vec![owner.uid.clone().unwrap_or_default()];
            while let Some(uid) = queue.pop() {
                for (group, kind, child) in children.get(&(ns, uid)).into_iter().flatten() {
                    if pruned.contains(child.as_str()) || !seen.insert(child.clone()) {
                        continue;
                    }
                    *counts.entry((group.clone(), kind.clone())).or_default() += 1;
                    queue.push(child.clone());
                }
            }
            // A kind that could not be listed matters only when something was found to own.
            let not_counted = if counts.is_empty() {
                Vec::new()
            } else {
                failed.get(ns).cloned().unwrap_or_default()
            };
            Cascade {
                object: owner.object.clone(),
                via: Via::Owner,
                deletes: into_counts(counts),
                not_counted,
            }
        })
        .collect()
}

/// An object found owned: its group, kind and uid.
type Owned = (String, String, String);

fn into_counts(counts: BTreeMap<(String, String), usize>) -> Vec<KindCount> {
    counts
        .into_iter()
        .map(|((group, kind), count)| KindCount { group, kind, count })
        .collect()
}

fn group_kind(api_version: &str, kind: &str) -> (String, String) {
    let group = api_version
        .split_once('/')
        .map(|(g, _)| g)
        .unwrap_or_default();
    (group.to_string(), kind.to_string())
}

/// The URL of a collection: `/api/v1/namespaces/NS/pods`, `/apis/G/V/PLURAL`.
fn collection(api_version: &str, namespace: Option<&str>, plural: &str) -> String {
    let base = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    match namespace {
        Some(ns) => format!("{base}/namespaces/{ns}/{plural}"),
        None => format!("{base}/{plural}"),
    }
}

async fn get(cluster: &Cluster, path: &str) -> Result<Value, Unanswered> {
    let request = http::Request::get(path).body(Vec::new())?;
    cluster
        .send::<Value>(request)
        .await
        .map_err(|e| reason(&e, cluster))
}

/// Every item of a collection, metadata only, read in pages.
async fn list_metadata(cluster: &Cluster, path: &str) -> Result<Vec<Value>, Unanswered> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut url = format!("{path}?limit={PAGE}");
        if let Some(token) = &token {
            url.push_str("&continue=");
            url.push_str(&percent_encode(token));
        }
        let request = http::Request::get(url)
            .header(
                http::header::ACCEPT,
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
            )
            .body(Vec::new())?;
        let mut answer = cluster
            .send::<Value>(request)
            .await
            .map_err(|e| reason(&e, cluster))?;
        if let Some(Value::Array(page)) = answer.get_mut("items").map(Value::take) {
            items.extend(page);
        }
        match answer["metadata"]["continue"]
            .as_str()
            .filter(|c| !c.is_empty())
        {
            Some(next) => token = Some(next.to_string()),
            None => return Ok(items),
        }
    }
}

fn reason(err: &kube::Error, cluster: &Cluster) -> Unanswered {
    Unanswered::Server(match err {
        kube::Error::Api(status) => status.message.clone(),
        other => describe(other, &cluster.server),
    })
}

/// Why a read gave no answer to count: said in a preview's "not counted" list.
#[derive(Debug, thiserror::Error)]
enum Unanswered {
    /// The server's message, or ours naming why it could not be asked.
    #[error("{0}")]
    Server(String),
    #[error(transparent)]
    Request(#[from] http::Error),
}

/// Continue tokens are base64 and may hold `+`, `/` and `=`.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cascade(via: Via, deletes: &[(&str, &str, usize)], not_counted: &[&str]) -> Cascade {
        Cascade {
            object: ObjectRef::new("v1", "Namespace", None, "team"),
            via,
            deletes: deletes
                .iter()
                .map(|(group, kind, count)| KindCount {
                    group: group.to_string(),
                    kind: kind.to_string(),
                    count: *count,
                })
                .collect(),
            not_counted: not_counted.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_line_counts_per_kind_and_in_total() {
        let c = cascade(
            Via::Namespace,
            &[("", "ConfigMap", 3), ("apps", "Deployment", 1)],
            &[],
        );
        assert_eq!(
            c.line().unwrap(),
            "deletes with it every object in it: 3 ConfigMap, 1 Deployment.apps (4 objects)"
        );
    }

    #[test]
    fn kinds_not_listed_are_said_and_nothing_found_says_so() {
        let c = cascade(Via::Owner, &[], &[]);
        assert_eq!(c.line(), None);
        let c = cascade(Via::Namespace, &[], &["Secret (forbidden)"]);
        assert_eq!(
            c.line().unwrap(),
            "deletes with it every object in it: none found; not counted: Secret (forbidden)"
        );
    }

    #[test]
    fn collections_are_addressed_like_the_api_does() {
        assert_eq!(
            collection("v1", Some("a"), "pods"),
            "/api/v1/namespaces/a/pods"
        );
        assert_eq!(
            collection("example.com/v1", None, "widgets"),
            "/apis/example.com/v1/widgets"
        );
        assert_eq!(percent_encode("ab+/="), "ab%2B%2F%3D");
    }
}
