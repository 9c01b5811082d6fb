//! Drift watches shared across syncs: one watch per ServiceAccount, resource and namespace
//! (`runtime::drift`, selecting every ApplySet member), whatever number of syncs manage
//! objects there; each event is routed by the object's part-of label to the sync whose
//! ApplySet it belongs to, which is then reconciled at once at its last applied revision.
//!
//! Watches run as the syncs' ServiceAccounts, like everything else a sync does: the
//! controller itself may read none of the objects. What the watches hold grows with the
//! managed objects, not with syncs times kinds.
//!
//! A label is no proof of membership: anyone who may write an object may give it any set's
//! id. So an event wakes a sync only when it came from a watch of the sync's own account and
//! from a namespace the sync manages objects in; an object another tenant labelled with this
//! sync's id, in a namespace of its own, wakes nothing.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use kube::runtime::reflector::ObjectRef;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::crd::GitSync;
use crate::runtime::drift::{Drift, ObjectKey, WatchKey, Watches};

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
    /// The namespaces its objects live in: events from elsewhere are not its own.
    namespaces: BTreeSet<String>,
}

/// A drift event and the account whose watch saw it.
pub type Seen = (String, Drift);

#[derive(Default)]
struct State {
    /// Per sync (`namespace/name`).
    wanted: HashMap<String, Wanted>,
    /// Per ServiceAccount: its watches, and the task tagging their events with the account.
    watches: HashMap<String, (Watches, JoinHandle<()>)>,
    /// ApplySet id -> the sync owning it.
    routes: HashMap<String, ObjectRef<GitSync>>,
    /// Syncs a drift event woke that have not reconciled since, and what changed.
    drifted: HashMap<String, Woken>,
    /// Whether an account may list and watch a resource in every namespace.
    everywhere: HashMap<(String, String, String), bool>,
    /// Syncs seen since these watches started (their watch resumed from the inventory, or
    /// tried to be).
    seen: HashSet<String>,
}

pub struct SharedWatches {
    state: Mutex<State>,
    /// Where watch events arrive, tagged with the account that saw them.
    events: mpsc::Sender<Seen>,
}

impl SharedWatches {
    /// The watches, and the receiver their events arrive on (see [`SharedWatches::route`]).
    pub fn new() -> (Self, mpsc::Receiver<Seen>) {
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

    /// After a cycle that covered the whole set: watch what `sync` manages (in `namespaces`),
    /// as `user`.
    pub fn want(
        &self,
        sync: &GitSync,
        user: &str,
        client: kube::Client,
        set_id: String,
        keys: BTreeSet<WatchKey>,
        namespaces: BTreeSet<String>,
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
                namespaces,
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
        state.seen.retain(|k| alive.contains(k));
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
    fn sync_user(state: &mut State, user: &str, events: &mpsc::Sender<Seen>) {
        let mut keys = BTreeSet::new();
        let mut client = None;
        for wanted in state.wanted.values().filter(|w| w.user == user) {
            keys.extend(wanted.keys.iter().cloned());
            client.get_or_insert_with(|| wanted.client.clone());
        }
        match client {
            None => {
                if let Some((_, tagging)) = state.watches.remove(user) {
                    tagging.abort();
                }
            }
            Some(client) => {
                state
                    .watches
                    .entry(user.to_string())
                    .or_insert_with(|| {
                        let (tx, mut rx) = mpsc::channel(1024);
                        let (events, user) = (events.clone(), user.to_string());
                        let tagging = tokio::spawn(async move {
                            while let Some(drift) = rx.recv().await {
                                if events.send((user.clone(), drift)).await.is_err() {
                                    return;
                                }
                            }
                        });
                        (Watches::of_every_set(client, tx), tagging)
                    })
                    .0
                    .sync(&keys);
            }
        }
    }

    /// The syncs an event `user`'s watch saw concerns: the owner of the object's set, when it
    /// is a sync of that account managing objects in the object's namespace; or every sync of
    /// that account after its watch had to start over. Marks them drifted, with the object.
    pub fn route(&self, user: &str, drift: &Drift) -> Vec<ObjectRef<GitSync>> {
        let mut state = self.lock();
        let own = |target: &ObjectRef<GitSync>| {
            let key = format!(
                "{}/{}",
                target.namespace.as_deref().unwrap_or_default(),
                target.name
            );
            state.wanted.get(&key).is_some_and(|wanted| {
                let namespace = drift.object.as_ref().and_then(|o| o.namespace.as_ref());
                wanted.user == user && namespace.is_none_or(|ns| wanted.namespaces.contains(ns))
            })
        };
        let targets: Vec<ObjectRef<GitSync>> = match &drift.part_of {
            Some(id) => state
                .routes
                .get(id)
                .filter(|t| own(t))
                .cloned()
                .into_iter()
                .collect(),
            None => state.routes.values().filter(|t| own(t)).cloned().collect(),
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

    /// True the first time `sync` (`namespace/name`) is asked about while it has no watch: its
    /// watch is then resumed from the inventory it last applied (see `rewatch`), once.
    pub fn first_sight(&self, sync: &str) -> bool {
        let mut state = self.lock();
        !state.wanted.contains_key(sync) && state.seen.insert(sync.to_string())
    }

    /// What woke `sync` since its last reconcile, if anything did (and forgets it).
    pub fn take_drifted(&self, sync: &str) -> Option<Woken> {
        self.lock().drifted.remove(sync)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::crd::GitSyncSpec;

    fn sync(namespace: &str, name: &str) -> GitSync {
        let mut sync = GitSync::new(name, GitSyncSpec::default());
        sync.metadata.namespace = Some(namespace.into());
        sync
    }

    fn drift(namespace: &str, part_of: Option<&str>) -> Drift {
        Drift {
            object: Some(ObjectKey {
                group: String::new(),
                kind: "ConfigMap".into(),
                namespace: Some(namespace.into()),
                name: "lure".into(),
            }),
            what: "modified",
            part_of: part_of.map(str::to_string),
        }
    }

    #[tokio::test]
    async fn an_event_wakes_a_sync_only_from_its_own_accounts_watch_in_its_own_namespaces() {
        // Nothing listens there: the watches started for the syncs never connect.
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let (watches, _events) = SharedWatches::new();
        let a = "system:serviceaccount:team-a:deployer";
        let b = "system:serviceaccount:team-b:deployer";
        let namespaces = |ns: &str| BTreeSet::from([ns.to_string()]);
        watches.want(
            &sync("team-a", "app"),
            a,
            client.clone(),
            "set-a".into(),
            BTreeSet::new(),
            namespaces("team-a"),
        );
        watches.want(
            &sync("team-b", "own"),
            b,
            client,
            "set-b".into(),
            BTreeSet::new(),
            namespaces("team-b"),
        );

        // B's watch sees B's object carrying A's set id: nobody is woken.
        assert!(watches.route(b, &drift("team-b", Some("set-a"))).is_empty());
        // A's account sees it too (a cluster-wide watch): not in A's namespaces.
        assert!(watches.route(a, &drift("team-b", Some("set-a"))).is_empty());
        assert_eq!(watches.take_drifted("team-a/app"), None);
        // A's own object, seen by A's watch, wakes A.
        let woken = watches.route(a, &drift("team-a", Some("set-a")));
        assert_eq!(woken, [ObjectRef::from(&sync("team-a", "app"))]);
        assert!(
            matches!(watches.take_drifted("team-a/app"), Some(Woken::Objects(o)) if o.len() == 1)
        );
        // A watch of B's starting over wakes B's syncs only.
        let resync = Drift {
            object: None,
            what: "resync",
            part_of: None,
        };
        assert_eq!(
            watches.route(b, &resync),
            [ObjectRef::from(&sync("team-b", "own"))]
        );
    }
}
