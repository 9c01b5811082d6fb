//! Which answers are asked again, after how long, and for how long at most.
//!
//! A request the server turned away for load is asked again: a 429 (API Priority and Fairness,
//! or the in-flight limit: the request was not processed), or a 5xx that carries Retry-After
//! (the server says when to come back). Retry-After is honoured, with a little jitter so the
//! rejected requests of one burst do not all come back in the same millisecond. Nothing else
//! is retried: a 503 without Retry-After (an aggregated API that is down) fails at once, with
//! the server's message, instead of being retried for minutes. After [`MAX_RETRIES`] the
//! request fails, saying how often and for how long the server refused it.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use http::{HeaderMap, StatusCode};

/// Times one request is asked again before the overload is reported.
pub const MAX_RETRIES: u32 = 8;
/// One wait is never longer than this, whatever Retry-After says.
pub const LONGEST_WAIT: Duration = Duration::from_secs(10);
/// The first wait after a 429 without Retry-After; it doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// An answer that turned the request away for load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttled {
    /// What Retry-After asked for, if anything readable.
    pub retry_after: Option<Duration>,
}

impl Throttled {
    /// The answer's verdict: None when it is final (a success or any other refusal).
    pub fn of(status: StatusCode, headers: &HeaderMap) -> Option<Throttled> {
        let retry_after = headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let throttled = status == StatusCode::TOO_MANY_REQUESTS
            || (status.is_server_error() && retry_after.is_some());
        throttled.then_some(Throttled { retry_after })
    }

    /// How long to wait before retry number `retry` (0 for the first); `jitter` in [0, 1).
    pub fn wait(&self, retry: u32, jitter: f64) -> Duration {
        let base = self
            .retry_after
            .unwrap_or_else(|| FIRST_BACKOFF.saturating_mul(1 << retry.min(6)));
        // Retry-After: 0 still waits a little, so a retry is never a busy loop.
        let base = base.max(Duration::from_millis(50));
        base.mul_f64(1.0 + jitter.clamp(0.0, 1.0) / 4.0)
            .min(LONGEST_WAIT)
    }
}

/// A fresh number in [0, 1) for jitter (no generator needed for that).
pub fn jitter() -> f64 {
    (RandomState::new().hash_one(std::time::Instant::now()) >> 11) as f64 / (1u64 << 53) as f64
}

/// What the server's message becomes once retries ran out: the reason, and how persistent.
pub fn gave_up(message: &str, status: StatusCode, tries: u32, spent: Duration) -> String {
    let reason = status.canonical_reason().unwrap_or("overloaded");
    let message = message.trim().trim_end_matches('.');
    format!(
        "{message} (the API server answered {} {reason} {tries} times over {:.1}s and stayed \
         overloaded; try again later, or lower --concurrency)",
        status.as_u16(),
        spent.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(retry_after: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = retry_after {
            headers.insert(http::header::RETRY_AFTER, value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn a_429_is_retried_after_what_the_server_asked() {
        let throttled = Throttled::of(StatusCode::TOO_MANY_REQUESTS, &headers(Some("2"))).unwrap();
        assert_eq!(throttled.retry_after, Some(Duration::from_secs(2)));
        assert_eq!(throttled.wait(0, 0.0), Duration::from_secs(2));
        assert_eq!(
            throttled.wait(5, 0.0),
            Duration::from_secs(2),
            "the server's ask, not ours"
        );
        let spread = throttled.wait(0, 0.99);
        assert!(spread > Duration::from_secs(2) && spread < Duration::from_millis(2500));
    }

    #[test]
    fn a_429_without_retry_after_backs_off_exponentially_within_a_bound() {
        let throttled = Throttled::of(StatusCode::TOO_MANY_REQUESTS, &headers(None)).unwrap();
        assert_eq!(throttled.wait(0, 0.0), Duration::from_millis(250));
        assert_eq!(throttled.wait(1, 0.0), Duration::from_millis(500));
        assert_eq!(throttled.wait(3, 0.0), Duration::from_secs(2));
        assert_eq!(throttled.wait(30, 0.0), LONGEST_WAIT);
        let odd = Throttled::of(StatusCode::TOO_MANY_REQUESTS, &headers(Some("soon"))).unwrap();
        assert_eq!(odd.retry_after, None);
        let huge = Throttled::of(StatusCode::TOO_MANY_REQUESTS, &headers(Some("86400"))).unwrap();
        assert_eq!(huge.wait(0, 0.0), LONGEST_WAIT);
        let zero = Throttled::of(StatusCode::TOO_MANY_REQUESTS, &headers(Some("0"))).unwrap();
        assert!(zero.wait(0, 0.0) > Duration::ZERO);
    }

    #[test]
    fn a_5xx_is_retried_only_when_the_server_says_when() {
        assert!(Throttled::of(StatusCode::SERVICE_UNAVAILABLE, &headers(None)).is_none());
        assert!(Throttled::of(StatusCode::GATEWAY_TIMEOUT, &headers(None)).is_none());
        assert!(Throttled::of(StatusCode::SERVICE_UNAVAILABLE, &headers(Some("1"))).is_some());
        for final_answer in [
            StatusCode::OK,
            StatusCode::CREATED,
            StatusCode::CONFLICT,
            StatusCode::NOT_FOUND,
        ] {
            assert!(Throttled::of(final_answer, &headers(Some("1"))).is_none());
        }
    }

    #[test]
    fn giving_up_says_the_servers_reason_and_how_persistent_it_was() {
        let said = gave_up(
            "Too many requests, please try again later.",
            StatusCode::TOO_MANY_REQUESTS,
            9,
            Duration::from_millis(9400),
        );
        assert_eq!(
            said,
            "Too many requests, please try again later (the API server answered 429 Too Many \
             Requests 9 times over 9.4s and stayed overloaded; try again later, or lower \
             --concurrency)"
        );
    }

    #[test]
    fn jitter_stays_in_its_range() {
        for _ in 0..1000 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
    }
}
