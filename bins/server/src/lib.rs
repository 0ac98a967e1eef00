//! Wiring: settings -> adapters -> services -> HTTP. No logic of its own.
//!
//! A library so the end-to-end tests can start the real server in-process
//! (`Application::build`) on port 0 with their own settings.

pub mod config;
pub mod telemetry;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use devora_app::{FallbackRateLimiter, HealthService, RateLimitService};
use devora_db::{Database, DbConfig, DbError};
use devora_http::{AppState, HttpConfig, RouteHook};
use devora_memory::{MemoryCache, MemoryRateLimiter};
use devora_ports::{Cache, Probe, RateLimiter};
use devora_redis::{RedisCache, RedisConfig, RedisRateLimiter, RedisStore};
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
}

/// The adapters chosen for these settings.
pub struct Adapters {
    pub database: Database,
    pub cache: Arc<dyn Cache>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub redis: Option<RedisStore>,
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
        let (cache, rate_limiter, redis): (Arc<dyn Cache>, Arc<dyn RateLimiter>, _) = match &settings.redis {
            Some(redis) => {
                let store = RedisStore::new(&RedisConfig {
                    url: redis.url.expose_secret().to_owned(),
                    key_prefix: redis.key_prefix.clone(),
                    pool_size: redis.pool_size,
                    op_timeout: redis.op_timeout,
                    breaker_threshold: redis.breaker_threshold,
                    breaker_cooldown: redis.breaker_cooldown,
                })?;
                let shared: Arc<dyn RateLimiter> = Arc::new(RedisRateLimiter::new(store.clone()));
                (
                    Arc::new(RedisCache::new(store.clone())),
                    Arc::new(FallbackRateLimiter::new(shared, local_limiter)),
                    Some(store),
                )
            }
            None => (Arc::new(MemoryCache::new(settings.cache_max_bytes)), local_limiter, None),
        };
        Ok(Self { database, cache, rate_limiter, redis })
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
    }
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

/// A running server: its port, and a handle to stop it.
pub struct Application {
    port: u16,
    server: Server,
    database: Database,
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
        let Adapters { database, cache, rate_limiter, redis } = adapters;
        let redis_probe = redis.map(|store| Arc::new(store) as Arc<dyn Probe>);
        let health = HealthService::new(Arc::new(database.clone()), redis_probe, READINESS_TIMEOUT);
        let pool_metrics = database.clone();
        let state = AppState {
            health,
            cache,
            rate_limits: RateLimitService::new(rate_limiter, settings.rate_limits.clone()),
            metrics: devora_http::metrics_handle(),
            scrape_hooks: vec![Arc::new(move || pool_metrics.record_pool_metrics())],
        };
        let http = HttpConfig {
            json_limit: settings.http.json_limit,
            payload_limit: settings.http.body_limit,
            cors_origins: settings.http.cors_origins.clone(),
            workers: settings.http.workers,
            shutdown_timeout: settings.http.shutdown_timeout,
            handle_signals: settings.handle_signals,
            hsts: settings.public_url.starts_with("https://"),
            trusted_proxies: settings.http.trusted_proxies.clone(),
        };
        let server = devora_http::serve(listener, state, http, extra_routes).map_err(StartupError::Http)?;
        Ok(Self { port, server, database })
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

    /// Serves until stopped (signal or handle), then closes the database pool.
    ///
    /// # Errors
    /// When the server fails while running.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.database.close().await;
        result
    }
}
