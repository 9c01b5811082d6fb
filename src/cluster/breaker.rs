//! Stops sending requests once the API server has stopped answering.
//!
//! Without it, a server that dies during a 1,000-object apply is asked 1,000 times, and one
//! that hangs costs `--request-timeout` for every batch of in-flight requests: minutes of
//! waiting to learn one fact. After a few consecutive requests got no answer at all, further
//! requests fail at once as "not attempted"; one request is let through every
//! [`RETRY_AFTER`] to see whether the server is back (the reconciler runs for days), and any
//! answer, a refusal included, closes the breaker again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Consecutive requests without an answer that open the breaker. More than one, so a single
/// slow object (a webhook timing out) does not condemn the rest of the plan.
pub const TRIP_AFTER: u32 = 3;
/// How long an open breaker refuses before one request may try again.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);

/// The error a request gets when it is not sent: the server stopped answering earlier.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("not attempted: {0}")]
pub struct NotAttempted(pub String);

#[derive(Default)]
pub struct Breaker {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Requests in a row that got no answer.
    unanswered: u32,
    /// Why the last of them failed ("no answer from …").
    reason: String,
    /// Set while open: when a request was last let through.
    open_since: Option<Instant>,
}

impl Breaker {
    /// May a request be sent now? While open, one request every [`RETRY_AFTER`] may.
    pub fn admit(&self, now: Instant) -> Result<(), NotAttempted> {
        let mut state = self.state.lock().expect("breaker lock");
        match state.open_since {
            Some(since) if now.duration_since(since) < RETRY_AFTER => {
                Err(NotAttempted(state.reason.clone()))
            }
            Some(_) => {
                // This one probes; the rest keep waiting until it is answered or fails.
                state.open_since = Some(now);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// The server answered (anything, a refusal included).
    pub fn answered(&self) {
        let mut state = self.state.lock().expect("breaker lock");
        *state = State::default();
    }

    /// A request got no answer; `reason` says how ("no answer from …").
    pub fn unanswered(&self, reason: &str, now: Instant) {
        let mut state = self.state.lock().expect("breaker lock");
        state.unanswered += 1;
        state.reason = reason.to_string();
        if state.unanswered >= TRIP_AFTER {
            state.open_since = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GONE: &str = "no answer from https://127.0.0.1:6443/: connection refused";

    #[test]
    fn a_few_failures_in_a_row_stop_further_requests_naming_why() {
        let breaker = Breaker::default();
        let now = Instant::now();
        for _ in 0..TRIP_AFTER - 1 {
            breaker.unanswered(GONE, now);
            assert_eq!(
                breaker.admit(now),
                Ok(()),
                "not yet: one slow object is not an outage"
            );
        }
        breaker.unanswered(GONE, now);
        let refused = breaker.admit(now).unwrap_err();
        assert_eq!(refused.to_string(), format!("not attempted: {GONE}"));
    }

    #[test]
    fn an_answer_between_failures_keeps_it_closed() {
        let breaker = Breaker::default();
        let now = Instant::now();
        for _ in 0..10 {
            breaker.unanswered(GONE, now);
            breaker.answered();
        }
        assert_eq!(breaker.admit(now), Ok(()));
    }

    #[test]
    fn once_open_one_request_probes_after_a_pause_and_an_answer_closes_it() {
        let breaker = Breaker::default();
        let now = Instant::now();
        for _ in 0..TRIP_AFTER {
            breaker.unanswered(GONE, now);
        }
        let later = now + RETRY_AFTER;
        assert_eq!(breaker.admit(later), Ok(()), "the probe");
        assert!(breaker.admit(later).is_err(), "only one probe at a time");

        // The probe fails: closed again for another pause.
        breaker.unanswered(GONE, later);
        assert!(breaker.admit(later + RETRY_AFTER / 2).is_err());
        assert_eq!(breaker.admit(later + RETRY_AFTER), Ok(()));

        // The server is back.
        breaker.answered();
        assert_eq!(breaker.admit(later + RETRY_AFTER), Ok(()));
        assert_eq!(breaker.admit(later + RETRY_AFTER), Ok(()));
    }
}
