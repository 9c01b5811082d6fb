//! Requests made as another user through one shared client. Kubernetes impersonation is a
//! header (`Impersonate-User`), not a connection: every account a controller acts as sends
//! through the same connection pool, so an API server sees one client however many
//! ServiceAccounts the syncs name, and idle connections are reused across accounts instead of
//! being kept per account.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderName, HeaderValue, Request, Response};
use kube::client::Body;

/// The headers that say who a request acts as; the shared client sets none of them, and
/// each request carries exactly its own user's.
const IMPERSONATION: [HeaderName; 3] = [
    HeaderName::from_static("impersonate-user"),
    HeaderName::from_static("impersonate-uid"),
    HeaderName::from_static("impersonate-group"),
];

/// Sends through `shared` as `user`.
#[derive(Clone)]
pub struct As {
    shared: kube::Client,
    user: HeaderValue,
}

impl As {
    pub fn new(shared: kube::Client, user: HeaderValue) -> Self {
        As { shared, user }
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
        headers.insert(IMPERSONATION[0].clone(), self.user.clone());
        let shared = self.shared.clone();
        // kube's client hands back the kube::Error it was given: the callers' matching on
        // `kube::Error::Api` and transport failures sees through this layer.
        Box::pin(async move { shared.send(request).await.map_err(Into::into) })
    }
}
