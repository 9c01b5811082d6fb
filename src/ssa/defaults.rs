//! Which fields of a created object git sets and which the server filled in. The dry-run's
//! `managedFields` say it: our field manager's Apply entry lists every field we sent; every
//! other field of the answer was defaulted (or set by admission). Reports fold the defaulted
//! ones of a create so a reviewer reads what the repository says.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::object::ObjectRef;

/// The fields of a created object that the server set and git did not, as leaf paths into the
/// plan's (normalised) `after`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Defaulted {
    pub object: ObjectRef,
    pub fields: Vec<FieldPath>,
}

/// A path to a value: field names and list positions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath(pub Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Field(String),
    Index(usize),
}

impl fmt::Display for FieldPath {
    /// `spec.template.spec.containers[0].imagePullPolicy`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Field(name) if i == 0 => write!(f, "{name}")?,
                Segment::Field(name) => write!(f, ".{name}")?,
                Segment::Index(at) => write!(f, "[{at}]")?,
            }
        }
        Ok(())
    }
}

impl Serialize for FieldPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Fields every object is sent with, whatever the managed fields say (they are identity, not
/// content, and are never listed there).
const IDENTITY: &[&[&str]] = &[
    &["apiVersion"],
    &["kind"],
    &["metadata", "name"],
    &["metadata", "namespace"],
    &["metadata", "generateName"],
];

/// The leaf fields of `shown` (the normalised dry-run answer) that `manager`'s Apply entry in
/// `answer`'s managed fields does not own, in document order. `None` when the answer carries
/// no such entry: then nothing is known and nothing may be folded.
pub(super) fn defaulted_fields(
    answer: &Value,
    shown: &Value,
    manager: &str,
) -> Option<Vec<FieldPath>> {
    let owned = owned_fields(answer, manager)?;
    let mut found = Vec::new();
    walk(shown, Some(owned), &mut Vec::new(), &mut found);
    found.retain(|path| !is_identity(path) && !from_string_data(answer, owned, path));
    Some(found)
}

/// A Secret's `data.K` that the server wrote from the `stringData.K` we sent: git's value,
/// moved (the server never keeps `stringData`), not a default. Folding it would hide every
/// key of a Secret written with `stringData` from the review of its create.
fn from_string_data(answer: &Value, owned: &Map<String, Value>, path: &FieldPath) -> bool {
    let is_secret = answer.get("kind").and_then(Value::as_str) == Some("Secret")
        && answer.get("apiVersion").and_then(Value::as_str) == Some("v1");
    match path.0.as_slice() {
        [Segment::Field(data), Segment::Field(key)] if is_secret && data == "data" => owned
            .get("f:stringData")
            .and_then(Value::as_object)
            .is_some_and(|fields| fields.contains_key(&format!("f:{key}"))),
        _ => false,
    }
}

/// `fieldsV1` of the manager's Apply entry for the main resource (not a subresource).
fn owned_fields<'a>(answer: &'a Value, manager: &str) -> Option<&'a Map<String, Value>> {
    let entries = answer.get("metadata")?.get("managedFields")?.as_array()?;
    entries
        .iter()
        .find(|entry| {
            entry.get("manager").and_then(Value::as_str) == Some(manager)
                && entry.get("operation").and_then(Value::as_str) == Some("Apply")
                && entry
                    .get("subresource")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
        })?
        .get("fieldsV1")?
        .as_object()
}

/// Adds to `found` every leaf under `value` that `owned` does not cover. `owned` is the
/// `fieldsV1` node for `value`: `None` when no field here is ours, an empty map when the whole
/// value is ours (a leaf, or an atomic map or list).
fn walk(
    value: &Value,
    owned: Option<&Map<String, Value>>,
    path: &mut Vec<Segment>,
    found: &mut Vec<FieldPath>,
) {
    if owned.is_some_and(Map::is_empty) {
        return;
    }
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let child_owned = owned
                    .and_then(|o| o.get(&format!("f:{key}")))
                    .and_then(Value::as_object);
                path.push(Segment::Field(key.clone()));
                walk(child, child_owned, path, found);
                path.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (at, item) in items.iter().enumerate() {
                let item_owned = owned.and_then(|o| owned_item(o, item, at));
                path.push(Segment::Index(at));
                walk(item, item_owned, path, found);
                path.pop();
            }
        }
        // A scalar, or an empty map or list: ours if any entry names it.
        _ => {
            if owned.is_none() {
                found.push(FieldPath(path.clone()));
            }
        }
    }
}

/// The `fieldsV1` node of one list item: by its key fields (`k:{"name":"web"}`), its value
/// (`v:"a"`, for sets) or its position (`i:0`).
fn owned_item<'a>(
    owned: &'a Map<String, Value>,
    item: &Value,
    at: usize,
) -> Option<&'a Map<String, Value>> {
    owned.iter().find_map(|(key, node)| {
        let matches = if let Some(keys) = key.strip_prefix("k:") {
            serde_json::from_str::<Map<String, Value>>(keys)
                .is_ok_and(|keys| keys.iter().all(|(k, v)| item.get(k) == Some(v)))
        } else if let Some(value) = key.strip_prefix("v:") {
            serde_json::from_str::<Value>(value).is_ok_and(|v| &v == item)
        } else if let Some(index) = key.strip_prefix("i:") {
            index.parse::<usize>() == Ok(at)
        } else {
            false
        };
        matches.then(|| node.as_object()).flatten()
    })
}

fn is_identity(path: &FieldPath) -> bool {
    IDENTITY.iter().any(|fixed| {
        fixed.len() == path.0.len()
            && fixed
                .iter()
                .zip(&path.0)
                .all(|(name, segment)| matches!(segment, Segment::Field(f) if f == name))
    })
}

/// `value` without the `hidden` leaves; a map or list left empty by their removal goes too
/// (one that was empty already stays, it was written so).
pub fn without(value: &Value, hidden: &[FieldPath]) -> Value {
    let hidden: std::collections::HashSet<&FieldPath> = hidden.iter().collect();
    prune(value, &hidden, &mut Vec::new()).unwrap_or(Value::Null)
}

fn prune(
    value: &Value,
    hidden: &std::collections::HashSet<&FieldPath>,
    path: &mut Vec<Segment>,
) -> Option<Value> {
    let leaf = match value {
        Value::Object(map) if !map.is_empty() => false,
        Value::Array(items) if !items.is_empty() => false,
        _ => true,
    };
    if leaf {
        let current = FieldPath(path.clone());
        return (!hidden.contains(&current)).then(|| value.clone());
    }
    match value {
        Value::Object(map) => {
            let mut kept = Map::new();
            for (key, child) in map {
                path.push(Segment::Field(key.clone()));
                if let Some(child) = prune(child, hidden, path) {
                    kept.insert(key.clone(), child);
                }
                path.pop();
            }
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        Value::Array(items) => {
            let mut kept = Vec::new();
            for (at, item) in items.iter().enumerate() {
                path.push(Segment::Index(at));
                if let Some(item) = prune(item, hidden, path) {
                    kept.push(item);
                }
                path.pop();
            }
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        _ => Some(value.clone()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A created Deployment as the dry-run answers it (trimmed), with our Apply entry.
    fn answer() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "shop", "labels": {"app": "web"},
                "managedFields": [
                    {"manager": "kube-controller-manager", "operation": "Update",
                     "fieldsV1": {"f:spec": {"f:replicas": {}}}},
                    {"manager": "kubectl-gitops", "operation": "Apply", "fieldsType": "FieldsV1",
                     "fieldsV1": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {
                            "f:selector": {},
                            "f:template": {
                                "f:metadata": {"f:labels": {"f:app": {}}},
                                "f:spec": {"f:containers": {
                                    "k:{\"name\":\"web\"}": {
                                        ".": {}, "f:name": {}, "f:image": {},
                                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                            ".": {}, "f:containerPort": {}}}
                                    }
                                }}
                            }
                        }
                     }}
                ]
            },
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate",
                             "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{
                            "name": "web", "image": "nginx",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "resources": {},
                            "terminationMessagePath": "/dev/termination-log"
                        }],
                        "dnsPolicy": "ClusterFirst"
                    }
                }
            }
        })
    }

    fn paths(found: &[FieldPath]) -> Vec<String> {
        found.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn fields_outside_our_apply_entry_are_defaulted() {
        let answer = answer();
        let mut shown = answer.clone();
        crate::ssa::normalize(&mut shown);
        let found = defaulted_fields(&answer, &shown, "kubectl-gitops").unwrap();
        assert_eq!(
            paths(&found),
            [
                "spec.replicas",
                "spec.strategy.type",
                "spec.strategy.rollingUpdate.maxSurge",
                "spec.strategy.rollingUpdate.maxUnavailable",
                "spec.template.spec.containers[0].ports[0].protocol",
                "spec.template.spec.containers[0].resources",
                "spec.template.spec.containers[0].terminationMessagePath",
                "spec.template.spec.dnsPolicy",
            ]
        );
    }

    #[test]
    fn a_secret_key_sent_as_string_data_is_gits_not_a_default() {
        let answer = json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "db", "managedFields": [
                {"manager": "kubectl-gitops", "operation": "Apply",
                 "fieldsV1": {"f:stringData": {"f:password": {}}}}]},
            "data": {"password": "aHVudGVyMg==", "injected": "eA=="}
        });
        let mut shown = answer.clone();
        crate::ssa::normalize(&mut shown);
        let found = defaulted_fields(&answer, &shown, "kubectl-gitops").unwrap();
        assert_eq!(paths(&found), ["type", "data.injected"]);
    }

    #[test]
    fn without_our_apply_entry_nothing_is_known() {
        let shown = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
        assert_eq!(defaulted_fields(&shown, &shown, "kubectl-gitops"), None);
    }

    #[test]
    fn folding_keeps_what_git_wrote_and_empties_what_only_held_defaults() {
        let answer = answer();
        let mut shown = answer.clone();
        crate::ssa::normalize(&mut shown);
        let found = defaulted_fields(&answer, &shown, "kubectl-gitops").unwrap();
        assert_eq!(
            without(&shown, &found),
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
                "spec": {
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{
                            "name": "web", "image": "nginx",
                            "ports": [{"containerPort": 80}]
                        }]}
                    }
                }
            })
        );
        // An empty map the user wrote is not folded away.
        let written = json!({"data": {}, "kind": "ConfigMap"});
        assert_eq!(without(&written, &[]), written);
    }
}
