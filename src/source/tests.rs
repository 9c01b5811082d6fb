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
