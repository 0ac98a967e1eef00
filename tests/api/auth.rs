//! Accounts, tokens and sessions.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use super::*;

const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

scenario!(register_login_me_and_update_name, [all], |app: TestApp| {
    let address = unique_email();
    let body = app.register(&address.to_uppercase()).await;
    assert_eq!(body.user["email"], address, "emails are stored normalised");
    assert_eq!(body.user["role"], "user");
    assert_eq!(body.user["email_verified"], false);
    assert_eq!(body.user["has_password"], true);
    assert_eq!(body.tokens["token_type"], "Bearer");
    assert_eq!(body.tokens["expires_in"], 900);
    assert!(body.user.get("password_hash").is_none());

    let res = app.login(&format!("  {address} "), PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let token = SignedIn::read(res, 200).await.access_token;

    let me: Value = app.me(&token).await.json().await.unwrap();
    assert_eq!(me["email"], address);
    let res = app.patch_as(&token, "/api/v2/auth/me", &json!({"name": "  Ada Lovelace  "})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["name"], "Ada Lovelace");
    let me: Value = app.me(&token).await.json().await.unwrap();
    assert_eq!(me["name"], "Ada Lovelace");
});

scenario!(registration_refuses_bad_input_and_duplicates, [all], |app: TestApp| {
    let address = unique_email();
    app.register(&address).await;
    let dup = app
        .post("/api/v2/auth/register", &json!({"email": address.to_uppercase(), "password": PASSWORD, "name": "X"}))
        .await;
    assert_problem(dup, 409, "email-taken").await;

    let cases = [
        (json!({"email": "not-an-email", "password": PASSWORD, "name": "X"}), "email", "invalid"),
        (json!({"email": unique_email(), "password": "short", "name": "X"}), "password", "too-short"),
        (json!({"email": unique_email(), "password": "password123", "name": "X"}), "password", "too-common"),
        (json!({"email": unique_email(), "password": "x".repeat(129), "name": "X"}), "password", "too-long"),
        (json!({"email": unique_email(), "password": PASSWORD, "name": "  "}), "name", "invalid"),
        (json!({"email": unique_email(), "password": PASSWORD, "name": "n".repeat(101)}), "name", "invalid"),
        (json!({"email": unique_email(), "password": PASSWORD, "name": "X", "role": "admin"}), "role", "unknown-field"),
        (json!({"email": unique_email(), "password": PASSWORD}), "", "required"),
    ];
    for (body, field, code) in cases {
        let res = app.post("/api/v2/auth/register", &body).await;
        let problem = assert_problem(res, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
        assert_eq!(problem["errors"][0]["code"], code, "{body}");
    }
    // Nothing was created by the refused attempts: the good email is still free.
    let refused = unique_email();
    let res = app.post("/api/v2/auth/register", &json!({"email": refused, "password": "short", "name": "X"})).await;
    assert_eq!(res.status(), 422);
    app.register(&refused).await;
});

scenario!(
    unknown_email_and_wrong_password_answer_byte_for_byte_alike,
    [sqlite_memory, postgres_redis],
    |app: TestApp| {
        let address = unique_email();
        app.register(&address).await;
        let attempt = |email: String, password: &'static str| {
            app.client
                .post(app.url("/api/v2/auth/login"))
                .header("x-request-id", "same-id")
                .json(&json!({"email": email, "password": password}))
                .send()
        };
        let started = std::time::Instant::now();
        let unknown = attempt(unique_email(), "wrong password here").await.unwrap();
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
    }
);

fn forge(claims: Value, key: &[u8], alg: Algorithm) -> String {
    jsonwebtoken::encode(&Header::new(alg), &claims, &EncodingKey::from_secret(key)).unwrap()
}

scenario!(forged_and_stale_access_tokens_are_refused, [all], |app: TestApp| {
    let token = app.new_user().await.access_token;
    assert_eq!(app.me(&token).await.status(), 200);
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
        let res = app.me(&forged).await;
        assert_eq!(res.status(), 401, "{name}");
        assert!(res.headers().get("www-authenticate").is_some(), "{name}");
        assert_eq!(assert_problem(res, 401, code).await["code"], code, "{name}");
    }
    // The genuine token, re-signed by us with the right key, works: the cases above fail for their fault only.
    let resigned = forge(payload.clone(), JWT_SECRET.as_bytes(), Algorithm::HS256);
    assert_eq!(app.me(&resigned).await.status(), 200);
    assert_problem(app.get("/api/v2/auth/me").await, 401, "unauthenticated").await;
});

fn chrono_now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

scenario!(a_revoked_sessions_access_token_stops_working_at_once, [all], |app: TestApp| {
    let address = unique_email();
    let first = app.register(&address).await;
    let second = app.sign_in(&address, PASSWORD).await;
    let list = app.get_json_as(&second.access_token, "/api/v2/auth/sessions").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let current: Vec<_> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let other = items.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();

    // Warm the session cache with the first token, then revoke its session from the second.
    assert_eq!(app.me(&first.access_token).await.status(), 200);
    assert_eq!(app.revoke_session(&second.access_token, &other).await.status(), 204);
    assert_problem(app.me(&first.access_token).await, 401, "session-revoked").await;
    assert_eq!(app.me(&second.access_token).await.status(), 200);
    assert_problem(app.refresh(&first.refresh_token).await, 401, "refresh-token-invalid").await;

    // Revoking again, or someone else's or a malformed id, is a 404.
    for id in [other.as_str(), "00000000-0000-0000-0000-000000000000", "not-a-uuid"] {
        assert_problem(app.revoke_session(&second.access_token, id).await, 404, "not-found").await;
    }
    let stranger = app.new_user().await;
    let theirs = app.get_json_as(&stranger.access_token, "/api/v2/auth/sessions").await;
    let their_id = theirs["items"][0]["id"].as_str().unwrap();
    assert_problem(app.revoke_session(&second.access_token, their_id).await, 404, "not-found").await;
    assert_eq!(app.me(&stranger.access_token).await.status(), 200);
});

scenario!(refresh_rotates_and_reuse_after_the_grace_revokes_the_family, [all], |variant: Variant| {
    let app = TestApp::spawn_with(variant, Options::with_env(&[("REFRESH_REUSE_GRACE_SECS", "1")])).await;
    let first = app.new_user().await;
    let r1 = first.refresh_token;
    let second = SignedIn::read(app.refresh(&r1).await, 200).await;
    let r2 = second.refresh_token.clone();
    assert_ne!(r1, r2);
    assert_eq!(app.me(&second.access_token).await.status(), 200);

    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_problem(app.refresh(&r1).await, 401, "refresh-token-reused").await;
    // The whole family is gone: the live refresh token and the access token too.
    assert_problem(app.refresh(&r2).await, 401, "refresh-token-invalid").await;
    assert_problem(app.me(&second.access_token).await, 401, "session-revoked").await;
});

scenario!(two_tabs_refreshing_at_once_both_succeed, [all], |app: TestApp| {
    let r1 = app.new_user().await.refresh_token;
    let (a, b) = tokio::join!(app.refresh(&r1), app.refresh(&r1));
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let (a, b) = (SignedIn::read(a, 200).await, SignedIn::read(b, 200).await);
    assert_ne!(a.refresh_token, b.refresh_token);
    for pair in [&a, &b] {
        assert_eq!(app.me(&pair.access_token).await.status(), 200);
        let next = app.refresh(&pair.refresh_token).await;
        assert_eq!(next.status(), 200, "each tab can keep refreshing");
    }
});

scenario!(logout_ends_the_session, [all], |app: TestApp| {
    let signed_in = app.new_user().await;
    assert_eq!(app.logout(&signed_in.refresh_token).await.status(), 204);
    assert_problem(app.me(&signed_in.access_token).await, 401, "session-revoked").await;
    assert_problem(app.refresh(&signed_in.refresh_token).await, 401, "refresh-token-invalid").await;
    // Unknown tokens log out quietly; malformed bodies do not.
    assert_eq!(app.logout("nope").await.status(), 204);
    assert_problem(app.post("/api/v2/auth/logout", &json!({})).await, 422, "validation-failed").await;
});

scenario!(changing_the_password_revokes_the_other_sessions, [all], |app: TestApp| {
    let address = unique_email();
    let a = app.register(&address).await.access_token;
    let b = app.sign_in(&address, PASSWORD).await.access_token;
    let new_password = "a much better passphrase 42";

    let wrong = app.change_password(&a, "nope nope nope", new_password).await;
    assert_eq!(assert_problem(wrong, 422, "validation-failed").await["errors"][0]["field"], "current_password");
    let weak = app.change_password(&a, PASSWORD, "qwertyuiop").await;
    assert_eq!(assert_problem(weak, 422, "validation-failed").await["errors"][0]["code"], "too-common");
    // Refused attempts changed nothing.
    assert_eq!(app.me(&b).await.status(), 200);

    assert_eq!(app.change_password(&a, PASSWORD, new_password).await.status(), 204);
    assert_eq!(app.me(&a).await.status(), 200, "the changing session stays");
    assert_problem(app.me(&b).await, 401, "session-revoked").await;
    assert_eq!(app.login(&address, PASSWORD).await.status(), 401);
    assert_eq!(app.login(&address, new_password).await.status(), 200);
});

scenario!(
    registering_an_admin_email_does_not_make_an_admin_but_create_admin_does,
    [sqlite_memory, postgres_redis],
    |variant: Variant| {
        let admin = unique_email();
        let options = || Options { env: vec![("ADMIN_EMAILS".into(), admin.to_uppercase())], ..Options::default() };
        let app = TestApp::spawn_with(variant, options()).await;
        // Anyone can type the address: registering proves nothing, so no admin role.
        let squatter = app.register(&admin).await;
        assert_eq!(squatter.user["role"], "user");

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
        let signed_in = app.sign_in(&admin, "operator chose this one").await;
        assert_eq!(signed_in.user["role"], "admin");
        assert_eq!(app.login(&admin, PASSWORD).await.status(), 401, "the squatter's password is gone");
    }
);

// Nodes share session state through Redis; with in-process caches there is one
// node, which sees its own admin actions at once (another process cannot reach
// its memory), so this runs in the Redis variants.
scenario!(a_suspended_user_is_shut_out_at_once_on_every_node, [sqlite_redis, postgres_redis], |app: TestApp| {
    let address = unique_email();
    let signed_in = app.register(&address).await;
    let token = signed_in.access_token.clone();
    // Warm this node's session cache.
    assert_eq!(app.me(&token).await.status(), 200);

    // Suspension happens elsewhere (an admin process on the same database and cache).
    let auth = devora_server::operator_admin(&app.settings(vec![])).await.unwrap();
    let user_id = devora_domain::UserId::parse(signed_in.user_id()).unwrap();
    assert!(auth.set_status(user_id, devora_domain::UserStatus::Suspended).await.unwrap());

    assert_problem(app.me(&token).await, 401, "session-revoked").await;
    assert_problem(app.login(&address, PASSWORD).await, 403, "account-suspended").await;
    assert_problem(app.refresh(&signed_in.refresh_token).await, 401, "refresh-token-invalid").await;

    assert!(auth.set_status(user_id, devora_domain::UserStatus::Active).await.unwrap());
    assert_eq!(app.login(&address, PASSWORD).await.status(), 200);
});

// The rule (the db adapter's `rotate`): presenting a live token spends every
// live token of its family; a token spent within the grace (a concurrent tab's)
// forks once more; a token spent longer ago is reuse and ends the family.
scenario!(a_token_replayed_inside_the_grace_cannot_keep_a_branch_alive, [all], |variant: Variant| {
    // A grace short enough to wait out, long enough for back-to-back calls.
    let app = TestApp::spawn_with(variant, Options::with_env(&[("REFRESH_REUSE_GRACE_SECS", "2")])).await;
    let r1 = app.new_user().await.refresh_token;
    let legit = SignedIn::read(app.refresh(&r1).await, 200).await;
    // Someone replays the old token inside the grace and gets a sibling.
    let sibling = SignedIn::read(app.refresh(&r1).await, 200).await;
    assert_ne!(sibling.refresh_token, legit.refresh_token);
    // The legitimate client rotates on: the sibling is spent by that rotation...
    let next = SignedIn::read(app.refresh(&legit.refresh_token).await, 200).await;
    // ...so presenting it right away, inside the grace, only forks once more...
    let fork = SignedIn::read(app.refresh(&sibling.refresh_token).await, 200).await;
    assert_ne!(fork.refresh_token, next.refresh_token);
    assert_eq!(app.me(&next.access_token).await.status(), 200);
    assert_eq!(app.me(&fork.access_token).await.status(), 200);
    // ...and once the grace has passed it is reuse and ends the whole family,
    // the legitimate branch and the fork with it.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_problem(app.refresh(&sibling.refresh_token).await, 401, "refresh-token-reused").await;
    assert_problem(app.refresh(&next.refresh_token).await, 401, "refresh-token-invalid").await;
    assert_problem(app.refresh(&fork.refresh_token).await, 401, "refresh-token-invalid").await;
    assert_problem(app.me(&next.access_token).await, 401, "session-revoked").await;
    assert_problem(app.me(&fork.access_token).await, 401, "session-revoked").await;
});

scenario!(login_is_limited_per_ip_and_email_and_per_ip, [sqlite_memory, postgres_redis], |variant: Variant| {
    let options = Options::with_env(&[("RATE_LIMIT_LOGIN", "3/min"), ("RATE_LIMIT_LOGIN_IP", "6/min")]);
    let app = TestApp::spawn_with(variant, options).await;
    let target = unique_email();
    for _ in 0..3 {
        assert_eq!(app.login(&target, "wrong password here").await.status(), 401);
    }
    let limited = app.login(&target, "wrong password here").await;
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
    assert_eq!(app.login(&unique_email(), "wrong password here").await.status(), 401);
    let per_ip = app.login(&unique_email(), "wrong password here").await;
    assert!(per_ip.headers()["ratelimit-policy"].to_str().unwrap().starts_with("\"login-ip\""));
    assert_problem(per_ip, 429, "quota-exceeded").await;
});
