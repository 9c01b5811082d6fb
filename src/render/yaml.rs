//! Multi-document YAML -> JSON values, each with its origin.
//!
//! Documents are parsed one at a time with serde_yaml, whose limits keep hostile input cheap:
//! nested alias expansion is capped ("repetition limit exceeded") and nesting depth is capped
//! ("recursion limit exceeded"). `yaml_value` adds a cap on the values built (wide alias bombs)
//! and refuses repeated mapping keys.

use std::path::Path;

use serde_json::{Map, Number, Value};
use serde_yaml::Value as Yaml;

use super::Origin;
use super::documents::{DocumentText, split_documents};
use super::error::RenderError;
use super::load::Parsed;
use super::yaml_value::{self, ValueBudget};

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
            line: content_line,
        };
        match parse_document(&document, &origin, budget) {
            Ok(Value::Null) => {}
            Ok(value) => parsed.push(Ok(Parsed { origin, value })),
            Err(error) => parsed.push(Err(error)),
        }
    }
    parsed
}

fn parse_document(
    document: &DocumentText<'_>,
    origin: &Origin,
    budget: &ValueBudget,
) -> Result<Value, RenderError> {
    // serde_yaml counts lines from the start of the text it was given: the document's first line.
    let offset = document.first_line.saturating_sub(1);
    let yaml_error = |error: serde_yaml::Error| RenderError::Yaml {
        file: origin.file.clone(),
        line: error
            .location()
            .map_or(origin.line, |location| location.line() + offset),
        message: shift_line_numbers(&error.to_string(), offset),
    };
    let mut yaml = yaml_value::parse_document(document.text, budget).map_err(yaml_error)?;
    // Kubernetes' YAML reader honours `<<` merge keys; serde_yaml only does so when asked.
    yaml.apply_merge().map_err(yaml_error)?;
    to_json(yaml, &mut Vec::new()).map_err(|message| RenderError::Yaml {
        file: origin.file.clone(),
        line: origin.line,
        message,
    })
}

/// Converts the way Kubernetes' YAML reader does: scalar keys become strings, tags are dropped.
/// Depth is bounded by serde_yaml's recursion limit, so recursing here is safe.
fn to_json(yaml: Yaml, path: &mut Vec<String>) -> Result<Value, String> {
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => Value::Number(
            to_json_number(&n)
                .ok_or_else(|| format!("{}: {n} cannot be represented in JSON", path_text(path)))?,
        ),
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => {
            let mut array = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                path.push(i.to_string());
                array.push(to_json(item, path)?);
                path.pop();
            }
            Value::Array(array)
        }
        Yaml::Mapping(mapping) => {
            let mut object = Map::with_capacity(mapping.len());
            for (key, value) in mapping {
                let key = key_text(key).ok_or_else(|| {
                    format!(
                        "{}: mapping keys must be strings, numbers or booleans",
                        path_text(path)
                    )
                })?;
                if object.contains_key(&key) {
                    // `1: a` and `"1": b` are distinct in YAML but the same key in JSON.
                    return Err(format!(
                        "{}: duplicate key {key:?} once keys are read as strings",
                        path_text(path)
                    ));
                }
                path.push(key.clone());
                let value = to_json(value, path)?;
                path.pop();
                object.insert(key, value);
            }
            Value::Object(object)
        }
        Yaml::Tagged(tagged) => to_json(tagged.value, path)?,
    })
}

fn to_json_number(n: &serde_yaml::Number) -> Option<Number> {
    if let Some(i) = n.as_i64() {
        Some(Number::from(i))
    } else if let Some(u) = n.as_u64() {
        Some(Number::from(u))
    } else {
        n.as_f64().and_then(Number::from_f64)
    }
}

fn key_text(key: Yaml) -> Option<String> {
    match key {
        Yaml::String(s) => Some(s),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        Yaml::Null => Some("null".to_string()),
        Yaml::Tagged(tagged) => key_text(tagged.value),
        Yaml::Sequence(_) | Yaml::Mapping(_) => None,
    }
}

fn path_text(path: &[String]) -> String {
    if path.is_empty() {
        "document".to_string()
    } else {
        path.join(".")
    }
}

/// Rewrites every "line N column" in a serde_yaml message so N counts from the start of the file
/// rather than from the start of the document.
fn shift_line_numbers(message: &str, offset: usize) -> String {
    const LINE: &str = "line ";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(LINE) {
        let (before, after) = rest.split_at(at + LINE.len());
        out.push_str(before);
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let (number, tail) = after.split_at(digits);
        match number.parse::<usize>() {
            Ok(n) if tail.starts_with(" column ") => out.push_str(&(n + offset).to_string()),
            _ => out.push_str(number),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
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
    fn line_numbers_in_messages_count_from_the_file_start() {
        assert_eq!(
            shift_line_numbers(
                "bad at line 2 column 3, while parsing at line 1 column 1",
                10
            ),
            "bad at line 12 column 3, while parsing at line 11 column 1"
        );
        assert_eq!(
            shift_line_numbers("line 7 of the headline", 10),
            "line 7 of the headline"
        );
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
        assert!(message.contains("spec.x"), "{message}");
    }

    #[test]
    fn an_alias_bomb_stops_at_the_repetition_limit() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let message = only_error(&text);
        assert!(message.contains("repetition limit"), "{message}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = format!("---\nx: {}\n", "[".repeat(10_000));
        let message = only_error(&text);
        assert!(message.starts_with("dir/m.yaml:"), "{message}");
        assert!(message.contains("recursion limit"), "{message}");

        let block = (0..1_000)
            .map(|depth| format!("{}- ", " ".repeat(depth * 2)))
            .collect::<Vec<_>>()
            .join("\n");
        let message = only_error(&block);
        assert!(message.contains("recursion limit"), "{message}");
    }
}
