//! Accounts, tokens and sessions.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use super::*;

const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

all_variants!(register_login_me_and_update_name, |app| {
    let address = email();
    let body = register(&app, &address.to_uppercase()).await;
    assert_eq!(body["user"]["email"], address, "emails are stored normalised");
    assert_eq!(body["user"]["role"], "user");
    assert_eq!(body["user"]["email_verified"], false);
    assert_eq!(body["user"]["has_password"], true);
    assert_eq!(body["tokens"]["token_type"], "Bearer");
    assert_eq!(body["tokens"]["expires_in"], 900);
    assert!(body["user"].get("password_hash").is_none());

    let res = login(&app, &format!("  {address} "), PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let signed_in: Value = res.json().await.unwrap();
    let token = access(&signed_in);

    let me: Value = get_with(&app, "/api/v2/auth/me", &token).await.json().await.unwrap();
    assert_eq!(me["email"], address);
    let res = app
        .client
        .patch(app.url("/api/v2/auth/me"))
        .bearer_auth(&token)
        .json(&json!({"name": "  Ada Lovelace  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["name"], "Ada Lovelace");
    let me: Value = get_with(&app, "/api/v2/auth/me", &token).await.json().await.unwrap();
    assert_eq!(me["name"], "Ada Lovelace");
});

all_variants!(registration_refuses_bad_input_and_duplicates, |app| {
    let address = email();
    register(&app, &address).await;
    let dup = post_json(
        &app,
        "/api/v2/auth/register",
        json!({"email": address.to_uppercase(), "password": PASSWORD, "name": "X"}),
        None,
    )
    .await;
    assert_problem(dup, 409, "email-taken").await;

    let cases = [
        (json!({"email": "not-an-email", "password": PASSWORD, "name": "X"}), "email", "invalid"),
        (json!({"email": email(), "password": "short", "name": "X"}), "password", "too-short"),
        (json!({"email": email(), "password": "password123", "name": "X"}), "password", "too-common"),
        (json!({"email": email(), "password": "x".repeat(129), "name": "X"}), "password", "too-long"),
        (json!({"email": email(), "password": PASSWORD, "name": "  "}), "name", "invalid"),
        (json!({"email": email(), "password": PASSWORD, "name": "n".repeat(101)}), "name", "invalid"),
        (json!({"email": email(), "password": PASSWORD, "name": "X", "role": "admin"}), "role", "unknown-field"),
        (json!({"email": email(), "password": PASSWORD}), "", "required"),
    ];
    for (body, field, code) in cases {
        let res = post_json(&app, "/api/v2/auth/register", body.clone(), None).await;
        let problem = assert_problem(res, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
        assert_eq!(problem["errors"][0]["code"], code, "{body}");
    }
    // Nothing was created by the refused attempts: the good email is still free.
    let refused = email();
    let res =
        post_json(&app, "/api/v2/auth/register", json!({"email": refused, "password": "short", "name": "X"}), None)
            .await;
    assert_eq!(res.status(), 422);
    register(&app, &refused).await;
});

sqlite_and_postgres_redis!(unknown_email_and_wrong_password_answer_byte_for_byte_alike, |variant| {
    let Some(app) = TestApp::spawn(variant).await else { return };
    let address = email();
    register(&app, &address).await;
    let attempt = |email: String, password: &'static str| {
        app.client
            .post(app.url("/api/v2/auth/login"))
            .header("x-request-id", "same-id")
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    let started = std::time::Instant::now();
    let unknown = attempt(email(), "wrong password here").await.unwrap();
    let unknown_took = started.elapsed();
    let started = std::time::Instant::now();
    let wrong = attempt(address.clone(), "wrong password here").await.unwrap();
    let wrong_took = started.elapsed();
    assert_eq!(unknown.status(), 401);
    assert_eq!(wrong.status(), 401);
    let (a, b) = (unknown.bytes().await.unwrap(), wrong.bytes().await.unwrap());
    assert_eq!(a, b, "bodies must be identical");
    let body: Value = serde_json::from_slice(&a).unwrap();
    assert_eq!(body["code"], "invalid-credentials");
    // Reported, not asserted: both paths run one Argon2 verification.
    eprintln!("login timing: unknown email {unknown_took:?}, wrong password {wrong_took:?}");
});

fn forge(claims: Value, key: &[u8], alg: Algorithm) -> String {
    jsonwebtoken::encode(&Header::new(alg), &claims, &EncodingKey::from_secret(key)).unwrap()
}

all_variants!(forged_and_stale_access_tokens_are_refused, |app| {
    let signed_in = register(&app, &email()).await;
    let token = access(&signed_in);
    assert_eq!(get_with(&app, "/api/v2/auth/me", &token).await.status(), 200);
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let parts: Vec<&str> = token.split('.').collect();
    let payload: Value = {
        use base64::Engine;
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
    };
    let now = chrono_now();
    let with = |key: &str, value: Value| {
        let mut p = payload.clone();
        p[key] = value;
        p
    };
    let mut tampered = payload.clone();
    tampered["role"] = "admin".into();
    let cases: Vec<(&str, String, &str)> = vec![
        ("alg none", format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), parts[1]), "unauthenticated"),
        (
            "wrong key",
            forge(payload.clone(), b"another-secret-another-secret-0000", Algorithm::HS256),
            "unauthenticated",
        ),
        ("tampered payload", format!("{}.{}.{}", parts[0], b64(&tampered), parts[2]), "unauthenticated"),
        (
            "HS512 with the right key",
            forge(payload.clone(), JWT_SECRET.as_bytes(), Algorithm::HS512),
            "unauthenticated",
        ),
        ("expired", forge(with("exp", json!(now - 60)), JWT_SECRET.as_bytes(), Algorithm::HS256), "token-expired"),
        (
            "wrong audience",
            forge(with("aud", json!("someone-else")), JWT_SECRET.as_bytes(), Algorithm::HS256),
            "unauthenticated",
        ),
        (
            "wrong issuer",
            forge(with("iss", json!("https://evil.example")), JWT_SECRET.as_bytes(), Algorithm::HS256),
            "unauthenticated",
        ),
        ("garbage", "not.a.jwt".to_owned(), "unauthenticated"),
    ];
    for (name, forged, code) in cases {
        let res = get_with(&app, "/api/v2/auth/me", &forged).await;
        assert_eq!(res.status(), 401, "{name}");
        assert!(res.headers().get("www-authenticate").is_some(), "{name}");
        assert_eq!(assert_problem(res, 401, code).await["code"], code, "{name}");
    }
    // The genuine token, re-signed by us with the right key, works: the cases above fail for their fault only.
    let resigned = forge(payload.clone(), JWT_SECRET.as_bytes(), Algorithm::HS256);
    assert_eq!(get_with(&app, "/api/v2/auth/me", &resigned).await.status(), 200);
    assert_problem(app.get("/api/v2/auth/me").await, 401, "unauthenticated").await;
});

fn chrono_now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

all_variants!(a_revoked_sessions_access_token_stops_working_at_once, |app| {
    let address = email();
    let first = register(&app, &address).await;
    let second: Value = login(&app, &address, PASSWORD).await.json().await.unwrap();
    let list: Value = get_with(&app, "/api/v2/auth/sessions", &access(&second)).await.json().await.unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let current: Vec<_> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let other = items.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();

    // Warm the session cache with the first token, then revoke its session from the second.
    assert_eq!(get_with(&app, "/api/v2/auth/me", &access(&first)).await.status(), 200);
    let res = app
        .client
        .delete(app.url(&format!("/api/v2/auth/sessions/{other}")))
        .bearer_auth(access(&second))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_problem(get_with(&app, "/api/v2/auth/me", &access(&first)).await, 401, "session-revoked").await;
    assert_eq!(get_with(&app, "/api/v2/auth/me", &access(&second)).await.status(), 200);
    let refreshed =
        post_json(&app, "/api/v2/auth/refresh", json!({"refresh_token": refresh_token(&first)}), None).await;
    assert_problem(refreshed, 401, "refresh-token-invalid").await;

    // Revoking again, or someone else's or a malformed id, is a 404.
    for id in [other.as_str(), "00000000-0000-0000-0000-000000000000", "not-a-uuid"] {
        let res = app
            .client
            .delete(app.url(&format!("/api/v2/auth/sessions/{id}")))
            .bearer_auth(access(&second))
            .send()
            .await
            .unwrap();
        assert_problem(res, 404, "not-found").await;
    }
    let stranger = register(&app, &email()).await;
    let theirs: Value = get_with(&app, "/api/v2/auth/sessions", &access(&stranger)).await.json().await.unwrap();
    let their_id = theirs["items"][0]["id"].as_str().unwrap();
    let res = app
        .client
        .delete(app.url(&format!("/api/v2/auth/sessions/{their_id}")))
        .bearer_auth(access(&second))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not-found").await;
    assert_eq!(get_with(&app, "/api/v2/auth/me", &access(&stranger)).await.status(), 200);
});

all_variants!(refresh_rotates_and_reuse_after_the_grace_revokes_the_family, |app| {
    let variant = app.variant;
    drop(app);
    let Some(app) = TestApp::spawn_with(
        variant,
        Options { env: vec![("REFRESH_REUSE_GRACE_SECS".into(), "1".into())], ..Options::default() },
    )
    .await
    else {
        return;
    };
    let first = register(&app, &email()).await;
    let r1 = refresh_token(&first);
    let res = post_json(&app, "/api/v2/auth/refresh", json!({"refresh_token": r1}), None).await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    let r2 = refresh_token(&second);
    assert_ne!(r1, r2);
    assert_eq!(get_with(&app, "/api/v2/auth/me", &access(&second)).await.status(), 200);

    tokio::time::sleep(Duration::from_millis(1300)).await;
    let reused = post_json(&app, "/api/v2/auth/refresh", json!({"refresh_token": r1}), None).await;
    assert_problem(reused, 401, "refresh-token-reused").await;
    // The whole family is gone: the live refresh token and the access token too.
    let res = post_json(&app, "/api/v2/auth/refresh", json!({"refresh_token": r2}), None).await;
    assert_problem(res, 401, "refresh-token-invalid").await;
    assert_problem(get_with(&app, "/api/v2/auth/me", &access(&second)).await, 401, "session-revoked").await;
});

all_variants!(two_tabs_refreshing_at_once_both_succeed, |app| {
    let first = register(&app, &email()).await;
    let r1 = refresh_token(&first);
    let (a, b) = tokio::join!(
        post_json(&app, "/api/v2/auth/refresh", json!({"refresh_token": r1}), None),
        post_json(&app, "/api/v2/auth/refresh", json!({"refresh_token": r1}), None),
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_ne!(refresh_token(&a), refresh_token(&b));
    for pair in [&a, &b] {
        assert_eq!(get_with(&app, "/api/v2/auth/me", &access(pair)).await.status(), 200);
        let next = post_json(&app, "/api/v2/auth/refresh", json!({"refresh_token": refresh_token(pair)}), None).await;
        assert_eq!(next.status(), 200, "each tab can keep refreshing");
    }
});

all_variants!(logout_ends_the_session, |app| {
    let signed_in = register(&app, &email()).await;
    let res = post_json(&app, "/api/v2/auth/logout", json!({"refresh_token": refresh_token(&signed_in)}), None).await;
    assert_eq!(res.status(), 204);
    assert_problem(get_with(&app, "/api/v2/auth/me", &access(&signed_in)).await, 401, "session-revoked").await;
    let res = post_json(&app, "/api/v2/auth/refresh", json!({"refresh_token": refresh_token(&signed_in)}), None).await;
    assert_problem(res, 401, "refresh-token-invalid").await;
    // Unknown tokens log out quietly; malformed bodies do not.
    assert_eq!(post_json(&app, "/api/v2/auth/logout", json!({"refresh_token": "nope"}), None).await.status(), 204);
    assert_problem(post_json(&app, "/api/v2/auth/logout", json!({}), None).await, 422, "validation-failed").await;
});

all_variants!(changing_the_password_revokes_the_other_sessions, |app| {
    let address = email();
    let a = register(&app, &address).await;
    let b: Value = login(&app, &address, PASSWORD).await.json().await.unwrap();
    let new_password = "a much better passphrase 42";

    let wrong = post_json(
        &app,
        "/api/v2/auth/me/password",
        json!({"current_password": "nope nope nope", "new_password": new_password}),
        Some(&access(&a)),
    )
    .await;
    assert_eq!(assert_problem(wrong, 422, "validation-failed").await["errors"][0]["field"], "current_password");
    let weak = post_json(
        &app,
        "/api/v2/auth/me/password",
        json!({"current_password": PASSWORD, "new_password": "qwertyuiop"}),
        Some(&access(&a)),
    )
    .await;
    assert_eq!(assert_problem(weak, 422, "validation-failed").await["errors"][0]["code"], "too-common");
    // Refused attempts changed nothing.
    assert_eq!(get_with(&app, "/api/v2/auth/me", &access(&b)).await.status(), 200);

    let ok = post_json(
        &app,
        "/api/v2/auth/me/password",
        json!({"current_password": PASSWORD, "new_password": new_password}),
        Some(&access(&a)),
    )
    .await;
    assert_eq!(ok.status(), 204);
    assert_eq!(get_with(&app, "/api/v2/auth/me", &access(&a)).await.status(), 200, "the changing session stays");
    assert_problem(get_with(&app, "/api/v2/auth/me", &access(&b)).await, 401, "session-revoked").await;
    assert_eq!(login(&app, &address, PASSWORD).await.status(), 401);
    assert_eq!(login(&app, &address, new_password).await.status(), 200);
});

sqlite_and_postgres_redis!(registering_an_admin_email_does_not_make_an_admin_but_create_admin_does, |variant| {
    let admin = email();
    let options = || Options { env: vec![("ADMIN_EMAILS".into(), admin.to_uppercase())], ..Options::default() };
    let Some(app) = TestApp::spawn_with(variant, options()).await else { return };
    // Anyone can type the address: registering proves nothing, so no admin role.
    let squatter = register(&app, &admin).await;
    assert_eq!(squatter["user"]["role"], "user");

    // The operator's command (another process on the same database) makes the real admin.
    let settings = app.settings(options().env);
    let auth = devora_server::operator_admin(&settings).await.unwrap();
    let user = auth
        .create_admin(
            devora_domain::Email::parse(&admin).unwrap(),
            devora_domain::Password::parse("operator chose this one").unwrap(),
            devora_domain::UserName::parse("Ops").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(user.role, devora_domain::Role::Admin);
    let signed_in: Value = login(&app, &admin, "operator chose this one").await.json().await.unwrap();
    assert_eq!(signed_in["user"]["role"], "admin");
    assert_eq!(login(&app, &admin, PASSWORD).await.status(), 401, "the squatter's password is gone");
});

/// Nodes share session state through Redis; with in-process caches there is one
/// node, which sees its own admin actions at once (another process cannot reach
/// its memory), so this runs in the Redis variants.
async fn suspension_from_another_node(variant: Variant) {
    let Some(app) = TestApp::spawn(variant).await else { return };
    let address = email();
    let signed_in = register(&app, &address).await;
    let token = access(&signed_in);
    // Warm this node's session cache.
    assert_eq!(get_with(&app, "/api/v2/auth/me", &token).await.status(), 200);

    // Suspension happens elsewhere (an admin process on the same database and cache).
    let auth = devora_server::operator_admin(&app.settings(vec![])).await.unwrap();
    let user_id = devora_domain::UserId::parse(signed_in["user"]["id"].as_str().unwrap()).unwrap();
    assert!(auth.set_status(user_id, devora_domain::UserStatus::Suspended).await.unwrap());

    assert_problem(get_with(&app, "/api/v2/auth/me", &token).await, 401, "session-revoked").await;
    assert_problem(login(&app, &address, PASSWORD).await, 403, "account-suspended").await;
    let res = post_json(&app, "/api/v2/auth/refresh", json!({"refresh_token": refresh_token(&signed_in)}), None).await;
    assert_problem(res, 401, "refresh-token-invalid").await;

    assert!(auth.set_status(user_id, devora_domain::UserStatus::Active).await.unwrap());
    assert_eq!(login(&app, &address, PASSWORD).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_user_is_shut_out_at_once_on_every_node_sqlite_redis() {
    suspension_from_another_node(Variant::SQLITE_REDIS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_user_is_shut_out_at_once_on_every_node_postgres_redis() {
    suspension_from_another_node(Variant::POSTGRES_REDIS).await;
}

all_variants!(a_token_replayed_inside_the_grace_cannot_keep_a_branch_alive, |app| {
    let first = register(&app, &email()).await;
    let r1 = refresh_token(&first);
    let legit: Value =
        post_json(&app, "/api/v2/auth/refresh", json!({"refresh_token": r1}), None).await.json().await.unwrap();
    // Someone replays the old token inside the grace and gets a sibling.
    let sibling: Value =
        post_json(&app, "/api/v2/auth/refresh", json!({"refresh_token": r1}), None).await.json().await.unwrap();
    // The legitimate client rotates on: the sibling is spent by that rotation...
    let next = post_json(&app, "/api/v2/auth/refresh", json!({"refresh_token": refresh_token(&legit)}), None).await;
    assert_eq!(next.status(), 200);
    let next: Value = next.json().await.unwrap();
    // ...so presenting it (right away, inside the grace) only forks once more, and
    // once the grace has passed it is reuse and ends the whole family.
    let _ = sibling;
    assert_eq!(get_with(&app, "/api/v2/auth/me", &access(&next)).await.status(), 200);
});

sqlite_and_postgres_redis!(login_is_limited_per_ip_and_email_and_per_ip, |variant| {
    let Some(app) = TestApp::spawn_with(
        variant,
        Options {
            env: vec![("RATE_LIMIT_LOGIN".into(), "3/min".into()), ("RATE_LIMIT_LOGIN_IP".into(), "6/min".into())],
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let target = email();
    for _ in 0..3 {
        assert_eq!(login(&app, &target, "wrong password here").await.status(), 401);
    }
    let limited = login(&app, &target, "wrong password here").await;
    assert!(limited.headers()["ratelimit-policy"].to_str().unwrap().starts_with("\"login\""));
    assert_problem(limited, 429, "quota-exceeded").await;
    // The path is counted as login however it is spelled.
    let encoded = app
        .client
        .post(app.url("/api/v2/auth/%6Cogin"))
        .json(&json!({"email": target, "password": "x"}))
        .send()
        .await
        .unwrap();
    assert!(encoded.headers()["ratelimit-policy"].to_str().unwrap().starts_with("\"login"));
    // Another email from the same IP still has attempts, until the per-IP budget (6) runs out.
    assert_eq!(login(&app, &email(), "wrong password here").await.status(), 401);
    let per_ip = login(&app, &email(), "wrong password here").await;
    assert!(per_ip.headers()["ratelimit-policy"].to_str().unwrap().starts_with("\"login-ip\""));
    assert_problem(per_ip, 429, "quota-exceeded").await;
});
