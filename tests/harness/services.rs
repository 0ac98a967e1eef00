//! Private Redis and Postgres instances on free ports, for tests that stop and
//! restart a dependency: the shared services other tests use are never touched.
//! Each instance is killed and its files removed when its guard drops, however
//! the test ends.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::isolation::TempDir;
use super::process::free_port;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `None` when `program` cannot be found: the test is skipped (with a line on the
/// process's stderr) or, with `CI=true`, fails.
fn required<T>(found: Option<T>, program: &str, test: &str) -> Option<T> {
    if found.is_none() {
        assert!(!in_ci(), "{test}: {program} was not found and CI=true: this test is mandatory in CI");
        let _ = writeln!(std::io::stderr(), "\n*** SKIPPED {test}: {program} was not found. (In CI this fails.) ***\n");
    }
    found
}

fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Waits until `port` accepts a TCP connection (within `within`).
async fn wait_for_port(port: u16, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Sends `signal` and waits for the exit; SIGKILL if it has not gone within 20 s.
fn kill_and_wait(child: &mut Child, signal: &str) {
    let _ = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
    for _ in 0..400 {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A `redis-server` of this test alone, without persistence: a restart starts empty.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts one, or `None` (skipped, failing in CI) without `redis-server`.
    pub async fn start(test: &str) -> Option<Self> {
        required(on_path("redis-server").then_some(()), "redis-server", test)?;
        let mut redis = Self { port: free_port(), child: None };
        redis.restart().await;
        Some(redis)
    }

    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL: a crash, nothing flushed) and waits for it to go.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_wait(&mut child, "KILL");
        }
    }

    /// Starts it (again) on its port and waits until it accepts connections.
    pub async fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        assert!(wait_for_port(self.port, Duration::from_secs(10)).await, "redis-server did not come up");
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Postgres cluster of this test alone (`initdb` in a temporary directory,
/// trust authentication, fsync off), run as the `postgres` user when the tests
/// run as root.
pub struct PrivatePostgres {
    pub port: u16,
    bin: PathBuf,
    dir: TempDir,
    child: Option<Child>,
}

/// The directory holding `initdb` and `postgres`: `PG_BIN_DIR`, the newest
/// `/usr/lib/postgresql/<version>/bin`, or `pg_config --bindir`.
fn postgres_bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN_DIR") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let bin = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    bin.join("initdb").exists().then_some(bin)
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// `program` with `args`, as the `postgres` user when we are root (Postgres
/// refuses to run as root); `setpriv` execs, so the child's pid is Postgres's.
fn as_postgres_user(program: &Path, args: &[&str]) -> Command {
    if running_as_root() {
        let mut command = Command::new("setpriv");
        command.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).arg(program).args(args);
        command
    } else {
        let mut command = Command::new(program);
        command.args(args);
        command
    }
}

impl PrivatePostgres {
    /// Creates and starts one, or `None` (skipped, failing in CI) without the binaries.
    pub async fn start(test: &str) -> Option<Self> {
        let bin = required(postgres_bin_dir(), "initdb (Postgres server binaries)", test)?;
        let dir = TempDir::new();
        if running_as_root() {
            let status = Command::new("chown").arg("-R").arg("postgres").arg(dir.path()).status().unwrap();
            assert!(status.success(), "chown the private Postgres directory");
        }
        let data = dir.path().join("data");
        let out = as_postgres_user(
            &bin.join("initdb"),
            &["-D", data.to_str().unwrap(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
        )
        .stdin(Stdio::null())
        .output()
        .expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let mut postgres = Self { port: free_port(), bin, dir, child: None };
        postgres.restart().await;
        Some(postgres)
    }

    /// The URL of its `postgres` database.
    #[must_use]
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A fast shutdown (SIGINT: sessions ended, a checkpoint, a clean stop), waited for.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_wait(&mut child, "INT");
        }
    }

    /// Starts it (again) on its port and waits until it accepts connections.
    pub async fn restart(&mut self) {
        self.stop();
        let data = self.dir.path().join("data");
        let socket_dir = self.dir.path().to_str().unwrap().to_owned();
        let port = self.port.to_string();
        let child = as_postgres_user(
            &self.bin.join("postgres"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-p",
                &port,
                "-k",
                &socket_dir,
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=50",
            ],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start postgres");
        self.child = Some(child);
        assert!(wait_for_port(self.port, Duration::from_secs(30)).await, "the private Postgres did not come up");
        // Accepting connections is not yet accepting sessions: wait for a query.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(db) = sea_orm::Database::connect(self.url()).await {
                use sea_orm::ConnectionTrait;
                let ok = db.execute_unprepared("SELECT 1").await.is_ok();
                db.close().await.ok();
                if ok {
                    return;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "the private Postgres did not accept sessions");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // Immediate shutdown: nothing to keep; the directory goes with `dir`.
        if let Some(mut child) = self.child.take() {
            kill_and_wait(&mut child, "QUIT");
        }
    }
}
