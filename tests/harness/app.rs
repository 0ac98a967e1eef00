//! The real server, started in-process on port 0 with its real adapters.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use devora_server::{Application, Settings};

use super::isolation::{PgDatabase, RedisPrefix, TempDir};
use super::telemetry;
use super::variants::{Db, Kv, Variant, host_port, redis_url};
use crate::proxy::TcpProxy;

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

impl Options {
    /// The defaults with these extra environment variables.
    #[must_use]
    pub fn with_env(pairs: &[(&str, &str)]) -> Self {
        Self { env: pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(), ..Self::default() }
    }
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

impl TestApp {
    /// Spawns the server for `variant` with the harness's defaults.
    pub async fn spawn(variant: Variant) -> Self {
        Self::spawn_with(variant, Options::default()).await
    }

    /// Spawns the server for `variant`. The variant's services must answer:
    /// [`scenario!`](crate::scenario) checks that before a scenario starts.
    pub async fn spawn_with(variant: Variant, options: Options) -> Self {
        if let Some((name, addr)) = variant.missing_service() {
            panic!("{name} at {addr} is unreachable: run the test through scenario!, which skips or fails it");
        }
        telemetry::init();
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
        Self {
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
        }
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

    /// The environment the server was started with, for another node of the
    /// same deployment (its database named directly, not through a proxy).
    #[must_use]
    pub fn node_env(&self) -> HashMap<String, String> {
        let mut env = self.env.clone();
        if let Some(url) = &self.database_url {
            env.insert("DATABASE_URL".into(), url.clone());
        }
        env
    }

    /// A variable of the environment the server was started with.
    #[must_use]
    pub fn env_value(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }

    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
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
