//! Local stand-ins for the identity providers, speaking their wire formats: an
//! OpenID Connect issuer (discovery, JWKS with a real RSA key, a token endpoint
//! that checks client credentials and PKCE and issues RS256 ID tokens) and GitHub
//! (`/login/oauth/access_token`, `/user`, `/user/emails`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const ISSUER_KEY: &str = include_str!("fixtures/oidc-issuer-key.pem");
const IMPOSTOR_KEY: &str = include_str!("fixtures/oidc-impostor-key.pem");
const ISSUER_JWK: &str = include_str!("fixtures/oidc-issuer-jwk.json");

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Checks a PKCE verifier against its S256 challenge, as a real server does.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    b64url(&Sha256::digest(verifier.as_bytes())) == challenge
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

fn start_server(configure: impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static) -> (String, ServerHandle) {
    let server = HttpServer::new(move || App::new().configure(configure.clone()))
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .expect("bind stand-in");
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}"), handle)
}

/// Who signs in at the stand-in.
#[derive(Debug, Clone)]
pub struct FakeIdentity {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
}

/// How the next ID tokens are spoiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTokenFault {
    None,
    WrongNonce,
    WrongAudience,
    Expired,
    BadSignature,
}

struct Grant {
    nonce: String,
    code_challenge: String,
    redirect_uri: String,
    identity: FakeIdentity,
}

struct IssuerState {
    url: String,
    client_id: String,
    client_secret: String,
    codes: HashMap<String, Grant>,
    fault: IdTokenFault,
}

/// A local OpenID Connect issuer.
pub struct OidcIssuer {
    pub url: String,
    state: Arc<Mutex<IssuerState>>,
    handle: ServerHandle,
}

#[derive(Serialize)]
struct IdClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    nonce: String,
    email: String,
    email_verified: bool,
    name: String,
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn oauth_error(error: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(serde_json::json!({ "error": error }))
}

/// Client credentials from HTTP Basic (form-urlencoded parts, RFC 6749 §2.3.1) or the form.
fn client_credentials(req: &HttpRequest, form: &TokenForm) -> (Option<String>, Option<String>) {
    let basic = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())));
    let decode = |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    match basic {
        Some((id, secret)) => (decode(&id), decode(&secret)),
        None => (form.client_id.clone(), form.client_secret.clone()),
    }
}

async fn oidc_token(
    req: HttpRequest,
    state: web::Data<Mutex<IssuerState>>,
    form: web::Form<TokenForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let mut st = state.lock().unwrap();
    let (id, secret) = client_credentials(&req, &form);
    if id.as_deref() != Some(st.client_id.as_str()) || secret.as_deref() != Some(st.client_secret.as_str()) {
        return HttpResponse::Unauthorized().json(serde_json::json!({ "error": "invalid_client" }));
    }
    if form.grant_type != "authorization_code" {
        return oauth_error("unsupported_grant_type");
    }
    let Some(grant) = st.codes.remove(&form.code) else { return oauth_error("invalid_grant") };
    if form.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
        return oauth_error("invalid_grant");
    }
    if !form.code_verifier.as_deref().is_some_and(|v| pkce_matches(v, &grant.code_challenge)) {
        return oauth_error("invalid_grant");
    }
    let now = chrono_now();
    let fault = st.fault;
    let claims = IdClaims {
        iss: st.url.clone(),
        sub: grant.identity.sub.clone(),
        aud: if fault == IdTokenFault::WrongAudience { "someone-else".into() } else { st.client_id.clone() },
        exp: if fault == IdTokenFault::Expired { now - 600 } else { now + 600 },
        iat: if fault == IdTokenFault::Expired { now - 1200 } else { now },
        nonce: if fault == IdTokenFault::WrongNonce { "not-the-nonce".into() } else { grant.nonce.clone() },
        email: grant.identity.email.clone(),
        email_verified: grant.identity.email_verified,
        name: grant.identity.name.clone(),
    };
    let key = if fault == IdTokenFault::BadSignature { IMPOSTOR_KEY } else { ISSUER_KEY };
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("test-key-1".into());
    let id_token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(key.as_bytes()).unwrap()).unwrap();
    HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(serde_json::json!({
        "access_token": format!("at-{}", uuid::Uuid::new_v4()),
        "token_type": "Bearer",
        "expires_in": 3600,
        "id_token": id_token,
    }))
}

fn chrono_now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

impl OidcIssuer {
    pub async fn start(client_id: &str, client_secret: &str) -> Self {
        let state = Arc::new(Mutex::new(IssuerState {
            url: String::new(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            codes: HashMap::new(),
            fault: IdTokenFault::None,
        }));
        let data = web::Data::from(state.clone());
        let (url, handle) = start_server(move |cfg| {
            cfg.app_data(data.clone())
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(|state: web::Data<Mutex<IssuerState>>| async move {
                        let base = state.lock().unwrap().url.clone();
                        HttpResponse::Ok().json(serde_json::json!({
                            "issuer": base,
                            "authorization_endpoint": format!("{base}/authorize"),
                            "token_endpoint": format!("{base}/token"),
                            "jwks_uri": format!("{base}/jwks"),
                            "response_types_supported": ["code"],
                            "subject_types_supported": ["public"],
                            "id_token_signing_alg_values_supported": ["RS256"],
                            "scopes_supported": ["openid", "email", "profile"],
                            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                            "code_challenge_methods_supported": ["S256"],
                        }))
                    }),
                )
                .route(
                    "/jwks",
                    web::get().to(|| async {
                        let jwk: serde_json::Value = serde_json::from_str(ISSUER_JWK).unwrap();
                        HttpResponse::Ok().json(serde_json::json!({ "keys": [jwk] }))
                    }),
                )
                .route("/token", web::post().to(oidc_token));
        });
        state.lock().unwrap().url.clone_from(&url);
        Self { url, state, handle }
    }

    pub fn set_fault(&self, fault: IdTokenFault) {
        self.state.lock().unwrap().fault = fault;
    }

    /// What the browser does at the authorization endpoint: checks the request
    /// like the issuer would, approves it as `identity`, and returns the code the
    /// issuer would send back to the callback.
    pub fn approve(&self, authorize_url: &str, identity: FakeIdentity) -> String {
        assert!(authorize_url.starts_with(&format!("{}/authorize?", self.url)), "{authorize_url}");
        let param =
            |name| query_param(authorize_url, name).unwrap_or_else(|| panic!("{name} missing from {authorize_url}"));
        assert_eq!(param("response_type"), "code");
        assert_eq!(param("client_id"), self.state.lock().unwrap().client_id);
        assert_eq!(param("code_challenge_method"), "S256");
        assert!(param("scope").split(' ').any(|s| s == "openid"));
        let code = format!("code-{}", uuid::Uuid::new_v4().simple());
        let grant = Grant {
            nonce: param("nonce"),
            code_challenge: param("code_challenge"),
            redirect_uri: param("redirect_uri"),
            identity,
        };
        self.state.lock().unwrap().codes.insert(code.clone(), grant);
        code
    }
}

impl Drop for OidcIssuer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { handle.stop(false).await });
        }
    }
}

/// A GitHub account as the stand-in serves it.
#[derive(Debug, Clone)]
pub struct FakeGitHubAccount {
    pub id: u64,
    pub login: String,
    pub name: Option<String>,
    /// (email, primary, verified)
    pub emails: Vec<(String, bool, bool)>,
}

struct GitHubState {
    client_id: String,
    client_secret: String,
    codes: HashMap<String, (String, String, FakeGitHubAccount)>,
    tokens: HashMap<String, FakeGitHubAccount>,
}

/// A local GitHub: OAuth endpoints and the REST API on one base URL.
pub struct GitHubStandIn {
    pub url: String,
    state: Arc<Mutex<GitHubState>>,
    handle: ServerHandle,
}

#[derive(Deserialize)]
struct GitHubTokenForm {
    client_id: String,
    client_secret: String,
    code: String,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
}

fn github_account(req: &HttpRequest, state: &Mutex<GitHubState>) -> Option<FakeGitHubAccount> {
    let token = req.headers().get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")?.to_owned();
    state.lock().unwrap().tokens.get(&token).cloned()
}

impl GitHubStandIn {
    pub async fn start(client_id: &str, client_secret: &str) -> Self {
        let state = Arc::new(Mutex::new(GitHubState {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            codes: HashMap::new(),
            tokens: HashMap::new(),
        }));
        let data = web::Data::from(state.clone());
        let (url, handle) = start_server(move |cfg| {
            cfg.app_data(data.clone())
                .route(
                    "/login/oauth/access_token",
                    web::post().to(|state: web::Data<Mutex<GitHubState>>, form: web::Form<GitHubTokenForm>| async move {
                        let mut st = state.lock().unwrap();
                        // GitHub answers errors with 200 and an `error` field.
                        let bad = |e: &str| HttpResponse::Ok().json(serde_json::json!({ "error": e, "error_description": e }));
                        if form.client_id != st.client_id || form.client_secret != st.client_secret {
                            return bad("incorrect_client_credentials");
                        }
                        let Some((challenge, redirect, account)) = st.codes.remove(&form.code) else {
                            return bad("bad_verification_code");
                        };
                        if form.redirect_uri.as_deref() != Some(redirect.as_str())
                            || !form.code_verifier.as_deref().is_some_and(|v| pkce_matches(v, &challenge))
                        {
                            return bad("bad_verification_code");
                        }
                        let token = format!("gho_{}", uuid::Uuid::new_v4().simple());
                        st.tokens.insert(token.clone(), account);
                        HttpResponse::Ok().json(serde_json::json!({ "access_token": token, "token_type": "bearer", "scope": "read:user,user:email" }))
                    }),
                )
                .route(
                    "/user",
                    web::get().to(|req: HttpRequest, state: web::Data<Mutex<GitHubState>>| async move {
                        match github_account(&req, &state) {
                            Some(a) => HttpResponse::Ok().json(serde_json::json!({ "id": a.id, "login": a.login, "name": a.name })),
                            None => HttpResponse::Unauthorized().json(serde_json::json!({ "message": "Bad credentials" })),
                        }
                    }),
                )
                .route(
                    "/user/emails",
                    web::get().to(|req: HttpRequest, state: web::Data<Mutex<GitHubState>>| async move {
                        match github_account(&req, &state) {
                            Some(a) => HttpResponse::Ok().json(
                                a.emails
                                    .iter()
                                    .map(|(email, primary, verified)| serde_json::json!({ "email": email, "primary": primary, "verified": verified, "visibility": null }))
                                    .collect::<Vec<_>>(),
                            ),
                            None => HttpResponse::Unauthorized().json(serde_json::json!({ "message": "Bad credentials" })),
                        }
                    }),
                );
        });
        Self { url, state, handle }
    }

    /// Approves the authorization request as `account`; returns the code.
    pub fn approve(&self, authorize_url: &str, account: FakeGitHubAccount) -> String {
        assert!(authorize_url.starts_with(&format!("{}/login/oauth/authorize?", self.url)), "{authorize_url}");
        let param = |name| query_param(authorize_url, name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(param("client_id"), self.state.lock().unwrap().client_id);
        assert_eq!(param("code_challenge_method"), "S256");
        let code = format!("ghcode-{}", uuid::Uuid::new_v4().simple());
        self.state
            .lock()
            .unwrap()
            .codes
            .insert(code.clone(), (param("code_challenge"), param("redirect_uri"), account));
        code
    }
}

impl Drop for GitHubStandIn {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { handle.stop(false).await });
        }
    }
}
