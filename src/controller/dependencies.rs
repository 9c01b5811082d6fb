//! A sync's `dependsOn`: which dependencies are not Ready yet, and which lie in namespaces
//! its account may not read.

use kube::ResourceExt;
use kube::runtime::reflector::Store;

use super::access;
use super::crd::GitSync;
use crate::cluster::Cluster;

/// The dependencies that are not Ready, named `namespace/name`.
pub(super) fn unready(sync: &GitSync, store: &Store<GitSync>) -> Vec<String> {
    let own = sync.namespace().unwrap_or_default();
    sync.spec
        .depends_on
        .iter()
        .filter_map(|dep| {
            let namespace = dep.namespace.clone().unwrap_or_else(|| own.clone());
            let reference = kube::runtime::reflector::ObjectRef::new(&dep.name).within(&namespace);
            let ready = store.get(&reference).is_some_and(|d| d.is_ready());
            (!ready).then(|| format!("{namespace}/{}", dep.name))
        })
        .collect()
}

/// The dependencies (`namespace/name`) in other namespaces whose GitSyncs the sync's account,
/// which `tenant` acts as, may not read.
pub(super) async fn forbidden(sync: &GitSync, tenant: &Cluster) -> Vec<String> {
    let own = sync.namespace().unwrap_or_default();
    let mut forbidden = Vec::new();
    for dep in &sync.spec.depends_on {
        let namespace = dep
            .namespace
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(&own);
        if namespace != own && !access::may(tenant, access::read_syncs(namespace)).await {
            forbidden.push(format!("{namespace}/{}", dep.name));
        }
    }
    forbidden
}
