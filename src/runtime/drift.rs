//! Drift: watches on the managed objects (by the ApplySet part-of label, one watch per managed
//! resource and namespace), so a change made outside git is put back within seconds instead
//! of at the next interval.
//!
//! A watch event asks for a re-plan only when something other than us changed the object:
//! status-only updates (same content) and our own server-side applies are ignored; deletions
//! always count. An apply of ours is recognised by our managedFields entry: it is the latest
//! change to the object (writes through `/scale` or any other subresource but `/status`
//! count as changes too) and its time moved since the object was last seen. A change that
//! only removed fields leaves no entry of its own and does not move ours, so it is drift.
//! Every object's state is taken from the watch's initial LIST, so the first edit after the
//! watch starts is judged like any other. The loop debounces the signals.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use kube::api::{ListParams, WatchEvent, WatchParams};
use kube::core::{ApiResource, DynamicObject, Request, Resource};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::backoff::Backoff;
use crate::meta::{FIELD_MANAGER, LABEL_PART_OF};

/// One watch: a resource, in one namespace or cluster-wide.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WatchKey {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespace: Option<String>,
}

impl WatchKey {
    pub fn new(resource: &ApiResource, namespace: Option<String>) -> Self {
        WatchKey {
            group: resource.group.clone(),
            version: resource.version.clone(),
            kind: resource.kind.clone(),
            plural: resource.plural.clone(),
            namespace,
        }
    }

    fn resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.clone(),
            version: self.version.clone(),
            api_version: if self.group.is_empty() {
                self.version.clone()
            } else {
                format!("{}/{}", self.group, self.version)
            },
            kind: self.kind.clone(),
            plural: self.plural.clone(),
        }
    }
}

impl std::fmt::Display for WatchKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} in {ns}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

pub use crate::object::ObjectKey;

/// A managed object changed outside git.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// The object; None when a watch had to start over and anything may have changed.
    pub object: Option<ObjectKey>,
    /// `modified`, `deleted`, `added` or `resync`.
    pub what: &'static str,
    /// The ApplySet the object is a member of (its part-of label); None for a resync.
    pub part_of: Option<String>,
}

/// The running watches; `sync` starts and stops them to match the managed resources.
pub struct Watches {
    client: kube::Client,
    selector: String,
    tx: mpsc::Sender<Drift>,
    running: BTreeMap<WatchKey, JoinHandle<()>>,
}

impl Watches {
    pub fn new(client: kube::Client, applyset_id: &str, tx: mpsc::Sender<Drift>) -> Self {
        Watches {
            client,
            selector: format!("{LABEL_PART_OF}={applyset_id}"),
            tx,
            running: BTreeMap::new(),
        }
    }

    /// Watches of the members of every ApplySet, shared by all the sets whose members the
    /// client may read; each [`Drift`] names the set of its object.
    pub fn of_every_set(client: kube::Client, tx: mpsc::Sender<Drift>) -> Self {
        Watches {
            client,
            selector: LABEL_PART_OF.to_string(),
            tx,
            running: BTreeMap::new(),
        }
    }

    /// Watches exactly `wanted`.
    pub fn sync(&mut self, wanted: &BTreeSet<WatchKey>) {
        self.running.retain(|key, task| {
            let keep = wanted.contains(key) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for key in wanted {
            if self.running.contains_key(key) {
                continue;
            }
            tracing::debug!(watch = %key, "watching managed objects");
            let task = tokio::spawn(watch_loop(
                self.client.clone(),
                key.clone(),
                self.selector.clone(),
                self.tx.clone(),
            ));
            self.running.insert(key.clone(), task);
        }
    }

    pub fn stop_all(&mut self) {
        self.sync(&BTreeSet::new());
    }

    pub fn len(&self) -> usize {
        self.running.len()
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }
}

impl Drop for Watches {
    fn drop(&mut self) {
        for task in self.running.values() {
            task.abort();
        }
    }
}

/// List (for a resourceVersion), then watch from there. A watch the server ends, or one cut by
/// a timeout or a network error, resumes from the last version seen (the server replays what
/// happened since); only an expired version (410 Gone) means events may have been missed: then
/// relist and signal a resync.
async fn watch_loop(
    client: kube::Client,
    key: WatchKey,
    selector: String,
    tx: mpsc::Sender<Drift>,
) {
    let resource = key.resource();
    let path = DynamicObject::url_path(&resource, key.namespace.as_deref());
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut first = true;
    loop {
        let mut version = match list_seen(&client, &path, &selector, &mut seen).await {
            Ok(version) => version,
            Err(err) => {
                let delay = backoff.fail();
                tracing::warn!(watch = %key, error = %err, "listing managed objects for the drift watch; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                continue;
            }
        };
        if !first
            && tx
                .send(Drift {
                    object: None,
                    what: "resync",
                    part_of: None,
                })
                .await
                .is_err()
        {
            return;
        }
        first = false;
        loop {
            match watch_once(
                &client,
                &path,
                &selector,
                &mut version,
                &mut seen,
                &tx,
                &key,
            )
            .await
            {
                Ok(WatchEnd::Closed) => backoff.reset(),
                Ok(WatchEnd::Stopped) => return,
                Ok(WatchEnd::Expired) => {
                    // Events may have been missed: list again at once, no backoff.
                    tracing::info!(watch = %key, "drift watch expired (410): re-listing now");
                    backoff.reset();
                    break;
                }
                Err(err) => {
                    let delay = backoff.fail();
                    tracing::debug!(watch = %key, error = %err, "drift watch resumes in {delay:?}");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

/// Lists the watched objects (in pages), records what each looks like now in `seen`, and
/// returns the list's resourceVersion to watch from.
async fn list_seen(
    client: &kube::Client,
    path: &str,
    selector: &str,
    seen: &mut HashMap<String, Seen>,
) -> kube::Result<String> {
    seen.clear();
    let mut params = ListParams::default().labels(selector).limit(LIST_PAGE);
    loop {
        let request = Request::new(path)
            .list(&params)
            .map_err(kube::Error::BuildRequest)?;
        let list: kube::core::ObjectList<DynamicObject> = client.request(request).await?;
        for object in &list.items {
            seen.insert(
                object.metadata.uid.clone().unwrap_or_default(),
                Seen::of(object),
            );
        }
        match list.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(list.metadata.resource_version.unwrap_or_else(|| "0".into())),
        }
    }
}

/// Objects per page of the initial LIST.
const LIST_PAGE: u32 = 500;

/// What an object looked like when last seen: its content, and when our last apply was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    content: u64,
    our_apply: Option<Timestamp>,
}

type Timestamp = k8s_openapi::jiff::Timestamp;

impl Seen {
    fn of(object: &DynamicObject) -> Self {
        let managed = object
            .metadata
            .managed_fields
            .as_deref()
            .unwrap_or_default();
        Seen {
            content: content_fingerprint(object),
            our_apply: our_apply_time(managed, FIELD_MANAGER),
        }
    }
}

/// When `manager` last changed the object with a server-side apply.
fn our_apply_time(entries: &[ManagedFieldsEntry], manager: &str) -> Option<Timestamp> {
    entries
        .iter()
        .filter(|e| {
            e.manager.as_deref() == Some(manager)
                && e.operation.as_deref() == Some("Apply")
                && !is_status(e)
        })
        .filter_map(|e| e.time.as_ref().map(|t| t.0))
        .max()
}

/// A write through the status subresource: never a change to what git sets.
fn is_status(entry: &ManagedFieldsEntry) -> bool {
    entry.subresource.as_deref() == Some("status")
}

/// How one watch request ended.
enum WatchEnd {
    /// The server closed it (its timeout): resume from the last version.
    Closed,
    /// The version is too old (410): relist.
    Expired,
    /// Nobody listens for drift any more.
    Stopped,
}

/// Server-side timeout of one watch request: below the client's default read timeout (60s),
/// so a quiet watch ends cleanly rather than by a timeout error.
const WATCH_SECONDS: u32 = 50;

/// One watch request from `version`, which follows every event and bookmark.
async fn watch_once(
    client: &kube::Client,
    path: &str,
    selector: &str,
    version: &mut String,
    seen: &mut HashMap<String, Seen>,
    tx: &mpsc::Sender<Drift>,
    watch: &WatchKey,
) -> anyhow::Result<WatchEnd> {
    let params = WatchParams::default()
        .labels(selector)
        .timeout(WATCH_SECONDS);
    let request = Request::new(path).watch(&params, version)?;
    let mut events = match client.request_events::<DynamicObject>(request).await {
        Ok(events) => events.boxed(),
        Err(kube::Error::Api(status)) if status.code == 410 => return Ok(WatchEnd::Expired),
        Err(err) => return Err(err.into()),
    };
    while let Some(event) = events.try_next().await? {
        let (object, what) = match event {
            WatchEvent::Added(o) => (o, "added"),
            WatchEvent::Modified(o) => (o, "modified"),
            WatchEvent::Deleted(o) => (o, "deleted"),
            WatchEvent::Bookmark(b) => {
                *version = b.metadata.resource_version;
                continue;
            }
            WatchEvent::Error(e) if e.code == 410 => return Ok(WatchEnd::Expired),
            WatchEvent::Error(e) => anyhow::bail!("watch error {}: {}", e.code, e.message),
        };
        if let Some(v) = &object.metadata.resource_version {
            *version = v.clone();
        }
        if let Some(drift) = judge(watch, &object, what, seen)
            && tx.send(drift).await.is_err()
        {
            return Ok(WatchEnd::Stopped);
        }
    }
    Ok(WatchEnd::Closed)
}

/// Whether a watch event is drift; remembers each object's state to ignore status churn and
/// to tell our applies from edits that leave no managedFields entry (removals).
fn judge(
    watch: &WatchKey,
    object: &DynamicObject,
    what: &'static str,
    seen: &mut HashMap<String, Seen>,
) -> Option<Drift> {
    let uid = object.metadata.uid.clone().unwrap_or_default();
    let part_of = object
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_PART_OF))
        .cloned();
    let name = Some(ObjectKey {
        group: watch.group.clone(),
        kind: watch.kind.clone(),
        namespace: object.metadata.namespace.clone(),
        name: object.metadata.name.clone().unwrap_or_default(),
    });
    if what == "deleted" {
        seen.remove(&uid);
        return Some(Drift {
            object: name,
            what,
            part_of,
        });
    }
    let now = Seen::of(object);
    let previous = seen.insert(uid, now);
    if previous.is_some_and(|p| p.content == now.content) {
        return None;
    }
    let managed = object
        .metadata
        .managed_fields
        .as_deref()
        .unwrap_or_default();
    // Our apply moves our entry's time; an edit that only removed fields does not.
    let our_apply_moved = match previous {
        Some(p) => now.our_apply.is_some() && now.our_apply > p.our_apply,
        None => true,
    };
    if our_apply_moved && last_change_is_ours(managed, FIELD_MANAGER) {
        return None;
    }
    Some(Drift {
        object: name,
        what,
        part_of,
    })
}

/// A hash of what an edit can change: metadata that is not bookkeeping, and everything but
/// `status`.
fn content_fingerprint(object: &DynamicObject) -> u64 {
    let meta = &object.metadata;
    let mut hasher = DefaultHasher::new();
    let labels = meta.labels.as_ref().map(|l| l.iter().collect::<Vec<_>>());
    let annotations = meta
        .annotations
        .as_ref()
        .map(|a| a.iter().collect::<Vec<_>>());
    labels.hash(&mut hasher);
    annotations.hash(&mut hasher);
    meta.finalizers.hash(&mut hasher);
    meta.deletion_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .hash(&mut hasher);
    let data = without_ignored(object);
    if let Value::Object(map) = data.as_ref() {
        for (key, value) in map.iter().filter(|(k, _)| k.as_str() != "status") {
            key.hash(&mut hasher);
            value.to_string().hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// The object's content without the fields its `kubectl-gitops.io/ignore-fields` annotation
/// names (as applied from git), so a `kubectl scale` of an ignored replica count is not drift.
/// Only paths through maps are taken out: a list position in git need not be the live one, and
/// a field left in only costs a re-plan that finds nothing to do.
fn without_ignored(object: &DynamicObject) -> std::borrow::Cow<'_, Value> {
    let Some(list) = object
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(crate::render::ANNOTATION_IGNORE_FIELDS))
    else {
        return std::borrow::Cow::Borrowed(&object.data);
    };
    let mut data = object.data.clone();
    for pointer in list
        .split(',')
        .filter_map(|p| crate::render::Pointer::parse(p.trim()).ok())
    {
        let Some((last, parents)) = pointer.tokens().split_last() else {
            continue;
        };
        let parent = parents.iter().try_fold(&mut data, |node, token| {
            node.as_object_mut()?.get_mut(token)
        });
        if let Some(Value::Object(map)) = parent {
            map.shift_remove(last);
        }
    }
    std::borrow::Cow::Owned(data)
}

/// True when `manager`'s server-side apply is strictly the latest change to the object (status
/// subresource updates do not count; `/scale` and other subresources do). A tie means someone
/// else changed it in the same second: not ours.
pub fn last_change_is_ours(entries: &[ManagedFieldsEntry], manager: &str) -> bool {
    let main: Vec<&ManagedFieldsEntry> = entries.iter().filter(|e| !is_status(e)).collect();
    let time = |e: &ManagedFieldsEntry| e.time.as_ref().map(|t| t.0);
    let Some(latest) = main.iter().filter_map(|e| time(e)).max() else {
        return false;
    };
    let at_latest: Vec<&&ManagedFieldsEntry> =
        main.iter().filter(|e| time(e) == Some(latest)).collect();
    at_latest.len() == 1
        && at_latest[0].manager.as_deref() == Some(manager)
        && at_latest[0].operation.as_deref() == Some("Apply")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(
        manager: &str,
        operation: &str,
        time: &str,
        subresource: Option<&str>,
    ) -> ManagedFieldsEntry {
        serde_json::from_value(json!({
            "manager": manager, "operation": operation, "time": time,
            "subresource": subresource, "apiVersion": "v1", "fieldsType": "FieldsV1",
        }))
        .unwrap()
    }

    #[test]
    fn our_apply_as_the_latest_change_is_not_drift() {
        let entries = [
            entry("kubectl-edit", "Update", "2026-01-01T00:00:01Z", None),
            entry(FIELD_MANAGER, "Apply", "2026-01-01T00:00:05Z", None),
            entry(
                "controller",
                "Update",
                "2026-01-01T00:00:09Z",
                Some("status"),
            ),
        ];
        assert!(last_change_is_ours(&entries, FIELD_MANAGER));
    }

    #[test]
    fn an_edit_after_our_apply_is_drift_even_within_the_same_second() {
        let later = [
            entry(FIELD_MANAGER, "Apply", "2026-01-01T00:00:05Z", None),
            entry("kubectl-edit", "Update", "2026-01-01T00:00:06Z", None),
        ];
        assert!(!last_change_is_ours(&later, FIELD_MANAGER));
        let tie = [
            entry(FIELD_MANAGER, "Apply", "2026-01-01T00:00:05Z", None),
            entry("kubectl-edit", "Update", "2026-01-01T00:00:05Z", None),
        ];
        assert!(!last_change_is_ours(&tie, FIELD_MANAGER));
        assert!(!last_change_is_ours(&[], FIELD_MANAGER));
    }

    fn object(data: Value, labels: Value, uid: &str) -> DynamicObject {
        with_entries(
            data,
            labels,
            uid,
            json!([{"manager": "kubectl-edit", "operation": "Update",
                "time": "2026-01-01T00:00:06Z", "apiVersion": "v1", "fieldsType": "FieldsV1"}]),
        )
    }

    fn with_entries(data: Value, labels: Value, uid: &str, entries: Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "ns", "uid": uid, "labels": labels,
                "managedFields": entries},
            "data": data,
        }))
        .unwrap()
    }

    fn ours_at(time: &str) -> Value {
        json!({"manager": FIELD_MANAGER, "operation": "Apply", "time": time,
            "apiVersion": "v1", "fieldsType": "FieldsV1"})
    }

    fn cm_watch() -> WatchKey {
        WatchKey {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            plural: "configmaps".into(),
            namespace: Some("ns".into()),
        }
    }

    #[test]
    fn our_apply_is_not_drift_and_an_edit_that_leaves_no_entry_is() {
        let mut seen = HashMap::new();
        let applied = with_entries(
            json!({"v": "1", "w": "1"}),
            json!({}),
            "u1",
            json!([ours_at("2026-01-01T00:00:05Z")]),
        );
        seen.insert("u1".to_string(), Seen::of(&applied));
        // `kubectl edit` deleting a key we own: no entry of the editor, ours does not move.
        let removed = with_entries(
            json!({"v": "1"}),
            json!({}),
            "u1",
            json!([ours_at("2026-01-01T00:00:05Z")]),
        );
        assert!(judge(&cm_watch(), &removed, "modified", &mut seen).is_some());
        // Our apply putting it back moves our entry's time.
        let reapplied = with_entries(
            json!({"v": "1", "w": "1"}),
            json!({}),
            "u1",
            json!([ours_at("2026-01-01T00:00:09Z")]),
        );
        assert_eq!(judge(&cm_watch(), &reapplied, "modified", &mut seen), None);
    }

    #[test]
    fn a_write_through_scale_is_drift_and_a_status_update_is_not() {
        let entries = [
            entry(FIELD_MANAGER, "Apply", "2026-01-01T00:00:05Z", None),
            entry("kubectl", "Update", "2026-01-01T00:00:07Z", Some("scale")),
        ];
        assert!(!last_change_is_ours(&entries, FIELD_MANAGER));
        let entries = [
            entry(FIELD_MANAGER, "Apply", "2026-01-01T00:00:05Z", None),
            entry(
                "controller",
                "Update",
                "2026-01-01T00:00:07Z",
                Some("status"),
            ),
        ];
        assert!(last_change_is_ours(&entries, FIELD_MANAGER));
    }

    #[test]
    fn a_change_to_an_ignored_field_is_not_drift_and_one_beside_it_is() {
        let annotated = |data: Value| {
            let mut object = object(data, json!({}), "u1");
            object.metadata.annotations = Some(
                [(
                    crate::render::ANNOTATION_IGNORE_FIELDS.to_string(),
                    "/data/v, /spec/not~1there".to_string(),
                )]
                .into(),
            );
            object
        };
        let mut seen = HashMap::new();
        seen.insert(
            "u1".to_string(),
            Seen::of(&annotated(json!({"v": "1", "w": "1"}))),
        );
        let scaled = annotated(json!({"v": "5", "w": "1"}));
        assert_eq!(judge(&cm_watch(), &scaled, "modified", &mut seen), None);
        let edited = annotated(json!({"v": "5", "w": "2"}));
        assert!(judge(&cm_watch(), &edited, "modified", &mut seen).is_some());
    }

    #[test]
    fn status_churn_is_ignored_and_content_changes_are_not() {
        let mut seen = HashMap::new();
        let a = object(json!({"v": "1"}), json!({"x": "1"}), "u1");
        let drift =
            judge(&cm_watch(), &a, "modified", &mut seen).expect("a foreign change is drift");
        assert_eq!(drift.object.unwrap().to_string(), "ConfigMap/ns/a");
        assert_eq!(
            judge(&cm_watch(), &a, "modified", &mut seen),
            None,
            "same content again"
        );
        let b = object(json!({"v": "2"}), json!({"x": "1"}), "u1");
        assert!(judge(&cm_watch(), &b, "modified", &mut seen).is_some());
        assert_eq!(
            judge(&cm_watch(), &b, "deleted", &mut seen).unwrap().what,
            "deleted"
        );
    }
}
