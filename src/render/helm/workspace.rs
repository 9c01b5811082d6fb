//! Where helm and kustomize run: one sandbox per render, a temporary directory holding the
//! child's home, temporary and XDG directories and a private Helm home (so the user's
//! repositories, registry logins, plugins and caches are neither read nor changed, and nothing
//! a render writes is seen by another), and, for a chart whose dependencies come from the
//! cache, a copy of the chart with them added to `charts/` (the user's tree is never written).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// A temporary directory holding helm's private home, and possibly a copy of a chart.
pub(crate) struct Workspace {
    dir: TempDir,
}

impl Workspace {
    pub fn new() -> std::io::Result<Self> {
        Ok(Workspace {
            dir: tempfile::Builder::new()
                .prefix("kubectl-gitops-helm-")
                .tempdir()?,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Points the child's home, temporary directory and XDG directories at this workspace:
    /// whatever the child (or a program it runs) writes for itself stays in this render's
    /// sandbox, where no other render looks.
    pub fn confine(&self, command: &mut Command) {
        let root = self.dir.path().join("sandbox");
        for (name, below) in [
            ("HOME", "home"),
            ("TMPDIR", "tmp"),
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_CACHE_HOME", "cache"),
            ("XDG_DATA_HOME", "data"),
        ] {
            let dir = root.join(below);
            // A directory that cannot be made fails the child's own writes, inside the sandbox.
            let _ = std::fs::create_dir_all(&dir);
            command.env(name, dir);
        }
    }

    /// `confine`, with nothing else of the caller's environment but `PATH`: a child that
    /// needs no network sees none of the caller's tokens, proxies or settings (helm's name
    /// templates, for one, can read the environment).
    pub fn seal_off(&self, command: &mut Command) {
        command.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        self.confine(command);
    }

    /// Points every Helm home and file at this workspace, dropping any HELM_* setting of the
    /// caller's environment, and confines the child to the workspace (`confine`).
    /// `registry_config`: the registry logins helm may use.
    pub fn isolate(&self, command: &mut Command, registry_config: Option<&Path>) {
        self.confine(command);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("HELM_") {
                command.env_remove(&name);
            }
        }
        let home = self.dir.path().join("helm-home");
        let set = |command: &mut Command, name: &str, path: PathBuf| {
            command.env(name, path.as_os_str());
        };
        set(command, "HELM_CONFIG_HOME", home.join("config"));
        set(command, "HELM_CACHE_HOME", home.join("cache"));
        set(command, "HELM_DATA_HOME", home.join("data"));
        set(
            command,
            "HELM_REPOSITORY_CONFIG",
            self.dir.path().join("repositories.yaml"),
        );
        set(command, "HELM_REPOSITORY_CACHE", self.repository_cache());
        set(
            command,
            "HELM_REGISTRY_CONFIG",
            registry_config
                .map(Path::to_path_buf)
                .unwrap_or_else(|| home.join("config").join("registry").join("config.json")),
        );
    }

    /// Where helm keeps the indexes of the repositories it read.
    pub fn repository_cache(&self) -> PathBuf {
        self.dir
            .path()
            .join("helm-home")
            .join("cache")
            .join("repository")
    }

    /// A copy of the chart in `from` at `WORKSPACE/chart/NAME`. Symbolic links are followed
    /// (helm follows them too) as long as they stay inside `boundary`, the repository.
    pub fn copy_chart(&self, from: &Path, boundary: &Path) -> Result<PathBuf, CopyError> {
        self.copy_chart_at(from, boundary, 0)
    }

    /// `copy_chart`, `depth` directories further down.
    pub fn copy_chart_at(
        &self,
        from: &Path,
        boundary: &Path,
        depth: usize,
    ) -> Result<PathBuf, CopyError> {
        let name = from.file_name().unwrap_or(OsStr::new("chart"));
        let mut to = self.dir.path().join("chart");
        for level in 0..depth {
            to.push(format!("d{level}"));
        }
        let to = to.join(name);
        self.copy_dir(from, &to, boundary)?;
        Ok(to)
    }

    /// A copy of the directory `from` at `to`, links followed inside `boundary` only.
    pub fn copy_dir(&self, from: &Path, to: &Path, boundary: &Path) -> Result<(), CopyError> {
        let boundary = boundary
            .canonicalize()
            .unwrap_or_else(|_| boundary.to_path_buf());
        copy_tree(from, to, &boundary)
    }
}

/// Why a directory could not be copied into the workspace.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("cannot {verb} {}: {source}", .path.display())]
    Io {
        /// What was being done: create, read, follow, copy.
        verb: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A link (named by its file name) resolves outside the boundary.
    #[error("{name} links outside the repository")]
    LinksOutside { name: String },
}

fn copy_tree(from: &Path, to: &Path, boundary: &Path) -> Result<(), CopyError> {
    let io = |verb: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| CopyError::Io { verb, path, source }
    };
    std::fs::create_dir_all(to).map_err(io("create", to))?;
    let entries = std::fs::read_dir(from).map_err(io("read", from))?;
    for entry in entries {
        let entry = entry.map_err(io("read", from))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let file_type = entry.file_type().map_err(io("read", &source))?;
        let resolved = if file_type.is_symlink() {
            let real = source.canonicalize().map_err(io("follow", &source))?;
            if !real.starts_with(boundary) {
                return Err(CopyError::LinksOutside {
                    name: source
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned(),
                });
            }
            real
        } else {
            source.clone()
        };
        if resolved.is_dir() {
            if entry.file_name() == ".git" {
                continue;
            }
            copy_tree(&resolved, &target, boundary)?;
        } else {
            std::fs::copy(&resolved, &target).map_err(io("copy", &source))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_chart_copy_follows_links_inside_the_repository_and_refuses_others() {
        let repo = tempfile::tempdir().unwrap();
        let chart = repo.path().join("web");
        std::fs::create_dir_all(chart.join("templates")).unwrap();
        std::fs::write(chart.join("Chart.yaml"), "name: web\n").unwrap();
        std::fs::write(repo.path().join("shared.tpl"), "{{/* shared */}}").unwrap();
        std::os::unix::fs::symlink("../../shared.tpl", chart.join("templates/_shared.tpl"))
            .unwrap();
        let workspace = Workspace::new().unwrap();
        let copy = workspace.copy_chart(&chart, repo.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(copy.join("templates/_shared.tpl")).unwrap(),
            "{{/* shared */}}"
        );
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("x"), "secret").unwrap();
        std::os::unix::fs::symlink(outside.path().join("x"), chart.join("leak")).unwrap();
        let error = Workspace::new()
            .unwrap()
            .copy_chart(&chart, repo.path())
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("leak links outside the repository"),
            "{error}"
        );
    }

    #[test]
    fn helm_sees_only_the_private_home() {
        let workspace = Workspace::new().unwrap();
        let mut command = Command::new("helm");
        workspace.isolate(&mut command, None);
        let envs: Vec<(String, Option<String>)> = command
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect();
        for (name, value) in &envs {
            if let Some(value) = value {
                assert!(
                    value.starts_with(&*workspace.path().to_string_lossy()),
                    "{name}={value}"
                );
            }
        }
        for name in [
            "HELM_CONFIG_HOME",
            "HELM_CACHE_HOME",
            "HELM_DATA_HOME",
            "HOME",
            "TMPDIR",
        ] {
            assert!(envs.iter().any(|(k, _)| k == name), "{name}");
        }
    }

    #[test]
    fn a_sealed_off_child_keeps_only_path_of_the_callers_environment() {
        let workspace = Workspace::new().unwrap();
        let mut command = Command::new("kustomize");
        workspace.seal_off(&mut command);
        let names: Vec<String> = command
            .get_envs()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        for name in &names {
            assert!(
                [
                    "PATH",
                    "HOME",
                    "TMPDIR",
                    "XDG_CONFIG_HOME",
                    "XDG_CACHE_HOME",
                    "XDG_DATA_HOME"
                ]
                .contains(&name.as_str()),
                "{name}"
            );
        }
        assert!(workspace.path().join("sandbox/tmp").is_dir());
    }
}
