//! Resolves `apiVersion` + `kind` to a resource and its scope, one group-version at a time.
//!
//! Only the group-versions a render uses are asked for (not every group the server has), and
//! each answer is cached on disk for a while, like kubectl's discovery cache. A kind missing
//! from a cached answer triggers one fresh look-up, so a CRD installed a minute ago is found.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::core::ApiResource;

use super::RequestBudget;

/// How long a cached group-version answer is trusted.
const CACHE_TTL: Duration = Duration::from_secs(6 * 60 * 60);

/// A kind the server serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub resource: ApiResource,
    pub namespaced: bool,
}

type Served = Option<Arc<APIResourceList>>;

pub struct Discovery {
    client: kube::Client,
    budget: Arc<RequestBudget>,
    cache_dir: Option<PathBuf>,
    /// Per group-version: the answer once known. A OnceCell per key keeps concurrent look-ups
    /// of one group-version to a single request.
    memo: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Served>>>>,
}

impl Discovery {
    pub fn new(
        client: kube::Client,
        budget: Arc<RequestBudget>,
        cache_root: Option<PathBuf>,
        server: &str,
    ) -> Self {
        Discovery {
            client,
            budget,
            cache_dir: cache_root.map(|root| root.join(sanitize(server))),
            memo: Mutex::new(HashMap::new()),
        }
    }

    /// The resource serving `kind` in `api_version`, or None when the server has no such kind.
    pub async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<Resolved>, kube::Error> {
        let cell = {
            let mut memo = self.memo.lock().expect("discovery memo poisoned");
            memo.entry(api_version.to_string()).or_default().clone()
        };
        let served = cell
            .get_or_try_init(|| self.load(api_version, true))
            .await?
            .clone();
        if let Some(found) = served
            .as_deref()
            .and_then(|list| find(list, api_version, kind))
        {
            return Ok(Some(found));
        }
        // The cached answer may predate a CRD: ask the server once more before giving up.
        if self.cache_dir.is_some() {
            let fresh = self.load(api_version, false).await?;
            let found = fresh
                .as_deref()
                .and_then(|list| find(list, api_version, kind));
            let mut memo = self.memo.lock().expect("discovery memo poisoned");
            memo.insert(
                api_version.to_string(),
                Arc::new(tokio::sync::OnceCell::new_with(Some(fresh))),
            );
            return Ok(found);
        }
        Ok(None)
    }

    /// The resource serving `kind` in `group` at the group's preferred version (what the
    /// ApplySet annotations name, without versions).
    pub async fn resolve_group_kind(
        &self,
        group: &str,
        kind: &str,
    ) -> Result<Option<Resolved>, kube::Error> {
        if group.is_empty() {
            return self.resolve("v1", kind).await;
        }
        let request = http::Request::get(format!("/apis/{group}"))
            .body(Vec::new())
            .map_err(kube::Error::HttpError)?;
        let answer = {
            let _permit = self.budget.acquire().await;
            self.client.request::<serde_json::Value>(request).await
        };
        let preferred = match answer {
            Ok(api_group) => api_group["preferredVersion"]["groupVersion"]
                .as_str()
                .map(str::to_string),
            Err(kube::Error::Api(status)) if status.code == 404 => None,
            Err(err) => return Err(err),
        };
        match preferred {
            Some(api_version) => self.resolve(&api_version, kind).await,
            None => Ok(None),
        }
    }

    /// Forgets what is known about `api_version` (after a CRD for it was created).
    pub fn invalidate(&self, api_version: &str) {
        self.memo
            .lock()
            .expect("discovery memo poisoned")
            .remove(api_version);
        if let Some(path) = self.cache_file(api_version) {
            let _ = std::fs::remove_file(path);
        }
    }

    async fn load(&self, api_version: &str, use_cache: bool) -> Result<Served, kube::Error> {
        if use_cache && let Some(list) = self.read_cache(api_version) {
            return Ok(Some(Arc::new(list)));
        }
        let _permit = self.budget.acquire().await;
        let answer = if api_version.contains('/') {
            self.client.list_api_group_resources(api_version).await
        } else {
            self.client.list_core_api_resources(api_version).await
        };
        match answer {
            Ok(list) => {
                self.write_cache(api_version, &list);
                Ok(Some(Arc::new(list)))
            }
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn cache_file(&self, api_version: &str) -> Option<PathBuf> {
        Some(
            self.cache_dir
                .as_ref()?
                .join(format!("{}.json", sanitize(api_version))),
        )
    }

    fn read_cache(&self, api_version: &str) -> Option<APIResourceList> {
        let path = self.cache_file(api_version)?;
        let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
        let age = SystemTime::now()
            .duration_since(modified)
            .unwrap_or_default();
        if age > CACHE_TTL {
            return None;
        }
        serde_json::from_slice(&std::fs::read(&path).ok()?).ok()
    }

    /// Best effort: a cache that cannot be written only costs a request next time.
    fn write_cache(&self, api_version: &str, list: &APIResourceList) {
        let Some(path) = self.cache_file(api_version) else {
            return;
        };
        let Ok(bytes) = serde_json::to_vec(list) else {
            return;
        };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, bytes).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
}

fn find(list: &APIResourceList, api_version: &str, kind: &str) -> Option<Resolved> {
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    list.resources
        .iter()
        .filter(|r| !r.name.contains('/'))
        .find(|r| r.kind == kind)
        .map(|r| Resolved {
            resource: ApiResource {
                group: group.to_string(),
                version: version.to_string(),
                api_version: api_version.to_string(),
                kind: kind.to_string(),
                plural: r.name.clone(),
            },
            namespaced: r.namespaced,
        })
}

/// A file-name-safe form of a URL or group-version.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
