//! Health probes for the services a node depends on.

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("timeout")]
    Timeout,
    #[error("unreachable")]
    Unreachable,
}

#[async_trait]
pub trait Probe: Send + Sync + 'static {
    /// Makes one cheap round trip to the service.
    ///
    /// # Errors
    /// [`ProbeError::Unreachable`] when the service refuses or fails the round trip;
    /// implementations may also return [`ProbeError::Timeout`].
    async fn check(&self) -> Result<(), ProbeError>;

    /// The implementation's name for reports (`sqlite`, `postgres`, `redis`).
    fn backend(&self) -> &'static str;
}
