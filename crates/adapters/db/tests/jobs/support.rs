//! A fresh database per backend per test, and the rows a job test starts from.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use devora_db::{Database, DbConfig};
use devora_domain::generation::{Admission, billing_period};
use devora_domain::{
    Email, JobEvent, JobEventPayload, JobId, JobKind, JobStatus, ProjectId, ProjectName, Role, UserId, UserName,
};
use devora_ports::generation::{JobStore, Lease, NewJob, Outcome};
use devora_ports::{NewProject, NewUser, ProjectRepository, UserRepository};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// Long enough that no lease runs out unless a test moves `now` past it.
pub const LEASE: Duration = Duration::from_secs(60);

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

async fn sqlite() -> Fresh {
    let dir = std::env::temp_dir().join(format!("devora-jobs-test-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = Database::connect(&config(format!("sqlite://{}?mode=rwc", dir.join("t.db").display()))).await.unwrap();
    db.migrate().await.unwrap();
    Fresh { db, cleanup: None, dir: Some(dir) }
}

async fn postgres() -> Option<Fresh> {
    let admin_url = std::env::var("TEST_DATABASE_URL").ok()?;
    let admin = Database::connect(&config(admin_url.clone())).await.unwrap();
    let name = format!("devora_jobs_test_{}", unique());
    admin.connection().execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let db = Database::connect(&config(format!("{base}/{name}"))).await.unwrap();
    db.migrate().await.unwrap();
    Some(Fresh { db, cleanup: Some((admin, name)), dir: None })
}

/// Runs `body` on a fresh SQLite database, then on a fresh Postgres one when
/// `TEST_DATABASE_URL` is set. The database is dropped even when the body fails.
pub async fn on_both<F, Fut>(body: F)
where
    F: Fn(Database) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    run("sqlite", sqlite().await, &body).await;
    match postgres().await {
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

/// Now, at the precision both backends store.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

pub async fn user(db: &Database) -> UserId {
    let id = UserId::new();
    let new = NewUser {
        id,
        email: Email::parse(&format!("{}@example.com", unique())).unwrap(),
        name: UserName::parse("Test").unwrap(),
        password_hash: Some("hash".to_owned()),
        role: Role::User,
        email_verified: true,
        now: now(),
    };
    UserRepository::create(db, new).await.unwrap();
    id
}

pub async fn project(db: &Database, owner: UserId) -> ProjectId {
    let new = NewProject {
        id: ProjectId::new(),
        owner_id: owner,
        name: ProjectName::parse("Recipes").unwrap(),
        description: None,
        framework: None,
        now: now(),
    };
    ProjectRepository::create(db, new, 1000).await.unwrap().id
}

/// Limits no test reaches unless it means to.
pub fn generous() -> Admission {
    Admission {
        generations_per_month: 1000,
        tokens_per_month: 1_000_000,
        concurrent_jobs: 1000,
        resets_at: billing_period(now()).1,
    }
}

pub fn new_job(owner: UserId, project: Option<ProjectId>, at: DateTime<Utc>) -> NewJob {
    NewJob {
        id: JobId::new(),
        owner_id: owner,
        project_id: project,
        kind: JobKind::Agentic,
        prompt: "Add a login page".to_owned(),
        model: "test-model".to_owned(),
        now: at,
        period_start: billing_period(at).0,
    }
}

pub async fn queue_job(db: &Database, owner: UserId, project: Option<ProjectId>, at: DateTime<Utc>) -> JobId {
    db.create_job(new_job(owner, project, at), &generous()).await.unwrap().id
}

pub async fn claim(db: &Database, worker: &str, at: DateTime<Utc>) -> Option<Lease> {
    db.claim(worker, LEASE, at).await.unwrap()
}

pub fn succeeded(output: &str) -> Outcome {
    Outcome {
        status: JobStatus::Succeeded,
        error: None,
        output: output.to_owned(),
        summary: None,
        revision: None,
        operations: vec![],
        usage: devora_domain::JobUsage::default(),
    }
}

pub fn status(status: JobStatus, attempt: u32) -> JobEventPayload {
    JobEventPayload::Status { status, attempt }
}

/// The job's whole log, checked to be numbered 1..n without gaps.
pub async fn events(db: &Database, job: JobId) -> Vec<JobEvent> {
    let events = db.events_after(job, 0, 1000).await.unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    let expected: Vec<u64> = (1..=u64::try_from(events.len()).unwrap()).collect();
    assert_eq!(seqs, expected, "the log is numbered 1..n without gaps");
    events
}

pub async fn payloads(db: &Database, job: JobId) -> Vec<JobEventPayload> {
    events(db, job).await.into_iter().map(|e| e.payload).collect()
}

/// The lease columns the domain `Job` does not show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub owner: Option<String>,
    pub fence: i64,
    pub until: Option<DateTime<Utc>>,
    pub reserved: i64,
    pub last_seq: i64,
}

pub async fn lease_row(db: &Database, job: JobId) -> LeaseRow {
    let backend = db.connection().get_database_backend();
    let placeholder = if backend == DbBackend::Postgres { "$1" } else { "?" };
    let sql = format!(
        "SELECT lease_owner, lease_fence, lease_until, reserved_tokens, last_seq \
         FROM generation_jobs WHERE id = {placeholder}"
    );
    let statement = Statement::from_sql_and_values(backend, sql, [job.as_uuid().into()]);
    let row = db.connection().query_one_raw(statement).await.unwrap().unwrap();
    LeaseRow {
        owner: row.try_get("", "lease_owner").unwrap(),
        fence: row.try_get("", "lease_fence").unwrap(),
        until: row.try_get("", "lease_until").unwrap(),
        reserved: row.try_get("", "reserved_tokens").unwrap(),
        last_seq: row.try_get("", "last_seq").unwrap(),
    }
}
