//! What the payment provider tells us. A delivery's payload is never trusted for
//! state: under the customer's lock the subscription is fetched from the
//! provider and that is written, with the event's id in the same transaction, so
//! order does not matter and each event takes effect once, on any node.

use devora_ports::ProviderEvent;

use super::{BillingError, BillingService, STRIPE_WEBHOOK_SECRET, WebhookFailure, most_relevant};
use crate::billing::subscriptions;

/// What a verified delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// It changed (or confirmed) the customer's subscription and was recorded.
    Applied,
    /// This event took effect before: nothing changed.
    Duplicate,
    /// A type Devora does not act on, or about a customer it does not know.
    Ignored,
}

/// The event types that can change a subscription.
const HANDLED: &[&str] = &[
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "invoice.paid",
    "invoice.payment_failed",
];

impl BillingService {
    /// Verifies a delivery's signature on the raw body and applies it.
    ///
    /// # Errors
    /// [`WebhookFailure::Rejected`] for a bad signature (nothing stored);
    /// [`WebhookFailure::Failed`] when applying failed (nothing recorded: the
    /// provider's retry will apply it).
    pub async fn handle_webhook(&self, signature: &str, payload: &[u8]) -> Result<WebhookOutcome, WebhookFailure> {
        let event = self.verify_webhook(signature, payload)?;
        match self.apply_event(&event).await {
            Ok(outcome) => Ok(outcome),
            Err(err) => {
                // Counted for operators; the provider will deliver it again.
                if let Err(note) = self.ports.store.record_webhook_failure(&event.id, self.ports.clock.now()).await {
                    tracing::warn!(error = %note, "could not note a failed webhook delivery");
                }
                Err(err.into())
            }
        }
    }

    /// Checks a delivery's signature on the raw body and reads its event.
    ///
    /// # Errors
    /// [`WebhookFailure::NotConfigured`] without a webhook secret;
    /// [`WebhookFailure::Rejected`] when the signature does not verify.
    pub fn verify_webhook(&self, signature: &str, payload: &[u8]) -> Result<ProviderEvent, WebhookFailure> {
        let provider = self.ports.provider.as_ref().ok_or(WebhookFailure::NotConfigured(super::STRIPE_SECRET_KEY))?;
        let verifier = provider.webhooks.clone().ok_or(WebhookFailure::NotConfigured(STRIPE_WEBHOOK_SECRET))?;
        verifier.verify(signature, payload, self.ports.clock.now()).map_err(|e| WebhookFailure::Rejected(e.to_string()))
    }

    /// Applies a verified event.
    ///
    /// # Errors
    /// Storage or provider failures.
    pub async fn apply_event(&self, event: &ProviderEvent) -> Result<WebhookOutcome, BillingError> {
        if !HANDLED.contains(&event.kind.as_str()) {
            return Ok(WebhookOutcome::Ignored);
        }
        let Some(customer) = event.customer.as_deref() else { return Ok(WebhookOutcome::Ignored) };
        let gateway = self.gateway()?.clone();
        // Redeliveries answer at once, without waiting for the customer's turn.
        if self.ports.store.event_recorded(&event.id).await? {
            return Ok(WebhookOutcome::Duplicate);
        }
        // This node's deliveries for one customer wait here, holding no connection.
        let _turn = self.turns.lock(customer).await;
        let mut lock = match self.ports.store.lock_customer(customer).await? {
            Some(lock) => lock,
            None => {
                // A checkout that completed before its customer was recorded here.
                let user = event.client_reference_id.as_deref().and_then(devora_domain::UserId::parse);
                let Some(user) = user else {
                    tracing::info!(event = %event.id, customer, "webhook for a customer of no user; ignored");
                    return Ok(WebhookOutcome::Ignored);
                };
                let recorded = self.ports.store.record_customer(user, customer, self.ports.clock.now()).await?;
                let lock = if recorded.as_deref() == Some(customer) {
                    self.ports.store.lock_customer(customer).await?
                } else {
                    None
                };
                let Some(lock) = lock else {
                    // The user has another customer (or this one is someone else's):
                    // acknowledged, so Stripe does not retry what can never apply.
                    tracing::warn!(event = %event.id, customer, "webhook for a customer that is not this user's; ignored");
                    return Ok(WebhookOutcome::Ignored);
                };
                lock
            }
        };
        if lock.event_seen(&event.id).await? {
            return Ok(WebhookOutcome::Duplicate);
        }
        let current = match event.subscription.as_deref() {
            Some(id) => gateway.subscription(id).await?,
            None => most_relevant(gateway.customer_subscriptions(customer).await?),
        };
        if let Some(current) = current {
            subscriptions::log_change(event, &current);
            self.apply(&mut lock, &current, event.created).await?;
        }
        lock.record_event(&event.id, &event.kind, self.ports.clock.now()).await?;
        lock.commit().await?;
        Ok(WebhookOutcome::Applied)
    }

    /// Forgets event ids older than the retention; how many.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn purge_events(&self) -> Result<u64, BillingError> {
        let retention = chrono::Duration::from_std(self.config.event_retention).unwrap_or(chrono::Duration::days(7));
        Ok(self.ports.store.purge_events(self.ports.clock.now() - retention).await?)
    }
}

impl BillingService {
    /// Warns about webhook endpoints whose events Stripe renders in another API
    /// version than the adapter's (their payloads may lack what it reads). Quiet
    /// when the key may not read endpoints; nothing to do without a provider.
    pub async fn check_webhook_versions(&self) {
        let Some(provider) = &self.ports.provider else { return };
        let pinned = provider.gateway.api_version();
        match provider.gateway.webhook_endpoints().await {
            Ok(endpoints) => {
                for endpoint in endpoints {
                    if let Some(version) = endpoint.api_version.as_deref()
                        && version != pinned
                    {
                        tracing::warn!(
                            endpoint = %endpoint.id,
                            url = %endpoint.url,
                            endpoint_version = version,
                            pinned,
                            "a Stripe webhook endpoint renders events in another API version than the adapter's"
                        );
                    }
                }
            }
            Err(err) => tracing::debug!(error = %err, "cannot read Stripe's webhook endpoints; version not checked"),
        }
    }
}
