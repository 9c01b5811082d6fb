//! Which kind a desired object is and where it lives: kinds the render's own
//! CustomResourceDefinitions make servable, and why such objects cannot be validated yet.

use std::collections::HashMap;

use kube::core::ApiResource;
use serde_json::Value;

use crate::render::Manifest;

/// Why an object is planned from its rendered body instead of the server's dry-run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unvalidated {
    NamespaceCreatedByPlan,
    CrdCreatedByPlan,
}

impl Unvalidated {
    pub(super) fn note(self) -> &'static str {
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

/// CustomResourceDefinitions in the render: the kinds they will make servable.
pub(super) struct CrdsInRender {
    /// (group, kind) -> (served versions, namespaced, plural)
    kinds: HashMap<(String, String), (Vec<String>, bool, String)>,
}

impl CrdsInRender {
    pub(super) fn from(manifests: &[Manifest]) -> Self {
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

    pub(super) fn scope_of(&self, api_version: &str, kind: &str) -> Option<(ApiResource, bool)> {
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
