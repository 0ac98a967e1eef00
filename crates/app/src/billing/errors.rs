//! What billing operations can fail with. `http` maps each to a status and a
//! stable code in one place (`http/src/billing/errors.rs`).

use devora_ports::{GatewayError, StorageError};

use crate::{InternalError, NotConfigured};

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error(transparent)]
    NotConfigured(NotConfigured),
    /// No such plan in the catalogue.
    #[error("unknown plan")]
    UnknownPlan,
    /// The free plan is not bought.
    #[error("the free plan cannot be bought")]
    FreePlan,
    /// The user has a live subscription: plans change in the portal.
    #[error("already subscribed")]
    AlreadySubscribed,
    /// Nothing to manage: no customer or no live subscription.
    #[error("no subscription")]
    NoSubscription,
    /// An invoices cursor the provider does not know.
    #[error("unknown invoices cursor")]
    UnknownCursor,
    /// The payment provider could not be reached or kept failing.
    #[error("payment provider unavailable: {0}")]
    ProviderUnavailable(String),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<StorageError> for BillingError {
    fn from(err: StorageError) -> Self {
        Self::Internal(err.into())
    }
}

impl From<GatewayError> for BillingError {
    fn from(err: GatewayError) -> Self {
        match err {
            GatewayError::Unavailable(detail) => Self::ProviderUnavailable(detail),
            // A refusal, a missing object or a denied key here is a fault of ours
            // or of the configuration, not something the caller can change.
            other => Self::Internal(InternalError::new(other)),
        }
    }
}

/// Why a webhook delivery was not applied.
#[derive(Debug, thiserror::Error)]
pub enum WebhookFailure {
    #[error(transparent)]
    NotConfigured(NotConfigured),
    /// The signature did not verify, or the timestamp is stale: nothing was stored.
    #[error("{0}")]
    Rejected(String),
    /// Applying failed; nothing was recorded, so the provider's retry applies it.
    #[error("{0}")]
    Failed(#[from] BillingError),
}
