//! Budgets that cap spend: a plan's generations, tokens and concurrent jobs per
//! month, checked when a job is queued, and tokens reserved before each provider
//! call so concurrent jobs cannot overspend. Stores call these rules while they
//! hold the user's lock.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

use crate::Limits;

/// Which of a plan's generation limits was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    Generations,
    Tokens,
    ConcurrentJobs,
}

impl LimitKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generations => "generations",
            Self::Tokens => "tokens",
            Self::ConcurrentJobs => "concurrent_jobs",
        }
    }
}

/// A user's generation in the current period, as the store counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeriodUsage {
    /// Jobs created this period.
    pub generations: u64,
    /// Tokens settled this period (the provider's figures, or estimates).
    pub tokens_used: u64,
    /// Tokens reserved by provider calls still in flight.
    pub tokens_reserved: u64,
    /// Jobs queued or running now.
    pub active_jobs: u64,
}

/// Why a job may not be queued: a limit, what was used of it, and when it resets
/// (none for concurrent jobs, which free up as jobs end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetRefusal {
    pub kind: LimitKind,
    pub limit: u64,
    pub used: u64,
    pub resets_at: Option<DateTime<Utc>>,
}

/// What admitting one more job is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub generations_per_month: u64,
    pub tokens_per_month: u64,
    pub concurrent_jobs: u64,
    pub resets_at: DateTime<Utc>,
}

impl Admission {
    #[must_use]
    pub fn from_limits(limits: &Limits, resets_at: DateTime<Utc>) -> Self {
        Self {
            generations_per_month: u64::from(limits.generations_per_month),
            tokens_per_month: limits.tokens_per_month,
            concurrent_jobs: u64::from(limits.concurrent_jobs),
            resets_at,
        }
    }
}

/// May one more job be queued?
///
/// # Errors
/// The first limit it would break, in the order generations, tokens, concurrency.
pub fn admit(admission: &Admission, usage: &PeriodUsage) -> Result<(), BudgetRefusal> {
    let refuse = |kind, limit, used, resets_at| Err(BudgetRefusal { kind, limit, used, resets_at });
    if usage.generations >= admission.generations_per_month {
        return refuse(
            LimitKind::Generations,
            admission.generations_per_month,
            usage.generations,
            Some(admission.resets_at),
        );
    }
    let tokens = usage.tokens_used + usage.tokens_reserved;
    if tokens >= admission.tokens_per_month {
        return refuse(LimitKind::Tokens, admission.tokens_per_month, tokens, Some(admission.resets_at));
    }
    if usage.active_jobs >= admission.concurrent_jobs {
        return refuse(LimitKind::ConcurrentJobs, admission.concurrent_jobs, usage.active_jobs, None);
    }
    Ok(())
}

/// Tokens reserved for one provider call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenGrant {
    /// The call's `max_tokens`: what was asked for, or less when the month has less left.
    pub max_tokens: u32,
    /// Held against the month until the call's usage is settled: prompt plus `max_tokens`.
    pub reserved: u64,
}

/// Reserves a call's tokens from what the month has left; `None` when too little
/// is left for `min_output` tokens of reply (the job stops: `budget-exhausted`).
#[must_use]
pub fn grant_tokens(
    tokens_per_month: u64,
    usage: &PeriodUsage,
    prompt_estimate: u64,
    wanted_output: u32,
    min_output: u32,
) -> Option<TokenGrant> {
    let left = tokens_per_month.saturating_sub(usage.tokens_used + usage.tokens_reserved);
    let for_output = left.checked_sub(prompt_estimate)?;
    if for_output < u64::from(min_output) {
        return None;
    }
    let max_tokens = u32::try_from(for_output.min(u64::from(wanted_output))).unwrap_or(wanted_output);
    Some(TokenGrant { max_tokens, reserved: prompt_estimate + u64::from(max_tokens) })
}

/// The budget period holding `now`: the calendar month in UTC, as `[start, reset)`.
#[must_use]
pub fn billing_period(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let first = |year: i32, month: u32| {
        NaiveDate::from_ymd_opt(year, month, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(now, |d| Utc.from_utc_datetime(&d))
    };
    let start = first(now.year(), now.month());
    let reset = if now.month() == 12 { first(now.year() + 1, 1) } else { first(now.year(), now.month() + 1) };
    (start, reset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission() -> Admission {
        Admission { generations_per_month: 10, tokens_per_month: 1000, concurrent_jobs: 2, resets_at: Utc::now() }
    }

    #[test]
    fn a_job_is_admitted_below_every_limit_and_refused_at_each() {
        let a = admission();
        assert!(
            admit(&a, &PeriodUsage { generations: 9, tokens_used: 900, tokens_reserved: 99, active_jobs: 1 }).is_ok()
        );
        let g = admit(&a, &PeriodUsage { generations: 10, ..Default::default() }).unwrap_err();
        assert_eq!((g.kind, g.limit, g.used), (LimitKind::Generations, 10, 10));
        let t = admit(&a, &PeriodUsage { tokens_used: 600, tokens_reserved: 400, ..Default::default() }).unwrap_err();
        assert_eq!((t.kind, t.used), (LimitKind::Tokens, 1000));
        let c = admit(&a, &PeriodUsage { active_jobs: 2, ..Default::default() }).unwrap_err();
        assert_eq!((c.kind, c.resets_at), (LimitKind::ConcurrentJobs, None));
    }

    #[test]
    fn a_grant_is_what_was_asked_or_what_is_left_and_none_below_the_minimum() {
        let used = PeriodUsage { tokens_used: 500, tokens_reserved: 200, ..Default::default() };
        assert_eq!(grant_tokens(10_000, &used, 100, 1000, 16), Some(TokenGrant { max_tokens: 1000, reserved: 1100 }));
        assert_eq!(grant_tokens(1_000, &used, 100, 1000, 16), Some(TokenGrant { max_tokens: 200, reserved: 300 }));
        assert_eq!(grant_tokens(1_000, &used, 290, 1000, 16), None);
        assert_eq!(grant_tokens(500, &used, 0, 1000, 16), None);
    }

    #[test]
    fn the_period_is_the_calendar_month_and_december_resets_in_january() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            billing_period(at("2026-12-07T05:00:00Z")),
            (at("2026-12-01T00:00:00Z"), at("2027-01-01T00:00:00Z"))
        );
        assert_eq!(
            billing_period(at("2026-02-28T23:59:59Z")),
            (at("2026-02-01T00:00:00Z"), at("2026-03-01T00:00:00Z"))
        );
    }
}
