//! Ignore rules: fields git seeds on create but does not own afterwards (a replica count an
//! autoscaler changes, a field a webhook injects), named by JSON pointers (RFC 6901).
//!
//! Two places name them: the annotation `kubectl-gitops.io/ignore-fields` on the object in git
//! (a comma-separated list of pointers), and `.gitops-ignore.yaml` at the root of PATH, whose
//! rules select objects by group, kind, name and namespace. This file reads both and attaches
//! the fields to each manifest; what they mean for an apply is `ssa::ignore`'s business.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::{Manifest, RenderError};

/// The annotation naming an object's ignored fields.
pub const ANNOTATION_IGNORE_FIELDS: &str = "kubectl-gitops.io/ignore-fields";

/// The file at the root of PATH holding ignore rules for the whole PATH.
pub const IGNORE_FILE: &str = ".gitops-ignore.yaml";

/// A pointer an ignore rule cannot use, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?}{why}")]
pub struct BadPointer {
    pub text: String,
    pub why: PointerFault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PointerFault {
    #[error(" is not a JSON pointer (it must start with /, e.g. /spec/replicas)")]
    NoSlash,
    #[error(": `~` must be followed by 0 (for ~) or 1 (for /)")]
    Escape,
    /// `apiVersion`, `kind`, `metadata`, its name or namespace.
    #[error(" names the object itself, which cannot be ignored")]
    Identity,
}

/// A JSON pointer (RFC 6901): `/spec/replicas`, `/metadata/annotations/a~1b` for the key `a/b`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pointer(Vec<String>);

impl Pointer {
    /// Parses a pointer; it must start with `/` and name a field (the whole document, `""`,
    /// cannot be ignored), and `~` may only be followed by `0` or `1`.
    pub fn parse(text: &str) -> Result<Self, BadPointer> {
        let bad = |why| BadPointer {
            text: text.to_string(),
            why,
        };
        let Some(rest) = text.strip_prefix('/') else {
            return Err(bad(PointerFault::NoSlash));
        };
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            let mut token = String::new();
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    token.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => token.push('~'),
                    Some('1') => token.push('/'),
                    _ => return Err(bad(PointerFault::Escape)),
                }
            }
            tokens.push(token);
        }
        if matches!(
            tokens.first().map(String::as_str),
            Some("apiVersion" | "kind")
        ) || (tokens.first().map(String::as_str) == Some("metadata")
            && matches!(
                tokens.get(1).map(String::as_str),
                Some("name" | "namespace") | None
            ))
        {
            return Err(bad(PointerFault::Identity));
        }
        Ok(Pointer(tokens))
    }

    /// The pointer to a field found by walking an object (no check: it names what is there).
    pub(crate) fn from_tokens(tokens: Vec<String>) -> Self {
        Pointer(tokens)
    }

    /// The unescaped reference tokens.
    pub fn tokens(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for token in &self.0 {
            write!(f, "/{}", token.replace('~', "~0").replace('/', "~1"))?;
        }
        Ok(())
    }
}

impl serde::Serialize for Pointer {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Where an ignored field was named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreSource {
    /// The object's own `kubectl-gitops.io/ignore-fields` annotation.
    Annotation,
    /// A rule of the PATH's ignore file (the file as reports show it).
    File(PathBuf),
    /// Nobody named it: the chart rendered it differently twice in a row (a random password,
    /// a timestamp), so applying it would rewrite the live value every time.
    Unstable(UnstablePolicy),
}

/// What an apply does with an unstable field that is already live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnstablePolicy {
    /// Leave the live value as it is (git's value only seeds a new object).
    #[default]
    Keep,
    /// Write this render's value (`--rewrite-unstable`, a GitSync's `rewriteUnstable`).
    Rewrite,
}

impl fmt::Display for IgnoreSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IgnoreSource::Annotation => f.write_str(ANNOTATION_IGNORE_FIELDS),
            IgnoreSource::File(file) => write!(f, "{}", file.display()),
            IgnoreSource::Unstable(_) => f.write_str("unstable"),
        }
    }
}

impl serde::Serialize for IgnoreSource {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One field of one object that git seeds on create and leaves alone afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredField {
    pub pointer: Pointer,
    pub source: IgnoreSource,
    /// A file rule's namespace, for an object written without one: the rule holds only if the
    /// plan puts the object there (the target namespace is known at plan time, not here).
    pub if_namespace: Option<String>,
}

impl IgnoredField {
    /// Whether the field is ignored for the object once it is placed in `namespace`.
    pub fn holds_in(&self, namespace: Option<&str>) -> bool {
        self.if_namespace
            .as_deref()
            .is_none_or(|wanted| namespace == Some(wanted))
    }
}

/// The rules of a PATH's ignore file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    file: PathBuf,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    rules: Vec<RuleSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    group: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    namespace: Option<String>,
    fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    group: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    namespace: Option<String>,
    fields: Vec<Pointer>,
}

impl Rules {
    /// Reads the ignore file (`display` is its path as messages show it).
    pub fn parse(display: &Path, bytes: &[u8]) -> Result<Self, RenderError> {
        let fail = |message: String| RenderError::IgnoreRules {
            file: display.to_path_buf(),
            message,
        };
        let text = std::str::from_utf8(bytes).map_err(|_| fail("not valid UTF-8 text".into()))?;
        let value = crate::yaml::from_str(text).map_err(|e| fail(e.to_string()))?;
        if value.is_null() {
            return Ok(Rules {
                file: display.to_path_buf(),
                rules: Vec::new(),
            });
        }
        let spec: RulesFile = serde_json::from_value(value).map_err(|e| {
            fail(format!(
                "{e} (expected `rules:`, a list of {{group, kind, name, namespace, fields}})"
            ))
        })?;
        let mut rules = Vec::new();
        for (at, rule) in spec.rules.into_iter().enumerate() {
            if rule.fields.is_empty() {
                return Err(fail(format!("rule {}: `fields` is empty", at + 1)));
            }
            let fields = rule
                .fields
                .iter()
                .map(|f| Pointer::parse(f.trim()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| fail(format!("rule {}: {e}", at + 1)))?;
            rules.push(Rule {
                group: rule.group,
                kind: rule.kind,
                name: rule.name,
                namespace: rule.namespace,
                fields,
            });
        }
        Ok(Rules {
            file: display.to_path_buf(),
            rules,
        })
    }
}

/// Sets `manifest.ignored` from its annotation and the rules that select it. A pointer that
/// does not parse is an error citing the object.
pub(super) fn attach(manifest: &mut Manifest, rules: &Rules) -> Result<(), RenderError> {
    let mut ignored: Vec<IgnoredField> = Vec::new();
    let annotation = manifest
        .object
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(ANNOTATION_IGNORE_FIELDS));
    match annotation {
        None | Some(Value::Null) => {}
        Some(Value::String(list)) => {
            for text in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                let pointer = Pointer::parse(text).map_err(|bad| RenderError::IgnoreFields {
                    origin: manifest.origin.clone(),
                    message: bad.to_string(),
                })?;
                ignored.push(IgnoredField {
                    pointer,
                    source: IgnoreSource::Annotation,
                    if_namespace: None,
                });
            }
        }
        Some(_) => {
            return Err(RenderError::IgnoreFields {
                origin: manifest.origin.clone(),
                message: "the annotation must be a string of comma-separated JSON pointers".into(),
            });
        }
    }
    let object = manifest.object_ref();
    for rule in &rules.rules {
        let selects = rule.group.as_deref().is_none_or(|g| g == object.group())
            && rule.kind.as_deref().is_none_or(|k| k == object.kind)
            && rule.name.as_deref().is_none_or(|n| n == object.name);
        if !selects {
            continue;
        }
        let if_namespace = match (&rule.namespace, &object.namespace) {
            (None, _) => None,
            (Some(wanted), Some(written)) if wanted == written => None,
            (Some(_), Some(_)) => continue,
            (Some(wanted), None) => Some(wanted.clone()),
        };
        for pointer in &rule.fields {
            if ignored.iter().any(|f| f.pointer == *pointer) {
                continue;
            }
            ignored.push(IgnoredField {
                pointer: pointer.clone(),
                source: IgnoreSource::File(rules.file.clone()),
                if_namespace: if_namespace.clone(),
            });
        }
    }
    // Fields found unstable while rendering stay, unless a rule named them already.
    let unstable: Vec<IgnoredField> = std::mem::take(&mut manifest.ignored)
        .into_iter()
        .filter(|f| matches!(f.source, IgnoreSource::Unstable(_)))
        .filter(|f| !ignored.iter().any(|named| named.pointer == f.pointer))
        .collect();
    ignored.extend(unstable);
    manifest.ignored = ignored;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Origin;
    use serde_json::json;

    fn manifest(object: Value) -> Manifest {
        Manifest::new(
            object.as_object().unwrap().clone(),
            Origin {
                file: "deploy/web.yaml".into(),
                document: 0,
                item: None,
                line: 1,
                remote: None,
            },
        )
    }

    #[test]
    fn pointers_parse_and_print_with_rfc_6901_escapes() {
        let p = Pointer::parse("/metadata/annotations/example.com~1owner~0x").unwrap();
        assert_eq!(
            p.tokens(),
            ["metadata", "annotations", "example.com/owner~x"]
        );
        assert_eq!(p.to_string(), "/metadata/annotations/example.com~1owner~0x");
        assert_eq!(
            Pointer::parse("/spec/template/spec/containers/0/image")
                .unwrap()
                .tokens()
                .len(),
            6
        );
    }

    #[test]
    fn malformed_pointers_and_the_objects_identity_are_refused() {
        for bad in [
            "spec/replicas",
            "",
            "/a~2b",
            "/a~",
            "/kind",
            "/metadata/name",
            "/metadata",
        ] {
            assert!(Pointer::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn the_annotation_lists_pointers_separated_by_commas() {
        let mut m = manifest(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "annotations": {
                ANNOTATION_IGNORE_FIELDS: "/spec/replicas, /spec/template/metadata/annotations/x"
            }}
        }));
        attach(&mut m, &Rules::default()).unwrap();
        let pointers: Vec<String> = m.ignored.iter().map(|f| f.pointer.to_string()).collect();
        assert_eq!(
            pointers,
            ["/spec/replicas", "/spec/template/metadata/annotations/x"]
        );
        assert!(
            m.ignored
                .iter()
                .all(|f| f.source == IgnoreSource::Annotation)
        );
    }

    #[test]
    fn a_bad_annotation_is_an_error_citing_the_object() {
        let mut m = manifest(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "annotations": {ANNOTATION_IGNORE_FIELDS: "spec.replicas"}}
        }));
        let error = attach(&mut m, &Rules::default()).unwrap_err().to_string();
        assert!(error.starts_with("deploy/web.yaml:1: "), "{error}");
        assert!(error.contains(ANNOTATION_IGNORE_FIELDS), "{error}");
        assert!(error.contains("must start with /"), "{error}");
    }

    #[test]
    fn file_rules_select_by_group_kind_name_and_namespace() {
        let rules = Rules::parse(
            Path::new("deploy/.gitops-ignore.yaml"),
            b"rules:\n\
              - group: apps\n  kind: Deployment\n  fields: [/spec/replicas]\n\
              - kind: ConfigMap\n  name: tuned\n  namespace: shop\n  fields: [/data/level]\n",
        )
        .unwrap();
        let deployment = |namespace: Option<&str>| {
            let mut m = manifest(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": namespace}
            }));
            attach(&mut m, &rules).unwrap();
            m.ignored
        };
        let found = deployment(Some("any"));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].pointer.to_string(), "/spec/replicas");
        assert_eq!(
            found[0].source.to_string(),
            "deploy/.gitops-ignore.yaml",
            "the note names the file"
        );
        let config = |name: &str, namespace: Option<&str>| {
            let mut object =
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
            if let Some(ns) = namespace {
                object["metadata"]["namespace"] = json!(ns);
            }
            let mut m = manifest(object);
            attach(&mut m, &rules).unwrap();
            m.ignored
        };
        assert_eq!(config("tuned", Some("shop")).len(), 1);
        assert!(config("tuned", Some("other")).is_empty());
        assert!(config("other", Some("shop")).is_empty());
        // Written without a namespace: decided where the plan places it.
        let deferred = config("tuned", None);
        assert_eq!(deferred.len(), 1);
        assert!(deferred[0].holds_in(Some("shop")));
        assert!(!deferred[0].holds_in(Some("default")));
    }

    #[test]
    fn a_malformed_file_names_the_file_and_the_problem() {
        let file = Path::new(".gitops-ignore.yaml");
        let unknown = Rules::parse(file, b"rules:\n- kind: X\n  field: [/a]\n").unwrap_err();
        assert!(
            unknown.to_string().starts_with(".gitops-ignore.yaml: "),
            "{unknown}"
        );
        assert!(unknown.to_string().contains("field"), "{unknown}");
        let pointer = Rules::parse(file, b"rules:\n- fields: [spec]\n").unwrap_err();
        assert!(pointer.to_string().contains("rule 1"), "{pointer}");
        let empty = Rules::parse(file, b"rules:\n- kind: X\n  fields: []\n").unwrap_err();
        assert!(empty.to_string().contains("empty"), "{empty}");
        assert_eq!(
            Rules::parse(file, b"").unwrap(),
            Rules {
                file: file.into(),
                rules: vec![]
            }
        );
    }
}
