//! `/api/v2/admin`: accounts, support views, stats and the audit log.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{AccountStatus, SessionDto, UserDto, UserRole};
use crate::billing::SubscriptionDto;
use crate::generation::GenerationUsage;

/// A page of accounts, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "items": [{"id": "0193a1c2-7d3e-7a10-9b2c-4f5e6a7b8c9d", "email": "ada@example.com", "name": "Ada",
               "role": "user", "status": "active", "email_verified": true, "has_password": true,
               "created_at": "2026-11-24T10:00:00Z"}],
    "next_cursor": null
}))]
pub struct AdminUserPage {
    pub items: Vec<UserDto>,
    /// Pass as `?cursor=` for the next page; null on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// How an account can sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum SignInMethod {
    Password,
    Google,
    Github,
}

/// An account as support sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "user": {"id": "0193a1c2-7d3e-7a10-9b2c-4f5e6a7b8c9d", "email": "ada@example.com", "name": "Ada",
             "role": "user", "status": "active", "email_verified": true, "has_password": true,
             "created_at": "2026-11-24T10:00:00Z"},
    "subscription": {"plan_id": "free", "status": null, "subscribed_plan_id": null, "interval": null,
                     "current_period_end": null, "cancel_at_period_end": false, "limits": {"projects": 3,
                     "generations_per_month": 50, "tokens_per_month": 500000, "concurrent_jobs": 1,
                     "storage_bytes": 52428800, "models": ["gpt-4o-mini"]}},
    "usage": {"plan_id": "free", "period_start": "2026-12-01T00:00:00Z", "resets_at": "2027-01-01T00:00:00Z",
              "generations": {"used": 12, "limit": 50}, "tokens": {"used": 120000, "reserved": 0, "limit": 500000},
              "concurrent_jobs": {"used": 0, "limit": 1}},
    "projects": 2, "storage_bytes": 18320,
    "sessions": [], "sign_in_methods": ["password", "github"]
}))]
pub struct AdminUserDetail {
    pub user: UserDto,
    /// The plan granted now and the subscription behind it.
    pub subscription: SubscriptionDto,
    /// This period's generation against the plan.
    pub usage: GenerationUsage,
    pub projects: u64,
    /// Bytes of files over all the account's projects.
    pub storage_bytes: u64,
    /// Live sessions (`current` is always false here).
    pub sessions: Vec<SessionDto>,
    pub sign_in_methods: Vec<SignInMethod>,
}

/// `PATCH /api/v2/admin/users/{id}`: the fields to change (at least one).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "suspended"}))]
pub struct UpdateUserRequest {
    #[serde(default)]
    #[ts(optional = nullable)]
    pub role: Option<UserRole>,
    /// `suspended` revokes every session at once.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub status: Option<AccountStatus>,
}

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum AuditActionDto {
    UserRoleChanged,
    UserSuspended,
    UserReactivated,
    JobCancelled,
    BillingReconciled,
    UserViewed,
    UserProjectsViewed,
    UserJobsViewed,
}

/// One entry of the append-only audit log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "id": "0193a1c2-9f00-7a10-9b2c-4f5e6a7b8c9d", "actor": "0193a1c2-7d3e-7a10-9b2c-4f5e6a7b8c9d",
    "action": "user_suspended", "target_type": "user", "target_id": "0193a1c2-8e00-7a10-9b2c-4f5e6a7b8c9d",
    "before": {"role": "user", "status": "active"}, "after": {"role": "user", "status": "suspended"},
    "ip": "203.0.113.7", "request_id": "01JD3Q8Z6V9K2M4N5P7R8S9T0V", "created_at": "2026-12-07T10:00:00Z"
}))]
pub struct AuditEntryDto {
    pub id: Uuid,
    /// The administrator's user id, or `cli` for an operator command on the server.
    pub actor: String,
    pub action: AuditActionDto,
    /// `user`, `job` or `billing`.
    pub target_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = String, required = false)]
    pub target_id: Option<String>,
    /// The target's state before the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = BTreeMap<String, String>, required = false)]
    pub before: Option<BTreeMap<String, String>>,
    /// The target's state after it (a reconcile's summary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = BTreeMap<String, String>, required = false)]
    pub after: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = String, required = false)]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = String, required = false)]
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "items": [{"id": "0193a1c2-9f00-7a10-9b2c-4f5e6a7b8c9d", "actor": "cli", "action": "user_role_changed",
               "target_type": "user", "target_id": "0193a1c2-7d3e-7a10-9b2c-4f5e6a7b8c9d",
               "before": {"role": "user", "status": "active"}, "after": {"role": "admin", "status": "active"},
               "created_at": "2026-12-07T10:00:00Z"}],
    "next_cursor": null
}))]
pub struct AuditLogPage {
    pub items: Vec<AuditEntryDto>,
    /// Pass as `?cursor=` for the next page; null on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({"total": 1200, "new_7d": 40, "suspended": 3}))]
pub struct UserCounts {
    pub total: u64,
    pub new_7d: u64,
    pub suspended: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({"plan_id": "pro", "status": "active", "count": 120}))]
pub struct SubscriptionCount {
    pub plan_id: String,
    pub status: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({"by_status": {"succeeded": 90, "failed": 4, "running": 2}, "tokens": 1820000}))]
pub struct JobCounts {
    /// Jobs created in the last 24 h, by status (statuses with none left out).
    pub by_status: BTreeMap<String, u64>,
    /// Tokens those jobs used.
    pub tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({"received": 310, "failed": 2, "pending": 1}))]
pub struct WebhookCounts {
    /// Deliveries that took effect in the last 24 h.
    pub received: u64,
    /// Deliveries answered with an error in the last 24 h (Stripe retries them).
    pub failed: u64,
    /// Failed events that have not taken effect since.
    pub pending: u64,
}

/// The service at a glance (cached for 10 s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "users": {"total": 1200, "new_7d": 40, "suspended": 3},
    "subscriptions": [{"plan_id": "pro", "status": "active", "count": 120}],
    "projects": 3400,
    "jobs_24h": {"by_status": {"succeeded": 90, "failed": 4}, "tokens": 1820000},
    "webhooks_24h": {"received": 310, "failed": 2, "pending": 1}
}))]
pub struct AdminStatsDto {
    pub users: UserCounts,
    pub subscriptions: Vec<SubscriptionCount>,
    pub projects: u64,
    pub jobs_24h: JobCounts,
    pub webhooks_24h: WebhookCounts,
}
