//! Apply order: what others depend on goes first, prunes go in reverse.

use crate::object::ObjectRef;

/// The phase an object is applied in: Namespaces and CRDs (0), then other cluster-scoped
/// objects (1), then namespaced ones (2). Prunes run through the phases backwards.
pub fn phase(object: &ObjectRef) -> u8 {
    match (object.group(), object.kind.as_str()) {
        ("", "Namespace") | ("apiextensions.k8s.io", "CustomResourceDefinition") => 0,
        _ if object.namespace.is_none() => 1,
        _ => 2,
    }
}

pub const PHASES: [u8; 3] = [0, 1, 2];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_and_crds_come_first_then_cluster_scoped_then_namespaced() {
        let ns = ObjectRef::new("v1", "Namespace", None, "a");
        let crd = ObjectRef::new(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            None,
            "w",
        );
        let role = ObjectRef::new("rbac.authorization.k8s.io/v1", "ClusterRole", None, "r");
        let cm = ObjectRef::new("v1", "ConfigMap", Some("a".into()), "c");
        assert_eq!(
            [phase(&ns), phase(&crd), phase(&role), phase(&cm)],
            [0, 0, 1, 2]
        );
    }
}
