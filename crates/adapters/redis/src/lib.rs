//! Redis adapters (redis-rs, shared multiplexed connections): a shared cache, an
//! exact GCRA rate limiter across nodes, the request gate (both in one round
//! trip), job signals and a health probe.
//!
//! Every operation is bounded by a short timeout and guarded by a circuit
//! breaker, so a Redis that is down or hanging costs a request nothing: the
//! breaker opens after a few failures and calls fail at once until a probe
//! succeeds.

mod breaker;
mod cache;
mod gate;
mod rate_limit;
mod scripts;
mod signals;
mod store;

pub use breaker::BreakerState;
pub use cache::RedisCache;
pub use rate_limit::RedisRateLimiter;
pub use signals::RedisSignals;
pub use store::{RedisConfig, RedisError, RedisStore};
