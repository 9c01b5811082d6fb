//! One way to name a Kubernetes object in every message: `Kind/namespace/name`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Identifies one object: its group/version/kind, namespace (none when cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn new(
        api_version: impl Into<String>,
        kind: impl Into<String>,
        namespace: Option<String>,
        name: impl Into<String>,
    ) -> Self {
        ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace,
            name: name.into(),
        }
    }

    /// The API group, empty for the core group (`v1`).
    pub fn group(&self) -> &str {
        match self.api_version.split_once('/') {
            Some((group, _)) => group,
            None => "",
        }
    }

    /// The version part of `apiVersion`.
    pub fn version(&self) -> &str {
        match self.api_version.split_once('/') {
            Some((_, version)) => version,
            None => &self.api_version,
        }
    }

    /// Identity that ignores the version: `apps/v1` and `apps/v1beta1` Deployments with the
    /// same name are the same object to the server.
    pub fn identity(&self) -> (String, String, Option<String>, String) {
        (
            self.group().to_string(),
            self.kind.clone(),
            self.namespace.clone(),
            self.name.clone(),
        )
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// One object, by the identity the API server uses (the version does not matter).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub group: String,
    pub kind: String,
    /// None for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{ns}/{}", self.kind, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_kind_namespace_name() {
        let r = ObjectRef::new("apps/v1", "Deployment", Some("web".into()), "api");
        assert_eq!(r.to_string(), "Deployment/web/api");
        assert_eq!(r.group(), "apps");
        assert_eq!(r.version(), "v1");
    }

    #[test]
    fn cluster_scoped_objects_have_no_namespace_segment() {
        let r = ObjectRef::new("v1", "Namespace", None, "web");
        assert_eq!(r.to_string(), "Namespace/web");
        assert_eq!(r.group(), "");
        assert_eq!(r.version(), "v1");
    }
}
