//! Objects that change hands. A live object labelled as a member of another ApplySet (another
//! path or repository, a cluster-scoped object two sets render) is not taken over silently:
//! the plan says `moves from ApplySet X`, and apply and the reconciler refuse it unless the
//! user consents, with `--adopt` or the annotation `kubectl-gitops.io/adopt: "true"` on the
//! object in git. An object no ApplySet claims, made by other tooling (Helm, kubectl, an
//! operator), is adopted on its first apply, and the plan says so.

use std::collections::BTreeMap;

use kube::api::ListParams;
use kube::core::{DynamicObject, Request, Resource};
use serde::Serialize;
use serde_json::Value;

use super::{LABEL_ID, LABEL_PART_OF, ParentRef, parent_resource};
use crate::cluster::Cluster;
use crate::meta::FIELD_MANAGER;
use crate::object::ObjectRef;

/// On an object in git: consent to move it from another ApplySet into this one.
pub const ANNOTATION_ADOPT: &str = "kubectl-gitops.io/adopt";

/// How an object comes into the set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Handover {
    /// Labelled as a member of another ApplySet; applying moves it into this one.
    #[serde(rename_all = "camelCase")]
    MovesFrom {
        /// The other set's id (`applyset.kubernetes.io/part-of` of the live object).
        applyset: String,
        /// The other set's parent, when the caller can see it.
        #[serde(skip_serializing_if = "Option::is_none")]
        parent: Option<ParentRef>,
        /// `--adopt` was given or the object in git carries the adopt annotation.
        consented: bool,
    },
    /// No ApplySet claims it and kubectl-gitops never wrote it: made by other tooling, adopted
    /// by this apply.
    Adopts {
        /// The field managers that wrote it (`helm`, `kubectl-client-side-apply`, ...).
        managers: Vec<String>,
    },
}

impl std::fmt::Display for Handover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Handover::MovesFrom {
                applyset,
                parent,
                consented,
            } => {
                match parent {
                    Some(parent) => write!(f, "moves from ApplySet {parent}")?,
                    None => write!(f, "moves from ApplySet {applyset}")?,
                }
                if !consented {
                    write!(f, "; apply refuses without --adopt")?;
                }
                Ok(())
            }
            Handover::Adopts { managers } if managers.is_empty() => {
                write!(f, "adopted: made outside kubectl-gitops")
            }
            Handover::Adopts { managers } => {
                write!(f, "adopted from {}", managers.join(", "))
            }
        }
    }
}

/// How `desired` comes into the set whose members carry one of `own_ids`, given its `live`
/// copy (with managed fields). `None` for a new object or one already ours.
pub fn detect(
    live: Option<&Value>,
    desired: &Value,
    own_ids: &[String],
    adopt: bool,
) -> Option<Handover> {
    let live = live?;
    let metadata = &live["metadata"];
    match metadata["labels"][LABEL_PART_OF].as_str() {
        Some(id) if own_ids.iter().any(|own| own == id) => None,
        Some(id) if !id.is_empty() => Some(Handover::MovesFrom {
            applyset: id.to_string(),
            parent: None,
            consented: adopt
                || desired["metadata"]["annotations"][ANNOTATION_ADOPT].as_str() == Some("true"),
        }),
        _ => {
            let entries = metadata["managedFields"].as_array();
            let mut managers: Vec<String> = entries
                .into_iter()
                .flatten()
                .filter_map(|m| m["manager"].as_str())
                .map(str::to_string)
                .collect();
            if managers.iter().any(|m| m == FIELD_MANAGER) {
                return None;
            }
            managers.sort();
            managers.dedup();
            Some(Handover::Adopts { managers })
        }
    }
}

/// Moves the user did not consent to, which apply and the reconciler refuse as a whole.
///
/// Said as a headline and a list, one object a line, grouped by the set each comes from and
/// cut after [`LISTED_PER_SET`] a set with a count: a refusal of hundreds of objects stays
/// readable, on a terminal as in a pull request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.text())]
pub struct MovesRefused {
    /// Each object, with the set it comes from (`from ApplySet X`).
    pub moves: Vec<(ObjectRef, String)>,
}

/// How many objects of one set a refusal lists before it counts the rest.
pub const LISTED_PER_SET: usize = 10;

impl MovesRefused {
    /// The sentence above the list.
    pub fn headline(&self) -> String {
        let n = self.moves.len();
        let one = n == 1;
        format!(
            "{n} {} to another ApplySet and would move into this one; refusing to take {} over \
             without consent (pass --adopt, or annotate {} in git with {ANNOTATION_ADOPT}: \"true\")",
            if one {
                "object belongs"
            } else {
                "objects belong"
            },
            if one { "it" } else { "them" },
            if one { "it" } else { "each" },
        )
    }

    /// The objects by the set they come from, in the order the plan has them.
    pub fn groups(&self) -> Vec<(&str, Vec<&ObjectRef>)> {
        let mut groups: Vec<(&str, Vec<&ObjectRef>)> = Vec::new();
        for (object, from) in &self.moves {
            match groups.iter_mut().find(|(f, _)| *f == from.as_str()) {
                Some((_, objects)) => objects.push(object),
                None => groups.push((from.as_str(), vec![object])),
            }
        }
        groups
    }

    /// For a terminal, a log or a status: the headline, then a line per set and per object.
    pub fn text(&self) -> String {
        let mut out = format!("{}:", self.headline());
        for (from, objects) in self.groups() {
            out.push_str(&format!("\n  {from} ({}):", objects.len()));
            for object in objects.iter().take(LISTED_PER_SET) {
                out.push_str(&format!("\n    {object}"));
            }
            if objects.len() > LISTED_PER_SET {
                out.push_str(&format!(
                    "\n    ... and {} more",
                    objects.len() - LISTED_PER_SET
                ));
            }
        }
        out
    }

    /// For a pull request: the headline, then a bullet per set with the objects beneath it.
    pub fn markdown(&self) -> String {
        let mut out = format!("{}:\n", self.headline());
        for (from, objects) in self.groups() {
            out.push_str(&format!("\n- {from} ({}):\n", objects.len()));
            for object in objects.iter().take(LISTED_PER_SET) {
                out.push_str(&format!("  - `{object}`\n"));
            }
            if objects.len() > LISTED_PER_SET {
                out.push_str(&format!(
                    "  - ... and {} more\n",
                    objects.len() - LISTED_PER_SET
                ));
            }
        }
        out
    }
}

/// The parents of the sets in `wanted` (each set's id, with the namespace of an object that
/// moves from it), where the caller can see them: one LIST per set, cluster-wide or else in
/// that namespace. A parent that cannot be found is left out.
pub async fn find_parents(
    cluster: &Cluster,
    wanted: BTreeMap<String, Option<String>>,
) -> BTreeMap<String, ParentRef> {
    let mut named: BTreeMap<String, ParentRef> = BTreeMap::new();
    for (id, namespace) in wanted {
        let mut scopes = vec![None];
        if namespace.is_some() {
            scopes.push(namespace);
        }
        for scope in scopes {
            if let Some(parent) = find_parent(cluster, &id, scope.as_deref()).await {
                named.insert(id.clone(), parent);
                break;
            }
        }
    }
    named
}

async fn find_parent(cluster: &Cluster, id: &str, namespace: Option<&str>) -> Option<ParentRef> {
    let request = Request::new(DynamicObject::url_path(&parent_resource(), namespace))
        .list(&ListParams::default().labels(&format!("{LABEL_ID}={id}")))
        .ok()?;
    let answer: Value = cluster.send(request).await.ok()?;
    let item = answer["items"].as_array()?.first()?;
    Some(ParentRef {
        name: item["metadata"]["name"].as_str()?.to_string(),
        namespace: item["metadata"]["namespace"].as_str()?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    fn refusal(sets: &[(&str, usize)]) -> MovesRefused {
        MovesRefused {
            moves: sets
                .iter()
                .flat_map(|(set, n)| {
                    (0..*n).map(move |i| {
                        (
                            ObjectRef::new(
                                "v1",
                                "ConfigMap",
                                Some("web".into()),
                                format!("cm-{i}"),
                            ),
                            format!("from ApplySet {set}"),
                        )
                    })
                })
                .collect(),
        }
    }

    #[test]
    fn a_long_refusal_lists_one_object_a_line_grouped_by_set_and_cut_with_a_count() {
        let refused = refusal(&[("web/old", 20), ("web/other", 3)]);
        let text = refused.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("23 objects belong to another ApplySet"),
            "{text}"
        );
        assert_eq!(lines[1], "  from ApplySet web/old (20):");
        assert_eq!(lines[2], "    ConfigMap/web/cm-0");
        assert_eq!(lines[12], "    ... and 10 more");
        assert_eq!(lines[13], "  from ApplySet web/other (3):");
        assert_eq!(lines.len(), 17, "{text}");
        assert!(lines.iter().all(|l| l.len() < 200), "{text}");

        let markdown = refused.markdown();
        assert!(
            markdown.contains("\n- from ApplySet web/old (20):\n  - `ConfigMap/web/cm-0`\n"),
            "{markdown}"
        );
        assert!(markdown.contains("  - ... and 10 more\n"), "{markdown}");
        assert!(
            markdown.contains("\n- from ApplySet web/other (3):\n"),
            "{markdown}"
        );
    }

    #[test]
    fn a_single_move_is_said_in_the_singular() {
        let text = refusal(&[("a", 1)]).to_string();
        assert!(
            text.starts_with("1 object belongs to another ApplySet"),
            "{text}"
        );
        assert!(text.contains("annotate it in git"), "{text}");
        assert_eq!(text.lines().count(), 3, "{text}");
    }

    use super::*;

    fn live(labels: Value, managers: &[&str]) -> Value {
        let fields: Vec<Value> = managers.iter().map(|m| json!({"manager": m})).collect();
        json!({"metadata": {"name": "x", "labels": labels, "managedFields": fields}})
    }

    #[test]
    fn a_member_of_another_set_moves_only_with_consent() {
        let own = ["applyset-mine-v1".to_string()];
        let other = live(
            json!({LABEL_PART_OF: "applyset-theirs-v1"}),
            &["kubectl-gitops"],
        );
        let plain = json!({"metadata": {"name": "x"}});
        assert_eq!(
            detect(Some(&other), &plain, &own, false),
            Some(Handover::MovesFrom {
                applyset: "applyset-theirs-v1".into(),
                parent: None,
                consented: false
            })
        );
        let annotated =
            json!({"metadata": {"name": "x", "annotations": {ANNOTATION_ADOPT: "true"}}});
        assert!(matches!(
            detect(Some(&other), &annotated, &own, false),
            Some(Handover::MovesFrom {
                consented: true,
                ..
            })
        ));
        assert!(matches!(
            detect(Some(&other), &plain, &own, true),
            Some(Handover::MovesFrom {
                consented: true,
                ..
            })
        ));
    }

    #[test]
    fn our_own_members_and_new_objects_do_not_change_hands() {
        let own = [
            "applyset-mine-v1".to_string(),
            "applyset-legacy-v1".to_string(),
        ];
        let desired = json!({});
        for label in ["applyset-mine-v1", "applyset-legacy-v1"] {
            let ours = live(json!({LABEL_PART_OF: label}), &["kubectl-gitops"]);
            assert_eq!(detect(Some(&ours), &desired, &own, false), None);
        }
        assert_eq!(detect(None, &desired, &own, false), None);
        let unlabelled_but_ours = live(json!({}), &["kubectl-gitops", "kubectl-edit"]);
        assert_eq!(
            detect(Some(&unlabelled_but_ours), &desired, &own, false),
            None
        );
    }

    #[test]
    fn objects_other_tooling_made_are_adopted_and_say_by_whom() {
        let helm = live(
            json!({"app.kubernetes.io/managed-by": "Helm"}),
            &["helm", "helm"],
        );
        let found = detect(Some(&helm), &json!({}), &[], false);
        assert_eq!(
            found,
            Some(Handover::Adopts {
                managers: vec!["helm".into()]
            })
        );
        assert_eq!(found.unwrap().to_string(), "adopted from helm");
    }
}
