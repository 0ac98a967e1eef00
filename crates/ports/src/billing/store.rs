//! Billing state kept by Devora: customers, subscriptions, webhook events seen.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::{Subscription, UserId};

use crate::StorageError;

/// Billing state in storage.
#[async_trait]
pub trait BillingStore: Send + Sync + 'static {
    /// The user's customer id at the payment provider, if one was recorded.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn customer_of(&self, user: UserId) -> Result<Option<String>, StorageError>;

    /// Records `customer` as the user's unless one is recorded already; the
    /// recorded one either way (the first writer wins). `None` when the user has
    /// none and `customer` is already another user's.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn record_customer(
        &self,
        user: UserId,
        customer: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StorageError>;

    /// The user a customer id belongs to.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn user_of_customer(&self, customer: &str) -> Result<Option<UserId>, StorageError>;

    /// The user's subscription as last written.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn subscription_of(&self, user: UserId) -> Result<Option<Subscription>, StorageError>;

    /// Opens a transaction holding the customer's lock: changes to one
    /// customer's billing are decided one after another, on every node. `None`
    /// when no user has this customer.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn lock_customer(&self, customer: &str) -> Result<Option<Box<dyn CustomerLock>>, StorageError>;

    /// Whether a webhook event took effect already, read without any lock (a
    /// quick answer for redeliveries; the locked check stays authoritative).
    ///
    /// # Errors
    /// [`StorageError`].
    async fn event_recorded(&self, event_id: &str) -> Result<bool, StorageError>;

    /// Notes a delivery that could not be applied (answered 5xx; the provider
    /// retries it), for the admin stats.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn record_webhook_failure(&self, event_id: &str, now: DateTime<Utc>) -> Result<(), StorageError>;

    /// Forgets webhook event ids recorded before `before`; how many.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn purge_events(&self, before: DateTime<Utc>) -> Result<u64, StorageError>;
}

/// One customer's billing, locked until [`CustomerLock::commit`] (or dropped,
/// which rolls back).
#[async_trait]
pub trait CustomerLock: Send {
    /// The user the customer belongs to.
    fn user(&self) -> UserId;

    /// The subscription as stored, read under the lock.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn subscription(&mut self) -> Result<Option<Subscription>, StorageError>;

    /// Whether this webhook event took effect already.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn event_seen(&mut self, event_id: &str) -> Result<bool, StorageError>;

    /// Writes the user's subscription (replacing any other).
    ///
    /// # Errors
    /// [`StorageError`].
    async fn save_subscription(&mut self, subscription: &Subscription) -> Result<(), StorageError>;

    /// Records the event as having taken effect, in this transaction.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn record_event(&mut self, event_id: &str, kind: &str, now: DateTime<Utc>) -> Result<(), StorageError>;

    /// Makes the changes durable and releases the lock.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn commit(self: Box<Self>) -> Result<(), StorageError>;
}
