//! The second render of charts whose `lookup`s saw nothing before an apply.
//!
//! A chart that keeps a generated value through `lookup` (Grafana's admin password) draws it
//! anew on a first install, and what it derives from another draw in the same render (a
//! checksum of the Secret's data on the Deployment) differs from what the chart renders once
//! the Secret is live: `helm install` then `helm upgrade` write twice for the same reason.
//! Once an apply has created a chart's objects, the chart is rendered once more against the
//! cluster as it now is, planned for its own objects and applied (server-side apply: a second
//! render equal to the first writes nothing), so the next plan is empty. One pass at most: a
//! field that differs between two renders even then is unstable and kept live
//! (`render::unstable`), never rewritten in a loop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use crate::cluster::Cluster;
use crate::inventory::ApplySet;
use crate::object::{ObjectKey, ObjectRef};
use crate::pipeline::{self, PlanSettings, Scope, SetPlan};
use crate::render::{self, LookupNote, Manifest, UnstablePolicy, helm::LookupOutcome};
use crate::source::Snapshot;
use crate::ssa::{Action, Applied};

/// The charts of a render that an apply may have to render again, and how to.
#[derive(Debug, Clone)]
pub struct Rerender {
    snapshot: Arc<Snapshot>,
    settings: PlanSettings,
    charts: Vec<Chart>,
}

/// A chart whose lookups may see what the apply creates, and the objects it rendered.
#[derive(Debug, Clone)]
struct Chart {
    /// Its directory as messages show it ([`LookupNote::chart`]).
    dir: PathBuf,
    objects: BTreeSet<ObjectRef>,
}

/// What the second render did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rerendered {
    /// The charts rendered again.
    pub charts: Vec<PathBuf>,
    /// Why the second render, or its plan, came to nothing; nothing more was written.
    pub error: Option<String>,
}

impl Rerendered {
    /// One line for the person or the log: how many charts, which, and why.
    pub fn line(&self) -> String {
        let n = self.charts.len();
        let dirs: Vec<String> = self
            .charts
            .iter()
            .map(|c| c.display().to_string())
            .collect();
        let mut line = format!(
            "re-rendered {n} {} whose lookups saw nothing before the apply ({})",
            if n == 1 { "chart" } else { "charts" },
            dirs.join(", ")
        );
        if let Some(error) = &self.error {
            line.push_str(&format!("; nothing more was written: {error}"));
        }
        line
    }
}

impl Rerender {
    /// The charts among `notes` whose lookups the cluster was asked for, or was meant to be
    /// (a render that fell back, e.g. on a definition the apply installs), each with the
    /// objects it rendered among `manifests`. `None` when there are none: an offline render
    /// or a helm too old to ask sees nothing the second time either.
    pub fn after(
        snapshot: Arc<Snapshot>,
        manifests: &[Manifest],
        notes: &[LookupNote],
        settings: &PlanSettings,
    ) -> Option<Rerender> {
        let charts: Vec<Chart> = notes
            .iter()
            .filter(|n| {
                matches!(
                    n.outcome,
                    LookupOutcome::Answered | LookupOutcome::Failed(_)
                )
            })
            .map(|n| Chart {
                dir: n.chart.clone(),
                objects: manifests
                    .iter()
                    .filter(|m| renders_from(&m.origin.file, &n.chart))
                    .map(Manifest::object_ref)
                    .collect(),
            })
            .filter(|c| !c.objects.is_empty())
            .collect();
        if charts.is_empty() {
            return None;
        }
        let mut settings = settings.clone();
        // The first pass wrote the fields that differ between two renders; writing them again
        // would only draw anew.
        settings.render.unstable = UnstablePolicy::Keep;
        Some(Rerender {
            snapshot,
            settings,
            charts,
        })
    }

    /// The charts some of whose objects `written` created: their lookups saw nothing of them.
    fn due(&self, written: &[Applied]) -> Vec<PathBuf> {
        let created = Written::of(written, &[Action::Create]);
        self.charts
            .iter()
            .filter(|c| c.objects.iter().any(|o| created.holds(o)))
            .map(|c| c.dir.clone())
            .collect()
    }

    /// Renders again the charts whose objects `written` created and plans, from that render,
    /// the objects `written` created or updated, and nothing else: what the first pass left
    /// alone (held-back drift, objects a plan file did not name) stays so, and nothing is
    /// pruned. The plan to execute, or `None` when no chart is due.
    pub(crate) async fn plan(
        &self,
        cluster: &Cluster,
        set: &ApplySet,
        written: &[Applied],
    ) -> Option<(Rerendered, Option<SetPlan>)> {
        let charts = self.due(written);
        if charts.is_empty() {
            return None;
        }
        let failed = |error: String| {
            Some((
                Rerendered {
                    charts: charts.clone(),
                    error: Some(error),
                },
                None,
            ))
        };
        let snapshot = self.snapshot.clone();
        let options = self.settings.render.clone();
        let dirs = charts.clone();
        let rendered = tokio::task::spawn_blocking(move || {
            render::render_charts(&snapshot, &options, &dirs, &mut Vec::new())
        })
        .await;
        let manifests = match rendered {
            Ok(Ok(manifests)) => manifests,
            Ok(Err(failure)) => return failed(failure.to_string()),
            Err(join) => return failed(join.to_string()),
        };
        let wrote = Written::of(written, &[Action::Create, Action::Update]);
        let manifests: Vec<Manifest> = manifests
            .into_iter()
            .filter(|m| wrote.holds(&m.object_ref()))
            .collect();
        let keys = manifests
            .iter()
            .map(|m| object_key(m, &cluster.default_namespace))
            .collect();
        let planned = pipeline::plan(
            cluster,
            manifests,
            set,
            &Scope::Objects(keys),
            &self.settings,
        )
        .await;
        let planned = match planned {
            Ok(planned) => planned,
            Err(error) => return failed(crate::cluster::refusal::one_line(&error)),
        };
        let blocked = planned.planned.plan.summary().blocked();
        if blocked > 0 {
            let first = planned
                .planned
                .plan
                .errors
                .first()
                .map(|e| format!(": {}: {}", e.object, e.message))
                .unwrap_or_default();
            return failed(format!("{blocked} objects failed to plan{first}"));
        }
        Some((
            Rerendered {
                charts,
                error: None,
            },
            Some(planned),
        ))
    }
}

/// The objects written successfully with some actions, by API version, kind and name, with
/// the namespaces each went to.
struct Written<'a>(BTreeMap<(&'a str, &'a str, &'a str), Vec<Option<&'a str>>>);

impl<'a> Written<'a> {
    fn of(results: &'a [Applied], actions: &[Action]) -> Self {
        let mut written: BTreeMap<_, Vec<_>> = BTreeMap::new();
        for a in results {
            if a.error.is_none() && actions.contains(&a.action) {
                let o = &a.object;
                written
                    .entry((o.api_version.as_str(), o.kind.as_str(), o.name.as_str()))
                    .or_default()
                    .push(o.namespace.as_deref());
            }
        }
        Written(written)
    }

    /// Whether the object `rendered` names was written. A chart leaves most namespaces to the
    /// release's: a rendered object without one was written in whichever the plan gave it.
    fn holds(&self, rendered: &ObjectRef) -> bool {
        let key = (
            rendered.api_version.as_str(),
            rendered.kind.as_str(),
            rendered.name.as_str(),
        );
        self.0.get(&key).is_some_and(|namespaces| {
            rendered.namespace.is_none() || namespaces.contains(&rendered.namespace.as_deref())
        })
    }
}

/// Whether an object whose origin is `file` came from the chart in `chart`.
fn renders_from(file: &std::path::Path, chart: &std::path::Path) -> bool {
    chart == std::path::Path::new(".") || file.starts_with(chart)
}

/// The identity of the object `manifest` renders, its namespace defaulted as the plan does.
pub fn object_key(manifest: &Manifest, default_namespace: &str) -> ObjectKey {
    let object = manifest.object_ref();
    ObjectKey {
        group: object.group().to_string(),
        kind: object.kind.clone(),
        namespace: Some(
            manifest
                .namespace()
                .unwrap_or(default_namespace)
                .to_string(),
        ),
        name: object.name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{Origin, helm::Fallback};
    use crate::source::SourceOrigin;

    fn manifest(kind: &str, name: &str, file: &str) -> Manifest {
        let serde_json::Value::Object(object) = serde_json::json!({
            "apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": "ns"},
        }) else {
            unreachable!()
        };
        Manifest::new(
            object,
            Origin {
                file: file.into(),
                document: 0,
                item: None,
                line: 1,
                remote: None,
            },
        )
    }

    fn snapshot() -> Arc<Snapshot> {
        Arc::new(Snapshot::new(
            "/nowhere".into(),
            PathBuf::new(),
            SourceOrigin::PlainDirectory,
            Default::default(),
        ))
    }

    fn applied(object: &Manifest, action: Action) -> Applied {
        Applied {
            object: object.object_ref(),
            action,
            error: None,
            not_attempted: None,
        }
    }

    fn note(chart: &str, outcome: LookupOutcome) -> LookupNote {
        LookupNote {
            chart: chart.into(),
            outcome,
        }
    }

    #[test]
    fn a_chart_is_due_when_the_apply_created_one_of_its_objects() {
        let secret = manifest("Secret", "admin", "deploy/grafana/templates/secret.yaml");
        let config = manifest("ConfigMap", "plain", "deploy/plain.yaml");
        let manifests = [secret.clone(), config.clone()];
        let notes = [note("deploy/grafana", LookupOutcome::Answered)];
        let rerender = Rerender::after(snapshot(), &manifests, &notes, &PlanSettings::default())
            .expect("a chart asked the cluster");
        assert_eq!(
            rerender.due(&[applied(&secret, Action::Create)]),
            [PathBuf::from("deploy/grafana")]
        );
        assert!(rerender.due(&[applied(&secret, Action::Update)]).is_empty());
        assert!(rerender.due(&[applied(&config, Action::Create)]).is_empty());
    }

    #[test]
    fn an_object_rendered_without_a_namespace_is_found_in_the_one_it_was_written_to() {
        let mut secret = manifest("Secret", "admin", "deploy/templates/secret.yaml");
        secret.object["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("namespace");
        let rerender = Rerender::after(
            snapshot(),
            std::slice::from_ref(&secret),
            &[note("deploy", LookupOutcome::Answered)],
            &PlanSettings::default(),
        )
        .expect("a chart");
        let mut written = applied(&secret, Action::Create);
        written.object.namespace = Some("team".into());
        assert_eq!(rerender.due(&[written]), [PathBuf::from("deploy")]);
    }

    #[test]
    fn a_render_that_fell_back_is_rendered_again_and_an_offline_one_is_not() {
        let secret = manifest(
            "Secret",
            "admin",
            "kps/charts/grafana/templates/secret.yaml",
        );
        let fell_back = [note(
            "kps",
            LookupOutcome::Failed(Fallback::DefinitionMissing),
        )];
        assert!(
            Rerender::after(
                snapshot(),
                std::slice::from_ref(&secret),
                &fell_back,
                &PlanSettings::default()
            )
            .is_some()
        );
        for blind in [
            LookupOutcome::Offline,
            LookupOutcome::HelmTooOld("3.12".into()),
            LookupOutcome::NotCalled,
        ] {
            let notes = [note("kps", blind)];
            assert!(
                Rerender::after(
                    snapshot(),
                    std::slice::from_ref(&secret),
                    &notes,
                    &PlanSettings::default()
                )
                .is_none()
            );
        }
    }

    #[test]
    fn the_second_render_keeps_the_fields_the_first_wrote_at_random() {
        let secret = manifest("Secret", "admin", "deploy/templates/secret.yaml");
        let mut settings = PlanSettings::default();
        settings.render.unstable = UnstablePolicy::Rewrite;
        let rerender = Rerender::after(
            snapshot(),
            &[secret],
            &[note("deploy", LookupOutcome::Answered)],
            &settings,
        )
        .expect("a chart");
        assert_eq!(rerender.settings.render.unstable, UnstablePolicy::Keep);
    }

    #[test]
    fn the_line_says_how_many_charts_and_which() {
        let done = Rerendered {
            charts: vec!["deploy".into()],
            error: None,
        };
        assert_eq!(
            done.line(),
            "re-rendered 1 chart whose lookups saw nothing before the apply (deploy)"
        );
    }
}
