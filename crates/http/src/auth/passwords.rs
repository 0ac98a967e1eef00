//! Password accounts: register, log in, change the password.

use actix_web::{HttpRequest, HttpResponse, web};
use devora_api_types::{AuthResponse, ChangePasswordRequest, LoginRequest, Problem, RegisterRequest};

use super::{auth_response, client_meta, no_store, parse_email, parse_name, parse_password};
use crate::auth::Authenticated;
use crate::client_ip::ClientIp;
use crate::rate_limit::{insert_headers, refusal};
use crate::{ApiError, ApiJson, AppState};

/// Create an account with email and password; signs it in.
#[utoipa::path(
    post, path = "/api/v2/auth/register", tag = "auth", operation_id = "register",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created and signed in", body = AuthResponse),
        (status = 409, description = "Email already registered (`email-taken`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid email, weak password, bad name or unknown field", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited (`auth` policy)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut errors = Vec::new();
    let email = parse_email(&body.email, &mut errors);
    let password = parse_password("password", &body.password, &mut errors);
    let name = parse_name(&body.name, &mut errors);
    let (Some(email), Some(password), Some(name)) = (email, password, name) else {
        return Err(ApiError::validation(errors));
    };
    let signed_in = state.auth.register(email, password, name, &client_meta(&req)).await?;
    Ok(no_store(HttpResponse::Created().json(auth_response(signed_in))))
}

/// Sign in with email and password. Unknown emails and wrong passwords get the
/// same answer.
#[utoipa::path(
    post, path = "/api/v2/auth/login", tag = "auth", operation_id = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 401, description = "Wrong email or password (`invalid-credentials`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Account suspended", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited (`login` per IP and email, `login-ip` per IP)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let meta = client_meta(&req);
    let ip = ClientIp::of(&req);
    let limit = state.rate_limits.check_login(ip, &body.email).await;
    if let Some((policy, decision)) = &limit
        && !decision.allowed
    {
        return Err(refusal(policy, decision));
    }
    let signed_in = state.auth.login(&body.email, &body.password, &meta).await?;
    let mut res = no_store(HttpResponse::Ok().json(auth_response(signed_in)));
    if let Some((policy, decision)) = limit {
        insert_headers(res.headers_mut(), &policy, &decision);
    }
    Ok(res)
}

/// Change the password; every other session of the user is revoked.
#[utoipa::path(
    post, path = "/api/v2/auth/me/password", tag = "auth", operation_id = "change_password", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; other sessions revoked"),
        (status = 409, description = "The account has no password (OAuth only)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Current password incorrect, or new password too weak", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn change_password(
    state: web::Data<AppState>,
    caller: Authenticated,
    body: ApiJson<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let Some(new) = parse_password("new_password", &body.new_password, &mut errors) else {
        return Err(ApiError::validation(errors));
    };
    state.auth.change_password(&caller.0, &body.current_password, &new).await?;
    Ok(HttpResponse::NoContent().finish())
}
