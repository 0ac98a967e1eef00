//! `/api/v2/generation`: models, jobs, their events, stream tickets and usage.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;
use uuid::Uuid;

/// What a job builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum JobKindDto {
    /// Works on an existing project from a request.
    Agentic,
    /// Creates a project and generates its scaffold.
    Fullstack,
}

/// Where a job stands: `queued -> running -> succeeded | failed | cancelled`. A
/// running job whose node was lost goes back to `queued`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum JobStatusDto {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// Why a job failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "kebab-case")]
pub enum JobErrorCodeDto {
    /// Its node stopped answering more times than a job is retried.
    WorkerLost,
    /// This month's token budget ran out while it worked.
    BudgetExhausted,
    /// The model provider could not be reached or kept failing.
    ProviderUnavailable,
    /// The model provider refused the request (bad key, unknown model, too long).
    ProviderRejected,
    /// The model provider reported an error mid-reply.
    ProviderError,
    /// The model provider did not answer in time.
    ProviderTimeout,
    /// The provider's stream broke off before the reply was complete.
    StreamBroken,
    /// The provider withheld the reply.
    ContentFiltered,
    /// The job reached the server's wall-clock cap.
    TimeLimit,
    /// The job reached the server's cap on output tokens or provider rounds.
    OutputLimit,
    /// The job's project was deleted.
    ProjectGone,
    /// The job stopped after it had changed files (its node stopped or was lost):
    /// it is not run again; its changes so far are its `revision`.
    Interrupted,
    /// Something failed on our side; quote the job id when reporting it.
    Internal,
}

/// A file operation of the protocol (docs/generation.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum OperationKindDto {
    Write,
    Edit,
    Delete,
    Rename,
    /// A tag the protocol does not have, or one too broken to tell.
    Unknown,
}

/// Why a file operation was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "kebab-case")]
pub enum RefusalReasonDto {
    /// The path breaks the files API's rules (absolute, `..`, control characters...).
    InvalidPath,
    /// Larger than a file may be.
    TooLarge,
    /// The project would have more files than it may.
    TooManyFiles,
    /// The project would exceed its plan's storage.
    StorageFull,
    /// A file and a directory would share a path.
    PathConflict,
    /// The file to edit, delete or rename is not there.
    NotFound,
    /// A rename onto a file that exists.
    AlreadyExists,
    /// An edit's SEARCH text is not in the file.
    SearchNotFound,
    /// An edit's SEARCH text matches more than once.
    SearchAmbiguous,
    /// An edit of a file that is not UTF-8 text.
    NotText,
    /// The tag broke the protocol.
    Malformed,
    /// The reply ended with the operation still open (never written half).
    Truncated,
}

/// What became of one file operation of a job's reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({"kind": "edit", "path": "src/App.tsx", "applied": true, "size": 1820,
    "sha256": "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"}))]
pub struct OperationReportDto {
    pub kind: OperationKindDto,
    /// The file written, edited or deleted; a rename's target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = String, required = false)]
    pub path: Option<String>,
    /// A rename's source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = String, required = false)]
    pub from: Option<String>,
    pub applied: bool,
    /// Why it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = RefusalReasonDto, required = false)]
    pub reason: Option<RefusalReasonDto>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = String, required = false)]
    pub message: Option<String>,
    /// The file's size and SHA-256 after an applied write, edit or rename.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = u64, required = false)]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = String, required = false)]
    pub sha256: Option<String>,
}

/// Tokens a job used, over all its provider calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({"prompt_tokens": 812, "completion_tokens": 1460, "total_tokens": 2272, "estimated": false}))]
pub struct JobUsageDto {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// The provider sent no usage for some call: these figures are estimates.
    pub estimated: bool,
}

/// A failed job's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({"code": "budget-exhausted", "message": "this month's token budget is used up"}))]
pub struct JobErrorDto {
    pub code: JobErrorCodeDto,
    pub message: String,
}

/// A generation job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "id": "0193a1c2-8a11-7c33-9d4e-6f7a8b9c0d1e", "kind": "agentic", "status": "running",
    "project_id": "0193a1c2-7b00-7c33-9d4e-6f7a8b9c0d1e", "prompt": "Add a dark mode toggle",
    "model": "gpt-4o-mini", "progress": 40, "step": "Generating", "attempt": 1,
    "usage": {"prompt_tokens": 812, "completion_tokens": 0, "total_tokens": 812, "estimated": false},
    "output": "", "operations": [], "cancel_requested": false,
    "created_at": "2026-12-07T10:00:00Z", "started_at": "2026-12-07T10:00:01Z", "updated_at": "2026-12-07T10:00:05Z"
}))]
pub struct JobDto {
    pub id: Uuid,
    pub kind: JobKindDto,
    pub status: JobStatusDto,
    /// The project it works on (a full-stack job's new project).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = Uuid, required = false)]
    pub project_id: Option<Uuid>,
    pub prompt: String,
    pub model: String,
    /// 0..100.
    #[schema(minimum = 0, maximum = 100)]
    pub progress: u8,
    /// What it does now, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = String, required = false)]
    pub step: Option<String>,
    /// How many times a worker has taken it (more than 1 after a lost node).
    pub attempt: u32,
    pub usage: JobUsageDto,
    /// Present when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = JobErrorDto, required = false)]
    pub error: Option<JobErrorDto>,
    /// The model's reply, once the job has ended (the `delta` events carry it live).
    pub output: String,
    /// The reply's summary (`<devora-summary>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = String, required = false)]
    pub summary: Option<String>,
    /// The project revision holding the job's applied operations (`GET /projects/{id}/revisions/{n}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = u64, required = false)]
    pub revision: Option<u64>,
    /// Every file operation of the reply, applied or refused, in order.
    pub operations: Vec<OperationReportDto>,
    /// A stop was asked for and the job has not ended yet.
    pub cancel_requested: bool,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = String, format = DateTime, required = false)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = String, format = DateTime, required = false)]
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// A page of jobs, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "items": [{
        "id": "0193a1c2-8a11-7c33-9d4e-6f7a8b9c0d1e", "kind": "agentic", "status": "succeeded",
        "project_id": "0193a1c2-7b00-7c33-9d4e-6f7a8b9c0d1e", "prompt": "Add a dark mode toggle",
        "model": "gpt-4o-mini", "progress": 100, "attempt": 1,
        "usage": {"prompt_tokens": 812, "completion_tokens": 1460, "total_tokens": 2272, "estimated": false},
        "output": "Here is the toggle...", "summary": "Added a dark mode toggle.", "revision": 3,
        "operations": [{"kind": "edit", "path": "src/App.tsx", "applied": true, "size": 1820,
                        "sha256": "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"}],
        "cancel_requested": false,
        "created_at": "2026-12-07T10:00:00Z", "started_at": "2026-12-07T10:00:01Z",
        "finished_at": "2026-12-07T10:00:30Z", "updated_at": "2026-12-07T10:00:30Z"
    }],
    "next_cursor": null
}))]
pub struct JobPage {
    pub items: Vec<JobDto>,
    /// Pass as `?cursor=` for the next page; null on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// `POST /api/v2/generation/agentic`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"project_id": "0193a1c2-7b00-7c33-9d4e-6f7a8b9c0d1e", "prompt": "Add a dark mode toggle"}))]
pub struct AgenticRequest {
    pub project_id: Uuid,
    /// What to do, 1..20,000 characters, not blank; no control characters but tabs and line breaks.
    #[schema(min_length = 1, max_length = 20000)]
    pub prompt: String,
    /// A model the plan offers (`GET /generation/models`); the server's default when left out.
    #[serde(default)]
    #[ts(optional = nullable)]
    #[schema(max_length = 200)]
    pub model: Option<String>,
}

/// `POST /api/v2/generation/fullstack`: every choice from `GET /generation/options`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Recipe box", "description": "Save and share recipes with friends",
    "frontend": "react", "backend": "express", "database": "postgres", "features": ["auth", "file-uploads"]
}))]
pub struct FullstackRequest {
    /// The new project's name: 1..100 characters once trimmed.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// What the application is for, up to 2,000 characters.
    #[serde(default)]
    #[ts(optional = nullable)]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    pub frontend: String,
    pub backend: String,
    pub database: String,
    /// Up to 8, each at most once; left out or `null`: none.
    #[serde(default)]
    #[ts(optional = nullable)]
    #[schema(max_items = 8)]
    pub features: Option<Vec<String>>,
    /// A model the plan offers; the server's default when left out.
    #[serde(default)]
    #[ts(optional = nullable)]
    #[schema(max_length = 200)]
    pub model: Option<String>,
}

/// The choices of a full-stack request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "frontend": ["react", "nextjs", "vue"], "backend": ["none", "express", "fastapi"],
    "database": ["none", "postgres", "sqlite"], "features": ["auth", "payments", "file-uploads"]
}))]
pub struct GenerationOptions {
    pub frontend: Vec<String>,
    pub backend: Vec<String>,
    pub database: Vec<String>,
    pub features: Vec<String>,
}

/// A model the caller's plan may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ModelDto {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = String, required = false)]
    pub owned_by: Option<String>,
    /// The model used when a request names none.
    pub default: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({"items": [{"id": "gpt-4o-mini", "owned_by": "openai", "default": true}]}))]
pub struct ModelList {
    pub items: Vec<ModelDto>,
}

/// A single-use ticket for a job's event stream, for browsers (which cannot set
/// headers on `EventSource` or WebSocket): append `?ticket=` to either URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "ticket": "gt_5f2b0c6e0d4a4e1c9a3f7b8e2d1c0a9b5f2b0c6e0d4a4e1c9a3f7b8e2d1c0a9b",
    "expires_at": "2026-12-07T10:01:00Z",
    "events_url": "/api/v2/generation/jobs/0193a1c2-8a11-7c33-9d4e-6f7a8b9c0d1e/events?ticket=gt_5f2b...",
    "ws_url": "/api/v2/generation/jobs/0193a1c2-8a11-7c33-9d4e-6f7a8b9c0d1e/ws?ticket=gt_5f2b..."
}))]
pub struct StreamTicket {
    pub ticket: String,
    pub expires_at: DateTime<Utc>,
    /// The Server-Sent Events URL with the ticket (path, relative to the API's origin).
    pub events_url: String,
    /// The WebSocket URL with the ticket (path; use `ws:` or `wss:` on the API's origin).
    pub ws_url: String,
}

/// Used of a quota, and its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({"used": 12, "limit": 50}))]
pub struct QuotaDto {
    pub used: u64,
    pub limit: u64,
}

/// Tokens used this period, held by calls in flight, and the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({"used": 120000, "reserved": 4096, "limit": 500000}))]
pub struct TokenQuotaDto {
    pub used: u64,
    /// Held by provider calls in flight; released as they settle.
    pub reserved: u64,
    pub limit: u64,
}

/// This period's generation against the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "plan_id": "free", "period_start": "2026-12-01T00:00:00Z", "resets_at": "2027-01-01T00:00:00Z",
    "generations": {"used": 12, "limit": 50},
    "tokens": {"used": 120000, "reserved": 4096, "limit": 500000},
    "concurrent_jobs": {"used": 1, "limit": 1}
}))]
pub struct GenerationUsage {
    pub plan_id: String,
    /// The period is the calendar month in UTC.
    pub period_start: DateTime<Utc>,
    pub resets_at: DateTime<Utc>,
    pub generations: QuotaDto,
    pub tokens: TokenQuotaDto,
    /// Jobs queued or running now.
    pub concurrent_jobs: QuotaDto,
}

/// One entry of a job's event log. `seq` counts from 1 without gaps; it is the
/// Server-Sent Events `id:` and what `Last-Event-ID` resumes after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
#[schema(example = json!({"type": "delta", "seq": 7, "at": "2026-12-07T10:00:03Z", "text": "export function"}))]
pub enum JobEventDto {
    /// The job changed status (taken by a worker, back in the queue).
    Status { seq: u64, at: DateTime<Utc>, status: JobStatusDto, attempt: u32 },
    /// How far along it is.
    Progress {
        seq: u64,
        at: DateTime<Utc>,
        progress: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        #[schema(value_type = String, required = false)]
        step: Option<String>,
    },
    /// More of the model's reply (gathered over about 100 ms).
    Delta { seq: u64, at: DateTime<Utc>, text: String },
    /// Tokens used so far.
    Usage { seq: u64, at: DateTime<Utc>, usage: JobUsageDto },
    /// A file operation was applied: the file's size and SHA-256 after it (none after a delete).
    File {
        seq: u64,
        at: DateTime<Utc>,
        kind: OperationKindDto,
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        #[schema(value_type = String, required = false)]
        from: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        #[schema(value_type = u64, required = false)]
        size: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        #[schema(value_type = String, required = false)]
        sha256: Option<String>,
    },
    /// A file operation was refused and nothing was written.
    FileRefused {
        seq: u64,
        at: DateTime<Utc>,
        kind: OperationKindDto,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        #[schema(value_type = String, required = false)]
        path: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        #[schema(value_type = String, required = false)]
        from: Option<String>,
        reason: RefusalReasonDto,
        message: String,
    },
    /// The last event: how the job ended.
    End {
        seq: u64,
        at: DateTime<Utc>,
        status: JobStatusDto,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        #[schema(value_type = JobErrorDto, required = false)]
        error: Option<JobErrorDto>,
    },
}

/// What a WebSocket client may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobStreamCommand {
    /// Stop the job (as `POST /generation/jobs/{id}/cancel`).
    Cancel,
}
