//! Symbolic links in a chart, judged before helm loads it. helm follows every link in a
//! chart's directory, to files and to directories, and hands what it finds to the templates
//! (`.Files.Get`, `.Files.Glob`): a link out of the repository would put any file the process
//! can read (a kubeconfig, a ServiceAccount token, CI credentials) into the rendered objects.
//!
//! The chart is walked as helm walks it, following links, each real directory once (so loops
//! and fans of links end). A link must resolve inside the repository, and neither into nor
//! through a `.git` directory: git metadata holds credentials (a CI checkout's token) and is
//! never the chart's content. Links inside the repository are followed as helm follows them,
//! as Argo CD allows them: sharing a `_helpers.tpl` between charts is a common layout.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::render::RenderError;

/// Most entries a chart's walk visits: helm would load them all into memory.
const MAX_ENTRIES: usize = 100_000;

/// Refuses the chart at `dir` (shown as `display`) when helm, loading it, would read through a
/// link that leaves `boundary` (the repository, or the copy of a revision) or reaches a
/// `.git` directory. Otherwise says whether the chart holds a `.git` of its own (a chart at
/// the root of its repository), which helm must not be shown either.
pub(crate) fn check(dir: &Path, display: &Path, boundary: &Path) -> Result<bool, RenderError> {
    let boundary = boundary
        .canonicalize()
        .unwrap_or_else(|_| boundary.to_path_buf());
    let refuse = |shown: &Path, reason: String| RenderError::ChartLink {
        chart: display.to_path_buf(),
        link: shown.to_path_buf(),
        reason,
    };
    let io = |shown: &Path, e: std::io::Error| RenderError::HelmFailed {
        chart: display.to_path_buf(),
        message: format!("cannot read {}: {e}", display.join(shown).display()),
    };
    let start = dir.canonicalize().map_err(|e| io(Path::new("."), e))?;
    if !start.starts_with(&boundary) {
        return Err(refuse(
            Path::new(""),
            format!(
                "the chart is at {}, outside the repository",
                start.display()
            ),
        ));
    }
    let mut visited = HashSet::from([start.clone()]);
    // (the real directory, as helm names it inside the chart, reached through a link)
    let mut pending = vec![(start, PathBuf::new(), false)];
    let mut walked = 0usize;
    let mut holds_git = false;
    while let Some((real, shown, through_link)) = pending.pop() {
        let entries = std::fs::read_dir(&real).map_err(|e| io(&shown, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io(&shown, e))?;
            walked += 1;
            if walked > MAX_ENTRIES {
                return Err(refuse(
                    &shown,
                    format!("the chart holds more than {MAX_ENTRIES} files and directories"),
                ));
            }
            let name = entry.file_name();
            let path = shown.join(&name);
            let file_type = entry.file_type().map_err(|e| io(&path, e))?;
            if name == ".git" {
                if through_link {
                    return Err(refuse(
                        &path,
                        "a symbolic link leads helm into the repository's git metadata".into(),
                    ));
                }
                // The chart's own repository (a chart at the root of it): no link is involved,
                // but helm skips nothing, so the caller renders a copy without it.
                holds_git = true;
                continue;
            }
            if file_type.is_symlink() {
                let target = match entry.path().canonicalize() {
                    Ok(target) => target,
                    // Dangling or looping: helm fails on it without reading anything.
                    Err(_) => continue,
                };
                let inside = target
                    .strip_prefix(&boundary)
                    .ok()
                    .filter(|rest| !rest.components().any(|c| c.as_os_str() == ".git"));
                if inside.is_none() {
                    return Err(refuse(
                        &path,
                        format!(
                            "this symbolic link resolves to {}, outside the repository (or \
                             into its .git); helm would read it into the chart",
                            target.display()
                        ),
                    ));
                }
                if target.is_dir() && visited.insert(target.clone()) {
                    pending.push((target, path, true));
                }
            } else if file_type.is_dir() {
                let real_dir = entry.path();
                if visited.insert(real_dir.clone()) {
                    pending.push((real_dir, path, through_link));
                }
            }
        }
    }
    Ok(holds_git)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    /// A repository holding a chart `web` and a secret beside it, outside the repository.
    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let chart = dir.path().join("repo/web/templates");
            std::fs::create_dir_all(&chart).unwrap();
            std::fs::create_dir_all(dir.path().join("repo/.git")).unwrap();
            std::fs::write(dir.path().join("repo/.git/config"), "token").unwrap();
            std::fs::write(dir.path().join("repo/web/Chart.yaml"), "name: web\n").unwrap();
            std::fs::write(dir.path().join("repo/shared.tpl"), "{{/* shared */}}").unwrap();
            std::fs::write(dir.path().join("secret"), "admin kubeconfig").unwrap();
            Fixture { dir }
        }

        fn link(&self, at: &str, target: &str) {
            symlink(target, self.dir.path().join("repo/web").join(at)).unwrap();
        }

        fn check(&self) -> Result<bool, String> {
            let repo = self.dir.path().join("repo");
            check(&repo.join("web"), Path::new("deploy/web"), &repo).map_err(|e| e.to_string())
        }
    }

    #[test]
    fn links_inside_the_repository_are_fine() {
        let fx = Fixture::new();
        fx.link("templates/_shared.tpl", "../../shared.tpl");
        fx.link("self", ".");
        assert_eq!(fx.check(), Ok(false));
    }

    #[test]
    fn a_chart_at_the_root_of_its_repository_is_said_to_hold_git_metadata() {
        let fx = Fixture::new();
        let repo = fx.dir.path().join("repo");
        assert_eq!(
            check(&repo, Path::new("."), &repo).map_err(|e| e.to_string()),
            Ok(true)
        );
    }

    #[test]
    fn a_link_out_of_the_repository_is_refused_naming_it() {
        for target in ["../../secret", "../../repo/web/../../secret"] {
            let fx = Fixture::new();
            fx.link("sa", target);
            let error = fx.check().unwrap_err();
            assert!(error.starts_with("deploy/web/sa: "), "{error}");
            assert!(error.contains("outside the repository"), "{error}");
        }
        let fx = Fixture::new();
        let absolute = fx.dir.path().join("secret");
        fx.link("sa", absolute.to_str().unwrap());
        assert!(fx.check().is_err());
    }

    #[test]
    fn a_link_out_of_the_repository_behind_a_linked_directory_is_refused() {
        let fx = Fixture::new();
        std::fs::create_dir_all(fx.dir.path().join("repo/lib")).unwrap();
        symlink("../../secret", fx.dir.path().join("repo/lib/sa")).unwrap();
        fx.link("lib", "../lib");
        let error = fx.check().unwrap_err();
        assert!(error.starts_with("deploy/web/lib/sa: "), "{error}");
    }

    #[test]
    fn a_link_into_or_through_git_metadata_is_refused() {
        for (at, target) in [("config", "../.git/config"), ("root", "..")] {
            let fx = Fixture::new();
            fx.link(at, target);
            let error = fx.check().unwrap_err();
            assert!(error.contains("git"), "{at}: {error}");
        }
    }
}
