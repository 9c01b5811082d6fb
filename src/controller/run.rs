//! The pipeline for one due sync, as its ServiceAccount: check its dependencies, read its
//! credentials, take the commit from the shared git cache, and run the reconciler's cycle
//! (`runtime::cycle`, the pipeline `kubectl gitops apply` runs). Says the verdict and what
//! the cycle did; recording them is `record`'s job.

use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;

use super::context::Context;
use super::crd::{Counts, GitSync};
use super::dependencies;
use super::drift::Woken;
use super::reason::Failure;
use super::resolve::Resolved;
use super::rollout::Rollout;
use super::sources::SourceKey;
use super::spec;
use super::status::{self, Reason, Verdict};
use crate::cluster::Cluster;
use crate::runtime::DriftMode;
use crate::runtime::cycle::{Cycle, Outcome};
use crate::source::git::Credentials;
use crate::source::redact;

/// The pipeline for one sync.
pub(super) async fn run(
    sync: &GitSync,
    ctx: &Context,
    resolved: &Resolved,
    reason: Reason,
    woken: Option<Woken>,
) -> (Verdict, Option<Outcome>) {
    let failed = |reason: Failure, message: String, revision: Option<String>| Verdict::Failed {
        reason,
        message: redact::truncate(&crate::scrub::text(&message), 4096),
        revision,
    };
    let cluster = match ctx.tenant(&resolved.user, &resolved.checked.target_namespace) {
        Ok(cluster) => cluster,
        Err(err) => {
            return (
                failed(
                    Failure::ImpersonationFailed,
                    crate::cluster::refusal::one_line(&err),
                    None,
                ),
                None,
            );
        }
    };
    let forbidden = dependencies::forbidden(sync, &cluster).await;
    if !forbidden.is_empty() {
        // Said alike whether each exists or not: the account may not know.
        let message = format!(
            "spec.dependsOn names {}, in a namespace where {} may not get GitSyncs: grant it \
             `get` on gitsyncs.gitops.kubectl-gitops.io there, or depend on syncs of its own \
             namespace",
            forbidden.join(", "),
            resolved.user
        );
        return (failed(Failure::DependencyForbidden, message, None), None);
    }
    let waiting = dependencies::unready(sync, &ctx.store);
    if !waiting.is_empty() {
        return (
            Verdict::Waiting {
                message: format!(
                    "waiting for {} to be Ready: {}",
                    if waiting.len() == 1 {
                        "a dependency"
                    } else {
                        "dependencies"
                    },
                    waiting.join(", ")
                ),
            },
            None,
        );
    }
    if let Err(refused) = ctx.sources.admit(&sync.spec.repository.url) {
        return (
            failed(Failure::SourceRefused, refused.to_string(), None),
            None,
        );
    }
    let spec = &sync.spec;
    let namespace = sync.namespace().unwrap_or_default();
    let credentials = match &spec.repository.secret_ref {
        None => None,
        Some(secret) => match read_credentials(&cluster, &namespace, &secret.name).await {
            Ok(credentials) => Some(credentials),
            Err(error) => {
                return (
                    failed(Failure::CredentialsFailed, error.to_string(), None),
                    None,
                );
            }
        },
    };
    let key = SourceKey {
        url: spec.repository.url.clone(),
        reference: spec.repository.reference.clone(),
        credentials: spec
            .repository
            .secret_ref
            .as_ref()
            .map(|s| format!("{namespace}/{}", s.name)),
    };
    let source = match ctx.sources.get(&key, credentials) {
        Ok(source) => source,
        Err(error) => return (failed(Failure::FetchFailed, error.to_string(), None), None),
    };
    ctx.sources.follow(&key, sync);
    // A request (`kubectl gitops sync`, `resume`) always fetches afresh, whatever else made
    // the sync due.
    let requested = reason == Reason::Requested
        || sync.annotations_requested_at()
            != sync
                .status
                .as_ref()
                .and_then(|s| s.last_handled_reconcile_at.as_deref());
    // Drift is put back at the revision last applied: a newer commit that failed never
    // replaces the last good state that way.
    let commit = match sync
        .last_applied_commit()
        .filter(|_| reason == Reason::Drift)
    {
        // The first correction after a restart: the cache may not hold the commit yet.
        Some(commit) if !ctx.sources.fetched(&source).await => {
            let fetched = ctx
                .sources
                .fetch(&source, resolved.checked.interval, None, &sync.key())
                .await;
            ctx.metrics.set_fetches(ctx.sources.fetches());
            if let Err(error) = fetched {
                return (failed(Failure::FetchFailed, error.to_string(), None), None);
            }
            commit
        }
        Some(commit) => commit,
        None => {
            let not_before = requested.then(Instant::now);
            let fetched = ctx
                .sources
                .fetch(&source, resolved.checked.interval, not_before, &sync.key())
                .await;
            ctx.metrics.set_fetches(ctx.sources.fetches());
            match fetched {
                Ok(fetched) => fetched.commit,
                Err(error) => return (failed(Failure::FetchFailed, error.to_string(), None), None),
            }
        }
    };
    let revision = status::revision(&spec.repository.reference, &commit.to_string());
    let reconciler = Arc::new(spec::reconciler(
        spec,
        &resolved.checked,
        &ctx.render,
        spec::Target {
            cluster,
            git: source.git.clone(),
            set: resolved.set.clone(),
            fetch_timeout: ctx.settings.fetch_timeout,
            applied: sync.last_applied_commit(),
        },
    ));
    let cycle = match (reason, woken) {
        // Only what changed is re-planned (and nothing pruned), as `kubectl gitops reconcile`
        // does: a correction then takes as long in a sync of ten thousand objects as in one of
        // ten. With drift: Report the revision is re-planned whole, so the list of what
        // differs from git stays whole too.
        (Reason::Drift, Some(Woken::Objects(objects)))
            if !objects.is_empty() && spec::drift_mode(spec) == DriftMode::Heal =>
        {
            Cycle::Objects(commit, objects)
        }
        (Reason::Drift, _) => Cycle::Revision(commit),
        _ => Cycle::Fetched(commit),
    };
    let outcome = reconciler.run(cycle).await;
    if let Some(drift) = &ctx.drift
        && outcome.executed
        && !outcome.partial
    {
        let client = reconciler.cluster.client.clone();
        let namespaces = outcome
            .watch
            .iter()
            .filter_map(|k| k.namespace.clone())
            .chain([resolved.checked.target_namespace.clone()])
            .collect();
        let keys = drift
            .widen(&resolved.user, &client, outcome.watch.clone())
            .await;
        drift.want(
            sync,
            &resolved.user,
            client,
            resolved.set.id(),
            keys,
            namespaces,
        );
    }
    let verdict = match &outcome.error {
        None => Verdict::Applied {
            revision,
            counts: Counts {
                // A partial cycle planned some members only: the set is as large as before.
                managed: if outcome.partial {
                    sync.status
                        .as_ref()
                        .and_then(|s| s.counts.as_ref())
                        .map_or(0, |c| c.managed)
                } else {
                    outcome.managed as i64
                },
                created: outcome.created.len() as i64,
                updated: outcome.updated.len() as i64,
                pruned: outcome.pruned.len() as i64,
                unchanged: outcome.unchanged as i64,
                drifted: outcome.drifted.len() as i64,
            },
        },
        Some(error) => failed(error.stage.into(), error.to_string(), Some(revision)),
    };
    let verdict = await_rollout(sync, ctx, resolved, &reconciler.cluster, &outcome, verdict).await;
    (verdict, Some(outcome))
}

/// With `spec.wait`, what an applied cycle's verdict becomes once its workloads are looked at:
/// Applied when all are Current already, else a rollout to follow. A drift correction (a
/// partial cycle) goes on with the rollout of the revision it put back, if one is followed.
async fn await_rollout(
    sync: &GitSync,
    ctx: &Context,
    resolved: &Resolved,
    cluster: &Cluster,
    outcome: &Outcome,
    verdict: Verdict,
) -> Verdict {
    let (Some(timeout), Verdict::Applied { revision, counts }) = (resolved.checked.wait, &verdict)
    else {
        return verdict;
    };
    let rollout = if outcome.partial {
        ctx.rollouts.of(sync)
    } else {
        Some(Rollout::new(
            sync,
            revision.clone(),
            counts.clone(),
            outcome.workloads.clone(),
            timeout,
            Instant::now(),
        ))
    };
    let Some(mut rollout) = rollout else {
        return verdict;
    };
    let verdict = rollout.look(cluster).await;
    match verdict {
        Verdict::Progressing { .. } => ctx.rollouts.follow(sync, rollout),
        _ => ctx.rollouts.forget(sync),
    }
    verdict
}

/// The token (and user name) in the sync's own namespace, read with the sync's own rights.
async fn read_credentials(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
) -> Result<Credentials, CredentialsError> {
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), namespace);
    let secret = secrets
        .get(name)
        .await
        .map_err(|source| CredentialsError::Unreadable {
            secret: format!("{namespace}/{name}"),
            source,
        })?;
    let data = secret.data.unwrap_or_default();
    let text = |key: &str| {
        data.get(key)
            .map(|v| String::from_utf8_lossy(&v.0).trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let token = text("token").ok_or_else(|| CredentialsError::NoToken {
        secret: format!("{namespace}/{name}"),
    })?;
    crate::scrub::learn_credential(&token);
    Ok(Credentials {
        username: text("username").unwrap_or_else(|| "x-access-token".into()),
        token,
    })
}

/// Why a sync's credentials Secret gave no token.
#[derive(Debug, thiserror::Error)]
enum CredentialsError {
    #[error(
        "reading the credentials Secret {secret}: {}",
        crate::cluster::describe_unnamed(source)
    )]
    Unreadable { secret: String, source: kube::Error },
    #[error("the credentials Secret {secret} has no key `token`")]
    NoToken { secret: String },
}
