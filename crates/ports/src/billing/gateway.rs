//! The payment provider (Stripe), in Devora's terms.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::{Email, SubscriptionStatus, UserId};

/// A subscription as the payment provider holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSubscription {
    /// The provider's id (`sub_...`).
    pub id: String,
    /// The provider's customer id (`cus_...`).
    pub customer: String,
    pub status: SubscriptionStatus,
    /// The price of its (first) item: what maps it to a plan and interval.
    pub price_id: Option<String>,
    /// The end of the billing period (read from the subscription item).
    pub current_period_end: DateTime<Utc>,
    pub cancel_at_period_end: bool,
    /// `metadata[user_id]`, when the subscription was made through Devora.
    pub user_id: Option<UserId>,
}

/// A Checkout session to start: one subscription to one price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    pub customer: String,
    pub price_id: String,
    /// Sent as `client_reference_id` and `metadata[user_id]` (session and subscription).
    pub user_id: UserId,
    pub success_url: String,
    pub cancel_url: String,
}

/// An invoice of one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderInvoice {
    pub id: String,
    pub number: Option<String>,
    /// In the currency's smallest unit (cents).
    pub amount_due: i64,
    pub amount_paid: i64,
    /// ISO 4217, lowercase (`usd`).
    pub currency: String,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    pub status: String,
    pub created: DateTime<Utc>,
    pub hosted_invoice_url: Option<String>,
    pub invoice_pdf: Option<String>,
}

/// One page of a customer's invoices, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoicePage {
    pub items: Vec<ProviderInvoice>,
    pub has_more: bool,
}

/// A webhook endpoint registered at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    /// The API version its events are rendered in; `None` for the account default.
    pub api_version: Option<String>,
}

/// Why a call to the provider failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// Unreachable, timed out, or failing (5xx, 429) after the retries: try later.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request (its `error.type`, `error.code`, message).
    #[error("payment provider refused the request ({kind}{}): {message}", code.as_ref().map(|c| format!(", {c}")).unwrap_or_default())]
    Refused { kind: String, code: Option<String>, message: String },
    /// The object does not exist at the provider.
    #[error("not found at the payment provider")]
    NotFound,
    /// The key is not allowed to do this (restricted key, wrong mode).
    #[error("the payment provider denied access: {0}")]
    Unauthorized(String),
}

/// The calls Devora makes. Every POST carries an `Idempotency-Key` derived from
/// Devora's own operation (the `key` arguments, or `customer:{user_id}`), the
/// same on every retry, so a retried call never charges or creates twice.
#[async_trait]
pub trait PaymentGateway: Send + Sync + 'static {
    /// The API version the adapter pins and is written against.
    fn api_version(&self) -> &'static str;

    /// Creates the user's customer, with `metadata[user_id]`; idempotent per user
    /// (key `customer:{user_id}`), so concurrent first checkouts make one customer.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn create_customer(&self, user: UserId, email: &Email) -> Result<String, GatewayError>;

    /// A Checkout session in subscription mode; its URL.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn create_checkout(&self, checkout: &CheckoutRequest, key: &str) -> Result<String, GatewayError>;

    /// A customer-portal session returning to `return_url`; its URL.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn create_portal(&self, customer: &str, return_url: &str, key: &str) -> Result<String, GatewayError>;

    /// One subscription; `None` when the provider has no such subscription.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn subscription(&self, id: &str) -> Result<Option<ProviderSubscription>, GatewayError>;

    /// Every subscription of a customer, whatever its status (all pages).
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn customer_subscriptions(&self, customer: &str) -> Result<Vec<ProviderSubscription>, GatewayError>;

    /// Every subscription of the account, whatever its status (all pages).
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn all_subscriptions(&self) -> Result<Vec<ProviderSubscription>, GatewayError>;

    /// Sets whether the subscription ends at its period's end (cancel / resume).
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn set_cancel_at_period_end(
        &self,
        id: &str,
        cancel: bool,
        key: &str,
    ) -> Result<ProviderSubscription, GatewayError>;

    /// A page of the customer's invoices, newest first, after `starting_after`.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn invoices(
        &self,
        customer: &str,
        limit: u32,
        starting_after: Option<&str>,
    ) -> Result<InvoicePage, GatewayError>;

    /// The account's webhook endpoints (to warn about an API version mismatch).
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn webhook_endpoints(&self) -> Result<Vec<WebhookEndpoint>, GatewayError>;
}

/// A webhook event whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEvent {
    /// The provider's event id (`evt_...`): an event takes effect once.
    pub id: String,
    /// `checkout.session.completed`, `customer.subscription.updated`, ...
    pub kind: String,
    pub created: DateTime<Utc>,
    /// The customer the event is about, when it names one.
    pub customer: Option<String>,
    /// The subscription the event is about, when it names one.
    pub subscription: Option<String>,
    /// A Checkout session's `client_reference_id` (the user's id).
    pub client_reference_id: Option<String>,
}

/// Why a webhook delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Missing or malformed `Stripe-Signature`, no `v1` matching any secret, or a
    /// timestamp outside the tolerance.
    #[error("webhook signature rejected: {0}")]
    BadSignature(String),
    /// Signed, but not an event this adapter can read.
    #[error("webhook payload unreadable: {0}")]
    Malformed(String),
}

/// Verifies and reads webhook deliveries.
pub trait WebhookVerifier: Send + Sync + 'static {
    /// Checks `signature_header` against the raw `payload` with every configured
    /// secret (rotation), then reads the event.
    ///
    /// # Errors
    /// [`WebhookError`].
    fn verify(&self, signature_header: &str, payload: &[u8], now: DateTime<Utc>)
    -> Result<ProviderEvent, WebhookError>;
}
