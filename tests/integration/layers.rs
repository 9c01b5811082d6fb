//! The layer rule, checked on the source: every `crate::` path in `src/` names a module of a
//! lower layer than the file's own (or its own module), so no import points up and none closes
//! a circle. The table below is the one statement of the layers; `src/lib.rs` and
//! CONTRIBUTING.md explain it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules of `src/`, lowest layer first. A module may use the modules of the
/// layers below its own; the modules of one layer do not use each other.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "leaves: names, objects, YAML, scrubbing",
        &["meta", "object", "yaml", "scrub", "prune_limit"],
    ),
    ("the terminal: the Shell and its styles", &["ui"]),
    ("the API server; git and files", &["cluster", "source"]),
    ("Render: files to objects", &["render"]),
    ("ApplySets: what a set owns", &["inventory"]),
    ("Plan and apply (server-side apply)", &["ssa"]),
    (
        "the plan as a whole: made, reported, saved",
        &["pipeline", "report", "planfile"],
    ),
    ("pull requests", &["pr"]),
    ("the runtime a sync runs in", &["runtime"]),
    (
        "the runners: one sync, many syncs",
        &["reconcile", "controller"],
    ),
    ("the commands", &["cli"]),
];

/// One `crate::` path in a file: the line it is on and the top-level module it names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Import {
    line: usize,
    module: String,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rank_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

/// The text with comments and string literals blanked (newlines kept, so lines still count):
/// a doc comment or a message that mentions `crate::x` is not an import.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && matches!(next, Some('"') | Some('#')) && !ident_before(&chars, i) {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let closing: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let body_start = j + 1;
            let rest: String = chars[body_start..].iter().collect();
            let end = rest
                .find(&closing)
                .map(|k| body_start + rest[..k].chars().count() + closing.chars().count())
                .unwrap_or(chars.len());
            for &ch in &chars[i..end] {
                out.push(blank(ch));
            }
            i = end;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && is_char_literal(&chars, i) {
            // '"' would otherwise open a string; lifetimes ('a) are left alone.
            let end = if next == Some('\\') {
                chars[i + 2..]
                    .iter()
                    .position(|&ch| ch == '\'')
                    .map_or(chars.len(), |k| i + 2 + k + 1)
            } else {
                i + 3
            };
            for &ch in &chars[i..end.min(chars.len())] {
                out.push(blank(ch));
            }
            i = end;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

fn is_char_literal(chars: &[char], i: usize) -> bool {
    match chars.get(i + 1) {
        Some('\\') => true,
        Some(_) => chars.get(i + 2) == Some(&'\''),
        None => false,
    }
}

/// The top-level modules every `crate::` path of `code` names, with their lines: `crate::a::b`
/// and each first segment of `crate::{a::b, c}`.
fn imports(code: &str) -> Vec<Import> {
    let mut found = Vec::new();
    let line_at = |offset: usize| code[..offset].matches('\n').count() + 1;
    for (at, _) in code.match_indices("crate::") {
        if code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue; // `kubectl_gitops_crate::` and the like: not this crate's root.
        }
        let rest = &code[at + "crate::".len()..];
        let rest_trimmed = rest.trim_start();
        if let Some(group) = rest_trimmed.strip_prefix('{') {
            let mut depth = 1;
            let mut segment_start = true;
            let mut word = String::new();
            let group_at = code.len() - group.len();
            for (k, ch) in group.char_indices() {
                if depth == 1 && segment_start && (ch.is_alphanumeric() || ch == '_') {
                    word.push(ch);
                    continue;
                }
                if !word.is_empty() {
                    found.push(Import {
                        line: line_at(group_at + k),
                        module: std::mem::take(&mut word),
                    });
                    segment_start = false;
                }
                match ch {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => segment_start = true,
                    _ => {}
                }
            }
        } else {
            let word: String = rest_trimmed
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !word.is_empty() {
                found.push(Import {
                    line: line_at(at),
                    module: word,
                });
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for the crate root files).
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "main.rs" => None,
        file => Some(file.trim_end_matches(".rs").to_string()),
    }
}

/// The files of `src/`, each with its path relative to `src/` and its text.
fn sources() -> Vec<(PathBuf, String)> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).expect("a source file");
            (
                file.strip_prefix(&root).expect("under src/").to_path_buf(),
                text,
            )
        })
        .collect()
}

/// Every arrow of `files` that breaks the rule, as `src/file:line: module -> module (why)`.
fn violations(files: &[(PathBuf, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (relative, text) in files {
        let Some(from) = module_of(relative) else {
            continue;
        };
        let Some(from_rank) = rank_of(&from) else {
            out.push(format!(
                "src/{}: module `{from}` is in no layer: add it to LAYERS in {}",
                relative.display(),
                file!()
            ));
            continue;
        };
        for import in imports(&code_only(text)) {
            if import.module == from {
                continue;
            }
            let why = match rank_of(&import.module) {
                None => continue, // `crate::some_item` of lib.rs, or a macro: no layer.
                Some(rank) if rank > from_rank => "points up",
                Some(rank) if rank == from_rank => "joins two modules of one layer",
                Some(_) => continue,
            };
            out.push(format!(
                "src/{}:{}: {from} -> {} {why}",
                relative.display(),
                import.line,
                import.module
            ));
        }
    }
    out
}

#[test]
fn every_import_in_src_points_to_a_lower_layer() {
    let violations = violations(&sources());
    assert!(
        violations.is_empty(),
        "imports that break the layer rule (see LAYERS in {}; a lower module must not know a \
         higher one: move the shared part down):\n{}",
        file!(),
        violations.join("\n")
    );
}

#[test]
fn every_top_level_module_of_src_is_in_exactly_one_layer() {
    let mut on_disk = BTreeSet::new();
    for entry in std::fs::read_dir(src()).expect("src/") {
        let path = entry.expect("an entry").path();
        if let Some(module) = module_of(Path::new(path.file_name().expect("a name")))
            && (path.is_dir() || path.extension().is_some_and(|e| e == "rs"))
        {
            on_disk.insert(module);
        }
    }
    let mut listed: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, modules) in LAYERS {
        for module in *modules {
            *listed.entry(module).or_default() += 1;
        }
    }
    let twice: Vec<_> = listed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "listed in several layers: {twice:?}");
    let listed: BTreeSet<String> = listed.keys().map(|m| m.to_string()).collect();
    assert_eq!(on_disk, listed, "src/'s modules and the layers differ");
}

#[test]
fn the_reader_finds_paths_groups_and_nested_groups_but_not_comments_or_strings() {
    let code = code_only(
        "use crate::ssa::Plan;\n\
         use crate::{render::{self, Manifest}, inventory};\n\
         // crate::cli in a comment\n\
         /* crate::controller in a block */\n\
         let s = \"crate::pr in a string\";\n\
         let r = r#\"crate::report \"quoted\"\"#;\n\
         let c = '\"'; let x = crate::source::read();\n\
         fn f<'a>(x: &'a str) -> crate::yaml::Value { todo!() }\n",
    );
    let found: Vec<(usize, String)> = imports(&code)
        .into_iter()
        .map(|i| (i.line, i.module))
        .collect();
    assert_eq!(
        found,
        vec![
            (1, "ssa".to_string()),
            (2, "render".to_string()),
            (2, "inventory".to_string()),
            (7, "source".to_string()),
            (8, "yaml".to_string()),
        ]
    );
}

#[test]
fn an_upward_import_a_sideways_import_and_an_unplaced_module_are_each_named_with_their_file() {
    let files = vec![
        (
            PathBuf::from("cluster/mod.rs"),
            "//! The API server.\n\nuse crate::scrub;\nuse crate::render::RenderOptions;\n".into(),
        ),
        (
            PathBuf::from("report/text.rs"),
            "use crate::{ssa::Plan, planfile::KIND};\n".into(),
        ),
        (
            PathBuf::from("cli/apply.rs"),
            "use crate::ssa::Plan;\n".into(),
        ),
        (
            PathBuf::from("gadgets.rs"),
            "use crate::ssa::Plan;\n".into(),
        ),
    ];
    assert_eq!(
        violations(&files),
        vec![
            "src/cluster/mod.rs:4: cluster -> render points up".to_string(),
            "src/report/text.rs:1: report -> planfile joins two modules of one layer".to_string(),
            format!(
                "src/gadgets.rs: module `gadgets` is in no layer: add it to LAYERS in {}",
                file!()
            ),
        ]
    );
}
