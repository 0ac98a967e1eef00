//! Billing: plans and what they grant, Stripe checkout and portal, the
//! subscription kept in step with the payment provider through webhooks, sync
//! and reconcile.
//!
//! One file per seam: `subscriptions` (what the user does: checkout, portal,
//! cancel, resume, sync, invoices), `webhooks` (what the provider tells us),
//! `reconcile` (the operator's repair), `errors`.

mod errors;
mod keyed;
mod reconcile;
mod subscriptions;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use devora_domain::{Catalog, PlanId, Subscription, UserId, granted_plan};
use devora_ports::{
    BillingStore, Clock, Entitlement, Entitlements, PaymentGateway, StorageError, UserRepository, WebhookVerifier,
};

pub use errors::{BillingError, WebhookFailure};
pub use reconcile::ReconcileReport;
use subscriptions::most_relevant;

pub use subscriptions::{InvoicesPage, SubscriptionView};
pub use webhooks::WebhookOutcome;

use crate::NotConfigured;

/// Tunables of billing.
#[derive(Debug, Clone)]
pub struct BillingConfig {
    /// How long `past_due` keeps the plan after the failed payment.
    pub past_due_grace: Duration,
    /// Where the web app lives: the base of checkout's success and cancel URLs and
    /// the portal's return URL.
    pub frontend_url: String,
    /// How long webhook event ids are remembered (the provider retries for days).
    pub event_retention: Duration,
    /// Customers reconciled at once.
    pub reconcile_concurrency: usize,
}

/// The payment provider, when this server is configured for one.
#[derive(Clone)]
pub struct Provider {
    pub gateway: Arc<dyn PaymentGateway>,
    /// `None` without a webhook secret: deliveries are then refused as not configured.
    pub webhooks: Option<Arc<dyn WebhookVerifier>>,
}

/// The adapters billing needs.
#[derive(Clone)]
pub struct BillingPorts {
    pub store: Arc<dyn BillingStore>,
    pub users: Arc<dyn UserRepository>,
    pub clock: Arc<dyn Clock>,
    /// `None` without `STRIPE_SECRET_KEY`: everything but plans and entitlements
    /// answers [`NotConfigured`].
    pub provider: Option<Provider>,
}

#[derive(Clone)]
pub struct BillingService {
    ports: BillingPorts,
    catalog: Arc<Catalog>,
    config: Arc<BillingConfig>,
    /// This node's turn per customer, taken before the customer's row lock.
    turns: Arc<keyed::KeyedLocks>,
}

const STRIPE_SECRET_KEY: NotConfigured = NotConfigured { feature: "Billing", variable: "STRIPE_SECRET_KEY" };
const STRIPE_WEBHOOK_SECRET: NotConfigured =
    NotConfigured { feature: "Stripe webhooks", variable: "STRIPE_WEBHOOK_SECRET" };

impl BillingService {
    #[must_use]
    pub fn new(ports: BillingPorts, catalog: Catalog, config: BillingConfig) -> Self {
        Self { ports, catalog: Arc::new(catalog), config: Arc::new(config), turns: Arc::default() }
    }

    /// The plans on offer.
    #[must_use]
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    #[must_use]
    pub fn config(&self) -> &BillingConfig {
        &self.config
    }

    fn gateway(&self) -> Result<&Arc<dyn PaymentGateway>, BillingError> {
        self.ports.provider.as_ref().map(|p| &p.gateway).ok_or(BillingError::NotConfigured(STRIPE_SECRET_KEY))
    }

    /// The plan `subscription` grants now.
    fn granted(&self, subscription: Option<&Subscription>) -> PlanId {
        let plan = granted_plan(subscription, self.ports.clock.now(), self.config.past_due_grace);
        // A plan dropped from the catalogue grants what free grants.
        if self.catalog.plan(&plan).is_some() { plan } else { PlanId::free() }
    }
}

#[async_trait]
impl Entitlements for BillingService {
    async fn entitlement(&self, user: UserId) -> Result<Entitlement, StorageError> {
        let subscription = self.ports.store.subscription_of(user).await?;
        let plan = self.granted(subscription.as_ref());
        let limits = self.catalog.plan(&plan).unwrap_or_else(|| self.catalog.free()).limits.clone();
        Ok(Entitlement { plan, limits })
    }
}
