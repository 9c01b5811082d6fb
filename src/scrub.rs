//! The one scrubber between what the process knows and what it prints or writes.
//!
//! Secret values are hidden in three ways, the last two done here:
//! - by structure: a Secret's `data` and `stringData` values are replaced by `***` in the plan
//!   itself (`ssa::mask`), whatever their text, so no report, JSON or plan file holds them;
//! - in the values of other objects: a Secret value the repository also inlines elsewhere (a
//!   ConfigMap's data, an env `value:`, an annotation) is scrubbed from the string values of
//!   every object body a report shows ([`Scrubber::scrub_values`], applied once per report by
//!   `report`), by the same rules as free text, never from a key or an [`IDENTITY`] field;
//! - in free text: everything the process prints or writes (stdout and stderr through
//!   [`Writer`] and [`text`], logs, the status ConfigMap, Events, pull-request bodies) passes
//!   through here, and the values learned are replaced wherever they stand as a word of their
//!   own. A new message therefore cannot leak by forgetting to mask: it passes through the
//!   scrubber because it is output.
//!
//! What is learned, for a Secret:
//! - each value of `data` as sent (base64) and decoded, and each value of `stringData` as
//!   given and base64-encoded; each in its JSON/Go-escaped spelling too, and each line of a
//!   multi-line value, since messages quote values whole, escaped or cut into lines;
//! - a key that cannot be a Secret key (`[-._a-zA-Z0-9]+`): it is content, typically an env
//!   file line without `=` (`DB_PASSWORD hunter2`), so its tail from the first character no key
//!   may hold (` hunter2`) is scrubbed, and the key is kept so the message still says which
//!   entry is wrong. Valid keys are names, not secrets, and stay readable.
//!
//! What is never rewritten, so a plan says exactly what will be applied:
//! - part of a word: a value is replaced only where it stands as a token of its own (see
//!   [`stands_alone`]), so a Secret holding `hunter2` leaves `hunter22` alone, and one holding
//!   `admin` never turns `ops-admin` into `ops-***` or `administrator` into `***istrator`;
//! - what names an object in the plan: its apiVersion, kind, name, namespace and
//!   generateName, the identities reports print, and every key (learned with
//!   [`learn_public`]). A value that is also such a name is not the Secret's to hide: the plan
//!   names the object by it anyway, and masking it would rewrite which object a change is to.
//!   It stays wherever it appears. Any other text of any object is a value, which a Secret
//!   value inlined there is scrubbed from;
//! - a value too common to mean anything ([`is_too_common`]: `admin`, `root`, `true`, `8080`,
//!   ...). Such a word is in every message already; scrubbing it would tear them all apart,
//!   and showing it tells a reader nothing about the Secret. The Secret itself still shows
//!   `***` for it, by structure.
//!
//! Short values: a value of fewer than [`MIN_LEN`] characters (`"1"`, `"on"`), or one that
//! reads as a number or literal, cannot be told from ordinary text. Such a value is scrubbed
//! only where it stands quoted on its own (`"1"`), which is how the server and our errors quote
//! what they reject.
//!
//! Credentials (git tokens, the kubeconfig's, a registry's) are distinctive and never shown,
//! so they are replaced wherever they appear, inside a word or not. Userinfo in any URL
//! (`https://user:token@host`) is replaced by `***` wherever it appears.
//!
//! Lifetime: a command-line run learns for its whole life. A long-running process (the
//! controller, the reconciler) opens a [`Cycle`] around each sync; what is learned while cycles
//! run is forgotten once every cycle that was running then has ended, so the scrubber holds the
//! values of the syncs in flight, not of every tenant it ever served. A value a sync
//! needs again is learned again by its next cycle (it renders and reads afresh).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::{LazyLock, OnceLock, RwLock};

use aho_corasick::AhoCorasick;

use base64::Engine;
use serde_json::Value;

/// Shown in place of anything scrubbed.
pub const MASK: &str = "***";

/// Values shorter than this are scrubbed only where quoted on their own (see the module doc).
pub const MIN_LEN: usize = 4;

/// The shortest line of a multi-line value that is looked for on its own.
pub const MIN_LINE_LEN: usize = 8;

/// Values too common to scrub in free text, compared without case. Each is a word the server,
/// kubectl, Helm, git or our own reports use in ordinary sentences (`User "admin" cannot list`,
/// `namespace default`, `port 8080`, `password authentication failed`), or a default a chart
/// ships (`admin`, `postgres`, `changeme`) that a reader cannot tell from that word. The test
/// `every_common_value_is_a_word_of_ordinary_messages` holds the evidence for each.
pub const COMMON_VALUES: &[&str] = &[
    "admin",
    "administrator",
    "root",
    "user",
    "username",
    "password",
    "passwd",
    "secret",
    "token",
    "default",
    "true",
    "false",
    "null",
    "none",
    "yes",
    "enabled",
    "disabled",
    "test",
    "guest",
    "changeme",
    "postgres",
    "mysql",
    "redis",
    "localhost",
    "80",
    "443",
    "3000",
    "5432",
    "6379",
    "8080",
    "8443",
    "9090",
];

/// Shown on the "after" side of a change for a value that changed but reads the same scrubbed.
pub const MASK_CHANGED: &str = "*** (changed)";

/// An object's identity in its body: never rewritten, whatever a Secret holds. A report names
/// the object by it, and an apply writes to the object it names.
pub const IDENTITY: &[&str] = &[
    "/apiVersion",
    "/kind",
    "/metadata/name",
    "/metadata/namespace",
    "/metadata/generateName",
];

const SECRET_FIELDS: &[&str] = &["data", "stringData"];
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A value this common (see [`COMMON_VALUES`]) is not scrubbed in free text.
pub fn is_too_common(value: &str) -> bool {
    let value = value.trim();
    COMMON_VALUES.iter().any(|c| c.eq_ignore_ascii_case(value))
}

/// Whether a scrub may leave Secret values in place: only a report the user asked to see with
/// `--show-secrets`. Credentials are scrubbed whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reveal {
    Nothing,
    SecretValues,
}

/// When a value was last learned: the generation of the cycles then running, or [`PINNED`].
type Stamp = u64;

/// Learned outside any cycle (a command-line run, the process's own credentials): kept.
const PINNED: Stamp = Stamp::MAX;

/// What is known to be secret, and what is known to be shown anyway. One process-wide instance
/// lives behind the free functions; a value of its own serves a single object's messages and
/// tests.
#[derive(Debug, Clone)]
pub struct Scrubber {
    /// Every spelling learned, with whether it is a Secret value (revealable) or a credential
    /// (never), and when it was last learned.
    values: BTreeMap<(String, Kind), Stamp>,
    /// Text the plan shows as structure (names, keys, the text of objects that are not
    /// Secrets): never rewritten, see the module doc.
    public: BTreeMap<String, Stamp>,
    /// The stamp what is learned now gets.
    stamp: Stamp,
    /// Built on the first scrub after learning: one pass over a text finds every value (a
    /// value per pass made printing a 4,000-object plan quadratic).
    matchers: OnceLock<Matchers>,
}

impl Default for Scrubber {
    fn default() -> Self {
        Scrubber {
            values: BTreeMap::new(),
            public: BTreeMap::new(),
            stamp: PINNED,
            matchers: OnceLock::new(),
        }
    }
}

/// How a pattern may match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// A credential: anywhere.
    Anywhere,
    /// A Secret value: only as a token of its own.
    Token,
}

/// Every known value at once, with the kind and rule of each pattern.
#[derive(Debug, Clone)]
struct Matchers {
    substrings: AhoCorasick,
    substring_rules: Vec<(Kind, Rule)>,
    quoted: AhoCorasick,
    quoted_kinds: Vec<Kind>,
}

impl Matchers {
    fn new(scrubber: &Scrubber) -> Matchers {
        let build = |patterns: Vec<String>| {
            AhoCorasick::new(patterns).expect("patterns of known values always build")
        };
        let mut substrings = Vec::new();
        let mut substring_rules = Vec::new();
        let mut quoted = Vec::new();
        let mut quoted_kinds = Vec::new();
        for (value, kind) in scrubber.values.keys() {
            if *kind == Kind::SecretValue && scrubber.public.contains_key(value) {
                continue;
            }
            if is_ambiguous(value) {
                quoted.push(format!("\"{value}\""));
                quoted_kinds.push(*kind);
            } else {
                substrings.push(value.clone());
                substring_rules.push((
                    *kind,
                    match kind {
                        Kind::Credential => Rule::Anywhere,
                        Kind::SecretValue => Rule::Token,
                    },
                ));
            }
        }
        Matchers {
            substrings: build(substrings),
            substring_rules,
            quoted: build(quoted),
            quoted_kinds,
        }
    }
}

/// A character that continues a word: names join words with `-` and `_` (`ops-admin`).
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// Whether `text[start..end]` stands as a token of its own: neither edge continues a word
/// around it. A dot between word characters joins them too (`admin.example.com`), while one
/// ending a sentence does not. An edge of the value that is not itself a word character (a
/// quote, a space) stands on its own.
pub fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let value = &text[start..end];
    let joined = |next: Option<char>, beyond: Option<char>| match next {
        Some(c) if is_word(c) => true,
        Some('.') => beyond.is_some_and(is_word),
        _ => false,
    };
    let starts_word = value.chars().next().is_some_and(is_word);
    let ends_word = value.chars().next_back().is_some_and(is_word);
    let mut before = text[..start].chars().rev();
    let mut after = text[end..].chars();
    let (b1, b2) = (before.next(), before.next());
    let (a1, a2) = (after.next(), after.next());
    let continues_before = starts_word && joined(b1, b2);
    let continues_after = ends_word && joined(a1, a2);
    !(continues_before || continues_after)
}

/// `text` with every match of `matcher` whose kind is hidden (and that its rule allows)
/// replaced by `mask`. Overlapping matches are masked as one, so no part of either shows (a
/// value containing another is scrubbed whole); adjacent ones each get their mask.
fn mask_matches(
    text: &str,
    matcher: &AhoCorasick,
    allowed: impl Fn(usize, usize, usize) -> bool,
    mask: &str,
) -> String {
    let mut spans: Vec<(usize, usize)> = matcher
        .find_overlapping_iter(text)
        .filter(|m| allowed(m.pattern().as_usize(), m.start(), m.end()))
        .map(|m| (m.start(), m.end()))
        .collect();
    if spans.is_empty() {
        return text.to_string();
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut spans = spans.into_iter().peekable();
    while let Some((start, mut end)) = spans.next() {
        while let Some(&(next, next_end)) = spans.peek()
            && next < end
        {
            end = end.max(next_end);
            spans.next();
        }
        out.push_str(&text[at..start]);
        out.push_str(mask);
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    SecretValue,
    Credential,
}

impl Scrubber {
    /// The values of one object, if it is a Secret.
    pub fn from_object(object: &Value) -> Self {
        let mut s = Scrubber::default();
        s.learn_object(object);
        s
    }

    /// Learns the values of `object` if it is a v1 Secret (anything else holds none), and its
    /// names and keys as text shown anyway.
    pub fn learn_object(&mut self, object: &Value) {
        if !is_secret(object) {
            return;
        }
        self.learn_public(object);
        for field in SECRET_FIELDS {
            let Some(map) = object.get(*field).and_then(Value::as_object) else {
                continue;
            };
            for (key, value) in map {
                self.learn_key(key);
                let Some(text) = value.as_str() else { continue };
                let b64 = base64::engine::general_purpose::STANDARD;
                if *field == "data" {
                    self.learn_value(text, Kind::SecretValue);
                    if let Ok(bytes) = b64.decode(text.trim())
                        && let Ok(clear) = String::from_utf8(bytes)
                    {
                        self.learn_value(&clear, Kind::SecretValue);
                    }
                } else {
                    self.learn_value(text, Kind::SecretValue);
                    self.learn_value(&b64.encode(text), Kind::SecretValue);
                }
            }
        }
        // A Secret applied client-side carries its values again, in clear, in this annotation.
        if let Some(last) = object
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(LAST_APPLIED))
            .and_then(Value::as_str)
            && let Ok(previous) = serde_json::from_str::<Value>(last)
        {
            self.learn_object(&previous);
        }
        self.reorder();
    }

    /// Learns what `object` shows as structure, which is never rewritten: its identity
    /// ([`IDENTITY`]: apiVersion, kind, name, namespace, generateName) and every key in it (a
    /// Secret's `data`/`stringData` keys only where they can be keys, see the module doc). Its
    /// other strings are values, which a Secret value inlined there is scrubbed from.
    pub fn learn_public(&mut self, object: &Value) {
        let mut found = Vec::new();
        for pointer in IDENTITY {
            if let Some(text) = object.pointer(pointer).and_then(Value::as_str) {
                found.push(text);
            }
        }
        let secret = is_secret(object);
        for (field, value) in object.as_object().into_iter().flatten() {
            found.push(field);
            if secret && SECRET_FIELDS.contains(&field.as_str()) {
                let keys = value.as_object().into_iter().flat_map(|m| m.keys());
                found.extend(keys.filter(|k| is_valid_key(k)).map(String::as_str));
            } else {
                public_keys(value, &mut found);
            }
        }
        for text in found {
            self.learn_public_text(text);
        }
    }

    /// Learns one text shown as structure (an object's name, a namespace), and each of its
    /// tokens.
    pub fn learn_public_text(&mut self, text: &str) {
        let mut changed = false;
        let mut add = |piece: &str, this: &mut Scrubber| {
            if piece.is_empty() {
                return;
            }
            // Only a known value changes what is matched: anything else is merely recorded.
            if this
                .values
                .contains_key(&(piece.to_string(), Kind::SecretValue))
            {
                changed = true;
            }
            let stamp = this.stamp;
            match this.public.get_mut(piece) {
                Some(at) => *at = (*at).max(stamp),
                None => {
                    this.public.insert(piece.to_string(), stamp);
                }
            }
        };
        if text.len() <= MAX_PUBLIC_LEN {
            add(text, self);
        }
        for token in tokens(text) {
            add(token, self);
        }
        if changed {
            self.reorder();
        }
    }

    /// Learns a credential: never shown, whatever `--show-secrets` says.
    pub fn learn_credential(&mut self, credential: &str) {
        self.learn_value(credential, Kind::Credential);
        let encoded = percent_encode(credential);
        if encoded != credential {
            self.learn_value(&encoded, Kind::Credential);
        }
        self.reorder();
    }

    /// Learns a basic-auth pair: the password, and the header's encoding of both.
    pub fn learn_basic_auth(&mut self, user: &str, password: &str) {
        self.learn_credential(password);
        let header = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.learn_value(&header, Kind::Credential);
        self.reorder();
    }

    fn learn_key(&mut self, key: &str) {
        let Some(bad) = key.find(|c: char| !(c.is_ascii_alphanumeric() || "-._".contains(c)))
        else {
            return;
        };
        let tail = key[bad..].trim();
        if tail.chars().count() >= MIN_LEN {
            self.learn_value(tail, Kind::SecretValue);
        } else {
            // Too short to tell apart: the whole key is the unit a message quotes.
            self.learn_value(key, Kind::SecretValue);
        }
    }

    fn learn_value(&mut self, text: &str, kind: Kind) {
        if text.is_empty() || (kind == Kind::SecretValue && is_too_common(text)) {
            return;
        }
        let mut spellings = vec![text.to_string()];
        if let Ok(quoted) = serde_json::to_string(text) {
            spellings.push(quoted[1..quoted.len() - 1].to_string());
        }
        if text.contains('\n') {
            spellings.extend(text.lines().filter_map(line_fragment));
        }
        for spelling in spellings {
            if kind == Kind::SecretValue && is_too_common(&spelling) {
                continue;
            }
            let at = self.values.entry((spelling, kind)).or_insert(self.stamp);
            *at = (*at).max(self.stamp);
        }
    }

    /// What was learned changed: the matchers are built again on the next scrub.
    fn reorder(&mut self) {
        self.matchers.take();
    }

    /// Forgets what was last learned before `floor` (see [`Cycle`]).
    fn forget_before(&mut self, floor: Stamp) {
        let before = (self.values.len(), self.public.len());
        self.values.retain(|_, at| *at >= floor);
        self.public.retain(|_, at| *at >= floor);
        // Forgetting public text can bring a value back into the matchers, too.
        if (self.values.len(), self.public.len()) != before {
            self.reorder();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with everything known replaced by `***` and URL userinfo removed.
    pub fn scrub(&self, text: &str, reveal: Reveal) -> String {
        self.scrub_as(text, reveal, MASK)
    }

    /// The same as [`Scrubber::scrub`], a known value shown as `mask`.
    fn scrub_as(&self, text: &str, reveal: Reveal, mask: &str) -> String {
        let hidden = |kind: Kind| kind == Kind::Credential || reveal == Reveal::Nothing;
        let out = strip_userinfo(text);
        if self.is_empty() {
            return out;
        }
        let matchers = self.matchers.get_or_init(|| Matchers::new(self));
        let out = mask_matches(
            &out,
            &matchers.substrings,
            |pattern, start, end| {
                let (kind, rule) = matchers.substring_rules[pattern];
                hidden(kind) && (rule == Rule::Anywhere || stands_alone(&out, start, end))
            },
            mask,
        );
        mask_matches(
            &out,
            &matchers.quoted,
            |pattern, _, _| hidden(matchers.quoted_kinds[pattern]),
            &format!("\"{mask}\""),
        )
    }

    /// Whether [`Scrubber::scrub`] might change `text`: false when it holds no known value
    /// and no URL, whatever the rules would then decide.
    fn may_touch(&self, text: &str) -> bool {
        if text.contains("://") {
            return true;
        }
        if self.is_empty() {
            return false;
        }
        let matchers = self.matchers.get_or_init(|| Matchers::new(self));
        matchers.substrings.is_match(text) || matchers.quoted.is_match(text)
    }

    /// The same as [`Scrubber::scrub`] with nothing revealed.
    pub fn redact(&self, text: &str) -> String {
        self.scrub(text, Reveal::Nothing)
    }

    /// Scrubs the string values of an object's two sides in a change, as a plan shows them:
    /// every string but the keys and the [`IDENTITY`] fields, which name the object and are
    /// never rewritten. A value that changes between the sides but reads the same once
    /// scrubbed (one inlined Secret value replaced by another) shows `*** (changed)` on the
    /// after side, so the diff still shows that it changed.
    pub fn scrub_values(
        &self,
        before: Option<&mut Value>,
        after: Option<&mut Value>,
        reveal: Reveal,
    ) {
        let was = before.as_deref().cloned();
        if let Some(after) = after {
            self.scrub_values_at(after, was.as_ref(), Place::Root, reveal);
        }
        if let Some(before) = before {
            self.scrub_values_at(before, None, Place::Root, reveal);
        }
    }

    /// Scrubs the values under `value`, which stands at `place`; `was` is the value at the
    /// same place on the before side, unscrubbed.
    fn scrub_values_at(
        &self,
        value: &mut Value,
        was: Option<&Value>,
        place: Place,
        reveal: Reveal,
    ) {
        match value {
            Value::String(text) => {
                // Most values hold nothing known: find that out without building a new string.
                if !self.may_touch(text) {
                    return;
                }
                let shown = self.scrub(text, reveal);
                if shown == *text {
                    return;
                }
                let changed = was
                    .and_then(Value::as_str)
                    .is_some_and(|old| old != text && self.scrub(old, reveal) == shown);
                *text = if changed {
                    self.scrub_as(text, reveal, MASK_CHANGED)
                } else {
                    shown
                };
            }
            Value::Array(items) => {
                for (at, item) in items.iter_mut().enumerate() {
                    let was = was.and_then(|w| w.get(at));
                    self.scrub_values_at(item, was, Place::Inside, reveal);
                }
            }
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    let inner = match (place, key.as_str()) {
                        (Place::Root, "apiVersion" | "kind")
                        | (Place::Metadata, "name" | "namespace" | "generateName") => continue,
                        (Place::Root, "metadata") => Place::Metadata,
                        _ => Place::Inside,
                    };
                    let was = was.and_then(|w| w.get(key));
                    self.scrub_values_at(item, was, inner, reveal);
                }
            }
            _ => {}
        }
    }

    /// Scrubs every string (and object key) inside a JSON value, leaving its structure intact.
    pub fn scrub_json(&self, value: &mut Value, reveal: Reveal) {
        match value {
            Value::String(s) => *s = self.scrub(s, reveal),
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_json(v, reveal)),
            Value::Object(map) => {
                let taken = std::mem::take(map);
                for (key, mut v) in taken {
                    self.scrub_json(&mut v, reveal);
                    map.insert(self.scrub(&key, reveal), v);
                }
            }
            _ => {}
        }
    }
}

/// Where a value stands in an object body, as far as [`IDENTITY`] needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Root,
    Metadata,
    Inside,
}

/// Public text longer than this is recorded by its tokens only: a value is compared whole, and
/// a dashboard's JSON is no one's password.
const MAX_PUBLIC_LEN: usize = 256;

/// Every key inside `value`, at any depth.
fn public_keys<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| public_keys(v, out)),
        Value::Object(map) => {
            for (key, v) in map {
                out.push(key);
                public_keys(v, out);
            }
        }
        _ => {}
    }
}

/// The tokens of `text`, as [`stands_alone`] delimits them.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(is_word(c) || c == '.'))
        .flat_map(|piece| {
            // A dot joins words only between word characters: `a.b` is one token, `end.` ends.
            let trimmed = piece.trim_matches('.');
            std::iter::once(trimmed).chain(trimmed.split('.'))
        })
        .filter(|t| !t.is_empty())
}

fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
}

/// How one line of a multi-line value (a config file in a Secret) is looked for, if at all.
///
/// Such lines are often plain structure (`"name": "prometheus",` in a JSON datasource file)
/// that other objects hold too. Masking them wherever they appear would break the JSON report
/// itself, so a line is learned only when it is long enough to mean something
/// ([`MIN_LINE_LEN`]), and a line with `"` or `\` only in its JSON-escaped spelling: the form
/// it takes inside a string of any JSON output, never the report's own syntax.
fn line_fragment(line: &str) -> Option<String> {
    let line = line.trim();
    if line.chars().count() < MIN_LINE_LEN {
        return None;
    }
    if line.contains(['"', '\\']) {
        let quoted = serde_json::to_string(line).ok()?;
        return Some(quoted[1..quoted.len() - 1].to_string());
    }
    Some(line.to_string())
}

fn is_secret(object: &Value) -> bool {
    object.get("kind").and_then(Value::as_str) == Some("Secret")
        && object.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Too short, or a word JSON and YAML read as a number or literal: scrubbed only quoted.
fn is_ambiguous(text: &str) -> bool {
    text.chars().count() < MIN_LEN
        || matches!(text, "true" | "false" | "null")
        || text.parse::<f64>().is_ok()
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `scheme://user:password@host/path` -> `scheme://***@host/path`, for every URL in `text`.
/// scp-like addresses (`git@host:org/repo`) carry no secret and are left alone.
pub fn strip_userinfo(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || "/?#\"'<>`)]".contains(c))
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(i) if i > 0 => {
                out.push_str(MASK);
                out.push_str(&authority[i..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// A URL without its userinfo, for showing where a repository is.
pub fn url(url: &str) -> String {
    strip_userinfo(url)
}

/// The process's scrubber and the cycles running.
#[derive(Default)]
struct Known {
    scrubber: Scrubber,
    /// The generation each running cycle began at, by cycle.
    running: BTreeMap<u64, Stamp>,
    /// The newest generation begun; a cycle's values are stamped with it or a later one.
    generation: Stamp,
    next_cycle: u64,
}

impl Known {
    /// The stamp learning gets now: pinned outside any cycle.
    fn restamp(&mut self) {
        self.scrubber.stamp = if self.running.is_empty() {
            PINNED
        } else {
            self.generation
        };
    }
}

static KNOWN: LazyLock<RwLock<Known>> = LazyLock::new(Default::default);

fn known() -> std::sync::RwLockReadGuard<'static, Known> {
    KNOWN
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn learning() -> std::sync::RwLockWriteGuard<'static, Known> {
    KNOWN
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One sync's cycle in a long-running process: what is learned while it runs is forgotten
/// once it and every cycle running beside it have ended (see the module doc). Dropping the
/// value ends the cycle, however the sync ended.
#[must_use = "the cycle ends when this is dropped"]
pub struct Cycle {
    id: u64,
}

/// Begins a cycle; see [`Cycle`].
pub fn cycle() -> Cycle {
    let mut known = learning();
    known.generation += 1;
    known.next_cycle += 1;
    let (id, generation) = (known.next_cycle, known.generation);
    known.running.insert(id, generation);
    known.restamp();
    Cycle { id }
}

impl Drop for Cycle {
    fn drop(&mut self) {
        let mut known = learning();
        known.running.remove(&self.id);
        // Anything a running cycle learned carries a stamp no older than that cycle's start.
        let floor = known
            .running
            .values()
            .min()
            .copied()
            .unwrap_or(known.generation + 1);
        known.scrubber.forget_before(floor);
        known.restamp();
    }
}

/// How many values and public texts the process's scrubber holds (for tests).
pub fn held() -> (usize, usize) {
    let known = known();
    (known.scrubber.values.len(), known.scrubber.public.len())
}

/// Learns the values of an object rendered or read, if it is a Secret.
pub fn learn_object(object: &Value) {
    if is_secret(object) {
        learning().scrubber.learn_object(object);
    }
}

/// Learns what an object in a plan shows as structure (see [`Scrubber::learn_public`]).
pub fn learn_public(object: &Value) {
    learning().scrubber.learn_public(object);
}

/// Learns a text a report shows as structure: an object's identity, a context's name.
pub fn learn_public_text(text: &str) {
    learning().scrubber.learn_public_text(text);
}

/// Learns text that becomes a Secret value: a generator's literal value, env value or file.
pub fn learn_secret_text(text: &str) {
    let mut known = learning();
    known.scrubber.learn_value(text, Kind::SecretValue);
    known.scrubber.reorder();
}

/// Learns a generator entry that lacks its `=` (`PASSWORD hunter2`): key and value run
/// together, and the same rule as for a Secret key no key may be applies.
pub fn learn_malformed_entry(entry: &str) {
    let mut known = learning();
    known.scrubber.learn_key(entry.trim());
    known.scrubber.reorder();
}

/// Learns a credential the process holds.
pub fn learn_credential(credential: &str) {
    if !credential.is_empty() {
        learning().scrubber.learn_credential(credential);
    }
}

/// Learns a basic-auth pair the process sends.
pub fn learn_basic_auth(user: &str, password: &str) {
    if !password.is_empty() {
        learning().scrubber.learn_basic_auth(user, password);
    }
}

/// Everything known scrubbed from `text`: for errors, logs, status, Events and forges.
pub fn text(text: &str) -> String {
    known().scrubber.scrub(text, Reveal::Nothing)
}

/// Every string in `value` scrubbed.
pub fn json(value: &mut Value) {
    known().scrubber.scrub_json(value, Reveal::Nothing);
}

/// Every Secret value known scrubbed from the string values of one change's object, both
/// sides (see [`Scrubber::scrub_values`]); left with `reveal` (`--show-secrets`), like the
/// report they are in.
pub fn object_values(before: Option<&mut Value>, after: Option<&mut Value>, reveal: Reveal) {
    known().scrubber.scrub_values(before, after, reveal);
}

/// A writer that scrubs what passes through it, a line at a time (a value is never split
/// across lines: multi-line values are learned line by line). What is left without a newline
/// goes out on flush or drop. Only a report the user asked to see with `--show-secrets` is
/// made with [`Writer::report`] and [`Reveal::SecretValues`]; see [`Writer::stderr`].
pub struct Writer<W: Write> {
    inner: W,
    pending: Vec<u8>,
    reveal: Reveal,
}

impl<W: Write> Writer<W> {
    /// For reports on stdout: Secret values show only with `reveal` (`--show-secrets`).
    pub fn report(inner: W, reveal: Reveal) -> Self {
        Writer {
            inner,
            pending: Vec::new(),
            reveal,
        }
    }

    /// For logs and messages: nothing is ever revealed.
    pub fn stderr(inner: W) -> Self {
        Self::report(inner, Reveal::Nothing)
    }

    fn emit(&mut self, upto: usize) -> io::Result<()> {
        let chunk: Vec<u8> = self.pending.drain(..upto).collect();
        let reveal = self.reveal;
        match std::str::from_utf8(&chunk) {
            Ok(text) => self
                .inner
                .write_all(known().scrubber.scrub(text, reveal).as_bytes()),
            Err(_) => {
                let text = String::from_utf8_lossy(&chunk);
                self.inner
                    .write_all(known().scrubber.scrub(&text, reveal).as_bytes())
            }
        }
    }
}

impl<W: Write> Write for Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Only the new bytes can hold a new line end: scanning all that is pending would make
        // one long line (a dashboard JSON-escaped onto one line, written a byte at a time by
        // the serializer) quadratic.
        let start = self.pending.len();
        self.pending.extend_from_slice(buf);
        if let Some(last) = buf.iter().rposition(|b| *b == b'\n') {
            self.emit(start + last + 1)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.emit(self.pending.len())?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for Writer<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeSet;

    fn secret(field: &str, data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, field: data})
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn an_env_line_without_equals_keeps_its_key_and_loses_its_value() {
        let s = Scrubber::from_object(&secret("data", json!({"DB_PASSWORD hunter2": ""})));
        let message = r#"Secret "db" is invalid: data[DB_PASSWORD hunter2]: Invalid value: "DB_PASSWORD hunter2": a valid config key must consist of alphanumeric characters"#;
        let scrubbed = s.redact(message);
        assert!(!scrubbed.contains("hunter2"), "{scrubbed}");
        assert!(scrubbed.contains("data[DB_PASSWORD ***]"), "{scrubbed}");
        assert!(scrubbed.contains("a valid config key"), "{scrubbed}");
    }

    #[test]
    fn values_are_caught_raw_encoded_escaped_and_cut_into_lines() {
        let s = Scrubber::from_object(&json!({"apiVersion": "v1", "kind": "Secret",
            "data": {"a": b64("secret-value")},
            "stringData": {"b": "plain\"text", "c": "line-one\nline-two"}}));
        let message = format!(
            "rejected {} (secret-value) and \"plain\\\"text\" b64 {} then line-two",
            b64("secret-value"),
            b64("plain\"text")
        );
        let scrubbed = s.redact(&message);
        for leak in ["secret-value", "plain", &b64("secret-value"), "line-two"] {
            assert!(!scrubbed.contains(leak), "{leak} in {scrubbed}");
        }
        assert!(scrubbed.starts_with("rejected *** (***)"), "{scrubbed}");
    }

    #[test]
    fn a_value_is_masked_only_where_it_stands_as_a_word_of_its_own() {
        let s = Scrubber::from_object(&secret("stringData", json!({"p": "hunter22"})));
        assert_eq!(
            s.redact("hunter22, \"hunter22\" hunter22. x=hunter22 [hunter22]"),
            "***, \"***\" ***. x=*** [***]"
        );
        for word in [
            "hunter222",
            "xhunter22",
            "ops-hunter22",
            "hunter22-reader",
            "hunter22_x",
            "hunter22.example.com",
            "db.hunter22",
        ] {
            assert_eq!(s.redact(word), word);
        }
    }

    #[test]
    fn credentials_are_masked_even_inside_a_word() {
        let mut s = Scrubber::default();
        s.learn_credential("ghp_abcdef123456");
        assert_eq!(s.redact("x-ghp_abcdef123456yz"), "x-***yz");
    }

    #[test]
    fn names_keys_and_common_words_are_never_rewritten() {
        let mut s = Scrubber::from_object(&secret(
            "stringData",
            json!({"admin-user": "admin", "db-user": "grafana", "api": "s3cr3t-canary"}),
        ));
        s.learn_public(&json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "grafana", "namespace": "monitoring"}}));
        s.learn_public(&json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "notes"}, "data": {"text": "ask the administrator"}}));
        let report = "+ create RoleBinding/monitoring/ops-admin\n  roleRef:\n    name: admin\n\
            + create Deployment/monitoring/grafana\n  text: ask the administrator\n\
            ~ Secret/monitoring/creds admin-user: *** db-user: *** api: ***\n\
            error: rejected s3cr3t-canary";
        let scrubbed = s.redact(report);
        assert_eq!(
            scrubbed,
            report.replace("rejected s3cr3t-canary", "rejected ***")
        );
        let mut json = json!({"name": "admin", "object": "Deployment/monitoring/grafana",
            "keys": {"admin-user": "***"}, "message": "s3cr3t-canary"});
        s.scrub_json(&mut json, Reveal::Nothing);
        assert_eq!(
            json,
            json!({"name": "admin", "object": "Deployment/monitoring/grafana",
                "keys": {"admin-user": "***"}, "message": "***"})
        );
    }

    /// A Secret holding a distinctive canary and `admin`, and the ConfigMap and Deployment a
    /// repository inlines them in.
    fn inlined() -> (Scrubber, Value, Value) {
        let mut s = Scrubber::from_object(&secret(
            "stringData",
            json!({"admin-user": "admin", "password": "s3cr3t-canary"}),
        ));
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "app", "namespace": "web",
                "annotations": {"note": "rotated s3cr3t-canary"}},
            "data": {"DB_PASSWORD": "s3cr3t-canary", "DB_USER": "admin",
                "url": "postgres://app:s3cr3t-canary@db:5432/app",
                "config.ini": "[db]\npassword = s3cr3t-canary\nowner = ops-admin\n",
                "help": "ask the administrator", "near": "s3cr3t-canary-2 xs3cr3t-canary"}});
        let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:1",
                "env": [{"name": "PASSWORD", "value": "s3cr3t-canary"},
                        {"name": "ROLE", "value": "admin"}]}]}}}});
        s.learn_public(&cm);
        s.learn_public(&deploy);
        (s, cm, deploy)
    }

    #[test]
    fn a_secret_value_inlined_in_another_object_is_scrubbed_from_its_values() {
        let (s, mut cm, mut deploy) = inlined();
        s.scrub_values(None, Some(&mut cm), Reveal::Nothing);
        s.scrub_values(None, Some(&mut deploy), Reveal::Nothing);
        assert_eq!(
            cm["data"],
            json!({"DB_PASSWORD": "***", "DB_USER": "admin",
                "url": "postgres://***@db:5432/app",
                "config.ini": "[db]\npassword = ***\nowner = ops-admin\n",
                "help": "ask the administrator", "near": "s3cr3t-canary-2 xs3cr3t-canary"})
        );
        assert_eq!(cm["metadata"]["annotations"]["note"], "rotated ***");
        let env = &deploy["spec"]["template"]["spec"]["containers"][0]["env"];
        assert_eq!(
            env,
            &json!([{"name": "PASSWORD", "value": "***"}, {"name": "ROLE", "value": "admin"}])
        );
        // Nor is it public: free text loses it too.
        assert_eq!(s.redact("rejected s3cr3t-canary"), "rejected ***");
    }

    #[test]
    fn values_inlined_show_with_show_secrets_and_credentials_never() {
        let (mut s, mut cm, _) = inlined();
        s.learn_credential("ghp_token123456");
        cm["data"]["token"] = json!("ghp_token123456");
        s.scrub_values(None, Some(&mut cm), Reveal::SecretValues);
        assert_eq!(cm["data"]["DB_PASSWORD"], "s3cr3t-canary");
        assert_eq!(cm["data"]["token"], "***");
    }

    #[test]
    fn identities_and_keys_are_never_rewritten_even_when_they_equal_a_secret_value() {
        let mut s = Scrubber::from_object(&secret(
            "stringData",
            json!({"a": "canary-name", "b": "canary-ns", "c": "canary-key", "d": "Canary",
                "e": "canary-gen-", "f": "canary.io/v1", "g": "other-canary"}),
        ));
        let mut object = json!({"apiVersion": "canary.io/v1", "kind": "Canary",
            "metadata": {"name": "canary-name", "namespace": "canary-ns",
                "generateName": "canary-gen-"},
            "data": {"canary-key": "other-canary"}});
        s.learn_public(&object);
        let before = object.clone();
        s.scrub_values(None, Some(&mut object), Reveal::Nothing);
        assert_eq!(object["data"], json!({"canary-key": "***"}));
        object["data"] = before["data"].clone();
        assert_eq!(object, before);
        // A value the plan shows as a name is that name everywhere: it is not hidden anyway.
        assert_eq!(
            s.redact("Canary/canary-ns/canary-name has canary-key"),
            "Canary/canary-ns/canary-name has canary-key"
        );
    }

    #[test]
    fn a_value_changed_from_one_secret_value_to_another_shows_it_changed() {
        let s = Scrubber::from_object(&secret(
            "stringData",
            json!({"old": "old-canary", "new": "new-canary"}),
        ));
        let cm = |password: &str| {
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app"},
                "data": {"p": password, "q": format!("user=app password={password}"),
                    "same": "new-canary"}})
        };
        let (mut before, mut after) = (cm("old-canary"), cm("new-canary"));
        s.scrub_values(Some(&mut before), Some(&mut after), Reveal::Nothing);
        assert_eq!(
            before["data"],
            json!({"p": "***", "q": "user=app password=***", "same": "***"})
        );
        assert_eq!(
            after["data"],
            json!({"p": "*** (changed)", "q": "user=app password=*** (changed)", "same": "***"})
        );
    }

    #[test]
    fn a_secret_teaches_its_names_and_keys_but_never_its_values_as_public() {
        let mut s = Scrubber::default();
        s.learn_public(&json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "creds", "annotations": {LAST_APPLIED: "{\"stringData\":{\"k\":\"in-annotation\"}}"}},
            "stringData": {"password": "hunter22", "DB_PASSWORD hunter33": ""}}));
        for public in ["creds", "password", "Secret"] {
            assert!(s.public.contains_key(public), "{public}");
        }
        for value in ["hunter22", "hunter33", "in-annotation"] {
            assert!(!s.public.contains_key(value), "{value}");
        }
    }

    /// Real messages from the API server, kubectl, Helm, git and our own reports. Each value
    /// held too common is a word of them, so scrubbing it would rewrite what they say.
    const ORDINARY_MESSAGES: &[&str] = &[
        r#"secrets is forbidden: User "admin" cannot list resource "secrets" in API group "" in the namespace "default""#,
        r#"rolebindings.rbac.authorization.k8s.io "ops-admin" is forbidden: user "system:serviceaccount:apps:deployer" (groups=["system:serviceaccounts"]) is attempting to grant RBAC permissions not currently held: roleRef: ClusterRole "admin""#,
        "Error: INSTALLATION FAILED: execution error at (grafana/templates/secret.yaml:8:6): password is required; set adminUser and adminPassword, or an existing secret with the admin user, password and token",
        r#"pq: password authentication failed for user "postgres" (connection to localhost port 5432 refused)"#,
        r#"FATAL: role "root" does not exist; mysql: access denied for user 'root'@'localhost' (using password: YES)"#,
        "Error: failed to connect to redis at localhost:6379: the server requires a password (NOAUTH)",
        r#"Service "web" is invalid: spec.ports[0].port: Invalid value: 8080: must be between 1 and 65535; targetPort 8443, 443 or 80 (9090 and 3000 are taken)"#,
        "field is immutable: spec.selector; enabled: true, disabled: false, value: null, none set, the default is test; guest access is disabled",
        "remote: Invalid username or token. Password authentication is not supported; changeme is not a valid administrator password",
        "warning: the secret holds a default passwd; yes to continue",
    ];

    #[test]
    fn every_common_value_is_a_word_of_ordinary_messages() {
        let words: BTreeSet<String> = ORDINARY_MESSAGES
            .iter()
            .flat_map(|m| tokens(m))
            .map(str::to_lowercase)
            .collect();
        for value in COMMON_VALUES {
            assert!(
                words.contains(*value),
                "{value} is held too common, but no ordinary message uses it"
            );
            // A Secret holding it leaves every message as it was (the Secret itself still shows
            // it masked: ssa::mask's tests).
            let s = Scrubber::from_object(&secret("stringData", json!({"k": value})));
            for message in ORDINARY_MESSAGES {
                assert_eq!(s.redact(message), *message, "a Secret holding {value}");
            }
        }
        // A distinctive value in the same messages is still scrubbed.
        let s = Scrubber::from_object(&secret("stringData", json!({"k": "grafana"})));
        assert!(s.redact(ORDINARY_MESSAGES[2]).contains("(***/templates"));
    }
    #[test]
    fn keys_are_names_and_stay_readable() {
        let s = Scrubber::from_object(&secret("stringData", json!({"password": "hunter22"})));
        assert_eq!(s.redact("data[password]: hunter22"), "data[password]: ***");
    }

    #[test]
    fn short_values_are_scrubbed_only_where_quoted_alone() {
        let s = Scrubber::from_object(&secret(
            "stringData",
            json!({"pin": "1", "flag": "on", "n": "4711"}),
        ));
        assert_eq!(
            s.redact(r#"Invalid value: "1": 1 of 10; "on" "4711" port 4711"#),
            r#"Invalid value: "***": 1 of 10; "***" "***" port 4711"#
        );
        // A JSON report stays JSON.
        let mut report = json!({"count": 1, "ok": true, "errors": ["Invalid value: \"1\""]});
        s.scrub_json(&mut report, Reveal::Nothing);
        assert_eq!(
            report,
            json!({"count": 1, "ok": true, "errors": ["Invalid value: \"***\""]})
        );
    }

    #[test]
    fn values_of_the_last_applied_annotation_are_learned() {
        let last =
            json!({"apiVersion": "v1", "kind": "Secret", "stringData": {"p": "annotated-only"}});
        let live = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"annotations": {LAST_APPLIED: last.to_string()}}});
        assert_eq!(
            Scrubber::from_object(&live).redact("x annotated-only"),
            "x ***"
        );
    }

    #[test]
    fn other_kinds_teach_nothing() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "visible-value"}});
        assert!(Scrubber::from_object(&cm).is_empty());
    }

    #[test]
    fn credentials_are_never_revealed_secret_values_only_on_request() {
        let mut s = Scrubber::from_object(&secret("stringData", json!({"p": "value-1234x"})));
        s.learn_basic_auth("x-access-token", "tok/en+1");
        let message = format!(
            "value-1234x tok/en+1 tok%2Fen%2B1 {}",
            b64("x-access-token:tok/en+1")
        );
        assert_eq!(s.scrub(&message, Reveal::Nothing), "*** *** *** ***");
        assert_eq!(
            s.scrub(&message, Reveal::SecretValues),
            "value-1234x *** *** ***"
        );
    }

    #[test]
    fn userinfo_is_removed_from_every_url_in_a_text() {
        assert_eq!(
            strip_userinfo(
                "fatal: unable to access 'https://user:ghp_x@github.com/o/r.git/': denied; \
                 also http://tok@h:8080 and https://github.com/o/r?a=b@c and git@github.com:o/r"
            ),
            "fatal: unable to access 'https://***@github.com/o/r.git/': denied; \
             also http://***@h:8080 and https://github.com/o/r?a=b@c and git@github.com:o/r"
        );
        assert_eq!(url("/srv/git/repo"), "/srv/git/repo");
    }

    #[test]
    fn a_cycle_forgets_what_it_learned_once_no_cycle_beside_it_runs() {
        learn_credential("process-credential-1");
        let baseline = held();
        let first = cycle();
        learn_object(&secret("stringData", json!({"p": "first-tenant-value"})));
        let second = cycle();
        learn_object(&secret("stringData", json!({"p": "second-tenant-value"})));
        assert_eq!(text("first-tenant-value"), "***");
        drop(first);
        // The second still runs: what it learned stays, what only the first learned goes.
        assert_eq!(text("second-tenant-value"), "***");
        assert_eq!(text("first-tenant-value"), "first-tenant-value");
        // A value both learn stays while either runs.
        let third = cycle();
        learn_object(&secret("stringData", json!({"p": "second-tenant-value"})));
        drop(second);
        assert_eq!(text("second-tenant-value"), "***");
        drop(third);
        assert_eq!(held(), baseline, "nothing of the cycles is kept");
        assert_eq!(text("process-credential-1"), "***");
    }

    #[test]
    fn the_writer_scrubs_lines_split_across_writes() {
        learn_credential("split-token");
        let mut out = Vec::new();
        {
            let mut w = Writer::stderr(&mut out);
            w.write_all(b"a spl").unwrap();
            w.write_all(b"it-token b\nand split-").unwrap();
            w.write_all(b"token").unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "a *** b\nand ***");
    }

    #[test]
    fn a_long_line_written_a_byte_at_a_time_passes_through_whole() {
        // A 4 MiB single-line JSON string, as serde_json writes escapes: one small write each.
        // Rescanning everything pending on each write made this hang (the suite's time bound).
        let line = "x".repeat(4 << 20);
        let mut out = Vec::new();
        {
            let mut w = Writer::stderr(&mut out);
            for byte in line.as_bytes() {
                w.write_all(std::slice::from_ref(byte)).unwrap();
            }
            w.write_all(b"\n").unwrap();
        }
        assert_eq!(out.len(), line.len() + 1);
    }

    #[test]
    fn lines_of_a_config_file_in_a_secret_do_not_break_a_json_report() {
        let file = "{\n  \"name\": \"prometheus\",\n  \"url\": \"http://prometheus-k8s:9090\"\n}";
        let s = Scrubber::from_object(&secret("stringData", json!({"datasources.json": file})));
        let report =
            serde_json::to_string_pretty(&json!({"rules": [{"name": "prometheus"}]})).unwrap();
        let scrubbed = s.redact(&report);
        serde_json::from_str::<Value>(&scrubbed).expect("the report stays JSON");
        // The whole value and a line of it inside a JSON string are still caught.
        let quoted = serde_json::to_string(&json!({"message": format!("bad: {file}")})).unwrap();
        assert!(
            !s.redact(&quoted).contains("prometheus-k8s"),
            "{}",
            s.redact(&quoted)
        );
        let line =
            serde_json::to_string(&json!(["  \"url\": \"http://prometheus-k8s:9090\""])).unwrap();
        assert!(
            !s.redact(&line).contains("prometheus-k8s"),
            "{}",
            s.redact(&line)
        );
    }
}
