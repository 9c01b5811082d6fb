//! Fields a chart renders differently each time: the two renders of one chart compared.
//!
//! A template that draws a random password, a timestamp or a UUID without keeping the live
//! one (through `lookup`) renders a new value on every render, and applying it would rewrite
//! the live value on every apply and every reconcile. Such a field is marked unstable on the
//! object: git's value seeds a new object, and a live one keeps its value (see
//! `ssa::ignore`) unless the user asks for the rewrite.

use serde_json::{Map, Value};

use super::Manifest;
use super::ignore::{IgnoreSource, IgnoredField, Pointer, UnstablePolicy};

/// Marks on each object of `first` the fields whose value differs in `second` (the same
/// chart rendered again). Objects are matched by identity; one rendered only once (a name
/// drawn at random) has nothing to compare to.
pub(super) fn mark(first: &mut [Manifest], second: &[Manifest], policy: UnstablePolicy) {
    for manifest in first {
        let wanted = identity(manifest);
        let Some(other) = second.iter().find(|m| identity(m) == wanted) else {
            continue;
        };
        let mut differing = Vec::new();
        differ(
            &manifest.object,
            &other.object,
            &mut Vec::new(),
            &mut differing,
        );
        manifest
            .ignored
            .extend(differing.into_iter().map(|tokens| IgnoredField {
                pointer: Pointer::from_tokens(tokens),
                source: IgnoreSource::Unstable(policy),
                if_namespace: None,
            }));
    }
}

fn identity(manifest: &Manifest) -> (&str, &str, Option<&str>, &str) {
    (
        manifest.api_version(),
        manifest.kind(),
        manifest.namespace(),
        manifest.name(),
    )
}

/// The paths below `at` where `a` and `b` differ: the deepest field that differs, or a list
/// whose length differs (its items cannot be matched).
fn differ(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    at: &mut Vec<String>,
    out: &mut Vec<Vec<String>>,
) {
    for (key, value) in a {
        at.push(key.clone());
        match b.get(key) {
            Some(other) => differ_values(value, other, at, out),
            None => out.push(at.clone()),
        }
        at.pop();
    }
    for key in b.keys().filter(|k| !a.contains_key(*k)) {
        at.push(key.clone());
        out.push(at.clone());
        at.pop();
    }
}

fn differ_values(a: &Value, b: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => differ(a, b, at, out),
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (a, b)) in a.iter().zip(b).enumerate() {
                at.push(i.to_string());
                differ_values(a, b, at, out);
                at.pop();
            }
        }
        (a, b) if a == b => {}
        _ => out.push(at.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Origin;

    fn manifest(value: Value) -> Manifest {
        let Value::Object(object) = value else {
            panic!("not an object")
        };
        Manifest::new(
            object,
            Origin {
                file: "web/Chart.yaml".into(),
                document: 0,
                item: None,
                line: 1,
                remote: None,
            },
        )
    }

    fn secret(password: &str, checksum: &str) -> Manifest {
        manifest(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "web",
                "annotations": {"checksum": checksum, "team": "a"},
            },
            "data": {"user": "YWRtaW4=", "password": password},
        }))
    }

    fn pointers(manifest: &Manifest) -> Vec<String> {
        manifest
            .ignored
            .iter()
            .map(|f| f.pointer.to_string())
            .collect()
    }

    #[test]
    fn only_the_fields_that_differ_between_two_renders_are_marked() {
        let mut first = vec![secret("b25l", "1")];
        mark(&mut first, &[secret("dHdv", "2")], UnstablePolicy::Keep);
        assert_eq!(
            pointers(&first[0]),
            ["/metadata/annotations/checksum", "/data/password"]
        );
        assert!(
            first[0]
                .ignored
                .iter()
                .all(|f| f.source == IgnoreSource::Unstable(UnstablePolicy::Keep))
        );
    }

    #[test]
    fn an_object_rendered_the_same_twice_has_no_unstable_field() {
        let mut first = vec![secret("b25l", "1")];
        mark(&mut first, &[secret("b25l", "1")], UnstablePolicy::Keep);
        assert!(first[0].ignored.is_empty());
    }

    #[test]
    fn items_of_lists_are_compared_by_position_and_lists_of_another_length_whole() {
        let pod = |args: Value| {
            manifest(serde_json::json!({
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "args": args}]},
            }))
        };
        let mut first = vec![pod(serde_json::json!(["--seed=1", "--v=2"]))];
        mark(
            &mut first,
            &[pod(serde_json::json!(["--seed=7", "--v=2"]))],
            UnstablePolicy::Keep,
        );
        assert_eq!(pointers(&first[0]), ["/spec/containers/0/args/0"]);
        let mut first = vec![pod(serde_json::json!(["a"]))];
        mark(
            &mut first,
            &[pod(serde_json::json!(["a", "b"]))],
            UnstablePolicy::Keep,
        );
        assert_eq!(pointers(&first[0]), ["/spec/containers/0/args"]);
    }

    #[test]
    fn an_object_whose_name_differs_has_nothing_to_be_compared_with() {
        let named = |name: &str| {
            manifest(serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                "data": {"a": name},
            }))
        };
        let mut first = vec![named("job-x1")];
        mark(&mut first, &[named("job-y2")], UnstablePolicy::Keep);
        assert!(first[0].ignored.is_empty());
    }
}
