//! Stripe, behind Devora's billing ports: [`StripeGateway`] implements
//! [`devora_ports::PaymentGateway`] over the shared outbound client (no Stripe
//! SDK), [`StripeWebhooks`] implements [`devora_ports::WebhookVerifier`].
//!
//! # API version
//! Every request pins `Stripe-Version: `[`STRIPE_API_VERSION`] (`2026-09-30.endive`),
//! so the account's default version cannot change what the answers look like.
//! What this adapter relies on from that version (all as since `2025-03-31.basil`):
//! - a subscription's billing period lives on its items:
//!   `items.data[0].current_period_end` (the top-level field is gone);
//! - an invoice names its subscription under `parent.subscription_details.subscription`
//!   (webhook events may be rendered in an endpoint's older version, so the
//!   top-level `subscription` is still read as a fallback there).
//!
//! # Requests
//! - `Authorization: Bearer <secret key>`; bodies are form-encoded with Stripe's
//!   bracket keys (`metadata[user_id]=...`, `line_items[0][price]=...`).
//! - Every POST carries an `Idempotency-Key` (`customer:{user_id}` for a customer,
//!   the caller's key otherwise), the same on each retry.
//! - Connection errors, timeouts, 409, 429 and 5xx are retried with exponential
//!   backoff and full jitter ([`RetryPolicy`]); `Stripe-Should-Retry` overrides that
//!   either way. POSTs are retried like GETs: the key makes them safe.
//! - Errors are typed from Stripe's `error.type` / `error.code` / `error.message`.
//!
//! # Wiring
//! ```no_run
//! use devora_outbound::{OutboundConfig, OutboundHttp};
//! use devora_stripe::{StripeConfig, StripeGateway, StripeWebhookConfig, StripeWebhooks};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let http = OutboundHttp::new(OutboundConfig::default())?; // the process's one client
//! // STRIPE_SECRET_KEY, STRIPE_API_BASE
//! let gateway = StripeGateway::new(StripeConfig::new("sk_test_...").with_api_base("https://api.stripe.com"), http);
//! // STRIPE_WEBHOOK_SECRET, split on commas
//! let webhooks = StripeWebhooks::new(StripeWebhookConfig::new(vec!["whsec_new".into(), "whsec_old".into()]));
//! # Ok(())
//! # }
//! ```

mod client;
mod form;
mod gateway;
mod webhooks;

use std::time::Duration;

pub use gateway::StripeGateway;
pub use webhooks::StripeWebhooks;

/// The Stripe API version every request pins and the wire structs are written against.
pub const STRIPE_API_VERSION: &str = "2026-09-30.endive";

/// Where the Stripe API is when `STRIPE_API_BASE` is unset.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

/// How failed calls are retried: up to `max_retries` more tries after the first,
/// waiting a uniformly random time in `[0, min(max_delay, base_delay * 2^n))`
/// before retry `n` ("full jitter", so many nodes retrying do not align).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay: Duration,
    /// The cap on one wait.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_retries: 3, base_delay: Duration::from_millis(500), max_delay: Duration::from_secs(8) }
    }
}

impl RetryPolicy {
    /// The longest wait before retry `retry` (0-based): the base doubled per
    /// retry, capped.
    #[must_use]
    pub fn ceiling(&self, retry: u32) -> Duration {
        self.base_delay.saturating_mul(2u32.saturating_pow(retry)).min(self.max_delay)
    }

    /// A random wait in `[0, ceiling(retry)]`.
    #[must_use]
    pub fn delay(&self, retry: u32) -> Duration {
        use rand::Rng as _;
        let ceiling = u64::try_from(self.ceiling(retry).as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=ceiling))
    }
}

/// The API side: the secret key, where the API is, how to retry.
#[derive(Clone)]
pub struct StripeConfig {
    /// `STRIPE_SECRET_KEY` (`sk_live_...`, `sk_test_...` or a restricted `rk_...`).
    pub secret_key: String,
    /// `STRIPE_API_BASE`, without a trailing slash; [`DEFAULT_API_BASE`] by default.
    pub api_base: String,
    pub retry: RetryPolicy,
}

impl StripeConfig {
    /// The default API base and retry policy.
    #[must_use]
    pub fn new(secret_key: impl Into<String>) -> Self {
        Self { secret_key: secret_key.into(), api_base: DEFAULT_API_BASE.to_owned(), retry: RetryPolicy::default() }
    }

    /// Another API base (`STRIPE_API_BASE`, a stand-in in tests); a trailing `/` is dropped.
    #[must_use]
    pub fn with_api_base(mut self, api_base: impl Into<String>) -> Self {
        self.api_base = api_base.into().trim_end_matches('/').to_owned();
        self
    }

    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}

// The key never reaches a log through `{:?}`.
impl std::fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeConfig")
            .field("secret_key", &"<redacted>")
            .field("api_base", &self.api_base)
            .field("retry", &self.retry)
            .finish()
    }
}

/// The webhook side: the endpoint's signing secrets and the accepted clock skew.
#[derive(Clone)]
pub struct StripeWebhookConfig {
    /// `STRIPE_WEBHOOK_SECRET` as a list (`whsec_...`): during a rotation both the
    /// old and the new secret verify.
    pub secrets: Vec<String>,
    /// How far a signature's timestamp may be from now, either way (replay bound).
    pub tolerance: Duration,
}

impl StripeWebhookConfig {
    /// The default tolerance of 300 seconds, Stripe's own.
    #[must_use]
    pub fn new(secrets: Vec<String>) -> Self {
        Self { secrets, tolerance: Duration::from_secs(300) }
    }
}

impl std::fmt::Debug for StripeWebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeWebhookConfig")
            .field("secrets", &format_args!("<{} redacted>", self.secrets.len()))
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_the_base_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let ceilings: Vec<_> = (0..7).map(|n| policy.ceiling(n)).collect();
        assert_eq!(
            ceilings,
            [500, 1000, 2000, 4000, 8000, 8000, 8000].map(Duration::from_millis),
            "0.5 s doubling, capped at 8 s"
        );
        assert_eq!(policy.ceiling(u32::MAX), Duration::from_secs(8), "no overflow");
    }

    #[test]
    fn the_jittered_delay_stays_within_its_ceiling_and_varies() {
        let policy =
            RetryPolicy { max_retries: 3, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(1) };
        let delays: Vec<_> = (0..200).map(|_| policy.delay(2)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(400)));
        assert!(delays.iter().any(|d| *d != delays[0]), "full jitter, not a fixed wait");
    }

    #[test]
    fn configs_do_not_print_their_secrets() {
        let api = StripeConfig::new("sk_test_secret").with_api_base("http://127.0.0.1:1/");
        assert_eq!(api.api_base, "http://127.0.0.1:1");
        assert!(!format!("{api:?}").contains("sk_test_secret"));
        let hooks = StripeWebhookConfig::new(vec!["whsec_secret".into()]);
        assert_eq!(hooks.tolerance, Duration::from_secs(300));
        assert!(!format!("{hooks:?}").contains("whsec_secret"));
    }
}
