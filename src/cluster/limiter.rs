//! One budget for every request a command makes: at most N in flight, at most Q per second
//! with bursts, so a large plan is fast without overrunning the API server's fairness limits.

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Semaphore, SemaphorePermit};

pub struct RequestBudget {
    in_flight: Semaphore,
    rate: DefaultDirectRateLimiter,
}

impl RequestBudget {
    pub fn new(concurrency: usize, qps: NonZeroU32, burst: NonZeroU32) -> Self {
        RequestBudget {
            in_flight: Semaphore::new(concurrency.max(1)),
            rate: RateLimiter::direct(Quota::per_second(qps).allow_burst(burst)),
        }
    }

    /// Waits for a slot; the request may run while the returned permit lives.
    pub async fn acquire(&self) -> SemaphorePermit<'_> {
        let permit = self
            .in_flight
            .acquire()
            .await
            .expect("the request semaphore is never closed");
        self.rate.until_ready().await;
        permit
    }
}
