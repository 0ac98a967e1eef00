//! Reconcile: walk every subscription at the provider, compare it with local
//! state, and repair drift under the same per-customer lock the webhooks use.

use std::collections::BTreeMap;

use devora_ports::ProviderSubscription;
use futures_util::StreamExt;

use super::{BillingError, BillingService, most_relevant, subscriptions};

/// What one reconcile run found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Customers of Devora's users compared.
    pub checked: u64,
    /// Subscription ids whose local state was repaired.
    pub repaired: Vec<String>,
    /// Customers that could not be compared or repaired (logged with the cause).
    pub failed: Vec<String>,
}

/// What reconciling one customer found.
enum Checked {
    /// A customer of no user of Devora's.
    NotOurs,
    /// Local state matched the provider's.
    Same,
    /// Local state was repaired; the subscription's id.
    Repaired(String),
}

impl BillingService {
    /// Compares every subscription at the provider with local state and repairs
    /// drift. Idempotent: a second run repairs nothing.
    ///
    /// # Errors
    /// [`BillingError`]: not configured, or the provider's list could not be read.
    pub async fn reconcile(&self) -> Result<ReconcileReport, BillingError> {
        let gateway = self.gateway()?.clone();
        let mut by_customer: BTreeMap<String, Vec<ProviderSubscription>> = BTreeMap::new();
        for subscription in gateway.all_subscriptions().await? {
            by_customer.entry(subscription.customer.clone()).or_default().push(subscription);
        }
        let concurrency = self.config.reconcile_concurrency.max(1);
        let outcomes: Vec<(String, Result<Checked, BillingError>)> = futures_util::stream::iter(by_customer)
            .map(|(customer, subscriptions)| async move {
                let outcome = self.reconcile_customer(&customer, subscriptions).await;
                (customer, outcome)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut report = ReconcileReport::default();
        for (customer, outcome) in outcomes {
            match outcome {
                Ok(Checked::NotOurs) => {}
                Ok(Checked::Same) => report.checked += 1,
                Ok(Checked::Repaired(id)) => {
                    report.checked += 1;
                    report.repaired.push(id);
                }
                Err(err) => {
                    tracing::error!(customer, error = %err, "reconcile failed for a customer");
                    report.checked += 1;
                    report.failed.push(customer);
                }
            }
        }
        report.repaired.sort();
        report.failed.sort();
        tracing::info!(
            checked = report.checked,
            repaired = report.repaired.len(),
            failed = report.failed.len(),
            "billing reconciled"
        );
        Ok(report)
    }

    async fn reconcile_customer(
        &self,
        customer: &str,
        subscriptions: Vec<ProviderSubscription>,
    ) -> Result<Checked, BillingError> {
        let Some(latest) = most_relevant(subscriptions) else { return Ok(Checked::NotOurs) };
        let user = match self.ports.store.user_of_customer(customer).await? {
            Some(user) => user,
            // A customer made for a Devora user outside Devora (the dashboard, a
            // lost response): its subscription's `metadata[user_id]` names the user.
            None => match latest.user_id {
                Some(user)
                    if self.ports.store.record_customer(user, customer, self.ports.clock.now()).await?.as_deref()
                        == Some(customer) =>
                {
                    user
                }
                _ => return Ok(Checked::NotOurs),
            },
        };
        // The list is a snapshot taken over minutes: where it differs from local
        // state, the subscription is fetched again under the lock before writing,
        // so a webhook that wrote something newer meanwhile is not undone.
        let local = self.ports.store.subscription_of(user).await?;
        let listed = self.record(user, local.as_ref(), &latest, self.ports.clock.now());
        let differs = !subscriptions::replaces(local.as_ref(), &latest)
            || local.as_ref().is_none_or(|l| !subscriptions::same_state(l, &listed));
        if !differs || !self.refresh_locked(customer, &latest.id).await? {
            return Ok(Checked::Same);
        }
        tracing::warn!(customer, subscription = %latest.id, "billing drift repaired");
        Ok(Checked::Repaired(latest.id))
    }
}
