//! Checks that need no cluster: each object names itself, and no two objects name the same thing.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::error::RenderError;
use super::{Manifest, Origin};

/// Requires `apiVersion`, `kind` and `metadata.name` (or `metadata.generateName`) as non-empty
/// strings; without them the object cannot be sent to, or found in, the cluster.
pub(crate) fn check_object(
    object: &Map<String, Value>,
    origin: &Origin,
) -> Result<(), RenderError> {
    let mut missing = Vec::new();
    if !is_text(object.get("apiVersion")) {
        missing.push("apiVersion");
    }
    if !is_text(object.get("kind")) {
        missing.push("kind");
    }
    match object.get("metadata") {
        None | Some(Value::Null) => missing.push("metadata.name"),
        Some(Value::Object(metadata)) => {
            if !is_text(metadata.get("name")) && !is_text(metadata.get("generateName")) {
                missing.push("metadata.name");
            }
        }
        Some(other) => {
            return Err(RenderError::MetadataNotMapping {
                origin: origin.clone(),
                found: value_kind(other),
            });
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(RenderError::MissingFields {
            origin: origin.clone(),
            fields: missing,
        })
    }
}

fn is_text(value: Option<&Value>) -> bool {
    value.and_then(Value::as_str).is_some_and(|s| !s.is_empty())
}

/// The manifests (indexes into the render's list) one kustomization built.
#[derive(Debug, Clone)]
pub(crate) struct Built {
    pub manifests: std::ops::Range<usize>,
    /// Its kustomization file, as shown.
    pub kustomization: PathBuf,
}

/// One error for each object that repeats an earlier one's identity (API group, kind, namespace
/// as written, name), citing both. Objects named only by `generateName` get a fresh name from
/// the server, so they never collide. An object two kustomizations built from the same file
/// (both include one base) names the two kustomizations, since both places are the same line.
pub(crate) fn find_duplicates(manifests: &[Manifest], built_by: &[Built]) -> Vec<RenderError> {
    let builder = |index: usize| {
        built_by
            .iter()
            .find(|b| b.manifests.contains(&index))
            .map(|b| &b.kustomization)
    };
    let mut first_seen: HashMap<_, usize> = HashMap::new();
    let mut errors = Vec::new();
    for (index, manifest) in manifests.iter().enumerate() {
        if manifest.name().is_empty() {
            continue;
        }
        let object = manifest.object_ref();
        let Some(&first) = first_seen.get(&object.identity()) else {
            first_seen.insert(object.identity(), index);
            continue;
        };
        let first_origin = &manifests[first].origin;
        let twice = (first_origin == &manifest.origin)
            .then(|| builder(first).zip(builder(index)))
            .flatten()
            .filter(|(a, b)| a != b);
        errors.push(match twice {
            Some((a, b)) => RenderError::BuiltTwice {
                object: Box::new(object),
                origin: manifest.origin.clone(),
                first: a.clone(),
                second: b.clone(),
            },
            None => RenderError::Duplicate {
                object: Box::new(object),
                first: first_origin.clone(),
                second: manifest.origin.clone(),
            },
        });
    }
    errors
}

/// "a string", "a sequence", ... for messages about values of the wrong shape.
pub(crate) fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn manifest(file: &str, line: usize, object: Value) -> Manifest {
        Manifest::new(
            object.as_object().cloned().unwrap_or_default(),
            origin(file, line),
        )
    }

    fn origin(file: &str, line: usize) -> Origin {
        Origin {
            file: file.into(),
            document: 0,
            item: None,
            line,
            remote: None,
        }
    }

    fn deployment(namespace: &str, name: &str, api_version: &str) -> Value {
        json!({
            "apiVersion": api_version,
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
        })
    }

    #[test]
    fn duplicate_across_two_files_cites_both() {
        let manifests = [
            manifest("a.yaml", 1, deployment("web", "api", "apps/v1")),
            manifest("b.yaml", 7, deployment("web", "api", "apps/v1beta1")),
        ];
        let errors: Vec<String> = find_duplicates(&manifests, &[])
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            vec!["b.yaml:7: duplicate object Deployment/web/api: already defined at a.yaml:1"]
        );
    }

    #[test]
    fn different_namespaces_groups_or_names_are_not_duplicates() {
        let manifests = [
            manifest("a.yaml", 1, deployment("web", "api", "apps/v1")),
            manifest("a.yaml", 9, deployment("db", "api", "apps/v1")),
            manifest("a.yaml", 19, deployment("web", "api", "example.com/v1")),
            manifest("a.yaml", 29, deployment("web", "worker", "apps/v1")),
        ];
        assert!(find_duplicates(&manifests, &[]).is_empty());
    }

    #[test]
    fn generate_name_objects_are_exempt_from_duplicates() {
        let job =
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "m-"}});
        let manifests = [
            manifest("a.yaml", 1, job.clone()),
            manifest("a.yaml", 5, job),
        ];
        assert!(find_duplicates(&manifests, &[]).is_empty());
    }

    #[test]
    fn metadata_must_be_a_mapping() {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": "x"});
        let object = object.as_object().cloned().unwrap_or_default();
        let error = check_object(&object, &origin("m.yaml", 4))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("m.yaml:4: `metadata` must be a mapping, found a string")
        );
    }

    #[test]
    fn empty_strings_and_non_strings_count_as_missing() {
        let object = json!({"apiVersion": "", "kind": 3, "metadata": {"name": ""}});
        let object = object.as_object().cloned().unwrap_or_default();
        let error = check_object(&object, &origin("m.yaml", 1))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some(
                "m.yaml:1: object is missing apiVersion, kind, metadata.name (each must be a non-empty string)"
            )
        );
    }
}
