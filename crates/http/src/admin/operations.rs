//! Stats, the audit log, and billing reconcile.

use std::collections::BTreeMap;

use actix_web::web;
use devora_api_types::{
    AdminStatsDto, AuditActionDto, AuditEntryDto, AuditLogPage, FieldErrorCode, JobCounts, Problem, ReconcileReportDto,
    SubscriptionCount, UserCounts, WebhookCounts,
};
use devora_domain::admin::{AuditAction, AuditActor, AuditEntry};
use devora_ports::admin::AuditFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use super::Admin;
use crate::error::field_error;
use crate::pagination::{PageQuery, encode_cursor};
use crate::{ApiError, AppState};

/// The service at a glance: users, subscriptions by plan and status, projects,
/// jobs of the last 24 h by status with their tokens, webhook deliveries of the
/// last 24 h. Cached for 10 s.
#[utoipa::path(
    get, path = "/api/v2/admin/stats", tag = "admin", operation_id = "admin_stats", security(("bearer" = [])),
    responses(
        (status = 200, description = "The counts", body = AdminStatsDto),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn stats(state: web::Data<AppState>, _admin: Admin) -> Result<web::Json<AdminStatsDto>, ApiError> {
    let s = state.admin.stats().await?;
    Ok(web::Json(AdminStatsDto {
        users: UserCounts { total: s.users_total, new_7d: s.users_new_7d, suspended: s.users_suspended },
        subscriptions: s
            .subscriptions
            .iter()
            .map(|(plan, status, count)| SubscriptionCount {
                plan_id: plan.clone(),
                status: status.clone(),
                count: *count,
            })
            .collect(),
        projects: s.projects,
        jobs_24h: JobCounts {
            by_status: s.jobs_24h.iter().map(|(status, n)| (status.as_str().to_owned(), *n)).collect(),
            tokens: s.tokens_24h,
        },
        webhooks_24h: WebhookCounts {
            received: s.webhooks_received_24h,
            failed: s.webhooks_failed_24h,
            pending: s.webhooks_pending,
        },
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Items per page, 1..100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page (opaque).
    pub cursor: Option<String>,
    /// An administrator's user id, or `cli`.
    pub actor: Option<String>,
    /// The target's id (a user's or a job's).
    pub target: Option<String>,
    #[param(value_type = Option<AuditActionDto>)]
    pub action: Option<String>,
    /// Entries at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<String>,
    /// Entries before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<String>,
}

/// The `before`/`after` object of an entry, its values as strings.
fn object(raw: Option<&str>) -> Option<BTreeMap<String, String>> {
    let value: serde_json::Value = serde_json::from_str(raw?).ok()?;
    let map = value.as_object()?;
    Some(map.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect())
}

fn action_dto(action: AuditAction) -> AuditActionDto {
    match action {
        AuditAction::UserRoleChanged => AuditActionDto::UserRoleChanged,
        AuditAction::UserSuspended => AuditActionDto::UserSuspended,
        AuditAction::UserReactivated => AuditActionDto::UserReactivated,
        AuditAction::JobCancelled => AuditActionDto::JobCancelled,
        AuditAction::BillingReconciled => AuditActionDto::BillingReconciled,
        AuditAction::UserViewed => AuditActionDto::UserViewed,
        AuditAction::UserProjectsViewed => AuditActionDto::UserProjectsViewed,
        AuditAction::UserJobsViewed => AuditActionDto::UserJobsViewed,
    }
}

fn entry_dto(e: &AuditEntry) -> AuditEntryDto {
    AuditEntryDto {
        id: e.id.as_uuid(),
        actor: e.actor.as_string(),
        action: action_dto(e.action),
        target_type: e.target_type.clone(),
        target_id: e.target_id.clone(),
        before: object(e.before.as_deref()),
        after: object(e.after.as_deref()),
        ip: e.ip.clone(),
        request_id: e.request_id.clone(),
        created_at: e.created_at,
    }
}

/// Who did what to whom, when: newest first, filtered by actor, target, action
/// and time range. Entries are never changed or removed.
#[utoipa::path(
    get, path = "/api/v2/admin/audit-log", tag = "admin", operation_id = "admin_audit_log", security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of entries", body = AuditLogPage),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad filter, `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn audit_log(
    state: web::Data<AppState>,
    _admin: Admin,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<AuditLogPage>, ApiError> {
    let q = query.into_inner();
    let parsed = PageQuery { limit: q.limit, cursor: q.cursor }.parse();
    let mut errors = Vec::new();
    let mut filter = AuditFilter::default();
    if let Some(raw) = q.actor.filter(|a| !a.is_empty()) {
        filter.actor = AuditActor::parse(&raw);
        if filter.actor.is_none() {
            errors.push(field_error("actor", FieldErrorCode::Invalid, "must be a user id or cli"));
        }
    }
    if let Some(raw) = q.target.filter(|t| !t.is_empty()) {
        if raw.len() > 64 || raw.chars().any(char::is_control) {
            errors.push(field_error("target", FieldErrorCode::Invalid, "must be an id"));
        }
        filter.target_id = Some(raw);
    }
    if let Some(raw) = q.action.filter(|a| !a.is_empty()) {
        filter.action = AuditAction::parse(&raw);
        if filter.action.is_none() {
            errors.push(field_error("action", FieldErrorCode::Invalid, "must be an audit action"));
        }
    }
    let mut time = |field: &str, raw: Option<String>| match raw.filter(|t| !t.is_empty()) {
        None => None,
        Some(raw) => match chrono::DateTime::parse_from_rfc3339(&raw) {
            Ok(t) => Some(t.with_timezone(&chrono::Utc)),
            Err(_) => {
                errors.push(field_error(field, FieldErrorCode::Invalid, "must be an RFC 3339 time"));
                None
            }
        },
    };
    filter.from = time("from", q.from);
    filter.to = time("to", q.to);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (limit, cursor) = parsed?;
    let page = state.admin.audit_log(&filter, cursor, limit).await?;
    Ok(web::Json(AuditLogPage {
        items: page.items.iter().map(entry_dto).collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    }))
}

/// Compare every subscription at Stripe with Devora's state and repair drift.
/// Idempotent: a second run repairs nothing. Audited with the run's summary.
#[utoipa::path(
    post, path = "/api/v2/admin/billing/reconcile", tag = "admin", operation_id = "reconcile_billing", security(("bearer" = [])),
    responses(
        (status = 200, description = "What was checked and repaired", body = ReconcileReportDto),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn reconcile_billing(
    state: web::Data<AppState>,
    admin: Admin,
) -> Result<web::Json<ReconcileReportDto>, ApiError> {
    tracing::info!(admin = %admin.principal.user_id, "billing reconcile requested");
    let report = state.admin.reconcile(&admin.actor).await?;
    Ok(web::Json(ReconcileReportDto {
        checked: report.checked,
        repaired: report.repaired.len() as u64,
        failed: report.failed.len() as u64,
        repaired_ids: report.repaired,
        failed_customers: report.failed,
    }))
}
