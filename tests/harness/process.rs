//! The real `devora-server` binary as an OS process: for what only a process can
//! show (killed with SIGKILL mid-job, draining on SIGTERM).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The server binary: `DEVORA_SERVER_BIN`, or built once per test run next to
/// this test executable (`cargo build -p devora-server`, a no-op when fresh).
pub fn server_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Ok(path) = std::env::var("DEVORA_SERVER_BIN") {
                return PathBuf::from(path);
            }
            // <target>/debug/deps/api-<hash> -> <target>/debug/devora-server
            let exe = std::env::current_exe().unwrap();
            let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap().to_path_buf();
            let target_dir = profile_dir.parent().unwrap();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = Command::new(cargo)
                .args(["build", "--quiet", "-p", "devora-server", "--target-dir"])
                .arg(target_dir)
                .status()
                .expect("run cargo build for the server binary");
            assert!(status.success(), "cargo build -p devora-server failed");
            profile_dir.join("devora-server")
        })
        .clone()
}

/// A running server process, killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub port: u16,
    pub address: String,
}

/// A port nothing listens on now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl ServerProcess {
    /// Starts the binary with `env` (plus `HOST` and a free `PORT`) and waits
    /// until `/health/live` answers.
    pub async fn start(env: &HashMap<String, String>) -> Self {
        let binary = server_binary();
        let port = free_port();
        let log = std::env::var("TEST_LOG").is_ok();
        let mut child = Command::new(binary)
            .env_clear()
            .envs(env)
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("RUST_LOG", if log { "info" } else { "error" })
            .stdin(Stdio::null())
            .stdout(if log { Stdio::inherit() } else { Stdio::null() })
            .stderr(if log { Stdio::inherit() } else { Stdio::null() })
            .spawn()
            .expect("start devora-server");
        let address = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        // Generous: many processes may be starting at once on a small machine.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while tokio::time::Instant::now() < deadline {
            if client.get(format!("{address}/health/live")).send().await.is_ok_and(|r| r.status().is_success()) {
                return Self { child, port, address };
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("devora-server exited before it came up on port {port}: {status} (TEST_LOG=1 shows its log)");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("devora-server did not come up on port {port}");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`KILL`, `TERM`) with `kill(1)`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.pid().to_string()).status().unwrap();
        assert!(status.success(), "kill -{signal} {}", self.pid());
    }

    /// Waits for the process to exit (within `within`); its exit status.
    pub async fn wait(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(tokio::time::Instant::now() < deadline, "devora-server did not exit in {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
