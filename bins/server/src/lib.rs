//! Wiring: settings -> adapters -> services -> HTTP. No logic of its own.
//!
//! A library so the end-to-end tests can start the real server in-process
//! (`Application::build`) on port 0 with their own settings.

pub mod config;
mod generation;
mod signals;
pub mod telemetry;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use devora_app::admin::{AdminPorts, AdminService};
use devora_app::auth::{AuthConfig, AuthPorts, AuthService};
use devora_app::billing::{BillingConfig, BillingPorts, BillingService, Provider};
use devora_app::generation::{GenerationService, spawn_workers};
use devora_app::housekeeping::Housekeeping;
use devora_app::idempotency::IdempotencyService;
use devora_app::projects::{ProjectConfig, ProjectService};
use devora_app::read_through::ReadThrough;
use devora_app::tasks::Tasks;
use devora_app::{FallbackRateLimiter, HealthService, RateLimitService};
use devora_crypto::{Argon2Hasher, JwtConfig, JwtTokens};
use devora_db::{Database, DbConfig, DbError};
use devora_domain::{Email, IdentityProviderId};
use devora_http::{AppState, HttpConfig, RouteHook};
use devora_memory::{MemoryCache, MemoryRateLimiter, MemorySignals};
use devora_oauth::{GitHubConfig, GitHubProvider, OidcConfig, OidcProvider};
use devora_outbound::{OutboundConfig, OutboundHttp};
use devora_ports::generation::JobSignals;
use devora_ports::{Cache, Gate, Probe, RateLimiter, WebhookVerifier};
use devora_ports::{FileLimits, IdentityProvider, SystemClock};
use devora_redis::{RedisCache, RedisConfig, RedisRateLimiter, RedisSignals, RedisStore};
use devora_stripe::{StripeConfig, StripeGateway, StripeWebhookConfig, StripeWebhooks};
use secrecy::ExposeSecret;

pub use config::Settings;

/// Bound on each readiness check, so `/health/ready` answers within two seconds.
const READINESS_TIMEOUT: Duration = Duration::from_millis(1500);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Redis(#[from] devora_redis::RedisError),
    #[error("cannot listen on {address}: {source}")]
    Bind { address: String, source: std::io::Error },
    #[error("cannot start the HTTP server: {0}")]
    Http(#[source] std::io::Error),
    #[error("cannot set up {what}: {detail}")]
    Setup { what: &'static str, detail: String },
}

/// The adapters chosen for these settings.
pub struct Adapters {
    pub database: Database,
    pub cache: Arc<dyn Cache>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub redis: Option<RedisStore>,
    /// The request gate (the rate-limit check and a request's cached reads in one
    /// round trip), when there is Redis.
    pub gate: Option<Arc<dyn Gate>>,
    /// Job signals to every node: Redis pub/sub, or in-process without Redis.
    pub signals: Arc<dyn JobSignals>,
    /// The Redis subscription to run as a background task, when there is Redis.
    pub redis_signals: Option<RedisSignals>,
}

impl Adapters {
    /// Connects the database and applies migrations; builds Redis adapters when
    /// `REDIS_URL` is set (lazily connected: Redis being down does not stop a start).
    ///
    /// # Errors
    /// When the database cannot be reached or migrated, or the Redis URL is invalid.
    pub async fn connect(settings: &Settings) -> Result<Self, StartupError> {
        let database = Database::connect(&db_config(settings)).await?;
        database.migrate().await?;
        let local_limiter: Arc<dyn RateLimiter> = Arc::new(MemoryRateLimiter::new(Duration::from_secs(30)));
        let mut redis_signals = None;
        let mut gate: Option<Arc<dyn Gate>> = None;
        let (cache, rate_limiter, redis): (Arc<dyn Cache>, Arc<dyn RateLimiter>, _) = match &settings.redis {
            Some(redis) => {
                let store = RedisStore::new(&RedisConfig {
                    url: redis.url.expose_secret().to_owned(),
                    key_prefix: redis.key_prefix.clone(),
                    op_timeout: redis.op_timeout,
                    breaker_threshold: redis.breaker_threshold,
                    breaker_cooldown: redis.breaker_cooldown,
                })?;
                let shared: Arc<dyn RateLimiter> = Arc::new(RedisRateLimiter::new(store.clone()));
                redis_signals = Some(RedisSignals::new(store.clone(), redis.url.expose_secret())?);
                let cache = RedisCache::new(store.clone());
                gate = Some(Arc::new(cache.clone()));
                (Arc::new(cache), Arc::new(FallbackRateLimiter::new(shared, local_limiter)), Some(store))
            }
            None => (Arc::new(MemoryCache::new(settings.cache_max_bytes)), local_limiter, None),
        };
        let signals: Arc<dyn JobSignals> = match &redis_signals {
            Some(signals) => Arc::new(signals.clone()),
            None => Arc::new(MemorySignals::new()),
        };
        Ok(Self { database, cache, rate_limiter, redis, gate, signals, redis_signals })
    }
}

fn db_config(settings: &Settings) -> DbConfig {
    let db = &settings.database;
    DbConfig {
        url: db.url.expose_secret().to_owned(),
        max_connections: db.max_connections,
        min_connections: db.min_connections,
        connect_timeout: db.connect_timeout,
        idle_timeout: db.idle_timeout,
        sqlite_busy_timeout: db.sqlite_busy_timeout,
        statement_timeout: db.statement_timeout,
    }
}

/// Accounts and sign-in over the database, the cache, Argon2, JWTs and the
/// configured identity providers.
fn auth_service(settings: &Settings, database: &Database, cache: Arc<dyn Cache>) -> Result<AuthService, StartupError> {
    let setup = |what: &'static str| move |detail: String| StartupError::Setup { what, detail };
    let hasher = Argon2Hasher::new(settings.sessions.hash_concurrency).map_err(|e| setup("password hashing")(e.0))?;
    let tokens = JwtTokens::new(JwtConfig {
        secret: settings.jwt_secret.expose_secret().as_bytes().to_vec(),
        issuer: settings.public_url.clone(),
        audience: "devora-api".to_owned(),
        ttl: settings.sessions.access_token_ttl,
    });
    let integrations = &settings.integrations;
    let mut providers: Vec<Arc<dyn IdentityProvider>> = Vec::new();
    if integrations.google_client_id.is_some() || integrations.github_client_id.is_some() {
        let http = OutboundHttp::new(OutboundConfig::default())
            .map_err(|e| setup("the outbound HTTP client")(e.to_string()))?;
        if let (Some(id), Some(secret)) = (&integrations.google_client_id, &integrations.google_client_secret) {
            let google = OidcProvider::new(
                OidcConfig {
                    provider: IdentityProviderId::Google,
                    issuer_url: integrations.google_issuer_url.clone(),
                    client_id: id.clone(),
                    client_secret: secret.expose_secret().to_owned(),
                    metadata_ttl: Duration::from_secs(3600),
                },
                http.clone(),
            )
            .map_err(setup("Google sign-in (GOOGLE_ISSUER_URL)"))?;
            providers.push(Arc::new(google));
        }
        if let (Some(id), Some(secret)) = (&integrations.github_client_id, &integrations.github_client_secret) {
            providers.push(Arc::new(GitHubProvider::new(
                GitHubConfig {
                    client_id: id.clone(),
                    client_secret: secret.expose_secret().to_owned(),
                    oauth_base: integrations.github_oauth_base.clone(),
                    api_base: integrations.github_api_base.clone(),
                },
                http,
            )));
        }
    }
    let ports = AuthPorts {
        users: Arc::new(database.clone()),
        sessions: Arc::new(database.clone()),
        sign_ins: Arc::new(database.clone()),
        hasher: Arc::new(hasher),
        tokens: Arc::new(tokens),
        cache,
        clock: Arc::new(SystemClock),
        providers,
    };
    let config = AuthConfig {
        session_idle_timeout: settings.sessions.idle_timeout,
        session_lifetime: settings.sessions.lifetime,
        refresh_grace: settings.sessions.refresh_grace,
        session_cache_ttl: Duration::from_secs(60),
        oauth_state_ttl: Duration::from_secs(600),
        login_code_ttl: Duration::from_secs(60),
        admin_emails: settings.admin_emails.iter().filter_map(|e| Email::parse(e).ok()).collect(),
        frontend_url: settings.frontend_url.clone(),
        redirect_origins: settings.http.cors_origins.clone(),
    };
    Ok(AuthService::new(ports, config))
}

/// The payment provider for these settings: `None` without `STRIPE_SECRET_KEY`;
/// webhooks only with `STRIPE_WEBHOOK_SECRET`.
fn payment_provider(settings: &Settings) -> Result<Option<Provider>, StartupError> {
    let integrations = &settings.integrations;
    let Some(key) = &integrations.stripe_secret_key else { return Ok(None) };
    let http = OutboundHttp::new(OutboundConfig::default())
        .map_err(|e| StartupError::Setup { what: "the outbound HTTP client", detail: e.to_string() })?;
    let config = StripeConfig::new(key.expose_secret()).with_api_base(integrations.stripe_api_base.as_str());
    let secrets: Vec<String> =
        integrations.stripe_webhook_secrets.iter().map(|s| s.expose_secret().to_owned()).collect();
    let webhooks = (!secrets.is_empty())
        .then(|| Arc::new(StripeWebhooks::new(StripeWebhookConfig::new(secrets))) as Arc<dyn WebhookVerifier>);
    Ok(Some(Provider { gateway: Arc::new(StripeGateway::new(config, http)), webhooks }))
}

/// Plans, entitlements and subscriptions over the database and the provider.
fn billing_service(settings: &Settings, database: &Database, provider: Option<Provider>) -> BillingService {
    let ports = BillingPorts {
        store: Arc::new(database.clone()),
        users: Arc::new(database.clone()),
        clock: Arc::new(SystemClock),
        provider,
    };
    let config = BillingConfig {
        past_due_grace: settings.billing.past_due_grace,
        frontend_url: settings.frontend_url.clone(),
        event_retention: Duration::from_secs(7 * 24 * 3600),
        reconcile_concurrency: 4,
    };
    BillingService::new(ports, settings.billing.catalog.clone(), config)
}

/// Billing over the configured database and provider, for `devora-server billing ...`.
///
/// # Errors
/// See [`StartupError`].
pub async fn operator_billing(settings: &Settings) -> Result<BillingService, StartupError> {
    let adapters = Adapters::connect(settings).await?;
    Ok(billing_service(settings, &adapters.database, payment_provider(settings)?))
}

/// Account administration over the configured database and cache, for operator
/// commands that act like another node (create an admin, suspend a user).
///
/// # Errors
/// See [`StartupError`].
pub async fn operator_admin(settings: &Settings) -> Result<AdminService, StartupError> {
    let adapters = Adapters::connect(settings).await?;
    let auth = auth_service(settings, &adapters.database, adapters.cache.clone())?;
    let billing = billing_service(settings, &adapters.database, payment_provider(settings)?);
    let projects = project_service(settings, &adapters.database, adapters.cache.clone(), &billing);
    let generation = generation::generation_service(
        settings,
        &adapters.database,
        adapters.signals.clone(),
        Arc::new(billing.clone()),
        projects.clone(),
    )?;
    Ok(admin_service(&adapters.database, auth, billing, generation, projects))
}

/// Administration over the database and the services it reads and acts through.
fn admin_service(
    database: &Database,
    auth: AuthService,
    billing: BillingService,
    generation: GenerationService,
    projects: ProjectService,
) -> AdminService {
    AdminService::new(AdminPorts {
        store: Arc::new(database.clone()),
        auth,
        billing,
        generation,
        projects,
        clock: Arc::new(SystemClock),
    })
}

/// Projects over the database and cache, limited by billing's entitlements.
fn project_service(
    settings: &Settings,
    database: &Database,
    cache: Arc<dyn Cache>,
    billing: &BillingService,
) -> ProjectService {
    let p = &settings.projects;
    ProjectService::new(
        Arc::new(database.clone()),
        ReadThrough::new(cache),
        Arc::new(SystemClock),
        Arc::new(billing.clone()),
        ProjectConfig {
            max_file_bytes: p.max_file_bytes,
            file_limits: FileLimits { max_files: p.max_files, max_project_bytes: p.max_project_bytes },
            project_ttl: p.project_ttl,
            list_ttl: p.list_ttl,
            files_ttl: p.files_ttl,
        },
    )
}

/// Generation over the configured database and signals, for `devora-server jobs ...`
/// (it runs no workers: cancels reach the node running the job through signals).
///
/// # Errors
/// See [`StartupError`].
pub async fn operator_generation(settings: &Settings) -> Result<GenerationService, StartupError> {
    let adapters = Adapters::connect(settings).await?;
    let billing = billing_service(settings, &adapters.database, payment_provider(settings)?);
    let projects = project_service(settings, &adapters.database, adapters.cache.clone(), &billing);
    generation::generation_service(settings, &adapters.database, adapters.signals, Arc::new(billing), projects)
}

/// The background work every node runs, started with the server.
fn background_tasks(
    settings: &Settings,
    database: &Database,
    billing: &BillingService,
    generation: &GenerationService,
    redis_signals: Option<RedisSignals>,
) -> Tasks {
    let mut tasks = Tasks::new();
    if let Some(signals) = redis_signals {
        tasks.spawn("job-signals", move |mut stop| async move {
            signals.listen(stop.stopped()).await;
            Ok::<(), std::convert::Infallible>(())
        });
    }
    spawn_workers(&mut tasks, generation);
    let check = billing.clone();
    tasks.spawn("check-webhook-api-version", move |_| async move {
        check.check_webhook_versions().await;
        Ok::<(), std::convert::Infallible>(())
    });
    let billing = billing.clone();
    tasks.spawn_periodic("purge-webhook-events", settings.purge_interval, move || {
        let billing = billing.clone();
        async move { billing.purge_events().await.map(|_| ()) }
    });
    let housekeeping = Housekeeping::new(Arc::new(database.clone()), Arc::new(SystemClock), IDEMPOTENCY_RETENTION);
    tasks.spawn_periodic("purge-expired-records", settings.purge_interval, move || {
        let housekeeping = housekeeping.clone();
        async move { housekeeping.purge().await.map(|_| ()) }
    });
    tasks
}

/// Connects and migrates only (`devora-server migrate`).
///
/// # Errors
/// When the database cannot be reached or migrated.
pub async fn migrate(settings: &Settings) -> Result<Vec<String>, StartupError> {
    let database = Database::connect(&db_config(settings)).await?;
    database.migrate().await?;
    let applied = database.applied_migrations().await.map_err(DbError::Migrate)?;
    database.close().await;
    Ok(applied)
}

/// How long an idempotency key is remembered.
const IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// A running server: its port, a handle to stop it, and the background tasks it owns.
pub struct Application {
    port: u16,
    server: Server,
    database: Database,
    tasks: Tasks,
    drain_timeout: Duration,
    handle_signals: bool,
}

impl Application {
    /// Builds every adapter and binds the listener (port 0 picks a free port).
    ///
    /// # Errors
    /// See [`StartupError`].
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_routes(settings, None).await
    }

    /// [`Application::build`] with extra routes beside the API's (for tests).
    ///
    /// # Errors
    /// See [`StartupError`].
    pub async fn build_with_routes(settings: Settings, extra_routes: Option<RouteHook>) -> Result<Self, StartupError> {
        let adapters = Adapters::connect(&settings).await?;
        let address = format!("{}:{}", settings.http.host, settings.http.port);
        let listener = TcpListener::bind(&address).map_err(|source| StartupError::Bind { address, source })?;
        let port = listener.local_addr().map_err(StartupError::Http)?.port();
        Self::from_parts(settings, adapters, listener, port, extra_routes)
    }

    fn from_parts(
        settings: Settings,
        adapters: Adapters,
        listener: TcpListener,
        port: u16,
        extra_routes: Option<RouteHook>,
    ) -> Result<Self, StartupError> {
        let Adapters { database, cache, rate_limiter, redis, gate, signals, redis_signals } = adapters;
        let auth = auth_service(&settings, &database, cache.clone())?;
        let billing = billing_service(&settings, &database, payment_provider(&settings)?);
        let projects = project_service(&settings, &database, cache.clone(), &billing);
        let generation =
            generation::generation_service(&settings, &database, signals, Arc::new(billing.clone()), projects.clone())?;
        let admin = admin_service(&database, auth.clone(), billing.clone(), generation.clone(), projects.clone());
        let idempotency =
            IdempotencyService::new(Arc::new(database.clone()), Arc::new(SystemClock), IDEMPOTENCY_RETENTION);
        let redis_probe = redis.map(|store| Arc::new(store) as Arc<dyn Probe>);
        let health = HealthService::new(Arc::new(database.clone()), redis_probe, READINESS_TIMEOUT);
        let pool_metrics = database.clone();
        let state = AppState {
            health,
            auth,
            projects,
            billing: billing.clone(),
            generation: generation.clone(),
            admin,
            idempotency,
            rate_limits: match gate {
                Some(gate) => RateLimitService::new(rate_limiter, settings.rate_limits.clone()).with_gate(gate),
                None => RateLimitService::new(rate_limiter, settings.rate_limits.clone()),
            },
            public_url: settings.public_url.clone(),
            metrics: devora_http::metrics_handle(),
            scrape_hooks: vec![Arc::new(move || pool_metrics.record_pool_metrics())],
            rendered_projects: devora_http::RenderedProjects::default(),
        };
        let http = HttpConfig {
            json_limit: settings.http.json_limit,
            payload_limit: settings.http.body_limit,
            cors_origins: settings.http.cors_origins.clone(),
            workers: settings.http.workers,
            shutdown_timeout: settings.http.shutdown_timeout,
            hsts: settings.public_url.starts_with("https://"),
            trusted_proxies: settings.http.trusted_proxies.clone(),
            forwarded_header: settings.http.forwarded_header,
            access_log: settings.http.access_log,
        };
        let server = devora_http::serve(listener, state, http, extra_routes).map_err(StartupError::Http)?;
        let tasks = background_tasks(&settings, &database, &billing, &generation, redis_signals);
        let drain_timeout = settings.http.shutdown_timeout;
        Ok(Self { port, server, database, tasks, drain_timeout, handle_signals: settings.handle_signals })
    }

    /// The names of the background tasks this server runs.
    #[must_use]
    pub fn task_names(&self) -> Vec<&'static str> {
        self.tasks.names()
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (gracefully when `graceful`).
    #[must_use]
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (SIGTERM/SIGINT when `handle_signals`, or the
    /// handle). A signal tells the background tasks to stop and the HTTP server
    /// to drain; then the tasks are awaited within the drain timeout and the
    /// database pool is closed.
    ///
    /// # Errors
    /// When the server fails while running.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self { server, database, tasks, drain_timeout, handle_signals, .. } = self;
        if handle_signals {
            let handle = server.handle();
            let mut stop = tasks.stop_signal();
            tokio::spawn(async move {
                tokio::select! {
                    () = signals::shutdown_signal() => {}
                    // Stopped some other way (the handle): nothing left to do.
                    () = stop.stopped() => return,
                }
                handle.stop(true).await;
            });
        }
        let result = server.await;
        tasks.shutdown(drain_timeout).await;
        database.close().await;
        result
    }
}
