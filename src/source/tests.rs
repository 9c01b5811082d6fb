use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::*;

/// Runs `git` in `dir` with the user's own configuration kept out of the way.
fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A tempdir holding a repository in `repo/`, so tests can also place files beside it.
struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let fixture = Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        fs::create_dir(fixture.repo()).expect("mkdir repo");
        git(&fixture.repo(), &["init", "-q", "-b", "main"]);
        git(&fixture.repo(), &["config", "user.name", "Test"]);
        git(
            &fixture.repo(),
            &["config", "user.email", "test@example.com"],
        );
        git(&fixture.repo(), &["config", "commit.gpgsign", "false"]);
        fixture
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn write(&self, rel: &str, content: &str) {
        write(&self.repo(), rel, content);
    }

    fn commit_all(&self) {
        git(&self.repo(), &["add", "-A"]);
        git(&self.repo(), &["commit", "-q", "-m", "fixture"]);
    }

    fn read(&self) -> Result<Snapshot, SourceError> {
        read_working_tree(&self.repo(), &Limits::default())
    }
}

fn write(dir: &Path, rel: &str, content: &str) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, content).expect("write");
}

fn names(snapshot: &Snapshot) -> Vec<String> {
    snapshot
        .files
        .keys()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

fn content<'a>(snapshot: &'a Snapshot, rel: &str) -> &'a str {
    std::str::from_utf8(&snapshot.files[Path::new(rel)]).expect("utf-8")
}

#[test]
fn reads_uncommitted_edits_of_tracked_files() {
    let fx = Fixture::new();
    fx.write("app.yaml", "committed: true\n");
    fx.commit_all();
    fx.write("app.yaml", "edited: true\n");

    let snapshot = fx.read().expect("read");

    assert_eq!(content(&snapshot, "app.yaml"), "edited: true\n");
    assert_eq!(
        snapshot.origin,
        SourceOrigin::Worktree {
            repo_root: fs::canonicalize(fx.repo()).expect("canonical")
        }
    );
    assert_eq!(snapshot.display_prefix, PathBuf::new());
    assert_eq!(
        snapshot.root,
        fs::canonicalize(fx.repo()).expect("canonical")
    );
}

#[test]
fn includes_untracked_files_that_are_not_ignored() {
    let fx = Fixture::new();
    fx.write("tracked.yaml", "a: 1\n");
    fx.commit_all();
    fx.write("new.yaml", "b: 2\n");
    fx.write("newdir/nested.yml", "c: 3\n");

    let snapshot = fx.read().expect("read");

    assert_eq!(
        names(&snapshot),
        ["new.yaml", "newdir/nested.yml", "tracked.yaml"]
    );
}

#[test]
fn excludes_files_and_directories_that_gitignore_excludes() {
    let fx = Fixture::new();
    fx.write(".gitignore", "secret.yaml\nbuild/\n");
    fx.write("app.yaml", "a: 1\n");
    fx.write("secret.yaml", "password: hunter2\n");
    fx.write("build/out.yaml", "generated: true\n");
    fx.commit_all();

    let snapshot = fx.read().expect("read");

    assert_eq!(names(&snapshot), ["app.yaml"]);
}

#[test]
fn keeps_tracked_files_even_when_gitignore_matches_them() {
    let fx = Fixture::new();
    fx.write("app.yaml", "a: 1\n");
    fx.commit_all();
    fx.write(".gitignore", "*.yaml\n");

    let snapshot = fx.read().expect("read");

    assert_eq!(names(&snapshot), ["app.yaml"]);
}

#[test]
fn reads_only_under_a_subdirectory_and_reports_its_prefix() {
    let fx = Fixture::new();
    fx.write("base/a.yaml", "a: 1\n");
    fx.write("apps/web/b.yaml", "b: 2\n");
    fx.write("apps/web/overlay/c.yaml", "c: 3\n");
    fx.commit_all();
    fx.write("apps/web/untracked.json", "{}\n");

    let snapshot =
        read_working_tree(&fx.repo().join("apps/web"), &Limits::default()).expect("read");

    assert_eq!(
        names(&snapshot),
        ["b.yaml", "overlay/c.yaml", "untracked.json"]
    );
    assert_eq!(snapshot.display_prefix, Path::new("apps/web"));
    assert_eq!(
        snapshot.root,
        fs::canonicalize(fx.repo().join("apps/web")).expect("canonical")
    );
}

#[test]
fn treats_a_subdirectory_named_like_a_glob_literally() {
    let fx = Fixture::new();
    fx.write("app[1]/a.yaml", "a: 1\n");
    fx.write("app1/b.yaml", "b: 2\n");
    fx.commit_all();

    let snapshot = read_working_tree(&fx.repo().join("app[1]"), &Limits::default()).expect("read");

    assert_eq!(names(&snapshot), ["a.yaml"]);
    assert_eq!(snapshot.display_prefix, Path::new("app[1]"));
}

#[test]
fn ignores_files_that_are_not_manifests() {
    let fx = Fixture::new();
    fx.write("README.md", "# hi\n");
    fx.write("script.sh", "echo\n");
    fx.write("app.yaml", "a: 1\n");
    fx.write("config.json", "{}\n");
    fx.write("list.yml", "b: 2\n");
    fx.write("kustomize/Kustomization", "resources: []\n");
    fx.commit_all();

    let snapshot = fx.read().expect("read");

    assert_eq!(
        names(&snapshot),
        [
            "app.yaml",
            "config.json",
            "kustomize/Kustomization",
            "list.yml"
        ]
    );
}

#[test]
fn reads_a_directory_outside_git_as_plain_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.yaml", "a: 1\n");
    write(dir.path(), "sub/b.json", "{}\n");
    write(dir.path(), "notes.txt", "no\n");
    write(dir.path(), "nested/.git/config.yaml", "never read\n");

    let snapshot = read_working_tree(dir.path(), &Limits::default()).expect("read");

    assert_eq!(snapshot.origin, SourceOrigin::PlainDirectory);
    assert_eq!(snapshot.display_prefix, PathBuf::new());
    assert_eq!(names(&snapshot), ["a.yaml", "sub/b.json"]);
    assert_eq!(content(&snapshot, "a.yaml"), "a: 1\n");
}

#[test]
fn does_not_read_or_complain_about_tracked_files_deleted_from_disk() {
    let fx = Fixture::new();
    fx.write("kept.yaml", "a: 1\n");
    fx.write("gone.yaml", "b: 2\n");
    fx.commit_all();
    fs::remove_file(fx.repo().join("gone.yaml")).expect("rm");

    let snapshot = fx.read().expect("read");

    assert_eq!(names(&snapshot), ["kept.yaml"]);
}

#[test]
fn refuses_a_file_over_the_size_limit_from_its_metadata_alone() {
    let fx = Fixture::new();
    fx.write("small.yaml", "a: 1\n");
    // A sparse gigabyte: the reported size can only come from metadata, because a read is
    // capped at limit + 1 bytes.
    let big = fs::File::create(fx.repo().join("big.yaml")).expect("create");
    big.set_len(1 << 30).expect("set_len");
    let limits = Limits {
        max_file_bytes: 1024,
        ..Limits::default()
    };

    let err = read_working_tree(&fx.repo(), &limits).expect_err("too large");

    match err {
        SourceError::FileTooLarge { path, size, limit } => {
            assert_eq!(path, Path::new("big.yaml"));
            assert_eq!(size, 1 << 30);
            assert_eq!(limit, 1024);
        }
        other => panic!("expected FileTooLarge, got {other:?}"),
    }
}

#[test]
fn refuses_manifests_whose_sum_is_over_the_total_limit() {
    let fx = Fixture::new();
    fx.write("a.yaml", &"a".repeat(60));
    fx.write("b.yaml", &"b".repeat(60));
    let limits = Limits {
        max_total_bytes: 100,
        ..Limits::default()
    };

    let err = read_working_tree(&fx.repo(), &limits).expect_err("too large");

    assert!(
        matches!(err, SourceError::TotalTooLarge { limit: 100, .. }),
        "{err:?}"
    );
}

#[test]
fn refuses_more_manifest_files_than_the_limit() {
    let fx = Fixture::new();
    for name in ["a.yaml", "b.yaml", "c.yaml"] {
        fx.write(name, "x: 1\n");
    }
    fx.write("not-counted.txt", "\n");
    let limits = Limits {
        max_files: 2,
        ..Limits::default()
    };

    let err = read_working_tree(&fx.repo(), &limits).expect_err("too many");

    assert!(
        matches!(err, SourceError::TooManyFiles { limit: 2, .. }),
        "{err:?}"
    );
}

#[test]
fn accepts_exactly_the_file_limit() {
    let fx = Fixture::new();
    fx.write("a.yaml", "x: 1\n");
    fx.write("b.yaml", "x: 1\n");
    fx.write("not-counted.txt", "\n");
    let limits = Limits {
        max_files: 2,
        ..Limits::default()
    };

    let snapshot = read_working_tree(&fx.repo(), &limits).expect("read");

    assert_eq!(names(&snapshot), ["a.yaml", "b.yaml"]);
}

#[test]
fn refuses_more_plain_directory_files_than_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["a.yaml", "b/c.yaml", "d/e/f.yaml"] {
        write(dir.path(), name, "x: 1\n");
    }
    let limits = Limits {
        max_files: 2,
        ..Limits::default()
    };

    let err = read_working_tree(dir.path(), &limits).expect_err("too many");

    assert!(
        matches!(err, SourceError::TooManyFiles { limit: 2, .. }),
        "{err:?}"
    );
}

#[test]
fn reports_a_path_that_is_a_file_or_missing_as_not_a_directory() {
    let fx = Fixture::new();
    fx.write("app.yaml", "a: 1\n");

    for path in [fx.repo().join("app.yaml"), fx.repo().join("missing")] {
        let err = read_working_tree(&path, &Limits::default()).expect_err("not a directory");
        match err {
            SourceError::NotADirectory { path: reported } => assert_eq!(reported, path),
            other => panic!("expected NotADirectory, got {other:?}"),
        }
    }
}

#[test]
fn refuses_a_path_inside_the_git_directory() {
    let fx = Fixture::new();
    fx.write("app.yaml", "a: 1\n");
    fx.commit_all();

    let err = read_working_tree(&fx.repo().join(".git/refs"), &Limits::default())
        .expect_err("inside .git");

    assert!(matches!(err, SourceError::Git { .. }), "{err:?}");
}

#[cfg(unix)]
mod symlinks {
    use std::os::unix::fs::symlink;

    use super::*;

    fn expect_escape(err: SourceError, name: &str) -> PathBuf {
        match err {
            SourceError::EscapesRepository { path, target } => {
                assert_eq!(path, Path::new(name));
                target
            }
            other => panic!("expected EscapesRepository, got {other:?}"),
        }
    }

    #[test]
    fn refuses_a_manifest_symlink_to_a_file_outside_the_repository() {
        let fx = Fixture::new();
        fx.write("app.yaml", "a: 1\n");
        symlink("/etc/passwd", fx.repo().join("evil.yaml")).expect("symlink");

        let err = fx.read().expect_err("escapes");

        let target = expect_escape(err, "evil.yaml");
        assert_eq!(target, fs::canonicalize("/etc/passwd").expect("canonical"));
    }

    #[test]
    fn refuses_a_relative_symlink_climbing_out_of_the_repository() {
        let fx = Fixture::new();
        fx.write("sub/app.yaml", "a: 1\n");
        symlink("../../x.yaml", fx.repo().join("sub/link.yaml")).expect("symlink");

        let err = fx.read().expect_err("escapes");

        let target = expect_escape(err, "sub/link.yaml");
        assert!(!target.starts_with(fx.repo()), "{target:?}");
    }

    #[test]
    fn refuses_a_relative_symlink_to_an_existing_file_beside_the_repository() {
        let fx = Fixture::new();
        write(fx.dir.path(), "outside.yaml", "stolen: true\n");
        fx.write("sub/app.yaml", "a: 1\n");
        symlink("../../outside.yaml", fx.repo().join("sub/link.yaml")).expect("symlink");

        let err = fx.read().expect_err("escapes");

        let target = expect_escape(err, "sub/link.yaml");
        assert_eq!(
            target,
            fs::canonicalize(fx.dir.path().join("outside.yaml")).expect("canonical")
        );
    }

    #[test]
    fn names_the_escaping_symlink_relative_to_the_repository_root() {
        let fx = Fixture::new();
        fx.write("apps/web/app.yaml", "a: 1\n");
        symlink("/etc/passwd", fx.repo().join("apps/web/evil.yaml")).expect("symlink");

        let err = read_working_tree(&fx.repo().join("apps/web"), &Limits::default())
            .expect_err("escapes");

        expect_escape(err, "apps/web/evil.yaml");
    }

    #[test]
    fn refuses_a_manifest_symlink_into_the_git_directory() {
        let fx = Fixture::new();
        fx.write("app.yaml", "a: 1\n");
        symlink(".git/config", fx.repo().join("config.yaml")).expect("symlink");

        let err = fx.read().expect_err("reads .git");

        expect_escape(err, "config.yaml");
    }

    #[test]
    fn reads_a_symlink_to_a_file_inside_the_repository_under_its_own_name() {
        let fx = Fixture::new();
        fx.write("base/app.yaml", "a: 1\n");
        fs::create_dir_all(fx.repo().join("overlay")).expect("mkdir");
        symlink("../base/app.yaml", fx.repo().join("overlay/app.yaml")).expect("symlink");
        fx.commit_all();

        // PATH is the overlay: the target lies outside PATH but inside the repository.
        let snapshot =
            read_working_tree(&fx.repo().join("overlay"), &Limits::default()).expect("read");

        assert_eq!(names(&snapshot), ["app.yaml"]);
        assert_eq!(content(&snapshot, "app.yaml"), "a: 1\n");
    }

    #[test]
    fn ignores_symlinks_whose_names_are_not_manifests() {
        let fx = Fixture::new();
        fx.write("app.yaml", "a: 1\n");
        symlink("/etc", fx.repo().join("x.txt")).expect("symlink");

        let snapshot = fx.read().expect("read");

        assert_eq!(names(&snapshot), ["app.yaml"]);
    }

    #[test]
    fn does_not_descend_into_symlinked_directories() {
        let fx = Fixture::new();
        fx.write("base/app.yaml", "a: 1\n");
        symlink("base", fx.repo().join("inside")).expect("symlink");
        symlink("/etc", fx.repo().join("outside")).expect("symlink");

        let snapshot = fx.read().expect("read");

        assert_eq!(names(&snapshot), ["base/app.yaml"]);
    }

    #[test]
    fn skips_a_symlinked_directory_named_like_a_manifest_inside_the_repository() {
        let fx = Fixture::new();
        fx.write("base/app.yaml", "a: 1\n");
        symlink("base", fx.repo().join("dir.yaml")).expect("symlink");

        let snapshot = fx.read().expect("read");

        assert_eq!(names(&snapshot), ["base/app.yaml"]);
    }

    #[test]
    fn refuses_a_symlink_leaving_a_plain_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "tree/a.yaml", "a: 1\n");
        write(dir.path(), "beside.yaml", "b: 2\n");
        symlink("../beside.yaml", dir.path().join("tree/link.yaml")).expect("symlink");

        let err =
            read_working_tree(&dir.path().join("tree"), &Limits::default()).expect_err("escapes");

        expect_escape(err, "link.yaml");
    }

    #[test]
    fn reads_a_symlink_inside_a_plain_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "a.yaml", "a: 1\n");
        symlink("a.yaml", dir.path().join("b.yaml")).expect("symlink");

        let snapshot = read_working_tree(dir.path(), &Limits::default()).expect("read");

        assert_eq!(content(&snapshot, "b.yaml"), "a: 1\n");
    }
}

/// `read_revision`: files as they are in a commit, whatever the working tree holds.
mod revisions {
    use super::*;

    /// `git rev-parse` of `rev`, for comparing with what gix resolved.
    fn rev_parse(dir: &Path, rev: &str) -> String {
        let output = Command::new("git")
            .args(["rev-parse", &format!("{rev}^{{commit}}")])
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git runs");
        assert!(output.status.success(), "rev-parse {rev}");
        String::from_utf8(output.stdout)
            .expect("utf-8")
            .trim()
            .to_string()
    }

    fn commit(fx: &Fixture, message: &str) {
        git(&fx.repo(), &["add", "-A"]);
        git(&fx.repo(), &["commit", "-q", "-m", message]);
    }

    fn at(fx: &Fixture, rev: &str) -> Snapshot {
        read_revision(&fx.repo(), rev, &Limits::default())
            .unwrap_or_else(|e| panic!("reading {rev}: {e}"))
    }

    #[test]
    fn reads_a_past_commit_while_the_working_tree_has_other_edits() {
        let fx = Fixture::new();
        fx.write("app.yaml", "version: 1\n");
        fx.write("gone.yaml", "deleted: later\n");
        commit(&fx, "one");
        fx.write("app.yaml", "version: 2\n");
        fs::remove_file(fx.repo().join("gone.yaml")).expect("rm");
        commit(&fx, "two");
        fx.write("app.yaml", "version: uncommitted\n");
        fx.write("untracked.yaml", "new: true\n");

        let snapshot = at(&fx, "HEAD~1");

        assert_eq!(names(&snapshot), ["app.yaml", "gone.yaml"]);
        assert_eq!(content(&snapshot, "app.yaml"), "version: 1\n");
        let revision = snapshot.revision.as_ref().expect("a revision");
        assert_eq!(revision.spec, "HEAD~1");
        assert_eq!(revision.commit, rev_parse(&fx.repo(), "HEAD~1"));
        assert_eq!(
            snapshot.origin,
            SourceOrigin::Worktree {
                repo_root: fs::canonicalize(fx.repo()).expect("canonical")
            }
        );
        // The files are on disk for kustomize, outside the repository, which is untouched.
        assert!(snapshot.is_materialised());
        assert!(!snapshot.root.starts_with(fx.repo()));
        assert_eq!(
            fs::read_to_string(snapshot.root.join("app.yaml")).expect("copy"),
            "version: 1\n"
        );
        assert_eq!(
            fs::read_to_string(fx.repo().join("app.yaml")).expect("worktree"),
            "version: uncommitted\n"
        );
        assert!(!fx.repo().join("gone.yaml").exists());

        let head = at(&fx, "HEAD");
        assert_eq!(names(&head), ["app.yaml"]);
        assert_eq!(content(&head, "app.yaml"), "version: 2\n");
    }

    #[test]
    fn resolves_branches_lightweight_and_annotated_tags_and_commit_ids() {
        let fx = Fixture::new();
        fx.write("app.yaml", "at: v1\n");
        commit(&fx, "one");
        git(&fx.repo(), &["tag", "v1"]);
        git(&fx.repo(), &["tag", "-a", "-m", "release", "v1-annotated"]);
        git(&fx.repo(), &["branch", "stable"]);
        let first = rev_parse(&fx.repo(), "HEAD");
        fx.write("app.yaml", "at: v2\n");
        commit(&fx, "two");

        for rev in ["v1", "v1-annotated", "stable", first.as_str(), &first[..10]] {
            let snapshot = at(&fx, rev);
            assert_eq!(content(&snapshot, "app.yaml"), "at: v1\n", "{rev}");
            assert_eq!(snapshot.revision.expect("revision").commit, first, "{rev}");
        }
        assert_eq!(content(&at(&fx, "main"), "app.yaml"), "at: v2\n");
    }

    #[test]
    fn an_unknown_revision_is_an_error_naming_it() {
        let fx = Fixture::new();
        fx.write("app.yaml", "a: 1\n");
        commit(&fx, "one");

        for rev in ["no-such-branch", "HEAD~5"] {
            let err = read_revision(&fx.repo(), rev, &Limits::default()).expect_err("unknown");
            assert!(
                matches!(&err, SourceError::UnknownRevision { rev: named, .. } if named == rev),
                "{err:?}"
            );
            assert!(err.to_string().contains(&format!("`{rev}`")), "{err}");
        }
    }

    #[test]
    fn a_revision_naming_a_blob_is_not_a_commit() {
        let fx = Fixture::new();
        fx.write("app.yaml", "a: 1\n");
        commit(&fx, "one");

        let err =
            read_revision(&fx.repo(), "HEAD:app.yaml", &Limits::default()).expect_err("a blob");

        assert!(err.to_string().contains("not a commit"), "{err}");
    }

    #[test]
    fn outside_a_repository_there_is_no_revision() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "a.yaml", "a: 1\n");

        let err = read_revision(dir.path(), "HEAD", &Limits::default()).expect_err("no repo");

        assert!(matches!(err, SourceError::Git { .. }), "{err:?}");
    }

    #[test]
    fn reads_a_subdirectory_with_its_prefix_even_when_the_working_tree_lost_it() {
        let fx = Fixture::new();
        fx.write("apps/web/a.yaml", "a: 1\n");
        fx.write("apps/web/nested/b.json", "{}\n");
        fx.write("apps/web/README.md", "not a manifest\n");
        fx.write("apps/other/c.yaml", "c: 3\n");
        commit(&fx, "one");
        fs::remove_dir_all(fx.repo().join("apps/web")).expect("rm");
        commit(&fx, "two");

        let snapshot =
            read_revision(&fx.repo().join("apps/web"), "HEAD~1", &Limits::default()).expect("read");

        assert_eq!(names(&snapshot), ["a.yaml", "nested/b.json"]);
        assert_eq!(snapshot.display_prefix, Path::new("apps/web"));
        assert!(snapshot.root.ends_with("apps/web"));
        assert!(snapshot.root.join("nested/b.json").is_file());
    }

    #[test]
    fn a_path_that_is_no_directory_at_the_revision_is_not_a_directory() {
        let fx = Fixture::new();
        fx.write("app.yaml", "a: 1\n");
        commit(&fx, "one");
        fx.write("later/b.yaml", "b: 2\n");
        commit(&fx, "two");

        for path in [fx.repo().join("later"), fx.repo().join("app.yaml")] {
            let err = read_revision(&path, "HEAD~1", &Limits::default()).expect_err("no dir");
            match err {
                SourceError::NotADirectory { path: reported } => assert_eq!(reported, path),
                other => panic!("expected NotADirectory, got {other:?}"),
            }
        }
    }

    #[test]
    fn the_temporary_copy_is_removed_with_the_snapshot() {
        let fx = Fixture::new();
        fx.write("app.yaml", "a: 1\n");
        commit(&fx, "one");

        let snapshot = at(&fx, "HEAD");
        let root = snapshot.root.clone();
        assert!(root.join("app.yaml").is_file());
        drop(snapshot);

        assert!(!root.exists(), "{} still exists", root.display());
    }

    #[test]
    fn refuses_a_blob_over_the_size_limit_from_its_header() {
        let fx = Fixture::new();
        fx.write("small.yaml", "a: 1\n");
        fx.write("big.yaml", &"x".repeat(2048));
        commit(&fx, "one");
        let limits = Limits {
            max_file_bytes: 1024,
            ..Limits::default()
        };

        let err = read_revision(&fx.repo(), "HEAD", &limits).expect_err("too large");

        match err {
            SourceError::FileTooLarge { path, size, limit } => {
                assert_eq!(path, Path::new("big.yaml"));
                assert_eq!(size, 2048);
                assert_eq!(limit, 1024);
            }
            other => panic!("expected FileTooLarge, got {other:?}"),
        }
    }

    #[test]
    fn refuses_more_candidates_or_bytes_than_the_limits() {
        let fx = Fixture::new();
        for name in ["a.yaml", "b.yaml", "c.yaml"] {
            fx.write(name, &"x".repeat(60));
        }
        commit(&fx, "one");

        let too_many = Limits {
            max_files: 2,
            ..Limits::default()
        };
        let err = read_revision(&fx.repo(), "HEAD", &too_many).expect_err("too many");
        assert!(
            matches!(err, SourceError::TooManyFiles { limit: 2, .. }),
            "{err:?}"
        );

        let too_big = Limits {
            max_total_bytes: 100,
            ..Limits::default()
        };
        let err = read_revision(&fx.repo(), "HEAD", &too_big).expect_err("too big");
        assert!(
            matches!(err, SourceError::TotalTooLarge { limit: 100, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_kustomization_gets_the_whole_tree_on_disk_so_parent_references_resolve() {
        let fx = Fixture::new();
        fx.write(
            "base/kustomization.yaml",
            "resources:\n- cm.yaml\nconfigMapGenerator:\n- name: env\n  envs:\n  - app.env\n",
        );
        fx.write(
            "base/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: debug\n",
        );
        fx.write("base/app.env", "MODE=committed\n");
        fx.write(
            "overlays/prod/kustomization.yaml",
            "resources:\n- ../../base\nnamespace: prod\n",
        );
        commit(&fx, "one");
        fx.write("base/app.env", "MODE=edited\n");
        fx.write(
            "base/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: edited\n",
        );

        let snapshot = read_revision(&fx.repo().join("overlays/prod"), "HEAD", &Limits::default())
            .expect("read");

        assert_eq!(names(&snapshot), ["kustomization.yaml"]);
        // Files outside PATH and non-manifests are in the copy too.
        let base = snapshot.root.join("../../base");
        assert_eq!(
            fs::read_to_string(base.join("app.env")).expect("env"),
            "MODE=committed\n"
        );

        // That kustomize builds it with the parent reference resolved, each object citing its
        // file in the tree, is a render test: tests/integration/revisions.rs.
    }

    #[test]
    fn the_whole_tree_counts_against_the_caps() {
        let fx = Fixture::new();
        fx.write("deploy/kustomization.yaml", "resources: []\n");
        fx.write("docs/big.bin", &"x".repeat(4096));
        commit(&fx, "one");
        let limits = Limits {
            max_file_bytes: 1024,
            ..Limits::default()
        };

        let err = read_revision(&fx.repo().join("deploy"), "HEAD", &limits).expect_err("too large");

        assert!(
            matches!(&err, SourceError::FileTooLarge { path, .. } if path == Path::new("docs/big.bin")),
            "{err:?}"
        );
    }

    #[cfg(unix)]
    mod symlinks {
        use std::os::unix::fs::symlink;

        use super::*;

        /// Commits the symlinks, then removes them from the working tree: whatever is read
        /// comes from the tree.
        fn commit_links(fx: &Fixture, links: &[(&str, &str)]) {
            for (link, target) in links {
                let path = fx.repo().join(link);
                fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                symlink(target, &path).expect("symlink");
            }
            commit(fx, "links");
            for (link, _) in links {
                fs::remove_file(fx.repo().join(link)).expect("rm");
            }
        }

        fn expect_escape(err: SourceError, name: &str) -> PathBuf {
            match err {
                SourceError::EscapesRepository { path, target } => {
                    assert_eq!(path, Path::new(name));
                    target
                }
                other => panic!("expected EscapesRepository, got {other:?}"),
            }
        }

        #[test]
        fn refuses_an_absolute_symlink() {
            let fx = Fixture::new();
            fx.write("app.yaml", "a: 1\n");
            commit_links(&fx, &[("evil.yaml", "/etc/passwd")]);

            let err = read_revision(&fx.repo(), "HEAD", &Limits::default()).expect_err("escapes");

            assert_eq!(expect_escape(err, "evil.yaml"), Path::new("/etc/passwd"));
        }

        #[test]
        fn refuses_a_relative_symlink_climbing_out_of_the_repository() {
            let fx = Fixture::new();
            fx.write("apps/web/app.yaml", "a: 1\n");
            commit_links(&fx, &[("apps/web/link.yaml", "../../../outside.yaml")]);

            let err = read_revision(&fx.repo().join("apps/web"), "HEAD", &Limits::default())
                .expect_err("escapes");

            let target = expect_escape(err, "apps/web/link.yaml");
            assert_eq!(
                target,
                fx.dir.path().canonicalize().unwrap().join("outside.yaml")
            );
        }

        #[test]
        fn refuses_a_symlink_into_the_git_directory() {
            let fx = Fixture::new();
            fx.write("app.yaml", "a: 1\n");
            commit_links(&fx, &[("config.yaml", ".git/config")]);

            let err = read_revision(&fx.repo(), "HEAD", &Limits::default()).expect_err("escapes");

            expect_escape(err, "config.yaml");
        }

        #[test]
        fn refuses_an_escape_hidden_behind_a_symlinked_directory() {
            let fx = Fixture::new();
            fx.write("app.yaml", "a: 1\n");
            commit_links(&fx, &[("up", ".."), ("sneaky.yaml", "up/outside.yaml")]);

            let err = read_revision(&fx.repo(), "HEAD", &Limits::default()).expect_err("escapes");

            expect_escape(err, "sneaky.yaml");
        }

        #[test]
        fn follows_symlinks_inside_the_tree_under_their_own_name() {
            let fx = Fixture::new();
            fx.write("base/app.yaml", "a: committed\n");
            fx.write("v2/web.yaml", "web: committed\n");
            commit_links(
                &fx,
                &[
                    ("overlay/app.yaml", "../base/app.yaml"),
                    ("current", "v2"),
                    ("overlay/web.yaml", "../current/./web.yaml"),
                    ("overlay/chain.yaml", "app.yaml"),
                ],
            );
            fx.write("base/app.yaml", "a: edited\n");

            let snapshot = read_revision(&fx.repo().join("overlay"), "HEAD", &Limits::default())
                .expect("read");

            assert_eq!(names(&snapshot), ["app.yaml", "chain.yaml", "web.yaml"]);
            assert_eq!(content(&snapshot, "app.yaml"), "a: committed\n");
            assert_eq!(content(&snapshot, "chain.yaml"), "a: committed\n");
            assert_eq!(content(&snapshot, "web.yaml"), "web: committed\n");
        }

        #[test]
        fn a_dangling_or_looping_symlink_is_an_error_naming_it() {
            for (link, target) in [
                ("dangling.yaml", "missing.yaml"),
                ("loop.yaml", "loop.yaml"),
            ] {
                let fx = Fixture::new();
                fx.write("app.yaml", "a: 1\n");
                commit_links(&fx, &[(link, target)]);

                let err =
                    read_revision(&fx.repo(), "HEAD", &Limits::default()).expect_err("broken");

                assert!(
                    matches!(&err, SourceError::Io { path, .. } if path == Path::new(link)),
                    "{err:?}"
                );
            }
        }

        #[test]
        fn a_symlinked_directory_named_like_a_manifest_is_skipped() {
            let fx = Fixture::new();
            fx.write("base/app.yaml", "a: 1\n");
            commit_links(&fx, &[("dir.yaml", "base")]);

            let snapshot = at(&fx, "HEAD");

            assert_eq!(names(&snapshot), ["base/app.yaml"]);
        }

        #[test]
        fn the_copy_for_kustomize_keeps_confined_links() {
            let fx = Fixture::new();
            fx.write("deploy/kustomization.yaml", "resources: []\n");
            fx.write("shared/values.env", "A=1\n");
            commit_links(
                &fx,
                &[
                    ("deploy/values.env", "../shared/values.env"),
                    ("deploy/shared", "../shared"),
                    ("deploy/dangling", "../missing"),
                ],
            );

            let snapshot =
                read_revision(&fx.repo().join("deploy"), "HEAD", &Limits::default()).expect("read");

            let root = &snapshot.root;
            assert_eq!(
                fs::read_to_string(root.join("values.env")).expect("file link"),
                "A=1\n"
            );
            assert_eq!(
                fs::read_to_string(root.join("shared/values.env")).expect("dir link"),
                "A=1\n"
            );
            assert!(fs::symlink_metadata(root.join("dangling")).is_err());
        }

        #[test]
        fn the_copy_for_kustomize_refuses_a_link_out_of_the_repository_anywhere_in_the_tree() {
            for (link, target) in [
                ("deploy/passwd", "/etc/passwd"),
                ("deploy/up", "../.."),
                ("tools/kubeconfig", "../../outside"),
                ("deploy/git", "../.git"),
            ] {
                let fx = Fixture::new();
                fx.write("deploy/kustomization.yaml", "resources: []\n");
                fs::write(fx.dir.path().join("outside"), "secret").expect("outside");
                commit_links(&fx, &[(link, target)]);

                let err = read_revision(&fx.repo().join("deploy"), "HEAD", &Limits::default())
                    .expect_err("a link out of the repository");

                let SourceError::UnsafeTree { path, rev, .. } = &err else {
                    panic!("{link}: expected UnsafeTree, got {err:?}");
                };
                assert_eq!(path, Path::new(link));
                assert_eq!(rev, "HEAD");
                assert!(err.to_string().contains("outside the repository"), "{err}");
            }
        }

        /// Runs `git` with `input` on stdin; its stdout, trimmed.
        fn git_with_input(dir: &Path, args: &[&str], input: &str) -> String {
            use std::io::Write;
            let mut child = Command::new("git")
                .args(args)
                .current_dir(dir)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("git runs");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("writing to git");
            let output = child.wait_with_output().expect("git finishes");
            assert!(output.status.success(), "git {args:?}");
            String::from_utf8(output.stdout)
                .expect("utf-8")
                .trim()
                .to_string()
        }

        /// An entry of a tree written object by object, as no working tree could hold it.
        enum Node<'a> {
            File(&'a str),
            Link(&'a str),
            Dir(Vec<(&'a str, Node<'a>)>),
        }

        /// Writes `node` to the object database; its id and mode.
        fn write_node(repo: &Path, node: &Node<'_>) -> (String, &'static str) {
            let blob = |text: &str| git_with_input(repo, &["hash-object", "-w", "--stdin"], text);
            match node {
                Node::File(text) => (blob(text), "100644 blob"),
                Node::Link(target) => (blob(target), "120000 blob"),
                Node::Dir(entries) => {
                    let mut listing = String::new();
                    for (name, child) in entries {
                        let (id, mode) = write_node(repo, child);
                        listing.push_str(&format!("{mode} {id}\t{name}\n"));
                    }
                    // mktree sorts but, unlike git's index, keeps repeated names.
                    (git_with_input(repo, &["mktree"], &listing), "040000 tree")
                }
            }
        }

        /// Commits the tree `root` as `main`, whatever the working tree holds.
        fn commit_crafted(fx: &Fixture, root: &Node<'_>) {
            let (tree, _) = write_node(&fx.repo(), root);
            let commit = git_with_input(
                &fx.repo(),
                &[
                    "-c",
                    "user.name=t",
                    "-c",
                    "user.email=t@example.com",
                    "commit-tree",
                    &tree,
                ],
                "crafted\n",
            );
            git(&fx.repo(), &["update-ref", "refs/heads/main", &commit]);
        }

        fn expect_unsafe(err: SourceError, name: &str) -> String {
            let message = err.to_string();
            match err {
                SourceError::UnsafeTree {
                    path, rev, commit, ..
                } => {
                    assert_eq!(path, Path::new(name), "{message}");
                    assert_eq!(rev, "main");
                    assert_eq!(commit.len(), 40, "{message}");
                    message
                }
                other => panic!("expected UnsafeTree at {name}, got {other:?}"),
            }
        }

        /// The attack tree: a symlink `p` to `.` and a directory `p`
        /// nesting `p/` `depth` times, ending in a chart whose `sa` climbs back to the root of
        /// the tree on paper, where a decoy holds the path of `secret` outside the repository.
        /// Written naively, the nested directories fold into the link and `sa` climbs out of
        /// the copy onto the real file.
        fn nested_twin_tree<'a>(depth: usize, climb: &'a str, decoy: &'a [&'a str]) -> Node<'a> {
            let chart = Node::Dir(vec![
                (
                    "Chart.yaml",
                    Node::File("apiVersion: v2\nname: c\nversion: 0.1.0\n"),
                ),
                ("sa", Node::Link(climb)),
            ]);
            let mut nested = Node::Dir(vec![("c", chart)]);
            for _ in 0..depth {
                nested = Node::Dir(vec![("p", nested)]);
            }
            let mut decoy_node = Node::File("decoy");
            for name in decoy.iter().rev() {
                decoy_node = Node::Dir(vec![(name, decoy_node)]);
            }
            let Node::Dir(mut decoy_entries) = decoy_node else {
                unreachable!()
            };
            let Node::Dir(mut root) = nested else {
                unreachable!()
            };
            root.insert(0, ("p", Node::Link(".")));
            root.append(&mut decoy_entries);
            Node::Dir(root)
        }

        #[test]
        fn a_tree_with_a_link_and_a_directory_of_one_name_is_refused_before_anything_leaks() {
            let fx = Fixture::new();
            let secret = fx.dir.path().join("secret");
            fs::write(&secret, "admin kubeconfig").expect("secret");
            let secret = secret.canonicalize().expect("canonical");
            let decoy: Vec<String> = secret
                .iter()
                .skip(1)
                .map(|c| c.to_string_lossy().into_owned())
                .collect();
            let decoy: Vec<&str> = decoy.iter().map(String::as_str).collect();
            // Deep enough to climb from the copy in the temporary directory to `/`.
            let depth = 12.max(std::env::temp_dir().components().count() + 2);
            let climb = format!("{}{}", "../".repeat(depth + 1), decoy.join("/"));
            fx.write("app.yaml", "a: 1\n");
            fx.commit_all();
            commit_crafted(&fx, &nested_twin_tree(depth, &climb, &decoy));

            let err = read_revision(&fx.repo(), "main", &Limits::default())
                .expect_err("a tree with twins");

            let message = expect_unsafe(err, "p");
            assert!(
                message.contains("more than one entry named `p`"),
                "{message}"
            );
            assert!(message.contains("revision main"), "{message}");
        }

        #[test]
        fn twins_are_refused_wherever_they_are_and_however_git_sorted_them() {
            // git sorts the directory `p` as `p/`, after `p.txt`: the twins are not adjacent.
            let trees = [
                (
                    "deploy/p",
                    Node::Dir(vec![(
                        "deploy",
                        Node::Dir(vec![
                            ("kustomization.yaml", Node::File("resources: []\n")),
                            ("p", Node::Link(".")),
                            ("p.txt", Node::File("x")),
                            ("p", Node::Dir(vec![("a.txt", Node::File("x"))])),
                        ]),
                    )]),
                ),
                (
                    "cm.yaml",
                    Node::Dir(vec![
                        ("cm.yaml", Node::File("a: 1\n")),
                        ("cm.yaml", Node::File("a: 2\n")),
                    ]),
                ),
            ];
            for (name, tree) in &trees {
                let fx = Fixture::new();
                fx.write("app.yaml", "a: 1\n");
                fx.commit_all();
                commit_crafted(&fx, tree);

                let err = read_revision(&fx.repo(), "main", &Limits::default())
                    .expect_err("a tree with twins");

                expect_unsafe(err, name);
            }
        }

        #[test]
        fn twins_met_while_resolving_a_link_are_refused() {
            // Only the link is a manifest candidate; its way runs through the twins.
            let fx = Fixture::new();
            fx.write("app.yaml", "a: 1\n");
            fx.commit_all();
            commit_crafted(
                &fx,
                &Node::Dir(vec![
                    ("app.yaml", Node::Link("lib/x/cm.yaml")),
                    (
                        "lib",
                        Node::Dir(vec![
                            ("x", Node::Link("..")),
                            ("x", Node::Dir(vec![("cm.yaml", Node::File("a: 1\n"))])),
                        ]),
                    ),
                ]),
            );

            let err = read_revision(&fx.repo(), "main", &Limits::default())
                .expect_err("twins on the way");

            expect_unsafe(err, "lib/x");
        }

        #[test]
        fn entries_named_dot_dot_dot_or_dot_git_are_refused() {
            for name in ["..", ".", ".git", ".GIT"] {
                let fx = Fixture::new();
                fx.write("app.yaml", "a: 1\n");
                fx.commit_all();
                commit_crafted(
                    &fx,
                    &Node::Dir(vec![
                        ("kustomization.yaml", Node::File("resources: []\n")),
                        (name, Node::Dir(vec![("config", Node::File("x"))])),
                    ]),
                );

                let err = read_revision(&fx.repo(), "main", &Limits::default())
                    .expect_err("a name git refuses");

                let message = err.to_string();
                assert!(
                    matches!(&err, SourceError::Git { path, .. } if path == Path::new(name)),
                    "{name}: {message}"
                );
                assert!(message.contains("refuses to check out"), "{message}");
            }
        }
    }
}
