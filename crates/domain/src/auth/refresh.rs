//! The refresh-token rule: what presenting a token of a live session does.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// What presenting one refresh token of a live session's family must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshUse {
    /// The family's live token: spend it (and any sibling a grace issued), issue the next.
    Rotate,
    /// Spent a moment ago by a concurrent tab: that tab's refresh stands, and this
    /// presentation gets a token of its own.
    WithinGrace,
    /// Spent before the grace: a stolen copy, or the thief's. The family ends.
    Reuse,
}

/// Decides a presentation from when the token was spent (`None`: never). The
/// caller holds the family's lock, so concurrent presentations are decided one
/// after another, each seeing what the one before did.
#[must_use]
pub fn refresh_use(spent_at: Option<DateTime<Utc>>, now: DateTime<Utc>, grace: Duration) -> RefreshUse {
    let grace = chrono::Duration::from_std(grace).unwrap_or_else(|_| chrono::Duration::zero());
    match spent_at {
        None => RefreshUse::Rotate,
        Some(spent_at) if now - spent_at <= grace => RefreshUse::WithinGrace,
        Some(_) => RefreshUse::Reuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_token_rotates_a_just_spent_one_forks_and_an_old_one_ends_the_family() {
        let now = Utc::now();
        let grace = Duration::from_secs(10);
        assert_eq!(refresh_use(None, now, grace), RefreshUse::Rotate);
        assert_eq!(refresh_use(Some(now), now, grace), RefreshUse::WithinGrace);
        assert_eq!(refresh_use(Some(now - chrono::Duration::seconds(10)), now, grace), RefreshUse::WithinGrace);
        assert_eq!(refresh_use(Some(now - chrono::Duration::seconds(11)), now, grace), RefreshUse::Reuse);
        assert_eq!(refresh_use(Some(now - chrono::Duration::milliseconds(1)), now, Duration::ZERO), RefreshUse::Reuse);
    }
}
