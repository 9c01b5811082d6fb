//! Secret values never leave the plan stage: they are replaced by masks that still show which
//! keys were added, removed or changed, whatever their text, and scrubbed from server messages.
//! Each object's identity and keys are taught to the scrubber as structure, which it never
//! rewrites (see `crate::scrub`). A Secret value the repository also inlines in another
//! object (a ConfigMap's data, an env `value:`) is scrubbed from that object's values where
//! reports render, once every Secret and identity of the plan is known (`crate::report`).

use serde_json::{Map, Value};

/// Shown for every Secret value.
pub use crate::scrub::MASK;
/// Shown on the "after" side for a value that changes.
pub use crate::scrub::MASK_CHANGED;

const SECRET_FIELDS: &[&str] = &["data", "stringData"];

fn is_secret(object: &Value) -> bool {
    object.get("kind").and_then(Value::as_str) == Some("Secret")
        && object.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Masks `data` and `stringData` of a Secret on both sides of a change, in place. Equal values
/// become `***` on both sides; a changed value becomes `***` before and `*** (changed)` after,
/// so the diff shows the key changed without showing either value.
pub fn mask_secret_pair(before: Option<&mut Value>, after: Option<&mut Value>) {
    // The identity and keys of any object the plan shows are never rewritten.
    for side in [before.as_deref(), after.as_deref()].into_iter().flatten() {
        crate::scrub::learn_public(side);
    }
    let secret =
        before.as_deref().is_some_and(is_secret) || after.as_deref().is_some_and(is_secret);
    if !secret {
        return;
    }
    for side in [before.as_deref(), after.as_deref()].into_iter().flatten() {
        crate::scrub::learn_object(side);
    }
    let mut before = before;
    let mut after = after;
    for field in SECRET_FIELDS {
        let old = before.as_deref().and_then(|o| field_map(o, field)).cloned();
        if let Some(map) = before.as_deref_mut().and_then(|o| field_map_mut(o, field)) {
            for value in map.values_mut() {
                *value = Value::String(MASK.to_string());
            }
        }
        if let Some(map) = after.as_deref_mut().and_then(|o| field_map_mut(o, field)) {
            for (key, value) in map.iter_mut() {
                let changed = match old.as_ref().and_then(|m| m.get(key)) {
                    Some(previous) => previous != value,
                    None => false,
                };
                *value = Value::String(if changed { MASK_CHANGED } else { MASK }.to_string());
            }
        }
        // A field that is present but not a mapping is malformed; mask it whole.
        for side in [before.as_deref_mut(), after.as_deref_mut()]
            .into_iter()
            .flatten()
        {
            if let Some(v) = side.get_mut(*field)
                && !v.is_object()
                && !v.is_null()
            {
                *v = Value::String(MASK.to_string());
            }
        }
    }
}

fn field_map<'a>(object: &'a Value, field: &str) -> Option<&'a Map<String, Value>> {
    object.get(field)?.as_object()
}

fn field_map_mut<'a>(object: &'a mut Value, field: &str) -> Option<&'a mut Map<String, Value>> {
    object.get_mut(field)?.as_object_mut()
}

/// The values of one Secret, to scrub from what the server says about it (the scrubber lives
/// in `crate::scrub`, which every output path goes through as well).
pub type SecretValues = crate::scrub::Scrubber;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": data})
    }

    #[test]
    fn equal_values_are_masked_alike_on_both_sides() {
        let mut before = secret(json!({"a": "c2VjcmV0"}));
        let mut after = secret(json!({"a": "c2VjcmV0"}));
        mask_secret_pair(Some(&mut before), Some(&mut after));
        assert_eq!(before, after);
        assert_eq!(after["data"]["a"], MASK);
    }

    #[test]
    fn changed_values_show_the_change_not_the_value() {
        let mut before = secret(json!({"a": "b2xk", "gone": "eA=="}));
        let mut after = secret(json!({"a": "bmV3", "added": "eQ=="}));
        mask_secret_pair(Some(&mut before), Some(&mut after));
        assert_eq!(before["data"], json!({"a": MASK, "gone": MASK}));
        assert_eq!(after["data"], json!({"a": MASK_CHANGED, "added": MASK}));
    }

    #[test]
    fn string_data_is_masked_on_a_create() {
        let mut after = json!({"apiVersion": "v1", "kind": "Secret",
            "stringData": {"password": "hunter22"}});
        mask_secret_pair(None, Some(&mut after));
        assert_eq!(after["stringData"]["password"], MASK);
    }

    #[test]
    fn other_kinds_are_left_alone() {
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}});
        mask_secret_pair(None, Some(&mut cm));
        assert_eq!(cm["data"]["a"], "b");
    }

    #[test]
    fn a_value_too_common_to_scrub_in_messages_is_still_masked_in_its_secret() {
        for value in crate::scrub::COMMON_VALUES {
            let mut shown = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                                   "stringData": {"k": value}});
            mask_secret_pair(None, Some(&mut shown));
            assert_eq!(shown["stringData"]["k"], crate::scrub::MASK, "{value}");
        }
    }
}
