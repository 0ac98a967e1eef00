//! The HTTP face of Devora (actix-web): routes, extractors, middleware,
//! problem+json errors and the OpenAPI document.
//!
//! Handlers only parse, call the app layer and map; they never touch storage.

mod admin;
pub mod auth;
mod billing;
mod client_ip;
mod conditional;
mod context;
mod docs;
mod error;
mod extract;
mod generation;
mod idempotency;
mod metrics_recorder;
mod openapi;
mod pagination;
mod projects;
pub mod rate_limit;
mod routes;
mod server;
mod service;
mod state;

pub use client_ip::{ClientIp, ForwardedHeader, TrustedProxies};
pub use error::{ApiError, field_error, invalid_field};
pub use extract::ApiJson;
pub use metrics_recorder::metrics_handle;
pub use openapi::{openapi_document, openapi_yaml};
pub use projects::RenderedProjects;
pub use server::{OpenApiDocsHandle, RouteHook, build_app, serve};
pub use state::{AccessLog, AppState, HttpConfig};
