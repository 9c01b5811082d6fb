//! What `.Capabilities` says while a chart renders.
//!
//! Installed by Helm, a chart sees the cluster it is installed into. We render before we
//! apply, so the target cluster's version and served API versions are passed to `helm
//! template` when a cluster is at hand (as Argo CD does). Without one (`diff --offline`, `pr`
//! previews) Helm's own defaults apply: the Kubernetes version its build was made for and its
//! built-in list of API versions. The report says which of the two a render used.

use std::ffi::OsString;
use std::fmt;

/// The cluster a chart is rendered for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Capabilities {
    /// No cluster: Helm's built-in defaults.
    #[default]
    HelmDefaults,
    /// As discovered on the target cluster.
    Cluster {
        /// `v1.32.3`, as the server's /version reports it.
        kube_version: String,
        /// Every served `group/version` and `group/version/Kind` (`v1`, `v1/ConfigMap` for the
        /// core group).
        api_versions: Vec<String>,
    },
}

impl Capabilities {
    /// The arguments of `helm template` that describe this cluster.
    pub(crate) fn args(&self) -> Vec<OsString> {
        let mut args = Vec::new();
        if let Capabilities::Cluster {
            kube_version,
            api_versions,
        } = self
        {
            args.push("--kube-version".into());
            args.push(kube_version.into());
            for api_version in api_versions {
                args.push("--api-versions".into());
                args.push(api_version.into());
            }
        }
        args
    }
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capabilities::HelmDefaults => f.write_str(
                "charts rendered with Helm's default capabilities (no cluster: its built-in \
                 Kubernetes version and API versions)",
            ),
            Capabilities::Cluster {
                kube_version,
                api_versions,
            } => write!(
                f,
                "charts rendered for Kubernetes {kube_version} with the cluster's {} API versions",
                api_versions.len()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_defaults_add_no_arguments() {
        assert!(Capabilities::HelmDefaults.args().is_empty());
    }

    #[test]
    fn a_cluster_passes_its_version_and_every_api_version() {
        let caps = Capabilities::Cluster {
            kube_version: "v1.36.3".into(),
            api_versions: vec!["v1".into(), "apps/v1/Deployment".into()],
        };
        let args: Vec<String> = caps
            .args()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "--kube-version",
                "v1.36.3",
                "--api-versions",
                "v1",
                "--api-versions",
                "apps/v1/Deployment"
            ]
        );
    }
}
