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
    /// Which requests the access log records (every request is counted in metrics).
    pub access_log: AccessLog,
}

/// Which requests get an access-log line. Every request is counted in the
/// `http_requests_total` and `http_request_duration_seconds` metrics whatever
/// this says; the line is for following one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AccessLog {
    /// Every request.
    All,
    /// Refusals and failures (status 400 and up) and requests slower than a second.
    #[default]
    Problems,
    /// None.
    Off,
}

impl AccessLog {
    /// Whether a request answered `status` after `elapsed` gets a line.
    #[must_use]
    pub fn records(self, status: u16, elapsed: Duration) -> bool {
        match self {
            Self::All => true,
            Self::Problems => status >= 400 || elapsed >= Duration::from_secs(1),
            Self::Off => false,
        }
    }
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
    /// Projects as last rendered for `GET /projects/{id}`.
    pub rendered_projects: crate::projects::RenderedProjects,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_log_records_what_it_says() {
        let fast = Duration::from_millis(3);
        let slow = Duration::from_secs(2);
        assert!(AccessLog::All.records(200, fast));
        assert!(!AccessLog::Problems.records(200, fast));
        assert!(!AccessLog::Problems.records(304, fast));
        assert!(AccessLog::Problems.records(200, slow), "a slow success");
        assert!(AccessLog::Problems.records(404, fast));
        assert!(AccessLog::Problems.records(429, fast));
        assert!(AccessLog::Problems.records(503, fast));
        assert!(!AccessLog::Off.records(500, slow));
    }
}
