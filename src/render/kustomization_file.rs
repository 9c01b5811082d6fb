//! Reads a directory's kustomization file exactly as kustomize reads it, so the guard judges
//! the fields kustomize will act on and not some other reading of the same bytes.
//!
//! kustomize takes `kustomization.yaml`, `kustomization.yml` or `Kustomization` (and refuses a
//! directory holding more than one), decodes UTF-16 when the file starts with its byte-order
//! mark, reads the first YAML document only, resolves anchors, aliases and `<<` merges, and
//! keeps the last value of a repeated key (go-yaml v2 decoding into a map). Anything this
//! reader cannot settle is an error naming the file: the guard fails closed, it never skips
//! a kustomization it could not read.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::documents::split_documents;
use super::layout::KUSTOMIZATION_FILES;

/// A kustomization file and its content as kustomize reads it.
#[derive(Debug)]
pub(crate) struct Kustomization {
    pub file: PathBuf,
    pub doc: Value,
}

/// Why a kustomization file cannot be read as kustomize reads it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unreadable {
    pub file: PathBuf,
    pub reason: String,
}

/// The kustomization in `dir`, or `None` when the directory has none.
pub(crate) fn read(dir: &Path) -> Result<Option<Kustomization>, Unreadable> {
    // kustomize asks whether each name exists (following links), so does this.
    let present: Vec<PathBuf> = KUSTOMIZATION_FILES
        .iter()
        .map(|name| dir.join(name))
        .filter(|file| file.exists())
        .collect();
    let file = match present.as_slice() {
        [] => return Ok(None),
        [one] => one.clone(),
        [first, others @ ..] => {
            let names: Vec<String> = others
                .iter()
                .filter_map(|f| f.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            return Err(Unreadable {
                file: first.clone(),
                reason: format!(
                    "the directory also holds {}: kustomize refuses to choose between \
                     kustomization files, keep one",
                    names.join(" and ")
                ),
            });
        }
    };
    let unreadable = |reason: String| Unreadable {
        file: file.clone(),
        reason,
    };
    let bytes = std::fs::read(&file).map_err(|e| unreadable(format!("cannot read it: {e}")))?;
    let text = decode(&bytes).map_err(|e| unreadable(e.to_string()))?;
    let doc = parse(&text).map_err(|e| unreadable(e.to_string()))?;
    Ok(Some(Kustomization { file, doc }))
}

/// Why a kustomization file's bytes are not text go-yaml would read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Undecodable {
    #[error("it is not UTF-8 text")]
    Utf8,
    #[error("it is not valid UTF-16 text")]
    Utf16,
    #[error("it is not valid UTF-16 text (an odd number of bytes)")]
    OddUtf16,
    #[error(
        "it is neither UTF-8 nor UTF-16 with a byte-order mark, so what kustomize would make \
         of it cannot be checked"
    )]
    Unknown,
}

/// The text of a kustomization file: UTF-8 (a byte-order mark dropped), or UTF-16 after its
/// byte-order mark, which go-yaml decodes too.
pub(crate) fn decode(bytes: &[u8]) -> Result<String, Undecodable> {
    let utf16 = |units: Vec<u16>| String::from_utf16(&units).map_err(|_| Undecodable::Utf16);
    let pairs = |rest: &[u8], word: fn([u8; 2]) -> u16| -> Result<Vec<u16>, Undecodable> {
        if !rest.len().is_multiple_of(2) {
            return Err(Undecodable::OddUtf16);
        }
        Ok(rest.chunks_exact(2).map(|p| word([p[0], p[1]])).collect())
    };
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8(rest.to_vec()).map_err(|_| Undecodable::Utf8);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(pairs(rest, u16::from_le_bytes)?);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(pairs(rest, u16::from_be_bytes)?);
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| Undecodable::Unknown)
}

/// Why a kustomization's text is not one mapping of fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Malformed {
    #[error("line {line}: {why}")]
    Split { line: usize, why: &'static str },
    #[error(
        "a second YAML document starts at line {line}: kustomize reads only the first and \
         silently drops the rest, keep one document"
    )]
    SecondDocument { line: usize },
    /// Its line counted in the whole file.
    #[error(transparent)]
    Yaml(crate::yaml::ReadError),
    #[error("it is not a YAML mapping of kustomization fields")]
    NotAMapping,
}

/// The kustomization's one document, as kustomize resolves it.
fn parse(text: &str) -> Result<Value, Malformed> {
    let documents = split_documents(text);
    if let Some((line, why)) = documents.iter().find_map(|d| d.problem) {
        return Err(Malformed::Split { line, why });
    }
    let mut with_content = documents.iter().filter(|d| d.content_line.is_some());
    let Some(document) = with_content.next() else {
        return Ok(Value::Object(Default::default()));
    };
    if let Some(second) = with_content.next() {
        return Err(Malformed::SecondDocument {
            line: second.first_line,
        });
    }
    let doc = crate::yaml::from_str_last_key_wins(document.text).map_err(|mut error| {
        // The reader counts lines from the document's own first line.
        error.line += document.first_line - 1;
        Malformed::Yaml(error)
    })?;
    match doc {
        Value::Object(_) => Ok(doc),
        Value::Null => Ok(Value::Object(Default::default())),
        _ => Err(Malformed::NotAMapping),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read_text(text: &[u8]) -> Result<Value, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kustomization.yaml"), text).unwrap();
        read(dir.path())
            .map(|k| k.map(|k| k.doc).unwrap_or(Value::Null))
            .map_err(|e| e.reason)
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_as_kustomize_keeps_it() {
        assert_eq!(
            read_text(b"resources: []\nresources: [../x]\n"),
            Ok(json!({"resources": ["../x"]}))
        );
    }

    #[test]
    fn anchors_aliases_and_merge_keys_are_resolved() {
        assert_eq!(
            read_text(b"namePrefix: &p ../x\nresources: [*p]\n"),
            Ok(json!({"namePrefix": "../x", "resources": ["../x"]}))
        );
        assert_eq!(
            read_text(b"<<: {resources: [../x]}\n"),
            Ok(json!({"resources": ["../x"]}))
        );
        // A later merge replaces an earlier key; of merged mappings the first wins.
        assert_eq!(
            read_text(b"resources: [../x]\n<<: {resources: []}\n"),
            Ok(json!({"resources": []}))
        );
        assert_eq!(
            read_text(b"<<: [{resources: [a]}, {resources: [../x]}]\n"),
            Ok(json!({"resources": ["a"]}))
        );
        assert_eq!(
            read_text(b"!!merge <<: {resources: [../x]}\n"),
            Ok(json!({"resources": ["../x"]}))
        );
    }

    #[test]
    fn json_and_utf16_kustomizations_are_read() {
        assert_eq!(
            read_text(br#"{"resources": [], "resources": ["../x"]}"#),
            Ok(json!({"resources": ["../x"]}))
        );
        let mut utf16 = vec![0xFF, 0xFE];
        for unit in "resources: [../x]\n".encode_utf16() {
            utf16.extend(unit.to_le_bytes());
        }
        assert_eq!(read_text(&utf16), Ok(json!({"resources": ["../x"]})));
    }

    #[test]
    fn what_cannot_be_read_as_kustomize_reads_it_is_an_error() {
        let error = read_text(b"resources: []\n---\nresources: [../x]\n").unwrap_err();
        assert!(
            error.contains("second YAML document starts at line 2"),
            "{error}"
        );
        let error = read_text(&[0x72, 0xFF, 0x3A]).unwrap_err();
        assert!(error.contains("neither UTF-8 nor UTF-16"), "{error}");
        let error = read_text(b"resources: [a\n").unwrap_err();
        assert!(error.contains("line"), "{error}");
        let error = read_text(b"- a\n").unwrap_err();
        assert!(error.contains("not a YAML mapping"), "{error}");
    }

    #[test]
    fn two_kustomization_files_in_one_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kustomization.yaml"), "resources: []\n").unwrap();
        std::fs::write(dir.path().join("Kustomization"), "resources: [../x]\n").unwrap();
        let error = read(dir.path()).unwrap_err();
        assert!(
            error.reason.contains("also holds Kustomization"),
            "{error:?}"
        );
    }

    #[test]
    fn the_capitalised_file_name_is_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Kustomization"), "kind: Component\n").unwrap();
        let found = read(dir.path()).unwrap().unwrap();
        assert!(found.file.ends_with("Kustomization"));
        assert_eq!(found.doc, json!({"kind": "Component"}));
    }
}
