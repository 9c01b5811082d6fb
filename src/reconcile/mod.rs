//! `kubectl gitops reconcile`: the pipeline, continuously.
//!
//! Every `interval` (and at once when a managed object drifts) the leader fetches the ref,
//! renders PATH at that commit, plans against the cluster and applies, pruning only after a
//! fully clean apply. A failure keeps the last good state and is retried with backoff. Status
//! goes to a ConfigMap beside the ApplySet parent, Events to the parent, metrics and probes to
//! `--listen`.
//!
//! This file is the loop; `status` is the ConfigMap and `debounce` the delay after drift. The
//! cycle, watches, Events, lease and endpoints are the runtime it shares with the controller
//! (`crate::runtime`); fetching and reading a commit's files are the source's (`source::git`,
//! `source::tree`).

mod debounce;
pub mod status;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use gix::ObjectId;
use k8s_openapi::jiff::Timestamp;
use tokio::sync::{mpsc, watch};

pub use debounce::Debouncer;

use status::Status;

use crate::runtime::cycle::{self, Cycle, Outcome, Reconciler, Trigger};
use crate::runtime::events::{self, Kind, Recorder};
use crate::runtime::lease::{self, Role};
use crate::runtime::metrics::Metrics;
use crate::runtime::serve::{self, Endpoints, Health};
use crate::runtime::{Backoff, DriftMode, STOP_WAIT, wait_for_signal};
use crate::runtime::{drift, drift_report};

use crate::source::redact;

/// Settings of the loop around the cycles.
#[derive(Debug, Clone)]
pub struct LoopConfig {
    pub interval: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Quiet time after a drift event before re-planning.
    pub debounce: Duration,
    pub listen: Option<SocketAddr>,
    /// None: no leader election (a single replica that always leads).
    pub lease: Option<lease::LeaseConfig>,
    /// How long a cycle in progress may finish after SIGTERM before it is abandoned.
    pub shutdown_grace: Duration,
    /// This replica's identity, for status and Events.
    pub identity: String,
    /// Drift watches on (the default) or off.
    pub watch: bool,
}

/// Shared handles the loop hands to its helpers.
struct Loop {
    reconciler: Arc<Reconciler>,
    config: LoopConfig,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    events: Recorder,
    status: Status,
    /// The last revision rendered, planned and (at least partly) applied: drift corrections
    /// re-apply it, so a bad newer commit never replaces it.
    deployed: Option<ObjectId>,
    last_error: Option<String>,
    backoff: Backoff,
    /// With `--drift report`: what differs from git and is left as it is, by object.
    drifted: std::collections::BTreeMap<crate::object::ObjectRef, drift_report::Drifted>,
}

/// Runs until SIGTERM or SIGINT; returns Ok after a clean shutdown.
pub async fn run(reconciler: Reconciler, config: LoopConfig) -> Result<()> {
    let reconciler = Arc::new(reconciler);
    let client = reconciler.cluster.client.clone();
    let (shutdown_tx, mut shutdown) = watch::channel(false);
    // Helpers (the endpoint, the Lease) stop only after the loop is done, so a cycle finishing
    // during the grace period still holds the Lease.
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = shutdown_tx.send(true);
    });

    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    health.beat();
    let endpoints = Endpoints {
        health: health.clone(),
        metrics: metrics.clone(),
        stale_after: config.interval * 3 + reconciler.fetch_timeout + Duration::from_secs(600),
    };
    let server = serve::start(config.listen, endpoints, stop.clone()).await?;

    let (mut leading, lease_task) = match &config.lease {
        Some(lease_config) => {
            let (rx, task) = lease::spawn(client.clone(), lease_config.clone(), stop.clone());
            (rx, Some(task))
        }
        None => {
            let (tx, rx) = watch::channel(Role::Leader);
            // Keep the sender alive for the whole run.
            tokio::spawn(async move {
                tx.closed().await;
            });
            (rx, None)
        }
    };

    mirror_leadership(leading.clone(), metrics.clone());

    let status = Status {
        repository: reconciler.git.display_url().to_string(),
        reference: reconciler.git.reference().to_string(),
        path: reconciler.path.to_string_lossy().into_owned(),
        leader: config.identity.clone(),
        drift_mode: reconciler.drift.to_string(),
        ..Status::default()
    };
    if reconciler.drift == DriftMode::Report {
        // What a restarted reconciler applied last: a new commit's changes are told from
        // drift against it.
        let applied = status::read(&client, &reconciler.set)
            .await
            .ok()
            .flatten()
            .and_then(|s| ObjectId::from_hex(s.last_applied_revision.as_bytes()).ok());
        let mut slot = reconciler.applied.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = applied;
        }
    }
    let events = Recorder::new(
        client.clone(),
        reconciler.set.clone(),
        config.identity.clone(),
    );
    let (drift_tx, mut drift_rx) = mpsc::channel(1024);
    let mut watches = drift::Watches::new(client.clone(), &reconciler.set.id(), drift_tx);
    let mut this = Loop {
        backoff: Backoff::new(config.backoff_initial, config.backoff_max),
        reconciler: reconciler.clone(),
        config,
        metrics,
        health,
        events,
        status,
        deployed: None,
        last_error: None,
        drifted: Default::default(),
    };
    let mut debouncer = Debouncer::new(this.config.debounce, this.config.debounce * 10);
    // What drifted since the last cycle; `resync` when a watch restarted and anything may have.
    let mut drifted: BTreeSet<drift::ObjectKey> = BTreeSet::new();
    let mut resync = false;
    let mut next_full = Instant::now();
    let heartbeat = Duration::from_secs(10);

    tracing::info!(
        repository = %reconciler.git.display_url(),
        reference = %reconciler.git.reference(),
        path = %reconciler.path.display(),
        applyset = %reconciler.set,
        interval = %humantime::format_duration(this.config.interval),
        "reconciler started"
    );

    'outer: loop {
        this.health.beat();
        if *shutdown.borrow() {
            break;
        }
        if *leading.borrow() != Role::Leader {
            watches.stop_all();
            tracing::info!("waiting to become the leader");
            loop {
                // Ready as a standby only once another replica is known to lead.
                this.health
                    .set_standby(*leading.borrow_and_update() == Role::Follower);
                tokio::select! {
                    _ = shutdown.changed() => break 'outer,
                    changed = leading.changed() => {
                        if changed.is_err() { break 'outer; }
                        if *leading.borrow() == Role::Leader { break; }
                    }
                    _ = tokio::time::sleep(heartbeat) => this.health.beat(),
                }
            }
            this.health.set_standby(false);
            tracing::info!("leading: reconciling");
            next_full = Instant::now();
            while drift_rx.try_recv().is_ok() {}
            debouncer.take();
            drifted.clear();
            resync = false;
            continue;
        }

        let now = Instant::now();
        let mut wake = next_full;
        if let Some(deadline) = debouncer.deadline() {
            wake = wake.min(deadline);
        }
        if wake > now {
            tokio::select! {
                _ = shutdown.changed() => break,
                changed = leading.changed() => {
                    if changed.is_err() { break; }
                    continue;
                }
                drift = drift_rx.recv() => {
                    if let Some(drift) = drift {
                        match drift.object {
                            Some(object) => {
                                tracing::debug!(%object, what = drift.what, "drift");
                                drifted.insert(object);
                            }
                            None => resync = true,
                        }
                        debouncer.poke(Instant::now());
                    }
                    continue;
                }
                _ = tokio::time::sleep_until(wake.min(now + heartbeat).into()) => continue,
            }
        }

        let (cycle, trigger) = if now >= next_full {
            (Cycle::Latest, Trigger::Interval)
        } else {
            match this.deployed {
                Some(commit) if resync => (Cycle::Revision(commit), Trigger::Drift),
                Some(commit) => (Cycle::Objects(commit, drifted.clone()), Trigger::Drift),
                None => (Cycle::Latest, Trigger::Drift),
            }
        };
        let drift_events = debouncer.take();
        if trigger == Trigger::Drift {
            let objects: Vec<String> = drifted.iter().take(5).map(ToString::to_string).collect();
            tracing::info!(
                events = drift_events,
                objects = %objects.join(", "),
                resync,
                "managed objects changed outside git; re-planning them"
            );
        }
        // Every kind of cycle covers the drift seen so far.
        drifted.clear();
        resync = false;

        // What the cycle teaches the scrubber lasts until it is recorded: values that left
        // git are not kept for the life of the process.
        let _scrub_cycle = crate::scrub::cycle();
        let cycle = reconciler.run(cycle);
        tokio::pin!(cycle);
        let mut abandoned = false;
        let outcome = tokio::select! {
            outcome = &mut cycle => Some(outcome),
            _ = shutdown.changed() => {
                match tokio::time::timeout(this.config.shutdown_grace, &mut cycle).await {
                    Ok(outcome) => Some(outcome),
                    Err(_) => {
                        // Past the grace the cycle stops between writes: what is in flight is
                        // answered, nothing more is sent, and what was not sent fails (so
                        // nothing is pruned); the cycle then ends and is recorded as usual.
                        tracing::warn!(
                            "shutdown grace over: the writes in flight finish, no further one \
                             is sent, nothing is pruned"
                        );
                        crate::cluster::stop::request();
                        match tokio::time::timeout(STOP_WAIT, &mut cycle).await {
                            Ok(outcome) => Some(outcome),
                            Err(_) => { abandoned = true; None }
                        }
                    }
                }
            }
            _ = wait_until_not_leading(&mut leading) => { abandoned = true; None }
        };
        let Some(outcome) = outcome else {
            if abandoned {
                tracing::warn!("cycle abandoned (shutdown or lost leadership); nothing is pruned");
            }
            continue;
        };
        // Reporting writes to the cluster too: a server that stalls now must not keep a
        // replica that lost the Lease writing status and Events over the new leader's.
        let delay = tokio::select! {
            delay = this.record(&outcome, trigger) => delay,
            _ = wait_until_not_leading(&mut leading) => {
                tracing::warn!("lost leadership while reporting the cycle; its status is not written");
                continue;
            }
        };
        if this.config.watch && outcome.executed && !outcome.partial {
            watches.sync(&outcome.watch);
        }
        if trigger == Trigger::Interval || outcome.error.is_some() {
            next_full = Instant::now() + delay;
        }
    }

    watches.stop_all();
    let _ = stop_tx.send(true);
    if let Some(task) = lease_task {
        // The election loop releases the Lease before it ends.
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    if let Some(server) = server {
        let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Keeps the leader gauge equal to the election's answer, whatever the loop is busy with.
fn mirror_leadership(mut role: watch::Receiver<Role>, metrics: Arc<Metrics>) {
    tokio::spawn(async move {
        loop {
            metrics.set_leader(*role.borrow_and_update() == Role::Leader);
            if role.changed().await.is_err() {
                metrics.set_leader(false);
                return;
            }
        }
    });
}

async fn wait_until_not_leading(leading: &mut watch::Receiver<Role>) {
    loop {
        if *leading.borrow_and_update() != Role::Leader {
            return;
        }
        if leading.changed().await.is_err() {
            return;
        }
    }
}

impl Loop {
    /// Logs, counts and reports a finished cycle; returns the delay until the next full cycle.
    async fn record(&mut self, outcome: &Outcome, trigger: Trigger) -> Duration {
        let revision = outcome.revision.map(|r| r.to_string()).unwrap_or_default();
        let now = Timestamp::now();
        let now = now
            .round(k8s_openapi::jiff::Unit::Second)
            .unwrap_or(now)
            .to_string();
        self.metrics
            .observe_cycle(trigger.as_str(), outcome.duration.as_secs_f64());
        // A write while the revision is the one already applied puts back a change made
        // outside git.
        let corrections = if !revision.is_empty() && revision == self.status.last_applied_revision {
            outcome.created.len() + outcome.updated.len()
        } else {
            0
        };
        if outcome.executed && !outcome.partial {
            self.deployed = outcome.revision;
            self.metrics.set_managed(outcome.managed as u64);
        }

        let status = &mut self.status;
        status.cycles += 1;
        status.last_attempted_revision = revision.clone();
        status.last_attempted_time = now.clone();
        if outcome.executed && !outcome.partial {
            status.objects_managed = outcome.managed as u64;
        }
        if outcome.executed {
            status.last_created = outcome.created.len() as u64;
            status.last_updated = outcome.updated.len() as u64;
            status.last_pruned = outcome.pruned.len() as u64;
            status.last_unchanged = outcome.unchanged as u64;
        }
        status.drift_corrections += corrections as u64;
        if corrections > 0 {
            self.metrics.drift_corrected(corrections as u64);
        }

        let delay;
        match &outcome.error {
            None => {
                status.last_result = Some(status::CycleResult::Succeeded);
                status.last_applied_revision = revision.clone();
                status.last_applied_time = now;
                status.last_error.clear();
                status.consecutive_failures = 0;
                self.backoff.reset();
                self.last_error = None;
                self.health.set_ready();
                let unix = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                self.metrics.succeeded(unix);
                delay = self.config.interval;
                tracing::info!(
                    trigger = trigger.as_str(),
                    revision = %status::short_revision(&revision),
                    created = outcome.created.len(),
                    updated = outcome.updated.len(),
                    pruned = outcome.pruned.len(),
                    unchanged = outcome.unchanged,
                    hooks = outcome.hooks.len(),
                    drift_corrected = corrections,
                    duration_ms = outcome.duration.as_millis() as u64,
                    "cycle succeeded"
                );
            }
            Some(error) => {
                delay = self.backoff.fail();
                status.last_result = Some(status::CycleResult::Failed);
                status.last_error = redact::truncate(&error.to_string(), 4096);
                status.consecutive_failures = u64::from(self.backoff.failures());
                self.metrics.failed(error.stage.as_str());
                tracing::warn!(
                    trigger = trigger.as_str(),
                    revision = %status::short_revision(&revision),
                    stage = error.stage.as_str(),
                    error = %error.message,
                    retry_in_ms = delay.as_millis() as u64,
                    "cycle failed; keeping the last good state"
                );
            }
        }

        let snapshot = self.status.clone();
        let client = self.reconciler.cluster.client.clone();
        if let Err(err) = status::write(&client, &self.reconciler.set, &snapshot).await {
            tracing::warn!(error = %crate::cluster::refusal::one_line(&err), "could not write the status ConfigMap");
        }
        let newly_drifted = self.record_drift(outcome);
        self.publish_events(outcome, corrections).await;
        if newly_drifted {
            self.publish_drift(outcome).await;
        }
        delay
    }

    /// With `--drift report`: updates what differs from git (a whole cycle replaces it, a
    /// partial one settles the objects it planned) in the status and the metric. True when
    /// the list changed and is not empty, so an Event should say so.
    fn record_drift(&mut self, outcome: &Outcome) -> bool {
        if self.reconciler.drift != DriftMode::Report || !outcome.executed {
            return false;
        }
        if outcome.partial {
            for object in &outcome.checked {
                self.drifted.remove(object);
            }
        } else {
            self.drifted.clear();
        }
        for drifted in &outcome.drifted {
            self.drifted.insert(drifted.object.clone(), drifted.clone());
        }
        let text: Vec<String> = self.drifted.values().map(ToString::to_string).collect();
        let text = redact::truncate(&text.join("\n"), 4096);
        let changed = text != self.status.drifted;
        self.status.drifted = text;
        self.status.drifted_objects = self.drifted.len() as u64;
        self.metrics.set_drifted(self.drifted.len() as u64);
        changed && !self.drifted.is_empty()
    }

    async fn publish_drift(&mut self, outcome: &Outcome) {
        let revision = outcome
            .revision
            .map(|r| status::short_revision(&r.to_string()).to_string())
            .unwrap_or_else(|| "-".into());
        let objects: Vec<String> = self
            .drifted
            .values()
            .take(10)
            .map(ToString::to_string)
            .collect();
        let more = self.drifted.len().saturating_sub(10);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        tracing::warn!(
            objects = self.drifted.len(),
            drifted = %objects.join("; "),
            "managed objects differ from git; left as they are (--drift report)"
        );
        self.events
            .publish(
                Kind::Warning,
                "DriftDetected",
                &format!(
                    "{} object(s) differ from git at {revision} and are left as they are \
                     (--drift report): {}{more}",
                    self.drifted.len(),
                    objects.join("; ")
                ),
            )
            .await;
    }

    async fn publish_events(&mut self, outcome: &Outcome, corrections: usize) {
        let revision = outcome
            .revision
            .map(|r| status::short_revision(&r.to_string()).to_string())
            .unwrap_or_else(|| "-".into());
        let list = |objects: &[crate::object::ObjectRef]| events::object_list(objects);
        if corrections > 0 {
            let changed: Vec<_> = outcome
                .created
                .iter()
                .chain(&outcome.updated)
                .cloned()
                .collect();
            self.events
                .publish(
                    Kind::Normal,
                    "DriftCorrected",
                    &format!(
                        "Put back {} object(s) changed outside git at {revision}: {}",
                        corrections,
                        list(&changed)
                    ),
                )
                .await;
        } else if !outcome.created.is_empty() || !outcome.updated.is_empty() {
            self.events
                .publish(
                    Kind::Normal,
                    "Applied",
                    &format!(
                        "Applied {revision}: {} created, {} updated ({}){}",
                        outcome.created.len(),
                        outcome.updated.len(),
                        list(
                            &outcome
                                .created
                                .iter()
                                .chain(&outcome.updated)
                                .cloned()
                                .collect::<Vec<_>>()
                        ),
                        events::hooks_ran(&outcome.hooks)
                    ),
                )
                .await;
        }
        if !outcome.pruned.is_empty() {
            self.events
                .publish(
                    Kind::Normal,
                    "Pruned",
                    &format!(
                        "Pruned {} object(s) that left git at {revision}: {}",
                        outcome.pruned.len(),
                        list(&outcome.pruned)
                    ),
                )
                .await;
        }
        match &outcome.error {
            Some(error) => {
                let text = error.to_string();
                // One Event per distinct failure, not one per retry.
                if self.last_error.as_deref() != Some(text.as_str()) {
                    let (reason, message) = match error.stage {
                        cycle::Stage::Prune => (
                            "PruneBlocked",
                            format!("Applied {revision} except its prunes. {text}"),
                        ),
                        _ => (
                            "ReconcileFailed",
                            format!(
                                "Reconciling {revision} failed; the last good state is kept and nothing was pruned. {text}"
                            ),
                        ),
                    };
                    self.events.publish(Kind::Warning, reason, &message).await;
                    self.last_error = Some(text);
                }
            }
            None => self.last_error = None,
        }
    }
}
