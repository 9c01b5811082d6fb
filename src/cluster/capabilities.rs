//! What the cluster serves: its Kubernetes version and every API version (`group/version` and
//! `group/version/Kind`), read from discovery. A Helm chart sees it as `.Capabilities` (the
//! render layer turns it into that: `render::target`).
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
/// The cluster's version and the API versions it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedApis {
    /// `v1.32.3`, as the server's /version reports it.
    pub kube_version: String,
    /// Every served `group/version` and `group/version/Kind` (`v1`, `v1/ConfigMap` for the
    /// core group), sorted.
    pub api_versions: Vec<String>,
}

impl Cluster {
    /// What the cluster serves: the last reading while it is younger than [`MEMO_TTL`], else a
    /// new one.
    pub async fn current_served_apis(&self) -> Result<ServedApis> {
        if let Some(known) = self.served_apis.get(Instant::now()) {
            return Ok(known);
        }
        let read = self.served_apis().await?;
        self.served_apis.set(Instant::now(), read.clone());
        Ok(read)
    }

    /// Drops the last reading: the next `current_served_apis` asks the server.
    pub fn forget_served_apis(&self) {
        self.served_apis.clear();
    }

    /// What the cluster serves, read from the server now.
    pub async fn served_apis(&self) -> Result<ServedApis> {
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
        Ok(ServedApis {
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

/// One reading of what the cluster serves and when it was made.
#[derive(Debug, Default)]
pub(super) struct Memo {
    last: Mutex<Option<(Instant, ServedApis)>>,
}

impl Memo {
    /// The reading, unless it is [`MEMO_TTL`] old at `now`.
    fn get(&self, now: Instant) -> Option<ServedApis> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.as_ref()
            .filter(|(at, _)| now.saturating_duration_since(*at) < MEMO_TTL)
            .map(|(_, served)| served.clone())
    }

    fn set(&self, now: Instant, served: ServedApis) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((now, served));
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
        let served = ServedApis {
            kube_version: "v1.36.0".into(),
            api_versions: vec!["v1".into()],
        };
        assert_eq!(memo.get(start), None);
        memo.set(start, served.clone());
        assert_eq!(memo.get(start + MEMO_TTL / 2), Some(served));
        assert_eq!(memo.get(start + MEMO_TTL), None, "expired: read again");
        memo.clear();
        assert_eq!(memo.get(start), None);
    }
}
