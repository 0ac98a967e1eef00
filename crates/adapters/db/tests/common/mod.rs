//! A fresh database per backend for the db tests: a SQLite file, and a new
//! Postgres database when `TEST_DATABASE_URL` names a server (mandatory in CI).
//! Each test's body runs on both; the database is dropped even when it fails.
#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use devora_db::{Database, DbConfig};
use sea_orm::ConnectionTrait;

struct Fresh {
    db: Database,
    cleanup: Option<(Database, String)>,
    dir: Option<std::path::PathBuf>,
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Fresh {
    async fn close(self) {
        if let Some((admin, name)) = &self.cleanup {
            self.db.connection().clone().close().await.unwrap();
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            admin.connection().execute_unprepared(&drop).await.unwrap();
        }
    }
}

fn config(url: String) -> DbConfig {
    DbConfig {
        url,
        max_connections: 8,
        min_connections: 0,
        connect_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(60),
        sqlite_busy_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(10),
    }
}

/// Unique within the process (a counter) and across runs (pid and clock).
pub fn unique() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:x}{:x}{n}", std::process::id(), Utc::now().timestamp_nanos_opt().unwrap_or_default())
}

async fn sqlite(migrate: bool) -> Fresh {
    let dir = std::env::temp_dir().join(format!("devora-jobs-test-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = Database::connect(&config(format!("sqlite://{}?mode=rwc", dir.join("t.db").display()))).await.unwrap();
    if migrate {
        db.migrate().await.unwrap();
    }
    Fresh { db, cleanup: None, dir: Some(dir) }
}

async fn postgres(migrate: bool) -> Option<Fresh> {
    let admin_url = std::env::var("TEST_DATABASE_URL").ok()?;
    let admin = Database::connect(&config(admin_url.clone())).await.unwrap();
    let name = format!("devora_jobs_test_{}", unique());
    admin.connection().execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let db = Database::connect(&config(format!("{base}/{name}"))).await.unwrap();
    if migrate {
        db.migrate().await.unwrap();
    }
    Some(Fresh { db, cleanup: Some((admin, name)), dir: None })
}

/// Runs `body` on a fresh SQLite database, then on a fresh Postgres one when
/// `TEST_DATABASE_URL` is set. The database is dropped even when the body fails.
pub async fn on_both<F, Fut>(body: F)
where
    F: Fn(Database) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    on_both_migrated(true, body).await;
}

/// [`on_both`] on databases with no migration applied (a test that migrates itself).
pub async fn on_both_unmigrated<F, Fut>(body: F)
where
    F: Fn(Database) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    on_both_migrated(false, body).await;
}

async fn on_both_migrated<F, Fut>(migrate: bool, body: F)
where
    F: Fn(Database) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    run("sqlite", sqlite(migrate).await, &body).await;
    match postgres(migrate).await {
        Some(fresh) => run("postgres", fresh, &body).await,
        None => {
            assert!(std::env::var("CI").is_err(), "CI must run the Postgres tests: set TEST_DATABASE_URL");
            eprintln!("postgres skipped: TEST_DATABASE_URL is not set");
        }
    }
}

async fn run<F, Fut>(backend: &str, fresh: Fresh, body: &F)
where
    F: Fn(Database) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let outcome = tokio::spawn(body(fresh.db.clone())).await;
    fresh.close().await;
    if let Err(err) = outcome {
        eprintln!("failed on {backend}");
        std::panic::resume_unwind(err.into_panic());
    }
}
