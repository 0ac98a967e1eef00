//! In-process adapters for a single node: a cache, a GCRA rate limiter and job signals.

mod cache;
mod rate_limit;
mod signals;

pub use cache::MemoryCache;
pub use rate_limit::MemoryRateLimiter;
pub use signals::MemorySignals;
