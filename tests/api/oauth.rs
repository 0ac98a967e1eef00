//! Google (any OIDC issuer) and GitHub sign-in against local stand-ins.

use devora_e2e::standins::{ClaimsPlacement, FakeGitHubAccount, FakeIdentity, GitHubStandIn, IdTokenFault, OidcIssuer};
use serde_json::json;

use super::*;

struct OAuthApp {
    app: TestApp,
    google: OidcIssuer,
    github: GitHubStandIn,
}

impl OAuthApp {
    /// A server with Google (an OIDC issuer) and GitHub configured, each a local stand-in.
    async fn spawn(variant: Variant) -> Self {
        let google = OidcIssuer::start("google-client", "google-secret").await;
        let github = GitHubStandIn::start("github-client", "github-secret").await;
        let env = [
            ("GOOGLE_CLIENT_ID", "google-client"),
            ("GOOGLE_CLIENT_SECRET", "google-secret"),
            ("GOOGLE_ISSUER_URL", google.url.as_str()),
            ("GITHUB_CLIENT_ID", "github-client"),
            ("GITHUB_CLIENT_SECRET", "github-secret"),
            ("GITHUB_OAUTH_BASE", github.url.as_str()),
            ("GITHUB_API_BASE", github.url.as_str()),
        ];
        let app = TestApp::spawn_with(variant, Options::with_env(&env)).await;
        Self { app, google, github }
    }

    /// Starts a sign-in bound to [`VERIFIER`].
    async fn authorize(&self, provider: &str, redirect_to: Option<&str>) -> (String, String) {
        self.app.oauth_authorize(provider, &challenge(VERIFIER), redirect_to).await
    }

    /// Signs in at Google as `who`; returns where the browser is sent.
    async fn google_sign_in(&self, who: FakeIdentity) -> url::Url {
        let (location, state) = self.authorize("google", None).await;
        let code = self.google.approve(&location, who);
        self.app.oauth_callback("google", &code, &state).await
    }

    /// Exchanges a login code with [`VERIFIER`].
    async fn exchange(&self, code: &str) -> reqwest::Response {
        self.app.exchange_login_code(code, VERIFIER).await
    }
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

fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

scenario!(google_sign_in_creates_an_account_with_a_one_time_code, [all], |variant: Variant| {
    let o = OAuthApp::spawn(variant).await;
    let providers: Value = o.app.get("/api/v2/auth/oauth/providers").await.json().await.unwrap();
    let ids: Vec<_> =
        providers["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, vec!["github", "google"]);

    let address = unique_email();
    let back = o.google_sign_in(identity(&address, true)).await;
    assert_eq!(back.origin().ascii_serialization(), "http://localhost:5173");
    assert_eq!(back.path(), "/auth/callback");
    assert!(param(&back, "error").is_none(), "{back}");
    assert!(!back.as_str().contains("access_token") && !back.as_str().contains("eyJ"), "no tokens in URLs: {back}");
    let code = param(&back, "code").unwrap();

    let res = o.exchange(&code).await;
    assert_eq!(res.status(), 200);
    let signed_in = SignedIn::read(res, 200).await;
    assert_eq!(signed_in.user["email"], address);
    assert_eq!(signed_in.user["email_verified"], true);
    assert_eq!(signed_in.user["has_password"], false);
    assert_eq!(signed_in.user["name"], "Grace Hopper");
    assert_eq!(o.app.me(&signed_in.access_token).await.status(), 200);
    // The code is single use.
    assert_problem(o.exchange(&code).await, 401, "login-code-invalid").await;
});

scenario!(
    a_login_code_signs_in_only_the_browser_that_started_the_sign_in,
    [sqlite_memory, postgres_redis],
    |variant: Variant| {
        let o = OAuthApp::spawn(variant).await;
        // The attacker signs in as themselves and stops at the callback's redirect;
        // the link (or the login code in it) reaches the victim's browser, whose web
        // app holds another verifier.
        let back = o.google_sign_in(identity(&unique_email(), true)).await;
        let code = param(&back, "code").unwrap();
        let victims_verifier = "victim-browser-verifier-0123456789-abcdefghijklmnopq";
        assert_problem(o.app.exchange_login_code(&code, victims_verifier).await, 401, "login-code-invalid").await;
        // Refused and spent: not even the right verifier can use it now.
        assert_problem(o.exchange(&code).await, 401, "login-code-invalid").await;
        // A verifier too short to be one is refused without spending anything.
        let back = o.google_sign_in(identity(&unique_email(), true)).await;
        let code = param(&back, "code").unwrap();
        assert_problem(o.app.exchange_login_code(&code, "short").await, 401, "login-code-invalid").await;
        assert_eq!(o.exchange(&code).await.status(), 200);
        // A sign-in must be bound: no challenge, a malformed one, or another method is refused.
        for (query, field) in [
            ("", "code_challenge"),
            ("?code_challenge=tooshort", "code_challenge"),
            (
                &format!("?code_challenge={}&code_challenge_method=plain", challenge(VERIFIER))[..],
                "code_challenge_method",
            ),
        ] {
            let res = o.app.get(&format!("/api/v2/auth/oauth/google/authorize{query}")).await;
            let problem = assert_problem(res, 422, "validation-failed").await;
            assert_eq!(problem["errors"][0]["field"], field, "{query}");
        }
    }
);

scenario!(the_same_identity_signs_in_to_the_same_account, [sqlite_memory, postgres_redis], |variant: Variant| {
    let o = OAuthApp::spawn(variant).await;
    let who = identity(&unique_email(), true);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let back = o.google_sign_in(who.clone()).await;
        let body: Value = o.exchange(&param(&back, "code").unwrap()).await.json().await.unwrap();
        ids.push(body["user"]["id"].clone());
    }
    assert_eq!(ids[0], ids[1]);
});

scenario!(id_tokens_that_fail_verification_are_refused, [all], |variant: Variant| {
    let o = OAuthApp::spawn(variant).await;
    for (fault, name) in [
        (IdTokenFault::WrongNonce, "wrong nonce"),
        (IdTokenFault::WrongAudience, "wrong audience"),
        (IdTokenFault::Expired, "expired"),
        (IdTokenFault::BadSignature, "bad signature"),
    ] {
        o.google.set_fault(fault);
        let address = unique_email();
        let back = o.google_sign_in(identity(&address, true)).await;
        assert_eq!(param(&back, "error").as_deref(), Some("identity-rejected"), "{name}: {back}");
        assert!(param(&back, "code").is_none(), "{name}");
        // No account was created.
        assert_eq!(o.app.login(&address, PASSWORD).await.status(), 401, "{name}");
        let registered =
            o.app.post("/api/v2/auth/register", &json!({"email": address, "password": PASSWORD, "name": "X"})).await;
        assert_eq!(registered.status(), 201, "{name}: the email must still be free");
    }
    o.google.set_fault(IdTokenFault::None);
    let back = o.google_sign_in(identity(&unique_email(), true)).await;
    assert!(param(&back, "code").is_some(), "the issuer works again: {back}");
});

scenario!(a_replayed_or_mismatched_state_is_refused, [sqlite_memory, postgres_redis], |variant: Variant| {
    let o = OAuthApp::spawn(variant).await;
    let (location, state) = o.authorize("google", None).await;
    let code = o.google.approve(&location, identity(&unique_email(), true));
    let first = o.app.oauth_callback("google", &code, &state).await;
    assert!(param(&first, "code").is_some());
    let replay = o.app.oauth_callback("google", &code, &state).await;
    assert_eq!(param(&replay, "error").as_deref(), Some("invalid-state"));

    let forged = o.app.oauth_callback("google", "whatever", "made-up-state").await;
    assert_eq!(param(&forged, "error").as_deref(), Some("invalid-state"));

    // A state issued for GitHub is no good at Google's callback (and is spent by trying).
    let (gh_location, gh_state) = o.authorize("github", None).await;
    let crossed = o.app.oauth_callback("google", "whatever", &gh_state).await;
    assert_eq!(param(&crossed, "error").as_deref(), Some("invalid-state"));
    let gh_code = o.github.approve(&gh_location, gh_account(vec![(unique_email(), true, true)]));
    let late = o.app.oauth_callback("github", &gh_code, &gh_state).await;
    assert_eq!(param(&late, "error").as_deref(), Some("invalid-state"));

    // The user declining at the provider comes back as an error.
    let (_, state) = o.authorize("google", None).await;
    let res =
        o.app.get(&format!("/api/v2/auth/oauth/google/callback?error=access_denied&state={state}&state=dup")).await;
    let back = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(param(&back, "error").as_deref(), Some("access-denied"));
});

scenario!(an_unverified_email_never_takes_over_an_account, [sqlite_memory, postgres_redis], |variant: Variant| {
    let o = OAuthApp::spawn(variant).await;
    let address = unique_email();
    let owner = o.app.register(&address).await;
    let back = o.google_sign_in(identity(&address, false)).await;
    assert_eq!(param(&back, "error").as_deref(), Some("email-unverified"));
    // The owner is untouched.
    assert_eq!(o.app.me(&owner.access_token).await.status(), 200);
    assert_eq!(o.app.login(&address, PASSWORD).await.status(), 200);

    // An unverified email with no account behind it makes a new, unverified account.
    let fresh = unique_email();
    let back = o.google_sign_in(identity(&fresh, false)).await;
    let body: Value = o.exchange(&param(&back, "code").unwrap()).await.json().await.unwrap();
    assert_eq!(body["user"]["email_verified"], false);
});

scenario!(
    a_verified_owner_takes_back_an_account_someone_preregistered,
    [sqlite_memory, postgres_redis],
    |variant: Variant| {
        let o = OAuthApp::spawn(variant).await;
        let address = unique_email();
        // Someone registers the address first, with a password, without proving it.
        let squatter = o.app.register(&address).await;
        let back = o.google_sign_in(identity(&address, true)).await;
        let owner: Value = o.exchange(&param(&back, "code").unwrap()).await.json().await.unwrap();
        assert_eq!(owner["user"]["id"], squatter.user["id"]);
        assert_eq!(owner["user"]["email_verified"], true);
        assert_eq!(owner["user"]["has_password"], false);
        // The squatter's password and session no longer work.
        assert_eq!(o.app.login(&address, PASSWORD).await.status(), 401);
        assert_problem(o.app.me(&squatter.access_token).await, 401, "session-revoked").await;
    }
);

fn gh_account(emails: Vec<(String, bool, bool)>) -> FakeGitHubAccount {
    FakeGitHubAccount { id: u64::from(rand_u32()), login: "octocat".into(), name: Some("The Octocat".into()), emails }
}

fn rand_u32() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32
}

scenario!(github_sign_in_uses_the_primary_verified_email, [all], |variant: Variant| {
    let o = OAuthApp::spawn(variant).await;
    let primary = unique_email();
    let account =
        gh_account(vec![(unique_email(), false, true), (primary.clone(), true, true), (unique_email(), false, false)]);
    let (location, state) = o.authorize("github", Some("/projects?tab=recent")).await;
    let code = o.github.approve(&location, account);
    let back = o.app.oauth_callback("github", &code, &state).await;
    assert_eq!(back.path(), "/projects");
    assert_eq!(param(&back, "tab").as_deref(), Some("recent"));
    let body: Value = o.exchange(&param(&back, "code").unwrap()).await.json().await.unwrap();
    assert_eq!(body["user"]["email"], primary);
    assert_eq!(body["user"]["name"], "The Octocat");

    // No primary verified email: refused.
    let (location, state) = o.authorize("github", None).await;
    let code = o.github.approve(&location, gh_account(vec![(unique_email(), true, false)]));
    let back = o.app.oauth_callback("github", &code, &state).await;
    assert_eq!(param(&back, "error").as_deref(), Some("email-required"));

    // A code GitHub does not know: refused.
    let (_, state) = o.authorize("github", None).await;
    let back = o.app.oauth_callback("github", "ghcode-forged", &state).await;
    assert_eq!(param(&back, "error").as_deref(), Some("identity-rejected"));
});

scenario!(a_provider_verified_admin_email_gets_the_admin_role, [sqlite_memory, postgres_redis], |variant: Variant| {
    let admin = unique_email();
    let google = OidcIssuer::start("google-client", "google-secret").await;
    let env = [
        ("GOOGLE_CLIENT_ID", "google-client"),
        ("GOOGLE_CLIENT_SECRET", "google-secret"),
        ("GOOGLE_ISSUER_URL", google.url.as_str()),
        ("ADMIN_EMAILS", admin.as_str()),
    ];
    let app = TestApp::spawn_with(variant, Options::with_env(&env)).await;
    let (location, state) = app.oauth_authorize("google", &challenge(VERIFIER), None).await;
    let code = google.approve(&location, identity(&admin, true));
    let back = app.oauth_callback("google", &code, &state).await;
    let body: Value = app.exchange_login_code(&param(&back, "code").unwrap(), VERIFIER).await.json().await.unwrap();
    assert_eq!(body["user"]["role"], "admin");
    // Unverified, the same address would not be.
    let (location, state) = app.oauth_authorize("google", &challenge(VERIFIER), None).await;
    let other = unique_email();
    let code = google.approve(&location, identity(&other, false));
    let back = app.oauth_callback("google", &code, &state).await;
    let body: Value = app.exchange_login_code(&param(&back, "code").unwrap(), VERIFIER).await.json().await.unwrap();
    assert_eq!(body["user"]["role"], "user");
});

scenario!(redirect_to_is_checked_against_the_allow_list, [sqlite_memory, postgres_redis], |variant: Variant| {
    let o = OAuthApp::spawn(variant).await;
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
    let (location, _) = o.authorize("google", Some("http://localhost:5173/welcome")).await;
    assert!(location.starts_with(&o.google.url));
});

scenario!(unconfigured_providers_are_absent_and_answer_404, [sqlite_memory, postgres_redis], |app: TestApp| {
    let providers: Value = app.get("/api/v2/auth/oauth/providers").await.json().await.unwrap();
    assert_eq!(providers["items"], json!([]));
    for path in [
        "/api/v2/auth/oauth/google/authorize",
        "/api/v2/auth/oauth/github/callback?code=x&state=y",
        "/api/v2/auth/oauth/myspace/authorize",
    ] {
        assert_problem(app.get(path).await, 404, "not-found").await;
    }
    assert_problem(app.exchange_login_code("nope", VERIFIER).await, 401, "login-code-invalid").await;
});

scenario!(an_issuer_that_keeps_email_claims_in_userinfo_signs_people_in, [all], |variant: Variant| {
    let o = OAuthApp::spawn(variant).await;
    o.google.set_claims_placement(ClaimsPlacement::UserInfoOnly);
    let address = unique_email();
    let back = o.google_sign_in(identity(&address, true)).await;
    let code = param(&back, "code").unwrap_or_else(|| panic!("no login code: {back}"));
    let body: Value = o.exchange(&code).await.json().await.unwrap();
    assert_eq!(body["user"]["email"], address.as_str());
    assert_eq!(body["user"]["email_verified"], true, "UserInfo's verification is kept");
    assert_eq!(body["user"]["name"], "Grace Hopper", "the profile claims come from UserInfo too");
    assert_eq!(o.google.userinfo_requests(), 1);

    // The verified-email rules are the same: UserInfo's unverified address does not
    // take over the account registered with it.
    let owner = o.app.register(&unique_email()).await;
    let owned: Value = o.app.me(&owner.access_token).await.json().await.unwrap();
    let back = o.google_sign_in(identity(owned["email"].as_str().unwrap(), false)).await;
    assert_eq!(param(&back, "error").as_deref(), Some("email-unverified"), "{back}");

    // An issuer that does put the claims in the ID token is not asked again.
    o.google.set_claims_placement(ClaimsPlacement::IdToken);
    let back = o.google_sign_in(identity(&unique_email(), true)).await;
    assert!(param(&back, "code").is_some(), "{back}");
    assert_eq!(o.google.userinfo_requests(), 2, "only the two UserInfo-only sign-ins asked");
});

scenario!(userinfo_for_another_subject_is_refused, [sqlite_memory, postgres_redis], |variant: Variant| {
    let o = OAuthApp::spawn(variant).await;
    o.google.set_claims_placement(ClaimsPlacement::UserInfoForAnotherSubject);
    let address = unique_email();
    let back = o.google_sign_in(identity(&address, true)).await;
    assert_eq!(param(&back, "error").as_deref(), Some("identity-rejected"), "{back}");
    assert!(param(&back, "code").is_none());
    assert_eq!(o.google.userinfo_requests(), 1);
    // No account was made for the address UserInfo named.
    let registered =
        o.app.post("/api/v2/auth/register", &json!({"email": address, "password": PASSWORD, "name": "X"})).await;
    assert_eq!(registered.status(), 201, "the email must still be free");
});

scenario!(email_verified_sent_as_a_string_is_understood, [sqlite_memory, postgres_redis], |variant: Variant| {
    let o = OAuthApp::spawn(variant).await;
    o.google.set_claims_placement(ClaimsPlacement::StringBooleans);
    let verified = unique_email();
    let back = o.google_sign_in(identity(&verified, true)).await;
    let body: Value = o.exchange(&param(&back, "code").unwrap()).await.json().await.unwrap();
    assert_eq!(body["user"]["email_verified"], true, "\"true\" is true");
    // "false" is false: it cannot take over an account.
    let owner = o.app.register(&unique_email()).await;
    let owned: Value = o.app.me(&owner.access_token).await.json().await.unwrap();
    let back = o.google_sign_in(identity(owned["email"].as_str().unwrap(), false)).await;
    assert_eq!(param(&back, "error").as_deref(), Some("email-unverified"), "{back}");
});
