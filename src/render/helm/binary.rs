//! Which `helm` renders charts, and whether it is one we support (3.8 or later, 3 or 4).
//!
//! The version is asked once per program per process: every chart of a render (and every
//! cycle of the reconciler) shares the answer.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The environment variable naming the helm program when `--helm-binary` is not given.
pub const HELM_ENV: &str = "GITOPS_HELM";

/// Oldest supported release: `helm template --kube-version`/`--api-versions` behave as we
/// rely on from 3.8 on.
const MINIMUM: Version = Version { major: 3, minor: 8 };

/// The program chosen on the command line (`--helm-binary`), for every render of the process.
static CHOSEN: OnceLock<PathBuf> = OnceLock::new();

/// Records `--helm-binary`; later renders use it unless their options name another.
pub fn choose(program: PathBuf) {
    let _ = CHOSEN.set(program);
}

/// The helm program: `explicit`, else `--helm-binary`, else `$GITOPS_HELM`, else `helm` on
/// PATH.
pub(crate) fn program(explicit: Option<&Path>) -> PathBuf {
    if let Some(program) = explicit.or(CHOSEN.get().map(PathBuf::as_path)) {
        return program.to_path_buf();
    }
    std::env::var_os(HELM_ENV)
        .filter(|value| !value.is_empty())
        .map_or_else(|| PathBuf::from("helm"), PathBuf::from)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version {
    pub major: u32,
    pub minor: u32,
}

/// Why a helm program cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unusable {
    NotFound,
    CannotRun(String),
    Unsupported(String),
}

/// The program's version, checked against `MINIMUM` once per program.
pub(crate) fn check(program: &Path) -> Result<Version, Unusable> {
    static SEEN: OnceLock<Mutex<HashMap<PathBuf, Result<Version, Unusable>>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    if let Some(known) = seen.lock().ok().and_then(|s| s.get(program).cloned()) {
        return known;
    }
    let answer = ask_version(program);
    if let Ok(mut seen) = seen.lock() {
        seen.insert(program.to_path_buf(), answer.clone());
    }
    answer
}

fn ask_version(program: &Path) -> Result<Version, Unusable> {
    let output = Command::new(program)
        .args(["version", "--template", "{{.Version}}"])
        .stdin(Stdio::null())
        .output()
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => Unusable::NotFound,
            _ => Unusable::CannotRun(error.to_string()),
        })?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(Unusable::CannotRun(format!(
            "`helm version` failed ({}): {}",
            output.status,
            super::scrub(stderr.trim())
        )));
    }
    let version = parse(&text).ok_or_else(|| {
        Unusable::Unsupported(format!("cannot read the version {text:?} it reports"))
    })?;
    if version < MINIMUM || version.major > 4 {
        return Err(Unusable::Unsupported(format!(
            "it is {text}; Helm 3.8 or later (3.x or 4.x) is needed"
        )));
    }
    Ok(version)
}

/// `v3.14.2`, `v4.3`, `v3.8.0+g1234` -> major and minor.
pub(crate) fn parse(text: &str) -> Option<Version> {
    let text = text.trim().strip_prefix('v').unwrap_or(text.trim());
    let mut parts = text.split(['.', '+', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some(Version { major, minor })
}

/// `helm template` for the chart in `dir` with the given arguments, with no stdin and an
/// environment that cannot reach the user's Helm repositories' credentials by accident.
pub(crate) fn template_command(program: &Path, args: &[OsString], dir: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .arg("template")
        .args(args)
        .arg(dir)
        .stdin(Stdio::null());
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_helm_3_and_4_are_read() {
        assert_eq!(
            parse("v3.14.2"),
            Some(Version {
                major: 3,
                minor: 14
            })
        );
        assert_eq!(parse("v4.3"), Some(Version { major: 4, minor: 3 }));
        assert_eq!(parse("v3.8.0+g1234"), Some(Version { major: 3, minor: 8 }));
        assert_eq!(parse("garbage"), None);
    }

    #[test]
    fn helm_older_than_3_8_is_refused_by_comparison() {
        assert!(parse("v3.7.2").unwrap() < MINIMUM);
        assert!(parse("v3.8.0").unwrap() >= MINIMUM);
        assert!(parse("v2.17.0").unwrap() < MINIMUM);
    }

    #[cfg(unix)]
    #[test]
    fn a_helm_older_than_3_8_is_refused_saying_what_is_needed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("helm");
        std::fs::write(&program, "#!/bin/sh\nprintf v3.7.2\n").unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        match check(&program) {
            Err(Unusable::Unsupported(reason)) => {
                assert!(
                    reason.contains("v3.7.2") && reason.contains("3.8 or later"),
                    "{reason}"
                )
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_program_is_reported_as_not_found() {
        let missing = Path::new("/nonexistent/helm-for-gitops-tests");
        assert_eq!(check(missing), Err(Unusable::NotFound));
    }
}
