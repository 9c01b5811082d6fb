//! The one scrubber between what the process knows and what it prints or writes.
//!
//! Everything secret that passes through the process is *learned* here: the values of every
//! Secret rendered from git or read from the cluster, in every spelling a message could quote
//! them in, and every credential we hold (git tokens, the GitHub token, the kubeconfig's).
//! Every output path *scrubs* through here: stdout and stderr (through [`Writer`] and
//! [`text`]), logs, the status ConfigMap, Events and pull-request bodies. A new report or
//! message therefore cannot leak by forgetting to mask: it passes through the scrubber because
//! it is output.
//!
//! What is scrubbed, for a Secret:
//! - each value of `data` as sent (base64) and decoded, and each value of `stringData` as
//!   given and base64-encoded; each in its JSON/Go-escaped spelling too, and each line of a
//!   multi-line value, since messages quote values whole, escaped or cut into lines;
//! - a key that cannot be a Secret key (`[-._a-zA-Z0-9]+`): it is content, typically an env
//!   file line without `=` (`DB_PASSWORD hunter2`), so its tail from the first character no key
//!   may hold (` hunter2`) is scrubbed, and the key is kept so the message still says which
//!   entry is wrong. Valid keys are names, not secrets, and stay readable.
//!
//! Short values: a value of fewer than [`MIN_LEN`] characters (`"1"`, `"on"`), or one that
//! reads as a number or `true`/`false`/`null`, cannot be told from ordinary text, and replacing
//! it everywhere would corrupt every message and a JSON report. Such a value is scrubbed only
//! where it stands quoted on its own (`"1"`), which is how the server and our errors quote what
//! they reject. Reports never show a Secret value anyway: they are masked structurally at the
//! plan stage (see `ssa::mask`).
//!
//! Userinfo in any URL (`https://user:token@host`) is replaced by `***` wherever it appears.
//!
//! Scrubbing errs on the side of hiding: a value that is also ordinary text elsewhere in an
//! output (a Secret holding `admin`, and a namespace `admin-tools`) is masked there too, since
//! nothing tells the occurrences apart.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
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

const SECRET_FIELDS: &[&str] = &["data", "stringData"];
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Whether a scrub may leave Secret values in place: only a report the user asked to see with
/// `--show-secrets`. Credentials are scrubbed whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reveal {
    Nothing,
    SecretValues,
}

/// What is known to be secret. One process-wide instance lives behind the free functions;
/// a value of its own serves a single object's messages and tests.
#[derive(Debug, Default, Clone)]
pub struct Scrubber {
    /// Substrings, with whether they are Secret values (revealable) or credentials (never).
    substrings: BTreeSet<(String, Kind)>,
    /// Short values, scrubbed only as a quoted whole.
    quoted: BTreeSet<(String, Kind)>,
    /// Built on the first scrub after learning: one pass over a text finds every value (a
    /// value per pass made printing a 4,000-object plan quadratic).
    matchers: OnceLock<Matchers>,
}

/// Every known value at once, with the kind of each pattern.
#[derive(Debug, Clone)]
struct Matchers {
    substrings: AhoCorasick,
    substring_kinds: Vec<Kind>,
    quoted: AhoCorasick,
    quoted_kinds: Vec<Kind>,
}

impl Matchers {
    fn new(scrubber: &Scrubber) -> Matchers {
        let build = |patterns: Vec<String>| {
            AhoCorasick::new(patterns).expect("patterns of known values always build")
        };
        Matchers {
            substrings: build(scrubber.substrings.iter().map(|(v, _)| v.clone()).collect()),
            substring_kinds: scrubber.substrings.iter().map(|(_, k)| *k).collect(),
            quoted: build(
                scrubber
                    .quoted
                    .iter()
                    .map(|(v, _)| format!("\"{v}\""))
                    .collect(),
            ),
            quoted_kinds: scrubber.quoted.iter().map(|(_, k)| *k).collect(),
        }
    }
}

/// `text` with every match of `matcher` whose kind is hidden replaced by `mask`. Overlapping
/// matches are masked as one, so no part of either shows (a value containing another is
/// scrubbed whole); adjacent ones each get their mask.
fn mask_matches(
    text: &str,
    matcher: &AhoCorasick,
    kinds: &[Kind],
    hidden: impl Fn(Kind) -> bool,
    mask: &str,
) -> String {
    let mut spans: Vec<(usize, usize)> = matcher
        .find_overlapping_iter(text)
        .filter(|m| hidden(kinds[m.pattern().as_usize()]))
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

    /// Learns the values of `object` if it is a v1 Secret (anything else holds none).
    pub fn learn_object(&mut self, object: &Value) {
        if !is_secret(object) {
            return;
        }
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
        if text.is_empty() {
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
            if is_ambiguous(&spelling) {
                self.quoted.insert((spelling, kind));
            } else {
                self.substrings.insert((spelling, kind));
            }
        }
    }

    /// What was learned changed: the matchers are built again on the next scrub.
    fn reorder(&mut self) {
        self.matchers.take();
    }

    pub fn is_empty(&self) -> bool {
        self.substrings.is_empty() && self.quoted.is_empty()
    }

    /// `text` with everything known replaced by `***` and URL userinfo removed.
    pub fn scrub(&self, text: &str, reveal: Reveal) -> String {
        let hidden = |kind: Kind| kind == Kind::Credential || reveal == Reveal::Nothing;
        let out = strip_userinfo(text);
        if self.is_empty() {
            return out;
        }
        let matchers = self.matchers.get_or_init(|| Matchers::new(self));
        let out = mask_matches(
            &out,
            &matchers.substrings,
            &matchers.substring_kinds,
            hidden,
            MASK,
        );
        mask_matches(
            &out,
            &matchers.quoted,
            &matchers.quoted_kinds,
            hidden,
            "\"***\"",
        )
    }

    /// The same as [`Scrubber::scrub`] with nothing revealed.
    pub fn redact(&self, text: &str) -> String {
        self.scrub(text, Reveal::Nothing)
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

static KNOWN: LazyLock<RwLock<Scrubber>> = LazyLock::new(Default::default);
static REVEAL_IN_REPORTS: AtomicBool = AtomicBool::new(false);

fn known() -> std::sync::RwLockReadGuard<'static, Scrubber> {
    KNOWN
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn learning() -> std::sync::RwLockWriteGuard<'static, Scrubber> {
    KNOWN
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Learns the values of an object rendered or read, if it is a Secret.
pub fn learn_object(object: &Value) {
    if is_secret(object) {
        learning().learn_object(object);
    }
}

/// Learns text that becomes a Secret value: a generator's literal value, env value or file.
pub fn learn_secret_text(text: &str) {
    let mut known = learning();
    known.learn_value(text, Kind::SecretValue);
    known.reorder();
}

/// Learns a generator entry that lacks its `=` (`PASSWORD hunter2`): key and value run
/// together, and the same rule as for a Secret key no key may be applies.
pub fn learn_malformed_entry(entry: &str) {
    let mut known = learning();
    known.learn_key(entry.trim());
    known.reorder();
}

/// Learns a credential the process holds.
pub fn learn_credential(credential: &str) {
    if !credential.is_empty() {
        learning().learn_credential(credential);
    }
}

/// Learns a basic-auth pair the process sends.
pub fn learn_basic_auth(user: &str, password: &str) {
    if !password.is_empty() {
        learning().learn_basic_auth(user, password);
    }
}

/// `--show-secrets`: reports on stdout may show Secret values. Errors, logs and anything
/// written to the cluster or a forge are scrubbed regardless.
pub fn reveal_secret_values_in_reports() {
    REVEAL_IN_REPORTS.store(true, Ordering::Relaxed);
}

/// Everything known scrubbed from `text`: for errors, logs, status, Events and forges.
pub fn text(text: &str) -> String {
    known().scrub(text, Reveal::Nothing)
}

/// Every string in `value` scrubbed.
pub fn json(value: &mut Value) {
    known().scrub_json(value, Reveal::Nothing);
}

fn report_reveal() -> Reveal {
    if REVEAL_IN_REPORTS.load(Ordering::Relaxed) {
        Reveal::SecretValues
    } else {
        Reveal::Nothing
    }
}

/// A writer that scrubs what passes through it, a line at a time (a value is never split
/// across lines: multi-line values are learned line by line). What is left without a newline
/// goes out on flush or drop. Stdout reports honour `--show-secrets`; see [`Writer::stderr`].
pub struct Writer<W: Write> {
    inner: W,
    pending: Vec<u8>,
    reveal_allowed: bool,
}

impl<W: Write> Writer<W> {
    /// For reports on stdout: Secret values show with `--show-secrets`.
    pub fn report(inner: W) -> Self {
        Writer {
            inner,
            pending: Vec::new(),
            reveal_allowed: true,
        }
    }

    /// For logs and messages: nothing is ever revealed.
    pub fn stderr(inner: W) -> Self {
        Writer {
            inner,
            pending: Vec::new(),
            reveal_allowed: false,
        }
    }

    fn emit(&mut self, upto: usize) -> io::Result<()> {
        let chunk: Vec<u8> = self.pending.drain(..upto).collect();
        let reveal = if self.reveal_allowed {
            report_reveal()
        } else {
            Reveal::Nothing
        };
        match std::str::from_utf8(&chunk) {
            Ok(text) => self.inner.write_all(known().scrub(text, reveal).as_bytes()),
            Err(_) => {
                let text = String::from_utf8_lossy(&chunk);
                self.inner
                    .write_all(known().scrub(&text, reveal).as_bytes())
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
    fn values_are_caught_raw_encoded_escaped_and_inside_larger_strings() {
        let s = Scrubber::from_object(&json!({"apiVersion": "v1", "kind": "Secret",
            "data": {"a": b64("secret-value")},
            "stringData": {"b": "plain\"text", "c": "line-one\nline-two"}}));
        let message = format!(
            "rejected {} (xxsecret-valuexx) and \"plain\\\"text\" b64 {} then line-two",
            b64("secret-value"),
            b64("plain\"text")
        );
        let scrubbed = s.redact(&message);
        for leak in ["secret-value", "plain", &b64("secret-value"), "line-two"] {
            assert!(!scrubbed.contains(leak), "{leak} in {scrubbed}");
        }
        assert!(scrubbed.starts_with("rejected *** (xx***xx)"), "{scrubbed}");
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
            json!({"pin": "1", "flag": "true", "n": "4711"}),
        ));
        assert_eq!(
            s.redact(r#"Invalid value: "1": 1 of 10; "true" "4711" port 4711"#),
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
