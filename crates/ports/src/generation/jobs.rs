//! Durable generation jobs: the queue with its leases and fencing tokens, the
//! per-job event log, token reservations, and stream tickets.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::generation::{Admission, BudgetRefusal, PeriodUsage, TokenGrant};
use devora_domain::{
    Job, JobErrorCode, JobEvent, JobEventPayload, JobId, JobKind, JobStatus, JobUsage, ProjectId, UserId,
};

use crate::{Page, PageCursor, StorageError};

/// A job to queue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: JobId,
    pub owner_id: UserId,
    pub project_id: Option<ProjectId>,
    pub kind: JobKind,
    pub prompt: String,
    pub model: String,
    pub now: DateTime<Utc>,
    /// Where this budget period started (usage is counted from here).
    pub period_start: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateJobError {
    /// A plan limit would be broken; nothing was stored.
    #[error("plan limit reached: {}", .0.kind.as_str())]
    Limit(BudgetRefusal),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Filters on a user's job list.
#[derive(Debug, Clone, Copy, Default)]
pub struct JobFilter {
    pub project: Option<ProjectId>,
    pub status: Option<JobStatus>,
}

/// A worker's hold on a running job. Every write it makes names the fencing token;
/// once another worker has taken the job over, those writes change nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub job: Job,
    pub fence: i64,
    /// The sequence number of the `running` event the claim appended.
    pub seq: u64,
}

/// The job is no longer this worker's (its lease was taken over, or it ended).
#[derive(Debug, thiserror::Error)]
pub enum FencedError {
    #[error("the job's lease was lost")]
    Lost,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What a fenced write learned about the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseState {
    /// The owner asked for the job to stop.
    pub cancel_requested: bool,
}

/// What [`JobStore::reserve_tokens`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    Granted(TokenGrant),
    /// Too little of the month's tokens is left for another call.
    Exhausted,
}

/// What [`JobStore::request_cancel`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It was queued: now cancelled (its end event appended, at `seq`).
    Cancelled { seq: u64 },
    /// It is running: its worker is asked to stop.
    Requested,
    /// It had ended already; nothing changed.
    AlreadyFinished,
}

/// What the rescuer did with expired leases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RescueReport {
    pub requeued: Vec<JobId>,
    pub failed: Vec<JobId>,
    /// Jobs whose stop was asked for before their worker was lost: ended `cancelled`.
    pub cancelled: Vec<JobId>,
}

/// Jobs by status and the queue's oldest entry, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub by_status: Vec<(JobStatus, u64)>,
    pub oldest_queued: Option<DateTime<Utc>>,
}

/// How a job ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: JobStatus,
    pub error: Option<(JobErrorCode, String)>,
    pub output: String,
    pub summary: Option<String>,
    pub revision: Option<u64>,
    pub operations: Vec<devora_domain::generation::OperationReport>,
    /// Tokens of calls whose settle could not be written: added to the job's
    /// usage now, so a failed write loses nothing.
    pub usage: JobUsage,
}

#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Queues the job if `admission` allows one more for its owner: counting the
    /// period's usage and inserting are atomic per user, so concurrent requests
    /// cannot together pass a limit. Appends the job's first event (`queued`).
    ///
    /// # Errors
    /// [`CreateJobError::Limit`] with what was used, or storage.
    async fn create_job(&self, job: NewJob, admission: &Admission) -> Result<Job, CreateJobError>;

    /// # Errors
    /// [`StorageError`].
    async fn find_job(&self, id: JobId) -> Result<Option<Job>, StorageError>;

    /// The owner's jobs (all users' when `owner` is `None`), newest first, after `after`.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn list_jobs(
        &self,
        owner: Option<UserId>,
        filter: JobFilter,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<Page<Job>, StorageError>;

    /// The user's usage in the period that started at `since`.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn period_usage(&self, owner: UserId, since: DateTime<Utc>) -> Result<PeriodUsage, StorageError>;

    /// Takes the oldest queued job whose project has no running job: it becomes
    /// `running` under `worker`'s lease until `now + lease`, with a new fencing
    /// token and its attempt counted; its `running` event is appended. At most
    /// one worker on any node gets a given job.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn claim(&self, worker: &str, lease: Duration, now: DateTime<Utc>) -> Result<Option<Lease>, StorageError>;

    /// Extends the lease to `until` and reports whether a stop was asked for.
    ///
    /// # Errors
    /// [`FencedError::Lost`] when the lease is no longer this one.
    async fn heartbeat(&self, lease: &Lease, until: DateTime<Utc>) -> Result<LeaseState, FencedError>;

    /// Appends events in order (and keeps the job's progress, step and usage
    /// columns in step with them); returns them with their sequence numbers.
    ///
    /// # Errors
    /// [`FencedError::Lost`]: nothing was written.
    async fn append_events(
        &self,
        lease: &Lease,
        events: Vec<JobEventPayload>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<JobEvent>, LeaseState), FencedError>;

    /// Reserves tokens for one provider call from the owner's month, under the
    /// owner's lock, by [`devora_domain::generation::grant_tokens`].
    ///
    /// # Errors
    /// [`FencedError::Lost`] or storage.
    async fn reserve_tokens(
        &self,
        lease: &Lease,
        tokens_per_month: u64,
        period_start: DateTime<Utc>,
        prompt_estimate: u64,
        wanted_output: u32,
        min_output: u32,
    ) -> Result<Reservation, FencedError>;

    /// Releases a call's reservation and adds its real usage to the job (a
    /// `usage` event is appended with the new totals).
    ///
    /// # Errors
    /// [`FencedError::Lost`] or storage.
    async fn settle_tokens(
        &self,
        lease: &Lease,
        reserved: u64,
        usage: JobUsage,
        now: DateTime<Utc>,
    ) -> Result<JobEvent, FencedError>;

    /// Ends the job (status, error, output) and appends its `end` event; any
    /// reservation still held is released.
    ///
    /// # Errors
    /// [`FencedError::Lost`]: another worker owns the job now, nothing was written.
    async fn finish(&self, lease: &Lease, outcome: Outcome, now: DateTime<Utc>) -> Result<JobEvent, FencedError>;

    /// Puts the job back in the queue (the worker is stopping); the attempt is not
    /// counted against it.
    ///
    /// # Errors
    /// [`FencedError::Lost`] or storage.
    async fn release(&self, lease: &Lease, now: DateTime<Utc>) -> Result<JobEvent, FencedError>;

    /// Cancels a queued job at once, or asks a running one's worker to stop.
    /// `owner` restricts it to that user's jobs (`None`: any, for operators);
    /// `Ok(None)` when there is no such job. `audit`, when given, is appended in the
    /// same transaction as the change (its `before`/`after` filled with the job's
    /// status); nothing is recorded when nothing changed.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn request_cancel(
        &self,
        owner: Option<UserId>,
        id: JobId,
        now: DateTime<Utc>,
        audit: Option<crate::admin::NewAuditEntry>,
    ) -> Result<Option<CancelOutcome>, StorageError>;

    /// Running jobs whose lease ran out: back to the queue, or failed
    /// (`worker-lost`) after `max_attempts`, by [`devora_domain::generation::expired_lease`].
    ///
    /// # Errors
    /// [`StorageError`].
    async fn rescue_expired(&self, now: DateTime<Utc>, max_attempts: u32) -> Result<RescueReport, StorageError>;

    /// The job's events after `after` (0: from the start), in order, at most `limit`.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn events_after(&self, job: JobId, after: u64, limit: u32) -> Result<Vec<JobEvent>, StorageError>;

    /// # Errors
    /// [`StorageError`].
    async fn queue_stats(&self, now: DateTime<Utc>) -> Result<QueueStats, StorageError>;

    /// Stores a single-use stream ticket (by its hash) for `job` until `expires_at`.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn create_ticket(
        &self,
        ticket_hash: &str,
        job: JobId,
        owner: UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StorageError>;

    /// Takes a ticket: removed whether or not it is still valid; `Some` only when
    /// it was unexpired at `now`.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn redeem_ticket(
        &self,
        ticket_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(JobId, UserId)>, StorageError>;

    /// Removes tickets that expired before `now`; returns how many.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn purge_tickets(&self, now: DateTime<Utc>) -> Result<u64, StorageError>;
}

/// News about jobs that every node hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobSignal {
    /// A job was queued (or released): idle workers should look.
    Queued,
    /// A job's log grew up to `seq`.
    Events { job: JobId, seq: u64 },
    /// A job's owner or an operator asked it to stop.
    Cancel { job: JobId },
}

/// A broadcast of [`JobSignal`]s to every node (Redis pub/sub; in-process on one
/// node). Best effort: a lost signal only delays a reader, who also polls.
#[async_trait]
pub trait JobSignals: Send + Sync + 'static {
    /// Sends to every node, this one included.
    async fn publish(&self, signal: JobSignal);

    /// Signals published from now on. The receiver may lag and skip signals.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<JobSignal>;
}
