use std::sync::Arc;
use std::time::Duration;

use devora_app::admin::AdminService;
use devora_app::auth::AuthService;
use devora_app::billing::BillingService;
use devora_app::generation::GenerationService;
use devora_app::idempotency::IdempotencyService;
use devora_app::projects::ProjectService;
use devora_app::{HealthService, RateLimitService};
use metrics_exporter_prometheus::PrometheusHandle;

/// Settings the HTTP layer needs, already validated by the server's config.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest JSON body accepted, in bytes.
    pub json_limit: usize,
    /// Largest non-JSON body accepted (file uploads), in bytes.
    pub payload_limit: usize,
    /// Origins allowed by CORS (exact match, scheme and port included).
    pub cors_origins: Vec<String>,
    /// Worker threads; `None` = one per core.
    pub workers: Option<usize>,
    /// Time to let in-flight requests finish after SIGTERM/SIGINT.
    pub shutdown_timeout: Duration,
    /// Send `Strict-Transport-Security` (the public URL is https).
    pub hsts: bool,
    /// Proxies whose forwarding headers are believed when resolving client IPs.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub forwarded_header: crate::ForwardedHeader,
}

/// Called before `/metrics` renders, to refresh gauges sampled on demand (DB pool).
pub type ScrapeHook = Arc<dyn Fn() + Send + Sync>;

/// What handlers share. Cheap to clone: every field is a handle.
#[derive(Clone)]
pub struct AppState {
    pub health: HealthService,
    pub auth: AuthService,
    pub projects: ProjectService,
    pub billing: BillingService,
    pub generation: GenerationService,
    pub admin: AdminService,
    pub idempotency: IdempotencyService,
    pub rate_limits: RateLimitService,
    /// Where this API is reached from outside (`PUBLIC_URL`): the base of the
    /// URLs it hands out, such as the OAuth callback.
    pub public_url: String,
    pub metrics: PrometheusHandle,
    pub scrape_hooks: Vec<ScrapeHook>,
}
