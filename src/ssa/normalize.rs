//! Removes what the server owns or what changes on every write, so a diff shows intent only.

use serde_json::Value;

const DROPPED_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
];

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops server bookkeeping (`managedFields`, `resourceVersion`, `uid`, `generation`,
/// `creationTimestamp`), `status`, and the last-applied annotation (which would also carry a
/// Secret's values in clear text).
pub fn normalize(object: &mut Value) {
    let Some(map) = object.as_object_mut() else {
        return;
    };
    map.shift_remove("status");
    let Some(metadata) = map.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    for key in DROPPED_METADATA {
        metadata.shift_remove(*key);
    }
    let annotations_now_empty = match metadata
        .get_mut("annotations")
        .and_then(Value::as_object_mut)
    {
        Some(annotations) => {
            annotations.shift_remove(LAST_APPLIED);
            annotations.is_empty()
        }
        None => false,
    };
    if annotations_now_empty {
        metadata.shift_remove("annotations");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_server_bookkeeping_and_status() {
        let mut live = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "n", "uid": "u", "resourceVersion": "7",
                "generation": 2, "creationTimestamp": "2026-01-01T00:00:00Z",
                "managedFields": [{"manager": "x"}],
                "labels": {"app": "a"},
                "annotations": {LAST_APPLIED: "{\"data\":\"secret\"}"}},
            "data": {"k": "v"},
            "status": {"phase": "x"}
        });
        normalize(&mut live);
        assert_eq!(
            live,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "a", "namespace": "n", "labels": {"app": "a"}},
                "data": {"k": "v"}})
        );
    }

    #[test]
    fn keeps_other_annotations() {
        let mut live = json!({"metadata": {"annotations": {LAST_APPLIED: "x", "team": "web"}}});
        normalize(&mut live);
        assert_eq!(live, json!({"metadata": {"annotations": {"team": "web"}}}));
    }
}
