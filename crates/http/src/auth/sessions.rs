//! Tokens and sessions: refresh, sign out, the caller's account, their sessions.

use actix_web::{HttpResponse, web};
use devora_api_types::{
    AuthResponse, ErrorCode, Problem, RefreshRequest, SessionDto, SessionList, UpdateMeRequest, UserDto,
};
use devora_domain::SessionId;

use super::{auth_response, no_store, parse_name, user_dto};
use crate::auth::Authenticated;
use crate::{ApiError, ApiJson, AppState};

/// Trade a refresh token for a new pair. The presented token is spent; presenting
/// it again after a short grace revokes its session.
#[utoipa::path(
    post, path = "/api/v2/auth/refresh", tag = "auth", operation_id = "refresh",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = AuthResponse),
        (status = 401, description = "`refresh-token-invalid` or `refresh-token-reused`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Account suspended", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refresh(state: web::Data<AppState>, body: ApiJson<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    let signed_in = state.auth.refresh(&body.refresh_token).await?;
    Ok(no_store(HttpResponse::Ok().json(auth_response(signed_in))))
}

/// End the session a refresh token belongs to. Unknown tokens are accepted too.
#[utoipa::path(
    post, path = "/api/v2/auth/logout", tag = "auth", operation_id = "logout",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Signed out"),
    )
)]
pub async fn logout(state: web::Data<AppState>, body: ApiJson<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    state.auth.logout(&body.refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in user.
#[utoipa::path(
    get, path = "/api/v2/auth/me", tag = "auth", operation_id = "get_me", security(("bearer" = [])),
    responses(
        (status = 200, description = "The current user", body = UserDto),
        (status = 401, description = "No valid access token, or its session ended", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn me(state: web::Data<AppState>, caller: Authenticated) -> Result<web::Json<UserDto>, ApiError> {
    let user = state.auth.me(&caller.0).await?;
    Ok(web::Json(user_dto(&user)))
}

/// Update the signed-in user's profile.
#[utoipa::path(
    patch, path = "/api/v2/auth/me", tag = "auth", operation_id = "update_me", security(("bearer" = [])),
    request_body = UpdateMeRequest,
    responses(
        (status = 200, description = "The updated user", body = UserDto),
        (status = 422, description = "Invalid name or unknown field (`role` cannot be set here)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_me(
    state: web::Data<AppState>,
    caller: Authenticated,
    body: ApiJson<UpdateMeRequest>,
) -> Result<web::Json<UserDto>, ApiError> {
    let user = match &body.name {
        Some(raw) => {
            let mut errors = Vec::new();
            let Some(name) = parse_name(raw, &mut errors) else { return Err(ApiError::validation(errors)) };
            state.auth.update_name(&caller.0, &name).await?
        }
        None => state.auth.me(&caller.0).await?,
    };
    Ok(web::Json(user_dto(&user)))
}

/// The user's active sessions, newest first.
#[utoipa::path(
    get, path = "/api/v2/auth/sessions", tag = "auth", operation_id = "list_sessions", security(("bearer" = [])),
    responses(
        (status = 200, description = "Active sessions", body = SessionList),
    )
)]
pub async fn sessions(state: web::Data<AppState>, caller: Authenticated) -> Result<web::Json<SessionList>, ApiError> {
    let sessions = state.auth.sessions(&caller.0).await?;
    let items = sessions
        .into_iter()
        .map(|s| SessionDto {
            id: s.id.as_uuid(),
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            current: s.id == caller.0.session_id,
            user_agent: s.user_agent,
            ip: s.ip,
        })
        .collect();
    Ok(web::Json(SessionList { items, next_cursor: None }))
}

/// Revoke one of the user's sessions (its tokens stop working at once).
#[utoipa::path(
    delete, path = "/api/v2/auth/sessions/{id}", tag = "auth", operation_id = "revoke_session", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such session of this user", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_session(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::new(ErrorCode::NotFound, "No such session.");
    let id = SessionId::parse(&path).ok_or_else(not_found)?;
    if !state.auth.revoke_session(&caller.0, id).await? {
        return Err(not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}
