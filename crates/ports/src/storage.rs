//! The one error every store reports when it cannot do its work.

/// Storage failed for a reason the caller cannot act on. Either a fault (logged,
/// answered 500) or the store being unavailable for now: unreachable, its pool
/// exhausted, or busy (answered 503: retrying later may succeed).
#[derive(Debug, thiserror::Error)]
#[error("storage {}: {source}", if *.unavailable { "unavailable" } else { "failed" })]
pub struct StorageError {
    unavailable: bool,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl StorageError {
    pub fn new(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { unavailable: false, source: err.into() }
    }

    /// The store cannot be reached or cannot take the work now.
    pub fn unavailable(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { unavailable: true, source: err.into() }
    }

    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }

    /// Whether `err` or any error in its source chain is an unavailable store.
    #[must_use]
    pub fn is_unavailable_in(err: &(dyn std::error::Error + 'static)) -> bool {
        let mut next = Some(err);
        while let Some(err) = next {
            if err.downcast_ref::<Self>().is_some_and(Self::is_unavailable) {
                return true;
            }
            next = err.source();
        }
        false
    }
}
