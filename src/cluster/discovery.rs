//! Resolves `apiVersion` + `kind` to a resource and its scope, one group-version at a time.
//!
//! Only the group-versions a render uses are asked for (not every group the server has), and
//! each answer is cached on disk for a while, like kubectl's discovery cache. A kind missing
//! from an answer triggers a fresh look-up (at most one per group-version every
//! [`MISS_RECHECK`]), so a CRD installed a minute ago is found; and an answer held in memory
//! is asked again after [`MEMO_TTL`], so a long-running reconciler sees APIs added and removed
//! after it started.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::core::ApiResource;

use super::send::Sender;

/// How long a cached group-version answer is trusted.
const CACHE_TTL: Duration = Duration::from_secs(6 * 60 * 60);

/// How long an answer held in memory is used before the server is asked again.
pub const MEMO_TTL: Duration = Duration::from_secs(5 * 60);
/// A kind missing from an answer fetched this recently is not asked about again.
pub const MISS_RECHECK: Duration = Duration::from_secs(10);

/// When an answer held in memory was made, and whether it came from the server (rather than
/// the disk cache).
#[derive(Debug, Clone, Copy)]
struct Freshness {
    since: Instant,
    from_server: bool,
}

impl Freshness {
    /// Too old to use: ask the server (not the disk cache, which may be older still).
    fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.since) >= MEMO_TTL
    }

    /// A kind it lacks is worth asking the server about: the answer is from the disk cache,
    /// or from the server long enough ago.
    fn may_recheck_miss(&self, now: Instant) -> bool {
        !self.from_server || now.saturating_duration_since(self.since) >= MISS_RECHECK
    }
}

struct Memo {
    cell: Arc<tokio::sync::OnceCell<(Served, Freshness)>>,
}

/// A kind the server serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub resource: ApiResource,
    pub namespaced: bool,
}

type Served = Option<Arc<APIResourceList>>;

pub struct Discovery {
    sender: Arc<Sender>,
    cache_dir: Option<PathBuf>,
    /// Per group-version: the answer once known. A OnceCell per key keeps concurrent look-ups
    /// of one group-version to a single request.
    memo: Mutex<HashMap<String, Memo>>,
}

impl Discovery {
    pub fn new(sender: Arc<Sender>, cache_root: Option<PathBuf>, server: &str) -> Self {
        Discovery {
            sender,
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
        let now = Instant::now();
        let (cell, use_disk) = {
            let mut memo = self.memo.lock().expect("discovery memo poisoned");
            let expired = memo
                .get(api_version)
                .is_some_and(|m| m.cell.get().is_some_and(|(_, fresh)| fresh.expired(now)));
            if expired {
                memo.remove(api_version);
            }
            let entry = memo.entry(api_version.to_string()).or_insert_with(|| Memo {
                cell: Arc::default(),
            });
            (entry.cell.clone(), !expired)
        };
        let (served, freshness) = cell
            .get_or_try_init(|| self.load(api_version, use_disk))
            .await?
            .clone();
        if let Some(found) = served
            .as_deref()
            .and_then(|list| find(list, api_version, kind))
        {
            return Ok(Some(found));
        }
        // The answer may predate a CRD: ask the server again before giving up.
        if !freshness.may_recheck_miss(Instant::now()) {
            return Ok(None);
        }
        let (fresh, freshness) = self.load(api_version, false).await?;
        let found = fresh
            .as_deref()
            .and_then(|list| find(list, api_version, kind));
        let mut memo = self.memo.lock().expect("discovery memo poisoned");
        memo.insert(
            api_version.to_string(),
            Memo {
                cell: Arc::new(tokio::sync::OnceCell::new_with(Some((fresh, freshness)))),
            },
        );
        Ok(found)
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
        let answer = self
            .get::<serde_json::Value>(format!("/apis/{group}"))
            .await;
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

    async fn load(
        &self,
        api_version: &str,
        use_cache: bool,
    ) -> Result<(Served, Freshness), kube::Error> {
        if use_cache && let Some(list) = self.read_cache(api_version) {
            let disk = Freshness {
                since: Instant::now(),
                from_server: false,
            };
            return Ok((Some(Arc::new(list)), disk));
        }
        let server = Freshness {
            since: Instant::now(),
            from_server: true,
        };
        let path = if api_version.contains('/') {
            format!("/apis/{api_version}")
        } else {
            format!("/api/{api_version}")
        };
        let answer = self.get::<APIResourceList>(path).await;
        match answer {
            Ok(list) => {
                self.write_cache(api_version, &list);
                Ok((Some(Arc::new(list)), server))
            }
            Err(kube::Error::Api(status)) if status.code == 404 => Ok((None, server)),
            Err(err) => Err(err),
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: String) -> Result<T, kube::Error> {
        let request = http::Request::get(path)
            .body(Vec::new())
            .map_err(kube::Error::HttpError)?;
        let answer = self.sender.send(request).await?;
        serde_json::from_slice(&answer.body).map_err(kube::Error::SerdeError)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_in_memory_are_asked_again_on_a_schedule() {
        let start = Instant::now();
        let answer = Freshness {
            since: start,
            from_server: true,
        };
        assert!(!answer.expired(start + MEMO_TTL / 2));
        assert!(answer.expired(start + MEMO_TTL));
    }

    #[test]
    fn a_miss_is_rechecked_unless_the_server_was_just_asked() {
        let start = Instant::now();
        let just_asked = Freshness {
            since: start,
            from_server: true,
        };
        assert!(!just_asked.may_recheck_miss(start + Duration::from_secs(1)));
        assert!(just_asked.may_recheck_miss(start + MISS_RECHECK));
        // An answer from the disk cache may be hours old: a miss always asks.
        let from_disk = Freshness {
            since: start,
            from_server: false,
        };
        assert!(from_disk.may_recheck_miss(start));
    }
}
