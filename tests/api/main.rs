//! End-to-end tests through HTTP against the real server. One binary, so the
//! harness and the compiled server are shared; every test gets its own database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

mod architecture;
mod auth;
mod contract;
mod docs;
mod errors;
mod oauth;
mod projects;
mod rate_limit;
mod resilience;
mod route_policies;
mod service;
mod startup;

pub use devora_e2e::{Options, ProxyMode, TestApp, Variant, all_variants, sqlite_and_postgres_redis};
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

pub const PASSWORD: &str = "correct horse battery staple";

/// A unique email for this test.
#[must_use]
pub fn email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}

pub async fn post_json(app: &TestApp, path: &str, body: Value, token: Option<&str>) -> reqwest::Response {
    let mut req = app.client.post(app.url(path)).json(&body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

pub async fn get_with(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client.get(app.url(path)).bearer_auth(token).send().await.unwrap()
}

/// Registers a fresh account; returns the `{user, tokens}` body.
pub async fn register(app: &TestApp, email: &str) -> Value {
    let res = post_json(
        app,
        "/api/v2/auth/register",
        serde_json::json!({"email": email, "password": PASSWORD, "name": "Test User"}),
        None,
    )
    .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

pub async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    post_json(app, "/api/v2/auth/login", serde_json::json!({"email": email, "password": password}), None).await
}

pub fn access(body: &Value) -> String {
    body["tokens"]["access_token"].as_str().unwrap().to_owned()
}

pub fn refresh_token(body: &Value) -> String {
    body["tokens"]["refresh_token"].as_str().unwrap().to_owned()
}
