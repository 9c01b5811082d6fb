//! Report-only drift (`--drift report`): which planned changes only put back what was changed
//! in the cluster, which fields they touch, and holding them back from the apply.

use std::fmt;

use serde_json::Value;

use crate::object::ObjectRef;
use crate::ssa::{Action, Cause, Planned};

/// At most this many fields are named per object.
const FIELDS_SHOWN: usize = 20;

/// An object that differs from git and is left as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drifted {
    pub object: ObjectRef,
    /// JSON pointers of the fields that differ (the first few); empty when the object is
    /// missing.
    pub fields: Vec<String>,
    /// The object was deleted from the cluster.
    pub missing: bool,
}

impl fmt::Display for Drifted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.missing {
            return write!(f, "{}: deleted from the cluster", self.object);
        }
        write!(f, "{}: {}", self.object, self.fields.join(", "))
    }
}

/// Takes the drift out of `planned`, so executing it applies only what git changed, and
/// returns it. `all_drift` says the plan is of the revision already applied, so every create
/// and update in it puts back a change made in the cluster; otherwise the changes `classify`
/// marked [`Cause::Drift`] against that revision are. Prunes are never drift: only git removes
/// an object from the set.
pub fn hold_back(planned: &mut Planned, all_drift: bool) -> Vec<Drifted> {
    let mut drifted = Vec::new();
    for (at, change) in planned.plan.changes.iter_mut().enumerate() {
        let is_drift = matches!(change.action, Action::Create | Action::Update)
            && (all_drift || change.cause == Some(Cause::Drift));
        let Some(work) = planned
            .work
            .get_mut(at)
            .filter(|w| w.object == change.object)
        else {
            continue;
        };
        if !is_drift {
            continue;
        }
        drifted.push(Drifted {
            object: change.object.clone(),
            fields: changed_fields(change.before.as_ref(), change.after.as_ref()),
            missing: change.before.is_none(),
        });
        change.action = Action::Unchanged;
        work.action = Action::Unchanged;
    }
    drifted
}

/// The JSON pointers at which `before` and `after` differ, leaves first found, at most
/// [`FIELDS_SHOWN`] (plus a count of the rest).
pub fn changed_fields(before: Option<&Value>, after: Option<&Value>) -> Vec<String> {
    let mut found = Vec::new();
    if let (Some(before), Some(after)) = (before, after) {
        walk(before, after, &mut String::new(), &mut found);
    }
    if found.len() > FIELDS_SHOWN {
        let more = found.len() - FIELDS_SHOWN;
        found.truncate(FIELDS_SHOWN);
        found.push(format!("and {more} more"));
    }
    found
}

fn walk(before: &Value, after: &Value, at: &mut String, found: &mut Vec<String>) {
    if before == after {
        return;
    }
    let mut descend = |key: &str, b: &Value, a: &Value, found: &mut Vec<String>| {
        let len = at.len();
        at.push('/');
        at.push_str(&key.replace('~', "~0").replace('/', "~1"));
        walk(b, a, at, found);
        at.truncate(len);
    };
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (key, value) in a {
                descend(key, b.get(key).unwrap_or(&Value::Null), value, found);
            }
            for (key, value) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                descend(key, value, &Value::Null, found);
            }
        }
        (Value::Array(b), Value::Array(a)) if a.len() == b.len() => {
            for (i, (b, a)) in b.iter().zip(a).enumerate() {
                descend(&i.to_string(), b, a, found);
            }
        }
        _ => found.push(if at.is_empty() {
            "/".into()
        } else {
            at.clone()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_fields_name_each_differing_leaf() {
        let before = json!({"data": {"v": "edited", "gone": "x"}, "spec": {"args": ["--a"], "n": 1},
                            "metadata": {"labels": {"a/b": "1"}}});
        let after = json!({"data": {"v": "1", "new": "y"}, "spec": {"args": ["--a", "--b"], "n": 1},
                           "metadata": {"labels": {"a/b": "2"}}});
        assert_eq!(
            changed_fields(Some(&before), Some(&after)),
            [
                "/data/v",
                "/data/new",
                "/data/gone",
                "/spec/args",
                "/metadata/labels/a~1b"
            ]
        );
        assert!(changed_fields(Some(&before), Some(&before)).is_empty());
    }

    #[test]
    fn many_fields_are_cut_with_a_count() {
        let before: serde_json::Map<String, Value> =
            (0..30).map(|i| (format!("k{i}"), json!(i))).collect();
        let fields = changed_fields(Some(&Value::Object(before)), Some(&json!({})));
        assert_eq!(fields.len(), FIELDS_SHOWN + 1);
        assert_eq!(fields.last().unwrap(), "and 10 more");
    }

    #[test]
    fn a_drifted_object_reads_as_its_name_and_fields() {
        let object = ObjectRef::new("v1", "ConfigMap", Some("web".into()), "a");
        let edited = Drifted {
            object: object.clone(),
            fields: vec!["/data/v".into()],
            missing: false,
        };
        assert_eq!(edited.to_string(), "ConfigMap/web/a: /data/v");
        let deleted = Drifted {
            object,
            fields: vec![],
            missing: true,
        };
        assert_eq!(
            deleted.to_string(),
            "ConfigMap/web/a: deleted from the cluster"
        );
    }
}
