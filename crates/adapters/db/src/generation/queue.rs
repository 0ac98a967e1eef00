//! The queue's conditional writes. A running job's row is changed only by the
//! statement that names its id, its fencing token and `status = 'running'`; the
//! events a change produces are inserted in the same transaction, numbered from
//! the row's `last_seq`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use devora_domain::generation::{LeaseVerdict, expired_lease, grant_tokens};
use devora_domain::{JobErrorCode, JobEvent, JobEventPayload, JobId, JobStatus, JobUsage, UserId};
use devora_ports::StorageError;
use devora_ports::admin::NewAuditEntry;
use devora_ports::generation::{CancelOutcome, FencedError, Lease, LeaseState, Outcome, RescueReport, Reservation};
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect, TransactionTrait, Value};

use super::{insert_events, job_from_row, lock_user, sql, usage_in};
use crate::Database;
use crate::entity::generation_jobs;
use crate::errors::{storage, unique_violation_storage};

fn lost<T>(row: Option<T>) -> Result<T, FencedError> {
    row.ok_or(FencedError::Lost)
}

fn chrono_to_value(at: DateTime<Utc>) -> Value {
    at.into()
}

pub(super) async fn claim(
    db: &Database,
    worker: &str,
    lease: Duration,
    now: DateTime<Utc>,
) -> Result<Option<Lease>, StorageError> {
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    let lock = match db.connection().get_database_backend() {
        DbBackend::Postgres => "FOR UPDATE SKIP LOCKED",
        _ => "",
    };
    let statement = format!(
        "UPDATE generation_jobs SET status = 'running', lease_owner = $1, lease_fence = lease_fence + 1, \
           lease_until = $2, attempt = attempt + 1, started_at = COALESCE(started_at, $3), updated_at = $4, \
           last_seq = last_seq + 1 \
         WHERE id = (SELECT j.id FROM generation_jobs j WHERE j.status = 'queued' \
           AND NOT EXISTS (SELECT 1 FROM generation_jobs r WHERE r.project_id = j.project_id AND r.status = 'running') \
           AND NOT EXISTS (SELECT 1 FROM generation_jobs o WHERE o.project_id = j.project_id AND o.status = 'queued' \
             AND (o.created_at < j.created_at OR (o.created_at = j.created_at AND o.id < j.id))) \
           ORDER BY j.created_at, j.id LIMIT 1 {lock}) \
         RETURNING id, last_seq, lease_fence"
    );
    // Only a project's oldest queued job is a candidate: a claim that skips it
    // (another claim holds its row) must not start a younger one in its place.
    // Two claims of one project can still both pass the NOT EXISTS; the
    // one-running-per-project index refuses the second, which tries again.
    for _ in 0..3 {
        let txn = db.connection().begin().await.map_err(storage)?;
        let values = vec![worker.into(), chrono_to_value(until), chrono_to_value(now), chrono_to_value(now)];
        let row = match sql::one(&txn, &statement, values).await {
            Ok(row) => row,
            Err(err) if unique_violation_storage(&err) => continue,
            Err(err) => return Err(err),
        };
        let Some(row) = row else { return Ok(None) };
        let id: sea_orm::prelude::Uuid = row.try_get("", "id").map_err(storage)?;
        let seq = sql::get_i64(&row, "last_seq")?;
        let fence = sql::get_i64(&row, "lease_fence")?;
        let job = generation_jobs::Entity::find_by_id(id)
            .one(&txn)
            .await
            .map_err(storage)?
            .ok_or_else(|| StorageError::new("the claimed job is gone"))?;
        let job = job_from_row(job)?;
        let status = JobEventPayload::Status { status: JobStatus::Running, attempt: job.attempt };
        insert_events(&txn, job.id, seq, vec![status], now).await?;
        txn.commit().await.map_err(storage)?;
        return Ok(Some(Lease { job, fence, seq: u64::try_from(seq).unwrap_or(0) }));
    }
    Ok(None)
}

pub(super) async fn heartbeat(db: &Database, lease: &Lease, until: DateTime<Utc>) -> Result<LeaseState, FencedError> {
    let row = sql::one(
        db.connection(),
        "UPDATE generation_jobs SET lease_until = $1 \
         WHERE id = $2 AND lease_fence = $3 AND status = 'running' RETURNING cancel_requested",
        vec![chrono_to_value(until), lease.job.id.as_uuid().into(), lease.fence.into()],
    )
    .await?;
    let row = lost(row)?;
    Ok(LeaseState { cancel_requested: row.try_get("", "cancel_requested").map_err(storage)? })
}

pub(super) async fn append_events(
    db: &Database,
    lease: &Lease,
    events: Vec<JobEventPayload>,
    now: DateTime<Utc>,
) -> Result<(Vec<JobEvent>, LeaseState), FencedError> {
    let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
    let progress = events.iter().rev().find_map(|e| match e {
        JobEventPayload::Progress { progress, step } => Some((i32::from(*progress), step.clone())),
        _ => None,
    });
    let (set_progress, value, step) = match progress {
        Some((value, step)) => (true, value, step),
        None => (false, 0, None),
    };
    let txn = db.connection().begin().await.map_err(storage)?;
    let row = sql::one(
        &txn,
        "UPDATE generation_jobs SET last_seq = last_seq + $1, updated_at = $2, \
           progress = CASE WHEN $3 THEN $4 ELSE progress END, step = CASE WHEN $5 THEN $6 ELSE step END \
         WHERE id = $7 AND lease_fence = $8 AND status = 'running' RETURNING last_seq, cancel_requested",
        vec![
            count.into(),
            chrono_to_value(now),
            set_progress.into(),
            value.into(),
            set_progress.into(),
            step.into(),
            lease.job.id.as_uuid().into(),
            lease.fence.into(),
        ],
    )
    .await?;
    let row = lost(row)?;
    let last = sql::get_i64(&row, "last_seq")?;
    let state = LeaseState { cancel_requested: row.try_get("", "cancel_requested").map_err(storage)? };
    let events = insert_events(&txn, lease.job.id, last - count + 1, events, now).await?;
    txn.commit().await.map_err(storage)?;
    Ok((events, state))
}

/// Fenced no-op write: holds a running job's row until the transaction ends
/// and proves `fence` is still its lease; `false` when it is not.
pub(crate) async fn hold_job(
    conn: &impl sea_orm::ConnectionTrait,
    job: JobId,
    fence: i64,
) -> Result<bool, StorageError> {
    let row = sql::one(
        conn,
        "UPDATE generation_jobs SET lease_fence = lease_fence \
         WHERE id = $1 AND lease_fence = $2 AND status = 'running' RETURNING id",
        vec![job.as_uuid().into(), fence.into()],
    )
    .await?;
    Ok(row.is_some())
}

async fn hold(txn: &impl sea_orm::ConnectionTrait, lease: &Lease) -> Result<(), FencedError> {
    if hold_job(txn, lease.job.id, lease.fence).await? { Ok(()) } else { Err(FencedError::Lost) }
}

pub(super) async fn reserve_tokens(
    db: &Database,
    lease: &Lease,
    tokens_per_month: u64,
    period_start: DateTime<Utc>,
    prompt_estimate: u64,
    wanted_output: u32,
    min_output: u32,
) -> Result<Reservation, FencedError> {
    let txn = db.connection().begin().await.map_err(storage)?;
    hold(&txn, lease).await?;
    lock_user(&txn, lease.job.owner_id).await?;
    let usage = usage_in(&txn, lease.job.owner_id, period_start).await?;
    let Some(grant) = grant_tokens(tokens_per_month, &usage, prompt_estimate, wanted_output, min_output) else {
        return Ok(Reservation::Exhausted);
    };
    sql::one(
        &txn,
        "UPDATE generation_jobs SET reserved_tokens = reserved_tokens + $1 WHERE id = $2 RETURNING id",
        vec![i64::try_from(grant.reserved).unwrap_or(i64::MAX).into(), lease.job.id.as_uuid().into()],
    )
    .await?;
    txn.commit().await.map_err(storage)?;
    Ok(Reservation::Granted(grant))
}

pub(super) async fn settle_tokens(
    db: &Database,
    lease: &Lease,
    reserved: u64,
    usage: JobUsage,
    now: DateTime<Utc>,
) -> Result<JobEvent, FencedError> {
    let reserved = i64::try_from(reserved).unwrap_or(i64::MAX);
    let txn = db.connection().begin().await.map_err(storage)?;
    let row = sql::one(
        &txn,
        "UPDATE generation_jobs SET \
           reserved_tokens = CASE WHEN reserved_tokens > $1 THEN reserved_tokens - $2 ELSE 0 END, \
           prompt_tokens = prompt_tokens + $3, completion_tokens = completion_tokens + $4, \
           usage_estimated = (usage_estimated OR $5), last_seq = last_seq + 1, updated_at = $6 \
         WHERE id = $7 AND lease_fence = $8 AND status = 'running' \
         RETURNING last_seq, prompt_tokens, completion_tokens, usage_estimated",
        vec![
            reserved.into(),
            reserved.into(),
            i64::try_from(usage.prompt_tokens).unwrap_or(i64::MAX).into(),
            i64::try_from(usage.completion_tokens).unwrap_or(i64::MAX).into(),
            usage.estimated.into(),
            chrono_to_value(now),
            lease.job.id.as_uuid().into(),
            lease.fence.into(),
        ],
    )
    .await?;
    let row = lost(row)?;
    let totals = JobUsage {
        prompt_tokens: u64::try_from(sql::get_i64(&row, "prompt_tokens")?).unwrap_or(0),
        completion_tokens: u64::try_from(sql::get_i64(&row, "completion_tokens")?).unwrap_or(0),
        estimated: row.try_get("", "usage_estimated").map_err(storage)?,
    };
    let seq = sql::get_i64(&row, "last_seq")?;
    let mut events = insert_events(&txn, lease.job.id, seq, vec![JobEventPayload::Usage(totals)], now).await?;
    txn.commit().await.map_err(storage)?;
    events.pop().ok_or_else(|| FencedError::Storage(StorageError::new("no usage event")))
}

pub(super) async fn finish(
    db: &Database,
    lease: &Lease,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Result<JobEvent, FencedError> {
    let (code, message) = match &outcome.error {
        Some((code, message)) => (Some(code.as_str().to_owned()), Some(message.clone())),
        None => (None, None),
    };
    let txn = db.connection().begin().await.map_err(storage)?;
    let row = sql::one(
        &txn,
        "UPDATE generation_jobs SET status = $1, error_code = $2, error_message = $3, output = $4, \
           summary = $5, revision = $6, operations = $7, \
           prompt_tokens = prompt_tokens + $8, completion_tokens = completion_tokens + $9, \
           usage_estimated = (usage_estimated OR $10), \
           reserved_tokens = 0, lease_owner = NULL, lease_until = NULL, finished_at = $11, updated_at = $12, \
           last_seq = last_seq + 1, progress = CASE WHEN $13 THEN 100 ELSE progress END \
         WHERE id = $14 AND lease_fence = $15 AND status = 'running' RETURNING last_seq",
        vec![
            outcome.status.as_str().into(),
            code.into(),
            message.into(),
            outcome.output.into(),
            outcome.summary.into(),
            outcome.revision.and_then(|n| i64::try_from(n).ok()).into(),
            super::rows::encode_operations(&outcome.operations).into(),
            i64::try_from(outcome.usage.prompt_tokens).unwrap_or(i64::MAX).into(),
            i64::try_from(outcome.usage.completion_tokens).unwrap_or(i64::MAX).into(),
            outcome.usage.estimated.into(),
            chrono_to_value(now),
            chrono_to_value(now),
            (outcome.status == JobStatus::Succeeded).into(),
            lease.job.id.as_uuid().into(),
            lease.fence.into(),
        ],
    )
    .await?;
    let seq = sql::get_i64(&lost(row)?, "last_seq")?;
    let end = JobEventPayload::End { status: outcome.status, error: outcome.error };
    let mut events = insert_events(&txn, lease.job.id, seq, vec![end], now).await?;
    txn.commit().await.map_err(storage)?;
    events.pop().ok_or_else(|| FencedError::Storage(StorageError::new("no end event")))
}

pub(super) async fn release(db: &Database, lease: &Lease, now: DateTime<Utc>) -> Result<JobEvent, FencedError> {
    let txn = db.connection().begin().await.map_err(storage)?;
    let row = sql::one(
        &txn,
        "UPDATE generation_jobs SET status = 'queued', lease_owner = NULL, lease_until = NULL, \
           attempt = CASE WHEN attempt > 0 THEN attempt - 1 ELSE 0 END, reserved_tokens = 0, \
           last_seq = last_seq + 1, updated_at = $1 \
         WHERE id = $2 AND lease_fence = $3 AND status = 'running' RETURNING last_seq, attempt",
        vec![chrono_to_value(now), lease.job.id.as_uuid().into(), lease.fence.into()],
    )
    .await?;
    let row = lost(row)?;
    let seq = sql::get_i64(&row, "last_seq")?;
    let attempt = u32::try_from(row.try_get::<i32>("", "attempt").map_err(storage)?).unwrap_or(0);
    let status = JobEventPayload::Status { status: JobStatus::Queued, attempt };
    let mut events = insert_events(&txn, lease.job.id, seq, vec![status], now).await?;
    txn.commit().await.map_err(storage)?;
    events.pop().ok_or_else(|| FencedError::Storage(StorageError::new("no status event")))
}

/// Ends a job that is not running (queued, or whose worker is gone) with `end`,
/// if it is still in `from` with this fencing token.
#[allow(clippy::too_many_arguments)]
async fn end_unleased(
    db: &Database,
    id: JobId,
    from: JobStatus,
    fence: i64,
    end: JobStatus,
    error: Option<(JobErrorCode, String)>,
    now: DateTime<Utc>,
    audit: Option<NewAuditEntry>,
) -> Result<Option<u64>, StorageError> {
    let (code, message) = match &error {
        Some((code, message)) => (Some(code.as_str().to_owned()), Some(message.clone())),
        None => (None, None),
    };
    let txn = db.connection().begin().await.map_err(storage)?;
    let row = sql::one(
        &txn,
        "UPDATE generation_jobs SET status = $1, error_code = $2, error_message = $3, reserved_tokens = 0, \
           lease_owner = NULL, lease_until = NULL, finished_at = $4, updated_at = $5, last_seq = last_seq + 1 \
         WHERE id = $6 AND status = $7 AND lease_fence = $8 RETURNING last_seq",
        vec![
            end.as_str().into(),
            code.into(),
            message.into(),
            chrono_to_value(now),
            chrono_to_value(now),
            id.as_uuid().into(),
            from.as_str().into(),
            fence.into(),
        ],
    )
    .await?;
    let Some(row) = row else { return Ok(None) };
    let seq = sql::get_i64(&row, "last_seq")?;
    insert_events(&txn, id, seq, vec![JobEventPayload::End { status: end, error }], now).await?;
    if let Some(mut entry) = audit {
        entry.before = Some(format!(r#"{{"status":"{}"}}"#, from.as_str()));
        entry.after = Some(format!(r#"{{"status":"{}"}}"#, end.as_str()));
        crate::admin::append_audit(&txn, entry).await?;
    }
    txn.commit().await.map_err(storage)?;
    Ok(u64::try_from(seq).ok())
}

pub(super) async fn request_cancel(
    db: &Database,
    owner: Option<UserId>,
    id: JobId,
    now: DateTime<Utc>,
    audit: Option<NewAuditEntry>,
) -> Result<Option<CancelOutcome>, StorageError> {
    // A job can move between the read and the write (claimed, released): look again.
    for _ in 0..3 {
        let Some(row) =
            generation_jobs::Entity::find_by_id(id.as_uuid()).one(db.connection()).await.map_err(storage)?
        else {
            return Ok(None);
        };
        if owner.is_some_and(|o| o.as_uuid() != row.owner_id) {
            return Ok(None);
        }
        let status = JobStatus::parse(&row.status).unwrap_or(JobStatus::Failed);
        match status {
            JobStatus::Queued => {
                let ended = end_unleased(
                    db,
                    id,
                    JobStatus::Queued,
                    row.lease_fence,
                    JobStatus::Cancelled,
                    None,
                    now,
                    audit.clone(),
                )
                .await?;
                if let Some(seq) = ended {
                    return Ok(Some(CancelOutcome::Cancelled { seq }));
                }
            }
            JobStatus::Running => {
                let txn = db.connection().begin().await.map_err(storage)?;
                let asked = generation_jobs::Entity::update_many()
                    .col_expr(generation_jobs::Column::CancelRequested, sea_orm::sea_query::Expr::value(true))
                    .filter(generation_jobs::Column::Id.eq(id.as_uuid()))
                    .filter(generation_jobs::Column::Status.eq(JobStatus::Running.as_str()))
                    .filter(generation_jobs::Column::LeaseFence.eq(row.lease_fence))
                    .exec(&txn)
                    .await
                    .map_err(storage)?;
                if asked.rows_affected == 1 {
                    // A second cancel of a job already asked to stop changes nothing and records nothing.
                    if let Some(mut entry) = audit.clone().filter(|_| !row.cancel_requested) {
                        entry.before = Some(r#"{"status":"running","cancel_requested":false}"#.to_owned());
                        entry.after = Some(r#"{"status":"running","cancel_requested":true}"#.to_owned());
                        crate::admin::append_audit(&txn, entry).await?;
                    }
                    txn.commit().await.map_err(storage)?;
                    return Ok(Some(CancelOutcome::Requested));
                }
            }
            _ => return Ok(Some(CancelOutcome::AlreadyFinished)),
        }
    }
    Ok(Some(CancelOutcome::AlreadyFinished))
}

pub(super) async fn rescue_expired(
    db: &Database,
    now: DateTime<Utc>,
    max_attempts: u32,
) -> Result<RescueReport, StorageError> {
    use generation_jobs::Column as C;
    let expired = generation_jobs::Entity::find()
        .filter(C::Status.eq(JobStatus::Running.as_str()))
        .filter(C::LeaseUntil.lt(now))
        .limit(100)
        .all(db.connection())
        .await
        .map_err(storage)?;
    let mut report = RescueReport::default();
    for row in expired {
        let id = JobId::from_uuid(row.id);
        let Some(until) = row.lease_until else { continue };
        let attempt = u32::try_from(row.attempt).unwrap_or(0);
        if row.cancel_requested {
            if end_unleased(db, id, JobStatus::Running, row.lease_fence, JobStatus::Cancelled, None, now, None)
                .await?
                .is_some()
            {
                report.cancelled.push(id);
            }
            continue;
        }
        match expired_lease(until, now, attempt, max_attempts) {
            LeaseVerdict::Held => {}
            LeaseVerdict::Fail => {
                let error = (
                    JobErrorCode::WorkerLost,
                    format!("the job's worker stopped answering on each of {attempt} attempts"),
                );
                let ended = end_unleased(
                    db,
                    id,
                    JobStatus::Running,
                    row.lease_fence,
                    JobStatus::Failed,
                    Some(error),
                    now,
                    None,
                )
                .await?;
                if ended.is_some() {
                    // What its attempts changed stays, as the job's revision.
                    sql::one(
                        db.connection(),
                        "UPDATE generation_jobs SET revision = \
                           (SELECT MAX(r.number) FROM revisions r WHERE r.job_id = $1) WHERE id = $2 RETURNING id",
                        vec![id.as_uuid().into(), id.as_uuid().into()],
                    )
                    .await?;
                    report.failed.push(id);
                }
            }
            LeaseVerdict::Requeue => {
                let txn = db.connection().begin().await.map_err(storage)?;
                let back = sql::one(
                    &txn,
                    "UPDATE generation_jobs SET status = 'queued', lease_owner = NULL, lease_until = NULL, \
                       reserved_tokens = 0, last_seq = last_seq + 1, updated_at = $1 \
                     WHERE id = $2 AND status = 'running' AND lease_fence = $3 RETURNING last_seq, attempt",
                    vec![chrono_to_value(now), id.as_uuid().into(), row.lease_fence.into()],
                )
                .await?;
                if let Some(back) = back {
                    let seq = sql::get_i64(&back, "last_seq")?;
                    let status = JobEventPayload::Status { status: JobStatus::Queued, attempt };
                    insert_events(&txn, id, seq, vec![status], now).await?;
                    txn.commit().await.map_err(storage)?;
                    report.requeued.push(id);
                }
            }
        }
    }
    Ok(report)
}
