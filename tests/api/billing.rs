//! Billing without a payment provider: the plans are public and cached, every
//! other billing route answers 503 `not-configured` naming the variable, and
//! the rest of the API works on the free plan.

use serde_json::json;

use super::*;

scenario!(the_plans_are_public_and_revalidated_with_an_etag, [sqlite_memory, postgres_redis], |variant: Variant| {
    let app = TestApp::spawn_with(variant, Options::with_env(&[("FREE_PLAN_MAX_PROJECTS", "3")])).await;
    let res = app.get("/api/v2/billing/plans").await;
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(res.headers()["cache-control"], "public, max-age=3600");
    assert_eq!(res.headers()["ratelimit-policy"].to_str().unwrap().split('"').nth(1), Some("public"));
    let plans: Value = res.json().await.unwrap();
    assert_eq!(plans["version"], 1);
    let ids: Vec<_> = plans["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["free", "pro", "team"]);
    assert_eq!(plans["items"][0]["limits"]["projects"], 3);
    assert_eq!(plans["items"][0]["intervals"], json!([]), "free is not bought");
    assert_eq!(plans["items"][1]["intervals"], json!([]), "the built-in catalogue names no Stripe prices");
    let again = app.client.get(app.url("/api/v2/billing/plans")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
});

scenario!(a_catalogue_file_sets_the_plans_and_the_free_plans_limits_apply, [sqlite_memory], |variant: Variant| {
    let dir = devora_e2e::TempDir::new();
    let file = dir.path().join("plans.json");
    let limits = |projects: u32| {
        json!({"projects": projects, "generations_per_month": 1, "tokens_per_month": 1, "concurrent_jobs": 1,
               "storage_bytes": 100, "models": []})
    };
    let catalogue = json!({"version": 7, "plans": [
        {"id": "free", "name": "Free", "limits": limits(1)},
        {"id": "pro", "name": "Pro", "prices": {"month": "price_pro_m", "year": null}, "limits": limits(10)},
    ]});
    std::fs::write(&file, catalogue.to_string()).unwrap();
    let path = file.to_str().unwrap().to_owned();
    // FREE_PLAN_MAX_PROJECTS, when set, overrides the file's free project limit
    // (the harness sets it high for every server, so it is set to the file's here).
    let env = [("BILLING_PLANS_FILE", path.as_str()), ("FREE_PLAN_MAX_PROJECTS", "1")];
    let app = TestApp::spawn_with(variant, Options::with_env(&env)).await;
    let plans: Value = app.get("/api/v2/billing/plans").await.json().await.unwrap();
    assert_eq!(plans["version"], 7);
    assert_eq!(plans["items"][1]["intervals"], json!(["month"]));
    // The free plan's limits are what a user without a subscription gets.
    let token = app.new_user().await.access_token;
    let project = app.create_project_id(&token, "only one").await;
    let refused =
        assert_problem(app.post_as(&token, "/api/v2/projects", &json!({"name": "two"})).await, 403, "plan-limit").await;
    assert_eq!((refused["limit"].as_u64(), refused["current"].as_u64()), (Some(1), Some(1)));
    // Storage: 100 bytes a project on this free plan.
    let big = app.put_as(&token, &format!("/api/v2/projects/{project}/files/a.txt"), vec![b'x'; 101]).await;
    assert_problem(big, 413, "project-storage-full").await;
    let small = app.put_as(&token, &format!("/api/v2/projects/{project}/files/a.txt"), vec![b'x'; 100]).await;
    assert_eq!(small.status(), 201);
});

scenario!(a_bad_catalogue_file_stops_the_start_naming_the_variable, [sqlite_memory], |variant: Variant| {
    let _ = variant;
    let dir = devora_e2e::TempDir::new();
    let file = dir.path().join("plans.json");
    std::fs::write(&file, r#"{"version": 1, "plans": []}"#).unwrap();
    let vars = [("BILLING_PLANS_FILE".to_owned(), file.to_str().unwrap().to_owned())];
    let err = devora_server::Settings::from_vars(vars).unwrap_err().to_string();
    assert!(err.contains("BILLING_PLANS_FILE") && err.contains("free"), "{err}");
    let missing = [("BILLING_PLANS_FILE".to_owned(), "/nonexistent/plans.json".to_owned())];
    let err = devora_server::Settings::from_vars(missing).unwrap_err().to_string();
    assert!(err.contains("BILLING_PLANS_FILE") && err.contains("cannot read"), "{err}");
});

scenario!(
    without_stripe_every_billing_route_but_plans_is_not_configured,
    [sqlite_memory, postgres_redis],
    |app: TestApp| {
        let token = app.new_user().await.access_token;
        for (method, path, body) in [
            ("GET", "/api/v2/billing/subscription", None),
            ("POST", "/api/v2/billing/subscription/sync", None),
            ("POST", "/api/v2/billing/subscription/cancel", None),
            ("POST", "/api/v2/billing/subscription/resume", None),
            ("POST", "/api/v2/billing/checkout", Some(json!({"plan_id": "pro", "interval": "month"}))),
            ("POST", "/api/v2/billing/portal", None),
            ("GET", "/api/v2/billing/invoices", None),
        ] {
            let mut req = app.client.request(method.parse().unwrap(), app.url(path)).bearer_auth(&token);
            if let Some(body) = body {
                req = req.json(&body);
            }
            let problem = assert_problem(req.send().await.unwrap(), 503, "not-configured").await;
            assert!(problem["detail"].as_str().unwrap().contains("STRIPE_SECRET_KEY"), "{method} {path}: {problem}");
        }
        let webhook = app
            .client
            .post(app.url("/api/v2/billing/webhooks/stripe"))
            .header("stripe-signature", "t=1,v1=00")
            .body("{}")
            .send()
            .await
            .unwrap();
        let problem = assert_problem(webhook, 503, "not-configured").await;
        assert!(problem["detail"].as_str().unwrap().contains("STRIPE_SECRET_KEY"), "{problem}");
        // Signed-in billing routes still want a token first.
        assert_problem(app.get("/api/v2/billing/subscription").await, 401, "unauthenticated").await;
        // The rest of the API works on the free plan.
        assert_eq!(app.post_as(&token, "/api/v2/projects", &json!({"name": "works"})).await.status(), 201);
    }
);

scenario!(reconcile_is_for_administrators_only, [sqlite_memory, postgres_redis], |app: TestApp| {
    assert_problem(app.post("/api/v2/admin/billing/reconcile", &json!({})).await, 401, "unauthenticated").await;
    let user = app.new_user().await.access_token;
    let res = app.post_as(&user, "/api/v2/admin/billing/reconcile", &json!({})).await;
    assert_problem(res, 403, "forbidden").await;
    // An administrator gets through to billing, which is not configured here.
    let address = unique_email();
    let admin = devora_server::operator_admin(&app.settings(vec![])).await.unwrap();
    let email = devora_domain::Email::parse(&address).unwrap();
    let password = devora_domain::Password::parse(PASSWORD).unwrap();
    admin.create_admin(email.clone(), password, devora_domain::UserName::from_email(&email)).await.unwrap();
    let token = app.sign_in(&address, PASSWORD).await.access_token;
    let res = app.post_as(&token, "/api/v2/admin/billing/reconcile", &json!({})).await;
    let problem = assert_problem(res, 503, "not-configured").await;
    assert!(problem["detail"].as_str().unwrap().contains("STRIPE_SECRET_KEY"));
});
