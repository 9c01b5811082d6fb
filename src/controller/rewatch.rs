//! A sync's drift watch resumed from the inventory it last applied, the first time the
//! controller sees the sync: after a restart (or a new leader taking over) every sync is
//! watched from its first reconcile, not from its next due one, which at `interval: 1h` could
//! be an hour away.
//!
//! What to watch comes from the ApplySet parent the last full apply wrote (its group-kinds and
//! namespaces, read as the sync's account), so nothing is fetched or rendered to start it. The
//! next full cycle replaces it with what that cycle planned.

use std::collections::BTreeSet;

use super::crd::GitSync;
use super::drift::SharedWatches;
use super::resolve::Resolved;
use crate::cluster::Cluster;
use crate::runtime::drift::WatchKey;

/// Watches what `sync` last applied, as `tenant` (its account). A parent that cannot be read,
/// or records nothing, leaves the sync to be watched after its next full cycle.
pub async fn resume(
    watches: &SharedWatches,
    sync: &GitSync,
    tenant: &Cluster,
    resolved: &Resolved,
) {
    let inventory = match crate::inventory::read(tenant, &resolved.set).await {
        Ok(inventory) if inventory.parent_exists => inventory,
        Ok(_) => return,
        Err(err) => {
            tracing::warn!(
                sync = %sync.key(),
                error = %crate::cluster::refusal::one_line(&err),
                "cannot read the last applied inventory; drift is watched after the next cycle"
            );
            return;
        }
    };
    let mut namespaces: BTreeSet<String> = inventory.namespaces.clone();
    namespaces.insert(resolved.set.namespace.clone());
    namespaces.insert(resolved.checked.target_namespace.clone());
    let mut keys = BTreeSet::new();
    for gk in &inventory.group_kinds {
        match tenant
            .discovery
            .resolve_group_kind(&gk.group, &gk.kind)
            .await
        {
            Ok(Some(found)) if found.namespaced => {
                for namespace in &namespaces {
                    keys.insert(WatchKey::new(&found.resource, Some(namespace.clone())));
                }
            }
            Ok(Some(found)) => {
                keys.insert(WatchKey::new(&found.resource, None));
            }
            // The kind is gone from the server: nothing of it to watch.
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(
                    sync = %sync.key(),
                    kind = %gk,
                    error = %crate::cluster::describe_unnamed(&err),
                    "cannot resolve a kind of the last applied inventory; drift is watched after the next cycle"
                );
                return;
            }
        }
    }
    let client = tenant.client.clone();
    let keys = watches.widen(&resolved.user, &client, keys).await;
    tracing::info!(
        sync = %sync.key(),
        watches = keys.len(),
        "drift watch resumed from the last applied inventory"
    );
    watches.want(
        sync,
        &resolved.user,
        client,
        resolved.set.id(),
        keys,
        namespaces,
    );
}
