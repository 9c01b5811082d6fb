//! The one path every plan, apply and discovery request takes: a slot in the window that
//! follows the server (`limiter`), the breaker, and bounded retries of overload answers
//! (`retry`).

use std::sync::Arc;
use std::time::Instant;

use http::StatusCode;
use http_body_util::BodyExt;
use hyper::body::Bytes;

use super::breaker::{Breaker, NotAttempted};
use super::limiter::{Outcome, RequestBudget};
use super::retry::{self, MAX_RETRIES, Throttled};
use super::{NoAnswer, transport_failure};

/// The server's answer to a request that succeeded.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

pub struct Sender {
    /// Without kube's own retries: this path retries, boundedly.
    client: kube::Client,
    pub budget: Arc<RequestBudget>,
    /// Shared by every sender of one server (see [`Sender::sending_with`]).
    breaker: Arc<Breaker>,
    server: String,
}

impl Sender {
    pub fn new(client: kube::Client, budget: Arc<RequestBudget>, server: &str) -> Self {
        Sender {
            client,
            budget,
            breaker: Arc::default(),
            server: server.to_string(),
        }
    }

    /// A sender for the same server through another client (another identity): the request
    /// window and the breaker stay shared, since they describe the server, not who asks.
    pub fn sending_with(&self, client: kube::Client) -> Self {
        Sender {
            client,
            budget: self.budget.clone(),
            breaker: self.breaker.clone(),
            server: self.server.clone(),
        }
    }

    /// Sends one request. Once the server has stopped answering, the request is not sent
    /// and fails with `NotAttempted` (see the breaker module). An overload answer is retried
    /// (see the retry module); any other refusal is `kube::Error::Api` with the server's
    /// status.
    pub async fn send(&self, request: http::Request<Vec<u8>>) -> Result<Answer, kube::Error> {
        let (parts, body) = request.into_parts();
        let started = Instant::now();
        let mut retries = 0;
        loop {
            let stopped = || {
                let stopped = NotAttempted(super::stop::REASON.to_string());
                kube::Error::Service(Box::new(stopped))
            };
            let mut permit = tokio::select! {
                permit = self.budget.acquire() => permit,
                () = super::stop::requested_now() => return Err(stopped()),
            };
            if super::stop::requested() {
                return Err(stopped());
            }
            if let Err(gone) = self.breaker.admit(Instant::now()) {
                return Err(kube::Error::Service(Box::new(gone)));
            }
            let mut again = http::Request::builder()
                .method(parts.method.clone())
                .uri(parts.uri.clone())
                .version(parts.version);
            if let Some(headers) = again.headers_mut() {
                headers.extend(parts.headers.clone());
            }
            let again = again
                .body(kube::client::Body::from(body.clone()))
                .map_err(kube::Error::HttpError)?;
            let answer = match self.client.send(again).await {
                Ok(response) => {
                    let (head, body) = response.into_parts();
                    body.collect().await.map(|b| (head, b.to_bytes()))
                }
                Err(err) => Err(err),
            };
            let (head, bytes) = match answer {
                Ok(answer) => answer,
                Err(err) => {
                    if let Some(reason) = transport_failure(&err, &self.server) {
                        self.breaker.unanswered(&reason, Instant::now());
                        // Said the same way wherever it is shown, whatever layer noticed.
                        return Err(kube::Error::Service(Box::new(NoAnswer(reason))));
                    }
                    return Err(err);
                }
            };
            self.breaker.answered();
            if let Some(throttled) = Throttled::of(head.status, &head.headers) {
                permit.outcome(Outcome::Overloaded);
                drop(permit);
                if retries >= MAX_RETRIES {
                    let mut status = status_of(head.status, &bytes);
                    status.message = retry::gave_up(
                        &status.message,
                        head.status,
                        retries + 1,
                        started.elapsed(),
                    );
                    return Err(kube::Error::Api(Box::new(status)));
                }
                tokio::time::sleep(throttled.wait(retries, retry::jitter())).await;
                retries += 1;
                continue;
            }
            permit.outcome(Outcome::Answered);
            if head.status.is_client_error() || head.status.is_server_error() {
                return Err(kube::Error::Api(Box::new(status_of(head.status, &bytes))));
            }
            return Ok(Answer {
                status: head.status,
                body: bytes,
            });
        }
    }
}

/// A refusal as the server's Status, or one made of its text (a proxy's HTML page).
fn status_of(code: StatusCode, body: &[u8]) -> kube::core::Status {
    match serde_json::from_slice::<kube::core::Status>(body) {
        Ok(status) if status.code != 0 || !status.message.is_empty() => {
            let mut status = status;
            if status.code == 0 {
                status.code = code.as_u16();
            }
            status
        }
        _ => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let message = if text.is_empty() {
                code.canonical_reason().unwrap_or("no reason given")
            } else {
                text
            };
            kube::core::Status::failure(message, code.canonical_reason().unwrap_or(""))
                .with_code(code.as_u16())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_the_servers_status_or_its_text() {
        let json = br#"{"kind":"Status","apiVersion":"v1","status":"Failure",
            "message":"configmaps \"x\" is forbidden","reason":"Forbidden","code":403}"#;
        let status = status_of(StatusCode::FORBIDDEN, json);
        assert_eq!(status.code, 403);
        assert_eq!(status.reason, "Forbidden");
        assert_eq!(status.message, "configmaps \"x\" is forbidden");
        let html = status_of(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>\n");
        assert_eq!(html.code, 502);
        assert_eq!(html.message, "<html>bad gateway</html>");
        let empty = status_of(StatusCode::SERVICE_UNAVAILABLE, b"");
        assert_eq!(empty.message, "Service Unavailable");
    }
}
