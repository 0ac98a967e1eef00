//! What each operator command does; `main.rs` only parses the command line.

use std::path::Path;
use std::process::ExitCode;

use devora_server::config::{AppEnv, Settings};
use devora_server::{Application, telemetry};

pub fn with_runtime(fut: impl Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(fut),
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

fn load_settings() -> Result<Settings, ExitCode> {
    Settings::from_env().map_err(|err| {
        eprintln!("{err}");
        ExitCode::from(78) // EX_CONFIG
    })
}

pub async fn serve() -> ExitCode {
    let settings = match load_settings() {
        Ok(s) => s,
        Err(code) => return code,
    };
    telemetry::init(settings.log_format);
    if settings.jwt_secret_generated {
        tracing::warn!(
            "JWT_SECRET is not set: using a random development key. Every restart signs users out. \
             Set JWT_SECRET (32+ bytes) for anything but local development."
        );
    }
    tracing::info!(
        env = ?settings.env,
        database = %settings.database_url_redacted(),
        redis = settings.redis.is_some(),
        "starting devora-server {}",
        env!("CARGO_PKG_VERSION")
    );
    let app = match Application::build(settings.clone()).await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!(error = %err, "startup failed");
            eprintln!("startup failed: {err}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        address = %format!("http://{}:{}", settings.http.host, app.port()),
        production = settings.env == AppEnv::Production,
        "ready"
    );
    match app.run_until_stopped().await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(error = %err, "server failed");
            ExitCode::FAILURE
        }
    }
}

pub async fn migrate() -> ExitCode {
    let settings = match load_settings() {
        Ok(s) => s,
        Err(code) => return code,
    };
    telemetry::init(settings.log_format);
    match devora_server::migrate(&settings).await {
        Ok(applied) => {
            println!(
                "database {} is at migration {}",
                settings.database_url_redacted(),
                applied.last().map_or("(none)", String::as_str)
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("migration failed: {err}");
            ExitCode::FAILURE
        }
    }
}

pub async fn create_admin(email: &str, password: &str, name: Option<&str>) -> ExitCode {
    let email = match devora_domain::Email::parse(email) {
        Ok(e) => e,
        Err(m) => {
            eprintln!("--email {m}");
            return ExitCode::from(2);
        }
    };
    let password = match devora_domain::Password::parse(password) {
        Ok(p) => p,
        Err(rule) => {
            eprintln!("--password {rule}");
            return ExitCode::from(2);
        }
    };
    let name =
        match name.map_or_else(|| Ok(devora_domain::UserName::from_email(&email)), devora_domain::UserName::parse) {
            Ok(n) => n,
            Err(m) => {
                eprintln!("--name {m}");
                return ExitCode::from(2);
            }
        };
    let settings = match load_settings() {
        Ok(s) => s,
        Err(code) => return code,
    };
    telemetry::init(settings.log_format);
    let auth = match devora_server::operator_admin(&settings).await {
        Ok(auth) => auth,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    match auth.create_admin(email, password, name).await {
        Ok(user) => {
            println!("administrator {} ({})", user.email, user.id);
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("cannot create the administrator: {err}");
            ExitCode::FAILURE
        }
    }
}

pub fn export_openapi(path: Option<&Path>) -> ExitCode {
    let yaml = match devora_http::openapi_yaml() {
        Ok(yaml) => yaml,
        Err(err) => {
            eprintln!("cannot render the OpenAPI document: {err}");
            return ExitCode::FAILURE;
        }
    };
    match path {
        None => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Some(path) => match std::fs::write(path, yaml) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("cannot write {}: {err}", path.display());
                ExitCode::FAILURE
            }
        },
    }
}

pub fn export_types(dir: &Path) -> ExitCode {
    if let Err(err) = std::fs::create_dir_all(dir) {
        eprintln!("cannot create {}: {err}", dir.display());
        return ExitCode::FAILURE;
    }
    match devora_api_types::export_typescript(dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cannot export TypeScript types: {err}");
            ExitCode::FAILURE
        }
    }
}

/// A dependency-free HTTP/1.0 probe of `/health/live` for container HEALTHCHECKs
/// (slim images have no curl).
pub fn healthcheck() -> ExitCode {
    use std::io::{Read, Write};
    use std::time::Duration;
    let port = std::env::var("PORT").ok().and_then(|p| p.parse::<u16>().ok()).unwrap_or(8080);
    let probe = || -> std::io::Result<bool> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(b"GET /health/live HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.") && &head[9..12] == b"200")
    };
    match probe() {
        Ok(true) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// `devora-server billing reconcile`: the report as JSON on stdout.
pub async fn billing_reconcile() -> ExitCode {
    let settings = match load_settings() {
        Ok(s) => s,
        Err(code) => return code,
    };
    telemetry::init(settings.log_format);
    // Through administration, so the run is recorded in the audit log (actor `cli`).
    let admin = match devora_server::operator_admin(&settings).await {
        Ok(admin) => admin,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    match admin.reconcile(&devora_app::admin::Actor::cli()).await {
        Ok(report) => {
            let json = serde_json::json!({
                "checked": report.checked,
                "repaired": report.repaired.len(),
                "failed": report.failed.len(),
                "repaired_ids": report.repaired,
                "failed_customers": report.failed,
            });
            println!("{json}");
            if report.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(err) => {
            eprintln!("reconcile failed: {err}");
            ExitCode::FAILURE
        }
    }
}

fn job_line(job: &devora_domain::Job) -> serde_json::Value {
    serde_json::json!({
        "id": job.id.to_string(),
        "owner_id": job.owner_id.to_string(),
        "project_id": job.project_id.map(|p| p.to_string()),
        "kind": job.kind.as_str(),
        "status": job.status.as_str(),
        "model": job.model,
        "attempt": job.attempt,
        "progress": job.progress,
        "prompt_tokens": job.usage.prompt_tokens,
        "completion_tokens": job.usage.completion_tokens,
        "error": job.error.as_ref().map(|e| e.code.as_str()),
        "cancel_requested": job.cancel_requested,
        "created_at": job.created_at.to_rfc3339(),
        "finished_at": job.finished_at.map(|t| t.to_rfc3339()),
    })
}

async fn operator_generation() -> Result<devora_app::generation::GenerationService, ExitCode> {
    let settings = load_settings()?;
    telemetry::init(settings.log_format);
    devora_server::operator_generation(&settings).await.map_err(|err| {
        eprintln!("{err}");
        ExitCode::FAILURE
    })
}

pub async fn jobs_list(status: Option<&str>, limit: u32) -> ExitCode {
    let status = match status.map(|s| devora_domain::JobStatus::parse(s).ok_or(s)) {
        None => None,
        Some(Ok(status)) => Some(status),
        Some(Err(raw)) => {
            eprintln!("--status must be queued, running, succeeded, failed or cancelled (got {raw:?})");
            return ExitCode::from(2);
        }
    };
    if !(1..=100).contains(&limit) {
        eprintln!("--limit must be from 1 to 100");
        return ExitCode::from(2);
    }
    let generation = match operator_generation().await {
        Ok(g) => g,
        Err(code) => return code,
    };
    let filter = devora_ports::generation::JobFilter { project: None, status };
    match generation.list_all(filter, None, limit).await {
        Ok(page) => {
            for job in &page.items {
                println!("{}", job_line(job));
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("cannot list jobs: {err}");
            ExitCode::FAILURE
        }
    }
}

pub async fn jobs_cancel(id: &str) -> ExitCode {
    let Some(id) = devora_domain::JobId::parse(id) else {
        eprintln!("{id:?} is not a job id");
        return ExitCode::from(2);
    };
    let generation = match operator_generation().await {
        Ok(g) => g,
        Err(code) => return code,
    };
    match generation.cancel(None, id).await {
        Ok(job) => {
            println!("{}", job_line(&job));
            ExitCode::SUCCESS
        }
        Err(devora_app::generation::GenerationError::JobNotFound) => {
            eprintln!("no job {id}");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("cannot cancel the job: {err}");
            ExitCode::FAILURE
        }
    }
}
