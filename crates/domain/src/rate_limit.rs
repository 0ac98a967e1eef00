//! Rate-limit quotas: how many requests a key may make in a window.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

/// A quota of `limit` requests per `window`, enforced as a generic cell rate
/// (GCRA): requests are spread evenly, with a burst of up to `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    limit: NonZeroU32,
    window: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error("the limit must be at least 1")]
    ZeroLimit,
    #[error("the window must be between 1 second and 1 day")]
    WindowOutOfRange,
}

impl Quota {
    /// # Errors
    /// A zero limit, or a window outside 1 s ..= 1 day.
    pub fn new(limit: u32, window: Duration) -> Result<Self, QuotaError> {
        let limit = NonZeroU32::new(limit).ok_or(QuotaError::ZeroLimit)?;
        if window < Duration::from_secs(1) || window > Duration::from_secs(86_400) {
            return Err(QuotaError::WindowOutOfRange);
        }
        Ok(Self { limit, window })
    }

    /// `limit` requests per minute.
    ///
    /// # Errors
    /// A zero limit.
    pub fn per_minute(limit: u32) -> Result<Self, QuotaError> {
        Self::new(limit, Duration::from_secs(60))
    }

    #[must_use]
    pub fn limit(&self) -> NonZeroU32 {
        self.limit
    }

    #[must_use]
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The time one request "costs": the window divided by the limit.
    #[must_use]
    pub fn emission_interval(&self) -> Duration {
        self.window / self.limit.get()
    }
}

/// The name of a rate-limit policy as clients see it in `RateLimit-Policy`.
/// Lower-case ASCII letters, digits and `-`, 1..=32 characters, so it can be
/// quoted in a header and used in a cache key without escaping.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyName(String);

impl PolicyName {
    /// # Errors
    /// Returns the rejected input when it is empty, too long or has other characters.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = !raw.is_empty()
            && raw.len() <= 32
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok { Ok(Self(raw.to_owned())) } else { Err(raw.to_owned()) }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_refuses_zero_and_out_of_range_windows() {
        assert_eq!(Quota::per_minute(0), Err(QuotaError::ZeroLimit));
        assert_eq!(Quota::new(5, Duration::from_millis(500)), Err(QuotaError::WindowOutOfRange));
        assert_eq!(Quota::new(5, Duration::from_secs(86_401)), Err(QuotaError::WindowOutOfRange));
    }

    #[test]
    fn emission_interval_spreads_the_window() {
        let q = Quota::per_minute(30).unwrap();
        assert_eq!(q.emission_interval(), Duration::from_secs(2));
    }

    #[test]
    fn policy_names_are_header_safe() {
        assert!(PolicyName::parse("auth-login").is_ok());
        for bad in ["", "Auth", "a b", "a\"b", &"x".repeat(33)] {
            assert!(PolicyName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
