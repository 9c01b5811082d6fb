//! What we manage, recorded with the Kubernetes ApplySet standard (KEP-3659, the one
//! `kubectl apply --prune --applyset` uses), so kubectl's own tooling can read our sets.
//!
//! A parent Secret carries the set's id label and annotations listing the group-kinds and
//! namespaces its members live in; every member carries the `part-of` label. Prune candidates
//! are found by that label only, in those group-kinds and namespaces only.
//!
//! [`identity`] decides which set a deployment is, [`parent`] reads and writes the parent,
//! [`members`] lists the live members, [`migration`] takes over sets earlier versions wrote,
//! and [`handover`] spots objects that would change hands.

use std::collections::BTreeSet;
use std::fmt;

use base64::Engine;
use kube::core::ApiResource;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::object::ObjectRef;

pub mod handover;
pub mod identity;
mod members;
pub mod migration;
mod parent;

pub use handover::Handover;
pub use identity::{Repository, SetIdentity};
pub use members::members;
pub use parent::{ParentSummary, create_parent_namespace, list_parents, read, write_parent};

use crate::meta::{
    ANNOTATION_GROUP_KINDS, ANNOTATION_NAMESPACES, ANNOTATION_TOOLING, LABEL_ID, LABEL_PART_OF,
};

/// The value of our tooling annotation: `kubectl-gitops/<version>`.
pub fn tooling() -> String {
    format!("kubectl-gitops/v{}", env!("CARGO_PKG_VERSION"))
}

/// A parent Secret's name and namespace; what the standard's id is computed from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct ParentRef {
    pub name: String,
    pub namespace: String,
}

impl ParentRef {
    /// The id the standard defines: `applyset-<base64url(sha256(name.namespace.kind.group))>-v1`.
    pub fn id(&self) -> String {
        let digest = Sha256::digest(format!("{}.{}.Secret.", self.name, self.namespace).as_bytes());
        format!(
            "applyset-{}-v1",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
        )
    }
}

impl fmt::Display for ParentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "secret/{} in namespace {}", self.name, self.namespace)
    }
}

/// One ApplySet: its parent Secret, the identity it deploys and where earlier versions kept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplySet {
    pub name: String,
    pub namespace: String,
    /// What the set deploys; `None` for a set addressed by name alone (`status --applyset`).
    pub identity: Option<SetIdentity>,
    /// Parents an earlier version may have written for this deployment; those found are taken
    /// over by the next apply (see [`migration`]).
    pub legacy: Vec<ParentRef>,
}

impl ApplySet {
    /// A set known only by its parent's name and namespace.
    pub fn named(name: &str, namespace: &str) -> Self {
        ApplySet {
            name: name.to_string(),
            namespace: namespace.to_string(),
            identity: None,
            legacy: Vec::new(),
        }
    }

    pub fn parent(&self) -> ParentRef {
        ParentRef {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// The standard's id of this set's parent (see [`ParentRef::id`]).
    pub fn id(&self) -> String {
        self.parent().id()
    }

    pub fn parent_ref(&self) -> ObjectRef {
        ObjectRef::new("v1", "Secret", Some(self.namespace.clone()), &self.name)
    }
}

impl fmt::Display for ApplySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.parent().fmt(f)
    }
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

    pub(crate) fn parse(text: &str) -> Option<Self> {
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
    /// The member count the parent recorded at the last full apply.
    pub recorded_members: Option<usize>,
    /// Parents an earlier version wrote for this deployment: their members count as this
    /// set's until the next clean apply relabels or prunes them and removes these parents.
    pub legacy: Vec<migration::LegacyParent>,
}

impl Inventory {
    /// The ids whose members belong to this deployment: the set's own and its legacy parents'.
    pub fn member_ids(&self, set: &ApplySet) -> Vec<String> {
        std::iter::once(set.id())
            .chain(self.legacy.iter().map(|l| l.parent.id()))
            .collect()
    }
}

/// A live member of the set: its resource and the object as the server returned it.
#[derive(Debug, Clone)]
pub struct Member {
    pub object: ObjectRef,
    pub resource: ApiResource,
    pub live: Value,
}

pub(crate) fn parent_resource() -> ApiResource {
    ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: "Secret".into(),
        plural: "secrets".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_follows_the_applyset_standard() {
        // The id kubectl itself computed for `--applyset=secret/probe -n aset-probe`.
        let set = ApplySet::named("probe", "aset-probe");
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
}
