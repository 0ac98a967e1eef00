//! Use cases, written against the ports only.

pub mod admin;
pub mod auth;
pub mod billing;
mod error;
pub mod generation;
pub mod health;
pub mod housekeeping;
pub mod idempotency;
pub mod projects;
pub mod rate_limit;
pub mod read_through;
pub mod tasks;

pub use error::{InternalError, NotConfigured};
pub use health::{ComponentReport, HealthService, ReadinessReport};
pub use rate_limit::{
    FallbackRateLimiter, KeyKind, PolicyKind, RateLimitPolicies, RateLimitPolicy, RateLimitService, Subject, ip_bucket,
    subject_key,
};
