//! The release `devora-server` as a child process, and what it stands on: a
//! temporary directory (SQLite, in-process cache and limiter) or a fresh
//! Postgres database with its own Redis key prefix.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use deadpool_redis::redis;
use devora_e2e::{TempDir, postgres_admin_url, redis_url};
use sea_orm::{ConnectionTrait, Database};

/// The quota every rate-limit policy gets: the limiter does its full work on
/// each request, and nothing this machine can send reaches it.
pub const BENCH_QUOTA: &str = "1000000000/min";
const POLICIES: [&str; 8] = [
    "RATE_LIMIT_AUTH",
    "RATE_LIMIT_LOGIN",
    "RATE_LIMIT_LOGIN_IP",
    "RATE_LIMIT_GENERATION",
    "RATE_LIMIT_WRITES",
    "RATE_LIMIT_READS",
    "RATE_LIMIT_PUBLIC",
    "RATE_LIMIT_WEBHOOK",
];
/// A bench-only signing key, so a token stays valid across the run's servers.
const JWT_SECRET: &str = "devora-bench-signing-key-0123456789-abcdefghijklmnop";
const STARTUP: Duration = Duration::from_secs(60);

/// `DEVORA_SERVER_BIN`, or `devora-server` in the profile directory this bench
/// binary was built into (`<target>/release/deps/http-<hash>`).
pub fn release_binary() -> Result<PathBuf, String> {
    if let Ok(path) = std::env::var("DEVORA_SERVER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(|e| format!("locate the bench binary: {e}"))?;
    let profile = exe.parent().and_then(Path::parent).ok_or("the bench binary has no profile directory")?;
    let binary = profile.join("devora-server");
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!(
            "{} is missing: build it first with `cargo build --release -p devora-server` (`just bench` does)",
            binary.display()
        ))
    }
}

/// A free loopback port (the usual small race between asking and binding).
pub fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("find a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Whether `GET path` on `127.0.0.1:port` answers 200 (plain std, no runtime).
pub fn answers_ok(port: u16, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// The process's high-water resident set (`VmHWM`, KiB): its peak so far.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A child process killed when dropped.
pub struct Process {
    child: Child,
}

impl Process {
    pub fn new(child: Child) -> Self {
        Self { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `GET path` answers 200; an error if the process exits first.
    pub fn wait_ready(&mut self, port: u16, path: &str, what: &str, log: &Path) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < STARTUP {
            if let Ok(Some(status)) = self.child.try_wait() {
                let tail = std::fs::read_to_string(log).unwrap_or_default();
                let tail: String =
                    tail.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
                return Err(format!("{what} exited ({status}) before answering; its log {}:\n{tail}", log.display()));
            }
            if answers_ok(port, path) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("{what} did not answer {path} on port {port} within {STARTUP:?}; see {}", log.display()))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the server keeps its state for one mode of the run.
pub enum Backend {
    Embedded { dir: TempDir },
    Services { dir: TempDir, database: String, database_url: String, redis_prefix: String },
}

impl Backend {
    pub fn embedded() -> Self {
        Self::Embedded { dir: TempDir::new() }
    }

    /// A fresh database `bench_<pid>` and the key prefix `devora-bench-<pid>:`.
    pub async fn services() -> Result<Self, String> {
        let admin_url = postgres_admin_url();
        let admin = connect_postgres(&admin_url).await?;
        let database = format!("bench_{}", std::process::id());
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            .await
            .map_err(|e| format!("drop an earlier {database}: {e}"))?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {database}"))
            .await
            .map_err(|e| format!("create database {database}: {e}"))?;
        admin.close().await.ok();
        let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b);
        Ok(Self::Services {
            dir: TempDir::new(),
            database_url: format!("{base}/{database}"),
            database,
            redis_prefix: format!("devora-bench-{}:", std::process::id()),
        })
    }

    pub fn dir(&self) -> &Path {
        match self {
            Self::Embedded { dir } | Self::Services { dir, .. } => dir.path(),
        }
    }

    /// The server's environment (beyond HOST and PORT) with limits on or off.
    pub fn env(&self, limits: bool) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = vec![
            // The server's default log filter and the production format; the
            // access log at its default (ACCESS_LOG=problems).
            ("LOG_FORMAT".into(), "json".into()),
            // The container image's allocator settings (Dockerfile).
            ("MIMALLOC_ARENA_EAGER_COMMIT".into(), "0".into()),
            ("MIMALLOC_PURGE_DELAY".into(), "0".into()),
            ("JWT_SECRET".into(), JWT_SECRET.into()),
            ("ACCESS_TOKEN_TTL_SECS".into(), "7200".into()),
            // POST /projects runs for the whole scenario: lift the free plan's count.
            ("FREE_PLAN_MAX_PROJECTS".into(), "1000000".into()),
            ("RATE_LIMIT_ENABLED".into(), limits.to_string()),
        ];
        env.extend(POLICIES.iter().map(|p| ((*p).to_owned(), BENCH_QUOTA.to_owned())));
        match self {
            Self::Embedded { dir } => {
                let db = dir.path().join("devora.db");
                env.push(("DATABASE_URL".into(), format!("sqlite://{}?mode=rwc", db.display())));
            }
            Self::Services { database_url, redis_prefix, .. } => {
                env.push(("DATABASE_URL".into(), database_url.clone()));
                env.push(("REDIS_URL".into(), redis_url()));
                env.push(("REDIS_KEY_PREFIX".into(), redis_prefix.clone()));
            }
        }
        env
    }

    /// Drops the database and deletes the prefix's keys (the directory goes on drop).
    pub async fn remove(&self) {
        let Self::Services { database, redis_prefix, .. } = self else { return };
        if let Ok(admin) = Database::connect(postgres_admin_url()).await {
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).await;
            admin.close().await.ok();
        }
        let _ = delete_keys(&format!("{redis_prefix}*")).await;
    }
}

async fn connect_postgres(url: &str) -> Result<sea_orm::DatabaseConnection, String> {
    let unreachable = |e: String| {
        format!(
            "services mode needs Postgres at {url} (TEST_DATABASE_URL), which is unreachable: {e}; run BENCH_MODES=embedded without it"
        )
    };
    match tokio::time::timeout(Duration::from_secs(5), Database::connect(url)).await {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable("no answer in 5 s".into())),
    }
}

/// Fails clearly, before anything runs, when Postgres or Redis is not there.
pub async fn check_services() -> Result<(), String> {
    connect_postgres(&postgres_admin_url()).await?.close().await.ok();
    let url = redis_url();
    let ping = async {
        let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
        let mut conn = client.get_multiplexed_async_connection().await.map_err(|e| e.to_string())?;
        redis::cmd("PING").query_async::<String>(&mut conn).await.map_err(|e| e.to_string())
    };
    match tokio::time::timeout(Duration::from_secs(5), ping).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!(
            "services mode needs Redis at {url} (TEST_REDIS_URL), which is unreachable: {e}; run BENCH_MODES=embedded without it"
        )),
        Err(_) => Err(format!("services mode needs Redis at {url} (TEST_REDIS_URL), which did not answer in 5 s")),
    }
}

async fn delete_keys(pattern: &str) -> Result<(), redis::RedisError> {
    let client = redis::Client::open(redis_url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            redis::cmd("DEL").arg(keys).query_async::<()>(&mut conn).await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// A running release server.
pub struct Server {
    process: Process,
    pub base: String,
}

impl Server {
    /// Starts `binary` on `backend` with limits on or off; `name` names its log file.
    pub fn start(binary: &Path, backend: &Backend, limits: bool, name: &str) -> Result<Self, String> {
        let port = free_port()?;
        let log_path = backend.dir().join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path).map_err(|e| format!("create {}: {e}", log_path.display()))?;
        let err_log = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .env_clear()
            .envs(backend.env(limits))
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .current_dir(backend.dir())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .spawn()
            .map_err(|e| format!("start {}: {e}", binary.display()))?;
        let mut process = Process::new(child);
        process.wait_ready(port, "/health/live", "devora-server", &log_path)?;
        Ok(Self { process, base: format!("http://127.0.0.1:{port}") })
    }

    pub fn peak_rss_kib(&self) -> Option<u64> {
        peak_rss_kib(self.process.pid())
    }
}
