//! The admin area: who may reach it, accounts (search, filters, paging, role and
//! status, protections), suspension felt at once on another server process,
//! support views, stats, and the audit log (an entry for every action, with
//! before and after; none for a refused one).

use std::time::Duration;

use devora_e2e::ServerProcess;
use serde_json::json;

use super::*;

/// A signed-in administrator (made by the operator's command) on `app`.
async fn admin(app: &TestApp) -> SignedIn {
    let address = unique_email();
    let ops = devora_server::operator_admin(&app.settings(vec![])).await.unwrap();
    let email = devora_domain::Email::parse(&address).unwrap();
    let password = devora_domain::Password::parse(PASSWORD).unwrap();
    ops.create_admin(email.clone(), password, devora_domain::UserName::parse("Ops").unwrap()).await.unwrap();
    app.sign_in(&address, PASSWORD).await
}

async fn audit(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let page = app.get_json_as(token, &format!("/api/v2/admin/audit-log?{query}")).await;
    page["items"].as_array().unwrap().clone()
}

async fn send(app: &TestApp, method: &str, path: &str, token: Option<&str>) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = app.client.request(method.clone(), app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if method == reqwest::Method::PATCH {
        req = req.json(&json!({"status": "active"}));
    }
    req.send().await.unwrap()
}

scenario!(every_admin_route_refuses_anonymous_callers_and_plain_users, [sqlite_memory], |app: TestApp| {
    let user = app.new_user().await;
    let doc = serde_json::to_value(devora_http::openapi_document()).unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v2/admin") {
            continue;
        }
        for method in ["get", "post", "patch"] {
            if item.get(method).is_none() {
                continue;
            }
            let concrete = path.replace("{id}", user.user_id());
            let method = method.to_uppercase();
            assert_problem(send(&app, &method, &concrete, None).await, 401, "unauthenticated").await;
            assert_problem(send(&app, &method, &concrete, Some(&user.access_token)).await, 403, "forbidden").await;
            checked += 1;
        }
    }
    assert!(checked >= 9, "every admin operation: {checked}");
});

scenario!(accounts_are_searched_filtered_and_paged_newest_first, [sqlite_memory, postgres_memory], |app: TestApp| {
    let boss = admin(&app).await;
    let token = &boss.access_token;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut made = Vec::new();
    for i in 0..5 {
        let email = format!("zed{tag}{i}@example.com");
        made.push(app.register(&email).await.user_id().to_owned());
    }
    let page = app.get_json_as(token, &format!("/api/v2/admin/users?q=ZED{tag}&limit=2")).await;
    let first: Vec<&str> = page["items"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(first, [made[4].as_str(), made[3].as_str()], "newest first, case-insensitive prefix");
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = app.get_json_as(token, &format!("/api/v2/admin/users?q=zed{tag}&limit=10&cursor={cursor}")).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 3);
    assert_eq!(rest["next_cursor"], Value::Null);
    // The name is searched too; a prefix is a prefix; LIKE wildcards are literal.
    let ops = app.get_json_as(token, "/api/v2/admin/users?q=ops&role=admin").await;
    assert!(!ops["items"].as_array().unwrap().is_empty(), "the name is searched");
    assert_eq!(app.get_json_as(token, &format!("/api/v2/admin/users?q=ed{tag}")).await["items"], json!([]));
    assert_eq!(app.get_json_as(token, &format!("/api/v2/admin/users?q=zed{tag}%25")).await["items"], json!([]));

    let res = app.patch_as(token, &format!("/api/v2/admin/users/{}", made[0]), &json!({"status": "suspended"})).await;
    assert_eq!(res.status().as_u16(), 200);
    let suspended = app.get_json_as(token, &format!("/api/v2/admin/users?q=zed{tag}&status=suspended")).await;
    assert_eq!(suspended["items"].as_array().unwrap().len(), 1);
    let admins = app.get_json_as(token, &format!("/api/v2/admin/users?q=zed{tag}&role=admin")).await;
    assert_eq!(admins["items"], json!([]));
    for bad in ["role=root", "status=gone", "limit=0", "cursor=zz", &format!("q={}", "a".repeat(101))] {
        let res = app.get_as(token, &format!("/api/v2/admin/users?{bad}")).await;
        assert_problem(res, 422, "validation-failed").await;
    }
});

scenario!(
    an_admin_cannot_suspend_or_demote_themself_nor_the_last_admin,
    [sqlite_memory, postgres_redis],
    |app: TestApp| {
        let boss = admin(&app).await;
        let token = &boss.access_token;
        let me = format!("/api/v2/admin/users/{}", boss.user_id());
        for body in [json!({"status": "suspended"}), json!({"role": "user"})] {
            assert_problem(app.patch_as(token, &me, &body).await, 409, "conflict").await;
        }
        // The operator (no account of their own) cannot remove the last admin either.
        let ops = devora_server::operator_admin(&app.settings(vec![])).await.unwrap();
        let id = devora_domain::UserId::parse(boss.user_id()).unwrap();
        assert!(ops.set_role(id, devora_domain::Role::User).await.is_err());
        // With a second admin, one can demote the other.
        let second = admin(&app).await;
        let res = app.patch_as(&second.access_token, &me, &json!({"role": "user"})).await;
        assert_eq!(res.json::<Value>().await.unwrap()["role"], "user");
        assert_problem(app.get_as(token, "/api/v2/admin/stats").await, 403, "forbidden").await;
        // Nothing was recorded for the refusals.
        let entries = audit(&app, &second.access_token, &format!("target={}", boss.user_id())).await;
        let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(
            actions,
            ["user_role_changed", "user_role_changed"],
            "the demotion, and the operator's promotion at creation"
        );
        // Bad bodies.
        let target = format!("/api/v2/admin/users/{}", boss.user_id());
        assert_problem(app.patch_as(&second.access_token, &target, &json!({})).await, 422, "validation-failed").await;
        assert_problem(
            app.patch_as(&second.access_token, &target, &json!({"role": "root"})).await,
            422,
            "validation-failed",
        )
        .await;
        let nobody = format!("/api/v2/admin/users/{}", uuid::Uuid::now_v7());
        assert_problem(app.patch_as(&second.access_token, &nobody, &json!({"role": "user"})).await, 404, "not-found")
            .await;
    }
);

scenario!(every_admin_action_is_audited_with_before_and_after, [sqlite_memory, postgres_redis], |app: TestApp| {
    let boss = admin(&app).await;
    let token = &boss.access_token;
    let user = app.new_user().await;
    let path = format!("/api/v2/admin/users/{}", user.user_id());
    app.patch_as(token, &path, &json!({"status": "suspended"})).await;
    app.patch_as(token, &path, &json!({"status": "active"})).await;
    app.patch_as(token, &path, &json!({"role": "admin"})).await;
    app.patch_as(token, &path, &json!({"role": "admin"})).await; // no change: nothing recorded
    let detail = app.get_json_as(token, &path).await;
    assert_eq!(detail["user"]["role"], "admin");
    assert_eq!(detail["sign_in_methods"], json!(["password"]));
    assert_eq!(detail["usage"]["generations"]["used"], 0);
    assert_eq!(detail["subscription"]["plan_id"], "free");
    app.get_as(token, &format!("{path}/projects")).await;
    app.get_as(token, &format!("{path}/jobs")).await;

    let entries = audit(&app, token, &format!("target={}", user.user_id())).await;
    let actions: Vec<&str> = entries.iter().rev().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "user_suspended",
            "user_reactivated",
            "user_role_changed",
            "user_viewed",
            "user_projects_viewed",
            "user_jobs_viewed"
        ]
    );
    let suspended = entries.iter().find(|e| e["action"] == "user_suspended").unwrap();
    assert_eq!(suspended["before"], json!({"role": "user", "status": "active"}));
    assert_eq!(suspended["after"], json!({"role": "user", "status": "suspended"}));
    assert_eq!(suspended["actor"], boss.user_id());
    assert_eq!(suspended["target_type"], "user");
    assert!(suspended["ip"].is_string() && suspended["request_id"].is_string());
    // Filters: actor, action, time range.
    assert!(audit(&app, token, "actor=cli").await.iter().all(|e| e["actor"] == "cli"));
    assert_eq!(audit(&app, token, &format!("action=user_suspended&target={}", user.user_id())).await.len(), 1);
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    assert!(audit(&app, token, &format!("from={}", later.replace('+', "%2B"))).await.is_empty());
    for bad in ["actor=root", "action=deleted", "from=yesterday", "limit=1000"] {
        assert_problem(app.get_as(token, &format!("/api/v2/admin/audit-log?{bad}")).await, 422, "validation-failed")
            .await;
    }
    // The log cannot be changed through the API: no such routes.
    let id = entries[0]["id"].as_str().unwrap();
    for method in ["PATCH", "DELETE", "PUT"] {
        let res = send(&app, method, &format!("/api/v2/admin/audit-log/{id}"), Some(token)).await;
        assert!(matches!(res.status().as_u16(), 404 | 405), "{method}");
    }
    let stats = app.get_json_as(token, "/api/v2/admin/stats").await;
    assert!(stats["users"]["total"].as_u64().unwrap() >= 2);
    assert!(stats["webhooks_24h"]["received"].is_u64());
    assert_problem(app.get_as(token, &format!("/api/v2/admin/users/{}", uuid::Uuid::now_v7())).await, 404, "not-found")
        .await;
    assert_problem(app.get_as(token, "/api/v2/admin/users/nope/jobs").await, 404, "not-found").await;
});

scenario!(an_admin_stops_any_users_job_and_it_is_audited_once, [sqlite_memory], |variant: Variant| {
    use devora_e2e::standins::{LlmStandIn, ScriptedReply};
    let llm = LlmStandIn::start().await;
    llm.script(ScriptedReply::slow(400, Duration::from_millis(50)));
    let app = TestApp::spawn_with(
        variant,
        Options::with_env(&[
            ("LLM_BASE_URL", llm.url.as_str()),
            ("GENERATION_POLL_MS", "100"),
            ("RATE_LIMIT_GENERATION", "1000/min"),
        ]),
    )
    .await;
    let boss = admin(&app).await;
    let user = app.new_user().await;
    let project = app.create_project_id(&user.access_token, "P").await;
    let res = app
        .post_as(&user.access_token, "/api/v2/generation/agentic", &json!({"project_id": project, "prompt": "go"}))
        .await;
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    super::generation::wait_until(&app, &user.access_token, &id, |j| j["status"] == "running").await;
    let jobs = app
        .get_json_as(&boss.access_token, &format!("/api/v2/admin/users/{}/jobs?status=running", user.user_id()))
        .await;
    assert_eq!(jobs["items"][0]["id"], id.as_str());
    let res = app.post_as(&boss.access_token, &format!("/api/v2/admin/jobs/{id}/cancel"), &json!({})).await;
    assert_eq!(res.status().as_u16(), 202);
    let job = super::generation::wait_until(&app, &user.access_token, &id, super::generation::ended).await;
    assert_eq!(job["status"], "cancelled");
    app.post_as(&boss.access_token, &format!("/api/v2/admin/jobs/{id}/cancel"), &json!({})).await; // ended: nothing recorded
    let entries = audit(&app, &boss.access_token, &format!("target={id}")).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["action"], "job_cancelled");
    assert_eq!(entries[0]["before"], json!({"status": "running", "cancel_requested": "false"}));
    assert_problem(
        app.post_as(&boss.access_token, &format!("/api/v2/admin/jobs/{}/cancel", uuid::Uuid::now_v7()), &json!({}))
            .await,
        404,
        "not-found",
    )
    .await;

    // A suspended account's jobs stop: it spends nothing more.
    llm.script(ScriptedReply::slow(400, Duration::from_millis(50)));
    let res = app
        .post_as(&user.access_token, "/api/v2/generation/agentic", &json!({"project_id": project, "prompt": "again"}))
        .await;
    let again = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    super::generation::wait_until(&app, &user.access_token, &again, |j| j["status"] == "running").await;
    let res = app
        .patch_as(
            &boss.access_token,
            &format!("/api/v2/admin/users/{}", user.user_id()),
            &json!({"status": "suspended"}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let jobs = app.get_json_as(&boss.access_token, &format!("/api/v2/admin/users/{}/jobs", user.user_id())).await;
        let job = jobs["items"].as_array().unwrap().iter().find(|j| j["id"] == again.as_str()).unwrap().clone();
        if job["status"] == "cancelled" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the suspended user's job still {}", job["status"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
});

scenario!(
    a_suspended_users_token_is_refused_within_a_second_on_another_server_process,
    [postgres_redis],
    threads = 4,
    |app: TestApp| {
        let other = ServerProcess::start(&app.node_env()).await;
        let user = app.new_user().await;
        let me = format!("{}/api/v2/auth/me", other.address);
        let client = reqwest::Client::new();
        // The other node knows the session (its state cached in the shared cache).
        assert_eq!(client.get(&me).bearer_auth(&user.access_token).send().await.unwrap().status(), 200);
        let boss = admin(&app).await;
        let res = app
            .patch_as(
                &boss.access_token,
                &format!("/api/v2/admin/users/{}", user.user_id()),
                &json!({"status": "suspended"}),
            )
            .await;
        assert_eq!(res.status().as_u16(), 200);
        let suspended_at = tokio::time::Instant::now();
        loop {
            let status = client.get(&me).bearer_auth(&user.access_token).send().await.unwrap().status().as_u16();
            if status == 401 {
                break;
            }
            assert!(suspended_at.elapsed() < Duration::from_secs(1), "still {status} after a second");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let login = client
            .post(format!("{}/api/v2/auth/login", other.address))
            .json(&json!({"email": user.user["email"], "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_problem(login, 403, "account-suspended").await;
        // Reactivated, they sign in again.
        app.patch_as(
            &boss.access_token,
            &format!("/api/v2/admin/users/{}", user.user_id()),
            &json!({"status": "active"}),
        )
        .await;
        let email = user.user["email"].as_str().unwrap().to_owned();
        assert_eq!(app.login(&email, PASSWORD).await.status(), 200);
    }
);
