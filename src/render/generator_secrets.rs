//! What kustomize `secretGenerator`s will put into Secrets, learned before kustomize runs: a
//! build that fails quotes its input (`invalid literal source PASSWORD hunter2, expected
//! key=value`), and that message must be scrubbed like any other, though no Secret was rendered.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::layout::KUSTOMIZATION_FILES;
use crate::scrub;

/// Learns the sources of every `secretGenerator` in every kustomization file of `files`.
pub(crate) fn learn(files: &BTreeMap<PathBuf, Vec<u8>>) {
    for (path, bytes) in files {
        let is_kustomization = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| KUSTOMIZATION_FILES.contains(&n));
        if !is_kustomization {
            continue;
        }
        let Some(kustomization) = std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| crate::yaml::from_str(text).ok())
        else {
            continue;
        };
        let dir = path.parent().unwrap_or(Path::new(""));
        let Some(generators) = kustomization["secretGenerator"].as_array() else {
            continue;
        };
        for generator in generators {
            learn_generator(files, dir, generator);
        }
    }
}

fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn learn_generator(files: &BTreeMap<PathBuf, Vec<u8>>, dir: &Path, generator: &Value) {
    for literal in strings(&generator["literals"]) {
        learn_entry(literal);
    }
    for env in strings(&generator["envs"])
        .into_iter()
        .chain(strings(&generator["env"]))
    {
        let Some(text) = read(files, dir, env) else {
            continue;
        };
        for line in text.lines().map(str::trim) {
            if !line.is_empty() && !line.starts_with('#') {
                learn_entry(line);
            }
        }
    }
    for file in strings(&generator["files"]) {
        // `key=path` or `path`.
        let path = file.split_once('=').map_or(file, |(_, path)| path);
        if let Some(text) = read(files, dir, path) {
            scrub::learn_secret_text(&text);
        }
    }
}

/// `KEY=value` gives `value`; an entry without `=` is key and value run together.
fn learn_entry(entry: &str) {
    match entry.split_once('=') {
        Some((_, value)) => scrub::learn_secret_text(value.trim_matches('"')),
        None => scrub::learn_malformed_entry(entry),
    }
}

fn read(files: &BTreeMap<PathBuf, Vec<u8>>, dir: &Path, path: &str) -> Option<String> {
    let mut full = dir.to_path_buf();
    for part in Path::new(path).components() {
        match part {
            std::path::Component::ParentDir => {
                full.pop();
            }
            std::path::Component::Normal(p) => full.push(p),
            _ => {}
        }
    }
    String::from_utf8(files.get(&full)?.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_env_files_and_files_are_learned_before_kustomize_runs() {
        let files: BTreeMap<PathBuf, Vec<u8>> = [
            (
                "app/kustomization.yaml",
                "secretGenerator:\n- name: db\n  literals: [\"USER=gen-literal-value\", \"PW gen-glued-value\"]\n  envs: [db.env]\n  files: [tls.key=../keys/tls.key]\n",
            ),
            ("app/db.env", "# a comment\nTOKEN=gen-env-value\n"),
            ("keys/tls.key", "gen-file-value\n"),
        ]
        .into_iter()
        .map(|(p, t)| (PathBuf::from(p), t.as_bytes().to_vec()))
        .collect();
        learn(&files);
        let said = scrub::text(
            "gen-literal-value gen-env-value gen-file-value invalid literal source PW gen-glued-value",
        );
        assert_eq!(said, "*** *** *** invalid literal source PW ***");
        assert!(scrub::text("a comment").contains("comment"));
    }
}
