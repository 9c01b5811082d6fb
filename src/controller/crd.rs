//! The `GitSync` API (`gitops.kubectl-gitops.io/v1alpha1`): one repository path kept in sync
//! with the cluster, declared as a Kubernetes object so it is reviewed, versioned and itself
//! managed by GitOps. Its status carries kstatus conditions (`Ready`, `Reconciling`,
//! `Stalled`), so `kubectl wait`, Flux and Argo CD health checks read it.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const GROUP: &str = "gitops.kubectl-gitops.io";
pub const VERSION: &str = "v1alpha1";
/// `kubectl gitops sync NAME` sets this annotation to the current time; a sync whose value
/// differs from `status.lastHandledReconcileAt` is reconciled at once (fetch included).
pub const REQUESTED_AT: &str = "kubectl-gitops.io/requested-at";
/// The label a controller started with `--shard NAME` selects on.
pub const SHARD_LABEL: &str = "kubectl-gitops.io/shard";
/// Held by syncs whose `deletionPolicy` is `Delete` until their objects are pruned.
pub const FINALIZER: &str = "gitops.kubectl-gitops.io/prune-on-delete";

/// A repository path the controller keeps applied: every `interval` it fetches `ref`, renders
/// `path` and runs the pipeline of `kubectl gitops apply` against the ApplySet `kubectl gitops
/// diff -n TARGET` resolves for the same repository, path and namespace.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "gitops.kubectl-gitops.io",
    version = "v1alpha1",
    kind = "GitSync",
    plural = "gitsyncs",
    shortname = "gs",
    namespaced,
    status = "GitSyncStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.lastAppliedRevision"}"#,
    printcolumn = r#"{"name":"Suspended","type":"boolean","jsonPath":".spec.suspend"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct GitSyncSpec {
    /// Where the manifests come from.
    pub repository: RepositorySpec,
    /// Directory of the manifests inside the repository (plain YAML/JSON, kustomize or a
    /// chart), as `kubectl gitops diff PATH` takes it.
    #[serde(default = "default_path")]
    pub path: String,
    /// Namespace namespace-less objects go to, which also holds the ApplySet parent (default:
    /// the GitSync's own namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// Time between full reconciles (fetch, render, plan, apply), e.g. `1m`, `10m30s`.
    #[serde(default = "default_interval")]
    pub interval: String,
    /// Delete objects that left git (only members of this sync's ApplySet). `false` keeps them.
    #[serde(default = "default_true")]
    pub prune: bool,
    /// Also prune Namespaces, CustomResourceDefinitions and PersistentVolumeClaims.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prune_protected: bool,
    /// Allow a commit that renders no objects (it prunes every member of the set).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_empty: bool,
    /// Refuse a plan that prunes more than this: `N` objects, `P%` of the set's members, or
    /// `unlimited` (default `25%`, as `kubectl gitops reconcile --max-prune`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_prune: Option<String>,
    /// Move objects that belong to another ApplySet into this one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,
    /// Apply the fields a chart renders differently each time (a random password kept
    /// through no `lookup`, a timestamp) even where they are live already, as
    /// `kubectl gitops apply --rewrite-unstable`. By default they only seed new objects.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rewrite_unstable: bool,
    /// Stop reconciling (the objects stay as they are) until set back to false.
    #[serde(default)]
    pub suspend: bool,
    /// The ServiceAccount (in the GitSync's namespace) whose rights every request of this sync
    /// is made with. Required unless the controller runs with `--default-service-account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Syncs that must be Ready (at their current generation) before this one is applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependencyRef>,
    /// What to do with changes made in the cluster outside git (default: put them back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftMode>,
    /// What deleting this GitSync does to the objects it applied.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Limits of each render of this sync (helm, kustomize), lower than the controller's own
    /// (`--render-timeout`, `--max-render-bytes`, `--max-render-objects`); a value above the
    /// controller's is held to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render_limits: Option<RenderLimitsSpec>,
    /// Build remote kustomize bases (`https://host/org/repo//dir?ref=v1`): fetched by the
    /// controller within its fetch rules (as chart repositories: no loopback, link-local,
    /// private or cluster-internal address unless `--allow-fetch-to` names it), without the
    /// sync's credentials. Off by default: a remote base is refused, naming the file and URL.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_remote_bases: bool,
    /// After applying, report Ready only once every applied Deployment, StatefulSet,
    /// DaemonSet, Job and CustomResourceDefinition is Current (the health rules of `kubectl
    /// gitops apply --wait`); until then Ready is False with reason `Progressing`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wait: bool,
    /// How long `wait` waits for the workloads after an apply (e.g. `5m`; default: the
    /// interval). Past it the sync is not Ready, reason `HealthCheckFailed`, naming the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// What one render of a sync may spend; each unset field takes the controller's limit.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenderLimitsSpec {
    /// How long a render may take (e.g. `1m`); at the deadline its processes are killed and
    /// the reconcile fails, pruning nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Most bytes a render may read from helm and kustomize (e.g. `16Mi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<String>,
    /// Most objects a render may produce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_objects: Option<u32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositorySpec {
    /// An https://, git:// or file:// URL (never with credentials in it: use `secretRef`).
    pub url: String,
    /// Branch or tag to follow.
    #[serde(default = "default_ref", rename = "ref")]
    pub reference: String,
    /// A Secret in the GitSync's namespace holding the https token under `token` (and
    /// optionally the user name under `username`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct LocalObjectReference {
    pub name: String,
}

/// Another GitSync, by name; in the same namespace unless `namespace` says otherwise.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct DependencyRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// What a change made outside git leads to.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DriftMode {
    /// Put the object back as git says (the default).
    Heal,
    /// Report the drift in status and Events; write nothing until the next commit.
    Report,
}

/// What deleting a GitSync does to what it applied.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Leave every object in place (the default): removing the GitSync only stops syncing.
    #[default]
    Orphan,
    /// Prune every member of the ApplySet, then the parent, before the GitSync goes (a
    /// finalizer holds it until then).
    Delete,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitSyncStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// `REF@sha1:COMMIT` of the last reconcile, successful or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_time: Option<String>,
    /// `REF@sha1:COMMIT` last applied without errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_time: Option<String>,
    /// The `kubectl-gitops.io/requested-at` value last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// What the last reconcile that reached the cluster did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<Counts>,
    /// The ApplySet this sync owns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<InventoryRef>,
    /// The last failure, free of credentials and Secret values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Failed reconciles in a row (the retry delay doubles with each).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub consecutive_failures: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct Counts {
    pub managed: i64,
    pub created: i64,
    pub updated: i64,
    pub pruned: i64,
    pub unchanged: i64,
    /// With `drift: Report`: objects that differ from git and were left as they are.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub drifted: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct InventoryRef {
    /// The parent Secret's name and namespace, and the `applyset.kubernetes.io/id`.
    pub name: String,
    pub namespace: String,
    pub id: String,
}

/// A condition as `metav1.Condition` has it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    pub reason: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    pub last_transition_time: String,
}

fn default_path() -> String {
    ".".into()
}

fn default_interval() -> String {
    "5m".into()
}

fn default_ref() -> String {
    "main".into()
}

fn default_true() -> bool {
    true
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl GitSync {
    /// `namespace/name`, the sync's name in logs, metrics and messages.
    pub fn key(&self) -> String {
        format!(
            "{}/{}",
            self.metadata.namespace.as_deref().unwrap_or_default(),
            self.metadata.name.as_deref().unwrap_or_default()
        )
    }

    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
    }

    /// Ready at the generation it has now (what `dependsOn` waits for).
    pub fn is_ready(&self) -> bool {
        let generation = self.metadata.generation;
        self.condition("Ready")
            .is_some_and(|c| c.status == "True" && c.observed_generation == generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn the_crd_is_namespaced_with_a_status_subresource_and_printer_columns() {
        let crd = GitSync::crd();
        assert_eq!(crd.spec.group, GROUP);
        assert_eq!(crd.spec.scope, "Namespaced");
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, VERSION);
        assert!(version.subresources.as_ref().unwrap().status.is_some());
        let columns: Vec<&str> = version
            .additional_printer_columns
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            columns,
            ["Ready", "Revision", "Suspended", "Reason", "Message", "Age"]
        );
    }

    #[test]
    fn a_minimal_spec_takes_the_documented_defaults() {
        let spec: GitSyncSpec =
            serde_json::from_value(serde_json::json!({"repository": {"url": "git://h/r.git"}}))
                .unwrap();
        assert_eq!(spec.repository.reference, "main");
        assert_eq!(spec.path, ".");
        assert_eq!(spec.interval, "5m");
        assert!(spec.prune);
        assert!(!spec.suspend);
        assert_eq!(spec.deletion_policy, DeletionPolicy::Orphan);
    }
}
