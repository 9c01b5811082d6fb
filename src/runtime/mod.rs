//! The runtime a sync runs in, shared by `kubectl gitops reconcile` (one sync) and the
//! controller (many): one cycle (`cycle`: fetch, render, plan, apply), the watches that see
//! drift (`drift`, `drift_mode`, `drift_report`), Events (`events`), leader election (`lease`),
//! the health and metrics endpoint (`serve`, `metrics`), retry delays (`backoff`) and the stop
//! on a signal (this file).

mod backoff;
pub mod cycle;
pub mod drift;
pub mod drift_mode;
pub mod drift_report;
pub(crate) mod events;
pub mod lease;
pub mod metrics;
pub mod serve;

use std::time::Duration;

pub use backoff::Backoff;
pub use drift_mode::DriftMode;

/// After the shutdown grace, how long the writes already sent may take to be answered before
/// the cycle is abandoned outright (each is one request, so none is half written either way).
pub(crate) const STOP_WAIT: Duration = Duration::from_secs(10);

/// SIGTERM (Kubernetes) or SIGINT (a terminal).
pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
