//! The end-to-end harness: the real server, started in-process on port 0 with its
//! real adapters, in four variants (SQLite or Postgres, in-process or Redis).
//!
//! Each test gets a fresh SQLite file or Postgres database and its own Redis key
//! prefix, so tests run in parallel and leave nothing behind. Postgres and Redis
//! variants run whenever the services answer, say loudly when skipped, and fail
//! instead of skipping when `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

pub mod proxy;
pub mod standins;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use devora_server::{Application, Settings};
use sea_orm::{ConnectionTrait, Database};

pub use proxy::{ProxyMode, TcpProxy};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kv {
    Memory,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    pub db: Db,
    pub kv: Kv,
}

impl Variant {
    pub const SQLITE_MEMORY: Self = Self { db: Db::Sqlite, kv: Kv::Memory };
    pub const SQLITE_REDIS: Self = Self { db: Db::Sqlite, kv: Kv::Redis };
    pub const POSTGRES_MEMORY: Self = Self { db: Db::Postgres, kv: Kv::Memory };
    pub const POSTGRES_REDIS: Self = Self { db: Db::Postgres, kv: Kv::Redis };
}

/// The Postgres server tests create their databases on (a maintenance database URL).
#[must_use]
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

#[must_use]
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `host:port` of a URL like `scheme://user@host:port/db`.
fn host_port(url: &str, default_port: u16) -> SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let with_port = if authority.contains(':') { authority.to_owned() } else { format!("{authority}:{default_port}") };
    let with_port = with_port.replace("localhost", "127.0.0.1");
    with_port.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], default_port)))
}

fn reachable(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

/// Whether the service a variant needs is up; panics in CI when it is not.
fn service_available(name: &str, addr: SocketAddr) -> bool {
    static CACHE: OnceLock<std::sync::Mutex<HashMap<String, bool>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap();
    let up = *cache.entry(name.to_owned()).or_insert_with(|| reachable(addr));
    if !up {
        assert!(!in_ci(), "{name} at {addr} is unreachable and CI=true: tests against real {name} are mandatory in CI");
        eprintln!(
            "\n*** SKIPPED: {name} at {addr} is unreachable; this {name} variant did not run. (In CI this fails.) ***\n"
        );
    }
    up
}

/// A test's own Postgres database, dropped when the guard goes.
struct PgDatabase {
    name: String,
}

impl PgDatabase {
    async fn create() -> Self {
        let name = format!("devora_t_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(postgres_admin_url()).await.expect("connect to Postgres");
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
        admin.close().await.ok();
        Self { name }
    }

    fn url(&self) -> String {
        let admin = postgres_admin_url();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        format!("{base}/{}", self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime; use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(admin) = Database::connect(postgres_admin_url()).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    admin.close().await.ok();
                }
            });
        })
        .join();
    }
}

/// A test's own Redis key prefix, whose keys are deleted when the guard goes.
struct RedisPrefix {
    prefix: String,
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let pattern = format!("{}*", self.prefix);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                use deadpool_redis::redis;
                let Ok(client) = redis::Client::open(redis_url()) else { return };
                let Ok(mut conn) = client.get_multiplexed_async_connection().await else { return };
                let mut cursor: u64 = 0;
                loop {
                    let Ok((next, keys)): Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut conn)
                        .await
                    else {
                        return;
                    };
                    if !keys.is_empty() {
                        let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
                    }
                    if next == 0 {
                        return;
                    }
                    cursor = next;
                }
            });
        })
        .join();
    }
}

/// Options for [`TestApp::spawn_with`].
#[derive(Default)]
pub struct Options {
    /// Extra environment variables (override the harness's).
    pub env: Vec<(String, String)>,
    /// Put a controllable TCP proxy between the server and Postgres.
    pub proxy_database: bool,
    /// Put a controllable TCP proxy between the server and Redis.
    pub proxy_redis: bool,
    /// Reuse this SQLite file instead of a fresh one.
    pub sqlite_path: Option<PathBuf>,
    /// Extra routes mounted beside the API's.
    pub routes: Option<devora_http::RouteHook>,
    /// Share this Redis key prefix (several nodes of one deployment).
    pub redis_prefix: Option<String>,
    /// Use this existing Postgres database (another node's) instead of a fresh one.
    pub database_url: Option<String>,
}

/// A running server and what it needs to be torn down.
pub struct TestApp {
    pub variant: Variant,
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub database_proxy: Option<TcpProxy>,
    pub redis_proxy: Option<TcpProxy>,
    pub sqlite_path: Option<PathBuf>,
    /// The Postgres database's direct URL (not through any proxy).
    pub database_url: Option<String>,
    /// The environment the server was started with.
    env: HashMap<String, String>,
    handle: ServerHandle,
    _tempdir: Option<TempDir>,
    _pg: Option<PgDatabase>,
    _redis: Option<RedisPrefix>,
}

/// A directory removed on drop (std has no tempdir; this is all we need).
pub struct TempDir(PathBuf);

impl TempDir {
    #[must_use]
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("devora-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    #[must_use]
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TestApp {
    /// Spawns the server for `variant`, or `None` (after a loud message) when the
    /// variant's services are unreachable outside CI.
    pub async fn spawn(variant: Variant) -> Option<Self> {
        Self::spawn_with(variant, Options::default()).await
    }

    pub async fn spawn_with(variant: Variant, options: Options) -> Option<Self> {
        if variant.db == Db::Postgres && !service_available("Postgres", host_port(&postgres_admin_url(), 5432)) {
            return None;
        }
        if variant.kv == Kv::Redis && !service_available("Redis", host_port(&redis_url(), 6379)) {
            return None;
        }
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("HOST".into(), "127.0.0.1".into());
        env.insert("PORT".into(), "0".into());
        env.insert("HTTP_WORKERS".into(), "2".into());
        env.insert("SHUTDOWN_TIMEOUT_SECS".into(), "1".into());
        env.insert("JWT_SECRET".into(), "test-secret-test-secret-test-secret-0123".into());
        // Tests register and sign in many accounts from one address; the tests of
        // these limits set their own.
        for policy in
            ["RATE_LIMIT_AUTH", "RATE_LIMIT_LOGIN", "RATE_LIMIT_LOGIN_IP", "RATE_LIMIT_WRITES", "RATE_LIMIT_READS"]
        {
            env.insert(policy.into(), "10000/min".into());
        }
        // Tests create many projects per user; the plan-limit tests set their own.
        env.insert("FREE_PLAN_MAX_PROJECTS".into(), "1000".into());

        let mut tempdir = None;
        let mut pg = None;
        let mut database_proxy = None;
        let mut sqlite_path = None;
        let mut database_url = None;
        match variant.db {
            Db::Sqlite => {
                let path = options.sqlite_path.clone().unwrap_or_else(|| {
                    let dir = TempDir::new();
                    let path = dir.path().join("devora.db");
                    tempdir = Some(dir);
                    path
                });
                env.insert("DATABASE_URL".into(), format!("sqlite://{}?mode=rwc", path.display()));
                sqlite_path = Some(path);
            }
            Db::Postgres => {
                let (db, mut url) = match options.database_url.clone() {
                    Some(url) => (None, url),
                    None => {
                        let db = PgDatabase::create().await;
                        let url = db.url();
                        (Some(db), url)
                    }
                };
                database_url = Some(url.clone());
                if options.proxy_database {
                    let proxy = TcpProxy::start(host_port(&url, 5432)).await;
                    url = url.replacen(&host_port(&url, 5432).to_string(), &proxy.address().to_string(), 1);
                    if !url.contains(&proxy.address().to_string()) {
                        url = url.replacen("127.0.0.1", &proxy.address().to_string(), 1);
                    }
                    database_proxy = Some(proxy);
                }
                env.insert("DATABASE_URL".into(), url);
                env.insert("DATABASE_CONNECT_TIMEOUT_SECS".into(), "2".into());
                pg = db;
            }
        }
        let mut redis = None;
        let mut redis_proxy = None;
        if variant.kv == Kv::Redis {
            let prefix = options
                .redis_prefix
                .clone()
                .unwrap_or_else(|| format!("devora-test:{}:", uuid::Uuid::new_v4().simple()));
            let mut url = redis_url();
            if options.proxy_redis {
                let proxy = TcpProxy::start(host_port(&url, 6379)).await;
                url = format!("redis://{}", proxy.address());
                redis_proxy = Some(proxy);
            }
            env.insert("REDIS_URL".into(), url);
            env.insert("REDIS_KEY_PREFIX".into(), prefix.clone());
            redis = Some(RedisPrefix { prefix });
        }
        for (k, v) in options.env {
            env.insert(k, v);
        }

        let mut settings = Settings::from_vars(env.clone()).expect("test settings are valid");
        settings.handle_signals = false;
        let app = Application::build_with_routes(settings, options.routes).await.expect("server starts");
        let port = app.port();
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Some(Self {
            variant,
            address: format!("http://127.0.0.1:{port}"),
            port,
            client,
            database_proxy,
            redis_proxy,
            sqlite_path,
            database_url,
            env,
            handle,
            _tempdir: tempdir,
            _pg: pg,
            _redis: redis,
        })
    }

    /// Settings for another process on this app's database and Redis (an
    /// operator command, an admin node), with extra variables.
    #[must_use]
    pub fn settings(&self, extra: Vec<(String, String)>) -> Settings {
        let mut env: HashMap<String, String> = self.env.clone();
        env.extend(extra);
        if let Some(url) = &self.database_url {
            env.insert("DATABASE_URL".into(), url.clone());
        }
        Settings::from_vars(env).expect("settings")
    }

    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request sent")
    }

    /// Stops the server and waits for it (graceful).
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { handle.stop(false).await });
        }
    }
}

/// Runs a scenario in all four variants: `sqlite_memory`, `sqlite_redis`,
/// `postgres_memory`, `postgres_redis`, each its own `#[tokio::test]`.
#[macro_export]
macro_rules! all_variants {
    ($name:ident, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn scenario($app: $crate::TestApp) $body

            async fn run(variant: $crate::Variant) {
                if let Some(app) = $crate::TestApp::spawn(variant).await {
                    scenario(app).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_memory() {
                run($crate::Variant::SQLITE_MEMORY).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_redis() {
                run($crate::Variant::SQLITE_REDIS).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_memory() {
                run($crate::Variant::POSTGRES_MEMORY).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_redis() {
                run($crate::Variant::POSTGRES_REDIS).await;
            }
        }
    };
}

/// Runs a scenario, given its variant, on SQLite (in-process) and on Postgres +
/// Redis: `sqlite_memory` and `postgres_redis`, each its own `#[tokio::test]`.
#[macro_export]
macro_rules! sqlite_and_postgres_redis {
    ($name:ident, |$variant:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn scenario($variant: $crate::Variant) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_memory() {
                scenario($crate::Variant::SQLITE_MEMORY).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_redis() {
                scenario($crate::Variant::POSTGRES_REDIS).await;
            }
        }
    };
}
