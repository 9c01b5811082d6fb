//! The operations endpoint on `--listen`: `/healthz` (the process and its loop are alive),
//! `/readyz` (a first cycle succeeded, or this replica is a standby) and `/metrics`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::metrics::Metrics;

/// What the probes report; the loop updates it.
#[derive(Debug, Default)]
pub struct Health {
    /// A cycle has applied its revision without errors.
    ready: AtomicBool,
    /// Another replica leads; this one waits.
    standby: AtomicBool,
    /// Unix seconds of the loop's last sign of life.
    heartbeat: AtomicU64,
}

impl Health {
    pub fn set_ready(&self) {
        self.set_ready_to(true);
    }

    /// Ready or not, as the loop judges (the controller: able to reconcile right now).
    pub fn set_ready_to(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn set_standby(&self, standby: bool) {
        self.standby.store(standby, Ordering::Relaxed);
    }

    pub fn beat(&self) {
        self.heartbeat.store(unix_now(), Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed) || self.standby.load(Ordering::Relaxed)
    }

    /// Alive while the loop beat within `stale`.
    pub fn is_alive(&self, stale: Duration) -> bool {
        let last = self.heartbeat.load(Ordering::Relaxed);
        unix_now().saturating_sub(last) <= stale.as_secs()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whatever `/metrics` serves: the reconciler's metrics or the controller's.
pub trait Exposition: Send + Sync {
    /// The OpenMetrics text.
    fn render(&self) -> String;
}

impl Exposition for Metrics {
    fn render(&self) -> String {
        Metrics::render(self)
    }
}

#[derive(Clone)]
pub struct Endpoints {
    pub health: Arc<Health>,
    pub metrics: Arc<dyn Exposition>,
    /// How old the loop's heartbeat may get before /healthz fails.
    pub stale_after: Duration,
}

/// Binds `--listen` (when given) and serves `endpoints` there until `shutdown` turns true.
/// A port that cannot be bound is an error before any work starts.
pub async fn start(
    listen: Option<std::net::SocketAddr>,
    endpoints: Endpoints,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    use anyhow::Context;
    let Some(addr) = listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let local = listener.local_addr().unwrap_or(addr);
    tracing::info!(address = %local, "serving /healthz, /readyz and /metrics");
    Ok(Some(tokio::spawn(serve(listener, endpoints, shutdown))))
}

/// Serves until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    endpoints: Endpoints,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let (stream, _) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                tracing::warn!(error = %err, "accepting a connection on the ops endpoint");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let endpoints = endpoints.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let endpoints = endpoints.clone();
                async move { Ok::<_, Infallible>(respond(&endpoints, &request)) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "ops endpoint connection");
            }
        });
    }
}

fn respond(endpoints: &Endpoints, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = route(endpoints, request.method(), request.uri().path());
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

const TEXT: &str = "text/plain; charset=utf-8";

fn route(
    endpoints: &Endpoints,
    method: &hyper::Method,
    path: &str,
) -> (StatusCode, &'static str, String) {
    if method != hyper::Method::GET && method != hyper::Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, TEXT, "GET only\n".into());
    }
    match path {
        "/healthz" | "/livez" => {
            if endpoints.health.is_alive(endpoints.stale_after) {
                (StatusCode::OK, TEXT, "ok\n".into())
            } else {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    TEXT,
                    "the reconcile loop is stuck\n".into(),
                )
            }
        }
        "/readyz" => {
            if endpoints.health.is_ready() {
                (StatusCode::OK, TEXT, "ready\n".into())
            } else {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    TEXT,
                    "no successful cycle yet\n".into(),
                )
            }
        }
        "/metrics" => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            endpoints.metrics.render(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            TEXT,
            "not found: try /healthz, /readyz or /metrics\n".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints() -> Endpoints {
        Endpoints {
            health: Arc::new(Health::default()),
            metrics: Arc::new(Metrics::new()),
            stale_after: Duration::from_secs(60),
        }
    }

    #[test]
    fn readiness_follows_the_first_success_or_standby() {
        let e = endpoints();
        let get = hyper::Method::GET;
        assert_eq!(
            route(&e, &get, "/readyz").0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        e.health.set_standby(true);
        assert_eq!(route(&e, &get, "/readyz").0, StatusCode::OK);
        e.health.set_standby(false);
        e.health.set_ready();
        assert_eq!(route(&e, &get, "/readyz").0, StatusCode::OK);
    }

    #[test]
    fn liveness_needs_a_recent_heartbeat() {
        let e = endpoints();
        let get = hyper::Method::GET;
        assert_eq!(
            route(&e, &get, "/healthz").0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        e.health.beat();
        assert_eq!(route(&e, &get, "/healthz").0, StatusCode::OK);
        assert_eq!(route(&e, &get, "/nope").0, StatusCode::NOT_FOUND);
        assert_eq!(
            route(&e, &hyper::Method::POST, "/healthz").0,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert!(
            route(&e, &get, "/metrics")
                .2
                .contains("gitops_reconcile_leader")
        );
    }
}
