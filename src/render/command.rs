//! Which program builds kustomizations, and the command line for one directory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A program that builds a kustomization directory and prints the objects as YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KustomizeCommand {
    /// `PROGRAM kustomize [ARGS] DIR`: the kustomize built into kubectl.
    Kubectl { program: PathBuf },
    /// `PROGRAM build [ARGS] DIR`: the standalone kustomize.
    Kustomize { program: PathBuf },
}

impl KustomizeCommand {
    /// `kubectl kustomize`, with `kubectl` found on PATH when run.
    pub fn kubectl() -> Self {
        KustomizeCommand::Kubectl {
            program: PathBuf::from("kubectl"),
        }
    }

    /// `kustomize build`, with `kustomize` found on PATH when run.
    pub fn kustomize() -> Self {
        KustomizeCommand::Kustomize {
            program: PathBuf::from("kustomize"),
        }
    }

    /// The standalone `kustomize` if it is on PATH (it is usually newer than kubectl's copy),
    /// else `kubectl kustomize`.
    pub fn detect() -> Self {
        let path = std::env::var_os("PATH").unwrap_or_default();
        match find_program(&path, "kustomize") {
            Some(program) => KustomizeCommand::Kustomize { program },
            None => KustomizeCommand::kubectl(),
        }
    }

    pub fn program(&self) -> &Path {
        match self {
            KustomizeCommand::Kubectl { program } | KustomizeCommand::Kustomize { program } => {
                program
            }
        }
    }

    /// The command building `dir`, with no stdin so a prompt can never wait for input.
    pub(crate) fn command(&self, extra_args: &[OsString], dir: &Path) -> Command {
        let (program, subcommand) = match self {
            KustomizeCommand::Kubectl { program } => (program, "kustomize"),
            KustomizeCommand::Kustomize { program } => (program, "build"),
        };
        let mut command = Command::new(program);
        command
            .arg(subcommand)
            .args(extra_args)
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}

/// The first executable file called `name` in the directories of a PATH-style `path`.
fn find_program(path: &std::ffi::OsStr, name: &str) -> Option<PathBuf> {
    let file_name = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    std::env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(&file_name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_and_kustomize_use_their_own_subcommands() {
        let dir = Path::new("/repo/apps");
        let args = [OsString::from("--enable-helm")];
        let kubectl = KustomizeCommand::kubectl().command(&args, dir);
        let argv: Vec<_> = kubectl.get_args().collect();
        assert_eq!(kubectl.get_program(), "kubectl");
        assert_eq!(argv, ["kustomize", "--enable-helm", "/repo/apps"]);

        let kustomize = KustomizeCommand::kustomize().command(&[], dir);
        let argv: Vec<_> = kustomize.get_args().collect();
        assert_eq!(kustomize.get_program(), "kustomize");
        assert_eq!(argv, ["build", "/repo/apps"]);
    }

    #[cfg(unix)]
    #[test]
    fn only_executable_files_on_path_are_found() -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;

        let first = tempfile::tempdir()?;
        let second = tempfile::tempdir()?;
        let plain = first.path().join("kustomize");
        std::fs::write(&plain, "not executable")?;
        let runnable = second.path().join("kustomize");
        std::fs::write(&runnable, "#!/bin/sh\n")?;
        std::fs::set_permissions(&runnable, std::fs::Permissions::from_mode(0o755))?;

        let path =
            std::env::join_paths([first.path(), second.path()]).map_err(std::io::Error::other)?;
        assert_eq!(find_program(&path, "kustomize"), Some(runnable));
        assert_eq!(find_program(&path, "no-such-program"), None);
        Ok(())
    }
}
