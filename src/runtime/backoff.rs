//! Retry delays after failed cycles: exponential from `initial`, capped at `max`, with a
//! little deterministic jitter so replicas restarted together do not retry in lockstep.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            failures: 0,
        }
    }

    /// Records a failure and returns how long to wait before the next attempt.
    pub fn fail(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.delay(self.failures)
    }

    /// Records a success: the next failure starts again from `initial`.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The delay after the `n`th consecutive failure (n >= 1): initial * 2^(n-1), capped, then
    /// up to 10% shaved off (varying with n) so retries spread out.
    pub fn delay(&self, n: u32) -> Duration {
        let exponent = n.saturating_sub(1).min(31);
        let raw = self.initial.saturating_mul(1u32 << exponent).min(self.max);
        let jitter_permille = u64::from(n.wrapping_mul(2_654_435_761) % 101);
        raw - raw.mul_f64(jitter_permille as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_initial_up_to_the_cap() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let within = |n: u32, expected: f64| {
            let d = b.delay(n).as_secs_f64();
            assert!(
                d <= expected && d >= expected * 0.9,
                "delay({n}) = {d}, expected about {expected}"
            );
        };
        within(1, 1.0);
        within(2, 2.0);
        within(3, 4.0);
        within(6, 32.0);
        within(7, 60.0);
        within(1000, 60.0);
    }

    #[test]
    fn a_success_starts_over() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
        b.fail();
        b.fail();
        assert_eq!(b.failures(), 2);
        let third = b.fail();
        assert!(third >= Duration::from_millis(1800), "{third:?}");
        b.reset();
        assert_eq!(b.failures(), 0);
        assert!(b.fail() <= Duration::from_millis(500));
    }

    #[test]
    fn a_cap_below_initial_is_raised_to_initial() {
        let b = Backoff::new(Duration::from_secs(5), Duration::from_secs(1));
        assert!(b.delay(4) <= Duration::from_secs(5));
        assert!(b.delay(4) >= Duration::from_millis(4500));
    }
}
