//! A `.json` file -> one JSON value with its origin.
//!
//! serde_json would silently keep the last of two equal keys; a manifest that says two things
//! about one field is a mistake the user should hear about, so values are built by a visitor that
//! refuses repeated keys. serde_json's own nesting limit still applies.

use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::Origin;
use super::error::RenderError;
use super::load::Parsed;

/// Parses `text` as a single JSON value. Whitespace-only text yields nothing.
pub(crate) fn parse(file: &Path, text: &str) -> Result<Option<Parsed>, RenderError> {
    // The object's line is where its first character is, after any leading blank lines.
    let Some(start) = text.find(|c: char| !c.is_whitespace()) else {
        return Ok(None);
    };
    let line = 1 + text[..start].matches('\n').count();

    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = StrictValue
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value))
        .map_err(|error| RenderError::Json {
            file: file.to_path_buf(),
            line: if error.line() == 0 {
                line
            } else {
                error.line()
            },
            message: error.to_string(),
        })?;
    Ok(Some(Parsed {
        origin: Origin {
            file: file.to_path_buf(),
            document: 0,
            item: None,
            line,
            remote: None,
        },
        value,
        item_lines: Vec::new(),
    }))
}

/// Builds a `serde_json::Value`, failing on a repeated object key.
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
        Number::from_f64(n)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("{n} is not a JSON number")))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let value = map.next_value_seed(StrictValue)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Option<Parsed>, RenderError> {
        parse(Path::new("m.json"), text)
    }

    #[test]
    fn the_object_line_is_its_first_character() {
        let parsed = parse_text("\n\n  {\"a\": [1, 2.5, null, true]}\n")
            .ok()
            .flatten()
            .map(|p| (p.origin.line, p.value));
        assert_eq!(
            parsed,
            Some((3, serde_json::json!({"a": [1, 2.5, null, true]})))
        );
    }

    #[test]
    fn whitespace_only_json_is_nothing() {
        assert!(matches!(parse_text(" \n"), Ok(None)));
    }

    #[test]
    fn syntax_errors_cite_the_line() {
        let error = parse_text("{\n  \"a\": 1,\n  \"b\" 2\n}\n")
            .err()
            .map(|e| e.to_string());
        let error = error.unwrap_or_default();
        assert!(error.starts_with("m.json:3: "), "{error}");
    }

    #[test]
    fn repeated_keys_are_refused_with_their_line() {
        let error = parse_text("{\n  \"a\": 1,\n  \"a\": 2\n}")
            .err()
            .map(|e| e.to_string());
        let error = error.unwrap_or_default();
        assert!(
            error.starts_with("m.json:3: duplicate key \"a\""),
            "{error}"
        );
    }

    #[test]
    fn trailing_content_is_refused() {
        assert!(parse_text("{} {}").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let error = parse_text(&"[".repeat(10_000)).err().map(|e| e.to_string());
        let error = error.unwrap_or_default();
        assert!(error.contains("recursion limit"), "{error}");
    }
}
