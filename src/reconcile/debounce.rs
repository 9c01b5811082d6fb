//! Coalescing bursts of drift events into one re-plan: act once the events have been quiet
//! for `quiet`, but never later than `max_delay` after the first one.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Debouncer {
    quiet: Duration,
    max_delay: Duration,
    first: Option<Instant>,
    last: Option<Instant>,
    events: usize,
}

impl Debouncer {
    pub fn new(quiet: Duration, max_delay: Duration) -> Self {
        Debouncer {
            quiet,
            max_delay: max_delay.max(quiet),
            first: None,
            last: None,
            events: 0,
        }
    }

    /// Records an event seen at `now`.
    pub fn poke(&mut self, now: Instant) {
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.events += 1;
    }

    /// When to act, or None when nothing is pending.
    pub fn deadline(&self) -> Option<Instant> {
        let (first, last) = (self.first?, self.last?);
        Some((last + self.quiet).min(first + self.max_delay))
    }

    /// True when something is pending and its deadline has passed.
    pub fn is_due(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|d| now >= d)
    }

    /// Clears the pending events and returns how many there were.
    pub fn take(&mut self) -> usize {
        self.first = None;
        self.last = None;
        std::mem::take(&mut self.events)
    }

    pub fn is_pending(&self) -> bool {
        self.first.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn nothing_pending_means_no_deadline() {
        let d = Debouncer::new(200 * MS, 2000 * MS);
        assert_eq!(d.deadline(), None);
        assert!(!d.is_due(Instant::now()));
    }

    #[test]
    fn waits_for_quiet_after_the_last_event() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(200 * MS, 2000 * MS);
        d.poke(t0);
        d.poke(t0 + 150 * MS);
        assert_eq!(d.deadline(), Some(t0 + 350 * MS));
        assert!(!d.is_due(t0 + 300 * MS));
        assert!(d.is_due(t0 + 350 * MS));
        assert_eq!(d.take(), 2);
        assert!(!d.is_pending());
    }

    #[test]
    fn a_steady_stream_still_acts_after_max_delay() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(200 * MS, 1000 * MS);
        for i in 0..20 {
            d.poke(t0 + i * 100 * MS);
        }
        assert_eq!(d.deadline(), Some(t0 + 1000 * MS));
    }
}
