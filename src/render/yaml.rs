//! Multi-document YAML -> JSON values, each with its origin.
//!
//! Documents are split here and read one at a time by `crate::yaml::read`, which resolves
//! scalars as kubectl does and keeps hostile input cheap (nesting cap, alias budget); it also
//! refuses repeated mapping keys.

use std::path::Path;

use serde_json::Value;

use super::Origin;
use super::documents::{DocumentText, split_documents};
use super::error::RenderError;
use super::load::Parsed;
use crate::yaml::read::{self, ValueBudget};

/// Parses every document in `text`, in order; a broken document is reported in its place and
/// the others still load. Empty and null documents are skipped.
pub(crate) fn parse_stream(
    file: &Path,
    text: &str,
    budget: &ValueBudget,
) -> Vec<Result<Parsed, RenderError>> {
    let mut parsed = Vec::new();
    for document in split_documents(text) {
        let Some(content_line) = document.content_line else {
            continue;
        };
        let origin = Origin {
            file: file.to_path_buf(),
            document: document.index,
            item: None,
            line: content_line,
            remote: None,
        };
        if let Some((line, why)) = document.problem {
            parsed.push(Err(RenderError::Yaml {
                file: file.to_path_buf(),
                line,
                message: why.to_string(),
            }));
            continue;
        }
        let offset = document.first_line.saturating_sub(1);
        match parse_document(&document, &origin, budget) {
            Ok(read::Document {
                value: Value::Null, ..
            }) => {}
            Ok(read::Document { value, item_lines }) => parsed.push(Ok(Parsed {
                origin,
                value,
                item_lines: item_lines.into_iter().map(|line| line + offset).collect(),
            })),
            Err(error) => parsed.push(Err(error)),
        }
    }
    parsed
}

fn parse_document(
    document: &DocumentText<'_>,
    origin: &Origin,
    budget: &ValueBudget,
) -> Result<read::Document, RenderError> {
    // The reader counts lines from the start of the text it was given: the document's first line.
    let offset = document.first_line.saturating_sub(1);
    read::read_document_with_items(document.text, budget).map_err(|error| {
        let line = error.line + offset;
        RenderError::Yaml {
            file: origin.file.clone(),
            line,
            message: format!("{} at line {line} column {}", error.message, error.column),
        }
    })
}

#[cfg(test)]
mod tests {

    use super::*;

    fn parse(text: &str) -> (Vec<Parsed>, Vec<RenderError>) {
        let mut parsed = Vec::new();
        let mut errors = Vec::new();
        let budget = ValueBudget::new();
        budget.grant(text.len());
        for result in parse_stream(Path::new("dir/m.yaml"), text, &budget) {
            match result {
                Ok(document) => parsed.push(document),
                Err(error) => errors.push(error),
            }
        }
        (parsed, errors)
    }

    fn only_error(text: &str) -> String {
        let (parsed, errors) = parse(text);
        assert!(parsed.is_empty(), "unexpected values: {parsed:?}");
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors[0].to_string()
    }

    #[test]
    fn error_lines_count_from_the_file_start() {
        let message = only_error("---\n# one\n---\na: 1\nb: [\n");
        assert!(message.starts_with("dir/m.yaml:"), "{message}");
        let (_, errors) = parse("a: 1\n---\nb: 1\nc: {d: e\n");
        let message = errors[0].to_string();
        assert!(message.starts_with("dir/m.yaml:4: "), "{message}");
        assert!(message.contains("at line 4 column"), "{message}");
    }

    #[test]
    fn documents_after_a_broken_one_still_load() {
        let (parsed, errors) = parse("a: 1\n---\na: [\n---\nb: 2\n");
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1].origin.document, 2);
        assert_eq!(parsed[1].origin.line, 5);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().starts_with("dir/m.yaml:"));
    }

    #[test]
    fn null_documents_are_skipped() {
        let (parsed, errors) = parse("---\n~\n---\nnull\n---\na: 1\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].origin.document, 2);
    }

    #[test]
    fn duplicate_mapping_keys_are_refused() {
        let text = "---\nmetadata:\n  name: a\n  name: b\n";
        let message = only_error(text);
        assert!(message.starts_with("dir/m.yaml:"), "{message}");
        assert!(message.contains("duplicate"), "{message}");
    }

    #[test]
    fn keys_equal_once_stringified_are_refused() {
        let message = only_error("data:\n  1: a\n  \"1\": b\n");
        assert!(message.contains("duplicate key \"1\""), "{message}");
    }

    #[test]
    fn scalar_keys_become_strings_and_tags_are_dropped() {
        let (parsed, errors) = parse("data:\n  1: a\n  true: b\n  c: !custom d\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            parsed[0].value,
            serde_json::json!({"data": {"1": "a", "true": "b", "c": "d"}})
        );
    }

    #[test]
    fn merge_keys_are_applied() {
        let text = "base: &base {a: 1, b: 2}\nderived:\n  <<: *base\n  b: 3\n";
        let (parsed, errors) = parse(text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            parsed[0].value["derived"],
            serde_json::json!({"b": 3, "a": 1})
        );
    }

    #[test]
    fn infinity_is_refused_because_json_cannot_hold_it() {
        let message = only_error("spec:\n  x: .inf\n");
        assert!(message.starts_with("dir/m.yaml:2: "), "{message}");
        assert!(
            message.contains("+Inf cannot be represented in JSON"),
            "{message}"
        );
    }

    #[test]
    fn an_alias_bomb_stops_at_the_value_budget() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let message = only_error(&text);
        assert!(message.contains("refusing to load them"), "{message}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = format!("---\nx: {}\n", "[".repeat(10_000));
        let message = only_error(&text);
        assert!(message.starts_with("dir/m.yaml:"), "{message}");
        assert!(
            message.contains("recursion limit") || message.contains("nesting deeper"),
            "{message}"
        );

        let block = (0..1_000)
            .map(|depth| format!("{}- ", " ".repeat(depth * 2)))
            .collect::<Vec<_>>()
            .join("\n");
        let message = only_error(&block);
        assert!(
            message.contains("recursion limit") || message.contains("nesting deeper"),
            "{message}"
        );
    }
}
