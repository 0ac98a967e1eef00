pub mod auth;
pub mod docs;
pub mod projects;
pub mod service;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, Resource, web};
use devora_api_types::ErrorCode;

use crate::ApiError;

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
pub fn configure(cfg: &mut web::ServiceConfig) {
    service::configure(cfg);
    auth::configure(cfg);
    projects::configure(cfg);
    docs::configure(cfg);
}
