//! End-to-end tests through HTTP against the real server. One binary, so the
//! harness and the compiled server are shared; every test gets its own database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

mod admin;
mod architecture;
mod auth;
mod billing;
mod billing_flows;
mod cluster;
mod contract;
mod docs;
mod docs_pages;
mod errors;
mod faults;
pub mod generation;
mod hot_path;
mod llm_adapter;
mod oauth;
mod projects;
mod rate_limit;
mod resilience;
mod route_policies;
mod service;
mod startup;
mod stripe_adapter;

pub use devora_e2e::{Options, PASSWORD, ProxyMode, SignedIn, TestApp, Variant, scenario, unique_email};
pub use serde_json::Value;

/// Asserts `res` is a problem+json with `status` and `code`, carrying the same
/// request id as its `X-Request-Id` header; returns the body.
pub async fn assert_problem(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let content_type = res.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
    assert_eq!(content_type, "application/problem+json");
    let header_id = res.headers().get("x-request-id").expect("x-request-id").to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert_eq!(body["code"], code);
    assert_eq!(body["type"], format!("https://devora.dev/problems/{code}"));
    assert_eq!(body["request_id"], header_id.as_str());
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["detail"].as_str().is_some_and(|t| !t.is_empty()));
    body
}
