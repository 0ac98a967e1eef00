//! Use cases, written against the ports only.

pub mod auth;
pub mod health;
pub mod rate_limit;

pub use health::{ComponentReport, HealthService, ReadinessReport};
pub use rate_limit::{
    FallbackRateLimiter, KeyKind, PolicyKind, RateLimitPolicies, RateLimitPolicy, RateLimitService, Subject, ip_bucket,
    subject_key,
};
