//! Requests made as another user through one shared client. Kubernetes impersonation is a
//! header (`Impersonate-User`), not a connection: every account a controller acts as sends
//! through the same connection pool, so an API server sees one client however many
//! ServiceAccounts the syncs name, and idle connections are reused across accounts instead of
//! being kept per account.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::time::Duration;

use http::{HeaderName, HeaderValue, Request, Response};
use kube::client::{Body, ConfigExt};

/// Idle connections the shared pool keeps, and for how long: a burst of requests opens what
/// it needs, and at rest the pool holds no more than this (kube's default keeps every one for
/// 90 s).
const IDLE_CONNECTIONS: usize = 8;
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The client every impersonating client sends through: `config`'s server, credentials and
/// timeouts (its impersonation fields cleared), over one connection pool bounded at rest.
pub fn shared_client(mut config: kube::Config) -> Result<kube::Client, kube::Error> {
    config.auth_info.impersonate = None;
    config.auth_info.impersonate_uid = None;
    config.auth_info.impersonate_groups = None;
    config.auth_info.impersonate_user_extra = None;
    let mut connector = hyper_timeout::TimeoutConnector::new(config.rustls_https_connector()?);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let pool = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(IDLE_CONNECTIONS)
        .pool_idle_timeout(IDLE_TIMEOUT)
        .build(connector);
    let service = tower::ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(tower::BoxError::from)
        .service(pool);
    Ok(kube::Client::new(service, config.default_namespace))
}

/// The headers that say who a request acts as; the shared client sets none of them, and
/// each request carries exactly its own user's.
const IMPERSONATION: [HeaderName; 3] = [
    HeaderName::from_static("impersonate-user"),
    HeaderName::from_static("impersonate-uid"),
    HeaderName::from_static("impersonate-group"),
];

/// Sends through `shared` as `user` (None: as the shared client's own identity).
#[derive(Clone)]
pub struct As {
    shared: kube::Client,
    user: Option<HeaderValue>,
}

impl As {
    pub fn new(shared: kube::Client, user: HeaderValue) -> Self {
        As {
            shared,
            user: Some(user),
        }
    }

    /// Requests as the kubeconfig's own user, through the shared pool.
    pub fn itself(shared: kube::Client) -> Self {
        As { shared, user: None }
    }
}

impl tower::Service<Request<Body>> for As {
    type Response = Response<Body>;
    type Error = tower::BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, tower::BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The shared client queues requests itself.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let headers = request.headers_mut();
        for name in &IMPERSONATION {
            headers.remove(name);
        }
        let extra: Vec<HeaderName> = headers
            .keys()
            .filter(|name| name.as_str().starts_with("impersonate-extra-"))
            .cloned()
            .collect();
        for name in &extra {
            headers.remove(name);
        }
        if let Some(user) = &self.user {
            headers.insert(IMPERSONATION[0].clone(), user.clone());
        }
        let shared = self.shared.clone();
        // kube's client hands back the kube::Error it was given: the callers' matching on
        // `kube::Error::Api` and transport failures sees through this layer.
        Box::pin(async move { shared.send(request).await.map_err(Into::into) })
    }
}
