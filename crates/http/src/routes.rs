//! Every route of the server, each feature under its own scope. A scope or
//! resource names the rate-limit policy it is counted under where it is declared.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, Resource, web};
use devora_api_types::ErrorCode;
use devora_app::PolicyKind;

use crate::ApiError;
use crate::rate_limit::{RoutePolicy, limit, not_found};
use crate::{admin, auth, billing, docs, generation, projects, service};

/// A resource whose other methods answer 405 with `Allow` (actix would otherwise
/// fall through to the app's 404).
pub fn resource(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| async move { method_not_allowed(&req, allow) }))
}

fn method_not_allowed(req: &HttpRequest, allow: &'static str) -> HttpResponse {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} is not allowed on {}; use {allow}.", req.method(), req.path()),
    )
    .with_header(header::ALLOW, HeaderValue::from_static(allow))
    .response()
}

/// Every route of the API. The app wraps them in middleware (see `server.rs`).
/// Paths no route matches answer 404 under `public`, or under `reads`/`writes`
/// inside `/api/v2`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v2")
            .service(resource("", "GET").route(web::get().to(service::root)).wrap(limit(PolicyKind::Public)))
            .service(auth::scope())
            .service(projects::scope())
            .service(billing::scope())
            .service(generation::scope())
            .service(admin::scope())
            .default_service(not_found(RoutePolicy::ByMethod)),
    );
    service::configure(cfg);
    docs::configure(cfg);
}
