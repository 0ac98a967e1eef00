//! Service-level DTOs: the API root and health reports.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// `GET /api/v2`: what this service is and where its documentation lives.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "name": "Devora API",
    "version": "0.1.0",
    "api_version": "v2",
    "links": {
        "openapi_json": "/openapi.json",
        "openapi_yaml": "/openapi.yaml",
        "docs": "/docs/",
        "redoc": "/redoc",
        "health": "/health/ready"
    }
}))]
pub struct ServiceInfo {
    #[schema(example = "Devora API")]
    pub name: String,
    /// The server's release (semantic version).
    #[schema(example = "0.1.0")]
    pub version: String,
    #[schema(example = "v2")]
    pub api_version: String,
    pub links: ServiceLinks,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
pub struct ServiceLinks {
    pub openapi_json: String,
    pub openapi_yaml: String,
    pub docs: String,
    pub redoc: String,
    pub health: String,
}

/// `GET /health/live`: the process is up and answering.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({"status": "ok"}))]
pub struct Liveness {
    #[schema(example = "ok")]
    pub status: String,
}

/// `GET /health/ready`: whether this node can serve traffic.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "status": "up",
    "checks": {
        "database": {"status": "up", "backend": "postgres", "latency_ms": 1},
        "redis": {"status": "down", "backend": "redis", "latency_ms": 250, "error": "timeout"}
    }
}))]
pub struct Readiness {
    /// `up` when the database answers (the node is ready), otherwise `down`.
    pub status: ComponentState,
    pub checks: ReadinessChecks,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
pub struct ReadinessChecks {
    /// Fatal when down: the node answers 503.
    pub database: ComponentCheck,
    /// Never fatal: without Redis the node falls back to in-process state.
    pub redis: ComponentCheck,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum ComponentState {
    Up,
    Down,
    /// Not configured on this node (Redis without `REDIS_URL`).
    Disabled,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
pub struct ComponentCheck {
    pub status: ComponentState,
    /// Which implementation is in use: `sqlite`, `postgres`, `redis`, `in-process`.
    pub backend: String,
    /// How long the check took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = u64, required = false)]
    pub latency_ms: Option<u64>,
    /// Why the component is down, in a few words (`timeout`, `unreachable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = String, required = false)]
    pub error: Option<String>,
}
