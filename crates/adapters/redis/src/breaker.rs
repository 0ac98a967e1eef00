//! A small circuit breaker: closed -> open after `threshold` consecutive
//! failures -> half-open after `cooldown`, where one trial call decides.
//!
//! Hand-written because it is ~60 lines of atomics and the crates that offer one
//! bring their own futures plumbing and policies we do not need.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// For the `redis_circuit_state` gauge.
    #[must_use]
    pub fn as_gauge(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::Open => 1.0,
            Self::HalfOpen => 2.0,
        }
    }
}

pub(crate) struct Breaker {
    threshold: u32,
    cooldown: Duration,
    epoch: Instant,
    consecutive_failures: AtomicU32,
    /// Milliseconds since `epoch` until which the circuit stays open; 0 = closed.
    open_until_ms: AtomicU64,
    /// When the half-open trial started (ms since `epoch`); 0 = none. A trial whose
    /// caller was cancelled never reports back, so it expires after the cooldown.
    trial_started_ms: AtomicU64,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            epoch: Instant::now(),
            consecutive_failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
            trial_started_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn state(&self) -> BreakerState {
        match self.open_until_ms.load(Ordering::Acquire) {
            0 => BreakerState::Closed,
            until if self.now_ms() < until => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }

    /// Whether a call may go to Redis now. In half-open state only one trial call
    /// at a time is let through.
    pub(crate) fn allow(&self) -> bool {
        match self.state() {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen => {
                let now = self.now_ms().max(1);
                let started = self.trial_started_ms.load(Ordering::Acquire);
                let expired = started != 0
                    && now.saturating_sub(started) > u64::try_from(self.cooldown.as_millis()).unwrap_or(u64::MAX);
                (started == 0 || expired)
                    && self.trial_started_ms.compare_exchange(started, now, Ordering::AcqRel, Ordering::Acquire).is_ok()
            }
        }
    }

    pub(crate) fn record_success(&self) {
        self.consecutive_failures.store(0, Ordering::Release);
        self.open_until_ms.store(0, Ordering::Release);
        self.trial_started_ms.store(0, Ordering::Release);
    }

    pub(crate) fn record_failure(&self) {
        let failures = self.consecutive_failures.fetch_add(1, Ordering::AcqRel) + 1;
        let was_trial = self.trial_started_ms.swap(0, Ordering::AcqRel) != 0;
        if failures >= self.threshold || was_trial {
            let cooldown = u64::try_from(self.cooldown.as_millis()).unwrap_or(u64::MAX);
            // `max(1)` keeps 0 meaning "closed" even in the first millisecond.
            let until = self.now_ms().saturating_add(cooldown).max(1);
            self.open_until_ms.store(until, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_half_opens_after_cooldown() {
        let b = Breaker::new(3, Duration::from_millis(40));
        assert!(b.allow());
        b.record_failure();
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Closed);
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.allow(), "one trial call");
        assert!(!b.allow(), "only one at a time");
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Open, "a failed trial reopens");
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow(), "a trial whose caller vanished...");
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow(), "...expires, and another trial is let through");
        b.record_success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow() && b.allow());
    }
}
