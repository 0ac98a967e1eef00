//! Every route is counted under the policy declared next to it: each operation of
//! the served OpenAPI document answers with the `RateLimit-Policy` its route
//! names, and so do paths no route matches.

use std::collections::BTreeSet;

use super::*;

/// The policy each route group is declared with.
fn expected_policy(method: &str, path: &str) -> &'static str {
    let read = matches!(method, "GET" | "HEAD");
    match path {
        "/api/v2" | "/health/live" | "/health/ready" | "/metrics" | "/openapi.json" | "/openapi.yaml" => "public",
        "/api/v2/billing/plans" => "public",
        "/api/v2/generation/agentic" | "/api/v2/generation/fullstack" => "generation",
        "/api/v2/auth/login" => "login-ip",
        "/api/v2/auth/register" | "/api/v2/auth/me/password" | "/api/v2/auth/oauth/exchange" => "auth",
        p if p.starts_with("/api/v2/auth/oauth/{provider}/") => "auth",
        _ if read => "reads",
        _ => "writes",
    }
}

fn policy_name(res: &reqwest::Response) -> String {
    let value = res.headers().get("ratelimit-policy").map(|v| v.to_str().unwrap().to_owned());
    let value = value.unwrap_or_else(|| panic!("{} {}: no RateLimit-Policy", res.status(), res.url()));
    value.split('"').nth(1).unwrap().to_owned()
}

async fn send(app: &TestApp, method: &str, path: &str) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    app.client.request(method, app.url(path)).send().await.unwrap()
}

scenario!(every_documented_operation_is_counted_under_its_routes_policy, [sqlite_memory], |variant: Variant| {
    let quotas =
        ["AUTH", "LOGIN_IP", "WRITES", "READS", "PUBLIC"].map(|p| (format!("RATE_LIMIT_{p}"), "100/min".into()));
    let app = TestApp::spawn_with(variant, Options { env: quotas.into(), ..Options::default() }).await;
    let doc = serde_json::to_value(devora_http::openapi_document()).unwrap();
    let mut seen = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let method = method.to_uppercase();
            // Any value for the path parameters: the policy is the route's, whatever the answer.
            let concrete = path
                .replace("{id}", "0193a1c2-7d3e-7a10-9b2c-4f5e6a7b8c9d")
                .replace("{provider}", "github")
                .replace("{path}", "src/main.ts");
            let res = send(&app, &method, &concrete).await;
            if path == "/api/v2/billing/webhooks/stripe" {
                // Counted only once its signature verifies: an unsigned delivery uses no budget.
                assert!(res.headers().get("ratelimit-policy").is_none(), "an unverified webhook was counted");
                seen.insert(format!("{method} {path}"));
                continue;
            }
            assert_eq!(policy_name(&res), expected_policy(&method, path), "{method} {path} ({})", res.status());
            seen.insert(format!("{method} {path}"));
        }
    }
    assert!(seen.len() >= 30, "the document lists every operation: {seen:?}");
});

scenario!(
    paths_no_route_matches_are_counted_public_outside_the_api_and_by_method_inside,
    [sqlite_memory],
    |app: TestApp| {
        let cases = [
            ("GET", "/no/such/route", 404, "public"),
            ("GET", "/docs/", 200, "public"),
            ("GET", "/docs", 301, "public"),
            ("GET", "/redoc", 200, "public"),
            ("GET", "/api/v2/nope", 404, "reads"),
            ("POST", "/api/v2/nope", 404, "writes"),
            ("GET", "/api/v2/auth/nope", 404, "reads"),
            ("DELETE", "/api/v2/auth/nope", 404, "writes"),
            ("GET", "/api/v2/projects/x/nope", 404, "reads"),
            // The method is not allowed, but the route's policy still counts it.
            ("GET", "/api/v2/auth/login", 405, "login-ip"),
            ("PUT", "/api/v2/auth/register", 405, "auth"),
            ("PUT", "/api/v2", 405, "public"),
        ];
        for (method, path, status, policy) in cases {
            let res = send(&app, method, path).await;
            assert_eq!(res.status().as_u16(), status, "{method} {path}");
            assert_eq!(policy_name(&res), policy, "{method} {path}");
        }
    }
);
