//! Apply order: what others depend on goes first, prunes go in reverse.

use crate::object::ObjectRef;

/// The phase an object is applied in: Namespaces and CRDs (0), then other cluster-scoped
/// objects (1), then namespaced ones (2), and last the objects that make the API server call
/// out (3): admission webhooks and aggregated APIServices. Prunes run through the phases
/// backwards.
///
/// A webhook or APIService points at a Service (and the Deployment behind it) that is often
/// part of the same change; applied earlier, a `failurePolicy: Fail` webhook would reject the
/// very objects it needs, and an APIService would be unavailable. Pruned first, it stops
/// intercepting before its backend goes.
pub fn phase(object: &ObjectRef) -> u8 {
    match (object.group(), object.kind.as_str()) {
        ("", "Namespace") | ("apiextensions.k8s.io", "CustomResourceDefinition") => 0,
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration")
        | ("admissionregistration.k8s.io", "MutatingWebhookConfiguration")
        | ("apiregistration.k8s.io", "APIService") => 3,
        _ if object.namespace.is_none() => 1,
        _ => 2,
    }
}

pub const PHASES: [u8; 4] = [0, 1, 2, 3];

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

    #[test]
    fn webhooks_and_api_services_come_after_the_workloads_they_call() {
        let deployment = ObjectRef::new("apps/v1", "Deployment", Some("a".into()), "hook");
        let service = ObjectRef::new("v1", "Service", Some("a".into()), "hook");
        let validating = ObjectRef::new(
            "admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfiguration",
            None,
            "v",
        );
        let mutating = ObjectRef::new(
            "admissionregistration.k8s.io/v1",
            "MutatingWebhookConfiguration",
            None,
            "m",
        );
        let api_service = ObjectRef::new(
            "apiregistration.k8s.io/v1",
            "APIService",
            None,
            "v1beta1.metrics.k8s.io",
        );
        let last = *PHASES.last().unwrap();
        for called in [&validating, &mutating, &api_service] {
            assert_eq!(phase(called), last, "{called}");
            assert!(phase(called) > phase(&deployment) && phase(called) > phase(&service));
        }
    }
}
