//! Digests of plan contents: canonical JSON (object keys sorted, no whitespace) under SHA-256.
//!
//! A Secret's body is digested with its name, its set and many rounds, never with a plain
//! hash: a plan file is read by more people than the Secret, and a bare SHA-256 of a short
//! password is found by trying candidates. The rounds make each guess cost what ten thousand
//! hashes cost; the salt makes a guess good for one Secret of one set only.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::object::ObjectRef;

/// Rounds of SHA-256 over a Secret's body digest.
pub const SECRET_ROUNDS: u32 = 10_000;

/// [`of_body`] of each `(object, body)`, in order, spread over the machine's cores: a
/// Secret's rounds cost milliseconds, and a plan may hold thousands of Secrets.
pub fn of_bodies(items: &[(&ObjectRef, &Value)], set_id: &str) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let secrets = items.iter().filter(|(o, _)| is_secret(o)).count();
    if threads < 2 || secrets < 16 {
        return items.iter().map(|(o, b)| of_body(o, b, set_id)).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(o, b)| of_body(o, b, set_id))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a digest thread panicked"))
            .collect()
    })
}

/// `sha256:<hex>` of the canonical form of `value`.
pub fn of_value(value: &Value) -> String {
    of_bytes(canonical(value).as_bytes())
}

/// `sha256:<hex>` of `bytes`.
pub fn of_bytes(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// The digest of the body to apply to `object`: [`of_value`], or for a Secret a salted,
/// iterated digest (`secret-sha256:<hex>`) that does not lead back to its values.
pub fn of_body(object: &ObjectRef, body: &Value, set_id: &str) -> String {
    if !is_secret(object) {
        return of_value(body);
    }
    let salt = format!(
        "kubectl-gitops secret body\0{set_id}\0{}\0{}",
        object.namespace.as_deref().unwrap_or_default(),
        object.name
    );
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update([0]);
    hasher.update(canonical(body).as_bytes());
    let mut state = hasher.finalize();
    for _ in 0..SECRET_ROUNDS {
        let mut round = Sha256::new();
        round.update(state);
        round.update(salt.as_bytes());
        state = round.finalize();
    }
    format!("secret-sha256:{}", hex(&state))
}

pub fn is_secret(object: &ObjectRef) -> bool {
    object.group().is_empty() && object.kind == "Secret"
}

/// JSON with every object's keys sorted and no insignificant whitespace: the same value
/// always gives the same bytes, whatever order it was built in.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn digests_of_many_bodies_keep_their_order_and_equal_one_by_one() {
        let objects: Vec<ObjectRef> = (0..40)
            .map(|i| ObjectRef {
                api_version: "v1".into(),
                kind: if i % 2 == 0 { "Secret" } else { "ConfigMap" }.into(),
                namespace: Some("ns".into()),
                name: format!("o-{i}"),
            })
            .collect();
        let bodies: Vec<Value> = (0..40).map(|i| json!({"data": {"k": i}})).collect();
        let items: Vec<(&ObjectRef, &Value)> = objects.iter().zip(&bodies).collect();
        let one_by_one: Vec<String> = items.iter().map(|(o, b)| of_body(o, b, "set")).collect();
        assert_eq!(of_bodies(&items, "set"), one_by_one);
    }

    #[test]
    fn key_order_does_not_change_a_digest() {
        let a = json!({"b": 1, "a": {"y": [1, {"q": 2, "p": 3}], "x": "s"}});
        let b: Value =
            serde_json::from_str(r#"{"a": {"x": "s", "y": [1, {"p": 3, "q": 2}]}, "b": 1}"#)
                .unwrap();
        assert_eq!(canonical(&a), canonical(&b));
        assert_eq!(of_value(&a), of_value(&b));
        assert_ne!(of_value(&a), of_value(&json!({"b": 2})));
    }

    #[test]
    fn a_secret_digest_is_salted_by_object_and_set_and_differs_from_a_plain_hash() {
        let secret = ObjectRef::new("v1", "Secret", Some("web".into()), "db");
        let other = ObjectRef::new("v1", "Secret", Some("web".into()), "db2");
        let body = json!({"apiVersion": "v1", "kind": "Secret", "data": {"p": "YWRtaW4="}});
        let digest = of_body(&secret, &body, "set-a");
        assert!(digest.starts_with("secret-sha256:"));
        assert_eq!(digest, of_body(&secret, &body, "set-a"));
        assert_ne!(digest, of_body(&other, &body, "set-a"));
        assert_ne!(digest, of_body(&secret, &body, "set-b"));
        assert!(!digest.ends_with(of_value(&body).trim_start_matches("sha256:")));
        let changed = json!({"apiVersion": "v1", "kind": "Secret", "data": {"p": "cm9vdA=="}});
        assert_ne!(digest, of_body(&secret, &changed, "set-a"));
    }
}
