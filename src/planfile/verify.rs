//! Does a fresh plan still say what the plan file says? Every difference is a [`Mismatch`]
//! naming the object (or the part of the plan) and what moved.

use std::collections::BTreeMap;
use std::fmt;

use super::{PlanFile, PlannedObject};
use crate::object::ObjectRef;
use crate::ssa::Action;

/// One reason the plan file no longer describes what applying would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The object concerned; none for the plan as a whole (another cluster, another set).
    pub object: Option<ObjectRef>,
    pub reason: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.object {
            Some(object) => write!(f, "{object}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// Compares the plan file with `fresh`, the record of the plan made just now with the file's
/// settings. Empty when applying `fresh` does exactly what the file says.
///
/// An object the plan leaves unchanged may have a newer resourceVersion (a controller wrote its
/// status): nothing is written to it, and the fresh plan still finds it unchanged. Any object
/// the plan writes must be the very one planned (uid) in the very version (resourceVersion).
pub fn verify(file: &PlanFile, fresh: &PlanFile) -> Vec<Mismatch> {
    let mut found = Vec::new();
    let whole = |reason: String| Mismatch {
        object: None,
        reason,
    };
    if file.cluster.server != fresh.cluster.server {
        found.push(whole(format!(
            "the plan was made against {} (context {:?}), not {}",
            file.cluster.server, file.cluster.context, fresh.cluster.server
        )));
    }
    if (&file.apply_set.name, &file.apply_set.namespace)
        != (&fresh.apply_set.name, &fresh.apply_set.namespace)
    {
        found.push(whole(format!(
            "the plan is for ApplySet {}/{}, this is {}/{} (check PATH, -n and --applyset)",
            file.apply_set.namespace,
            file.apply_set.name,
            fresh.apply_set.namespace,
            fresh.apply_set.name
        )));
    }
    if !found.is_empty() {
        return found;
    }

    let key = |o: &PlannedObject| o.object.identity();
    let fresh_objects: BTreeMap<_, &PlannedObject> =
        fresh.objects.iter().map(|o| (key(o), o)).collect();
    let planned: BTreeMap<_, &PlannedObject> = file.objects.iter().map(|o| (key(o), o)).collect();
    for was in &file.objects {
        let mismatch = |reason: String| Mismatch {
            object: Some(was.object.clone()),
            reason,
        };
        let Some(now) = fresh_objects.get(&key(was)) else {
            found.push(mismatch(format!(
                "planned to {}, but it is no longer in the plan",
                verb(was.action)
            )));
            continue;
        };
        if now.action != was.action {
            found.push(mismatch(format!(
                "planned to {}, but now it would {}",
                verb(was.action),
                verb(now.action)
            )));
            continue;
        }
        if now.body_digest != was.body_digest {
            found.push(mismatch(
                "its render changed since the plan was made (the body to apply has another \
                 digest)"
                    .to_string(),
            ));
        }
        if now.uid != was.uid {
            found.push(mismatch(format!(
                "it was deleted and recreated since the plan was made (uid {}, now {})",
                was.uid.as_deref().unwrap_or("none"),
                now.uid.as_deref().unwrap_or("none")
            )));
        } else if was.action != Action::Unchanged && now.resource_version != was.resource_version {
            found.push(mismatch(format!(
                "it was changed in the cluster since the plan was made (resourceVersion {}, \
                 now {})",
                was.resource_version.as_deref().unwrap_or("none"),
                now.resource_version.as_deref().unwrap_or("none")
            )));
        }
    }
    for now in &fresh.objects {
        if !planned.contains_key(&key(now)) {
            found.push(Mismatch {
                object: Some(now.object.clone()),
                reason: format!(
                    "it would now {}, but the plan does not have it",
                    verb(now.action)
                ),
            });
        }
    }
    if found.is_empty() && fresh.source.content_digest != file.source.content_digest {
        // Every planned object is the same, yet the render is not (an object that failed to
        // plan before, or a reordering): still not the plan that was reviewed.
        found.push(whole(format!(
            "the render of {} changed since the plan was made",
            display_path(&file.source.path)
        )));
    }
    found
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "." } else { path }
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "create it",
        Action::Update => "update it",
        Action::Prune => "prune it",
        Action::Unchanged => "leave it unchanged",
        Action::Conflict => "conflict",
        Action::Run => "run it",
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ClusterRecord, Counts, SetRecord, Settings, SourceRecord};
    use super::*;

    fn object(action: Action, name: &str, rv: Option<&str>, body: Option<&str>) -> PlannedObject {
        PlannedObject {
            action,
            object: ObjectRef::new("v1", "ConfigMap", Some("web".into()), name),
            origin: None,
            uid: rv.map(|_| format!("uid-{name}")),
            resource_version: rv.map(str::to_string),
            body_digest: body.map(str::to_string),
        }
    }

    fn file(objects: Vec<PlannedObject>) -> PlanFile {
        let mut file = PlanFile {
            kind: super::super::KIND.into(),
            format_version: 1,
            digest: String::new(),
            generator: String::new(),
            source: SourceRecord {
                path: "deploy".into(),
                reference: None,
                revision: None,
                working_tree: true,
                content_digest: "sha256:c".into(),
            },
            cluster: ClusterRecord {
                context: "test".into(),
                server: "https://127.0.0.1:6443".into(),
            },
            apply_set: SetRecord {
                name: "gitops-x".into(),
                namespace: "web".into(),
                id: "applyset-x-v1".into(),
                repository: None,
                path: None,
                target_namespace: None,
            },
            settings: Settings::default(),
            summary: Counts::default(),
            objects,
        };
        file.digest = file.compute_digest();
        file
    }

    #[test]
    fn the_same_plan_verifies() {
        let planned = file(vec![
            object(Action::Create, "new", None, Some("d1")),
            object(Action::Update, "edit", Some("7"), Some("d2")),
            object(Action::Prune, "old", Some("9"), None),
        ]);
        assert_eq!(verify(&planned, &planned.clone()), vec![]);
    }

    #[test]
    fn a_live_edit_of_a_written_object_is_named() {
        let planned = file(vec![object(Action::Update, "edit", Some("7"), Some("d2"))]);
        let fresh = file(vec![object(Action::Update, "edit", Some("8"), Some("d2"))]);
        let found = verify(&planned, &fresh);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].to_string(),
            "ConfigMap/web/edit: it was changed in the cluster since the plan was made \
             (resourceVersion 7, now 8)"
        );
    }

    #[test]
    fn a_status_write_to_an_unchanged_object_does_not_invalidate_the_plan() {
        let planned = file(vec![object(
            Action::Unchanged,
            "same",
            Some("7"),
            Some("d"),
        )]);
        let fresh = file(vec![object(
            Action::Unchanged,
            "same",
            Some("8"),
            Some("d"),
        )]);
        assert_eq!(verify(&planned, &fresh), vec![]);
    }

    #[test]
    fn a_changed_render_new_and_vanished_objects_and_other_actions_are_named() {
        let planned = file(vec![
            object(Action::Update, "a", Some("1"), Some("d1")),
            object(Action::Create, "b", None, Some("d2")),
            object(Action::Prune, "c", Some("3"), None),
        ]);
        let fresh = file(vec![
            object(Action::Update, "a", Some("1"), Some("other")),
            object(Action::Update, "c", Some("3"), Some("d3")),
            object(Action::Create, "d", None, Some("d4")),
        ]);
        let found: Vec<String> = verify(&planned, &fresh)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "ConfigMap/web/a: its render changed since the plan was made (the body to \
                 apply has another digest)",
                "ConfigMap/web/b: planned to create it, but it is no longer in the plan",
                "ConfigMap/web/c: planned to prune it, but now it would update it",
                "ConfigMap/web/d: it would now create it, but the plan does not have it",
            ]
        );
    }

    #[test]
    fn another_cluster_is_refused_as_a_whole() {
        let planned = file(vec![object(Action::Create, "b", None, Some("d2"))]);
        let mut fresh = planned.clone();
        fresh.cluster.server = "https://prod:6443".into();
        let found = verify(&planned, &fresh);
        assert_eq!(found.len(), 1);
        assert!(found[0].object.is_none());
        assert!(found[0].reason.contains("not https://prod:6443"));
    }

    #[test]
    fn an_edited_file_no_longer_matches_its_digest() {
        let mut planned = file(vec![object(Action::Create, "b", None, Some("d2"))]);
        let digest = planned.digest.clone();
        assert_eq!(planned.compute_digest(), digest);
        planned.objects[0].action = Action::Unchanged;
        assert_ne!(planned.compute_digest(), digest);
        assert!(planned.has_digest(&digest));
        assert!(planned.has_digest(digest.trim_start_matches("sha256:")));
    }
}
