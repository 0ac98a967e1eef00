//! In-process adapters for a single node: a cache and a GCRA rate limiter.

mod cache;
mod rate_limit;

pub use cache::MemoryCache;
pub use rate_limit::MemoryRateLimiter;
