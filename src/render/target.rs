//! A render aimed at a cluster: charts go into its default namespace, see what it serves as
//! `.Capabilities`, and have their `lookup` calls answered by it as the same caller. The
//! cluster layer reads what it serves; turning that into render options is this file's job.

use anyhow::Result;

use super::RenderOptions;
use super::helm::{Capabilities, ClusterAccess, HelmOptions};
use crate::cluster::{Cluster, ServedApis};

/// How a snapshot renders for `cluster`: charts into its default namespace, seeing its
/// capabilities.
pub async fn options_for(cluster: &Cluster) -> Result<RenderOptions> {
    Ok(RenderOptions {
        helm: HelmOptions {
            namespace: Some(cluster.default_namespace.clone()),
            capabilities: capabilities_of(cluster).await?,
            lookup: Some(lookup_by(cluster)),
            ..HelmOptions::default()
        },
        ..RenderOptions::default()
    })
}

/// `.Capabilities` for charts rendered against `cluster`: its last reading of what it serves
/// while that is fresh, else a new one.
pub async fn capabilities_of(cluster: &Cluster) -> Result<Capabilities> {
    Ok(cluster.current_served_apis().await?.into())
}

/// Who Helm's `lookup` asks while a chart renders for `cluster`: that connection's server and
/// identity (impersonation included), nothing more.
pub fn lookup_by(cluster: &Cluster) -> ClusterAccess {
    ClusterAccess::new(cluster.connection_config())
}

impl From<ServedApis> for Capabilities {
    fn from(served: ServedApis) -> Self {
        Capabilities::Cluster {
            kube_version: served.kube_version,
            api_versions: served.api_versions,
        }
    }
}
