//! What every reconcile shares: the controller's settings and connection, one impersonating
//! client per ServiceAccount, and the rule that decides which sync holds an ApplySet that
//! several resolve to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector::Store;

use super::access;
use super::crd::GitSync;
use super::drift::SharedWatches;
use super::events::Recorder;
use super::metrics::ControllerMetrics;
use super::resolve::{Resolved, resolve};
use super::rollout::Rollouts;
use super::sources::Sources;
use crate::cluster::Cluster;
use crate::render::RenderOptions;
use crate::runtime::Backoff;

/// How the controller treats every sync.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The ServiceAccount (in the sync's namespace) a sync naming none acts as; None refuses
    /// such syncs.
    pub default_service_account: Option<String>,
    /// How soon a sync waiting for a dependency looks again (a dependency turning Ready also
    /// wakes it at once).
    pub dependency_retry: Duration,
    /// Retry delays after failures.
    pub backoff: Backoff,
    pub fetch_timeout: Duration,
}

/// What every reconcile shares.
pub struct Context {
    /// The controller's own connection: status, Events, finalizers.
    pub cluster: Cluster,
    pub sources: Sources,
    pub settings: Settings,
    pub render: RenderOptions,
    /// Every GitSync the controller sees, for `dependsOn`.
    pub store: Store<GitSync>,
    pub recorder: Recorder,
    pub metrics: Arc<ControllerMetrics>,
    /// Drift watches shared by the syncs (None: drift is corrected at the interval only).
    pub drift: Option<Arc<SharedWatches>>,
    /// The applied revisions whose workloads syncs with `spec.wait` follow.
    pub rollouts: Rollouts,
    /// One impersonating client (and so one connection pool) per account, whatever number
    /// of syncs and target namespaces it serves.
    tenants: Mutex<HashMap<String, Cluster>>,
}

impl Context {
    pub fn new(
        cluster: Cluster,
        sources: Sources,
        settings: Settings,
        render: RenderOptions,
        store: Store<GitSync>,
        recorder: Recorder,
        metrics: Arc<ControllerMetrics>,
        drift: Option<Arc<SharedWatches>>,
    ) -> Self {
        Context {
            cluster,
            sources,
            settings,
            render,
            store,
            recorder,
            metrics,
            drift,
            rollouts: Rollouts::default(),
            tenants: Mutex::default(),
        }
    }

    /// The connection acting as `user` with namespace-less objects going to `namespace`.
    pub(super) fn tenant(&self, user: &str, namespace: &str) -> anyhow::Result<Cluster> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let mut cluster = match tenants.get(user) {
            Some(cluster) => cluster.clone(),
            None => {
                let cluster = self.cluster.impersonating(user, namespace)?;
                tenants.insert(user.to_string(), cluster.clone());
                cluster
            }
        };
        cluster.default_namespace = namespace.to_string();
        Ok(cluster)
    }

    /// Claims the set `resolved` names for `sync`; Err names the sync that holds it. Two syncs
    /// of one repository, path and target namespace (another ref, another tenant) would take
    /// turns applying their revisions and pruning each other's objects, so one holds the set:
    /// of the syncs resolving to it (and not being deleted) whose ServiceAccount may write its
    /// parent in its namespace, the one created first (then by namespace and name). It is
    /// decided from the GitSyncs alone, so a restart decides the same; and a sync naming a
    /// namespace its account may not write never takes a set from one that may.
    pub(super) async fn claim(&self, sync: &GitSync, resolved: &Resolved) -> Result<(), Holder> {
        let me = sync.key();
        let default = self.settings.default_service_account.as_deref();
        let same_set = |r: &Resolved| {
            r.set.name == resolved.set.name && r.set.namespace == resolved.set.namespace
        };
        let mut contenders: Vec<(Option<Timestamp>, String, Resolved)> = self
            .store
            .state()
            .iter()
            .filter(|other| other.key() != me && other.metadata.deletion_timestamp.is_none())
            .filter_map(|other| {
                let theirs = resolve(other, default).ok().filter(same_set)?;
                let created = other.metadata.creation_timestamp.as_ref().map(|t| t.0);
                Some((created, other.key(), theirs))
            })
            .collect();
        if contenders.is_empty() {
            // Uncontested: the server's RBAC decides when the sync applies.
            return Ok(());
        }
        let created = sync.metadata.creation_timestamp.as_ref().map(|t| t.0);
        contenders.push((created, me.clone(), resolved.clone()));
        contenders.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let namespace = &resolved.set.namespace;
        for (_, key, contender) in &contenders {
            let Ok(tenant) = self.tenant(&contender.user, namespace) else {
                continue;
            };
            if access::may(&tenant, access::write_parent(namespace)).await {
                return if *key == me {
                    Ok(())
                } else {
                    Err(Holder { sync: key.clone() })
                };
            }
        }
        // No contender's account may write there: whoever tries is refused by the server.
        Ok(())
    }
}

/// The sync that holds an ApplySet another sync resolves to (`namespace/name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub sync: String,
}
