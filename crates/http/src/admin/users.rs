//! Accounts: search, one account's details, role and status.

use actix_web::web;
use devora_api_types::{
    AccountStatus, AdminUserDetail, AdminUserPage, ErrorCode, FieldErrorCode, Problem, SessionDto, SignInMethod,
    UpdateUserRequest, UserDto, UserRole,
};
use devora_domain::admin::UserPatch;
use devora_domain::{IdentityProviderId, Role, UserId, UserStatus};
use devora_ports::admin::UserSearch;
use serde::Deserialize;
use utoipa::IntoParams;

use super::Admin;
use crate::auth::user_dto;
use crate::billing::subscription_dto;
use crate::error::field_error;
use crate::generation::jobs::usage_dto;
use crate::pagination::{PageQuery, encode_cursor};
use crate::{ApiError, ApiJson, AppState};

pub(crate) fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).ok_or_else(|| ApiError::new(ErrorCode::NotFound, "No such user."))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    /// Items per page, 1..100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page (opaque).
    pub cursor: Option<String>,
    /// A prefix of the email or the name, case-insensitive (at most 100 characters).
    pub q: Option<String>,
    #[param(value_type = Option<UserRole>)]
    pub role: Option<String>,
    #[param(value_type = Option<AccountStatus>)]
    pub status: Option<String>,
}

/// Accounts, newest first: search by email or name prefix, filter by role and status.
#[utoipa::path(
    get, path = "/api/v2/admin/users", tag = "admin", operation_id = "admin_list_users", security(("bearer" = [])),
    params(UsersQuery),
    responses(
        (status = 200, description = "A page of accounts", body = AdminUserPage),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `limit`, `cursor`, `q`, `role` or `status`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_users(
    state: web::Data<AppState>,
    _admin: Admin,
    query: web::Query<UsersQuery>,
) -> Result<web::Json<AdminUserPage>, ApiError> {
    let query = query.into_inner();
    let parsed = PageQuery { limit: query.limit, cursor: query.cursor }.parse();
    let mut errors = Vec::new();
    let prefix = query.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    if prefix.as_ref().is_some_and(|q| q.chars().count() > 100 || q.chars().any(char::is_control)) {
        errors.push(field_error(
            "q",
            FieldErrorCode::Invalid,
            "must be at most 100 characters, without control characters",
        ));
    }
    let role = match query.role.as_deref().filter(|r| !r.is_empty()) {
        Some(raw) => Role::parse(raw).or_else(|| {
            errors.push(field_error("role", FieldErrorCode::Invalid, "must be user or admin"));
            None
        }),
        None => None,
    };
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        Some(raw) => UserStatus::parse(raw).or_else(|| {
            errors.push(field_error("status", FieldErrorCode::Invalid, "must be active or suspended"));
            None
        }),
        None => None,
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (limit, cursor) = parsed?;
    let page = state.admin.users(&UserSearch { prefix, role, status }, cursor, limit).await?;
    Ok(web::Json(AdminUserPage {
        items: page.items.iter().map(user_dto).collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    }))
}

/// An account with its plan and subscription, this period's usage, projects and
/// storage, live sessions and sign-in methods. Audited (`user_viewed`).
#[utoipa::path(
    get, path = "/api/v2/admin/users/{id}", tag = "admin", operation_id = "admin_get_user", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The account", body = AdminUserDetail),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_user(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<web::Json<AdminUserDetail>, ApiError> {
    let detail = state.admin.user_detail(&admin.actor, user_id(&path)?).await?;
    let mut methods = Vec::new();
    if detail.user.has_password {
        methods.push(SignInMethod::Password);
    }
    for provider in &detail.footprint.providers {
        methods.push(match provider {
            IdentityProviderId::Google => SignInMethod::Google,
            IdentityProviderId::GitHub => SignInMethod::Github,
        });
    }
    Ok(web::Json(AdminUserDetail {
        user: user_dto(&detail.user),
        subscription: subscription_dto(state.billing.catalog(), &detail.billing),
        usage: usage_dto(&detail.usage),
        projects: detail.footprint.projects,
        storage_bytes: detail.footprint.storage_bytes,
        sessions: detail
            .sessions
            .iter()
            .map(|s| SessionDto {
                id: s.id.as_uuid(),
                created_at: s.created_at,
                last_used_at: s.last_used_at,
                expires_at: s.expires_at,
                user_agent: s.user_agent.clone(),
                ip: s.ip.clone(),
                current: false,
            })
            .collect(),
        sign_in_methods: methods,
    }))
}

/// Change an account's role or status. Suspending revokes every session at once
/// (the user's live access tokens stop working at their next request, on every
/// node); reactivating lets them sign in again. Audited with before and after.
#[utoipa::path(
    patch, path = "/api/v2/admin/users/{id}", tag = "admin", operation_id = "admin_update_user", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The account as it is now", body = UserDto),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Your own account, or the last active administrator (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Neither `role` nor `status`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_user(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: ApiJson<UpdateUserRequest>,
) -> Result<web::Json<UserDto>, ApiError> {
    let id = user_id(&path)?;
    let body = body.into_inner();
    if body.role.is_none() && body.status.is_none() {
        return Err(ApiError::validation(vec![field_error("", FieldErrorCode::Required, "send role, status or both")]));
    }
    let patch = UserPatch {
        role: body.role.map(|r| match r {
            UserRole::User => Role::User,
            UserRole::Admin => Role::Admin,
        }),
        status: body.status.map(|s| match s {
            AccountStatus::Active => UserStatus::Active,
            AccountStatus::Suspended => UserStatus::Suspended,
        }),
    };
    let user = state.admin.change_user(&admin.actor, id, patch).await?;
    Ok(web::Json(user_dto(&user)))
}
