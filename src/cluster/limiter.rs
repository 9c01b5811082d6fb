//! One budget for every request a command makes, sized by the API server's answers.
//!
//! A fixed client limit is wrong both ways: too low and a large plan waits on the client while
//! the server idles (4,000 objects took 6.9x the time of 1,000 under `--qps 500`), too high and
//! a busy server is flooded. So the number of requests in flight is a window that follows the
//! server, as TCP's congestion window does: it starts small, doubles while every answer comes
//! back (slow start), then grows by one per window's worth of answers; an answer saying the
//! server is overloaded (429 Too Many Requests from API Priority and Fairness or the in-flight
//! limit, or a 5xx with Retry-After) halves it, once per round of requests, so 30 rejections of
//! one burst count as one signal. `--concurrency` caps the window; `--qps`, when given, also
//! caps the rate.

use std::num::NonZeroU32;
use std::sync::Mutex;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Semaphore, SemaphorePermit};

/// The window a command starts with (or `--concurrency`, when lower).
pub const INITIAL_WINDOW: usize = 8;

/// What the server said to a request, as the window sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An answer (a refusal included) that is not about load.
    Answered,
    /// The server is overloaded: shrink.
    Overloaded,
    /// No answer, or the request was never sent: says nothing about load.
    Unknown,
}

/// The window's arithmetic, apart from the waiting, so it can be tested step by step.
#[derive(Debug, Clone)]
pub struct Window {
    /// Requests allowed in flight; fractional, so growth past slow start is one slot per
    /// window's worth of answers.
    limit: f64,
    /// Below this, the window doubles per round (slow start); set to half the window at each
    /// overload.
    threshold: f64,
    ceiling: f64,
    /// Bumped at each decrease: an answer to a request sent before it says nothing about the
    /// window as it is now.
    epoch: u64,
    in_flight: usize,
}

impl Window {
    pub fn new(ceiling: usize) -> Window {
        let ceiling = ceiling.max(1) as f64;
        Window {
            limit: ceiling.min(INITIAL_WINDOW as f64),
            threshold: ceiling,
            ceiling,
            epoch: 0,
            in_flight: 0,
        }
    }

    /// Whole requests allowed in flight now.
    pub fn slots(&self) -> usize {
        (self.limit.floor() as usize).max(1)
    }

    /// A request starts; returns the epoch to report its outcome with.
    pub fn started(&mut self) -> u64 {
        self.in_flight += 1;
        self.epoch
    }

    /// A request sent in `epoch` ended with `outcome`.
    pub fn finished(&mut self, epoch: u64, outcome: Outcome) {
        // Growth needs evidence: a window mostly unused (a reconciler's few requests) says
        // nothing about whether the server would take more.
        let used = self.in_flight as f64 >= self.limit / 2.0;
        self.in_flight = self.in_flight.saturating_sub(1);
        if epoch != self.epoch {
            return;
        }
        match outcome {
            Outcome::Answered if used => {
                let step = if self.limit < self.threshold {
                    1.0
                } else {
                    1.0 / self.limit
                };
                self.limit = (self.limit + step).min(self.ceiling);
            }
            Outcome::Overloaded => {
                self.limit = (self.limit / 2.0).max(1.0);
                self.threshold = self.limit;
                self.epoch += 1;
            }
            Outcome::Answered | Outcome::Unknown => {}
        }
    }
}

pub struct RequestBudget {
    slots: Semaphore,
    state: Mutex<State>,
    rate: Option<DefaultDirectRateLimiter>,
}

struct State {
    window: Window,
    /// Slots the semaphore hands out in all (free and held): the window's size.
    circulating: usize,
    /// Held slots to take out of circulation when they come back (the window shrank while
    /// they were in use).
    debt: usize,
    /// The largest window reached and how many overload answers came, for `-v`.
    peak: usize,
    overloads: u64,
}

/// A slot for one request; report what the server said with [`Permit::outcome`] before
/// dropping it.
pub struct Permit<'a> {
    budget: &'a RequestBudget,
    slot: Option<SemaphorePermit<'a>>,
    epoch: u64,
    outcome: Outcome,
}

impl Permit<'_> {
    pub fn outcome(&mut self, outcome: Outcome) {
        self.outcome = outcome;
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.budget.release(slot, self.epoch, self.outcome);
        }
    }
}

impl RequestBudget {
    /// At most `concurrency` requests in flight (the window's ceiling), and when `rate` is
    /// given (`--qps` and its burst) at most that many per second.
    pub fn new(concurrency: usize, rate: Option<(NonZeroU32, NonZeroU32)>) -> Self {
        let window = Window::new(concurrency);
        let circulating = window.slots();
        RequestBudget {
            slots: Semaphore::new(circulating),
            state: Mutex::new(State {
                peak: circulating,
                window,
                circulating,
                debt: 0,
                overloads: 0,
            }),
            rate: rate
                .map(|(qps, burst)| RateLimiter::direct(Quota::per_second(qps).allow_burst(burst))),
        }
    }

    /// Waits for a slot; the request may run while the returned permit lives.
    pub async fn acquire(&self) -> Permit<'_> {
        let slot = self
            .slots
            .acquire()
            .await
            .expect("the request semaphore is never closed");
        if let Some(rate) = &self.rate {
            rate.until_ready().await;
        }
        let epoch = self.state.lock().expect("budget lock").window.started();
        Permit {
            budget: self,
            slot: Some(slot),
            epoch,
            outcome: Outcome::Unknown,
        }
    }

    /// The largest window reached, and how many answers said the server was overloaded.
    pub fn stats(&self) -> (usize, u64) {
        let state = self.state.lock().expect("budget lock");
        (state.peak, state.overloads)
    }

    fn release(&self, slot: SemaphorePermit<'_>, epoch: u64, outcome: Outcome) {
        let mut state = self.state.lock().expect("budget lock");
        state.window.finished(epoch, outcome);
        if outcome == Outcome::Overloaded {
            state.overloads += 1;
        }
        if state.debt > 0 {
            state.debt -= 1;
            slot.forget();
        } else {
            drop(slot);
        }
        let want = state.window.slots();
        state.peak = state.peak.max(want);
        if want > state.circulating {
            let grow = want - state.circulating;
            let repaid = grow.min(state.debt);
            state.debt -= repaid;
            self.slots.add_permits(grow - repaid);
        } else if want < state.circulating {
            let shrink = state.circulating - want;
            let forgotten = self.slots.forget_permits(shrink);
            state.debt += shrink - forgotten;
        }
        state.circulating = want;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// A busy command: `answers` answers with `outcome`, a new request starting whenever the
    /// window has room (oldest answered first). Returns what is still in flight.
    fn pipe(window: &mut Window, in_flight: &mut VecDeque<u64>, answers: usize, outcome: Outcome) {
        for _ in 0..answers {
            while in_flight.len() < window.slots() {
                in_flight.push_back(window.started());
            }
            let epoch = in_flight.pop_front().expect("in flight");
            window.finished(epoch, outcome);
        }
    }

    #[test]
    fn a_server_that_keeps_answering_gets_a_window_doubling_per_round_up_to_the_ceiling() {
        let (mut window, mut flight) = (Window::new(64), VecDeque::new());
        assert_eq!(window.slots(), INITIAL_WINDOW);
        pipe(&mut window, &mut flight, 8, Outcome::Answered);
        assert_eq!(window.slots(), 16);
        pipe(&mut window, &mut flight, 16, Outcome::Answered);
        assert_eq!(window.slots(), 32);
        pipe(&mut window, &mut flight, 1000, Outcome::Answered);
        assert_eq!(window.slots(), 64, "capped by --concurrency");
    }

    #[test]
    fn a_low_ceiling_is_also_the_start() {
        let (mut window, mut flight) = (Window::new(3), VecDeque::new());
        assert_eq!(window.slots(), 3);
        pipe(&mut window, &mut flight, 100, Outcome::Answered);
        assert_eq!(window.slots(), 3);
        assert_eq!(Window::new(0).slots(), 1, "never zero");
    }

    #[test]
    fn one_burst_of_rejections_halves_the_window_once() {
        let (mut window, mut flight) = (Window::new(64), VecDeque::new());
        pipe(&mut window, &mut flight, 1000, Outcome::Answered);
        assert_eq!(window.slots(), 64);
        // The server rejects the 64 requests in flight: one signal, not 64.
        pipe(&mut window, &mut flight, 64, Outcome::Overloaded);
        assert_eq!(window.slots(), 32);
        // Requests sent into the halved window are rejected too: it halves again.
        pipe(&mut window, &mut flight, 32, Outcome::Overloaded);
        assert_eq!(window.slots(), 16);
        pipe(&mut window, &mut flight, 10_000, Outcome::Overloaded);
        assert_eq!(
            window.slots(),
            1,
            "down to one request at a time, never zero"
        );
    }

    #[test]
    fn after_an_overload_the_window_grows_by_one_per_round() {
        let (mut window, mut flight) = (Window::new(64), VecDeque::new());
        pipe(&mut window, &mut flight, 24, Outcome::Answered);
        assert_eq!(window.slots(), 32);
        pipe(&mut window, &mut flight, 32, Outcome::Overloaded);
        assert_eq!(window.slots(), 16);
        // One slot per round from now on.
        pipe(&mut window, &mut flight, 15, Outcome::Answered);
        assert_eq!(window.slots(), 16);
        pipe(&mut window, &mut flight, 2, Outcome::Answered);
        assert_eq!(
            window.slots(),
            17,
            "additive increase, no second slow start"
        );
        pipe(&mut window, &mut flight, 18, Outcome::Answered);
        assert_eq!(window.slots(), 18);
    }

    #[test]
    fn a_mostly_idle_window_does_not_grow_and_failures_without_an_answer_do_not_shrink_it() {
        let mut window = Window::new(64);
        for _ in 0..100 {
            let epoch = window.started();
            window.finished(epoch, Outcome::Answered);
        }
        assert_eq!(
            window.slots(),
            INITIAL_WINDOW,
            "one request at a time proves nothing"
        );
        let mut flight = VecDeque::new();
        pipe(&mut window, &mut flight, 100, Outcome::Unknown);
        assert_eq!(window.slots(), INITIAL_WINDOW);
    }

    #[tokio::test]
    async fn the_budget_lets_exactly_the_window_run_and_shrinks_while_slots_are_held() {
        let budget = RequestBudget::new(64, None);
        let mut held = Vec::new();
        for _ in 0..INITIAL_WINDOW {
            held.push(budget.acquire().await);
        }
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), budget.acquire());
        assert!(waiting.await.is_err(), "the ninth waits");

        // All eight are rejected: the window halves to 4, while all slots are still held.
        for mut permit in held.drain(..) {
            permit.outcome(Outcome::Overloaded);
        }
        assert_eq!(budget.stats(), (INITIAL_WINDOW, 8));
        let mut again = Vec::new();
        for _ in 0..4 {
            again.push(budget.acquire().await);
        }
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), budget.acquire());
        assert!(waiting.await.is_err(), "only four fit now");
        drop(again);
        let _one = budget.acquire().await;
    }

    #[tokio::test]
    async fn the_budget_grows_while_every_slot_is_used_and_answered() {
        let budget = RequestBudget::new(32, None);
        for _ in 0..6 {
            let mut round = Vec::new();
            while let Ok(permit) =
                tokio::time::timeout(std::time::Duration::from_millis(10), budget.acquire()).await
            {
                round.push(permit);
            }
            for permit in &mut round {
                permit.outcome(Outcome::Answered);
            }
        }
        assert_eq!(budget.stats().0, 32);
        let mut all = Vec::new();
        for _ in 0..32 {
            all.push(budget.acquire().await);
        }
    }
}
