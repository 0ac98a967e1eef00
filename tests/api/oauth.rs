//! Google (any OIDC issuer) and GitHub sign-in against local stand-ins.

use devora_e2e::standins::{FakeGitHubAccount, FakeIdentity, GitHubStandIn, IdTokenFault, OidcIssuer};
use serde_json::json;

use super::*;

struct OAuthApp {
    app: TestApp,
    google: OidcIssuer,
    github: GitHubStandIn,
}

async fn spawn(variant: Variant) -> Option<OAuthApp> {
    let google = OidcIssuer::start("google-client", "google-secret").await;
    let github = GitHubStandIn::start("github-client", "github-secret").await;
    let env = vec![
        ("GOOGLE_CLIENT_ID".into(), "google-client".into()),
        ("GOOGLE_CLIENT_SECRET".into(), "google-secret".into()),
        ("GOOGLE_ISSUER_URL".into(), google.url.clone()),
        ("GITHUB_CLIENT_ID".into(), "github-client".into()),
        ("GITHUB_CLIENT_SECRET".into(), "github-secret".into()),
        ("GITHUB_OAUTH_BASE".into(), github.url.clone()),
        ("GITHUB_API_BASE".into(), github.url.clone()),
    ];
    let app = TestApp::spawn_with(variant, Options { env, ..Options::default() }).await?;
    Some(OAuthApp { app, google, github })
}

fn identity(email: &str, verified: bool) -> FakeIdentity {
    FakeIdentity {
        sub: format!("google-{}", uuid::Uuid::new_v4().simple()),
        email: email.into(),
        email_verified: verified,
        name: "Grace Hopper".into(),
    }
}

/// The web app's PKCE verifier for these tests, and its S256 challenge.
const VERIFIER: &str = "web-app-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";

fn challenge(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// GET /authorize (bound to `VERIFIER`); returns the provider URL it redirects to
/// and the state in it.
async fn authorize(app: &TestApp, provider: &str, redirect_to: Option<&str>) -> (String, String) {
    let mut path = format!("/api/v2/auth/oauth/{provider}/authorize?code_challenge={}", challenge(VERIFIER));
    if let Some(to) = redirect_to {
        path.push_str(&format!(
            "&redirect_to={}",
            url::form_urlencoded::byte_serialize(to.as_bytes()).collect::<String>()
        ));
    }
    let res = app.get(&path).await;
    assert_eq!(res.status(), 302, "{}", res.text().await.unwrap());
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let state = url::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    (location, state)
}

/// GET /callback; returns where the browser is sent.
async fn callback(app: &TestApp, provider: &str, code: &str, state: &str) -> url::Url {
    let res = app.get(&format!("/api/v2/auth/oauth/{provider}/callback?code={code}&state={state}")).await;
    assert_eq!(res.status(), 302);
    url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap()
}

fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

async fn exchange(app: &TestApp, code: &str) -> reqwest::Response {
    exchange_as(app, code, VERIFIER).await
}

async fn exchange_as(app: &TestApp, code: &str, verifier: &str) -> reqwest::Response {
    post_json(app, "/api/v2/auth/oauth/exchange", json!({"code": code, "code_verifier": verifier}), None).await
}

async fn google_sign_in(o: &OAuthApp, who: FakeIdentity) -> url::Url {
    let (location, state) = authorize(&o.app, "google", None).await;
    let code = o.google.approve(&location, who);
    callback(&o.app, "google", &code, &state).await
}

all_variants!(google_sign_in_creates_an_account_with_a_one_time_code, |app| {
    let variant = app.variant;
    drop(app);
    let Some(o) = spawn(variant).await else { return };
    let providers: Value = o.app.get("/api/v2/auth/oauth/providers").await.json().await.unwrap();
    let ids: Vec<_> =
        providers["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, vec!["github", "google"]);

    let address = email();
    let back = google_sign_in(&o, identity(&address, true)).await;
    assert_eq!(back.origin().ascii_serialization(), "http://localhost:5173");
    assert_eq!(back.path(), "/auth/callback");
    assert!(param(&back, "error").is_none(), "{back}");
    assert!(!back.as_str().contains("access_token") && !back.as_str().contains("eyJ"), "no tokens in URLs: {back}");
    let code = param(&back, "code").unwrap();

    let res = exchange(&o.app, &code).await;
    assert_eq!(res.status(), 200);
    let signed_in: Value = res.json().await.unwrap();
    assert_eq!(signed_in["user"]["email"], address);
    assert_eq!(signed_in["user"]["email_verified"], true);
    assert_eq!(signed_in["user"]["has_password"], false);
    assert_eq!(signed_in["user"]["name"], "Grace Hopper");
    assert_eq!(get_with(&o.app, "/api/v2/auth/me", &access(&signed_in)).await.status(), 200);
    // The code is single use.
    assert_problem(exchange(&o.app, &code).await, 401, "login-code-invalid").await;
});

sqlite_and_postgres_redis!(a_login_code_signs_in_only_the_browser_that_started_the_sign_in, |variant| {
    let Some(o) = spawn(variant).await else { return };
    // The attacker signs in as themselves and stops at the callback's redirect;
    // the link (or the login code in it) reaches the victim's browser, whose web
    // app holds another verifier.
    let back = google_sign_in(&o, identity(&email(), true)).await;
    let code = param(&back, "code").unwrap();
    let victims_verifier = "victim-browser-verifier-0123456789-abcdefghijklmnopq";
    assert_problem(exchange_as(&o.app, &code, victims_verifier).await, 401, "login-code-invalid").await;
    // Refused and spent: not even the right verifier can use it now.
    assert_problem(exchange(&o.app, &code).await, 401, "login-code-invalid").await;
    // A verifier too short to be one is refused without spending anything.
    let back = google_sign_in(&o, identity(&email(), true)).await;
    let code = param(&back, "code").unwrap();
    assert_problem(exchange_as(&o.app, &code, "short").await, 401, "login-code-invalid").await;
    assert_eq!(exchange(&o.app, &code).await.status(), 200);
    // A sign-in must be bound: no challenge, a malformed one, or another method is refused.
    for (query, field) in [
        ("", "code_challenge"),
        ("?code_challenge=tooshort", "code_challenge"),
        (&format!("?code_challenge={}&code_challenge_method=plain", challenge(VERIFIER))[..], "code_challenge_method"),
    ] {
        let res = o.app.get(&format!("/api/v2/auth/oauth/google/authorize{query}")).await;
        let problem = assert_problem(res, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{query}");
    }
});

sqlite_and_postgres_redis!(the_same_identity_signs_in_to_the_same_account, |variant| {
    let Some(o) = spawn(variant).await else { return };
    let who = identity(&email(), true);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let back = google_sign_in(&o, who.clone()).await;
        let body: Value = exchange(&o.app, &param(&back, "code").unwrap()).await.json().await.unwrap();
        ids.push(body["user"]["id"].clone());
    }
    assert_eq!(ids[0], ids[1]);
});

all_variants!(id_tokens_that_fail_verification_are_refused, |app| {
    let variant = app.variant;
    drop(app);
    let Some(o) = spawn(variant).await else { return };
    for (fault, name) in [
        (IdTokenFault::WrongNonce, "wrong nonce"),
        (IdTokenFault::WrongAudience, "wrong audience"),
        (IdTokenFault::Expired, "expired"),
        (IdTokenFault::BadSignature, "bad signature"),
    ] {
        o.google.set_fault(fault);
        let address = email();
        let back = google_sign_in(&o, identity(&address, true)).await;
        assert_eq!(param(&back, "error").as_deref(), Some("identity-rejected"), "{name}: {back}");
        assert!(param(&back, "code").is_none(), "{name}");
        // No account was created.
        assert_eq!(login(&o.app, &address, PASSWORD).await.status(), 401, "{name}");
        let registered = post_json(
            &o.app,
            "/api/v2/auth/register",
            json!({"email": address, "password": PASSWORD, "name": "X"}),
            None,
        )
        .await;
        assert_eq!(registered.status(), 201, "{name}: the email must still be free");
    }
    o.google.set_fault(IdTokenFault::None);
    let back = google_sign_in(&o, identity(&email(), true)).await;
    assert!(param(&back, "code").is_some(), "the issuer works again: {back}");
});

sqlite_and_postgres_redis!(a_replayed_or_mismatched_state_is_refused, |variant| {
    let Some(o) = spawn(variant).await else { return };
    let (location, state) = authorize(&o.app, "google", None).await;
    let code = o.google.approve(&location, identity(&email(), true));
    let first = callback(&o.app, "google", &code, &state).await;
    assert!(param(&first, "code").is_some());
    let replay = callback(&o.app, "google", &code, &state).await;
    assert_eq!(param(&replay, "error").as_deref(), Some("invalid-state"));

    let forged = callback(&o.app, "google", "whatever", "made-up-state").await;
    assert_eq!(param(&forged, "error").as_deref(), Some("invalid-state"));

    // A state issued for GitHub is no good at Google's callback (and is spent by trying).
    let (gh_location, gh_state) = authorize(&o.app, "github", None).await;
    let crossed = callback(&o.app, "google", "whatever", &gh_state).await;
    assert_eq!(param(&crossed, "error").as_deref(), Some("invalid-state"));
    let gh_code = o.github.approve(&gh_location, gh_account(vec![(email(), true, true)]));
    let late = callback(&o.app, "github", &gh_code, &gh_state).await;
    assert_eq!(param(&late, "error").as_deref(), Some("invalid-state"));

    // The user declining at the provider comes back as an error.
    let (_, state) = authorize(&o.app, "google", None).await;
    let res =
        o.app.get(&format!("/api/v2/auth/oauth/google/callback?error=access_denied&state={state}&state=dup")).await;
    let back = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(param(&back, "error").as_deref(), Some("access-denied"));
});

sqlite_and_postgres_redis!(an_unverified_email_never_takes_over_an_account, |variant| {
    let Some(o) = spawn(variant).await else { return };
    let address = email();
    let owner = register(&o.app, &address).await;
    let back = google_sign_in(&o, identity(&address, false)).await;
    assert_eq!(param(&back, "error").as_deref(), Some("email-unverified"));
    // The owner is untouched.
    assert_eq!(get_with(&o.app, "/api/v2/auth/me", &access(&owner)).await.status(), 200);
    assert_eq!(login(&o.app, &address, PASSWORD).await.status(), 200);

    // An unverified email with no account behind it makes a new, unverified account.
    let fresh = email();
    let back = google_sign_in(&o, identity(&fresh, false)).await;
    let body: Value = exchange(&o.app, &param(&back, "code").unwrap()).await.json().await.unwrap();
    assert_eq!(body["user"]["email_verified"], false);
});

sqlite_and_postgres_redis!(a_verified_owner_takes_back_an_account_someone_preregistered, |variant| {
    let Some(o) = spawn(variant).await else { return };
    let address = email();
    // Someone registers the address first, with a password, without proving it.
    let squatter = register(&o.app, &address).await;
    let back = google_sign_in(&o, identity(&address, true)).await;
    let owner: Value = exchange(&o.app, &param(&back, "code").unwrap()).await.json().await.unwrap();
    assert_eq!(owner["user"]["id"], squatter["user"]["id"]);
    assert_eq!(owner["user"]["email_verified"], true);
    assert_eq!(owner["user"]["has_password"], false);
    // The squatter's password and session no longer work.
    assert_eq!(login(&o.app, &address, PASSWORD).await.status(), 401);
    assert_problem(get_with(&o.app, "/api/v2/auth/me", &access(&squatter)).await, 401, "session-revoked").await;
});

fn gh_account(emails: Vec<(String, bool, bool)>) -> FakeGitHubAccount {
    FakeGitHubAccount { id: u64::from(rand_u32()), login: "octocat".into(), name: Some("The Octocat".into()), emails }
}

fn rand_u32() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32
}

all_variants!(github_sign_in_uses_the_primary_verified_email, |app| {
    let variant = app.variant;
    drop(app);
    let Some(o) = spawn(variant).await else { return };
    let primary = email();
    let account = gh_account(vec![(email(), false, true), (primary.clone(), true, true), (email(), false, false)]);
    let (location, state) = authorize(&o.app, "github", Some("/projects?tab=recent")).await;
    let code = o.github.approve(&location, account);
    let back = callback(&o.app, "github", &code, &state).await;
    assert_eq!(back.path(), "/projects");
    assert_eq!(param(&back, "tab").as_deref(), Some("recent"));
    let body: Value = exchange(&o.app, &param(&back, "code").unwrap()).await.json().await.unwrap();
    assert_eq!(body["user"]["email"], primary);
    assert_eq!(body["user"]["name"], "The Octocat");

    // No primary verified email: refused.
    let (location, state) = authorize(&o.app, "github", None).await;
    let code = o.github.approve(&location, gh_account(vec![(email(), true, false)]));
    let back = callback(&o.app, "github", &code, &state).await;
    assert_eq!(param(&back, "error").as_deref(), Some("email-required"));

    // A code GitHub does not know: refused.
    let (_, state) = authorize(&o.app, "github", None).await;
    let back = callback(&o.app, "github", "ghcode-forged", &state).await;
    assert_eq!(param(&back, "error").as_deref(), Some("identity-rejected"));
});

sqlite_and_postgres_redis!(a_provider_verified_admin_email_gets_the_admin_role, |variant| {
    let admin = email();
    let google = OidcIssuer::start("google-client", "google-secret").await;
    let env = vec![
        ("GOOGLE_CLIENT_ID".into(), "google-client".into()),
        ("GOOGLE_CLIENT_SECRET".into(), "google-secret".into()),
        ("GOOGLE_ISSUER_URL".into(), google.url.clone()),
        ("ADMIN_EMAILS".into(), admin.clone()),
    ];
    let Some(app) = TestApp::spawn_with(variant, Options { env, ..Options::default() }).await else {
        return;
    };
    let (location, state) = authorize(&app, "google", None).await;
    let code = google.approve(&location, identity(&admin, true));
    let back = callback(&app, "google", &code, &state).await;
    let body: Value = exchange(&app, &param(&back, "code").unwrap()).await.json().await.unwrap();
    assert_eq!(body["user"]["role"], "admin");
    // Unverified, the same address would not be.
    let (location, state) = authorize(&app, "google", None).await;
    let other = email();
    let code = google.approve(&location, identity(&other, false));
    let back = callback(&app, "google", &code, &state).await;
    let body: Value = exchange(&app, &param(&back, "code").unwrap()).await.json().await.unwrap();
    assert_eq!(body["user"]["role"], "user");
});

sqlite_and_postgres_redis!(redirect_to_is_checked_against_the_allow_list, |variant| {
    let Some(o) = spawn(variant).await else { return };
    // Short as submitted, 5,400 bytes once percent-encoded: too long to keep.
    let long = format!("/{}", "é".repeat(900));
    for evil in [
        "https://evil.example/steal",
        "//evil.example/x",
        "javascript:alert(1)",
        "http://localhost:5173@evil.example/",
        "/\\evil.example",
        long.as_str(),
    ] {
        let path = format!(
            "/api/v2/auth/oauth/google/authorize?redirect_to={}",
            url::form_urlencoded::byte_serialize(evil.as_bytes()).collect::<String>()
        );
        let problem = assert_problem(o.app.get(&path).await, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], "redirect_to", "{evil}");
    }
    let (location, _) = authorize(&o.app, "google", Some("http://localhost:5173/welcome")).await;
    assert!(location.starts_with(&o.google.url));
});

sqlite_and_postgres_redis!(unconfigured_providers_are_absent_and_answer_404, |variant| {
    let Some(app) = TestApp::spawn(variant).await else { return };
    let providers: Value = app.get("/api/v2/auth/oauth/providers").await.json().await.unwrap();
    assert_eq!(providers["items"], json!([]));
    for path in [
        "/api/v2/auth/oauth/google/authorize",
        "/api/v2/auth/oauth/github/callback?code=x&state=y",
        "/api/v2/auth/oauth/myspace/authorize",
    ] {
        assert_problem(app.get(path).await, 404, "not-found").await;
    }
    assert_problem(exchange(&app, "nope").await, 401, "login-code-invalid").await;
});
