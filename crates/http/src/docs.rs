//! The API's own documentation: the OpenAPI document and two UIs, all served
//! from the binary (no CDN).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use utoipa_swagger_ui::{Config, SwaggerUi};

use devora_app::PolicyKind;

use crate::rate_limit::limit;
use crate::routes::resource;

/// The OpenAPI document, rendered once at start.
pub struct OpenApiDocs {
    pub json: web::Bytes,
    pub yaml: web::Bytes,
}

const REDOC_JS: &[u8] = include_bytes!("../assets/redoc/redoc.standalone.js");

const REDOC_HTML: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Devora API v2 - ReDoc</title>
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="/redoc/redoc.standalone.js"></script>
</body>
</html>
"#;

/// The documents and UIs, counted under `public`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let public = || limit(PolicyKind::Public);
    cfg.service(resource("/openapi.json", "GET").route(web::get().to(openapi_json)).wrap(public()))
        .service(resource("/openapi.yaml", "GET").route(web::get().to(openapi_yaml)).wrap(public()))
        .service(
            web::scope("/docs")
                .service(resource("", "GET").route(web::get().to(|| async { redirect("/docs/") })))
                .service(SwaggerUi::new("/{_:.*}").config(Config::new(["/openapi.json"])))
                .wrap(public()),
        )
        .service(resource("/redoc", "GET").route(web::get().to(redoc)).wrap(public()))
        .service(resource("/redoc/redoc.standalone.js", "GET").route(web::get().to(redoc_js)).wrap(public()));
}

fn redirect(to: &'static str) -> HttpResponse {
    HttpResponse::MovedPermanently().insert_header((header::LOCATION, to)).finish()
}

/// This document, as JSON.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "service",
    operation_id = "openapi_json",
    responses((
        status = 200, description = "OpenAPI 3.1 document", content_type = "application/json", body = Object,
        example = json!({"openapi": "3.1.0", "info": {"title": "Devora API", "version": "2.0.0"}, "paths": {}})
    ))
)]
pub async fn openapi_json(docs: web::Data<OpenApiDocs>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(docs.json.clone())
}

/// This document, as YAML.
#[utoipa::path(
    get,
    path = "/openapi.yaml",
    tag = "service",
    operation_id = "openapi_yaml",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/yaml", body = Object))
)]
pub async fn openapi_yaml(docs: web::Data<OpenApiDocs>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/yaml").body(docs.yaml.clone())
}

async fn redoc() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(REDOC_HTML)
}

async fn redoc_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(REDOC_JS)
}
