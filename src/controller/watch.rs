//! The GitSync watch and what readiness means.
//!
//! The watch is kube-runtime's watcher, restarted by us rather than retried by the Controller's
//! trigger backoff: after any failure it lists again (so the store and every sync are seen
//! afresh), at once when the server said the resource version expired (410), else after a
//! short backoff capped at a second, so syncs are handled within seconds of an API server
//! coming back, not after two backoffs of up to thirty seconds. Failures never reach the
//! Controller: its own backoff would hold back every trigger, drift and dependents included.
//!
//! Ready (`/readyz`) means able to reconcile: the GitSync watch has listed since its last
//! failure and the API server answers a probe. Liveness is not touched: an outage of the API
//! server never restarts the controller.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use kube::Api;
use kube::runtime::watcher;
use tokio::sync::watch as signal;
use tokio::task::JoinHandle;

use super::crd::GitSync;
use crate::runtime::Backoff;
use crate::runtime::serve::Health;

/// How often the API server is asked whether it answers, and how long an answer may take.
const PROBE_EVERY: Duration = Duration::from_secs(2);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The two halves of readiness; `/readyz` follows their conjunction.
pub struct Readiness {
    health: Arc<Health>,
    synced: AtomicBool,
    answering: AtomicBool,
    /// Whether the server was ever asked (the first answer is no news).
    probed: AtomicBool,
}

impl Readiness {
    /// Not ready until the watch has listed and the server has answered.
    pub fn new(health: Arc<Health>) -> Self {
        health.set_ready_to(false);
        Readiness {
            health,
            synced: AtomicBool::new(false),
            answering: AtomicBool::new(false),
            probed: AtomicBool::new(false),
        }
    }

    fn set_synced(&self, synced: bool) {
        self.synced.store(synced, Ordering::Relaxed);
        self.update();
    }

    fn set_answering(&self, answering: bool) {
        let was = self.answering.swap(answering, Ordering::Relaxed);
        let first = !self.probed.swap(true, Ordering::Relaxed);
        if was != answering && !(first && answering) {
            if answering {
                tracing::info!("the API server answers again");
            } else {
                tracing::warn!("the API server does not answer: not ready");
            }
        }
        self.update();
    }

    fn update(&self) {
        self.health.set_ready_to(
            self.synced.load(Ordering::Relaxed) && self.answering.load(Ordering::Relaxed),
        );
    }
}

/// Asks the API server for its version every [`PROBE_EVERY`] until `stop` turns true.
pub fn probe(
    client: kube::Client,
    readiness: Arc<Readiness>,
    mut stop: signal::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let answered = tokio::time::timeout(PROBE_TIMEOUT, client.apiserver_version())
                .await
                .is_ok_and(|answer| answer.is_ok());
            readiness.set_answering(answered);
            tokio::select! {
                _ = tokio::time::sleep(PROBE_EVERY) => {}
                _ = stop.changed() => return,
            }
        }
    })
}

/// Whether a watcher failure says the resource version it watched from is gone (410).
fn expired(err: &watcher::Error) -> bool {
    match err {
        watcher::Error::WatchError(status) => status.code == 410,
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => status.code == 410,
        _ => false,
    }
}

struct State {
    api: Api<GitSync>,
    config: watcher::Config,
    readiness: Option<Arc<Readiness>>,
    inner: BoxStream<'static, watcher::Result<watcher::Event<GitSync>>>,
    backoff: Backoff,
}

impl State {
    fn list_again(&mut self) {
        self.inner = watcher(self.api.clone(), self.config.clone()).boxed();
    }
}

/// The GitSyncs `api` and `config` select, as watcher events that never fail (see the module
/// doc); `readiness`, when given, learns whether the watch is synced.
pub fn gitsyncs(
    api: Api<GitSync>,
    config: watcher::Config,
    readiness: Option<Arc<Readiness>>,
) -> impl futures::Stream<Item = watcher::Result<watcher::Event<GitSync>>> + Send + 'static {
    let inner = watcher(api.clone(), config.clone()).boxed();
    let state = State {
        api,
        config,
        readiness,
        inner,
        backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(1)),
    };
    futures::stream::unfold(state, |mut state| async move {
        loop {
            match state.inner.next().await {
                Some(Ok(event)) => {
                    if matches!(event, watcher::Event::InitDone) {
                        state.backoff.reset();
                        if let Some(readiness) = &state.readiness {
                            readiness.set_synced(true);
                        }
                    }
                    return Some((Ok(event), state));
                }
                Some(Err(err)) => {
                    if let Some(readiness) = &state.readiness {
                        readiness.set_synced(false);
                    }
                    state.list_again();
                    if expired(&err) {
                        tracing::info!(
                            "the GitSync watch expired (410 Gone): listing GitSyncs again now"
                        );
                        state.backoff.reset();
                        continue;
                    }
                    let delay = state.backoff.fail();
                    if state.backoff.failures() == 1 {
                        tracing::warn!(error = %err, "the GitSync watch failed; listing again in {delay:?}");
                    } else {
                        tracing::debug!(error = %err, "the GitSync watch failed; listing again in {delay:?}");
                    }
                    tokio::time::sleep(delay).await;
                }
                None => state.list_again(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_while_the_watch_has_listed_and_the_server_answers() {
        let health = Arc::new(Health::default());
        health.set_ready();
        let readiness = Readiness::new(health.clone());
        assert!(!health.is_ready(), "ready before the watch listed");
        readiness.set_answering(true);
        assert!(!health.is_ready());
        readiness.set_synced(true);
        assert!(health.is_ready());
        readiness.set_answering(false);
        assert!(!health.is_ready(), "ready while the server does not answer");
        readiness.set_answering(true);
        readiness.set_synced(false);
        assert!(!health.is_ready(), "ready while the watch is broken");
    }

    #[test]
    fn only_a_gone_resource_version_is_an_expiry() {
        let status = |code| {
            Box::new(kube::core::Status {
                code,
                ..kube::core::Status::default()
            })
        };
        assert!(expired(&watcher::Error::WatchError(status(410))));
        assert!(expired(&watcher::Error::WatchFailed(kube::Error::Api(
            status(410)
        ))));
        assert!(!expired(&watcher::Error::WatchError(status(500))));
        assert!(!expired(&watcher::Error::InitialListFailed(
            kube::Error::Api(status(403))
        )));
    }
}
