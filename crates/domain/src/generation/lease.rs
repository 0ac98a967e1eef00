//! Who may work on a running job: the worker holding its lease, and only while
//! its fencing token is the current one.

use chrono::{DateTime, Utc};

/// What to do with a running job whose lease ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseVerdict {
    /// The lease is still held.
    Held,
    /// Back to the queue for another worker.
    Requeue,
    /// It has been taken `max_attempts` times already: fail it (`worker-lost`).
    Fail,
}

/// The rule the rescuer applies to a running job (the store calls it while it
/// holds the job's row).
#[must_use]
pub fn expired_lease(lease_until: DateTime<Utc>, now: DateTime<Utc>, attempt: u32, max_attempts: u32) -> LeaseVerdict {
    if lease_until > now {
        LeaseVerdict::Held
    } else if attempt >= max_attempts {
        LeaseVerdict::Fail
    } else {
        LeaseVerdict::Requeue
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn a_live_lease_is_held_and_an_expired_one_is_requeued_until_the_attempts_run_out() {
        let now = Utc::now();
        let later = now + TimeDelta::seconds(5);
        assert_eq!(expired_lease(later, now, 1, 3), LeaseVerdict::Held);
        assert_eq!(expired_lease(now, now, 1, 3), LeaseVerdict::Requeue);
        assert_eq!(expired_lease(now, now, 2, 3), LeaseVerdict::Requeue);
        assert_eq!(expired_lease(now, now, 3, 3), LeaseVerdict::Fail);
    }
}
