//! Sets written by earlier versions: their parent sat in namespace `default` (or the
//! `--applyset-namespace` given) and was named `gitops-<checkout directory>-<path>` (the
//! reconciler: `gitops-<last segment of --repo>-<path>`), without identity annotations.
//!
//! Such a parent, when found, is read along with the set's own: its members count as the set's,
//! so the next apply relabels those still rendered and prunes those that left git, exactly once.
//! Only after that apply succeeded entirely is the old parent deleted; until then both parents
//! stay, so a failed apply orphans nothing and the next one picks up where it stopped.

use std::collections::BTreeSet;

use anyhow::Result;
use kube::api::{DeleteParams, Preconditions};
use kube::core::{DynamicObject, Request, Resource};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::parent::{annotation_list, group_kinds, is_ours, recorded_identity};
use super::{
    ANNOTATION_NAMESPACES, ApplySet, GroupKind, Inventory, LABEL_ID, ParentRef, parent_resource,
};
use crate::cluster::Cluster;

/// Where parents were kept before they moved to the target namespace.
pub const LEGACY_NAMESPACE: &str = "default";

/// A parent an earlier version wrote for this deployment, found on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyParent {
    pub parent: ParentRef,
    pub uid: String,
    pub group_kinds: BTreeSet<GroupKind>,
    pub namespaces: BTreeSet<String>,
}

/// The name an earlier version gave a set: `gitops-<repository>-<path>` as a DNS label, long
/// names cut and given a hash of the whole.
pub fn legacy_name(repository: &str, path: &str) -> String {
    let raw = if path.trim_matches('/').is_empty() {
        format!("gitops-{repository}")
    } else {
        format!("gitops-{repository}-{path}")
    };
    let name = super::identity::dns_label(&raw);
    if name.len() <= 63 {
        return name;
    }
    let hash = Sha256::digest(raw.as_bytes());
    let suffix: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}-{suffix}", name[..54].trim_end_matches('-'))
}

/// The parents an earlier version may have written for a deployment. `names` are the
/// repository names it could have used (a checkout's directory, the remote's last segment);
/// `explicit_name` and `explicit_namespace` are the user's `--applyset` and
/// `--applyset-namespace`, which earlier versions honoured too.
pub fn candidates(
    names: &[&str],
    path: &str,
    explicit_name: Option<&str>,
    explicit_namespace: Option<&str>,
    current: &ParentRef,
) -> Vec<ParentRef> {
    let namespace = explicit_namespace.unwrap_or(LEGACY_NAMESPACE).to_string();
    let mut found: Vec<ParentRef> = match explicit_name {
        Some(name) => vec![ParentRef {
            name: name.to_string(),
            namespace,
        }],
        None => names
            .iter()
            .map(|repository| ParentRef {
                name: legacy_name(repository, path),
                namespace: namespace.clone(),
            })
            .collect(),
    };
    found.sort();
    found.dedup();
    found.retain(|p| p != current);
    found
}

/// The legacy parents of `set` that exist and that we may read. A parent another tool wrote,
/// or one that records an identity (a current set, perhaps another deployment's), is no
/// legacy parent. One the caller may not read (a user bound to their own namespace cannot
/// see `default`) cannot be migrated by them and is passed over.
pub(super) async fn find(cluster: &Cluster, set: &ApplySet) -> Result<Vec<LegacyParent>> {
    let mut found = Vec::new();
    for candidate in &set.legacy {
        let request = Request::new(DynamicObject::url_path(
            &parent_resource(),
            Some(&candidate.namespace),
        ))
        .get(&candidate.name, &Default::default())?;
        let parent: Value = match cluster.send(request).await {
            Ok(parent) => parent,
            Err(kube::Error::Api(status)) if matches!(status.code, 403 | 404) => continue,
            Err(err) => {
                return Err(super::parent::failure(
                    cluster,
                    err,
                    format!("looking for an earlier ApplySet parent {candidate}"),
                ));
            }
        };
        if !is_ours(&parent)
            || recorded_identity(&parent).is_some()
            || parent["metadata"]["labels"][LABEL_ID].as_str() != Some(candidate.id().as_str())
        {
            continue;
        }
        let Some(uid) = parent["metadata"]["uid"].as_str() else {
            continue;
        };
        found.push(LegacyParent {
            parent: candidate.clone(),
            uid: uid.to_string(),
            group_kinds: group_kinds(&parent),
            namespaces: annotation_list(&parent, ANNOTATION_NAMESPACES)
                .into_iter()
                .collect(),
        });
    }
    Ok(found)
}

/// After an apply that succeeded entirely, every legacy member is relabelled or pruned:
/// the legacy parents are deleted (each only if it is still the one read), so no later run
/// finds them again.
pub async fn finish(cluster: &Cluster, inventory: &Inventory) -> Result<Vec<ParentRef>> {
    let mut removed = Vec::new();
    for legacy in &inventory.legacy {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(legacy.uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        let request = Request::new(DynamicObject::url_path(
            &parent_resource(),
            Some(&legacy.parent.namespace),
        ))
        .delete(&legacy.parent.name, &params)?;
        match cluster.send::<Value>(request).await {
            Ok(_) => removed.push(legacy.parent.clone()),
            Err(kube::Error::Api(status)) if matches!(status.code, 404 | 409) => {}
            Err(err) => {
                return Err(super::parent::failure(
                    cluster,
                    err,
                    format!(
                        "removing the earlier ApplySet parent {} after migrating its members",
                        legacy.parent
                    ),
                ));
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_names_are_what_earlier_versions_computed() {
        assert_eq!(
            legacy_name("platform", "deploy/prod"),
            "gitops-platform-deploy-prod"
        );
        assert_eq!(legacy_name("Platform_Repo", ""), "gitops-platform-repo");
        let long = legacy_name("r", &"very-long-segment/".repeat(10));
        assert!(long.len() <= 63, "{long}");
        assert_ne!(long, legacy_name("r", &"very-long-segment/".repeat(11)));
    }

    #[test]
    fn candidates_are_the_old_names_in_default_never_the_set_itself() {
        let current = ParentRef {
            name: "gitops-platform-deploy".into(),
            namespace: "default".into(),
        };
        let found = candidates(
            &["platform", "platform", "checkout"],
            "deploy",
            None,
            None,
            &current,
        );
        assert_eq!(
            found,
            [ParentRef {
                name: "gitops-checkout-deploy".into(),
                namespace: "default".into(),
            }]
        );
        let explicit = candidates(&["x"], "deploy", Some("mine"), None, &current);
        assert_eq!(explicit[0].name, "mine");
        assert_eq!(explicit[0].namespace, "default");
    }
}
