//! `just bench`: the release `devora-server` under wrk, beside a bare actix-web
//! baseline measured in the same run; see docs/benchmarks.md.
//!
//! - `BENCH_MODES` = `embedded,services` (default both): SQLite with the in-process
//!   cache and limiter, or Postgres + Redis (`TEST_DATABASE_URL`, `TEST_REDIS_URL`).
//! - `BENCH_SECONDS` (default 8) per scenario, after a 1 s warm-up.
//! - `BENCH_CONNECTIONS` (default 64); login scenarios use 8.
//! - `BENCH_WRITE_DOCS=1` replaces the results section of docs/benchmarks.md.
//! - `DEVORA_SERVER_BIN` overrides `<target>/release/devora-server`.
#![allow(clippy::cast_precision_loss)]

mod load;

use load::report::{self, ModeReport};
use load::scenarios::{LOGIN_CONNECTIONS, Run};
use load::server::{self, Backend};
use load::wrk::Wrk;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Embedded,
    Services,
}

impl Mode {
    fn title(self) -> &'static str {
        match self {
            Self::Embedded => "Embedded (SQLite, in-process cache and rate limiter)",
            Self::Services => "Postgres + Redis",
        }
    }
}

struct Settings {
    modes: Vec<Mode>,
    seconds: u64,
    connections: u32,
    write_docs: bool,
}

fn number<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| format!("{name}={v:?} is not a number")),
        _ => Ok(default),
    }
}

impl Settings {
    fn from_env() -> Result<Self, String> {
        let modes_raw = std::env::var("BENCH_MODES").unwrap_or_else(|_| "embedded,services".to_owned());
        let mut modes = Vec::new();
        for mode in modes_raw.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            modes.push(match mode {
                "embedded" => Mode::Embedded,
                "services" => Mode::Services,
                other => return Err(format!("BENCH_MODES: unknown mode {other:?} (embedded, services)")),
            });
        }
        if modes.is_empty() {
            return Err("BENCH_MODES names no mode (embedded, services)".to_owned());
        }
        let seconds = number("BENCH_SECONDS", 8u64)?.max(1);
        let connections = number("BENCH_CONNECTIONS", 64u32)?.max(2);
        let write_docs = std::env::var("BENCH_WRITE_DOCS").is_ok_and(|v| v == "1" || v == "true");
        Ok(Self { modes, seconds, connections, write_docs })
    }

    fn command(&self) -> String {
        let modes: Vec<&str> =
            self.modes.iter().map(|m| if *m == Mode::Embedded { "embedded" } else { "services" }).collect();
        format!(
            "BENCH_MODES={} BENCH_SECONDS={} BENCH_CONNECTIONS={} just bench",
            modes.join(","),
            self.seconds,
            self.connections
        )
    }
}

fn run() -> Result<(), String> {
    let settings = Settings::from_env()?;
    let binary = server::release_binary()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    if settings.modes.contains(&Mode::Services) {
        runtime.block_on(server::check_services())?;
    }
    let scratch = devora_e2e::TempDir::new();
    let wrk = Wrk::new(scratch.path())?;
    let run = Run {
        binary: &binary,
        wrk: &wrk,
        runtime: &runtime,
        seconds: settings.seconds,
        connections: settings.connections,
    };

    let mut reports: Vec<ModeReport> = Vec::new();
    for mode in &settings.modes {
        let backend = match mode {
            Mode::Embedded => Backend::embedded(),
            Mode::Services => runtime.block_on(Backend::services())?,
        };
        let report = run.mode(mode.title(), &backend);
        runtime.block_on(backend.remove());
        reports.push(report?);
    }

    let wrk_line = format!(
        "`{}` (login: `{}`)",
        Wrk::settings(settings.connections, settings.seconds),
        Wrk::settings(LOGIN_CONNECTIONS, settings.seconds)
    );
    let mut results = report::header(&settings.command(), &wrk_line, load::baseline::workers());
    for report in &reports {
        results.push('\n');
        results.push_str(&report.markdown());
    }
    println!("\n{results}");
    if settings.write_docs {
        let path = report::write_docs(&results)?;
        eprintln!("bench: results written to {}", path.display());
    }
    if reports.iter().any(ModeReport::has_errors) {
        eprintln!("bench: some scenarios saw errors; see the errors column");
    }
    Ok(())
}

fn main() {
    if let Ok(port) = std::env::var(load::baseline::PORT_VAR) {
        if let Err(e) = load::baseline::serve(&port) {
            eprintln!("bench baseline: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Err(e) = run() {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}
