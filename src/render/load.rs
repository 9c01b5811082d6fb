//! One file's bytes -> validated manifests: decode, parse, flatten Lists, check each object.

use std::path::Path;

use serde_json::Value;

use super::error::RenderError;
use super::validate::{check_object, value_kind};
use super::{Manifest, Origin, json, yaml};
use crate::yaml::read::ValueBudget;

/// A parsed document (or JSON file) before Lists are flattened and objects checked.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub origin: Origin,
    pub value: Value,
    /// Where each element of the value's `items` starts, where known (YAML).
    pub item_lines: Vec<usize>,
}

/// How a file's text is read: decided by its content, as kubectl decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Yaml,
    Json,
}

impl Format {
    /// JSON when the first non-blank character is `{`, YAML otherwise, whatever the file is
    /// called: kubectl sniffs the same way, so a flow mapping in a `.yaml` file is JSON to it.
    fn sniff(text: &str) -> Format {
        if text.trim_start().starts_with('{') {
            Format::Json
        } else {
            Format::Yaml
        }
    }
}

/// Loads one file's bytes (YAML or JSON, told apart by content) into manifests; used by render and by
/// tests. `display_path` is the name used in origins and messages. The first problem found is
/// returned; `render` reports all of them.
pub fn load_file(display_path: &Path, bytes: &[u8]) -> Result<Vec<Manifest>, RenderError> {
    let mut errors = Vec::new();
    let budget = ValueBudget::new();
    let manifests = load_collecting(display_path, bytes, &budget, &mut errors);
    match errors.into_iter().next() {
        Some(error) => Err(error),
        None => Ok(manifests),
    }
}

/// Like `load_file`, but keeps going after a problem so every one is reported.
pub(crate) fn load_collecting(
    display_path: &Path,
    bytes: &[u8],
    budget: &ValueBudget,
    errors: &mut Vec<RenderError>,
) -> Vec<Manifest> {
    budget.grant(bytes.len());
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let valid = bytes.get(..error.valid_up_to()).unwrap_or_default();
            errors.push(RenderError::NotUtf8 {
                file: display_path.to_path_buf(),
                line: 1 + valid.iter().filter(|&&b| b == b'\n').count(),
            });
            return Vec::new();
        }
    };
    // Editors on some systems write a byte-order mark; it is not part of the YAML or JSON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);

    let parsed = match Format::sniff(text) {
        Format::Yaml => yaml::parse_stream(display_path, text, budget),
        Format::Json => json::parse(display_path, text)
            .transpose()
            .into_iter()
            .collect(),
    };

    // Problems are reported document by document, in the order they appear in the file.
    let mut manifests = Vec::new();
    for document in parsed {
        match document {
            Ok(document) => flatten(document, &mut manifests, errors),
            Err(error) => errors.push(error),
        }
    }
    manifests
}

/// Adds the document's object, or each item of a List, to `out`. Like kubectl, any object with
/// `items` is read as a List; each item gets an origin of its own (its index, and its line where
/// the YAML tells), and an item without `kind` and `apiVersion` takes them from the List
/// (`ConfigMapList` items are ConfigMaps).
fn flatten(document: Parsed, out: &mut Vec<Manifest>, errors: &mut Vec<RenderError>) {
    let Parsed {
        origin,
        value,
        item_lines,
    } = document;
    let Value::Object(mut object) = value else {
        errors.push(RenderError::NotAnObject {
            found: value_kind(&value),
            origin,
        });
        return;
    };
    if !is_list(&object) {
        push_checked(Manifest::new(object, origin), out, errors);
        return;
    }
    let list_kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !list_kind.ends_with("List") {
        errors.push(RenderError::ItemsOutsideList {
            kind: list_kind.to_string(),
            origin,
        });
        return;
    }
    let item_kind = list_kind.trim_end_matches("List").to_string();
    let list_api_version = object.get("apiVersion").cloned();

    let items = match object.remove("items") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => {
            errors.push(RenderError::ListItemsNotSequence {
                found: value_kind(&other),
                origin,
            });
            return;
        }
    };
    for (item, value) in items.into_iter().enumerate() {
        let origin = Origin {
            item: Some(item),
            line: item_lines.get(item).copied().unwrap_or(origin.line),
            ..origin.clone()
        };
        match value {
            Value::Object(object) if is_list(&object) => {
                errors.push(RenderError::NestedList { origin, item });
            }
            Value::Object(mut object) => {
                if !object.contains_key("kind") && !object.contains_key("apiVersion") {
                    object.insert("kind".to_string(), Value::String(item_kind.clone()));
                    if let Some(api_version) = &list_api_version {
                        object.insert("apiVersion".to_string(), api_version.clone());
                    }
                }
                push_checked(Manifest::new(object, origin), out, errors);
            }
            other => errors.push(RenderError::NotAnObject {
                origin,
                found: value_kind(&other),
            }),
        }
    }
}

fn push_checked(manifest: Manifest, out: &mut Vec<Manifest>, errors: &mut Vec<RenderError>) {
    match check_object(&manifest.object, &manifest.origin) {
        Ok(()) => out.push(manifest),
        Err(error) => errors.push(error),
    }
}

/// kubectl reads any object with a non-null `items` as a List, whatever its kind (with
/// `items: null` or none, even `kind: List` is a plain object to it).
fn is_list(object: &serde_json::Map<String, Value>) -> bool {
    object.get("items").is_some_and(|items| !items.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(path: &str, text: &str) -> Result<Vec<Manifest>, String> {
        load_file(Path::new(path), text.as_bytes()).map_err(|e| e.to_string())
    }

    fn all_errors(path: &str, bytes: &[u8]) -> Vec<String> {
        let mut errors = Vec::new();
        let budget = ValueBudget::new();
        load_collecting(Path::new(path), bytes, &budget, &mut errors);
        errors.iter().map(ToString::to_string).collect()
    }

    fn positions(manifests: &[Manifest]) -> Vec<(&str, usize, usize)> {
        manifests
            .iter()
            .map(|m| (m.name(), m.origin.document, m.origin.line))
            .collect()
    }

    const THREE_DOCS: &str = "\
# a header comment
apiVersion: v1
kind: ConfigMap
metadata:
  name: one
---
# the second document
apiVersion: v1
kind: ConfigMap
metadata:
  name: two

---

apiVersion: v1
kind: ConfigMap
metadata:
  name: three
";

    #[test]
    fn multi_document_yaml_cites_each_documents_first_line() {
        let manifests = load("app/m.yaml", THREE_DOCS);
        let manifests = manifests.unwrap_or_default();
        assert_eq!(
            positions(&manifests),
            vec![("one", 0, 2), ("two", 1, 8), ("three", 2, 15)]
        );
        assert_eq!(manifests[2].origin.to_string(), "app/m.yaml:15");
    }

    #[test]
    fn empty_and_comment_only_documents_are_skipped() {
        let text = "---\n---\n# nothing here\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n---\n";
        let manifests = load("m.yml", text).unwrap_or_default();
        assert_eq!(positions(&manifests), vec![("web", 2, 5)]);
        assert_eq!(load("empty.yaml", "").map(|m| m.len()), Ok(0));
    }

    #[test]
    fn a_json_object_is_one_manifest() {
        let text = r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "web"}}"#;
        let manifests = load("d.json", text).unwrap_or_default();
        assert_eq!(manifests.len(), 1);
        assert_eq!(manifests[0].object_ref().to_string(), "Deployment/web/api");
        assert_eq!(manifests[0].origin.line, 1);
    }

    #[test]
    fn a_list_is_flattened_and_items_keep_its_origin() {
        let text = "---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n";
        let manifests = load("list.yaml", text).unwrap_or_default();
        // Each item cites its own line and index.
        assert_eq!(positions(&manifests), vec![("a", 0, 5), ("b", 0, 6)]);
        assert_eq!(manifests[1].kind(), "Secret");
        assert_eq!(manifests[1].origin.item, Some(1));
        assert_eq!(manifests[1].origin.to_string(), "list.yaml:6, item 1");
    }

    #[test]
    fn a_json_list_is_flattened() {
        let text = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}]}"#;
        let manifests = load("list.json", text).unwrap_or_default();
        assert_eq!(positions(&manifests), vec![("a", 0, 1)]);
    }

    #[test]
    fn a_list_inside_a_list_is_refused() {
        let text =
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items: []\n";
        let error = load("nested.yaml", text).err().unwrap_or_default();
        assert!(error.starts_with("nested.yaml:4, item 0: "), "{error}");
        assert!(error.contains("nested Lists"), "{error}");
    }

    #[test]
    fn a_document_that_is_not_a_mapping_is_refused() {
        let errors = all_errors("s.yaml", b"just a string\n---\n- a\n- b\n");
        assert_eq!(
            errors,
            vec![
                "s.yaml:1: expected a Kubernetes object (a mapping), found a string",
                "s.yaml:3: expected a Kubernetes object (a mapping), found a sequence",
            ]
        );
    }

    #[test]
    fn missing_api_version_kind_and_name_are_each_reported() {
        let text = "kind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nmetadata:\n  name: b\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n---\n{}\n";
        let errors = all_errors("bad.yaml", text.as_bytes());
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("bad.yaml:1: object is missing apiVersion "));
        assert!(errors[1].starts_with("bad.yaml:5: object is missing kind "));
        assert!(errors[2].starts_with("bad.yaml:9: object is missing metadata.name "));
        assert!(
            errors[3]
                .starts_with("bad.yaml:13: object is missing apiVersion, kind, metadata.name ")
        );
    }

    #[test]
    fn generate_name_stands_in_for_name() {
        let text = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: migrate-\n";
        let manifests = load("job.yaml", text).unwrap_or_default();
        assert_eq!(manifests.len(), 1);
        assert_eq!(manifests[0].name(), "");
    }

    #[test]
    fn malformed_yaml_error_names_file_and_line() {
        // The second document starts on line 6; its broken line is the document's 3rd line.
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: [ConfigMap\nmetadata:\n  name: b\n";
        let error = load("apps/m.yaml", text).err().unwrap_or_default();
        // The parser notices the unclosed `[` on the line after it; positions in the message are
        // absolute too.
        assert!(error.starts_with("apps/m.yaml:8: "), "{error}");
        assert!(error.contains("at line 8 column"), "{error}");
    }

    #[test]
    fn malformed_yaml_on_a_known_line_reports_that_line() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nb: 2\nc: d: e\n";
        let error = load("m.yaml", text).err().unwrap_or_default();
        assert!(error.starts_with("m.yaml:6: "), "{error}");
    }

    #[test]
    fn non_utf8_bytes_name_the_file_and_line() {
        let errors = all_errors("bin.yaml", b"a: 1\nb: \xff\xfe\n");
        assert_eq!(
            errors,
            vec!["bin.yaml:2: not valid UTF-8 text (manifests must be UTF-8)"]
        );
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let text = "\u{feff}apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n";
        assert_eq!(load("bom.yaml", text).map(|m| m.len()), Ok(1));
    }
}
