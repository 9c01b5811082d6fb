//! The fuzz targets' bodies, shared by cargo-fuzz (tests/fuzz/fuzz_targets, nightly) and by
//! the stable test that replays the committed corpus (tests/fuzz_corpus.rs). Each takes
//! arbitrary bytes and panics only on a bug.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use kubectl_gitops::render;
use kubectl_gitops::source::{self, confine};

#[path = "../oracle/mod.rs"]
mod oracle;

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target by name: the corpus lives in `tests/fuzz/corpus/<name>/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("load_manifest", load_manifest),
    ("path_confinement", path_confinement),
    ("kubectl_agrees", kubectl_agrees),
    ("materialise_tree", materialise_tree),
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

/// The revision materializer over crafted trees: the bytes describe a tree, one entry a line,
/// its depth the line's indentation (one space a level): `d NAME` a directory, `f NAME` a file,
/// `l NAME TARGET` a symlink. Names may repeat in a directory and be anything a tree object can
/// hold (`..`, `.git`, ...), as only a crafted commit can hold them. The tree is committed and
/// read with `source::read_revision`; whatever the answer, nothing may be written outside the
/// copy it makes, and nothing in the copy may resolve outside it or hold the secret kept beside
/// the repository. A tree with two entries of one name anywhere is refused.
pub fn materialise_tree(data: &[u8]) {
    let world = World::get();
    world.bound_objects();
    // Opened for each input: without gix's `parallel` feature a repository is not `Sync`.
    let repo = gix::open(&world.workdir).expect("opening the sandbox repository");
    let tree = parse_tree(data);
    let Some(tree_id) = write_tree(&repo, &tree) else {
        return;
    };
    let commit = gix::objs::Commit {
        tree: tree_id,
        parents: Default::default(),
        author: signature(),
        committer: signature(),
        encoding: None,
        message: "fuzz".into(),
        extra_headers: Vec::new(),
    };
    let commit = repo
        .write_object(&commit)
        .expect("writing the commit")
        .detach();

    let result = source::read_revision(
        &world.workdir,
        &commit.to_string(),
        &source::Limits {
            max_file_bytes: 64 * 1024,
            max_total_bytes: 1024 * 1024,
            max_files: 2_000,
        },
    );
    match &result {
        Ok(snapshot) => {
            let root = snapshot.root.canonicalize().expect("the copy exists");
            world.check_outside(Some(&root));
            check_copy(&root, &world.secret);
            for bytes in snapshot.files.values() {
                assert!(
                    !contains(bytes, world.secret.as_bytes()),
                    "the secret was read"
                );
            }
            // Reading from the root walks every tree, so any twin is met.
            assert!(
                !tree.has_twins(),
                "a tree with repeated names was read:\n{}",
                String::from_utf8_lossy(data)
            );
        }
        Err(error) => {
            assert!(
                !error.to_string().contains(&world.secret),
                "the secret in {error}"
            );
            world.check_outside(None);
        }
    }
    drop(result);
    world.check_outside(None);
}

/// Removes the sandbox `materialise_tree` made, if it made one (the stable replay calls it once
/// every seed ran; a fuzzing process never ends cleanly and leaves its sandbox behind).
pub fn remove_sandbox() {
    if let Some(world) = WORLD.get() {
        let _ = std::fs::remove_dir_all(&world.sandbox);
    }
}

/// One entry of a generated tree.
enum FuzzNode {
    File(Vec<u8>),
    Link(Vec<u8>),
    Dir(Vec<(Vec<u8>, FuzzNode)>),
}

impl FuzzNode {
    fn entries(&self) -> &[(Vec<u8>, FuzzNode)] {
        match self {
            FuzzNode::Dir(entries) => entries,
            _ => &[],
        }
    }

    fn has_twins(&self) -> bool {
        let entries = self.entries();
        let names: HashSet<&[u8]> = entries.iter().map(|(n, _)| n.as_slice()).collect();
        names.len() != entries.len() || entries.iter().any(|(_, child)| child.has_twins())
    }
}

const MAX_LINES: usize = 256;
const MAX_DEPTH: usize = 12;

/// The tree the bytes describe (see [`materialise_tree`]); lines that say nothing are skipped.
fn parse_tree(data: &[u8]) -> FuzzNode {
    // The open directories: the path of names from the root to each.
    let mut root = FuzzNode::Dir(Vec::new());
    let mut open: Vec<usize> = Vec::new();
    for line in data.split(|&b| b == b'\n').take(MAX_LINES) {
        let depth = line.iter().take_while(|&&b| b == b' ').count();
        let mut words = line[depth..].splitn(3, |&b| b == b' ');
        let (Some(kind), Some(name)) = (words.next(), words.next()) else {
            continue;
        };
        let rest = words.next().unwrap_or_default().to_vec();
        let node = match kind {
            b"d" => FuzzNode::Dir(Vec::new()),
            b"f" => FuzzNode::File(if rest.is_empty() { name.to_vec() } else { rest }),
            b"l" if !rest.is_empty() => FuzzNode::Link(rest),
            _ => continue,
        };
        if name.is_empty() || name.contains(&0) || name.contains(&b'/') || depth > MAX_DEPTH {
            continue;
        }
        open.truncate(depth);
        // Descend along the last directory at each level; too deep a line joins the deepest.
        let mut dir = &mut root;
        let mut path = Vec::new();
        for &index in &open {
            let FuzzNode::Dir(entries) = dir else { break };
            dir = &mut entries[index].1;
            path.push(index);
        }
        let FuzzNode::Dir(entries) = dir else {
            continue;
        };
        let is_dir = matches!(node, FuzzNode::Dir(_));
        entries.push((name.to_vec(), node));
        if is_dir {
            open = path;
            open.push(entries.len() - 1);
        }
    }
    root
}

/// Writes the tree's objects; `None` when git cannot encode it.
fn write_tree(repo: &gix::Repository, node: &FuzzNode) -> Option<gix::ObjectId> {
    use gix::objs::tree::{Entry, EntryKind};
    let FuzzNode::Dir(children) = node else {
        return None;
    };
    let mut entries = Vec::with_capacity(children.len());
    for (name, child) in children {
        let (mode, oid) = match child {
            FuzzNode::File(bytes) => (EntryKind::Blob, repo.write_blob(bytes).ok()?.detach()),
            FuzzNode::Link(target) => (EntryKind::Link, repo.write_blob(target).ok()?.detach()),
            FuzzNode::Dir(_) => (EntryKind::Tree, write_tree(repo, child)?),
        };
        entries.push(Entry {
            mode: mode.into(),
            filename: name.as_slice().into(),
            oid,
        });
    }
    entries.sort();
    let tree = gix::objs::Tree { entries };
    Some(repo.write_object(&tree).ok()?.detach())
}

fn signature() -> gix::actor::Signature {
    gix::actor::Signature {
        name: "fuzz".into(),
        email: "fuzz@example.com".into(),
        time: gix::date::Time::new(0, 0),
    }
}

/// The process's sandbox: a repository, a secret beside it, and the temporary directory the
/// materializer writes its copies in, all deep inside one directory, so that any link climbing
/// out of a copy lands inside the sandbox, where stray files are seen.
struct World {
    sandbox: PathBuf,
    /// The directories `get` made, and where it put the secret.
    skeleton: HashSet<PathBuf>,
    canaries: HashSet<PathBuf>,
    workdir: PathBuf,
    temp: PathBuf,
    secret: String,
}

static WORLD: OnceLock<World> = OnceLock::new();

/// Directory levels between the sandbox and the temporary directory, more than any link can
/// climb from a copy (a line's depth is capped at `MAX_DEPTH`).
const SANDBOX_DEPTH: usize = MAX_DEPTH + 4;

impl World {
    fn get() -> &'static World {
        WORLD.get_or_init(|| {
            let sandbox = std::env::temp_dir().join(format!(
                "kubectl-gitops-fuzz-materialise-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&sandbox);
            let mut deep = sandbox.clone();
            for level in 0..SANDBOX_DEPTH {
                deep.push(format!("d{level}"));
            }
            let temp = deep.join("tmp");
            let workdir = deep.join("repo");
            std::fs::create_dir_all(&temp).expect("creating the sandbox");
            std::fs::create_dir_all(&workdir).expect("creating the sandbox");
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            let secret = format!("SECRET-{nanos:x}-{}", std::process::id());
            // Wherever a link might land: beside the copies, the repository and the sandbox.
            let mut canaries = HashSet::new();
            for dir in [&deep, &sandbox, &sandbox.join("d0")] {
                std::fs::write(dir.join("canary"), &secret).expect("writing the secret");
                canaries.insert(dir.canonicalize().expect("canonical").join("canary"));
            }
            let status = std::process::Command::new("git")
                .args(["init", "-q"])
                .current_dir(&workdir)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .status()
                .expect("git init");
            assert!(status.success(), "git init");
            tempfile::env::override_temp_dir(&temp).expect("nothing made temporary files yet");
            let sandbox = sandbox.canonicalize().expect("canonical sandbox");
            let mut skeleton = HashSet::new();
            let mut level = sandbox.clone();
            for depth in 0..SANDBOX_DEPTH {
                level.push(format!("d{depth}"));
                skeleton.insert(level.clone());
            }
            skeleton.insert(level.join("tmp"));
            skeleton.insert(level.join("repo"));
            World {
                sandbox,
                skeleton,
                canaries,
                workdir: workdir.canonicalize().expect("canonical workdir"),
                temp: temp.canonicalize().expect("canonical temp"),
                secret,
            }
        })
    }

    /// Empties the object database now and then: every input adds loose objects, and a long
    /// run would otherwise fill the disk and slow down.
    fn bound_objects(&self) {
        static INPUTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let inputs = INPUTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if inputs.is_multiple_of(1000) {
            let objects = self.workdir.join(".git/objects");
            let _ = std::fs::remove_dir_all(&objects);
            for dir in ["info", "pack"] {
                std::fs::create_dir_all(objects.join(dir)).expect("recreating the object database");
            }
        }
    }

    /// Nothing in the sandbox but what `get` made, the repository's `.git`, and the copy at
    /// `copy` while it lives.
    fn check_outside(&self, copy: Option<&Path>) {
        let mut pending = vec![self.sandbox.clone()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("reading the sandbox") {
                let path = entry.expect("reading the sandbox").path();
                if dir == self.temp {
                    let expected = copy.is_some_and(|copy| copy.starts_with(&path));
                    assert!(expected, "a stray copy: {}", path.display());
                } else if self.skeleton.contains(&path) && !path.is_symlink() {
                    pending.push(path);
                } else {
                    let git = dir == self.workdir && path.file_name() == Some(OsStr::new(".git"));
                    let canary = self.canaries.contains(&path) && !path.is_symlink();
                    assert!(
                        git || canary,
                        "written outside the copy: {}",
                        path.display()
                    );
                }
            }
        }
    }
}

/// Walks the copy at `root` as helm would, following links, each real directory once: every
/// entry resolves inside it and no file holds the secret.
fn check_copy(root: &Path, secret: &str) {
    let mut visited = HashSet::from([root.to_path_buf()]);
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("reading the copy") {
            let path = entry.expect("reading the copy").path();
            let Ok(real) = path.canonicalize() else {
                panic!("a dangling or looping link was written: {}", path.display());
            };
            assert!(
                real.starts_with(root),
                "{} resolves outside the copy, to {}",
                path.display(),
                real.display()
            );
            if real.is_dir() {
                if visited.insert(real.clone()) {
                    pending.push(real);
                }
            } else {
                let bytes = std::fs::read(&real).expect("reading a file of the copy");
                assert!(
                    !contains(&bytes, secret.as_bytes()),
                    "the secret is in {}",
                    path.display()
                );
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
