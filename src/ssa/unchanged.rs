//! Proving from the live object alone that applying a desired object would change nothing, so
//! the plan can skip its dry-run.
//!
//! In a steady state most objects are unchanged, and a dry-run each is most of a plan's cost
//! (and all of a reconciler's no-op cycle). A server-side apply by our field manager changes
//! the live object only by (a) setting a field we send to a different value, (b) taking back a
//! field another manager owns now (an atomic map or list someone patched moves to them as a
//! whole, so their extra keys or items would go), or (c) removing a field we owned and no
//! longer send. So the apply is a no-op when every value we send is live and still ours, at
//! the granularity the server tracks it, and every field our manager owns (its
//! `managedFields` entry) is still sent.
//!
//! Granularity comes from the server itself: our field set is computed with the resource's
//! schema, so a node with children there is granular (a map of fields, a keyed list, a set)
//! and a node without children is owned whole (a scalar, an atomic map or list). A node we
//! own whole must be live exactly as we send it. The proof is deliberately narrow: anything
//! it cannot reason about (no entry of ours, another apiVersion, `null`s, lists of another
//! length, a sent field our entry does not own, an unknown field-set key) falls back to the
//! dry-run, which is always right. It can only turn "ask the server" into "unchanged" when the
//! server's answer would have been "unchanged" too.

use serde_json::{Map, Value};

/// Fields that name the object; the server never records them in a field set.
const IDENTITY_FIELDS: &[&str] = &["apiVersion", "kind"];
const IDENTITY_METADATA: &[&str] = &["name", "namespace"];

/// True when applying `desired` with field manager `manager` would leave `live` as it is.
pub fn proven(desired: &Value, live: &Value, manager: &str) -> bool {
    let (Some(desired_map), Some(live_map)) = (desired.as_object(), live.as_object()) else {
        return false;
    };
    let Some(owned) = applied_fields(live, manager, desired["apiVersion"].as_str()) else {
        return false;
    };
    let sent = without_identity(desired_map);
    sent.iter().all(
        |(key, value)| match (live_map.get(key), owned.get(&format!("f:{key}"))) {
            (Some(live), Some(Value::Object(node))) => sent_is_live_and_ours(value, live, node),
            _ => false,
        },
    ) && still_sent(desired, owned)
}

/// The body without what only names the object (apiVersion, kind, metadata.name/namespace).
fn without_identity(desired: &Map<String, Value>) -> Map<String, Value> {
    let mut sent = desired.clone();
    for key in IDENTITY_FIELDS {
        sent.shift_remove(*key);
    }
    if let Some(Value::Object(metadata)) = sent.get_mut("metadata") {
        for key in IDENTITY_METADATA {
            metadata.shift_remove(*key);
        }
        if metadata.is_empty() {
            sent.shift_remove("metadata");
        }
    }
    sent
}

/// Our manager's field set from its last apply, when it was made with the same apiVersion.
fn applied_fields<'a>(
    live: &'a Value,
    manager: &str,
    api_version: Option<&str>,
) -> Option<&'a Map<String, Value>> {
    let entries = live["metadata"]["managedFields"].as_array()?;
    let mut ours = entries.iter().filter(|e| {
        e["manager"] == manager
            && e["operation"] == "Apply"
            && e["subresource"].as_str().unwrap_or_default().is_empty()
    });
    let entry = ours.next()?;
    if ours.next().is_some()
        || entry["fieldsType"] != "FieldsV1"
        || entry["apiVersion"].as_str() != api_version
    {
        return None;
    }
    entry["fieldsV1"].as_object()
}

/// `desired` (sent at a node our field set holds as `owned`) is live and ours: a node owned
/// whole is live exactly as sent; a granular map's sent keys are each ours and live; a
/// granular list has the same length live, and each item is ours and live in its place.
fn sent_is_live_and_ours(desired: &Value, live: &Value, owned: &Map<String, Value>) -> bool {
    let granular = owned.keys().any(|k| k != ".");
    match desired {
        // Sending null asks the server to remove the field: not provably a no-op.
        Value::Null => false,
        Value::Object(fields) if granular => {
            let Some(live) = live.as_object() else {
                return false;
            };
            fields.iter().all(|(key, value)| {
                match (live.get(key), owned.get(&format!("f:{key}"))) {
                    (Some(live), Some(Value::Object(node))) => {
                        sent_is_live_and_ours(value, live, node)
                    }
                    _ => false,
                }
            })
        }
        Value::Array(items) if granular => {
            let Some(live) = live.as_array() else {
                return false;
            };
            live.len() == items.len()
                && items
                    .iter()
                    .zip(live)
                    .enumerate()
                    .all(|(at, (item, live))| {
                        item_node(owned, item, at)
                            .is_some_and(|node| sent_is_live_and_ours(item, live, node))
                    })
        }
        // A scalar, or a map or list owned whole: the apply sets exactly what we send.
        _ => !granular && live == desired && !has_null(desired),
    }
}

/// Whether a value holds a `null` anywhere (a removal request inside an atomic value).
fn has_null(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.values().any(has_null),
        Value::Array(items) => items.iter().any(has_null),
        _ => false,
    }
}

/// The field-set node of a granular list's `item` at index `at`: by its key fields (`k:`), its
/// value (`v:`) or its index (`i:`).
fn item_node<'a>(
    owned: &'a Map<String, Value>,
    item: &Value,
    at: usize,
) -> Option<&'a Map<String, Value>> {
    owned.iter().find_map(|(key, node)| {
        let matched = if let Some(keys) = key.strip_prefix("k:") {
            match serde_json::from_str::<Value>(keys) {
                Ok(Value::Object(keys)) => keys.iter().all(|(k, v)| key_matches(item, k, v)),
                _ => false,
            }
        } else if let Some(value) = key.strip_prefix("v:") {
            serde_json::from_str::<Value>(value).is_ok_and(|v| v == *item)
        } else if let Some(index) = key.strip_prefix("i:") {
            index.parse::<usize>() == Ok(at)
        } else {
            false
        };
        if matched { node.as_object() } else { None }
    })
}

/// Every field in the field set `owned` (FieldsV1: `f:` fields, `k:` keyed list items, `v:`
/// set values, `i:` indexes, `.` the node itself) is still present in `desired`.
fn still_sent(desired: &Value, owned: &Map<String, Value>) -> bool {
    owned.iter().all(|(key, children)| {
        let Some(children) = children.as_object() else {
            return false;
        };
        let node = if key == "." {
            return true;
        } else if let Some(field) = key.strip_prefix("f:") {
            desired.get(field)
        } else if let Some(keys) = key.strip_prefix("k:") {
            let Ok(Value::Object(keys)) = serde_json::from_str::<Value>(keys) else {
                return false;
            };
            desired.as_array().and_then(|items| {
                items
                    .iter()
                    .find(|item| keys.iter().all(|(k, v)| key_matches(item, k, v)))
            })
        } else if let Some(value) = key.strip_prefix("v:") {
            let Ok(value) = serde_json::from_str::<Value>(value) else {
                return false;
            };
            desired
                .as_array()
                .and_then(|items| items.iter().find(|item| **item == value))
        } else if let Some(index) = key.strip_prefix("i:") {
            let Ok(index) = index.parse::<usize>() else {
                return false;
            };
            desired.as_array().and_then(|items| items.get(index))
        } else {
            return false;
        };
        node.is_some_and(|node| still_sent(node, children))
    })
}

/// Does `item` carry `value` in its key field `key`? Ports are keyed by port and protocol, and
/// manifests usually leave the protocol to its default, TCP, which the key then records.
fn key_matches(item: &Value, key: &str, value: &Value) -> bool {
    match item.get(key) {
        Some(found) => found == value,
        None => key == "protocol" && value == "TCP",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const US: &str = "kubectl-gitops";

    fn desired() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "template": {"spec": {"containers": [
                    {"name": "web", "image": "web:1", "ports": [{"containerPort": 80}]}
                ]}}
            }
        })
    }

    /// What the server holds after we applied `desired()`: defaults filled in, our entry in
    /// managedFields, another manager's field beside ours.
    fn live() -> Value {
        json!({
            "metadata": {
                "name": "web", "namespace": "shop", "uid": "1", "resourceVersion": "7",
                "labels": {"app": "web", "team": "blue"},
                "managedFields": [
                    {
                        "manager": US, "operation": "Apply", "apiVersion": "apps/v1",
                        "fieldsType": "FieldsV1",
                        "fieldsV1": {
                            "f:metadata": {"f:labels": {"f:app": {}}},
                            "f:spec": {
                                "f:replicas": {},
                                "f:template": {"f:spec": {"f:containers": {
                                    "k:{\"name\":\"web\"}": {
                                        ".": {}, "f:image": {}, "f:name": {},
                                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                            ".": {}, "f:containerPort": {}
                                        }}
                                    }
                                }}}
                            }
                        }
                    },
                    {
                        "manager": "kubectl-label", "operation": "Update", "apiVersion": "v1",
                        "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}}
                    }
                ]
            },
            "spec": {
                "replicas": 2,
                "revisionHistoryLimit": 10,
                "template": {"spec": {
                    "restartPolicy": "Always",
                    "containers": [{
                        "name": "web", "image": "web:1", "imagePullPolicy": "IfNotPresent",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}]
                    }]
                }}
            },
            "status": {"replicas": 2}
        })
    }

    #[test]
    fn what_we_applied_with_defaults_and_others_fields_beside_it_is_unchanged() {
        assert!(proven(&desired(), &live(), US));
    }

    #[test]
    fn a_value_someone_else_changed_needs_the_server() {
        let mut live = live();
        live["spec"]["replicas"] = json!(5);
        assert!(!proven(&desired(), &live, US));
        let mut live = self::live();
        live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:2");
        assert!(!proven(&desired(), &live, US));
    }

    #[test]
    fn a_field_we_owned_and_no_longer_send_needs_the_server() {
        let mut desired = desired();
        desired["metadata"]["labels"] = json!({});
        assert!(!proven(&desired, &live(), US), "the label would be removed");
        let mut desired = self::desired();
        desired["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("ports");
        assert!(!proven(&desired, &live(), US), "the port would be removed");
    }

    #[test]
    fn a_new_value_in_git_needs_the_server() {
        let mut desired = desired();
        desired["spec"]["replicas"] = json!(3);
        assert!(!proven(&desired, &live(), US));
        let mut desired = self::desired();
        desired["metadata"]["annotations"] = json!({"new": "yes"});
        assert!(!proven(&desired, &live(), US));
    }

    #[test]
    fn a_port_of_another_protocol_is_another_item() {
        let mut live = live();
        let ours = &mut live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]
            ["f:containers"]["k:{\"name\":\"web\"}"]["f:ports"];
        *ours = json!({"k:{\"containerPort\":80,\"protocol\":\"UDP\"}": {".": {}}});
        live["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = json!("UDP");
        assert!(
            !proven(&desired(), &live, US),
            "port 80 without a protocol is 80/TCP: the apply would replace 80/UDP"
        );
    }

    #[test]
    fn lists_must_match_in_length_not_just_contain() {
        let mut live = live();
        let sidecar = json!({"name": "proxy", "image": "proxy:1"});
        live["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(sidecar);
        assert!(!proven(&desired(), &live, US));
    }

    #[test]
    fn without_our_apply_entry_or_with_another_api_version_there_is_no_proof() {
        let mut live = live();
        live["metadata"]["managedFields"][0]["manager"] = json!("kubectl");
        assert!(!proven(&desired(), &live, US), "applied by someone else");
        let mut live = self::live();
        live["metadata"]["managedFields"][0]["apiVersion"] = json!("apps/v1beta2");
        assert!(!proven(&desired(), &live, US), "applied as another version");
        let mut live = self::live();
        live["metadata"]["managedFields"][0]["operation"] = json!("Update");
        assert!(!proven(&desired(), &live, US), "client-side, not an apply");
        let mut live = self::live();
        live["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        assert!(!proven(&desired(), &live, US));
    }

    #[test]
    fn nulls_and_unknown_field_set_keys_are_left_to_the_server() {
        let mut desired = desired();
        desired["spec"]["paused"] = Value::Null;
        assert!(!proven(&desired, &live(), US));
        let mut live = live();
        live["metadata"]["managedFields"][0]["fieldsV1"]["x:odd"] = json!({});
        assert!(!proven(&self::desired(), &live, US));
    }

    /// A Service as we applied it: `spec.selector` is an atomic map, `spec.ports` a keyed list,
    /// `spec.ipFamilies` an atomic list of scalars.
    fn service() -> (Value, Value) {
        let desired = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], "ipFamilies": ["IPv4"]}
        });
        let live = json!({
            "metadata": {"name": "web", "namespace": "shop", "managedFields": [{
                "manager": US, "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {
                    "f:selector": {},
                    "f:ipFamilies": {},
                    "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}}
                }}
            }]},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                "ipFamilies": ["IPv4"],
                "type": "ClusterIP"
            }
        });
        (desired, live)
    }

    #[test]
    fn a_service_as_applied_is_unchanged() {
        let (desired, live) = service();
        assert!(proven(&desired, &live, US));
    }

    #[test]
    fn an_atomic_map_someone_else_patched_needs_the_server() {
        let (desired, mut live) = service();
        // A merge patch adding a key moves the whole selector to the patching manager.
        live["spec"]["selector"]["tier"] = json!("x");
        let spec = live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]
            .as_object_mut()
            .unwrap();
        spec.shift_remove("f:selector");
        assert!(
            !proven(&desired, &live, US),
            "the apply takes the selector back"
        );
    }

    #[test]
    fn an_atomic_value_owned_whole_must_be_live_exactly_as_sent() {
        let (desired, mut live) = service();
        live["spec"]["selector"]["tier"] = json!("x");
        assert!(
            !proven(&desired, &live, US),
            "owned whole, so the extra key would go"
        );
        let (desired, mut live) = service();
        live["spec"]["ipFamilies"] = json!(["IPv4", "IPv6"]);
        assert!(!proven(&desired, &live, US));
    }

    #[test]
    fn a_key_added_inside_an_item_of_an_atomic_list_needs_the_server() {
        let desired = json!({"apiVersion": "v1", "kind": "X", "spec": {"rules": [{"host": "a"}]}});
        let mut live = json!({
            "metadata": {"managedFields": [{
                "manager": US, "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:rules": {}}}
            }]},
            "spec": {"rules": [{"host": "a"}]}
        });
        assert!(proven(&desired, &live, US));
        live["spec"]["rules"][0]["path"] = json!("/x");
        assert!(!proven(&desired, &live, US));
    }

    #[test]
    fn a_sent_field_another_manager_owns_now_needs_the_server() {
        // Someone set our label to the value we send: the value is live, but it is theirs.
        let mut live = live();
        let labels = live["metadata"]["managedFields"][0]["fieldsV1"]["f:metadata"]["f:labels"]
            .as_object_mut()
            .unwrap();
        labels.shift_remove("f:app");
        labels.insert("f:other".into(), json!({}));
        assert!(!proven(&desired(), &live, US));
    }

    #[test]
    fn a_sent_field_outside_our_field_set_needs_the_server() {
        // `status` is dropped by a resource with a status subresource: never in our set.
        let mut desired = desired();
        desired["status"] = json!({"replicas": 2});
        assert!(!proven(&desired, &live(), US));
    }

    #[test]
    fn set_values_and_indexes_in_the_field_set_are_checked() {
        let desired =
            json!({"apiVersion": "v1", "kind": "X", "spec": {"tags": ["a", "b"], "args": ["x"]}});
        let mut live = json!({
            "metadata": {"managedFields": [{
                "manager": US, "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {
                    "f:tags": {"v:\"a\"": {}, "v:\"b\"": {}},
                    "f:args": {"i:0": {}}
                }}
            }]},
            "spec": {"tags": ["a", "b"], "args": ["x"]}
        });
        assert!(proven(&desired, &live, US));
        live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:tags"]["v:\"c\""] = json!({});
        assert!(
            !proven(&desired, &live, US),
            "we owned \"c\" and no longer send it"
        );
    }
}
