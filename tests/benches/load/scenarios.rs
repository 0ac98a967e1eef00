//! One mode's run: the baseline, then every scenario against the seeded
//! server, each row with the server's peak RSS read right after it.

use std::path::Path;

use super::baseline::Baseline;
use super::report::{ModeReport, Row};
use super::seed::{self, FILE_PATH, Seed};
use super::server::{Backend, Server};
use super::wrk::{Load, Outcome, WARM_UP_SECS, Wrk};

/// Connections of the login scenarios: Argon2 runs a few hashes at once
/// (`PASSWORD_HASH_CONCURRENCY`, default the cores), so 64 would only queue
/// behind them and time out in wrk.
pub const LOGIN_CONNECTIONS: u32 = 8;

/// What every mode shares.
pub struct Run<'a> {
    pub binary: &'a Path,
    pub wrk: &'a Wrk,
    pub runtime: &'a tokio::runtime::Runtime,
    pub seconds: u64,
    pub connections: u32,
}

impl Run<'_> {
    /// Measures `backend` (`title` heads its table).
    pub fn mode(&self, title: &str, backend: &Backend) -> Result<ModeReport, String> {
        let mut rows = Vec::new();
        let c = self.connections;
        eprintln!("bench: {title}: baseline");
        let baseline = Baseline::start(backend.dir())?;
        let outcome = self.wrk.run(&baseline.base, &Load::get("/", c), self.seconds)?;
        rows.push(Row::new("baseline: bare actix-web, one project's JSON", outcome, baseline.peak_rss_kib()));
        drop(baseline);

        let server = Server::start(self.binary, backend, true, "server")?;
        let seed = self.runtime.block_on(seed::seed(&server.base))?;
        let project = format!("/api/v2/projects/{}", seed.project_id);
        let cached = Load::get(project.clone(), c).authorized(&seed.token);
        let measure = |label: &str, load: &Load, rows: &mut Vec<Row>| -> Result<(), String> {
            eprintln!("bench: {title}: {label}");
            let outcome = self.wrk.run(&server.base, load, self.seconds)?;
            rows.push(Row::new(label, outcome, server.peak_rss_kib()));
            Ok(())
        };

        measure("GET /health/live", &Load::get("/health/live", c), &mut rows)?;
        measure("GET /projects/{id} (cached)", &cached, &mut rows)?;
        {
            eprintln!("bench: {title}: limits off");
            let unlimited = Server::start(self.binary, backend, false, "server-limits-off")?;
            let outcome = self.wrk.run(&unlimited.base, &cached, self.seconds)?;
            rows.push(Row::new("GET /projects/{id} (cached), limits off", outcome, unlimited.peak_rss_kib()));
        }
        let list = Load::get("/api/v2/projects", c).authorized(&seed.token);
        measure("GET /projects (first page, 20)", &list, &mut rows)?;
        let file = Load::get(format!("{project}/files/{FILE_PATH}"), c).authorized(&seed.token);
        measure("GET /projects/{id}/files/{path} (1.5 KB)", &file, &mut rows)?;
        let login = Load::get("/api/v2/auth/login", LOGIN_CONNECTIONS).post(seed.login_body());
        measure(&format!("POST /auth/login (Argon2, c{LOGIN_CONNECTIONS})"), &login, &mut rows)?;
        eprintln!("bench: {title}: cached read during a login flood");
        let (read, flood) = self.during_flood(&server, &cached, &login)?;
        let label = format!("GET /projects/{{id}} (cached) during a login flood (c{LOGIN_CONNECTIONS})");
        let mut row = Row::new(&label, read, server.peak_rss_kib());
        row.note = flood_note(&flood);
        rows.push(row);
        let create = Load::get("/api/v2/projects", c).authorized(&seed.token).post(seed::create_body());
        measure("POST /projects", &create, &mut rows)?;
        Ok(ModeReport { title: title.to_owned(), rows, notes: self.notes(&seed) })
    }

    /// The cached read measured while a login flood runs from a second wrk,
    /// started first and stopped after: (the read, the flood).
    fn during_flood(&self, server: &Server, read: &Load, login: &Load) -> Result<(Outcome, Outcome), String> {
        let flood_secs = self.seconds + 2 * WARM_UP_SECS + 1;
        let flood = self.wrk.spawn(&server.base, login, flood_secs)?;
        std::thread::sleep(std::time::Duration::from_secs(WARM_UP_SECS));
        let outcome = self.wrk.run(&server.base, read, self.seconds);
        let flood = Wrk::wait(flood)?;
        Ok((outcome?, flood))
    }

    fn notes(&self, seed: &Seed) -> Vec<String> {
        vec![format!(
            "Bodies: GET /projects/{{id}} answers {} bytes, the baseline {} bytes.",
            seed.project_bytes,
            seed::project_json().len()
        )]
    }
}

fn flood_note(flood: &Outcome) -> String {
    let errors = flood.errors();
    format!("flood: {:.0} logins/s, errors {errors}", flood.rps())
}
