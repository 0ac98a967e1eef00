//! Typed settings from the environment, validated once at start.
//!
//! Hand-written rather than a config crate: the settings are flat environment
//! variables with fixed names, and every error must name its variable and say
//! what is wrong, all of them at once, which is simplest done directly.

use std::collections::HashMap;
use std::time::Duration;

use devora_app::{RateLimitPolicies, RateLimitPolicy};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};

mod generation;
mod plans;
mod reader;
#[cfg(test)]
mod tests;

pub use generation::{DEFAULT_MODEL, GenerationSettings};
pub use plans::{DEFAULT_PLANS, parse_catalog};
pub use reader::{ConfigError, VarError, redact_url};
use reader::{Reader, generate_secret};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://devora.db?mode=rwc";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
    pub min_connections: u32,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    pub sqlite_busy_timeout: Duration,
    pub statement_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: SecretString,
    pub key_prefix: String,
    pub op_timeout: Duration,
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub host: String,
    pub port: u16,
    pub workers: Option<usize>,
    pub json_limit: usize,
    pub body_limit: usize,
    pub shutdown_timeout: Duration,
    pub cors_origins: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    /// The header the trusted proxies write: `x-forwarded-for` or `forwarded`.
    pub forwarded_header: devora_http::ForwardedHeader,
    pub access_log: devora_http::AccessLog,
}

/// Credentials of an optional integration; `None` fields mean "not configured".
#[derive(Debug, Clone, Default)]
pub struct Integrations {
    pub stripe_secret_key: Option<SecretString>,
    pub stripe_webhook_secrets: Vec<SecretString>,
    pub stripe_api_base: String,
    pub google_client_id: Option<String>,
    pub google_client_secret: Option<SecretString>,
    pub google_issuer_url: String,
    pub github_client_id: Option<String>,
    pub github_client_secret: Option<SecretString>,
    pub github_oauth_base: String,
    pub github_api_base: String,
    pub llm_base_url: Option<String>,
    pub llm_api_key: Option<SecretString>,
    pub llm_model: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub env: AppEnv,
    pub log_format: LogFormat,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub redis: Option<RedisSettings>,
    pub jwt_secret: SecretString,
    /// True when no `JWT_SECRET` was given and one was generated (development only).
    pub jwt_secret_generated: bool,
    pub public_url: String,
    pub frontend_url: String,
    pub cache_max_bytes: u64,
    pub admin_emails: Vec<String>,
    pub integrations: Integrations,
    pub rate_limits: RateLimitPolicies,
    pub sessions: SessionSettings,
    pub projects: ProjectSettings,
    pub billing: BillingSettings,
    pub generation: GenerationSettings,
    /// How often expired records (ended sessions, sign-in state, old
    /// idempotency keys) are purged.
    pub purge_interval: Duration,
    /// Install SIGTERM/SIGINT handlers (the binary does; embedded test servers do not).
    pub handle_signals: bool,
}

/// Plans and subscriptions.
#[derive(Debug, Clone)]
pub struct BillingSettings {
    /// The plans on offer (`BILLING_PLANS_FILE`, or the built-in default).
    pub catalog: devora_domain::Catalog,
    /// How long `past_due` keeps the plan (`BILLING_PAST_DUE_GRACE_HOURS`).
    pub past_due_grace: Duration,
}

/// Tokens and sessions.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub access_token_ttl: Duration,
    pub idle_timeout: Duration,
    pub lifetime: Duration,
    pub refresh_grace: Duration,
    /// Argon2 hashes allowed at once (each takes 19 MiB and a core for ~50 ms).
    pub hash_concurrency: usize,
}

/// Project limits and cache lifetimes.
#[derive(Debug, Clone)]
pub struct ProjectSettings {
    pub max_file_bytes: u64,
    pub max_files: u32,
    pub max_project_bytes: u64,
    pub project_ttl: Duration,
    pub list_ttl: Duration,
    pub files_ttl: Duration,
}

impl Settings {
    /// Settings from the process environment.
    ///
    /// # Errors
    /// Every invalid variable, named, with what is wrong.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    /// Settings from explicit variables (tests build these without touching the
    /// process environment).
    ///
    /// # Errors
    /// Every invalid variable, named, with what is wrong.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let vars: HashMap<String, String> = vars.into_iter().collect();
        let mut r = Reader { vars: &vars, errors: Vec::new() };

        let env = match r.get("APP_ENV").map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("development" | "dev") => AppEnv::Development,
            Some("production" | "prod") => AppEnv::Production,
            Some(other) => {
                r.fail("APP_ENV", format!("must be development or production (got {other:?})"));
                AppEnv::Development
            }
        };
        let production = env == AppEnv::Production;
        let log_format = match r.get("LOG_FORMAT").map(|v| v.to_ascii_lowercase()).as_deref() {
            None if production => LogFormat::Json,
            None => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some("pretty" | "text") => LogFormat::Pretty,
            Some(other) => {
                r.fail("LOG_FORMAT", format!("must be json or pretty (got {other:?})"));
                LogFormat::Pretty
            }
        };

        let public_url = r.http_url("PUBLIC_URL", "http://localhost:8080");
        let frontend_url = r.http_url("FRONTEND_URL", "http://localhost:5173");
        let mut cors_origins = r.list("CORS_ORIGINS");
        if cors_origins.is_empty() {
            cors_origins.push(frontend_url.clone());
        }
        for origin in &cors_origins {
            let valid = (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.trim_end_matches('/').contains(|c: char| c == '?' || c == '#' || c.is_whitespace())
                && origin.matches('/').count() == 2;
            if !valid {
                r.fail("CORS_ORIGINS", format!("{origin:?} is not an origin (scheme://host[:port], no path)"));
            }
        }
        let mut trusted_proxies = Vec::new();
        for raw in r.list("TRUSTED_PROXIES") {
            match raw.parse::<IpNet>().or_else(|_| raw.parse::<std::net::IpAddr>().map(IpNet::from)) {
                Ok(net) => trusted_proxies.push(net),
                Err(_) => r.fail("TRUSTED_PROXIES", format!("{raw:?} is not an IP address or CIDR block")),
            }
        }

        let http = HttpSettings {
            host: r.string("HOST", "127.0.0.1"),
            port: r.number("PORT", 8080u16, 0, u16::MAX),
            workers: r.get("HTTP_WORKERS").map(|_| r.number("HTTP_WORKERS", 1usize, 1, 256)),
            json_limit: r.number("HTTP_JSON_LIMIT_BYTES", 256 * 1024usize, 1024, 64 * 1024 * 1024),
            body_limit: r.number("HTTP_BODY_LIMIT_BYTES", 10 * 1024 * 1024usize, 1024, 1024 * 1024 * 1024),
            shutdown_timeout: Duration::from_secs(r.number("SHUTDOWN_TIMEOUT_SECS", 30u64, 0, 3600)),
            cors_origins,
            trusted_proxies,
            forwarded_header: match r.get("TRUSTED_PROXY_HEADER").map(|v| v.to_ascii_lowercase()).as_deref() {
                None | Some("x-forwarded-for") => devora_http::ForwardedHeader::XForwardedFor,
                Some("forwarded") => devora_http::ForwardedHeader::Forwarded,
                Some(other) => {
                    r.fail("TRUSTED_PROXY_HEADER", format!("must be x-forwarded-for or forwarded (got {other:?})"));
                    devora_http::ForwardedHeader::XForwardedFor
                }
            },
            access_log: match r.get("ACCESS_LOG").map(|v| v.to_ascii_lowercase()).as_deref() {
                None | Some("problems") => devora_http::AccessLog::Problems,
                Some("all") => devora_http::AccessLog::All,
                Some("off") => devora_http::AccessLog::Off,
                Some(other) => {
                    r.fail("ACCESS_LOG", format!("must be all, problems or off (got {other:?})"));
                    devora_http::AccessLog::Problems
                }
            },
        };

        let db_url = r.string("DATABASE_URL", DEFAULT_DATABASE_URL);
        let is_sqlite = db_url.starts_with("sqlite:");
        if !is_sqlite && !db_url.starts_with("postgres://") && !db_url.starts_with("postgresql://") {
            r.fail("DATABASE_URL", "must start with sqlite: or postgres://");
        }
        let allow_sqlite = r.bool("ALLOW_SQLITE_IN_PRODUCTION", false);
        if production && is_sqlite && !allow_sqlite {
            r.fail(
                "DATABASE_URL",
                "is SQLite while APP_ENV=production; use Postgres, or set ALLOW_SQLITE_IN_PRODUCTION=true for a single node",
            );
        }
        let database = DatabaseSettings {
            url: SecretString::from(db_url),
            max_connections: r.number("DATABASE_MAX_CONNECTIONS", if is_sqlite { 8u32 } else { 20 }, 1, 1000),
            min_connections: r.number("DATABASE_MIN_CONNECTIONS", 0u32, 0, 1000),
            connect_timeout: Duration::from_secs(r.number("DATABASE_CONNECT_TIMEOUT_SECS", 5u64, 1, 300)),
            idle_timeout: Duration::from_secs(r.number("DATABASE_IDLE_TIMEOUT_SECS", 300u64, 1, 86_400)),
            sqlite_busy_timeout: Duration::from_millis(r.number("SQLITE_BUSY_TIMEOUT_MS", 5_000u64, 0, 600_000)),
            statement_timeout: Duration::from_millis(r.number(
                "DATABASE_STATEMENT_TIMEOUT_MS",
                10_000u64,
                100,
                3_600_000,
            )),
        };

        let redis = r.get("REDIS_URL").map(|url| {
            if !(url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://")) {
                r.fail("REDIS_URL", "must start with redis://, rediss:// or unix://");
            }
            RedisSettings {
                url: SecretString::from(url),
                key_prefix: r.string("REDIS_KEY_PREFIX", "devora:"),
                op_timeout: Duration::from_millis(r.number("REDIS_TIMEOUT_MS", 250u64, 10, 10_000)),
                breaker_threshold: r.number("REDIS_BREAKER_THRESHOLD", 3u32, 1, 1000),
                breaker_cooldown: Duration::from_millis(r.number("REDIS_BREAKER_COOLDOWN_MS", 2_000u64, 100, 600_000)),
            }
        });

        let (jwt_secret, jwt_secret_generated) = match r.secret("JWT_SECRET") {
            Some(secret) if secret.expose_secret().len() >= 32 => (secret, false),
            Some(_) => {
                r.fail("JWT_SECRET", "must be at least 32 bytes (e.g. `openssl rand -base64 48`)");
                (generate_secret(), true)
            }
            None if production => {
                r.fail("JWT_SECRET", "is required when APP_ENV=production (at least 32 bytes)");
                (generate_secret(), true)
            }
            None => (generate_secret(), true),
        };

        let integrations = Integrations {
            stripe_secret_key: r.secret("STRIPE_SECRET_KEY"),
            stripe_webhook_secrets: r.list("STRIPE_WEBHOOK_SECRET").into_iter().map(SecretString::from).collect(),
            stripe_api_base: r.http_url("STRIPE_API_BASE", "https://api.stripe.com"),
            google_client_id: r.get("GOOGLE_CLIENT_ID"),
            google_client_secret: r.secret("GOOGLE_CLIENT_SECRET"),
            google_issuer_url: r.http_url("GOOGLE_ISSUER_URL", "https://accounts.google.com"),
            github_client_id: r.get("GITHUB_CLIENT_ID"),
            github_client_secret: r.secret("GITHUB_CLIENT_SECRET"),
            github_oauth_base: r.http_url("GITHUB_OAUTH_BASE", "https://github.com"),
            github_api_base: r.http_url("GITHUB_API_BASE", "https://api.github.com"),
            llm_base_url: r.get("LLM_BASE_URL").map(|_| r.http_url("LLM_BASE_URL", "")),
            llm_api_key: r.secret("LLM_API_KEY"),
            llm_model: r.get("LLM_MODEL"),
        };
        for (id, secret, id_name, secret_name) in [
            (
                integrations.google_client_id.is_some(),
                integrations.google_client_secret.is_some(),
                "GOOGLE_CLIENT_ID",
                "GOOGLE_CLIENT_SECRET",
            ),
            (
                integrations.github_client_id.is_some(),
                integrations.github_client_secret.is_some(),
                "GITHUB_CLIENT_ID",
                "GITHUB_CLIENT_SECRET",
            ),
        ] {
            if id && !secret {
                r.fail(secret_name, format!("is required when {id_name} is set"));
            } else if secret && !id {
                r.fail(id_name, format!("is required when {secret_name} is set"));
            }
        }

        let admin_emails = r.list("ADMIN_EMAILS").into_iter().map(|e| e.to_lowercase()).collect::<Vec<_>>();
        for email in &admin_emails {
            if !email.contains('@') {
                r.fail("ADMIN_EMAILS", format!("{email:?} is not an email address"));
            }
        }
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let sessions = SessionSettings {
            access_token_ttl: Duration::from_secs(r.number("ACCESS_TOKEN_TTL_SECS", 900u64, 60, 86_400)),
            idle_timeout: Duration::from_secs(3600 * r.number("SESSION_IDLE_TIMEOUT_HOURS", 168u64, 1, 8760)),
            lifetime: Duration::from_secs(3600 * r.number("SESSION_LIFETIME_HOURS", 720u64, 1, 8760)),
            refresh_grace: Duration::from_secs(r.number("REFRESH_REUSE_GRACE_SECS", 10u64, 0, 300)),
            hash_concurrency: r.number("PASSWORD_HASH_CONCURRENCY", cores.max(2), 1, 1024),
        };
        // Cache lifetimes stay inside 3 min..6 h.
        let ttl = |r: &mut Reader, name: &'static str, default: u64| {
            Duration::from_secs(r.number(name, default, 180, 21_600))
        };
        let projects = ProjectSettings {
            max_file_bytes: r.number("FILE_MAX_BYTES", 1024 * 1024u64, 1, 1024 * 1024 * 1024),
            max_files: r.number("PROJECT_MAX_FILES", 1000u32, 1, 1_000_000),
            max_project_bytes: r.number("PROJECT_MAX_BYTES", 50 * 1024 * 1024u64, 1, 1024 * 1024 * 1024 * 1024),
            project_ttl: ttl(&mut r, "CACHE_TTL_PROJECT_SECS", 300),
            list_ttl: ttl(&mut r, "CACHE_TTL_PROJECT_LIST_SECS", 180),
            files_ttl: ttl(&mut r, "CACHE_TTL_FILES_SECS", 300),
        };
        let cache_max_bytes = r.number("CACHE_MAX_BYTES", 64 * 1024 * 1024u64, 1024 * 1024, 64 * 1024 * 1024 * 1024);

        let rate_limits = match RateLimitPolicies::defaults() {
            Ok(defaults) => {
                let mut policy =
                    |var: &'static str, p: RateLimitPolicy| RateLimitPolicy { quota: r.quota(var, p.quota), ..p };
                RateLimitPolicies {
                    auth: policy("RATE_LIMIT_AUTH", defaults.auth),
                    login: policy("RATE_LIMIT_LOGIN", defaults.login),
                    login_ip: policy("RATE_LIMIT_LOGIN_IP", defaults.login_ip),
                    generation: policy("RATE_LIMIT_GENERATION", defaults.generation),
                    writes: policy("RATE_LIMIT_WRITES", defaults.writes),
                    reads: policy("RATE_LIMIT_READS", defaults.reads),
                    public: policy("RATE_LIMIT_PUBLIC", defaults.public),
                    webhook: policy("RATE_LIMIT_WEBHOOK", defaults.webhook),
                    enabled: r.bool("RATE_LIMIT_ENABLED", true),
                }
            }
            Err(err) => {
                r.fail("RATE_LIMIT_*", err);
                return Err(ConfigError(r.errors));
            }
        };
        let generation = generation::read(&mut r);
        let purge_interval = Duration::from_secs(r.number("PURGE_INTERVAL_SECS", 900u64, 60, 86_400));
        let free_projects =
            r.get("FREE_PLAN_MAX_PROJECTS").map(|_| r.number("FREE_PLAN_MAX_PROJECTS", 3u32, 1, 1_000_000));
        let plans = match r.get("BILLING_PLANS_FILE") {
            Some(path) => std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}")),
            None => Ok(DEFAULT_PLANS.to_owned()),
        };
        let catalog = plans.and_then(|json| parse_catalog(&json, free_projects));
        let billing = match catalog {
            Ok(catalog) => Some(BillingSettings {
                catalog,
                past_due_grace: Duration::from_secs(3600 * r.number("BILLING_PAST_DUE_GRACE_HOURS", 72u64, 0, 24 * 90)),
            }),
            Err(problem) => {
                r.fail("BILLING_PLANS_FILE", problem);
                None
            }
        };
        if env == AppEnv::Production
            && integrations.stripe_secret_key.is_some()
            && integrations.stripe_webhook_secrets.is_empty()
        {
            r.fail("STRIPE_WEBHOOK_SECRET", "is required in production when STRIPE_SECRET_KEY is set");
        }

        let Some(billing) = billing.filter(|_| r.errors.is_empty()) else {
            return Err(ConfigError(r.errors));
        };
        Ok(Self {
            env,
            log_format,
            http,
            database,
            redis,
            jwt_secret,
            jwt_secret_generated,
            public_url,
            frontend_url,
            cache_max_bytes,
            admin_emails,
            integrations,
            rate_limits,
            sessions,
            projects,
            billing,
            generation,
            purge_interval,
            handle_signals: true,
        })
    }

    /// The database URL with any password hidden, for logs.
    #[must_use]
    pub fn database_url_redacted(&self) -> String {
        redact_url(self.database.url.expose_secret())
    }
}
