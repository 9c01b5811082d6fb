//! What a sync's own ServiceAccount may do, asked of the API server as that account: a
//! SelfSubjectAccessReview sent through the connection that impersonates it. The server
//! answers with the account's real rights (RBAC, webhooks, whatever authorizes it), and the
//! controller needs no right of its own to review others' access.
//!
//! Used where a GitSync's spec reaches beyond its own objects: claiming an ApplySet in a
//! namespace, following a dependency into another namespace.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

use crate::cluster::Cluster;

/// One request a sync's account might make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub namespace: &'a str,
}

/// Writing an ApplySet's parent (a Secret) in `namespace`: what holding a set there takes.
pub fn write_parent(namespace: &str) -> Request<'_> {
    Request {
        verb: "patch",
        group: "",
        resource: "secrets",
        namespace,
    }
}

/// Reading GitSyncs in `namespace`: what depending on one there takes.
pub fn read_syncs(namespace: &str) -> Request<'_> {
    Request {
        verb: "get",
        group: "gitops.kubectl-gitops.io",
        resource: "gitsyncs",
        namespace,
    }
}

/// Whether the account `tenant` acts as may make `request`. No answer counts as no: a right
/// the server did not confirm is never assumed.
pub async fn may(tenant: &Cluster, request: Request<'_>) -> bool {
    let api: Api<SelfSubjectAccessReview> = Api::all(tenant.client.clone());
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(request.verb.to_string()),
                group: Some(request.group.to_string()),
                resource: Some(request.resource.to_string()),
                namespace: Some(request.namespace.to_string()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    match api.create(&PostParams::default(), &review).await {
        Ok(answer) => answer.status.is_some_and(|s| s.allowed),
        Err(err) => {
            tracing::warn!(error = %err, ?request, "could not review an account's access; taken as denied");
            false
        }
    }
}
