//! `/api/v2/admin`: operator routes. Every one answers 401 without a token and
//! 403 to a signed-in caller who is not an administrator. Handlers in `users`
//! (accounts), `support` (a user's projects and jobs, stopping a job) and
//! `operations` (stats, the audit log, billing reconcile).

pub(crate) mod operations;
pub(crate) mod support;
pub(crate) mod users;

use actix_web::dev::{HttpServiceFactory, Payload};
use actix_web::{FromRequest, HttpRequest, web};
use devora_api_types::ErrorCode;
use devora_app::admin::{Actor, AdminError};
use devora_app::auth::Principal;
use devora_domain::Role;
use devora_domain::admin::{AdminRefusal, AuditActor};
use futures_util::future::LocalBoxFuture;

pub use operations::{audit_log, reconcile_billing, stats};
pub use support::{cancel_job, user_jobs, user_projects};
pub use users::{get_user, list_users, update_user};

use crate::ApiError;
use crate::auth::Authenticated;
use crate::client_ip::ClientIp;
use crate::rate_limit::{RoutePolicy, limit_by_method, not_found};
use crate::routes::resource;

/// A caller who is an administrator: built only from an admin principal, with
/// what the audit log records of the request (address, request id).
#[derive(Debug, Clone)]
pub struct Admin {
    pub principal: Principal,
    pub actor: Actor,
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Authenticated::from_request(req, payload);
        let ip = ClientIp::of(req).map(|ip| ip.to_string());
        let request_id = crate::context::current().map(|c| c.request_id);
        Box::pin(async move {
            let Authenticated(principal) = caller.await?;
            if principal.role != Role::Admin {
                return Err(ApiError::new(ErrorCode::Forbidden, "This needs an administrator."));
            }
            let actor = Actor { who: AuditActor::User(principal.user_id), ip, request_id };
            Ok(Self { principal, actor })
        })
    }
}

impl From<AdminError> for ApiError {
    fn from(err: AdminError) -> Self {
        match err {
            AdminError::UserNotFound => Self::new(ErrorCode::NotFound, "No such user."),
            AdminError::JobNotFound => Self::new(ErrorCode::NotFound, "No such job."),
            AdminError::Refused(AdminRefusal::OwnAccount) => {
                Self::new(ErrorCode::Conflict, "Administrators cannot suspend or demote their own account.")
            }
            AdminError::Refused(AdminRefusal::LastAdmin) => {
                Self::new(ErrorCode::Conflict, "This is the last active administrator: promote another account first.")
            }
            AdminError::Billing(err) => err.into(),
            AdminError::Internal(err) => Self::internal(err),
        }
    }
}

/// The routes under `/api/v2/admin`, counted by method (`reads` / `writes`).
pub fn scope() -> impl HttpServiceFactory {
    web::scope("/admin").service(
        web::scope("")
            .service(resource("/users", "GET").route(web::get().to(list_users)))
            .service(
                resource("/users/{id}", "GET, PATCH")
                    .route(web::get().to(get_user))
                    .route(web::patch().to(update_user)),
            )
            .service(resource("/users/{id}/projects", "GET").route(web::get().to(user_projects)))
            .service(resource("/users/{id}/jobs", "GET").route(web::get().to(user_jobs)))
            .service(resource("/jobs/{id}/cancel", "POST").route(web::post().to(cancel_job)))
            .service(resource("/stats", "GET").route(web::get().to(stats)))
            .service(resource("/audit-log", "GET").route(web::get().to(audit_log)))
            .service(resource("/billing/reconcile", "POST").route(web::post().to(reconcile_billing)))
            .default_service(not_found(RoutePolicy::ByMethod))
            .wrap(limit_by_method()),
    )
}
