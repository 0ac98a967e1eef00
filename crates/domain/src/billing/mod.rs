//! Plans, subscriptions and the rule that turns a subscription into what a user
//! may do now.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{Invalid, UserId, Violation};

/// A plan's id: a lowercase slug (`free`, `pro`, `team`), 1..32 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlanId(String);

impl PlanId {
    /// The plan everyone has without a subscription.
    pub const FREE: &'static str = "free";

    /// # Errors
    /// Not a lowercase slug of 1..32 characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let ok = (1..=32).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-');
        if ok { Ok(Self(raw.to_owned())) } else { Err(Invalid::new(Violation::Invalid, "must be a plan id")) }
    }

    #[must_use]
    pub fn free() -> Self {
        Self(Self::FREE.to_owned())
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    #[must_use]
    pub fn is_free(&self) -> bool {
        self.0 == Self::FREE
    }
}

impl std::fmt::Display for PlanId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How often a plan is paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BillingInterval {
    Month,
    Year,
}

impl BillingInterval {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Year => "year",
        }
    }

    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "month" => Some(Self::Month),
            "year" => Some(Self::Year),
            _ => None,
        }
    }
}

/// What a plan grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub projects: u32,
    pub generations_per_month: u32,
    pub tokens_per_month: u64,
    pub concurrent_jobs: u32,
    /// Bytes of files in one project.
    pub storage_bytes: u64,
    /// Model ids the plan may use; empty means none.
    pub models: Vec<String>,
}

/// A plan of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub id: PlanId,
    pub name: String,
    /// The payment provider's price per interval; a plan without prices cannot be bought.
    pub monthly_price: Option<String>,
    pub yearly_price: Option<String>,
    pub limits: Limits,
}

impl Plan {
    #[must_use]
    pub fn price(&self, interval: BillingInterval) -> Option<&str> {
        match interval {
            BillingInterval::Month => self.monthly_price.as_deref(),
            BillingInterval::Year => self.yearly_price.as_deref(),
        }
    }
}

/// Why a catalogue was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("there is no `free` plan")]
    NoFreePlan,
    #[error("the plan `{0}` is listed twice")]
    DuplicatePlan(String),
    #[error("the price `{0}` belongs to two plans")]
    DuplicatePrice(String),
    #[error("the free plan cannot have prices")]
    PricedFreePlan,
}

/// The plans on offer, in the order they are shown, under a version that moves
/// whenever they change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    version: u32,
    plans: Vec<Plan>,
}

impl Catalog {
    /// # Errors
    /// [`CatalogError`]: a catalogue must have a free plan (without prices), each
    /// plan once, and each price on one plan only.
    pub fn new(version: u32, plans: Vec<Plan>) -> Result<Self, CatalogError> {
        let mut ids = std::collections::HashSet::new();
        let mut prices = std::collections::HashSet::new();
        for plan in &plans {
            if !ids.insert(plan.id.clone()) {
                return Err(CatalogError::DuplicatePlan(plan.id.to_string()));
            }
            for price in [&plan.monthly_price, &plan.yearly_price].into_iter().flatten() {
                if !prices.insert(price.clone()) {
                    return Err(CatalogError::DuplicatePrice(price.clone()));
                }
            }
        }
        let free = plans.iter().find(|p| p.id.is_free()).ok_or(CatalogError::NoFreePlan)?;
        if free.monthly_price.is_some() || free.yearly_price.is_some() {
            return Err(CatalogError::PricedFreePlan);
        }
        Ok(Self { version, plans })
    }

    #[must_use]
    pub fn version(&self) -> u32 {
        self.version
    }

    #[must_use]
    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }

    #[must_use]
    pub fn plan(&self, id: &PlanId) -> Option<&Plan> {
        self.plans.iter().find(|p| &p.id == id)
    }

    /// The free plan (the constructor made sure there is one).
    #[must_use]
    pub fn free(&self) -> &Plan {
        self.plans.iter().find(|p| p.id.is_free()).unwrap_or(&self.plans[0])
    }

    /// The plan and interval a provider price belongs to.
    #[must_use]
    pub fn plan_for_price(&self, price: &str) -> Option<(&Plan, BillingInterval)> {
        self.plans.iter().find_map(|p| {
            if p.monthly_price.as_deref() == Some(price) {
                Some((p, BillingInterval::Month))
            } else if p.yearly_price.as_deref() == Some(price) {
                Some((p, BillingInterval::Year))
            } else {
                None
            }
        })
    }
}

/// A subscription's state at the payment provider (Stripe's statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionStatus {
    Active,
    Trialing,
    PastDue,
    Canceled,
    Unpaid,
    Incomplete,
    IncompleteExpired,
    Paused,
}

impl SubscriptionStatus {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Trialing => "trialing",
            Self::PastDue => "past_due",
            Self::Canceled => "canceled",
            Self::Unpaid => "unpaid",
            Self::Incomplete => "incomplete",
            Self::IncompleteExpired => "incomplete_expired",
            Self::Paused => "paused",
        }
    }

    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "active" => Self::Active,
            "trialing" => Self::Trialing,
            "past_due" => Self::PastDue,
            "canceled" => Self::Canceled,
            "unpaid" => Self::Unpaid,
            "incomplete" => Self::Incomplete,
            "incomplete_expired" => Self::IncompleteExpired,
            "paused" => Self::Paused,
            _ => return None,
        })
    }

    /// Whether the subscription can still bill or be revived (a user with one
    /// changes plans in the portal rather than buying a second).
    #[must_use]
    pub fn is_live(self) -> bool {
        matches!(self, Self::Active | Self::Trialing | Self::PastDue | Self::Unpaid | Self::Incomplete | Self::Paused)
    }
}

/// A user's subscription as Devora last learned it from the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub user_id: UserId,
    /// The provider's ids.
    pub id: String,
    pub customer: String,
    pub plan: PlanId,
    pub interval: Option<BillingInterval>,
    pub status: SubscriptionStatus,
    pub current_period_end: DateTime<Utc>,
    pub cancel_at_period_end: bool,
    /// When the subscription was first seen `past_due` (the grace runs from here).
    pub past_due_since: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// The plan a subscription grants at `now` (the free plan when it grants none):
/// - `active` and `trialing` grant their plan; one set to cancel at its
///   period's end grants it until that end;
/// - `past_due` keeps the plan for `grace` from the failed payment, then falls back;
/// - `canceled`, `unpaid`, `incomplete`, `incomplete_expired` and `paused` grant free.
///
/// Falling back never deletes anything; it only stops what needs the plan.
#[must_use]
pub fn granted_plan(subscription: Option<&Subscription>, now: DateTime<Utc>, grace: Duration) -> PlanId {
    let Some(sub) = subscription else { return PlanId::free() };
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    let grants = match sub.status {
        SubscriptionStatus::Active | SubscriptionStatus::Trialing => {
            !sub.cancel_at_period_end || now < sub.current_period_end
        }
        SubscriptionStatus::PastDue => sub.past_due_since.is_none_or(|since| now < since + grace),
        SubscriptionStatus::Canceled
        | SubscriptionStatus::Unpaid
        | SubscriptionStatus::Incomplete
        | SubscriptionStatus::IncompleteExpired
        | SubscriptionStatus::Paused => false,
    };
    if grants { sub.plan.clone() } else { PlanId::free() }
}

/// When a subscription entered `past_due`: kept while it stays there, `observed`
/// (when the provider reported the change: an event's time) when it just arrived,
/// cleared when it left. `previous` must be the same subscription's record.
#[must_use]
pub fn past_due_since(
    previous: Option<&Subscription>,
    status: SubscriptionStatus,
    observed: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if status != SubscriptionStatus::PastDue {
        return None;
    }
    match previous {
        Some(prev) if prev.status == SubscriptionStatus::PastDue => prev.past_due_since.or(Some(observed)),
        _ => Some(observed),
    }
}

#[cfg(test)]
mod tests;
