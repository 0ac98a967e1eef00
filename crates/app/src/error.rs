//! The failure every use case shares: one the client cannot act on.

use devora_ports::{StorageError, TokenError};

/// A failure the client cannot act on: logged with its cause, answered 500.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InternalError(#[source] Box<dyn std::error::Error + Send + Sync>);

impl From<StorageError> for InternalError {
    fn from(err: StorageError) -> Self {
        Self(Box::new(err))
    }
}

impl From<devora_ports::HashError> for InternalError {
    fn from(err: devora_ports::HashError) -> Self {
        Self(Box::new(err))
    }
}

impl From<TokenError> for InternalError {
    fn from(err: TokenError) -> Self {
        Self(Box::new(err))
    }
}

impl InternalError {
    /// Wraps any other cause (a task that panicked, a value that will not encode).
    pub fn new(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(err.into())
    }
}

/// A feature this server has no configuration for. It is the one way such a
/// feature answers: 503 `not-configured`, naming the variable the operator sets
/// (never a fake success, never a 500).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{feature} is not configured: set {variable}")]
pub struct NotConfigured {
    /// What the caller asked for, in the product's words ("Billing").
    pub feature: &'static str,
    /// The environment variable that turns it on (`STRIPE_SECRET_KEY`).
    pub variable: &'static str,
}
