//! The reconciler's status, kept in the cluster in a ConfigMap `<applyset>-status` beside the
//! ApplySet parent, where `kubectl gitops status` (or `kubectl get configmap`) reads it.
//!
//! Only identifiers, counts, times and error messages go in; error messages come from stages
//! that mask Secret values and credentials before anything sees them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

use crate::inventory::ApplySet;
use crate::meta::FIELD_MANAGER;

/// Label on every status ConfigMap, valued with the ApplySet's name.
pub const LABEL_STATUS_FOR: &str = "kubectl-gitops.io/status-for";
const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// The status ConfigMap's name for a set.
pub fn configmap_name(set: &ApplySet) -> String {
    format!("{}-status", set.name)
}

/// How the last cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleResult {
    Succeeded,
    Failed,
}

impl CycleResult {
    /// As the status ConfigMap spells it (`lastResult`).
    pub fn as_str(self) -> &'static str {
        match self {
            CycleResult::Succeeded => "Succeeded",
            CycleResult::Failed => "Failed",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "Succeeded" => Some(CycleResult::Succeeded),
            "Failed" => Some(CycleResult::Failed),
            _ => None,
        }
    }
}

/// What the reconciler reports. Strings are empty when unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// The repository URL without credentials.
    pub repository: String,
    pub reference: String,
    pub path: String,
    /// The identity of the replica that wrote this.
    pub leader: String,
    pub last_attempted_revision: String,
    /// RFC 3339.
    pub last_attempted_time: String,
    /// None before the first cycle ended.
    pub last_result: Option<CycleResult>,
    pub last_applied_revision: String,
    pub last_applied_time: String,
    /// Empty after a success.
    pub last_error: String,
    pub consecutive_failures: u64,
    pub objects_managed: u64,
    pub last_created: u64,
    pub last_updated: u64,
    pub last_pruned: u64,
    pub last_unchanged: u64,
    pub drift_corrections: u64,
    pub cycles: u64,
    /// `heal` or `report` (`--drift`).
    pub drift_mode: String,
    /// With `--drift report`: one line per object that differs from git and is left as it
    /// is, `Kind/namespace/name: /field, /field`.
    pub drifted: String,
    pub drifted_objects: u64,
}

const TEXT_FIELDS: &[&str] = &[
    "repository",
    "ref",
    "path",
    "leader",
    "lastAttemptedRevision",
    "lastAttemptedTime",
    "lastAppliedRevision",
    "lastAppliedTime",
    "lastError",
    "driftMode",
    "drifted",
];
const COUNT_FIELDS: &[&str] = &[
    "consecutiveFailures",
    "objectsManaged",
    "lastCreated",
    "lastUpdated",
    "lastPruned",
    "lastUnchanged",
    "driftCorrections",
    "cycles",
    "driftedObjects",
];

impl Status {
    fn texts(&self) -> [&String; 11] {
        [
            &self.repository,
            &self.reference,
            &self.path,
            &self.leader,
            &self.last_attempted_revision,
            &self.last_attempted_time,
            &self.last_applied_revision,
            &self.last_applied_time,
            &self.last_error,
            &self.drift_mode,
            &self.drifted,
        ]
    }

    fn texts_mut(&mut self) -> [&mut String; 11] {
        [
            &mut self.repository,
            &mut self.reference,
            &mut self.path,
            &mut self.leader,
            &mut self.last_attempted_revision,
            &mut self.last_attempted_time,
            &mut self.last_applied_revision,
            &mut self.last_applied_time,
            &mut self.last_error,
            &mut self.drift_mode,
            &mut self.drifted,
        ]
    }

    fn counts(&self) -> [u64; 9] {
        [
            self.consecutive_failures,
            self.objects_managed,
            self.last_created,
            self.last_updated,
            self.last_pruned,
            self.last_unchanged,
            self.drift_corrections,
            self.cycles,
            self.drifted_objects,
        ]
    }

    fn counts_mut(&mut self) -> [&mut u64; 9] {
        [
            &mut self.consecutive_failures,
            &mut self.objects_managed,
            &mut self.last_created,
            &mut self.last_updated,
            &mut self.last_pruned,
            &mut self.last_unchanged,
            &mut self.drift_corrections,
            &mut self.cycles,
            &mut self.drifted_objects,
        ]
    }

    /// The ConfigMap's `data`: one key per field, camelCase.
    pub fn to_data(&self) -> BTreeMap<String, String> {
        let mut data = BTreeMap::new();
        for (key, value) in TEXT_FIELDS.iter().zip(self.texts()) {
            data.insert(key.to_string(), value.clone());
        }
        for (key, value) in COUNT_FIELDS.iter().zip(self.counts()) {
            data.insert(key.to_string(), value.to_string());
        }
        let result = self
            .last_result
            .map(CycleResult::as_str)
            .unwrap_or_default();
        data.insert("lastResult".to_string(), result.to_string());
        data
    }

    /// Reads `data` back; unknown keys are ignored and missing ones stay empty.
    pub fn from_data(data: &BTreeMap<String, String>) -> Self {
        let mut status = Status::default();
        for (key, slot) in TEXT_FIELDS.iter().zip(status.texts_mut()) {
            if let Some(value) = data.get(*key) {
                *slot = value.clone();
            }
        }
        for (key, slot) in COUNT_FIELDS.iter().zip(status.counts_mut()) {
            *slot = data.get(*key).and_then(|v| v.parse().ok()).unwrap_or(0);
        }
        status.last_result = data.get("lastResult").and_then(|v| CycleResult::parse(v));
        status
    }
}

/// A commit id as people read it.
pub fn short_revision(revision: &str) -> &str {
    revision.get(..12).unwrap_or(revision)
}

/// `2026-01-02T03:04:05Z (42s ago)`, or the text as it is when it is not a timestamp.
fn when(time: &str, now: Timestamp) -> String {
    match time.parse::<Timestamp>() {
        Ok(at) => {
            let seconds = now.as_second().saturating_sub(at.as_second()).max(0);
            let ago = humantime::format_duration(Duration::from_secs(seconds as u64));
            format!("{time} ({ago} ago)")
        }
        Err(_) => time.to_string(),
    }
}

/// The text `kubectl gitops status` prints for one set.
pub fn format(set: &ApplySet, status: &Status, now: Timestamp) -> String {
    let mut out = String::new();
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    let _ = writeln!(
        out,
        "ApplySet:         {} (namespace {})",
        set.name, set.namespace
    );
    let _ = writeln!(
        out,
        "Source:           {} @ {}, path {}",
        dash(&status.repository),
        dash(&status.reference),
        if status.path.is_empty() {
            "/"
        } else {
            &status.path
        }
    );
    let _ = writeln!(out, "Leader:           {}", dash(&status.leader));
    if status.last_applied_revision.is_empty() {
        let _ = writeln!(out, "Last applied:     never");
    } else {
        let _ = writeln!(
            out,
            "Last applied:     {} at {}",
            short_revision(&status.last_applied_revision),
            when(&status.last_applied_time, now)
        );
    }
    if !status.last_attempted_time.is_empty() {
        let revision = if status.last_attempted_revision.is_empty() {
            "(no revision: fetch failed)"
        } else {
            short_revision(&status.last_attempted_revision)
        };
        let _ = writeln!(
            out,
            "Last attempt:     {revision} at {}: {}",
            when(&status.last_attempted_time, now),
            dash(
                status
                    .last_result
                    .map(CycleResult::as_str)
                    .unwrap_or_default()
            )
        );
    }
    if !status.last_error.is_empty() {
        // A refusal listing objects runs over several lines: each stays under the heading.
        let indented = status.last_error.replace('\n', "\n                  ");
        let _ = writeln!(out, "Last error:       {indented}");
        let _ = writeln!(
            out,
            "                  ({} consecutive failures; the last good state is kept and nothing is pruned)",
            status.consecutive_failures
        );
    }
    let _ = writeln!(
        out,
        "Objects managed:  {} (last cycle: {} created, {} updated, {} pruned, {} unchanged)",
        status.objects_managed,
        status.last_created,
        status.last_updated,
        status.last_pruned,
        status.last_unchanged
    );
    if status.drift_mode == "report" {
        let _ = writeln!(
            out,
            "Drift:            report only; {} object(s) differ from git and are left as they are",
            status.drifted_objects
        );
        for line in status.drifted.lines() {
            let _ = writeln!(out, "                  {line}");
        }
    } else {
        let _ = writeln!(out, "Drift corrected:  {}", status.drift_corrections);
    }
    let _ = write!(out, "Cycles:           {}", status.cycles);
    out.push('\n');
    out
}

/// Writes the status ConfigMap (server-side apply; no ApplySet label, so it is never pruned).
/// What the ConfigMap holds passes the scrubber like every other output.
fn scrubbed(mut data: BTreeMap<String, String>) -> BTreeMap<String, String> {
    for value in data.values_mut() {
        *value = crate::scrub::text(value);
    }
    data
}

pub async fn write(client: &kube::Client, set: &ApplySet, status: &Status) -> Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &set.namespace);
    let name = configmap_name(set);
    let body = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": set.namespace,
            "labels": {
                LABEL_STATUS_FOR: set.name,
                LABEL_MANAGED_BY: "kubectl-gitops",
            },
        },
        "data": scrubbed(status.to_data()),
    });
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .with_context(|| format!("writing the status ConfigMap {}/{name}", set.namespace))?;
    Ok(())
}

/// Reads one set's status; None when no reconciler has written one.
pub async fn read(client: &kube::Client, set: &ApplySet) -> Result<Option<Status>> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &set.namespace);
    let name = configmap_name(set);
    let found = api
        .get_opt(&name)
        .await
        .with_context(|| format!("reading the status ConfigMap {}/{name}", set.namespace))?;
    Ok(found.map(|cm| Status::from_data(&cm.data.unwrap_or_default())))
}

/// Every set in `namespace` with a status, by name.
pub async fn list(client: &kube::Client, namespace: &str) -> Result<Vec<(ApplySet, Status)>> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let found = api
        .list(&ListParams::default().labels(LABEL_STATUS_FOR))
        .await
        .with_context(|| format!("listing status ConfigMaps in namespace {namespace}"))?;
    let mut sets: Vec<(ApplySet, Status)> = found
        .items
        .into_iter()
        .filter_map(|cm| {
            let name = cm.metadata.labels.as_ref()?.get(LABEL_STATUS_FOR)?.clone();
            let set = ApplySet::named(&name, namespace);
            Some((set, Status::from_data(&cm.data.unwrap_or_default())))
        })
        .collect();
    sets.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Status {
        Status {
            repository: "git://127.0.0.1:9418/platform.git".into(),
            reference: "main".into(),
            path: "deploy".into(),
            leader: "pod-a".into(),
            last_attempted_revision: "0123456789abcdef0123456789abcdef01234567".into(),
            last_attempted_time: "2026-01-02T03:04:05Z".into(),
            last_result: Some(CycleResult::Failed),
            last_applied_revision: "fedcba9876543210fedcba9876543210fedcba98".into(),
            last_applied_time: "2026-01-02T03:03:00Z".into(),
            last_error: "render: deploy/bad.yaml:3: mapping values are not allowed here".into(),
            consecutive_failures: 2,
            objects_managed: 12,
            last_created: 1,
            last_updated: 2,
            last_pruned: 0,
            last_unchanged: 9,
            drift_corrections: 3,
            cycles: 40,
            drift_mode: "heal".into(),
            drifted: String::new(),
            drifted_objects: 0,
        }
    }

    #[test]
    fn status_round_trips_through_configmap_data() {
        let status = sample();
        let data = status.to_data();
        assert_eq!(data["lastAppliedRevision"], status.last_applied_revision);
        assert_eq!(data["driftCorrections"], "3");
        assert_eq!(Status::from_data(&data), status);
        assert_eq!(Status::from_data(&BTreeMap::new()), Status::default());
    }

    #[test]
    fn formatting_shows_revisions_times_and_the_error() {
        let set = ApplySet::named("gitops-platform-deploy", "gitops-system");
        let now: Timestamp = "2026-01-02T03:05:05Z".parse().unwrap();
        let text = format(&set, &sample(), now);
        assert!(
            text.contains("gitops-platform-deploy (namespace gitops-system)"),
            "{text}"
        );
        assert!(
            text.contains("git://127.0.0.1:9418/platform.git @ main, path deploy"),
            "{text}"
        );
        assert!(
            text.contains("Last applied:     fedcba987654 at 2026-01-02T03:03:00Z (2m 5s ago)"),
            "{text}"
        );
        assert!(
            text.contains(
                "Last attempt:     0123456789ab at 2026-01-02T03:04:05Z (1m ago): Failed"
            ),
            "{text}"
        );
        assert!(
            text.contains("Last error:       render: deploy/bad.yaml:3"),
            "{text}"
        );
        assert!(text.contains("2 consecutive failures"), "{text}");
        assert!(
            text.contains(
                "Objects managed:  12 (last cycle: 1 created, 2 updated, 0 pruned, 9 unchanged)"
            ),
            "{text}"
        );
        assert!(text.contains("Drift corrected:  3"), "{text}");
    }

    #[test]
    fn report_only_drift_lists_the_drifted_objects() {
        let set = ApplySet::named("s", "default");
        let status = Status {
            drift_mode: "report".into(),
            drifted: "ConfigMap/web/a: /data/v\nDeployment/web/api: deleted from the cluster"
                .into(),
            drifted_objects: 2,
            ..sample()
        };
        assert_eq!(Status::from_data(&status.to_data()), status);
        let text = format(&set, &status, Timestamp::now());
        assert!(
            text.contains(
                "Drift:            report only; 2 object(s) differ from git and are left as they are\n\
                 \x20                 ConfigMap/web/a: /data/v\n\
                 \x20                 Deployment/web/api: deleted from the cluster\n"
            ),
            "{text}"
        );
        assert!(!text.contains("Drift corrected"), "{text}");
    }

    #[test]
    fn a_fresh_status_says_never() {
        let set = ApplySet::named("s", "default");
        let text = format(&set, &Status::default(), Timestamp::now());
        assert!(text.contains("Last applied:     never"), "{text}");
        assert!(!text.contains("Last error"), "{text}");
    }
}
