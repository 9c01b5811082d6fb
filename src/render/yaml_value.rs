//! Reads one YAML document into a `serde_yaml::Value` with a cap on how many values it holds.
//!
//! serde_yaml's repetition limit stops nested alias bombs, but not a wide one: a large anchor
//! referenced many times grows with the product of the two and can exhaust memory from a small
//! file. Counting values as they are built turns that into an error.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess};
use serde::de::{VariantAccess, Visitor};
use serde_yaml::mapping::Entry;
use serde_yaml::{Mapping, Value};

/// Values a whole render may always build, however little text it reads.
const MIN_VALUES: usize = 500_000;
/// Values allowed per byte of text read: without aliases a value takes at least one byte, so
/// this only limits how far aliases may multiply the input.
const VALUES_PER_BYTE: usize = 4;

/// How many more YAML values may be built. One budget is shared by every file of a render, so
/// many small files cannot each claim the floor.
#[derive(Debug)]
pub(crate) struct ValueBudget {
    remaining: Cell<usize>,
    granted: Cell<usize>,
}

impl ValueBudget {
    pub(crate) fn new() -> Self {
        ValueBudget {
            remaining: Cell::new(MIN_VALUES),
            granted: Cell::new(MIN_VALUES),
        }
    }

    /// Adds the allowance for `bytes` more bytes of text.
    pub(crate) fn grant(&self, bytes: usize) {
        let more = bytes.saturating_mul(VALUES_PER_BYTE);
        self.remaining
            .set(self.remaining.get().saturating_add(more));
        self.granted.set(self.granted.get().saturating_add(more));
    }

    fn spend<E: de::Error>(&self) -> Result<(), E> {
        match self.remaining.get().checked_sub(1) {
            Some(left) => {
                self.remaining.set(left);
                Ok(())
            }
            None => Err(E::custom(format!(
                "the manifests expand to more than {} values (through YAML aliases?); refusing to load them",
                self.granted.get()
            ))),
        }
    }
}

/// Parses `text` (one document), charging each value built to `budget`. Custom tags
/// (`!thing`) are dropped, keeping the tagged value, as Kubernetes' reader does; repeated
/// mapping keys are an error.
pub(crate) fn parse_document(text: &str, budget: &ValueBudget) -> Result<Value, serde_yaml::Error> {
    Budgeted { budget }.deserialize(serde_yaml::Deserializer::from_str(text))
}

/// Builds a value, spending one unit of the shared budget per value built.
#[derive(Clone, Copy)]
struct Budgeted<'b> {
    budget: &'b ValueBudget,
}

impl Budgeted<'_> {
    fn spend<E: de::Error>(self) -> Result<(), E> {
        self.budget.spend()
    }

    fn leaf<E: de::Error>(self, value: Value) -> Result<Value, E> {
        self.spend()?;
        Ok(value)
    }
}

impl<'de> DeserializeSeed<'de> for Budgeted<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Budgeted<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        self.leaf(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Value, E> {
        self.leaf(Value::Number(n.into()))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
        self.leaf(Value::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
        self.leaf(Value::Number(n.into()))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        self.leaf(Value::String(s.to_string()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        self.leaf(Value::String(s))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.leaf(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.leaf(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.spend()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.spend()?;
        let mut mapping = Mapping::new();
        while let Some(key) = map.next_key_seed(self)? {
            match mapping.entry(key) {
                Entry::Occupied(entry) => {
                    return Err(de::Error::custom(format!(
                        "duplicate entry with key {}",
                        describe_key(entry.key())
                    )));
                }
                Entry::Vacant(entry) => {
                    entry.insert(map.next_value_seed(self)?);
                }
            }
        }
        Ok(Value::Mapping(mapping))
    }

    /// serde_yaml hands over a value with a custom tag as an enum whose variant is the tag.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let (_tag, contents) = data.variant::<de::IgnoredAny>()?;
        contents.newtype_variant_seed(self)
    }
}

fn describe_key(key: &Value) -> String {
    match key {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => "(a collection)".to_string(),
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn parse(text: &str) -> Result<Value, String> {
        let budget = ValueBudget::new();
        budget.grant(text.len());
        parse_document(text, &budget).map_err(|e| e.to_string())
    }

    #[test]
    fn a_wide_alias_bomb_is_refused_before_it_expands() {
        // 2,000 values referenced 2,000 times: four million values from a 14 kB document.
        // serde_yaml's repetition limit allows this (only 2,000 alias jumps).
        let items = vec!["x"; 2_000].join(",");
        let refs = vec!["*a"; 2_000].join(",");
        let text = format!("a: &a [{items}]\nb: [{refs}]\n");
        let error = parse(&text).err().unwrap_or_default();
        assert!(error.contains("refusing to load them"), "{error}");
    }

    #[test]
    fn the_budget_is_shared_between_documents() {
        let budget = ValueBudget::new();
        let items = vec!["x"; 1_000].join(",");
        let refs = vec!["*a"; 100].join(",");
        let text = format!("a: &a [{items}]\nb: [{refs}]\n");
        // Each document builds about 100,000 values: a few fit, then the floor is spent.
        let loaded = (0..10)
            .take_while(|_| parse_document(&text, &budget).is_ok())
            .count();
        assert!((1..10).contains(&loaded), "{loaded}");
    }

    #[test]
    fn modest_alias_use_is_fine() {
        let text = "base: &base {a: 1, b: [x, y]}\none: *base\ntwo: *base\n";
        let value = parse(text).ok();
        assert_eq!(
            value.as_ref().map(|v| v["two"]["b"][1].as_str()),
            Some(Some("y"))
        );
    }

    #[test]
    fn custom_tags_keep_their_value() {
        let value = parse("a: !secret {b: 1}\nc: !!str 2\n").ok();
        let expected: Option<Value> = serde_yaml::from_str("{a: {b: 1}, c: '2'}").ok();
        assert_eq!(value, expected);
    }

    #[test]
    fn repeated_keys_are_refused() {
        let error = parse("a: 1\nb: 2\na: 3\n").err().unwrap_or_default();
        assert!(error.contains("duplicate entry with key \"a\""), "{error}");
    }
}
