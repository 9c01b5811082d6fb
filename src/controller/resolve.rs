//! A GitSync's spec resolved to what its reconcile needs: the fields every runner checks
//! alike, the ServiceAccount it acts as, and the ApplySet `kubectl gitops diff -n TARGET`
//! resolves for the same repository, path and namespace.

use kube::ResourceExt;

use super::crd::GitSync;
use super::reason::Stall;
use super::spec::{self, Refusal};
use crate::inventory::{ApplySet, identity};

/// A sync's spec, checked: what its reconcile needs.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The fields every runner of a sync checks alike.
    pub checked: spec::Checked,
    /// `system:serviceaccount:NS:NAME`.
    pub user: String,
    pub set: ApplySet,
}

/// Checks the spec; `default_service_account` is the controller's `--default-service-account`.
pub fn resolve(sync: &GitSync, default_service_account: Option<&str>) -> Result<Resolved, Refusal> {
    let spec = &sync.spec;
    let namespace = sync.namespace().unwrap_or_default();
    let checked = spec::check(spec, &namespace)?;
    if crate::scrub::strip_userinfo(&spec.repository.url) != spec.repository.url {
        return Err(Refusal::invalid(format!(
            "spec.repository.url {} carries credentials, readable by anyone who may read \
             GitSyncs: put the token in a Secret and name it in spec.repository.secretRef",
            crate::scrub::url(&spec.repository.url)
        )));
    }
    let account = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
        .or(default_service_account)
        .ok_or_else(|| Refusal {
            reason: Stall::NoServiceAccount,
            message: "spec.serviceAccountName is not set and the controller has no \
                      --default-service-account: a sync acts with the rights of a \
                      ServiceAccount of its namespace, never the controller's own"
                .to_string(),
        })?;
    let set = identity::for_remote(
        &spec.repository.url,
        &checked.path.to_string_lossy(),
        &checked.target_namespace,
        None,
        None,
    );
    Ok(Resolved {
        user: format!("system:serviceaccount:{namespace}:{account}"),
        set,
        checked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::crd::GitSyncSpec;

    fn sync(spec: GitSyncSpec) -> GitSync {
        let mut sync = GitSync::new("apps", spec);
        sync.metadata.namespace = Some("team-a".into());
        sync
    }

    fn spec() -> GitSyncSpec {
        GitSyncSpec {
            service_account_name: Some("deployer".into()),
            ..spec::tests::spec()
        }
    }

    #[test]
    fn a_sync_resolves_the_applyset_diff_resolves_and_acts_as_its_service_account() {
        let resolved = resolve(&sync(spec()), None).unwrap();
        assert_eq!(resolved.user, "system:serviceaccount:team-a:deployer");
        assert_eq!(resolved.checked.target_namespace, "team-a");
        let expected = identity::for_remote(
            "git://git.example.com/platform.git",
            "deploy",
            "team-a",
            None,
            None,
        );
        assert_eq!(resolved.set.name, expected.name);
        assert_eq!(resolved.set.namespace, "team-a");
    }

    #[test]
    fn a_sync_without_a_service_account_is_refused_unless_there_is_a_default() {
        let mut spec = spec();
        spec.service_account_name = None;
        let Refusal { reason, message } = resolve(&sync(spec.clone()), None).unwrap_err();
        assert_eq!(reason, Stall::NoServiceAccount);
        assert!(message.contains("--default-service-account"), "{message}");
        let resolved = resolve(&sync(spec), Some("gitops")).unwrap();
        assert_eq!(resolved.user, "system:serviceaccount:team-a:gitops");
    }

    #[test]
    fn credentials_in_the_url_are_refused_without_being_quoted() {
        let mut credentials = spec();
        credentials.repository.url = "https://user:hunter2@git.example.com/p.git".into();
        let Refusal { reason, message } = resolve(&sync(credentials), None).unwrap_err();
        assert_eq!(reason, Stall::InvalidSpec);
        assert!(message.contains("spec.repository.url"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn a_bad_field_stalls_the_sync_by_name() {
        let mut bad_interval = spec();
        bad_interval.interval = "soon".into();
        let Refusal { reason, message } = resolve(&sync(bad_interval), None).unwrap_err();
        assert_eq!(reason, Stall::InvalidSpec);
        assert!(message.contains("spec.interval"), "{message}");
    }
}
