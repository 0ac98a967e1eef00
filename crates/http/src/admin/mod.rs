//! `/api/v2/admin`: operator routes. Every one answers 401 without a token and
//! 403 to a signed-in caller who is not an administrator.

use actix_web::dev::{HttpServiceFactory, Payload};
use actix_web::{FromRequest, HttpRequest, web};
use devora_api_types::{ErrorCode, Problem, ReconcileReportDto};
use devora_app::auth::Principal;
use devora_domain::Role;
use futures_util::future::LocalBoxFuture;

use crate::auth::Authenticated;
use crate::rate_limit::{RoutePolicy, limit_by_method, not_found};
use crate::routes::resource;
use crate::{ApiError, AppState};

/// A caller who is an administrator: built only from an admin principal.
#[derive(Debug, Clone, Copy)]
pub struct Admin(pub Principal);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Authenticated::from_request(req, payload);
        Box::pin(async move {
            let Authenticated(principal) = caller.await?;
            if principal.role == Role::Admin {
                Ok(Self(principal))
            } else {
                Err(ApiError::new(ErrorCode::Forbidden, "This needs an administrator."))
            }
        })
    }
}

/// The routes under `/api/v2/admin`.
pub fn scope() -> impl HttpServiceFactory {
    web::scope("/admin")
        .service(
            resource("/billing/reconcile", "POST").route(web::post().to(reconcile_billing)).wrap(limit_by_method()),
        )
        .default_service(not_found(RoutePolicy::ByMethod))
}

/// Compare every subscription at Stripe with Devora's state and repair drift.
/// Idempotent: a second run repairs nothing.
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
    tracing::info!(admin = %admin.0.user_id, "billing reconcile requested");
    let report = state.billing.reconcile().await?;
    Ok(web::Json(ReconcileReportDto {
        checked: report.checked,
        repaired: report.repaired.len() as u64,
        failed: report.failed.len() as u64,
        repaired_ids: report.repaired,
        failed_customers: report.failed,
    }))
}
