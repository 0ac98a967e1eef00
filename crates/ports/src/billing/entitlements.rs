//! What a user may do now.

use async_trait::async_trait;
use devora_domain::{Limits, PlanId, UserId};

use crate::StorageError;

/// The plan a user's subscription grants now, and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement {
    pub plan: PlanId,
    pub limits: Limits,
}

/// Answers "what may this user do now" from their subscription state. Every
/// limit a plan sets (projects, storage, generation) is read through it.
#[async_trait]
pub trait Entitlements: Send + Sync + 'static {
    /// # Errors
    /// [`StorageError`].
    async fn entitlement(&self, user: UserId) -> Result<Entitlement, StorageError>;
}
