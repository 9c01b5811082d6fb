//! kubectl's `-v=6` and `-v=8`: each request to the API server told as it is answered
//! (method, URL, status, time), and at 8 the bodies too: an event logged under [`TARGET`],
//! which the command line shows on stderr as it is and the runners' logs carry as any event. A body is shown with every
//! Secret's values masked by structure and then passed through the scrubber, as all output is;
//! watches stream and are never held to be shown.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Bytes};
use kube::client::Body;
use serde_json::Value;
use tower::{BoxError, Layer, Service};

type DynBody = dyn HttpBody<Data = Bytes, Error = BoxError> + Send + Unpin;

/// The target the told requests are logged under.
pub const TARGET: &str = module_path!();

/// The level at which requests are told.
pub const REQUESTS: u8 = 6;
/// The level at which their bodies are told too.
pub const BODIES: u8 = 8;
/// kubectl cuts bodies at 8 and shows them whole at 9.
const CUT: usize = 1024;

#[derive(Clone)]
pub struct TraceLayer {
    pub level: u8,
    /// The API server's URL, which the requests' paths are relative to at this layer.
    pub server: String,
}

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;

    fn layer(&self, inner: S) -> Trace<S> {
        Trace {
            inner,
            level: self.level,
            server: self.server.trim_end_matches('/').to_string(),
        }
    }
}

#[derive(Clone)]
pub struct Trace<S> {
    inner: S,
    level: u8,
    server: String,
}

impl<S> Service<Request<Body>> for Trace<S>
where
    S: Service<Request<Body>, Response = Response<Box<DynBody>>, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = Response<Box<DynBody>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let level = self.level;
        if level < REQUESTS {
            return Box::pin(self.inner.call(request));
        }
        let method = request.method().clone();
        let uri = match request.uri().host() {
            Some(_) => crate::scrub::url(&request.uri().to_string()),
            None => format!("{}{}", self.server, request.uri()),
        };
        let watch = request
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
        let sent = (level >= BODIES)
            .then(|| request.body().try_clone())
            .flatten();
        let started = Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            if let Some(body) = sent
                && let Ok(bytes) = body.collect_bytes().await
                && !bytes.is_empty()
            {
                tell(&format!("Request Body: {}", shown(&bytes, level)));
            }
            let response = answer.await;
            let elapsed = started.elapsed().as_millis();
            let response = match response {
                Ok(response) => response,
                Err(error) => {
                    tell(&format!(
                        "{method} {uri} failed in {elapsed} milliseconds: {error}"
                    ));
                    return Err(error);
                }
            };
            tell(&format!(
                "{method} {uri} {} in {elapsed} milliseconds",
                response.status()
            ));
            if level < BODIES || watch {
                return Ok(response);
            }
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await?.to_bytes();
            tell(&format!("Response Body: {}", shown(&bytes, level)));
            let body: Box<DynBody> = Box::new(
                http_body_util::Full::new(bytes).map_err(|never| -> BoxError { match never {} }),
            );
            Ok(Response::from_parts(parts, body))
        })
    }
}

fn tell(line: &str) {
    tracing::info!(target: TARGET, "{}", crate::scrub::text(line));
}

/// A body as shown: Secret values masked, cut at [`CUT`] characters below level 9.
fn shown(bytes: &[u8], level: u8) -> String {
    let text = match serde_json::from_slice::<Value>(bytes) {
        Ok(mut value) => {
            mask_secrets(&mut value);
            value.to_string()
        }
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    };
    if level < 9 && text.chars().count() > CUT {
        let cut: String = text.chars().take(CUT).collect();
        format!("{cut} [truncated {} chars]", text.chars().count() - CUT)
    } else {
        text
    }
}

/// Every Secret's `data` and `stringData` values, wherever one stands (an object, a list's
/// items, an event's object), become `***`.
fn mask_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("kind").and_then(Value::as_str) == Some("Secret") {
                for field in ["data", "stringData"] {
                    if let Some(Value::Object(entries)) = map.get_mut(field) {
                        for entry in entries.values_mut() {
                            *entry = Value::String("***".to_string());
                        }
                    }
                }
            }
            map.values_mut().for_each(mask_secrets);
        }
        Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_in_a_body_is_masked_wherever_it_stands() {
        let list = serde_json::json!({
            "kind": "SecretList",
            "items": [{"kind": "Secret", "data": {"password": "aHVudGVyMg=="},
                       "stringData": {"token": "hunter2"}}]
        });
        let shown = shown(list.to_string().as_bytes(), 8);
        assert!(!shown.contains("aHVudGVyMg=="), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("\"password\":\"***\""), "{shown}");
    }

    #[test]
    fn long_bodies_are_cut_below_level_nine() {
        let long = "x".repeat(CUT * 2);
        assert!(shown(long.as_bytes(), 8).contains("[truncated 1024 chars]"));
        assert_eq!(shown(long.as_bytes(), 9), long);
    }
}
