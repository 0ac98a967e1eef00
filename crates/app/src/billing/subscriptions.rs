//! What a user does with their subscription: buy one (Checkout), manage it (the
//! portal), cancel or resume it at period end, bring it up to date, read invoices.

use chrono::{DateTime, Utc};
use devora_domain::{BillingInterval, PlanId, Subscription, UserId, past_due_since};
use devora_ports::{CheckoutRequest, CustomerLock, ProviderInvoice, ProviderSubscription};

use super::{BillingError, BillingService};

/// The caller's billing as Devora knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionView {
    /// The plan granted now (free without a subscription that grants one).
    pub plan: PlanId,
    /// The subscription, if the user has or had one.
    pub subscription: Option<Subscription>,
}

/// A page of invoices, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoicesPage {
    pub items: Vec<ProviderInvoice>,
    /// The id to continue after, when there is more.
    pub next: Option<String>,
}

/// Whether `incoming` (what the provider says now) should replace `stored`: it
/// is the same subscription, or there was none, or it is live where the stored
/// one is not. A customer's old, ended subscription never overwrites a newer one.
pub(super) fn replaces(stored: Option<&Subscription>, incoming: &ProviderSubscription) -> bool {
    match stored {
        None => true,
        Some(stored) if stored.id == incoming.id => true,
        Some(stored) => {
            incoming.status.is_live()
                && (!stored.status.is_live() || incoming.current_period_end > stored.current_period_end)
        }
    }
}

/// Logs what an event brought, for the operator's trail.
pub(super) fn log_change(event: &devora_ports::ProviderEvent, current: &ProviderSubscription) {
    tracing::info!(
        event = %event.id,
        kind = %event.kind,
        subscription = %current.id,
        status = current.status.as_str(),
        "billing event applied"
    );
}

/// The live subscription of several (the newest period first), else the newest.
pub(super) fn most_relevant(mut subscriptions: Vec<ProviderSubscription>) -> Option<ProviderSubscription> {
    subscriptions.sort_by_key(|s| (s.status.is_live(), s.current_period_end));
    subscriptions.pop()
}

impl BillingService {
    /// Devora's record of a provider subscription for `user`.
    /// `observed`: when the provider reported this state (an event's time), for
    /// the `past_due` grace, which runs from the failure, not from when Devora heard.
    pub(super) fn record(
        &self,
        user: UserId,
        previous: Option<&Subscription>,
        incoming: &ProviderSubscription,
        observed: DateTime<Utc>,
    ) -> Subscription {
        let now = self.ports.clock.now();
        let observed = observed.min(now);
        let (plan, interval) = match incoming.price_id.as_deref().and_then(|p| self.catalog.plan_for_price(p)) {
            Some((plan, interval)) => (plan.id.clone(), Some(interval)),
            None => {
                tracing::warn!(subscription = %incoming.id, price = ?incoming.price_id, "a subscription's price is in no plan; it grants free");
                (PlanId::free(), None)
            }
        };
        Subscription {
            user_id: user,
            id: incoming.id.clone(),
            customer: incoming.customer.clone(),
            plan,
            interval,
            status: incoming.status,
            current_period_end: incoming.current_period_end,
            cancel_at_period_end: incoming.cancel_at_period_end,
            past_due_since: past_due_since(previous.filter(|p| p.id == incoming.id), incoming.status, observed),
            updated_at: now,
        }
    }

    /// Writes what the provider says under the customer's lock, unless an older
    /// subscription would overwrite a newer one; `true` when something changed.
    pub(super) async fn apply(
        &self,
        lock: &mut Box<dyn CustomerLock>,
        incoming: &ProviderSubscription,
        observed: DateTime<Utc>,
    ) -> Result<bool, BillingError> {
        let stored = lock.subscription().await?;
        if !replaces(stored.as_ref(), incoming) {
            return Ok(false);
        }
        let record = self.record(lock.user(), stored.as_ref(), incoming, observed);
        if stored.as_ref().is_some_and(|s| same_state(s, &record)) {
            return Ok(false);
        }
        lock.save_subscription(&record).await?;
        Ok(true)
    }

    /// Under this node's turn and the customer's lock, fetches subscription `id`
    /// from the provider and writes it, so what is written is never older than
    /// what another handler wrote; `true` when something changed.
    pub(super) async fn refresh_locked(&self, customer: &str, id: &str) -> Result<bool, BillingError> {
        let gateway = self.gateway()?.clone();
        let _turn = self.turns.lock(customer).await;
        let mut lock = self.ports.store.lock_customer(customer).await?.ok_or(BillingError::NoSubscription)?;
        let changed = match gateway.subscription(id).await? {
            Some(current) => self.apply(&mut lock, &current, self.ports.clock.now()).await?,
            None => false,
        };
        lock.commit().await?;
        Ok(changed)
    }

    /// The caller's plan and subscription, from local state.
    ///
    /// # Errors
    /// Storage failures.
    /// The plan a user has now and their stored subscription, without asking the
    /// provider (support views; works without Stripe configured).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn stored_subscription(&self, user: UserId) -> Result<SubscriptionView, BillingError> {
        let subscription = self.ports.store.subscription_of(user).await?;
        Ok(SubscriptionView { plan: self.granted(subscription.as_ref()), subscription })
    }

    pub async fn subscription(&self, user: UserId) -> Result<SubscriptionView, BillingError> {
        self.gateway()?;
        let subscription = self.ports.store.subscription_of(user).await?;
        Ok(SubscriptionView { plan: self.granted(subscription.as_ref()), subscription })
    }

    /// The user's customer at the provider, created on first need.
    async fn customer(&self, user: UserId) -> Result<String, BillingError> {
        if let Some(customer) = self.ports.store.customer_of(user).await? {
            return Ok(customer);
        }
        let account = self.ports.users.find_by_id(user).await?.ok_or(BillingError::NoSubscription)?;
        // Idempotent per user at the provider, and first-writer-wins here: two
        // first checkouts at once end with one customer.
        let created = self.gateway()?.create_customer(user, &account.email).await?;
        let recorded = self.ports.store.record_customer(user, &created, self.ports.clock.now()).await?;
        recorded.ok_or_else(|| {
            BillingError::Internal(crate::InternalError::new(format!(
                "customer {created} is recorded for another user"
            )))
        })
    }

    /// A Checkout session for `plan` billed every `interval`; its URL.
    ///
    /// # Errors
    /// [`BillingError`]: not configured, unknown or free plan, a plan without a
    /// price for the interval (not configured), already subscribed, provider down.
    pub async fn checkout(&self, user: UserId, plan: &str, interval: BillingInterval) -> Result<String, BillingError> {
        let gateway = self.gateway()?.clone();
        let plan = PlanId::parse(plan).ok().and_then(|id| self.catalog.plan(&id)).ok_or(BillingError::UnknownPlan)?;
        if plan.id.is_free() {
            return Err(BillingError::FreePlan);
        }
        let price = plan.price(interval).ok_or(BillingError::NotConfigured(crate::NotConfigured {
            feature: "This plan's price for that interval",
            variable: "BILLING_PLANS_FILE",
        }))?;
        if let Some(current) = self.ports.store.subscription_of(user).await?
            && current.status.is_live()
        {
            return Err(BillingError::AlreadySubscribed);
        }
        let known = self.ports.store.customer_of(user).await?.is_some();
        let customer = self.customer(user).await?;
        if known
            && let Some(live) =
                most_relevant(gateway.customer_subscriptions(&customer).await?).filter(|s| s.status.is_live())
        {
            // Paid already, and the webhook or sync has not told us yet: no second subscription.
            self.refresh_locked(&customer, &live.id).await?;
            return Err(BillingError::AlreadySubscribed);
        }
        let frontend = self.config.frontend_url.trim_end_matches('/');
        let request = CheckoutRequest {
            customer,
            price_id: price.to_owned(),
            user_id: user,
            success_url: format!("{frontend}/billing/success?session_id={{CHECKOUT_SESSION_ID}}"),
            cancel_url: format!("{frontend}/billing/cancel"),
        };
        // One key per user, plan, interval and minute: a double click or a retry
        // gets the same session, a later attempt a new one.
        let minute = self.ports.clock.now().timestamp() / 60;
        let key = format!("checkout:{user}:{}:{}:{minute}", plan.id, interval.as_str());
        Ok(gateway.create_checkout(&request, &key).await?)
    }

    /// A customer-portal session (change plan, payment method, invoices); its URL.
    ///
    /// # Errors
    /// [`BillingError`]: not configured, no billing account yet, provider down.
    pub async fn portal(&self, user: UserId) -> Result<String, BillingError> {
        let gateway = self.gateway()?.clone();
        let customer = self.ports.store.customer_of(user).await?.ok_or(BillingError::NoSubscription)?;
        let return_url = format!("{}/billing", self.config.frontend_url.trim_end_matches('/'));
        let minute = self.ports.clock.now().timestamp() / 60;
        Ok(gateway.create_portal(&customer, &return_url, &format!("portal:{customer}:{minute}")).await?)
    }

    /// Cancels at the period's end (`true`) or undoes a pending cancel (`false`).
    ///
    /// # Errors
    /// [`BillingError`]: not configured, no live subscription, provider down.
    pub async fn set_cancel_at_period_end(&self, user: UserId, cancel: bool) -> Result<SubscriptionView, BillingError> {
        let gateway = self.gateway()?.clone();
        let current = self.ports.store.subscription_of(user).await?;
        let current = current.filter(|s| s.status.is_live()).ok_or(BillingError::NoSubscription)?;
        let action = if cancel { "cancel" } else { "resume" };
        // One key per request: the adapter's retries share it; another request acts again.
        let key = format!("{action}:{}:{}", current.id, uuid::Uuid::new_v4());
        match gateway.set_cancel_at_period_end(&current.id, cancel, &key).await {
            Ok(_) => {}
            // Ended at the provider before Devora heard of it: bring the record up to date.
            Err(devora_ports::GatewayError::NotFound | devora_ports::GatewayError::Refused { .. }) => {
                self.refresh_locked(&current.customer, &current.id).await?;
                return Err(BillingError::NoSubscription);
            }
            Err(other) => return Err(other.into()),
        }
        self.refresh_locked(&current.customer, &current.id).await?;
        self.subscription(user).await
    }

    /// Fetches the user's subscription from the provider now and writes it (the
    /// checkout success page calls this: the browser often returns before the
    /// webhook).
    ///
    /// # Errors
    /// [`BillingError`]: not configured, provider down.
    pub async fn sync(&self, user: UserId) -> Result<SubscriptionView, BillingError> {
        let gateway = self.gateway()?.clone();
        let Some(customer) = self.ports.store.customer_of(user).await? else { return self.subscription(user).await };
        if let Some(latest) = most_relevant(gateway.customer_subscriptions(&customer).await?) {
            self.refresh_locked(&customer, &latest.id).await?;
        }
        self.subscription(user).await
    }

    /// A page of the user's invoices, newest first.
    ///
    /// # Errors
    /// [`BillingError`]: not configured, provider down.
    pub async fn invoices(&self, user: UserId, limit: u32, after: Option<&str>) -> Result<InvoicesPage, BillingError> {
        let gateway = self.gateway()?.clone();
        let Some(customer) = self.ports.store.customer_of(user).await? else {
            return Ok(InvoicesPage { items: Vec::new(), next: None });
        };
        let page = match gateway.invoices(&customer, limit, after).await {
            Ok(page) => page,
            Err(devora_ports::GatewayError::NotFound) if after.is_some() => return Err(BillingError::UnknownCursor),
            Err(devora_ports::GatewayError::Refused { code: Some(code), .. })
                if after.is_some() && code == "resource_missing" =>
            {
                return Err(BillingError::UnknownCursor);
            }
            Err(other) => return Err(other.into()),
        };
        let next = if page.has_more { page.items.last().map(|i| i.id.clone()) } else { None };
        Ok(InvoicesPage { items: page.items, next })
    }
}

/// The same as far as the provider's state goes (not when Devora wrote it).
pub(super) fn same_state(a: &Subscription, b: &Subscription) -> bool {
    (&a.id, &a.customer, &a.plan, a.interval, a.status, a.current_period_end, a.cancel_at_period_end)
        == (&b.id, &b.customer, &b.plan, b.interval, b.status, b.current_period_end, b.cancel_at_period_end)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use devora_domain::SubscriptionStatus as S;

    use super::*;

    fn provider(id: &str, status: S, period_end: DateTime<Utc>) -> ProviderSubscription {
        ProviderSubscription {
            id: id.into(),
            customer: "cus_1".into(),
            status,
            price_id: Some("price_pro".into()),
            current_period_end: period_end,
            cancel_at_period_end: false,
            user_id: None,
        }
    }

    fn stored(id: &str, status: S, period_end: DateTime<Utc>) -> Subscription {
        Subscription {
            user_id: UserId::new(),
            id: id.into(),
            customer: "cus_1".into(),
            plan: PlanId::parse("pro").unwrap(),
            interval: None,
            status,
            current_period_end: period_end,
            cancel_at_period_end: false,
            past_due_since: None,
            updated_at: period_end,
        }
    }

    #[test]
    fn an_old_ended_subscription_never_overwrites_a_newer_one() {
        let now = Utc::now();
        let later = now + chrono::Duration::days(30);
        // The same subscription always replaces itself (deleted after updated stays deleted).
        assert!(replaces(Some(&stored("sub_a", S::Active, later)), &provider("sub_a", S::Canceled, later)));
        assert!(replaces(None, &provider("sub_a", S::Canceled, now)));
        // Another, ended subscription does not replace a live one...
        assert!(!replaces(Some(&stored("sub_new", S::Active, later)), &provider("sub_old", S::Canceled, now)));
        // ...but a live one replaces an ended one, and a newer live one an older.
        assert!(replaces(Some(&stored("sub_old", S::Canceled, now)), &provider("sub_new", S::Active, later)));
        assert!(replaces(Some(&stored("sub_a", S::Active, now)), &provider("sub_b", S::Active, later)));
        assert!(!replaces(Some(&stored("sub_a", S::Active, later)), &provider("sub_b", S::Active, now)));
    }

    #[test]
    fn of_several_the_live_one_with_the_latest_period_is_the_one_that_counts() {
        let now = Utc::now();
        let picked = most_relevant(vec![
            provider("sub_old", S::Canceled, now + chrono::Duration::days(90)),
            provider("sub_live", S::Active, now + chrono::Duration::days(10)),
            provider("sub_live_older", S::PastDue, now + chrono::Duration::days(5)),
        ]);
        assert_eq!(picked.map(|s| s.id), Some("sub_live".into()));
        let ended = most_relevant(vec![
            provider("a", S::Canceled, now),
            provider("b", S::IncompleteExpired, now + chrono::Duration::days(1)),
        ]);
        assert_eq!(ended.map(|s| s.id), Some("b".into()));
        assert_eq!(most_relevant(vec![]), None);
    }
}
