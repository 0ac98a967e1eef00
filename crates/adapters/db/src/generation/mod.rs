//! Generation jobs: the queue (claims under a lease with a fencing token), the
//! per-job event log, token reservations and stream tickets. Every change to a
//! running job is one conditional statement on its row naming the fencing token,
//! so a worker whose lease was taken over changes nothing.

mod queue;
mod rows;
pub(crate) mod sql;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::JobUsage;
use devora_domain::generation::{Admission, PeriodUsage, admit};
use devora_domain::{Job, JobEvent, JobEventPayload, JobId, JobStatus, UserId};
use devora_ports::generation::{
    CancelOutcome, CreateJobError, FencedError, JobFilter, JobStore, Lease, LeaseState, NewJob, Outcome, QueueStats,
    RescueReport, Reservation,
};
use devora_ports::{Page, PageCursor, StorageError};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};

use crate::Database;
use crate::entity::{generation_events, generation_jobs, generation_tickets, users};
use crate::errors::storage;
use crate::projects::{cut_page, older_than};
pub(crate) use queue::hold_job;
pub(crate) use rows::{encode, event_from_row, job_from_row};

/// Holds the user's row until the transaction ends (Postgres: its row lock;
/// SQLite: the write lock), so one user's budget is decided one call at a time.
async fn lock_user(conn: &impl ConnectionTrait, owner: UserId) -> Result<(), StorageError> {
    users::Entity::update_many()
        .col_expr(users::Column::UpdatedAt, Expr::col(users::Column::UpdatedAt))
        .filter(users::Column::Id.eq(owner.as_uuid()))
        .exec(conn)
        .await
        .map_err(storage)?;
    Ok(())
}

async fn usage_in(
    conn: &impl ConnectionTrait,
    owner: UserId,
    since: DateTime<Utc>,
) -> Result<PeriodUsage, StorageError> {
    let row = sql::one(
        conn,
        "SELECT \
           CAST(COALESCE(SUM(CASE WHEN created_at >= $1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS generations, \
           CAST(COALESCE(SUM(CASE WHEN created_at >= $2 THEN prompt_tokens + completion_tokens ELSE 0 END), 0) AS BIGINT) AS tokens_used, \
           CAST(COALESCE(SUM(reserved_tokens), 0) AS BIGINT) AS tokens_reserved, \
           CAST(COALESCE(SUM(CASE WHEN status IN ('queued', 'running') THEN 1 ELSE 0 END), 0) AS BIGINT) AS active \
         FROM generation_jobs WHERE owner_id = $3",
        vec![since.into(), since.into(), owner.as_uuid().into()],
    )
    .await?
    .ok_or_else(|| StorageError::new("usage query returned no row"))?;
    let count = |c: &str| sql::get_i64(&row, c).map(|n| u64::try_from(n).unwrap_or(0));
    Ok(PeriodUsage {
        generations: count("generations")?,
        tokens_used: count("tokens_used")?,
        tokens_reserved: count("tokens_reserved")?,
        active_jobs: count("active")?,
    })
}

async fn insert_events(
    conn: &impl ConnectionTrait,
    job: JobId,
    first_seq: i64,
    payloads: Vec<JobEventPayload>,
    now: DateTime<Utc>,
) -> Result<Vec<JobEvent>, StorageError> {
    let mut events = Vec::with_capacity(payloads.len());
    let mut rows = Vec::with_capacity(payloads.len());
    for (offset, payload) in payloads.into_iter().enumerate() {
        let seq = first_seq + i64::try_from(offset).unwrap_or(i64::MAX);
        rows.push(generation_events::ActiveModel {
            job_id: Set(job.as_uuid()),
            seq: Set(seq),
            kind: Set(payload.kind().to_owned()),
            data: Set(encode(&payload)),
            created_at: Set(now),
        });
        events.push(JobEvent { seq: u64::try_from(seq).unwrap_or(0), at: now, payload });
    }
    if !rows.is_empty() {
        generation_events::Entity::insert_many(rows).exec(conn).await.map_err(storage)?;
    }
    Ok(events)
}

#[async_trait]
impl JobStore for Database {
    async fn create_job(&self, job: NewJob, admission: &Admission) -> Result<Job, CreateJobError> {
        let txn = self.connection().begin().await.map_err(storage)?;
        lock_user(&txn, job.owner_id).await?;
        let usage = usage_in(&txn, job.owner_id, job.period_start).await?;
        admit(admission, &usage).map_err(CreateJobError::Limit)?;
        let row = generation_jobs::ActiveModel {
            id: Set(job.id.as_uuid()),
            owner_id: Set(job.owner_id.as_uuid()),
            project_id: Set(job.project_id.map(|p| p.as_uuid())),
            kind: Set(job.kind.as_str().to_owned()),
            status: Set(JobStatus::Queued.as_str().to_owned()),
            prompt: Set(job.prompt),
            model: Set(job.model),
            progress: Set(0),
            step: Set(None),
            attempt: Set(0),
            prompt_tokens: Set(0),
            completion_tokens: Set(0),
            usage_estimated: Set(false),
            reserved_tokens: Set(0),
            error_code: Set(None),
            error_message: Set(None),
            output: Set(String::new()),
            cancel_requested: Set(false),
            lease_owner: Set(None),
            lease_fence: Set(0),
            lease_until: Set(None),
            last_seq: Set(1),
            created_at: Set(job.now),
            started_at: Set(None),
            finished_at: Set(None),
            updated_at: Set(job.now),
            revision: Set(None),
            summary: Set(None),
            operations: Set("[]".to_owned()),
        }
        .insert(&txn)
        .await
        .map_err(storage)?;
        insert_events(
            &txn,
            job.id,
            1,
            vec![JobEventPayload::Status { status: JobStatus::Queued, attempt: 0 }],
            job.now,
        )
        .await?;
        txn.commit().await.map_err(storage)?;
        Ok(job_from_row(row)?)
    }

    async fn find_job(&self, id: JobId) -> Result<Option<Job>, StorageError> {
        generation_jobs::Entity::find_by_id(id.as_uuid())
            .one(self.connection())
            .await
            .map_err(storage)?
            .map(job_from_row)
            .transpose()
    }

    async fn list_jobs(
        &self,
        owner: Option<UserId>,
        filter: JobFilter,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<Page<Job>, StorageError> {
        use generation_jobs::Column as C;
        let mut query = generation_jobs::Entity::find();
        if let Some(owner) = owner {
            query = query.filter(C::OwnerId.eq(owner.as_uuid()));
        }
        if let Some(project) = filter.project {
            query = query.filter(C::ProjectId.eq(project.as_uuid()));
        }
        if let Some(status) = filter.status {
            query = query.filter(C::Status.eq(status.as_str()));
        }
        if let Some(c) = after {
            query = query.filter(older_than(C::CreatedAt, C::Id, c));
        }
        let mut rows = query
            .order_by_desc(C::CreatedAt)
            .order_by_desc(C::Id)
            .limit(u64::from(limit) + 1)
            .all(self.connection())
            .await
            .map_err(storage)?;
        let next = cut_page(&mut rows, limit, |r| PageCursor { created_at: r.created_at, id: r.id });
        Ok(Page { items: rows.into_iter().map(job_from_row).collect::<Result<_, _>>()?, next })
    }

    async fn period_usage(&self, owner: UserId, since: DateTime<Utc>) -> Result<PeriodUsage, StorageError> {
        usage_in(self.connection(), owner, since).await
    }

    async fn claim(&self, worker: &str, lease: Duration, now: DateTime<Utc>) -> Result<Option<Lease>, StorageError> {
        queue::claim(self, worker, lease, now).await
    }

    async fn heartbeat(&self, lease: &Lease, until: DateTime<Utc>) -> Result<LeaseState, FencedError> {
        queue::heartbeat(self, lease, until).await
    }

    async fn append_events(
        &self,
        lease: &Lease,
        events: Vec<JobEventPayload>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<JobEvent>, LeaseState), FencedError> {
        queue::append_events(self, lease, events, now).await
    }

    async fn reserve_tokens(
        &self,
        lease: &Lease,
        tokens_per_month: u64,
        period_start: DateTime<Utc>,
        prompt_estimate: u64,
        wanted_output: u32,
        min_output: u32,
    ) -> Result<Reservation, FencedError> {
        queue::reserve_tokens(self, lease, tokens_per_month, period_start, prompt_estimate, wanted_output, min_output)
            .await
    }

    async fn settle_tokens(
        &self,
        lease: &Lease,
        reserved: u64,
        usage: JobUsage,
        now: DateTime<Utc>,
    ) -> Result<JobEvent, FencedError> {
        queue::settle_tokens(self, lease, reserved, usage, now).await
    }

    async fn finish(&self, lease: &Lease, outcome: Outcome, now: DateTime<Utc>) -> Result<JobEvent, FencedError> {
        queue::finish(self, lease, outcome, now).await
    }

    async fn release(&self, lease: &Lease, now: DateTime<Utc>) -> Result<JobEvent, FencedError> {
        queue::release(self, lease, now).await
    }

    async fn request_cancel(
        &self,
        owner: Option<UserId>,
        id: JobId,
        now: DateTime<Utc>,
        audit: Option<devora_ports::admin::NewAuditEntry>,
    ) -> Result<Option<CancelOutcome>, StorageError> {
        queue::request_cancel(self, owner, id, now, audit).await
    }

    async fn rescue_expired(&self, now: DateTime<Utc>, max_attempts: u32) -> Result<RescueReport, StorageError> {
        queue::rescue_expired(self, now, max_attempts).await
    }

    async fn events_after(&self, job: JobId, after: u64, limit: u32) -> Result<Vec<JobEvent>, StorageError> {
        use generation_events::Column as C;
        generation_events::Entity::find()
            .filter(C::JobId.eq(job.as_uuid()))
            .filter(C::Seq.gt(i64::try_from(after).unwrap_or(i64::MAX)))
            .order_by_asc(C::Seq)
            .limit(u64::from(limit))
            .all(self.connection())
            .await
            .map_err(storage)?
            .into_iter()
            .map(event_from_row)
            .collect()
    }

    async fn queue_stats(&self, _now: DateTime<Utc>) -> Result<QueueStats, StorageError> {
        let rows = sql::all(
            self.connection(),
            "SELECT status, CAST(COUNT(*) AS BIGINT) AS n, MIN(created_at) AS oldest FROM generation_jobs GROUP BY status",
            vec![],
        )
        .await?;
        let mut stats = QueueStats::default();
        for row in rows {
            let status: String = row.try_get("", "status").map_err(storage)?;
            let Some(status) = JobStatus::parse(&status) else { continue };
            stats.by_status.push((status, u64::try_from(sql::get_i64(&row, "n")?).unwrap_or(0)));
            if status == JobStatus::Queued {
                stats.oldest_queued = row.try_get::<Option<DateTime<Utc>>>("", "oldest").map_err(storage)?;
            }
        }
        Ok(stats)
    }

    async fn create_ticket(
        &self,
        ticket_hash: &str,
        job: JobId,
        owner: UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        generation_tickets::ActiveModel {
            ticket_hash: Set(ticket_hash.to_owned()),
            job_id: Set(job.as_uuid()),
            owner_id: Set(owner.as_uuid()),
            expires_at: Set(expires_at),
        }
        .insert(self.connection())
        .await
        .map_err(storage)?;
        Ok(())
    }

    async fn redeem_ticket(
        &self,
        ticket_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(JobId, UserId)>, StorageError> {
        // One statement: of two redeemers at once, only the one whose delete took
        // the row wins (a read before the delete would make SQLite refuse the
        // loser's write as busy instead of answering None).
        let Some(row) = sql::one(
            self.connection(),
            "DELETE FROM generation_tickets WHERE ticket_hash = $1 RETURNING job_id, owner_id, expires_at",
            vec![ticket_hash.into()],
        )
        .await?
        else {
            return Ok(None);
        };
        let expires_at: DateTime<Utc> = row.try_get("", "expires_at").map_err(storage)?;
        if expires_at <= now {
            return Ok(None);
        }
        let job: sea_orm::prelude::Uuid = row.try_get("", "job_id").map_err(storage)?;
        let owner: sea_orm::prelude::Uuid = row.try_get("", "owner_id").map_err(storage)?;
        Ok(Some((JobId::from_uuid(job), UserId::from_uuid(owner))))
    }

    async fn purge_tickets(&self, now: DateTime<Utc>) -> Result<u64, StorageError> {
        let result = generation_tickets::Entity::delete_many()
            .filter(generation_tickets::Column::ExpiresAt.lt(now))
            .exec(self.connection())
            .await
            .map_err(storage)?;
        Ok(result.rows_affected)
    }
}
