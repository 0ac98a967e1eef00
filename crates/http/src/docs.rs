//! The API's own documentation: the OpenAPI document and two UIs, all served
//! from the binary. The pages load nothing from another host: Swagger UI does not
//! call the public validator, ReDoc's footer logo is inlined, and no asset points
//! at a source map that is not served.

use std::sync::LazyLock;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{Error, HttpResponse, web};
use utoipa_swagger_ui::{Config, SwaggerUi};

use devora_app::PolicyKind;

use crate::rate_limit::limit;
use crate::routes::resource;

/// The OpenAPI document, rendered once at start.
pub struct OpenApiDocs {
    pub json: web::Bytes,
    pub yaml: web::Bytes,
}

const REDOC_JS: &str = include_str!("../assets/redoc/redoc.standalone.js");

/// Where the vendored ReDoc would fetch its footer logo from, and what stands in:
/// an empty inline SVG, so the page asks no other host for anything.
const REDOC_CDN_LOGO: &str = "\"https://cdn.redoc.ly/redoc/logo-mini.svg\"";
const INLINE_LOGO: &str = "\"data:image/svg+xml,%3Csvg%20xmlns%3D%22http%3A%2F%2Fwww.w3.org%2F2000%2Fsvg%22%2F%3E\"";

/// The ReDoc bundle as served: the logo inlined, and without the pointer to a
/// source map this server does not have.
static REDOC_SERVED: LazyLock<web::Bytes> =
    LazyLock::new(|| web::Bytes::from(without_source_map(&REDOC_JS.replace(REDOC_CDN_LOGO, INLINE_LOGO))));

/// `text` without its `sourceMappingURL` comments (JS `//#` and CSS `/*#`): the
/// maps are not shipped, so a browser's devtools would only get 404s for them.
fn without_source_map(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let is_map = (trimmed.starts_with("//# sourceMappingURL=") || trimmed.starts_with("/*# sourceMappingURL="))
            && !trimmed.contains("sourceMappingURL=data:");
        if !is_map {
            out.push_str(line);
        }
    }
    out
}

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
                .service(SwaggerUi::new("/{_:.*}").config(Config::new(["/openapi.json"]).validator_url("none")))
                .wrap(from_fn(self_contained_assets))
                .wrap(public()),
        )
        .service(resource("/redoc", "GET").route(web::get().to(redoc)).wrap(public()))
        .service(resource("/redoc/", "GET").route(web::get().to(|| async { redirect("/redoc") })).wrap(public()))
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
        .body(REDOC_SERVED.clone())
}

/// Swagger UI's files as this server serves them: text with its charset, and no
/// pointer to a source map that is not shipped.
async fn self_contained_assets(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let res = next.call(req).await?.map_into_boxed_body();
    let content_type = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let Some(mime) = content_type.filter(|c| c.starts_with("text/") && !c.contains("charset")) else {
        return Ok(res);
    };
    let (req, res) = res.into_parts();
    let (mut head, body) = res.into_parts();
    let bytes =
        actix_web::body::to_bytes(body).await.map_err(|e| actix_web::error::ErrorInternalServerError(e.to_string()))?;
    let text = String::from_utf8_lossy(&bytes);
    if let Ok(value) = HeaderValue::from_str(&format!("{mime}; charset=utf-8")) {
        head.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    head.headers_mut().remove(header::CONTENT_LENGTH);
    let res = head.set_body(without_source_map(&text)).map_into_boxed_body();
    Ok(ServiceResponse::new(req, res))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redoc_bundle_asks_no_other_host_and_points_at_no_missing_map() {
        assert!(REDOC_JS.contains(REDOC_CDN_LOGO), "the vendored ReDoc changed: find its logo URL again");
        let served = std::str::from_utf8(&REDOC_SERVED).unwrap();
        assert!(!served.contains("cdn.redoc.ly"));
        assert!(!served.contains("sourceMappingURL=redoc.standalone.js.map"));
        assert!(served.contains(INLINE_LOGO));
    }

    #[test]
    fn source_map_comments_go_and_everything_else_stays() {
        let css = "a{}\n/*# sourceMappingURL=swagger-ui.css.map*/";
        assert_eq!(without_source_map(css), "a{}\n");
        let js = "x();\n//# sourceMappingURL=data:application/json;base64,e30=\n";
        assert_eq!(without_source_map(js), js, "inline maps resolve; they stay");
        assert_eq!(without_source_map("let u = \"//# sourceMappingURL=\";"), "let u = \"//# sourceMappingURL=\";");
    }
}
