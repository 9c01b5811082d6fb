//! One YAML document -> the JSON value kubectl would make of it.
//!
//! Built from granit-parser's events, which keep each scalar's style (plain or quoted) so plain
//! scalars can be resolved by Kubernetes' YAML 1.1 rules (`resolve`). Hostile input stays cheap:
//! nesting is capped, including nesting that aliases build; every value built is charged to a
//! budget shared by the whole render, so a wide alias bomb fails instead of exhausting memory.
//! Unlike kubectl, a mapping that repeats a key is refused rather than keeping the last value,
//! except where the reader must see exactly what kubectl sees (`RepeatedKeys::LastWins`: a
//! kustomization, which kustomize reads with go-yaml v2 into a map, a later key replacing an
//! earlier one).

use std::cell::Cell;
use std::collections::{HashMap, HashSet};

use granit_parser::{Event, Options, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Value};

use super::malformed::Malformed;
use super::resolve::{ScalarTag, resolve_scalar};

/// Values a whole render may always build, however little text it reads.
const MIN_VALUES: usize = 500_000;
/// Values allowed per byte of text read: without aliases a value takes at least one byte, so
/// this only limits how far aliases may multiply the input.
const VALUES_PER_BYTE: usize = 4;
/// Deepest nesting of sequences and mappings accepted, aliases included. Real manifests stay
/// far below; the cap keeps every later recursive walk of the value off the stack's limit.
pub(crate) const MAX_DEPTH: usize = 128;

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

    fn spend(&self, values: usize) -> Result<(), Malformed> {
        match self.remaining.get().checked_sub(values) {
            Some(left) => {
                self.remaining.set(left);
                Ok(())
            }
            None => Err(Malformed::TooManyValues {
                granted: self.granted.get(),
            }),
        }
    }
}

/// Why a document could not be read, at a line and column of the text given (from 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {line} column {column}")]
pub struct ReadError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A document read: its value, and where each entry of a top-level `items` sequence starts (a
/// List's objects), so every item can name its own line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Document {
    pub value: Value,
    /// Line (from 1, in the text given) of each element of the root mapping's `items`.
    pub item_lines: Vec<usize>,
}

/// What a mapping that writes the same key twice means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RepeatedKeys {
    /// An error: a manifest that says two things of one field is a mistake worth naming.
    Refused,
    /// The last value is kept, as go-yaml v2 decoding into a map keeps it.
    LastWins,
}

/// Reads `text`, which holds at most one document; no document at all reads as null.
pub(crate) fn read_document(text: &str, budget: &ValueBudget) -> Result<Value, ReadError> {
    read_document_with_items(text, budget).map(|document| document.value)
}

/// `read_document`, with `repeated` saying what a repeated key means.
pub(crate) fn read_document_with(
    text: &str,
    budget: &ValueBudget,
    repeated: RepeatedKeys,
) -> Result<Value, ReadError> {
    read(text, budget, repeated).map(|document| document.value)
}

/// `read_document`, also telling where the items of a List start.
pub(crate) fn read_document_with_items(
    text: &str,
    budget: &ValueBudget,
) -> Result<Document, ReadError> {
    read(text, budget, RepeatedKeys::Refused)
}

fn read(text: &str, budget: &ValueBudget, repeated: RepeatedKeys) -> Result<Document, ReadError> {
    let mut options = Options::default();
    options.set_emit_comments(false);
    options.flow_nesting_limit = MAX_DEPTH;
    options.block_nesting_limit = MAX_DEPTH;
    options.emit_anchor_events = true;
    let spelled = if text.contains('!') {
        go_yaml_tags(text, &options)
    } else {
        None
    };
    let text = spelled.as_deref().unwrap_or(text);
    let mut builder = Builder {
        budget,
        repeated,
        stack: Vec::new(),
        anchors: HashMap::new(),
        result: None,
        documents: 0,
        item_lines: Vec::new(),
    };
    for event in Parser::new_from_str_with_options(text, options) {
        let (event, span) = event.map_err(|error| ReadError {
            line: error.marker().line(),
            column: error.marker().col() + 1,
            message: Malformed::Syntax(error.info()).to_string(),
        })?;
        if let Some(tag) = span.tag_span()
            && let Some(range) = tag.byte_range()
            && let Some(written) = text.get(range.clone())
            && (written.contains('#')
                || !text[range.end..].starts_with([' ', '\t', '\r', '\n'])
                    && range.end < text.len())
        {
            // go-yaml ends a tag at the first character outside its URI set (which has no `#`;
            // `,` `[` `]` are in it, see `go_yaml_tags`) and then wants whitespace: kubectl
            // refuses `{a: !!str}` and `!x#y`, which the YAML spec would read.
            return Err(ReadError {
                line: tag.start.line(),
                column: tag.start.col() + 1,
                message: Malformed::TagUnended {
                    tag: written.to_string(),
                }
                .to_string(),
            });
        }
        builder.event(event, span).map_err(|malformed| ReadError {
            line: span.start.line(),
            column: span.start.col() + 1,
            message: malformed.to_string(),
        })?;
    }
    let value = builder.result.unwrap_or(Value::Null);
    if let Some(error) = Unrepresentable::find(&value) {
        return Err(error);
    }
    Ok(Document {
        value,
        item_lines: builder.item_lines,
    })
}

/// How many tags one document may have respelled (each costs a parse of the document).
const MAX_TAG_RESPELLINGS: usize = 64;

/// `text` with every tag spelled so the parser ends it where go-yaml v2 does, or `None` when
/// nothing needs it. go-yaml takes `,`, `[`, `]` and `!` into a tag's suffix wherever they
/// stand (`!a,b v` is the tag `!a,b`; in `[!a,b]` the tag swallows `,b]`); the YAML spec, and
/// the parser, end a tag before them. Written as percent escapes, they stay in the tag, which
/// reads the same either way: a tag kubectl does not know leaves its value as text.
fn go_yaml_tags(text: &str, options: &Options) -> Option<String> {
    let mut current: Option<String> = None;
    for _ in 0..MAX_TAG_RESPELLINGS {
        let source = current.as_deref().unwrap_or(text);
        let Some(at) = tag_to_respell(source, options) else {
            return current;
        };
        let respelled = respell_tag(source, at)?;
        current = Some(respelled);
    }
    current
}

/// The byte offset of the first tag the parser ends before go-yaml would.
fn tag_to_respell(source: &str, options: &Options) -> Option<usize> {
    for event in Parser::new_from_str_with_options(source, options.clone()) {
        match event {
            Ok((_, span)) => {
                let Some(range) = span.tag_span().and_then(|tag| tag.byte_range()) else {
                    continue;
                };
                if source[range.end..].starts_with([',', '[', ']', '!']) {
                    return Some(range.start);
                }
            }
            Err(error) => {
                // A tag the parser refused for what follows it: that may be go-yaml's tag.
                let at = error.marker().byte_offset()?;
                let refused = error.info().starts_with("while scanning a tag");
                return (refused && source[at..].starts_with('!')).then_some(at);
            }
        }
    }
    None
}

/// `source` with the tag at `at` (its `!`) scanned as go-yaml scans it, its suffix's `,`, `[`,
/// `]` and `!` escaped; `None` when that changes nothing.
fn respell_tag(source: &str, at: usize) -> Option<String> {
    let rest = &source[at..];
    if rest.starts_with("!<") {
        return None;
    }
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    // The handle: `!`, `!!` or `!word!`; a `!word` without the second `!` is all suffix.
    let after_bang = &rest[1..];
    let word_len = after_bang
        .find(|c: char| !word(c))
        .unwrap_or(after_bang.len());
    let handle_len = if after_bang[word_len..].starts_with('!') {
        1 + word_len + 1
    } else {
        1
    };
    let uri = |c: char| word(c) || ";/?:@&=+$,.!~*'()[]%".contains(c);
    let suffix = &rest[handle_len..];
    let suffix_len = suffix.find(|c: char| !uri(c)).unwrap_or(suffix.len());
    let mut spelled = String::with_capacity(source.len() + 16);
    spelled.push_str(&source[..at + handle_len]);
    let mut changed = false;
    for c in suffix[..suffix_len].chars() {
        match c {
            ',' => spelled.push_str("%2C"),
            '[' => spelled.push_str("%5B"),
            ']' => spelled.push_str("%5D"),
            '!' => spelled.push_str("%21"),
            other => {
                spelled.push(other);
                continue;
            }
        }
        changed = true;
    }
    spelled.push_str(&suffix[suffix_len..]);
    changed.then_some(spelled)
}

/// A value JSON cannot hold (`.inf`, `.nan`) is an error only if it survives into the document:
/// kubectl converts to JSON at the end, after a later key or merge may have replaced it. Until
/// then it is held as a string no manifest can contain (it starts with a Unicode
/// noncharacter), carrying where it was written and why it cannot be sent.
struct Unrepresentable;

impl Unrepresentable {
    const MARK: &'static str = "\u{10fffe}unrepresentable\u{10fffe}";

    fn mark(line: usize, column: usize, why: &str) -> Value {
        Value::String(format!("{}{line}:{column}:{why}", Self::MARK))
    }

    /// The first such value left in `value`. Depth is capped, so recursion is safe.
    fn find(value: &Value) -> Option<ReadError> {
        match value {
            Value::String(s) => {
                let rest = s.strip_prefix(Self::MARK)?;
                let mut parts = rest.splitn(3, ':');
                let line = parts.next()?.parse().ok()?;
                let column = parts.next()?.parse().ok()?;
                Some(ReadError {
                    line,
                    column,
                    message: parts.next()?.to_string(),
                })
            }
            Value::Array(items) => items.iter().find_map(Self::find),
            Value::Object(object) => object.values().find_map(Self::find),
            _ => None,
        }
    }
}

/// A collection being built.
enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
    },
    Map {
        object: Map<String, Value>,
        anchor: usize,
        /// Keys written in this mapping (not merged in), to refuse a repeated one.
        written: HashSet<String>,
        key: Option<Key>,
    },
}

enum Key {
    Field(String),
    /// A plain `<<`: the value's mappings are merged in.
    Merge,
}

/// An anchored value, ready to be copied wherever it is aliased.
struct Anchored {
    value: Value,
    values: usize,
    depth: usize,
}

struct Builder<'b> {
    budget: &'b ValueBudget,
    repeated: RepeatedKeys,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    result: Option<Value>,
    documents: usize,
    item_lines: Vec<usize>,
}

impl Builder<'_> {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Malformed> {
        let node = matches!(
            event,
            Event::Scalar(..)
                | Event::SequenceStart(..)
                | Event::MappingStart(..)
                | Event::Alias(_)
        );
        if node && self.at_list_item() {
            self.item_lines.push(span.start.line());
        }
        match event {
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents > 1 {
                    // kubectl would read the first and silently drop the rest.
                    return Err(Malformed::SecondDocument);
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.budget.spend(1)?;
                if self.expects_key() {
                    let plain = style == ScalarStyle::Plain;
                    // go-yaml merges under a plain `<<`, and under any `<<` tagged `!!merge`.
                    let merge_tag = tag
                        .as_deref()
                        .and_then(|t| t.suffix_in_namespace("tag:yaml.org,2002:"))
                        .as_deref()
                        == Some("merge");
                    if text == "<<" && (plain && tag.is_none() || merge_tag) {
                        return self.set_key(Key::Merge);
                    }
                    let scalar = resolve_scalar(&text, plain, scalar_tag(tag.as_deref()))?;
                    if anchor != 0 {
                        let value = scalar.clone().into_json().unwrap_or(Value::Null);
                        self.remember(anchor, &value);
                    }
                    return self.set_key(Key::Field(scalar.into_key()?));
                }
                let plain = style == ScalarStyle::Plain;
                let scalar = resolve_scalar(&text, plain, scalar_tag(tag.as_deref()))?;
                let value = scalar.into_json().unwrap_or_else(|why| {
                    Unrepresentable::mark(span.start.line(), span.start.col() + 1, &why.to_string())
                });
                self.finish(value, anchor)?;
            }
            Event::SequenceStart(_, anchor, _) => {
                self.open()?;
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    anchor,
                });
            }
            Event::MappingStart(_, anchor, _) => {
                self.open()?;
                self.stack.push(Frame::Map {
                    object: Map::new(),
                    anchor,
                    written: HashSet::new(),
                    key: None,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq { items, anchor }) => self.finish(Value::Array(items), anchor)?,
                Some(Frame::Map { object, anchor, .. }) => {
                    self.finish(Value::Object(object), anchor)?;
                }
                None => {}
            },
            // go-yaml takes only letters, digits, `_` and `-` for an anchor's name.
            Event::Anchor(_, name) => {
                if !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(Malformed::AnchorName {
                        name: name.to_string(),
                    });
                }
            }
            Event::Alias(id) => {
                let Some(anchored) = self.anchors.get(&id) else {
                    return Err(Malformed::UnknownAnchor);
                };
                if self.expects_key() {
                    let key = match &anchored.value {
                        Value::String(s) => s.clone(),
                        Value::Bool(b) => b.to_string(),
                        Value::Number(n) => n.to_string(),
                        other => return Err(Malformed::InvalidKey(kind_of(other))),
                    };
                    return self.set_key(Key::Field(key));
                }
                if self.stack.len() + anchored.depth > MAX_DEPTH {
                    return Err(Malformed::TooDeepThroughAlias);
                }
                self.budget.spend(anchored.values)?;
                let value = anchored.value.clone();
                self.finish(value, 0)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether the next node is an element of the root mapping's `items` sequence.
    fn at_list_item(&self) -> bool {
        matches!(
            self.stack.as_slice(),
            [Frame::Map { key: Some(Key::Field(key)), .. }, Frame::Seq { .. }] if key == "items"
        )
    }

    fn expects_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    fn set_key(&mut self, new: Key) -> Result<(), Malformed> {
        if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
            *key = Some(new);
        }
        Ok(())
    }

    /// A collection starts: it cannot be a key, and must fit the depth cap.
    fn open(&mut self) -> Result<(), Malformed> {
        self.budget.spend(1)?;
        if self.expects_key() {
            return Err(Malformed::InvalidKey("a collection"));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(Malformed::TooDeep);
        }
        Ok(())
    }

    /// A node is complete: remember it under its anchor and place it in its parent.
    fn finish(&mut self, value: Value, anchor: usize) -> Result<(), Malformed> {
        if anchor != 0 {
            self.remember(anchor, &value);
        }
        match self.stack.last_mut() {
            None => self.result = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map {
                object,
                written,
                key,
                ..
            }) => match key.take() {
                Some(Key::Field(name)) => {
                    if !written.insert(name.clone()) && self.repeated == RepeatedKeys::Refused {
                        return Err(Malformed::DuplicateKey(name));
                    }
                    object.insert(name, value);
                }
                Some(Key::Merge) => merge(object, value)?,
                None => {}
            },
        }
        Ok(())
    }

    fn remember(&mut self, anchor: usize, value: &Value) {
        let (values, depth) = measure(value);
        self.anchors.insert(
            anchor,
            Anchored {
                value: value.clone(),
                values,
                depth,
            },
        );
    }
}

/// go-yaml v2's merge: the keys of a mapping (or of each mapping of a sequence, earlier ones
/// winning) are set in order with the explicit keys, so a later key, merged or written,
/// replaces an earlier one.
fn merge(object: &mut Map<String, Value>, value: Value) -> Result<(), Malformed> {
    match value {
        Value::Object(merged) => object.extend(merged),
        Value::Array(items) => {
            if !items.iter().all(Value::is_object) {
                return Err(Malformed::MergeValue);
            }
            for item in items.into_iter().rev() {
                if let Value::Object(merged) = item {
                    object.extend(merged);
                }
            }
        }
        _ => return Err(Malformed::MergeValue),
    }
    Ok(())
}

fn scalar_tag(tag: Option<&Tag>) -> Option<ScalarTag> {
    tag.map(|tag| ScalarTag::from_core(tag.suffix_in_namespace("tag:yaml.org,2002:").as_deref()))
}

/// How many values `value` holds and how deeply it nests. Depth is capped, so recursion is safe.
fn measure(value: &Value) -> (usize, usize) {
    match value {
        Value::Array(items) => items.iter().fold((1, 1), |(n, d), item| {
            let (items_n, item_d) = measure(item);
            (n + items_n, d.max(item_d + 1))
        }),
        Value::Object(object) => object.values().fold((1, 1), |(n, d), item| {
            let (items_n, item_d) = measure(item);
            (n + items_n, d.max(item_d + 1))
        }),
        _ => (1, 0),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
        _ => "null",
    }
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
