//! Errors that say what to do next: the one-line message and, for mistakes a user fixes from
//! the command line, a hint printed under it.

use std::path::Path;

use kube::config::KubeconfigError;

use crate::source::SourceError;

/// The error and its causes on one line (see `cluster::refusal::one_line`): the server's
/// refusal said once, without kube's structures, and no cause repeated.
pub fn message(err: &anyhow::Error) -> String {
    // kube quotes the path twice ('"nope.yaml"') and names the reading twice.
    if let Some(KubeconfigError::ReadConfig(io, path)) = err.chain().find_map(|c| c.downcast_ref())
    {
        return format!("cannot read the kubeconfig {}: {io}", path.display());
    }
    // The outermost context ("reading deplyo", "reading deploy at revision v1.4") and the fact,
    // once: a missing PATH is not also "not a directory", an unknown revision not found twice.
    match err.chain().find_map(|c| c.downcast_ref::<SourceError>()) {
        Some(SourceError::NotADirectory { path }) if !path.exists() => {
            return format!("{} does not exist", path.display());
        }
        Some(SourceError::UnknownRevision { rev, repo, reason })
            if reason.contains("could not be found") || reason.contains("not found") =>
        {
            return format!(
                "{err}: unknown revision `{rev}`: no branch, tag or commit of that name in the \
                 repository at {}",
                repo.display()
            );
        }
        _ => {}
    }
    crate::cluster::refusal::one_line(err)
}

/// What to do about `err`, when we know; several lines, without a prefix.
pub fn hint(err: &anyhow::Error) -> Option<String> {
    err.chain().find_map(|cause| {
        if let Some(kubeconfig) = cause.downcast_ref::<KubeconfigError>() {
            kubeconfig_hint(kubeconfig)
        } else if let Some(unknown) = cause.downcast_ref::<crate::cluster::UnknownContext>() {
            Some(context_hint(unknown))
        } else if let Some(SourceError::NotADirectory { path }) = cause.downcast_ref() {
            Some(path_hint(path))
        } else if let Some(failure) = cause.downcast_ref::<crate::render::RenderFailure>() {
            not_manifests_hint(failure)
        } else if let Some(refused) = cause.downcast_ref::<super::apply::NothingApplied>() {
            refused.hint.clone()
        } else {
            None
        }
    })
}

const POINT_AT_A_CLUSTER: &str = "\
kubectl gitops talks to the cluster kubectl would use. Point it at one with
--kubeconfig FILE or KUBECONFIG=FILE, and pick a context with --context NAME
(`kubectl config get-contexts` lists them). No cluster yet? kind and minikube
write ~/.kube/config when they create one.";

fn kubeconfig_hint(err: &KubeconfigError) -> Option<String> {
    Some(match err {
        KubeconfigError::ReadConfig(io, path) if io.kind() == std::io::ErrorKind::NotFound => {
            format!(
                "there is no kubeconfig at {}.\n{POINT_AT_A_CLUSTER}",
                path.display()
            )
        }
        KubeconfigError::FindPath | KubeconfigError::ReadConfig(..) => {
            POINT_AT_A_CLUSTER.to_string()
        }
        KubeconfigError::CurrentContextNotSet => "the kubeconfig names no current context. \
             Pass --context NAME, or set one with\n`kubectl config use-context NAME`; \
             `kubectl config get-contexts` lists them."
            .to_string(),
        KubeconfigError::LoadContext(name) => format!(
            "the kubeconfig has no context named \"{name}\"; `kubectl config get-contexts` \
             lists\nthe ones it has."
        ),
        KubeconfigError::Parse(_) => "the kubeconfig is not valid; `kubectl config view` \
             shows what kubectl makes of it."
            .to_string(),
        _ => return None,
    })
}

/// Files that have none of apiVersion, kind and metadata.name are something else than
/// Kubernetes manifests (a CI workflow, a chart's values, a tool's settings): PATH was most
/// likely a repository root rather than the directory holding the manifests.
fn not_manifests_hint(failure: &crate::render::RenderFailure) -> Option<String> {
    let mut files: Vec<String> = failure
        .errors
        .iter()
        .filter_map(|error| match error {
            crate::render::RenderError::MissingFields { origin, fields } if fields.len() == 3 => {
                Some(origin.file.display().to_string())
            }
            _ => None,
        })
        .collect();
    files.dedup();
    let (first, rest) = files.split_first()?;
    let more = match rest.len() {
        0 => String::new(),
        1 => format!(" and {}", rest[0]),
        n => format!(" and {n} more files"),
    };
    Some(format!(
        "{first}{more} {} not look like Kubernetes manifests (no apiVersion, kind or \
         metadata.name). Every YAML and JSON file under PATH is read, so point PATH at the\n\
         directory holding your manifests, e.g. kubectl gitops diff deploy/.",
        if rest.is_empty() { "does" } else { "do" }
    ))
}

/// A directory beside a mistyped PATH whose name is one typo away.
fn nearby_directory(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let entries = std::fs::read_dir(parent.unwrap_or(Path::new("."))).ok()?;
    let dirs: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    let near = nearest(name, &dirs)?;
    Some(match parent {
        Some(parent) => parent.join(near).display().to_string(),
        None => near.to_string(),
    })
}

fn context_hint(unknown: &crate::cluster::UnknownContext) -> String {
    let name = &unknown.name;
    if unknown.known.is_empty() {
        return format!(
            "the kubeconfig has no context named \"{name}\", and no context at all.\n\
             {POINT_AT_A_CLUSTER}"
        );
    }
    let near = nearest(name, &unknown.known)
        .map(|n| format!(" Did you mean \"{n}\"?"))
        .unwrap_or_default();
    format!(
        "the kubeconfig has no context named \"{name}\"; it has: {}.{near}\n\
         (`kubectl config get-contexts` lists them with their clusters.)",
        unknown.known.join(", ")
    )
}

/// The candidate closest to `typed` by edit distance, when close enough to be a typo.
fn nearest<'a>(typed: &str, candidates: &'a [String]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(typed, c), c))
        .filter(|(distance, c)| *distance <= 2.max(c.len() / 3))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c.as_str())
}

fn path_hint(path: &Path) -> String {
    if path.exists() {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.display().to_string(),
            _ => ".".to_string(),
        };
        format!(
            "PATH is a directory, and {} is not one. To compare the manifests next to it,\n\
             pass its directory (everything under it is read): kubectl gitops diff {parent}",
            path.display()
        )
    } else {
        let here = std::env::current_dir()
            .map(|d| format!(" (in {})", d.display()))
            .unwrap_or_default();
        let near = nearby_directory(path)
            .map(|dir| format!(" Did you mean {dir}?"))
            .unwrap_or_default();
        format!(
            "PATH is the directory holding your manifests, e.g. kubectl gitops diff deploy/;\n\
             it defaults to the current directory{here}.{near}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_answer_is_said_once_in_its_own_words() {
        let said = "no answer from https://x/: the connection was cut off";
        let err = kube::Error::Service(Box::new(crate::cluster::NoAnswer(said.into())));
        let err = anyhow::Error::new(err).context("listing ConfigMap members");
        assert_eq!(message(&err), format!("listing ConfigMap members: {said}"));
    }
    use anyhow::Context;

    #[test]
    fn an_unreadable_kubeconfig_is_named_once_unquoted() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let kube = KubeconfigError::ReadConfig(io, "/x".into());
        let err = Err::<(), _>(kube).context("loading").unwrap_err();
        assert_eq!(message(&err), "cannot read the kubeconfig /x: gone");
    }

    #[test]
    fn missing_kubeconfig_says_how_to_point_at_a_cluster() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let err = anyhow::Error::new(KubeconfigError::ReadConfig(io, "/nowhere".into()));
        let hint = hint(&err).unwrap();
        assert!(
            hint.starts_with("there is no kubeconfig at /nowhere."),
            "{hint}"
        );
        assert!(
            hint.contains("--kubeconfig FILE or KUBECONFIG=FILE"),
            "{hint}"
        );
        assert!(hint.contains("--context NAME"), "{hint}");
    }

    #[test]
    fn unknown_context_names_the_listing_command() {
        let err = anyhow::Error::new(KubeconfigError::LoadContext("nope".into()));
        assert!(hint(&err).unwrap().contains("no context named \"nope\""));
    }

    #[test]
    fn path_hints() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.yaml");
        std::fs::write(&file, "").unwrap();
        let err = anyhow::Error::new(SourceError::NotADirectory { path: file.clone() });
        let hint = hint(&err).unwrap();
        assert!(
            hint.contains(&format!("kubectl gitops diff {}", dir.path().display())),
            "{hint}"
        );

        let missing = dir.path().join("nope");
        std::fs::create_dir(dir.path().join("none")).unwrap();
        let err = anyhow::Error::new(SourceError::NotADirectory {
            path: missing.clone(),
        })
        .context(format!("reading {}", missing.display()));
        let hint = super::hint(&err).unwrap();
        assert!(hint.contains("PATH is the directory holding your manifests"));
        assert!(hint.contains(&format!(
            "Did you mean {}?",
            dir.path().join("none").display()
        )));
        // Said once, in the message: not also "not a directory".
        assert_eq!(
            message(&err),
            format!("{} does not exist", missing.display())
        );
        assert!(!hint.contains("does not exist"), "{hint}");
    }

    #[test]
    fn an_unknown_revision_is_said_not_found_once() {
        let err = anyhow::Error::new(SourceError::UnknownRevision {
            rev: "v1.4".into(),
            repo: "/r".into(),
            reason: "Reference \"v1.4\" could not be found: The ref partially named \"v1.4\" \
                     could not be found"
                .into(),
        })
        .context("reading deploy at revision v1.4");
        assert_eq!(
            message(&err),
            "reading deploy at revision v1.4: unknown revision `v1.4`: no branch, tag or commit \
             of that name in the repository at /r"
        );
    }

    #[test]
    fn other_errors_get_no_hint() {
        assert!(hint(&anyhow::anyhow!("something else")).is_none());
    }
}
