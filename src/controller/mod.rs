//! `kubectl gitops controller`: many GitSyncs, one process, on kube-runtime's `Controller`
//! (one watch on GitSyncs, a deduplicating work queue, a requeue per sync at its interval,
//! bounded concurrency). Each sync runs the reconciler's cycle, as its own ServiceAccount,
//! from a git cache shared by every sync of the same repository and ref.
//!
//! Replicas of one shard elect a leader on a Lease (`runtime::lease`); shards split the
//! syncs by the `kubectl-gitops.io/shard` label, so no sync is applied by two controllers.
//!
//! Modules, one job each: `crd` (the API), `status` (verdict -> conditions, when a sync is
//! due), `reason` (the reasons conditions and Events give), `sources` (the shared git
//! caches), `access` (what a sync's account may do, asked as it), `spec` (a spec checked, and
//! the reconciler it runs: shared with `kubectl gitops reconcile`), `resolve` (a spec resolved
//! to its account and ApplySet), `context` (what every reconcile shares, and who holds a set),
//! `sync` (one sync's reconcile: due or not), `dependencies` (`dependsOn`), `run` (the
//! pipeline for a due sync), `rollout` (`spec.wait`: the workloads of an apply followed to
//! Current), `record` (status, Events, metrics), `finalize` (the finalizer and pruning on
//! delete), `shard` (selectors and Lease names), `slots` (the sync slots,
//! shared fairly between namespaces), `metrics`, `manifests` (what `install --controller`
//! prints), `deployment` (the Deployment `install` prints for the controller and the
//! reconciler alike).

mod access;
pub mod context;
pub mod crd;
mod dependencies;
pub mod deployment;
mod drift;
mod events;
mod finalize;
pub mod manifests;
mod metrics;
pub mod reason;
mod record;
mod resolve;
mod rewatch;
mod rollout;
mod run;
pub mod shard;
mod slots;
pub mod sources;
pub mod spec;
pub mod status;
pub mod sync;
mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;
use kube::Api;
use kube::runtime::controller::Controller;
use kube::runtime::{WatchStreamExt, reflector, watcher};

use crate::cluster::Cluster;
use crate::runtime::lease::{self, LeaseConfig, Role};
use crate::runtime::serve::{self, Endpoints, Health};
use crd::GitSync;
use metrics::ControllerMetrics;
use sources::Sources;

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The shard this controller owns (None: the syncs no shard owns).
    pub shard: Option<String>,
    /// Watch GitSyncs in this namespace only (None: every namespace).
    pub watch_namespace: Option<String>,
    /// Syncs reconciled at once, shared fairly between namespaces (`slots`).
    pub concurrency: u16,
    pub settings: context::Settings,
    /// Where the git caches live.
    pub cache_dir: PathBuf,
    pub listen: Option<SocketAddr>,
    /// None: no leader election (a single replica).
    pub lease: Option<LeaseConfig>,
    /// This replica's identity, for the Lease and Events.
    pub identity: String,
    /// After SIGTERM, how long reconciles in progress may take to finish.
    pub shutdown_grace: Duration,
    /// Watch managed objects and put drift back at once (else at the interval).
    pub watch: bool,
    /// Syncs may name `file://` URLs and local paths (never the git caches).
    pub allow_file_sources: bool,
    /// What each render may spend: a GitSync's `spec.renderLimits` may ask for less.
    pub render_limits: crate::render::limits::Limits,
}

/// The tenants the sync slots are shared between: the namespaces holding a GitSync that is
/// not suspended.
fn tenants(syncs: &[Arc<GitSync>]) -> usize {
    let mut namespaces: Vec<&str> = syncs
        .iter()
        .filter(|s| !s.spec.suspend)
        .filter_map(|s| s.metadata.namespace.as_deref())
        .collect();
    namespaces.sort_unstable();
    namespaces.dedup();
    namespaces.len()
}

/// Runs until SIGTERM or SIGINT.
pub async fn run(cluster: Cluster, config: ControllerConfig) -> Result<()> {
    // Its own requests and every account's share one bounded connection pool.
    let cluster = cluster.pooled()?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let (shutdown_tx, mut shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        crate::runtime::wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = shutdown_tx.send(true);
    });

    let metrics = Arc::new(ControllerMetrics::new());
    let health = Arc::new(Health::default());
    health.beat();
    let endpoints = Endpoints {
        health: health.clone(),
        metrics: metrics.clone(),
        stale_after: Duration::from_secs(120),
    };
    let server = serve::start(config.listen, endpoints, stop.clone()).await?;
    // The queue runs on its own; the heartbeat says the process is alive and not wedged.
    {
        let health = health.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            loop {
                health.beat();
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                    _ = stop.changed() => return,
                }
            }
        });
    }

    let (mut leading, lease_task) = match &config.lease {
        Some(lease_config) => {
            let (rx, task) =
                lease::spawn(cluster.client.clone(), lease_config.clone(), stop.clone());
            (rx, Some(task))
        }
        None => {
            let (tx, rx) = tokio::sync::watch::channel(Role::Leader);
            tokio::spawn(async move { tx.closed().await });
            (rx, None)
        }
    };
    let mut render = crate::render::target::options_for(&cluster).await?;
    // Charts pulled for every sync are stored under --cache-dir, never under $HOME (the
    // shipped Deployment's HOME is /tmp).
    render.helm.cache_dir = Some(config.cache_dir.join("helm"));
    render.limits = crate::render::RenderLimits::for_sync(
        crate::render::limits::Requested::default(),
        config.render_limits,
    );
    let selector = shard::selector(config.shard.as_deref());
    tracing::info!(
        shard = config.shard.as_deref().unwrap_or("(none)"),
        selector = %selector,
        namespace = config.watch_namespace.as_deref().unwrap_or("(all)"),
        concurrency = config.concurrency,
        "controller started"
    );

    'terms: loop {
        // Stand by until this replica leads its shard.
        while *leading.borrow_and_update() != Role::Leader {
            metrics.set_leader(false);
            health.set_standby(*leading.borrow() == Role::Follower);
            tokio::select! {
                _ = shutdown.changed() => break 'terms,
                changed = leading.changed() => if changed.is_err() { break 'terms },
            }
        }
        health.set_standby(false);
        metrics.set_leader(true);
        tracing::info!("leading: reconciling GitSyncs");

        let api: Api<GitSync> = match &config.watch_namespace {
            Some(ns) => Api::namespaced(cluster.client.clone(), ns),
            None => Api::all(cluster.client.clone()),
        };
        let watch_config = watcher::Config::default().labels(&selector);
        // Ready once the GitSync watch has listed and while the API server answers.
        let readiness = Arc::new(watch::Readiness::new(health.clone()));
        let (probe_stop, probe_stopped) = tokio::sync::watch::channel(false);
        let probe = watch::probe(cluster.client.clone(), readiness.clone(), probe_stopped);
        let (store, writer) = reflector::store();
        let syncs = reflector::reflector(
            writer,
            watch::gitsyncs(api.clone(), watch_config.clone(), Some(readiness)),
        )
        .applied_objects();
        // The queue itself is unbounded: each reconcile waits for one of the slots, which
        // are shared between namespaces (one tenant's hanging renders hold its share only).
        let controller = Controller::for_stream(syncs, store.clone());
        let slots = {
            let store = store.clone();
            Arc::new(slots::Slots::new(
                usize::from(config.concurrency),
                Box::new(move || tenants(&store.state())),
            ))
        };
        // A sync that changes (its status turning Ready, above all) wakes the syncs that
        // depend on it, so `dependsOn` chains converge without waiting for a retry.
        let dependents = store.clone();
        let changes = watch::gitsyncs(api, watch_config, None).applied_objects();
        let controller = controller.watches_stream(changes, move |changed: GitSync| {
            let name = changed.metadata.name.clone().unwrap_or_default();
            let namespace = changed.metadata.namespace.clone().unwrap_or_default();
            dependents
                .state()
                .into_iter()
                .filter(|s| {
                    let own = s.metadata.namespace.clone().unwrap_or_default();
                    s.spec.depends_on.iter().any(|d| {
                        d.name == name && d.namespace.as_ref().unwrap_or(&own) == &namespace
                    })
                })
                .map(|s| kube::runtime::reflector::ObjectRef::from(&*s))
                .collect::<Vec<_>>()
        });
        // Drift events wake the sync whose ApplySet the changed object belongs to.
        let (drift, router) = if config.watch {
            let (watches, mut events) = drift::SharedWatches::new();
            let watches = Arc::new(watches);
            let (wake, woken) = tokio::sync::mpsc::channel(1024);
            let routing = watches.clone();
            let router = tokio::spawn(async move {
                while let Some((user, event)) = events.recv().await {
                    for target in routing.route(&user, &event) {
                        if wake.send(target).await.is_err() {
                            return;
                        }
                    }
                }
            });
            let woken = futures::stream::unfold(woken, |mut rx| async move {
                rx.recv().await.map(|target| (target, rx))
            });
            (Some((watches, woken)), Some(router))
        } else {
            (None, None)
        };
        let (drift, controller) = match drift {
            Some((watches, woken)) => (Some(watches), controller.reconcile_on(woken)),
            None => (None, controller),
        };
        let recorder =
            events::Recorder::new(cluster.client.clone(), "kubectl-gitops", &config.identity);
        // A fetch finding a new commit wakes the other syncs of its cache.
        let (news, told) = tokio::sync::mpsc::channel(1024);
        let controller = controller
            .reconcile_on(futures::stream::unfold(told, |mut rx| async move {
                rx.recv().await.map(|target| (target, rx))
            }));
        let context = Arc::new(context::Context::new(
            cluster.clone(),
            Sources::new(
                config.cache_dir.join("controller"),
                config.settings.fetch_timeout,
            )
            .allowing_files(config.allow_file_sources)
            .waking(news),
            config.settings.clone(),
            render.clone(),
            store,
            recorder,
            metrics.clone(),
            drift.clone(),
        ));
        // Series of syncs deleted or moved to another shard go too.
        let pruner = {
            let context = context.clone();
            let store = context.store.clone();
            let metrics = metrics.clone();
            let drift = drift.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    let syncs = store.state();
                    let keys = syncs.iter().map(|s| s.key()).collect();
                    metrics.retain(&keys);
                    context.sources.retain(&keys);
                    context.rollouts.retain(&keys);
                    if let Some(drift) = &drift {
                        let active = syncs.iter().filter(|s| !s.spec.suspend).map(|s| s.key());
                        drift.retain(&active.collect());
                    }
                }
            })
        };

        let mut lost = leading.clone();
        let mut graceful = shutdown.clone();
        let grace = config.shutdown_grace;
        let stream = controller
            .graceful_shutdown_on(async move {
                let _ = graceful.changed().await;
            })
            .run(
                move |sync, context| {
                    let slots = slots.clone();
                    async move {
                        let _slot = slots
                            .acquire(sync.metadata.namespace.as_deref().unwrap_or_default())
                            .await;
                        // What this sync's cycle teaches the scrubber goes when it and the
                        // cycles beside it have ended: tenants' values do not pile up for ever.
                        let _cycle = crate::scrub::cycle();
                        sync::reconcile(sync, context).await
                    }
                },
                sync::error_policy,
                context,
            )
            .for_each(|result| async move {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "controller");
                }
            });
        tokio::pin!(stream);
        let stopped_leading = async move {
            loop {
                if *lost.borrow_and_update() != Role::Leader {
                    return;
                }
                if lost.changed().await.is_err() {
                    return;
                }
            }
        };
        let lost_lease = tokio::select! {
            _ = &mut stream => false,
            _ = stopped_leading => true,
            _ = shutdown.changed() => {
                // No new reconcile starts; those running have the grace to finish. Past it,
                // they stop between writes as the reconciler's cycle does: what is in flight
                // is answered, nothing more is sent, and what was not sent fails (so nothing
                // is pruned); each sync then ends and records its status as usual.
                if tokio::time::timeout(grace, &mut stream).await.is_err() {
                    tracing::warn!(
                        "shutdown grace over: the writes in flight finish, no further one is \
                         sent, nothing is pruned"
                    );
                    crate::cluster::stop::request();
                    if tokio::time::timeout(crate::runtime::STOP_WAIT, &mut stream)
                        .await
                        .is_err()
                    {
                        tracing::warn!("syncs still running after the stop were abandoned; nothing is pruned");
                    }
                }
                false
            }
        };
        pruner.abort();
        let _ = probe_stop.send(true);
        probe.abort();
        if let Some(router) = router {
            router.abort();
        }
        if !lost_lease {
            break 'terms;
        }
        tracing::warn!(
            "lost the leader Lease; reconciles in progress are abandoned, nothing more is pruned"
        );
        metrics.set_leader(false);
    }

    let _ = stop_tx.send(true);
    if let Some(task) = lease_task {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    if let Some(server) = server {
        let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    }
    tracing::info!("stopped");
    Ok(())
}
