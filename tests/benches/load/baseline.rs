//! The baseline: bare actix-web, no middleware, answering every request with one
//! project's JSON. It is this same bench binary, re-executed with
//! [`PORT_VAR`] set, so it runs in its own process as the server does.

use std::path::Path;
use std::process::{Command, Stdio};

use actix_web::{App, HttpResponse, HttpServer, web};

use super::seed;
use super::server::{Process, free_port, peak_rss_kib};

/// Set on the re-executed bench binary: serve the baseline on this port.
pub const PORT_VAR: &str = "DEVORA_BENCH_BASELINE_PORT";

/// HTTP workers for the baseline: actix-web's default, which is also the
/// server's when `HTTP_WORKERS` is unset (one per available core).
pub fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Serves the baseline until killed (the re-executed process's whole life).
pub fn serve(port: &str) -> Result<(), String> {
    let port: u16 = port.parse().map_err(|_| format!("{PORT_VAR}={port:?} is not a port"))?;
    let body = web::Bytes::from(seed::project_json());
    actix_web::rt::System::new()
        .block_on(async move {
            HttpServer::new(move || {
                let body = body.clone();
                App::new().default_service(web::to(move || {
                    let body = body.clone();
                    async move { HttpResponse::Ok().content_type("application/json").body(body) }
                }))
            })
            .workers(workers())
            .bind(("127.0.0.1", port))?
            .run()
            .await
        })
        .map_err(|e| format!("baseline server: {e}"))
}

/// The baseline process of one mode.
pub struct Baseline {
    process: Process,
    pub base: String,
}

impl Baseline {
    /// Re-executes this binary as the baseline and waits until it answers.
    pub fn start(dir: &Path) -> Result<Self, String> {
        let port = free_port()?;
        let exe = std::env::current_exe().map_err(|e| format!("locate the bench binary: {e}"))?;
        let log_path = dir.join("baseline.log");
        let log = std::fs::File::create(&log_path).map_err(|e| format!("create {}: {e}", log_path.display()))?;
        let child = Command::new(exe)
            .env(PORT_VAR, port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start the baseline: {e}"))?;
        let mut process = Process::new(child);
        process.wait_ready(port, "/", "the baseline", &log_path)?;
        Ok(Self { process, base: format!("http://127.0.0.1:{port}") })
    }

    pub fn peak_rss_kib(&self) -> Option<u64> {
        peak_rss_kib(self.process.pid())
    }
}
