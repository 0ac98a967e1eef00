//! Service routes: the API root, health checks and metrics.

use actix_web::{HttpResponse, web};
use devora_api_types::{
    ComponentCheck, ComponentState, Liveness, Readiness, ReadinessChecks, ServiceInfo, ServiceLinks,
};
use devora_app::ComponentReport;

use devora_app::PolicyKind;

use crate::AppState;
use crate::rate_limit::limit;
use crate::routes::resource;

/// Health and metrics, counted under `public` (the API root is declared in `routes`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let public = || limit(PolicyKind::Public);
    cfg.service(resource("/health/live", "GET").route(web::get().to(live)).wrap(public()))
        .service(resource("/health/ready", "GET").route(web::get().to(ready)).wrap(public()))
        .service(resource("/metrics", "GET").route(web::get().to(metrics)).wrap(public()));
}

/// What this API is and where its documentation lives.
#[utoipa::path(
    get,
    path = "/api/v2",
    tag = "service",
    operation_id = "service_info",
    responses((status = 200, description = "Service name, version and documentation links", body = ServiceInfo))
)]
pub async fn root() -> web::Json<ServiceInfo> {
    web::Json(ServiceInfo {
        name: "Devora API".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        api_version: "v2".to_owned(),
        links: ServiceLinks {
            openapi_json: "/openapi.json".to_owned(),
            openapi_yaml: "/openapi.yaml".to_owned(),
            docs: "/docs/".to_owned(),
            redoc: "/redoc".to_owned(),
            health: "/health/ready".to_owned(),
        },
    })
}

/// Liveness: the process is up and serving HTTP. Touches no dependency.
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "service",
    operation_id = "health_live",
    responses((status = 200, description = "The process is up", body = Liveness))
)]
pub async fn live() -> web::Json<Liveness> {
    web::Json(Liveness { status: "ok".to_owned() })
}

/// Readiness: the database answers (else 503). Redis is reported, never fatal.
/// Answers within two seconds whatever the dependencies do.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "service",
    operation_id = "health_ready",
    responses(
        (status = 200, description = "Ready to serve traffic", body = Readiness),
        (status = 503, description = "The database is unreachable; the report says why", body = Readiness),
    )
)]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let report = state.health.readiness().await;
    let ready = report.is_ready();
    let body = Readiness {
        status: if ready { ComponentState::Up } else { ComponentState::Down },
        checks: ReadinessChecks { database: check(&report.database), redis: check(&report.redis) },
    };
    let mut res = if ready { HttpResponse::Ok() } else { HttpResponse::ServiceUnavailable() };
    res.insert_header(("cache-control", "no-store")).json(body)
}

fn check(report: &ComponentReport) -> ComponentCheck {
    let ms = |d: std::time::Duration| Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    match *report {
        ComponentReport::Up { backend, latency } => ComponentCheck {
            status: ComponentState::Up,
            backend: backend.to_owned(),
            latency_ms: ms(latency),
            error: None,
        },
        ComponentReport::Down { backend, latency, reason } => ComponentCheck {
            status: ComponentState::Down,
            backend: backend.to_owned(),
            latency_ms: ms(latency),
            error: Some(reason.to_owned()),
        },
        ComponentReport::Disabled { backend } => ComponentCheck {
            status: ComponentState::Disabled,
            backend: backend.to_owned(),
            latency_ms: None,
            error: None,
        },
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    operation_id = "metrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String))
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    for hook in &state.scrape_hooks {
        hook();
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(state.metrics.render())
}
