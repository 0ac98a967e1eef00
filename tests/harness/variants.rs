//! The four backend variants, and whether the services each one needs answer.

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

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

    /// The first service this variant needs that does not answer (its name and
    /// address), or `None` when it can run.
    #[must_use]
    pub fn missing_service(self) -> Option<(&'static str, SocketAddr)> {
        let needed = [
            (self.db == Db::Postgres, "Postgres", host_port(&postgres_admin_url(), 5432)),
            (self.kv == Kv::Redis, "Redis", host_port(&redis_url(), 6379)),
        ];
        needed
            .into_iter()
            .find(|(needed, name, addr)| *needed && !answers(name, *addr))
            .map(|(_, name, addr)| (name, addr))
    }
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
pub(crate) fn host_port(url: &str, default_port: u16) -> SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let with_port = if authority.contains(':') { authority.to_owned() } else { format!("{authority}:{default_port}") };
    let with_port = with_port.replace("localhost", "127.0.0.1");
    with_port.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], default_port)))
}

/// Whether the service answers, asked once per test binary.
fn answers(name: &'static str, addr: SocketAddr) -> bool {
    static SEEN: OnceLock<Mutex<HashMap<&'static str, bool>>> = OnceLock::new();
    let mut seen = SEEN.get_or_init(Default::default).lock().unwrap();
    *seen.entry(name).or_insert_with(|| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok())
}

/// Whether `test` runs on `variant`. When a service it needs is down, the test
/// fails in CI; elsewhere it is skipped with a line written to the process's
/// stderr itself, past libtest's capture of `eprintln!`, so that a run whose
/// tests all pass still shows what it did not cover.
pub(crate) fn should_run(variant: Variant, test: &str) -> bool {
    let Some((name, addr)) = variant.missing_service() else { return true };
    assert!(
        !in_ci(),
        "{test}: {name} at {addr} is unreachable and CI=true: tests against real {name} are mandatory in CI"
    );
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED {test}: {name} at {addr} is unreachable; this variant did not run. (In CI this fails.) ***\n"
    );
    false
}
