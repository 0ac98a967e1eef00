//! GitHub: the OAuth endpoints (`/login/oauth/access_token`) and the REST API
//! (`/user`, `/user/emails`) on one base URL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{StandInServer, pkce_matches, query_param};

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
    _server: StandInServer,
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
        let server = StandInServer::start(move |cfg| {
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
        Self { url: server.url.clone(), state, _server: server }
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
