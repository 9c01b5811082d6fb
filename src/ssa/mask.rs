//! Secret values never leave the plan stage: they are replaced by masks that still show which
//! keys were added, removed or changed, and scrubbed from server messages.

use std::collections::BTreeSet;

use base64::Engine;
use serde_json::{Map, Value};

/// Shown for every Secret value.
pub const MASK: &str = "***";
/// Shown on the "after" side for a value that changes.
pub const MASK_CHANGED: &str = "*** (changed)";

const SECRET_FIELDS: &[&str] = &["data", "stringData"];

fn is_secret(object: &Value) -> bool {
    object.get("kind").and_then(Value::as_str) == Some("Secret")
        && object.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Masks `data` and `stringData` of a Secret on both sides of a change, in place. Equal values
/// become `***` on both sides; a changed value becomes `***` before and `*** (changed)` after,
/// so the diff shows the key changed without showing either value.
pub fn mask_secret_pair(before: Option<&mut Value>, after: Option<&mut Value>) {
    let secret =
        before.as_deref().is_some_and(is_secret) || after.as_deref().is_some_and(is_secret);
    if !secret {
        return;
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

/// The clear-text forms of a rendered Secret's values, to scrub from any text the server sends
/// back (an error may quote what it rejected).
#[derive(Debug, Default, Clone)]
pub struct SecretValues {
    values: BTreeSet<String>,
}

impl SecretValues {
    /// Values shorter than this are left alone: scrubbing every "a" would make messages
    /// unreadable, and such values are no secret.
    const MIN_LEN: usize = 3;

    pub fn from_object(object: &Value) -> Self {
        let mut found = SecretValues::default();
        if !is_secret(object) {
            return found;
        }
        for field in SECRET_FIELDS {
            let Some(map) = object.get(*field).and_then(Value::as_object) else {
                continue;
            };
            for value in map.values() {
                let Some(text) = value.as_str() else { continue };
                found.add(text);
                if *field == "data"
                    && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text)
                    && let Ok(clear) = String::from_utf8(bytes)
                {
                    found.add(&clear);
                }
            }
        }
        found
    }

    fn add(&mut self, text: &str) {
        if text.chars().count() < Self::MIN_LEN {
            return;
        }
        self.values.insert(text.to_string());
        // Servers quote values Go-style; catch the escaped spelling too.
        if let Ok(quoted) = serde_json::to_string(text) {
            let escaped = &quoted[1..quoted.len() - 1];
            if escaped != text {
                self.values.insert(escaped.to_string());
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every known value replaced by `***`, longest first so a value containing
    /// another is scrubbed whole.
    pub fn redact(&self, text: &str) -> String {
        let mut values: Vec<&String> = self.values.iter().collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        let mut out = text.to_string();
        for value in values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), MASK);
            }
        }
        out
    }
}

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
    fn redacts_encoded_and_decoded_values_from_messages() {
        // "c2VjcmV0LXZhbHVl" is base64 for "secret-value".
        let values = SecretValues::from_object(&json!({"apiVersion": "v1", "kind": "Secret",
            "data": {"a": "c2VjcmV0LXZhbHVl"}, "stringData": {"b": "plain\"text"}}));
        let message = "rejected c2VjcmV0LXZhbHVl (secret-value) and \"plain\\\"text\"";
        let redacted = values.redact(message);
        assert!(!redacted.contains("secret-value"), "{redacted}");
        assert!(!redacted.contains("c2VjcmV0LXZhbHVl"), "{redacted}");
        assert!(!redacted.contains("plain"), "{redacted}");
    }
}
