//! A sync's spec, checked, and the reconciler that runs it.
//!
//! The controller reads the spec from a GitSync; `kubectl gitops reconcile` builds one from
//! its flags, as a sync given on the command line. Both go through `check` and `reconciler`,
//! so a flag and the spec field it stands for cannot mean two things: the same interval and
//! path rules, the same prune limit, the same plan settings (git wins every conflict), the
//! same drift mode. What stays each runner's own is around the cycle: the controller adds the
//! sync's ServiceAccount, `dependsOn` and status on the GitSync; `reconcile` a leader Lease
//! for its process and status in a ConfigMap.

use std::path::PathBuf;
use std::time::Duration;

use gix::ObjectId;

use super::crd::{self, GitSyncSpec};
use super::reason::Stall;
use crate::cluster::Cluster;
use crate::inventory::ApplySet;
use crate::pipeline::PlanSettings;
use crate::prune_limit::PruneLimit;
use crate::render::RenderOptions;
use crate::render::limits::{self, RenderLimits, Requested, SetBy};
use crate::runtime::cycle::Reconciler;
use crate::runtime::drift_mode::DriftMode;
use crate::source::Limits;
use crate::source::git::GitSource;
use crate::source::tree;

/// Why a spec cannot work as written: the reason of the Stalled condition and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Stall,
    pub message: String,
}

impl Refusal {
    /// A field that does not parse or breaks a rule; `message` names it.
    pub fn invalid(message: impl Into<String>) -> Self {
        Refusal {
            reason: Stall::InvalidSpec,
            message: message.into(),
        }
    }
}

/// The fields of a spec every runner needs, checked.
#[derive(Debug, Clone)]
pub struct Checked {
    pub interval: Duration,
    /// Repository-relative, normalised ("" for the root).
    pub path: PathBuf,
    /// Where namespace-less objects go (and, unless told otherwise, the ApplySet parent).
    pub target_namespace: String,
    /// The most a plan may prune (`spec.maxPrune`, `--max-prune`).
    pub max_prune: PruneLimit,
    /// With `spec.wait`: how long the workloads of an apply are followed to Current
    /// (`spec.timeout`, else the interval). None: Ready once applied.
    pub wait: Option<Duration>,
}

/// Checks the spec of a sync that lives in `namespace` (the target namespace when the spec
/// names none).
pub fn check(spec: &GitSyncSpec, namespace: &str) -> Result<Checked, Refusal> {
    let interval = humantime::parse_duration(&spec.interval)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            Refusal::invalid(format!(
                "spec.interval {:?} is not a positive duration (e.g. 1m, 10m30s)",
                spec.interval
            ))
        })?;
    let path =
        tree::normalize_path(&spec.path).map_err(|e| Refusal::invalid(e.naming("spec.path")))?;
    let max_prune = match &spec.max_prune {
        None => crate::prune_limit::RECONCILER_DEFAULT,
        Some(text) => text
            .parse()
            .map_err(|e| Refusal::invalid(format!("spec.maxPrune {text:?}: {e}")))?,
    };
    let target_namespace = spec
        .target_namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| namespace.to_string());
    requested_limits(spec)?;
    let timeout = match &spec.timeout {
        None => interval,
        Some(text) => humantime::parse_duration(text.trim())
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                Refusal::invalid(format!(
                    "spec.timeout {text:?} is not a positive duration (e.g. 30s, 5m)"
                ))
            })?,
    };
    Ok(Checked {
        interval,
        path,
        target_namespace,
        max_prune,
        wait: spec.wait.then_some(timeout),
    })
}

/// What `spec.renderLimits` asks for, read.
fn requested_limits(spec: &GitSyncSpec) -> Result<Requested, Refusal> {
    let Some(asked) = &spec.render_limits else {
        return Ok(Requested::default());
    };
    let invalid = |field: &str, text: &str, why: String| {
        Refusal::invalid(format!("spec.renderLimits.{field} {text:?}: {why}"))
    };
    let timeout = match &asked.timeout {
        None => None,
        Some(text) => Some(
            humantime::parse_duration(text.trim())
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    invalid(
                        "timeout",
                        text,
                        "not a positive duration (e.g. 30s, 2m)".into(),
                    )
                })?,
        ),
    };
    let max_bytes = match &asked.max_bytes {
        None => None,
        Some(text) => {
            Some(limits::parse_bytes(text).map_err(|e| invalid("maxBytes", text, e.to_string()))?)
        }
    };
    let max_objects = match asked.max_objects {
        Some(0) => {
            return Err(Refusal::invalid(
                "spec.renderLimits.maxObjects must be at least 1",
            ));
        }
        other => other.map(|n| n as usize),
    };
    Ok(Requested {
        timeout,
        max_bytes,
        max_objects,
    })
}

/// What `spec.drift` asks of the cycle (heal when unset).
pub fn drift_mode(spec: &GitSyncSpec) -> DriftMode {
    match spec.drift {
        None | Some(crd::DriftMode::Heal) => DriftMode::Heal,
        Some(crd::DriftMode::Report) => DriftMode::Report,
    }
}

/// The one place a spec's fields become pipeline settings (with `drift_mode` and
/// `Checked::max_prune`, the cycle's own settings).
pub fn plan_settings(spec: &GitSyncSpec, render: &RenderOptions, namespace: &str) -> PlanSettings {
    let mut render = render.clone();
    render.helm.namespace = Some(namespace.to_string());
    render.unstable = if spec.rewrite_unstable {
        crate::render::UnstablePolicy::Rewrite
    } else {
        crate::render::UnstablePolicy::Keep
    };
    // Under a controller, each sync's limits are what it asks for within the operator's.
    if let SetBy::GitSync { ceiling } = render.limits.set_by {
        let requested = requested_limits(spec).unwrap_or_default();
        render.limits = RenderLimits::for_sync(requested, ceiling);
    }
    render.remote_bases = if spec.allow_remote_bases {
        crate::render::RemoteBases::Fetched
    } else {
        crate::render::RemoteBases::Refused
    };
    PlanSettings {
        show_secrets: false,
        // A runner must converge: git wins every field another manager took, as Argo CD and
        // Flux do. `apply` leaves that choice to --force-conflicts.
        force: true,
        prune_protected: spec.prune_protected,
        // The cycle's own no-op proof is the plan; nobody reads a preview of its prunes, so
        // their LISTs are not spent.
        verify_unchanged: false,
        adopt: spec.adopt,
        keep_unrendered: !spec.prune,
        cascade: false,
        render,
    }
}

/// Where a sync's reconciler reads from and writes to.
pub struct Target {
    /// The connection the sync acts with (the controller's impersonates its ServiceAccount).
    pub cluster: Cluster,
    pub git: GitSource,
    pub set: ApplySet,
    pub fetch_timeout: Duration,
    /// The last revision applied whole, for `drift: Report` (from the status).
    pub applied: Option<ObjectId>,
}

/// The reconciler of a checked spec: what every runner's cycles run.
pub fn reconciler(
    spec: &GitSyncSpec,
    checked: &Checked,
    render: &RenderOptions,
    target: Target,
) -> Reconciler {
    Reconciler {
        cluster: target.cluster,
        git: target.git,
        set: target.set,
        path: checked.path.clone(),
        settings: plan_settings(spec, render, &checked.target_namespace),
        allow_empty: spec.allow_empty,
        max_prune: checked.max_prune,
        limits: Limits::default(),
        fetch_timeout: target.fetch_timeout,
        drift: drift_mode(spec),
        applied: std::sync::Mutex::new(target.applied),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::controller::crd::RepositorySpec;

    /// A spec as a user would write it: a repository, a path to normalise, a one-minute
    /// interval.
    pub(crate) fn spec() -> GitSyncSpec {
        GitSyncSpec {
            repository: RepositorySpec {
                url: "git://git.example.com/platform.git".into(),
                reference: "main".into(),
                secret_ref: None,
            },
            path: "./deploy/".into(),
            interval: "1m".into(),
            prune: true,
            ..GitSyncSpec::default()
        }
    }

    #[test]
    fn a_spec_without_a_target_namespace_targets_its_own() {
        let checked = check(&spec(), "team-a").unwrap();
        assert_eq!(checked.target_namespace, "team-a");
        assert_eq!(checked.path, PathBuf::from("deploy"));
        assert_eq!(checked.interval, Duration::from_secs(60));
        assert_eq!(checked.max_prune, crate::prune_limit::RECONCILER_DEFAULT);
        let mut other = spec();
        other.target_namespace = Some("apps".into());
        assert_eq!(check(&other, "team-a").unwrap().target_namespace, "apps");
    }

    #[test]
    fn bad_fields_are_refused_by_name() {
        let mut bad_interval = spec();
        bad_interval.interval = "0s".into();
        let mut outside = spec();
        outside.path = "../other".into();
        let mut limit = spec();
        limit.max_prune = Some("a lot".into());
        for (spec, field) in [
            (bad_interval, "spec.interval"),
            (outside, "spec.path"),
            (limit, "spec.maxPrune"),
        ] {
            let Refusal { reason, message } = check(&spec, "team-a").unwrap_err();
            assert_eq!(reason, Stall::InvalidSpec);
            assert!(message.contains(field), "{message}");
        }
    }

    #[test]
    fn prune_false_keeps_what_left_git_and_git_wins_conflicts() {
        let mut spec = spec();
        spec.prune = false;
        let settings = plan_settings(&spec, &RenderOptions::default(), "team-a");
        assert!(settings.keep_unrendered);
        assert!(settings.force);
        assert_eq!(settings.render.helm.namespace.as_deref(), Some("team-a"));
    }

    #[test]
    fn remote_bases_are_fetched_only_for_a_sync_that_allows_them() {
        let fetching = RenderOptions {
            remote_bases: crate::render::RemoteBases::Fetched,
            ..RenderOptions::default()
        };
        // Whatever the process renders with, the sync's own field decides.
        let settings = plan_settings(&spec(), &fetching, "team-a");
        assert_eq!(
            settings.render.remote_bases,
            crate::render::RemoteBases::Refused
        );
        let mut allowing = spec();
        allowing.allow_remote_bases = true;
        let settings = plan_settings(&allowing, &RenderOptions::default(), "team-a");
        assert_eq!(
            settings.render.remote_bases,
            crate::render::RemoteBases::Fetched
        );
        let yaml: GitSyncSpec = serde_json::from_value(serde_json::json!({
            "repository": {"url": "https://git.example.com/org/repo.git"},
            "path": "deploy",
            "interval": "1m",
            "allowRemoteBases": true,
        }))
        .unwrap();
        assert!(yaml.allow_remote_bases);
    }

    #[test]
    fn render_limits_are_read_and_held_to_the_controllers() {
        let ceiling = limits::Limits::default();
        let controller = RenderOptions {
            limits: RenderLimits::for_sync(Requested::default(), ceiling),
            ..RenderOptions::default()
        };
        let mut asking = spec();
        asking.render_limits = Some(crd::RenderLimitsSpec {
            timeout: Some("20s".into()),
            max_bytes: Some("1Gi".into()),
            max_objects: None,
        });
        assert!(check(&asking, "team-a").is_ok());
        let settings = plan_settings(&asking, &controller, "team-a");
        assert_eq!(
            settings.render.limits.limits,
            limits::Limits {
                timeout: Duration::from_secs(20),
                ..ceiling
            }
        );
        // Asking for nothing is asking for the controller's.
        let settings = plan_settings(&spec(), &controller, "team-a");
        assert_eq!(settings.render.limits.limits, ceiling);
        // The flags of `reconcile` are its limits, whatever its spec says.
        let flags = RenderOptions::default();
        let settings = plan_settings(&asking, &flags, "team-a");
        assert_eq!(settings.render.limits, flags.limits);
    }

    #[test]
    fn bad_render_limits_are_refused_by_name() {
        for (limits, field) in [
            (
                crd::RenderLimitsSpec {
                    timeout: Some("soon".into()),
                    ..Default::default()
                },
                "spec.renderLimits.timeout",
            ),
            (
                crd::RenderLimitsSpec {
                    max_bytes: Some("lots".into()),
                    ..Default::default()
                },
                "spec.renderLimits.maxBytes",
            ),
            (
                crd::RenderLimitsSpec {
                    max_objects: Some(0),
                    ..Default::default()
                },
                "spec.renderLimits.maxObjects",
            ),
        ] {
            let mut bad = spec();
            bad.render_limits = Some(limits);
            let Refusal { reason, message } = check(&bad, "team-a").unwrap_err();
            assert_eq!(reason, Stall::InvalidSpec);
            assert!(message.contains(field), "{message}");
        }
    }

    #[test]
    fn a_wait_lasts_the_timeout_or_else_the_interval() {
        let mut waiting = spec();
        assert_eq!(check(&waiting, "team-a").unwrap().wait, None);
        waiting.wait = true;
        assert_eq!(
            check(&waiting, "team-a").unwrap().wait,
            Some(Duration::from_secs(60))
        );
        waiting.timeout = Some("90s".into());
        assert_eq!(
            check(&waiting, "team-a").unwrap().wait,
            Some(Duration::from_secs(90))
        );
        waiting.timeout = Some("later".into());
        let Refusal { reason, message } = check(&waiting, "team-a").unwrap_err();
        assert_eq!(reason, Stall::InvalidSpec);
        assert!(message.contains("spec.timeout"), "{message}");
    }

    #[test]
    fn an_unset_drift_mode_heals() {
        let mut spec = spec();
        assert_eq!(drift_mode(&spec), DriftMode::Heal);
        spec.drift = Some(crd::DriftMode::Report);
        assert_eq!(drift_mode(&spec), DriftMode::Report);
    }
}
