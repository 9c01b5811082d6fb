//! Leader election on a `coordination.k8s.io/v1` Lease, so two replicas never apply at once.
//!
//! The algorithm is client-go's: the holder renews `renewTime` every `retry` with an update
//! that carries the Lease's resourceVersion (a lost race is a 409, never a double holder).
//! Another replica takes over only after the record it observed has not changed for the
//! Lease's duration, measured on its own clock, so clock skew between nodes does not matter.
//! A holder that cannot renew within `renew_deadline` (shorter than the duration) stops
//! acting as leader before anyone else may start. On shutdown the holder releases the Lease
//! so a standby takes over at once.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    /// This replica's identity (pod name, else host and pid).
    pub identity: String,
    /// How long a holder's claim lasts without renewal.
    pub duration: Duration,
    /// A holder that has not renewed for this long stops leading (< duration).
    pub renew_deadline: Duration,
    /// How often to renew or to try to acquire.
    pub retry: Duration,
}

impl LeaseConfig {
    /// Timings derived from the duration the way client-go's defaults relate (15s/10s/2s).
    pub fn with_duration(
        name: String,
        namespace: String,
        identity: String,
        duration: Duration,
    ) -> Self {
        LeaseConfig {
            name,
            namespace,
            identity,
            duration,
            renew_deadline: duration.mul_f64(2.0 / 3.0),
            retry: (duration / 7).max(Duration::from_millis(200)),
        }
    }
}

/// Where this replica stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Not known yet (starting, or the Lease cannot be read).
    Candidate,
    /// Holds the Lease: reconciles.
    Leader,
    /// Another replica holds the Lease: stands by.
    Follower,
}

/// The part of a Lease the decision depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub holder: Option<String>,
    pub duration: Duration,
    pub resource_version: String,
    pub renew_time: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No Lease yet: create it with us as holder.
    Create,
    /// We hold it: renew.
    Renew,
    /// Free or expired: take it over.
    TakeOver,
    /// Someone else holds it.
    Follow { holder: String },
}

/// What to do, given the current record, when we first saw it in this exact state
/// (`observed_at`) and now.
pub fn decide(record: Option<&Record>, me: &str, observed_at: Instant, now: Instant) -> Decision {
    let Some(record) = record else {
        return Decision::Create;
    };
    match record.holder.as_deref() {
        None | Some("") => Decision::TakeOver,
        Some(holder) if holder == me => Decision::Renew,
        Some(holder) => {
            if now.saturating_duration_since(observed_at) >= record.duration {
                Decision::TakeOver
            } else {
                Decision::Follow {
                    holder: holder.to_string(),
                }
            }
        }
    }
}

/// A leader's round must end by `last_renew + renew_deadline`, when it stops leading anyway;
/// anyone else's round gets the whole renew deadline.
fn attempt_budget(last_renew: Option<Instant>, renew_deadline: Duration, now: Instant) -> Duration {
    match last_renew {
        Some(at) => (at + renew_deadline).saturating_duration_since(now),
        None => renew_deadline,
    }
}

fn record_of(lease: &Lease) -> Record {
    let spec = lease.spec.clone().unwrap_or_default();
    Record {
        holder: spec.holder_identity,
        duration: Duration::from_secs(spec.lease_duration_seconds.unwrap_or(15).max(1) as u64),
        resource_version: lease.metadata.resource_version.clone().unwrap_or_default(),
        renew_time: spec.renew_time.map(|t| t.0.to_string()),
    }
}

/// Runs the election until `shutdown`, publishing leadership on the returned channel; then
/// releases the Lease if held. Await the returned task to be sure the release happened.
pub fn spawn(
    client: kube::Client,
    config: LeaseConfig,
    mut shutdown: watch::Receiver<bool>,
) -> (watch::Receiver<Role>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(Role::Candidate);
    let task = tokio::spawn(async move {
        let api: Api<Lease> = Api::namespaced(client, &config.namespace);
        let mut elector = Elector {
            api,
            config,
            observed: None,
            last_renew: None,
            leading: false,
        };
        loop {
            // Every attempt is bounded: a leader by what is left of its renew deadline, so a
            // server that stops answering (or answers slowly) makes it step down before the
            // Lease can expire and a standby take over; a candidate by the renew deadline.
            let budget = elector.attempt_budget(Instant::now());
            let role = match tokio::time::timeout(budget, elector.step()).await {
                Ok(role) => role,
                Err(_) => {
                    tracing::warn!(
                        lease = %elector.config.name,
                        "no answer about the leader Lease within {}",
                        humantime::format_duration(budget)
                    );
                    elector.keep_if_fresh(Instant::now())
                }
            };
            tx.send_if_modified(|current| {
                let changed = *current != role;
                *current = role;
                changed
            });
            tokio::select! {
                _ = tokio::time::sleep(elector.config.retry) => {}
                _ = shutdown.changed() => break,
            }
        }
        let _ = tx.send(Role::Candidate);
        if elector.leading {
            elector.release().await;
        }
    });
    (rx, task)
}

struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    /// The record last seen and when it was first seen in that state.
    observed: Option<(Record, Instant)>,
    /// When we last renewed successfully.
    last_renew: Option<Instant>,
    leading: bool,
}

impl Elector {
    /// One round; returns whether we lead afterwards.
    async fn step(&mut self) -> Role {
        let now = Instant::now();
        let current = match self.api.get_opt(&self.config.name).await {
            Ok(found) => found,
            Err(err) => {
                tracing::warn!(lease = %self.config.name, error = %crate::cluster::describe_unnamed(&err), "reading the leader Lease");
                return self.keep_if_fresh(now);
            }
        };
        let record = current.as_ref().map(record_of);
        if let Some(record) = &record {
            let unchanged = self
                .observed
                .as_ref()
                .is_some_and(|(seen, _)| seen == record);
            if !unchanged {
                self.observed = Some((record.clone(), now));
            }
        }
        let observed_at = self.observed.as_ref().map(|(_, at)| *at).unwrap_or(now);
        let decision = decide(record.as_ref(), &self.config.identity, observed_at, now);
        let result = match (&decision, current) {
            (Decision::Create, _) => self.create().await,
            (Decision::Renew, Some(lease)) => self.update(lease, false).await,
            (Decision::TakeOver, Some(lease)) => self.update(lease, true).await,
            (Decision::Follow { holder }, _) => {
                if self.leading {
                    tracing::warn!(holder, "lost the leader Lease");
                }
                self.leading = false;
                return Role::Follower;
            }
            _ => return Role::Candidate,
        };
        match result {
            Ok(()) => {
                if !self.leading {
                    tracing::info!(
                        lease = %self.config.name,
                        identity = %self.config.identity,
                        "acquired the leader Lease"
                    );
                }
                self.leading = true;
                self.last_renew = Some(now);
                Role::Leader
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                // Someone else wrote the Lease first: they win this round.
                self.leading = false;
                Role::Follower
            }
            Err(err) => {
                tracing::warn!(lease = %self.config.name, error = %crate::cluster::describe_unnamed(&err), "updating the leader Lease");
                self.keep_if_fresh(now)
            }
        }
    }

    /// How long the next round may take.
    fn attempt_budget(&self, now: Instant) -> Duration {
        attempt_budget(
            self.leading.then_some(self.last_renew).flatten(),
            self.config.renew_deadline,
            now,
        )
    }

    /// After a failed round: keep leading only while the last renewal is recent enough that
    /// nobody else can have taken over.
    fn keep_if_fresh(&mut self, now: Instant) -> Role {
        let fresh = self
            .last_renew
            .is_some_and(|at| now.saturating_duration_since(at) < self.config.renew_deadline);
        if self.leading && !fresh {
            tracing::warn!("could not renew the leader Lease in time; stepping down");
        }
        self.leading = self.leading && fresh;
        if self.leading {
            Role::Leader
        } else {
            Role::Candidate
        }
    }

    fn spec(&self, acquire: bool, previous: Option<&LeaseSpec>) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        let transitions = previous.and_then(|s| s.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(self.config.duration.as_secs().max(1) as i32),
            acquire_time: if acquire {
                Some(now.clone())
            } else {
                previous.and_then(|s| s.acquire_time.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if acquire && previous.is_some() {
                transitions + 1
            } else {
                transitions
            }),
            ..LeaseSpec::default()
        }
    }

    async fn create(&self) -> kube::Result<()> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.config.name.clone()),
                namespace: Some(self.config.namespace.clone()),
                labels: Some(
                    [(
                        "app.kubernetes.io/managed-by".to_string(),
                        "kubectl-gitops".to_string(),
                    )]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            spec: Some(self.spec(true, None)),
        };
        self.api.create(&PostParams::default(), &lease).await?;
        Ok(())
    }

    /// Replace carrying the resourceVersion we read: a concurrent writer makes this a 409.
    async fn update(&self, mut lease: Lease, acquire: bool) -> kube::Result<()> {
        lease.spec = Some(self.spec(acquire, lease.spec.as_ref()));
        self.api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await?;
        Ok(())
    }

    /// Gives the Lease up so a standby can take over without waiting for it to expire.
    async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.config.name, "released the leader Lease"),
            Err(err) => tracing::warn!(
                error = %crate::cluster::describe_unnamed(&err),
                "releasing the leader Lease"
            ),
        }
    }
}

/// This replica's default identity: `$POD_NAME`, else the host name and process id.
pub fn default_identity() -> String {
    if let Ok(pod) = std::env::var("POD_NAME")
        && !pod.is_empty()
    {
        return pod;
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "unknown-host".into());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaders_attempt_ends_by_its_renew_deadline() {
        let deadline = Duration::from_secs(10);
        let start = Instant::now();
        let renewed = Some(start);
        assert_eq!(attempt_budget(renewed, deadline, start), deadline);
        assert_eq!(
            attempt_budget(renewed, deadline, start + Duration::from_secs(7)),
            Duration::from_secs(3)
        );
        // Past the deadline there is no time left: the round ends at once and it steps down.
        assert_eq!(
            attempt_budget(renewed, deadline, start + Duration::from_secs(11)),
            Duration::ZERO
        );
        assert_eq!(attempt_budget(None, deadline, start), deadline);
        // Well within the Lease: a standby waits the whole duration (15s) before taking over.
        let config =
            LeaseConfig::with_duration("l".into(), "n".into(), "i".into(), Duration::from_secs(15));
        assert!(config.renew_deadline < config.duration);
    }

    fn record(holder: Option<&str>) -> Record {
        Record {
            holder: holder.map(str::to_string),
            duration: Duration::from_secs(15),
            resource_version: "1".into(),
            renew_time: None,
        }
    }

    #[test]
    fn a_missing_lease_is_created_and_our_own_is_renewed() {
        let now = Instant::now();
        assert_eq!(decide(None, "a", now, now), Decision::Create);
        assert_eq!(
            decide(Some(&record(Some("a"))), "a", now, now),
            Decision::Renew
        );
    }

    #[test]
    fn another_holder_is_followed_until_its_record_goes_stale() {
        let seen = Instant::now();
        let r = record(Some("b"));
        assert_eq!(
            decide(Some(&r), "a", seen, seen + Duration::from_secs(14)),
            Decision::Follow { holder: "b".into() }
        );
        assert_eq!(
            decide(Some(&r), "a", seen, seen + Duration::from_secs(15)),
            Decision::TakeOver
        );
    }

    #[test]
    fn a_released_lease_is_taken_at_once() {
        let now = Instant::now();
        assert_eq!(
            decide(Some(&record(None)), "a", now, now),
            Decision::TakeOver
        );
        assert_eq!(
            decide(Some(&record(Some(""))), "a", now, now),
            Decision::TakeOver
        );
    }

    #[test]
    fn timings_follow_client_go_proportions() {
        let c = LeaseConfig::with_duration(
            "l".into(),
            "ns".into(),
            "me".into(),
            Duration::from_secs(15),
        );
        assert_eq!(c.renew_deadline, Duration::from_secs(10));
        assert!(c.retry >= Duration::from_secs(2) && c.retry < c.renew_deadline);
    }
}
