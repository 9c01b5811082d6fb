//! Drift watches shared across syncs: one watch per ServiceAccount, resource and namespace
//! (`reconcile::drift`, selecting every ApplySet member), whatever number of syncs manage
//! objects there; each event is routed by the object's part-of label to the sync whose
//! ApplySet it belongs to, which is then reconciled at once at its last applied revision.
//!
//! Watches run as the syncs' ServiceAccounts, like everything else a sync does: the
//! controller itself may read none of the objects. What the watches hold grows with the
//! managed objects, not with syncs times kinds.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use kube::runtime::reflector::ObjectRef;
use tokio::sync::mpsc;

use super::crd::GitSync;
use crate::reconcile::drift::{Drift, ObjectKey, WatchKey, Watches};

/// What woke a sync since its last reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Woken {
    /// These of its objects changed outside git.
    Objects(BTreeSet<ObjectKey>),
    /// A watch had to start over: anything may have changed.
    Everything,
}

/// Asks the server (SelfSubjectAccessReview, as the account itself) whether `client` may list
/// and watch `group`/`plural` in every namespace. No answer counts as no.
async fn may_watch_everywhere(client: &kube::Client, group: &str, plural: &str) -> bool {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let api: kube::Api<SelfSubjectAccessReview> = kube::Api::all(client.clone());
    for verb in ["list", "watch"] {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    group: Some(group.to_string()),
                    resource: Some(plural.to_string()),
                    verb: Some(verb.to_string()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let allowed = api
            .create(&kube::api::PostParams::default(), &review)
            .await
            .ok()
            .and_then(|r| r.status)
            .is_some_and(|s| s.allowed);
        if !allowed {
            return false;
        }
    }
    true
}

/// What one sync asks to be watched.
struct Wanted {
    user: String,
    client: kube::Client,
    set_id: String,
    keys: BTreeSet<WatchKey>,
}

#[derive(Default)]
struct State {
    /// Per sync (`namespace/name`).
    wanted: HashMap<String, Wanted>,
    /// Per ServiceAccount: its watches.
    watches: HashMap<String, Watches>,
    /// ApplySet id -> the sync owning it.
    routes: HashMap<String, ObjectRef<GitSync>>,
    /// Syncs a drift event woke that have not reconciled since, and what changed.
    drifted: HashMap<String, Woken>,
    /// Whether an account may list and watch a resource in every namespace.
    everywhere: HashMap<(String, String, String), bool>,
}

pub struct SharedWatches {
    state: Mutex<State>,
    /// Where watch events arrive.
    events: mpsc::Sender<Drift>,
}

impl SharedWatches {
    /// The watches, and the receiver their events arrive on (see [`SharedWatches::route`]).
    pub fn new() -> (Self, mpsc::Receiver<Drift>) {
        let (tx, rx) = mpsc::channel(4096);
        (
            SharedWatches {
                state: Mutex::default(),
                events: tx,
            },
            rx,
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a cycle that covered the whole set: watch what `sync` manages, as `user`.
    pub fn want(
        &self,
        sync: &GitSync,
        user: &str,
        client: kube::Client,
        set_id: String,
        keys: BTreeSet<WatchKey>,
    ) {
        let mut state = self.lock();
        state.routes.insert(set_id.clone(), ObjectRef::from(sync));
        state.wanted.insert(
            sync.key(),
            Wanted {
                user: user.to_string(),
                client,
                set_id,
                keys,
            },
        );
        Self::sync_user(&mut state, user, &self.events);
    }

    /// `keys` with the namespaced resources `user` may list and watch in every namespace
    /// watched once cluster-wide: an account syncing a thousand namespaces then holds one
    /// watch (and one connection) per resource, not a thousand. Accounts confined to some
    /// namespaces keep a watch per namespace.
    pub async fn widen(
        &self,
        user: &str,
        client: &kube::Client,
        keys: BTreeSet<WatchKey>,
    ) -> BTreeSet<WatchKey> {
        let mut out = BTreeSet::new();
        for key in keys {
            if key.namespace.is_none() {
                out.insert(key);
                continue;
            }
            let id = (user.to_string(), key.group.clone(), key.plural.clone());
            let known = self.lock().everywhere.get(&id).copied();
            let everywhere = match known {
                Some(answer) => answer,
                None => {
                    let answer = may_watch_everywhere(client, &key.group, &key.plural).await;
                    self.lock().everywhere.insert(id, answer);
                    answer
                }
            };
            out.insert(if everywhere {
                WatchKey {
                    namespace: None,
                    ..key
                }
            } else {
                key
            });
        }
        out
    }

    /// Stops watching for syncs not in `alive` (deleted, suspended, another shard's).
    pub fn retain(&self, alive: &HashSet<String>) {
        let mut state = self.lock();
        let gone: Vec<String> = state
            .wanted
            .keys()
            .filter(|k| !alive.contains(*k))
            .cloned()
            .collect();
        let mut users = HashSet::new();
        for key in gone {
            if let Some(wanted) = state.wanted.remove(&key) {
                state.routes.remove(&wanted.set_id);
                users.insert(wanted.user);
            }
        }
        for user in users {
            Self::sync_user(&mut state, &user, &self.events);
        }
    }

    /// Every watch of `user` matches the union of what its syncs want.
    fn sync_user(state: &mut State, user: &str, events: &mpsc::Sender<Drift>) {
        let mut keys = BTreeSet::new();
        let mut client = None;
        for wanted in state.wanted.values().filter(|w| w.user == user) {
            keys.extend(wanted.keys.iter().cloned());
            client.get_or_insert_with(|| wanted.client.clone());
        }
        match client {
            None => {
                state.watches.remove(user);
            }
            Some(client) => {
                state
                    .watches
                    .entry(user.to_string())
                    .or_insert_with(|| Watches::of_every_set(client, events.clone()))
                    .sync(&keys);
            }
        }
    }

    /// The syncs a watch event concerns: the owner of the object's set, or every watched
    /// sync after a watch had to start over. Marks them drifted, with the object.
    pub fn route(&self, drift: &Drift) -> Vec<ObjectRef<GitSync>> {
        let mut state = self.lock();
        let targets: Vec<ObjectRef<GitSync>> = match &drift.part_of {
            Some(id) => state.routes.get(id).cloned().into_iter().collect(),
            None => state.routes.values().cloned().collect(),
        };
        for target in &targets {
            let key = format!(
                "{}/{}",
                target.namespace.as_deref().unwrap_or_default(),
                target.name
            );
            let woken = state
                .drifted
                .entry(key)
                .or_insert_with(|| Woken::Objects(BTreeSet::new()));
            match (&drift.object, woken) {
                (Some(object), Woken::Objects(objects)) if drift.part_of.is_some() => {
                    objects.insert(object.clone());
                }
                (_, woken) => *woken = Woken::Everything,
            }
        }
        targets
    }

    /// What woke `sync` since its last reconcile, if anything did (and forgets it).
    pub fn take_drifted(&self, sync: &str) -> Option<Woken> {
        self.lock().drifted.remove(sync)
    }
}
