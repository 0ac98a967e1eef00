//! The rows a job test starts from (fresh databases come from `common`).

pub use crate::common::{on_both, unique};

use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use devora_db::Database;
use devora_domain::generation::{Admission, billing_period};
use devora_domain::{
    Email, JobEvent, JobEventPayload, JobId, JobKind, JobStatus, ProjectId, ProjectName, Role, UserId, UserName,
};
use devora_ports::generation::{JobStore, Lease, NewJob, Outcome};
use devora_ports::{NewProject, NewUser, ProjectRepository, UserRepository};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// Long enough that no lease runs out unless a test moves `now` past it.
pub const LEASE: Duration = Duration::from_secs(60);

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
