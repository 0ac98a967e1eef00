//! `/api/v2/projects/{id}/revisions`: every change to a project's files, and restoring them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;
use uuid::Uuid;

/// What made a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum RevisionKindDto {
    /// A generation job's operations.
    Job,
    /// A change through the files API.
    Files,
    /// The files as they were after an earlier revision.
    Restore,
}

/// One path a revision changed. A missing SHA-256 means the file did not exist
/// (before: created; after: deleted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({"path": "src/App.tsx", "before_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "after_sha256": "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"}))]
pub struct RevisionChangeDto {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = String, required = false)]
    pub before_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = String, required = false)]
    pub after_sha256: Option<String>,
}

/// A revision of a project's files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "number": 3, "kind": "job", "job_id": "0193a1c2-8a11-7c33-9d4e-6f7a8b9c0d1e",
    "summary": "Added a dark mode toggle to the header.", "created_at": "2026-12-07T10:00:30Z",
    "changes": [{"path": "src/App.tsx", "before_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                 "after_sha256": "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"}]
}))]
pub struct RevisionDto {
    /// 1, 2, ... within the project.
    pub number: u64,
    pub kind: RevisionKindDto,
    /// The job whose operations it holds (`kind: job`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = Uuid, required = false)]
    pub job_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = String, required = false)]
    pub summary: Option<String>,
    /// The revision whose state a restore brought back (`kind: restore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = u64, required = false)]
    pub restored_from: Option<u64>,
    pub created_at: DateTime<Utc>,
    /// The paths it changed, by path.
    pub changes: Vec<RevisionChangeDto>,
}

/// A page of revisions, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "items": [{"number": 2, "kind": "files", "created_at": "2026-12-07T10:00:30Z",
               "changes": [{"path": "README.md", "after_sha256": "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"}]}],
    "next_cursor": "cjE"
}))]
pub struct RevisionPage {
    pub items: Vec<RevisionDto>,
    /// Pass as `?cursor=` for the next page; null on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}
