//! The fuzz targets' bodies, shared by cargo-fuzz (tests/fuzz/fuzz_targets, nightly) and by
//! the stable test that replays the committed corpus (tests/fuzz_corpus.rs). Each takes
//! arbitrary bytes and panics only on a bug.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use kubectl_gitops::render;
use kubectl_gitops::source::confine;

#[path = "../oracle/mod.rs"]
mod oracle;

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target by name: the corpus lives in `tests/fuzz/corpus/<name>/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("load_manifest", load_manifest),
    ("path_confinement", path_confinement),
    ("kubectl_agrees", kubectl_agrees),
];

/// One file's bytes, loaded as YAML and as JSON, exactly as render loads a repository's files:
/// whatever the bytes, the answer is manifests or an error naming the file, never a panic.
pub fn load_manifest(data: &[u8]) {
    for name in ["fuzz.yaml", "fuzz.json"] {
        let path = Path::new(name);
        match render::load_file(path, data) {
            Ok(manifests) => {
                for m in &manifests {
                    assert!(
                        !m.api_version().is_empty(),
                        "{name}: a manifest without apiVersion"
                    );
                    assert!(!m.kind().is_empty(), "{name}: a manifest without kind");
                    assert_eq!(m.origin.file, path);
                    assert!(m.origin.line >= 1, "{name}: line numbers start at 1");
                }
            }
            Err(error) => {
                let message = error.to_string();
                assert!(
                    message.starts_with(&format!("{name}:")),
                    "{name}: the error does not start with the file: {message}"
                );
            }
        }
    }
}

/// The bytes seed a generated manifest document (scalar spellings, quoting, tags, anchors,
/// merges, block scalars, stray syntax); kubectl and we must both refuse it or read the same
/// objects. Runs kubectl once per input, so it is slow (tens of inputs a second).
pub fn kubectl_agrees(data: &[u8]) {
    let seed = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let document = oracle::generated_document(&mut oracle::Rng::new(seed));
    let file = std::env::temp_dir().join(format!("kubectl-agrees-{}.yaml", std::process::id()));
    std::fs::write(&file, &document).expect("writing the generated document");
    if let Err(why) = oracle::agree(&file) {
        panic!("kubectl and render disagree: {why}\n--- document:\n{document}");
    }
}

/// Symlink confinement: `boundary \0 link \0 raw-target \0 probe [\0 git-dir]`. A link inside
/// the boundary pointing at `raw` must resolve (lexically) to what a plain string model says,
/// and nothing outside the boundary or inside a git directory may ever be judged confined.
pub fn path_confinement(data: &[u8]) {
    let mut parts = data.split(|&b| b == 0);
    let boundary = canonical_dir(parts.next().unwrap_or_default());
    let link_rel = parts.next().unwrap_or_default();
    let raw = parts.next().unwrap_or_default();
    let probe = parts.next().unwrap_or_default();
    let git_dir = match parts.next() {
        Some(dir) => canonical_dir(dir),
        None => boundary.join(".git"),
    };

    // The walk only ever hands out links below the boundary, named by plain components.
    let rel: Vec<&[u8]> = link_rel
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b"." && *c != b"..")
        .collect();
    if !rel.is_empty() && !raw.is_empty() {
        let mut link = boundary.clone();
        for c in &rel {
            link.push(OsStr::from_bytes(c));
        }
        let target = confine::lexical_target(&link, Path::new(OsStr::from_bytes(raw)));
        assert!(target.is_absolute(), "{target:?} is not absolute");
        assert!(
            target
                .components()
                .all(|c| !matches!(c, Component::CurDir | Component::ParentDir)),
            "{target:?} still has . or .."
        );
        let mut parent = link.clone();
        parent.pop();
        assert_eq!(
            target,
            model_fold(&[parent.as_os_str().as_bytes(), raw]),
            "lexical_target({link:?}, {:?})",
            OsStr::from_bytes(raw)
        );
        check_judgement(&target, &boundary, &git_dir);
    }
    // Whatever path the judgement is handed (canonical or not), it must not be fooled.
    check_judgement(Path::new(OsStr::from_bytes(probe)), &boundary, &git_dir);
}

fn check_judgement(target: &Path, boundary: &Path, git_dir: &Path) {
    if !confine::is_confined(target, boundary, Some(git_dir)) {
        return;
    }
    // Where the kernel would land without symlinks in the way: `..` folded from the root.
    let landed = model_fold(&[target.as_os_str().as_bytes()]);
    assert!(
        target.is_absolute() && landed.starts_with(boundary),
        "{target:?} (really {landed:?}) judged inside {boundary:?}"
    );
    assert!(
        !landed.starts_with(git_dir),
        "{target:?} (really {landed:?}) is in the git directory {git_dir:?}"
    );
    let inside = landed.strip_prefix(boundary).expect("checked above");
    assert!(
        !inside
            .as_os_str()
            .as_bytes()
            .split(|&b| b == b'/')
            .any(|c| c == b".git"),
        "{target:?} (really {landed:?}) goes through a .git directory"
    );
}

/// An absolute directory in canonical form from arbitrary bytes: `/` and plain components.
fn canonical_dir(bytes: &[u8]) -> PathBuf {
    let mut dir = PathBuf::from("/");
    for c in bytes.split(|&b| b == b'/') {
        if !c.is_empty() && c != b"." && c != b".." {
            dir.push(OsStr::from_bytes(c));
        }
    }
    dir
}

/// The string model of path resolution without symlinks: each piece is joined to the previous
/// (an absolute piece starts over), `.` and empty components vanish, `..` drops the last
/// component and stops at the root.
fn model_fold(pieces: &[&[u8]]) -> PathBuf {
    let mut stack: Vec<&[u8]> = Vec::new();
    let mut absolute = false;
    for piece in pieces {
        if piece.first() == Some(&b'/') {
            stack.clear();
            absolute = true;
        }
        for c in piece.split(|&b| b == b'/') {
            match c {
                b"" | b"." => {}
                b".." => {
                    stack.pop();
                }
                _ => stack.push(c),
            }
        }
    }
    let mut out = PathBuf::from(if absolute { "/" } else { "" });
    for c in stack {
        out.push(OsStr::from_bytes(c));
    }
    out
}
