//! Proving from the live object alone that applying a desired object would change nothing, so
//! the plan can skip its dry-run.
//!
//! In a steady state most objects are unchanged, and a dry-run each is most of a plan's cost
//! (and all of a reconciler's no-op cycle). A server-side apply by our field manager changes
//! the live object only by (a) setting a field we send to a different value or (b) removing a
//! field we owned and no longer send. So when every value we send is already live, and every
//! field our manager owns (its `managedFields` entry) is still sent, the apply is a no-op.
//! The proof is deliberately narrow: anything it cannot reason about (no entry of ours,
//! another apiVersion, `null`s, lists of another length, an unknown field-set key) falls back
//! to the dry-run, which is always right. It can only turn "ask the server" into "unchanged"
//! when the server's answer would have been "unchanged" too.

use serde_json::{Map, Value};

/// True when applying `desired` with field manager `manager` would leave `live` as it is.
pub fn proven(desired: &Value, live: &Value, manager: &str) -> bool {
    let (Some(desired_map), Some(live_map)) = (desired.as_object(), live.as_object()) else {
        return false;
    };
    let Some(owned) = applied_fields(live, manager, desired["apiVersion"].as_str()) else {
        return false;
    };
    // apiVersion and kind name the object; LIST items do not even carry them.
    let sent_values_are_live = desired_map
        .iter()
        .filter(|(key, _)| !matches!(key.as_str(), "apiVersion" | "kind"))
        .all(|(key, value)| live_map.get(key).is_some_and(|l| contains(l, value)));
    sent_values_are_live && still_sent(desired, owned)
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

/// Every value in `desired` is in `live`: maps may have more keys live (defaults, other
/// managers' fields); lists must have the same length, item by item.
fn contains(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        // Sending null asks the server to remove the field: not provably a no-op.
        (_, Value::Null) => false,
        (Value::Object(live), Value::Object(desired)) => desired
            .iter()
            .all(|(key, value)| live.get(key).is_some_and(|l| contains(l, value))),
        (Value::Array(live), Value::Array(desired)) => {
            live.len() == desired.len() && live.iter().zip(desired).all(|(l, d)| contains(l, d))
        }
        (live, desired) => live == desired,
    }
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
