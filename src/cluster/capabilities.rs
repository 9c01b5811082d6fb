//! The target cluster as a Helm chart sees it while rendering: its Kubernetes version and every
//! API version it serves (`group/version` and `group/version/Kind`), read from discovery.
//!
//! A reading is kept for as long as a discovery answer is ([`MEMO_TTL`]): a long-running
//! reconciler renders with what the cluster serves now, within that delay, and a command that
//! renders several times reads once.

use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result};
use futures::future::join_all;
use serde_json::Value;

use super::Cluster;
use super::discovery::MEMO_TTL;

/// How long one group-version's resource list may take while reading capabilities.
const GROUP_VERSION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
use crate::render::RenderOptions;
use crate::render::helm::{Capabilities, HelmOptions};

impl Cluster {
    /// How a snapshot renders for this cluster: charts into its default namespace, seeing its
    /// capabilities.
    pub async fn render_options(&self) -> Result<RenderOptions> {
        Ok(RenderOptions {
            helm: HelmOptions {
                namespace: Some(self.default_namespace.clone()),
                capabilities: self.current_helm_capabilities().await?,
                lookup: Some(self.helm_lookup()),
                ..HelmOptions::default()
            },
            ..RenderOptions::default()
        })
    }

    /// `.Capabilities` for charts rendered against this cluster: the last reading while it is
    /// younger than [`MEMO_TTL`], else a new one.
    pub async fn current_helm_capabilities(&self) -> Result<Capabilities> {
        if let Some(known) = self.helm_capabilities.get(Instant::now()) {
            return Ok(known);
        }
        let read = self.helm_capabilities().await?;
        self.helm_capabilities.set(Instant::now(), read.clone());
        Ok(read)
    }

    /// Drops the last reading: the next `current_helm_capabilities` asks the server.
    pub fn forget_helm_capabilities(&self) {
        self.helm_capabilities.clear();
    }

    /// `.Capabilities` for charts rendered against this cluster, read from the server now.
    pub async fn helm_capabilities(&self) -> Result<Capabilities> {
        let version: Value = self
            .get("/version")
            .await
            .context("reading the cluster's version for Helm's .Capabilities")?;
        let kube_version = version
            .get("gitVersion")
            .and_then(Value::as_str)
            .context("the cluster's /version names no gitVersion")?
            .to_string();

        let core: Value = self.get("/api").await.context("discovering /api")?;
        let groups: Value = self.get("/apis").await.context("discovering /apis")?;
        let mut group_versions: Vec<String> = strings(core.get("versions"));
        for group in groups
            .get("groups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for version in group
                .get("versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(gv) = version.get("groupVersion").and_then(Value::as_str) {
                    group_versions.push(gv.to_string());
                }
            }
        }
        let lists = join_all(group_versions.iter().map(|gv| async move {
            let path = if gv.contains('/') {
                format!("/apis/{gv}")
            } else {
                format!("/api/{gv}")
            };
            // An aggregated API whose service is down answers 503 (failed at once, not
            // retried) or hangs: a group that does not answer in time counts as served, like
            // one that failed.
            let list = tokio::time::timeout(GROUP_VERSION_TIMEOUT, self.get(&path))
                .await
                .map_err(|_| ())
                .and_then(|answer| answer.map_err(|_| ()));
            (gv, list)
        }))
        .await;

        let mut api_versions = Vec::new();
        for (gv, list) in lists {
            api_versions.push(gv.clone());
            // A group-version whose resources cannot be listed (an aggregated API that is down)
            // still counts as served, as `kubectl api-versions` counts it.
            let Ok(list) = list else { continue };
            for resource in list
                .get("resources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = resource.get("name").and_then(Value::as_str).unwrap_or("");
                let kind = resource.get("kind").and_then(Value::as_str).unwrap_or("");
                if !name.contains('/') && !kind.is_empty() {
                    api_versions.push(format!("{gv}/{kind}"));
                }
            }
        }
        api_versions.sort();
        api_versions.dedup();
        Ok(Capabilities::Cluster {
            kube_version,
            api_versions,
        })
    }

    async fn get(&self, path: &str) -> Result<Value, kube::Error> {
        let request = http::Request::get(path)
            .body(Vec::new())
            .map_err(kube::Error::HttpError)?;
        self.send(request).await
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// One reading of `.Capabilities` and when it was made.
#[derive(Debug, Default)]
pub(super) struct Memo {
    last: Mutex<Option<(Instant, Capabilities)>>,
}

impl Memo {
    /// The reading, unless it is [`MEMO_TTL`] old at `now`.
    fn get(&self, now: Instant) -> Option<Capabilities> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.as_ref()
            .filter(|(at, _)| now.saturating_duration_since(*at) < MEMO_TTL)
            .map(|(_, capabilities)| capabilities.clone())
    }

    fn set(&self, now: Instant, capabilities: Capabilities) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((now, capabilities));
    }

    fn clear(&self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_is_kept_until_discovery_answers_expire() {
        let memo = Memo::default();
        let start = Instant::now();
        assert_eq!(memo.get(start), None);
        memo.set(start, Capabilities::HelmDefaults);
        assert_eq!(
            memo.get(start + MEMO_TTL / 2),
            Some(Capabilities::HelmDefaults)
        );
        assert_eq!(memo.get(start + MEMO_TTL), None, "expired: read again");
        memo.clear();
        assert_eq!(memo.get(start), None);
    }
}
