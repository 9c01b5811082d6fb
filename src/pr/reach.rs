//! What of the live cluster a preview may show: the objects the set already manages.
//!
//! A server-side preview reads the live copy of every object the tree names, with whatever
//! credentials CI gives it, and prints it as the "before" of an update. A pull request from a
//! fork chooses what the tree names, so without a bound a stranger could have the preview
//! publish any object those credentials can read (`kind: ConfigMap`, another team's
//! namespace). The bound is what the set already holds, known from the cluster and not from
//! the pull request: the namespaces of its live members, the namespaces its parent records,
//! its parent's namespace and the target namespace. A cluster-scoped object is shown only if it
//! is already a member (a pull request cannot make an object a member without an apply), or
//! is the Namespace of one of those namespaces. Everything else keeps its header and its count
//! in the plan, and says why its body is not shown.
//!
//! A create shows: there is no live body, only what the tree itself says (and the server's
//! defaults).

use std::collections::BTreeSet;

use crate::meta::LABEL_PART_OF;
use crate::object::ObjectRef;
use crate::report::Withheld;
use crate::ssa::{Change, Plan};

/// The namespaces and cluster-scoped objects a set manages, as the cluster says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    namespaces: BTreeSet<String>,
    cluster_members: BTreeSet<ObjectRef>,
}

/// What the cluster says a set manages, apart from its live members (found in the plan).
pub struct Managed<'a> {
    /// The set's own id and its legacy parents' (what the members' `part-of` label holds).
    pub member_ids: &'a [String],
    /// The namespace objects without one go to.
    pub target_namespace: &'a str,
    /// The namespace of the set's parent.
    pub parent_namespace: &'a str,
    /// The other namespaces the parent records its members in.
    pub recorded_namespaces: &'a BTreeSet<String>,
}

impl Reach {
    /// The reach of a set, from what the cluster says it manages and the live members the plan
    /// read (every live member is in a whole plan: updated, unchanged or pruned).
    pub fn of(plan: &Plan, managed: &Managed<'_>) -> Reach {
        let mut namespaces: BTreeSet<String> = managed.recorded_namespaces.clone();
        for namespace in [managed.target_namespace, managed.parent_namespace] {
            if !namespace.is_empty() {
                namespaces.insert(namespace.to_string());
            }
        }
        let mut cluster_members = BTreeSet::new();
        for change in plan
            .changes
            .iter()
            .filter(|c| is_member(c, managed.member_ids))
        {
            match &change.object.namespace {
                Some(namespace) => {
                    namespaces.insert(namespace.clone());
                }
                None => {
                    cluster_members.insert(change.object.clone());
                }
            }
        }
        for kept in &plan.kept {
            if let Some(namespace) = &kept.object.namespace {
                namespaces.insert(namespace.clone());
            }
        }
        Reach {
            namespaces,
            cluster_members,
        }
    }

    /// Whether a preview may show `object`'s live body.
    pub fn covers(&self, object: &ObjectRef) -> bool {
        match &object.namespace {
            Some(namespace) => self.namespaces.contains(namespace),
            None => {
                self.cluster_members.contains(object)
                    || (object.kind == "Namespace"
                        && object.api_version == "v1"
                        && self.namespaces.contains(&object.name))
            }
        }
    }

    /// The plan's objects whose live body (or the server's words about them) the preview
    /// leaves out, each with the reason it gives.
    pub fn withheld(&self, plan: &Plan) -> Withheld {
        let mut withheld = Withheld::default();
        let live = plan
            .changes
            .iter()
            .filter(|c| c.before.is_some())
            .map(|c| &c.object);
        // An error may stand for an object whose live copy was read: the server's message
        // can quote it. A shared reason (its namespace or kind is missing) is a fact about the
        // cluster that quotes nothing, and tells the author what to fix.
        let errors = plan
            .errors
            .iter()
            .filter(|e| e.reason.is_none())
            .map(|e| &e.object);
        for object in live.chain(errors) {
            if !self.covers(object) {
                withheld.insert(object.clone(), self.reason(object));
            }
        }
        withheld
    }

    fn reason(&self, object: &ObjectRef) -> String {
        let managed = self
            .namespaces
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        match &object.namespace {
            Some(_) => format!("is outside the namespaces this set manages ({managed})"),
            None => "is cluster-scoped and not yet a member of this set".to_string(),
        }
    }
}

/// Whether the change's live object carries one of the set's `part-of` ids.
fn is_member(change: &Change, member_ids: &[String]) -> bool {
    change
        .before
        .as_ref()
        .and_then(|live| live["metadata"]["labels"][LABEL_PART_OF].as_str())
        .is_some_and(|id| member_ids.iter().any(|own| own == id))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ssa::{Action, PlanError, SharedReason};

    fn change(action: Action, object: ObjectRef, before: Option<serde_json::Value>) -> Change {
        Change {
            action,
            object,
            origin: None,
            validated: true,
            note: None,
            conflicts: Vec::new(),
            cause: None,
            handover: None,
            before,
            after: Some(json!({})),
        }
    }

    fn configmap(namespace: &str, name: &str) -> ObjectRef {
        ObjectRef::new("v1", "ConfigMap", Some(namespace.to_string()), name)
    }

    fn member() -> serde_json::Value {
        json!({"metadata": {"labels": {LABEL_PART_OF: "applyset-own"}}})
    }

    fn reach(plan: &Plan) -> Reach {
        Reach::of(
            plan,
            &Managed {
                member_ids: &["applyset-own".to_string()],
                target_namespace: "team-a",
                parent_namespace: "team-a",
                recorded_namespaces: &BTreeSet::from(["team-a-jobs".to_string()]),
            },
        )
    }

    #[test]
    fn a_live_object_in_another_teams_namespace_is_withheld_with_its_reason() {
        let plan = Plan {
            changes: vec![
                change(
                    Action::Update,
                    configmap("other-team", "config"),
                    Some(json!({})),
                ),
                change(Action::Update, configmap("team-a", "web"), Some(json!({}))),
                change(
                    Action::Unchanged,
                    configmap("team-a-jobs", "jobs"),
                    Some(json!({})),
                ),
            ],
            ..Plan::default()
        };
        let withheld = reach(&plan).withheld(&plan);
        assert_eq!(withheld.len(), 1);
        assert_eq!(
            withheld.reason(&configmap("other-team", "config")),
            Some("is outside the namespaces this set manages (team-a, team-a-jobs)")
        );
    }

    #[test]
    fn a_create_has_no_live_body_and_shows_wherever_it_goes() {
        let plan = Plan {
            changes: vec![change(Action::Create, configmap("new-team", "web"), None)],
            ..Plan::default()
        };
        assert!(reach(&plan).withheld(&plan).is_empty());
    }

    #[test]
    fn a_live_member_brings_its_namespace_and_a_cluster_scoped_member_shows() {
        let role = ObjectRef::new("rbac.authorization.k8s.io/v1", "ClusterRole", None, "own");
        let stranger = ObjectRef::new("rbac.authorization.k8s.io/v1", "ClusterRole", None, "admin");
        let plan = Plan {
            changes: vec![
                change(
                    Action::Prune,
                    configmap("team-a-old", "gone"),
                    Some(member()),
                ),
                change(
                    Action::Update,
                    configmap("team-a-old", "other"),
                    Some(json!({})),
                ),
                change(Action::Update, role.clone(), Some(member())),
                change(Action::Update, stranger.clone(), Some(json!({}))),
                change(
                    Action::Unchanged,
                    ObjectRef::new("v1", "Namespace", None, "team-a"),
                    Some(json!({})),
                ),
            ],
            ..Plan::default()
        };
        let withheld = reach(&plan).withheld(&plan);
        assert_eq!(withheld.len(), 1, "{withheld:?}");
        assert_eq!(
            withheld.reason(&stranger),
            Some("is cluster-scoped and not yet a member of this set")
        );
    }

    #[test]
    fn a_server_message_outside_is_withheld_but_a_missing_namespace_is_told() {
        let error = |name: &str, reason: Option<SharedReason>| PlanError {
            object: configmap("elsewhere", name),
            origin: None,
            message: "the server's words".into(),
            not_attempted: None,
            reason,
        };
        let missing = SharedReason::NamespaceNotFound {
            namespace: "elsewhere".into(),
        };
        let plan = Plan {
            errors: vec![error("refused", None), error("missing", Some(missing))],
            ..Plan::default()
        };
        let withheld = reach(&plan).withheld(&plan);
        assert!(
            withheld
                .reason(&configmap("elsewhere", "refused"))
                .is_some()
        );
        assert_eq!(withheld.len(), 1);
    }

    #[test]
    fn a_label_of_another_set_does_not_make_a_member() {
        let foreign = json!({"metadata": {"labels": {LABEL_PART_OF: "applyset-other"}}});
        let plan = Plan {
            changes: vec![change(
                Action::Update,
                configmap("other-team", "config"),
                Some(foreign),
            )],
            ..Plan::default()
        };
        assert_eq!(reach(&plan).withheld(&plan).len(), 1);
    }
}
