//! An OpenID Connect issuer (Google, or any other): discovery, JWKS with a real
//! RSA key, a token endpoint that checks client credentials and PKCE and issues
//! RS256 ID tokens, and a UserInfo endpoint (OIDC Core 5.3) for its access tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use super::{StandInServer, pkce_matches, query_param, unix_now};

const ISSUER_KEY: &str = include_str!("../fixtures/oidc-issuer-key.pem");
const IMPOSTOR_KEY: &str = include_str!("../fixtures/oidc-impostor-key.pem");
const ISSUER_JWK: &str = include_str!("../fixtures/oidc-issuer-jwk.json");

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

/// Where the issuer puts the `email` and `profile` claims, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimsPlacement {
    /// In the ID token (and in UserInfo too).
    IdToken,
    /// Only in UserInfo: the ID token carries `sub` and the protocol claims alone
    /// (OIDC Core 5.4, the code flow).
    UserInfoOnly,
    /// Only in UserInfo, which answers for another `sub` than the ID token's.
    UserInfoForAnotherSubject,
    /// In both, with `email_verified` as the string `"true"` or `"false"`.
    StringBooleans,
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
    /// Access tokens issued, and whom they are for (UserInfo answers for them).
    access_tokens: HashMap<String, FakeIdentity>,
    fault: IdTokenFault,
    placement: ClaimsPlacement,
    userinfo_requests: u32,
}

/// A local OpenID Connect issuer.
pub struct OidcIssuer {
    pub url: String,
    state: Arc<Mutex<IssuerState>>,
    _server: StandInServer,
}

#[derive(Serialize)]
struct IdClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    nonce: String,
    #[serde(flatten)]
    profile: serde_json::Map<String, serde_json::Value>,
}

/// The `email` and `profile` claims of `who`, written the way `placement` says.
fn profile_claims(who: &FakeIdentity, placement: ClaimsPlacement) -> serde_json::Map<String, serde_json::Value> {
    let verified = if placement == ClaimsPlacement::StringBooleans {
        serde_json::Value::String(who.email_verified.to_string())
    } else {
        serde_json::Value::Bool(who.email_verified)
    };
    let mut claims = serde_json::Map::new();
    claims.insert("email".into(), who.email.clone().into());
    claims.insert("email_verified".into(), verified);
    claims.insert("name".into(), who.name.clone().into());
    claims
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
    let now = unix_now();
    let fault = st.fault;
    let claims = IdClaims {
        iss: st.url.clone(),
        sub: grant.identity.sub.clone(),
        aud: if fault == IdTokenFault::WrongAudience { "someone-else".into() } else { st.client_id.clone() },
        exp: if fault == IdTokenFault::Expired { now - 600 } else { now + 600 },
        iat: if fault == IdTokenFault::Expired { now - 1200 } else { now },
        nonce: if fault == IdTokenFault::WrongNonce { "not-the-nonce".into() } else { grant.nonce.clone() },
        profile: match st.placement {
            ClaimsPlacement::IdToken | ClaimsPlacement::StringBooleans => profile_claims(&grant.identity, st.placement),
            ClaimsPlacement::UserInfoOnly | ClaimsPlacement::UserInfoForAnotherSubject => serde_json::Map::new(),
        },
    };
    let key = if fault == IdTokenFault::BadSignature { IMPOSTOR_KEY } else { ISSUER_KEY };
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("test-key-1".into());
    let id_token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(key.as_bytes()).unwrap()).unwrap();
    let access_token = format!("at-{}", uuid::Uuid::new_v4());
    st.access_tokens.insert(access_token.clone(), grant.identity.clone());
    HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(serde_json::json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 3600,
        "id_token": id_token,
    }))
}

/// UserInfo: the claims of the access token's owner, as JSON (RFC 6750 bearer).
async fn userinfo(req: HttpRequest, state: web::Data<Mutex<IssuerState>>) -> HttpResponse {
    let mut st = state.lock().unwrap();
    st.userinfo_requests += 1;
    let token =
        req.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let Some(who) = token.and_then(|t| st.access_tokens.get(t)).cloned() else {
        return HttpResponse::Unauthorized()
            .insert_header(("www-authenticate", "Bearer error=\"invalid_token\""))
            .finish();
    };
    let sub = if st.placement == ClaimsPlacement::UserInfoForAnotherSubject {
        format!("{}-other", who.sub)
    } else {
        who.sub.clone()
    };
    let mut claims = profile_claims(&who, st.placement);
    claims.insert("sub".into(), sub.into());
    HttpResponse::Ok().json(claims)
}

impl OidcIssuer {
    pub async fn start(client_id: &str, client_secret: &str) -> Self {
        let state = Arc::new(Mutex::new(IssuerState {
            url: String::new(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            fault: IdTokenFault::None,
            placement: ClaimsPlacement::IdToken,
            userinfo_requests: 0,
        }));
        let data = web::Data::from(state.clone());
        let server = StandInServer::start(move |cfg| {
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
                            "userinfo_endpoint": format!("{base}/userinfo"),
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
                .route("/token", web::post().to(oidc_token))
                .route("/userinfo", web::get().to(userinfo));
        });
        state.lock().unwrap().url.clone_from(&server.url);
        Self { url: server.url.clone(), state, _server: server }
    }

    pub fn set_fault(&self, fault: IdTokenFault) {
        self.state.lock().unwrap().fault = fault;
    }

    /// Where the next tokens carry the `email` and `profile` claims.
    pub fn set_claims_placement(&self, placement: ClaimsPlacement) {
        self.state.lock().unwrap().placement = placement;
    }

    /// How many UserInfo requests the issuer has answered.
    pub fn userinfo_requests(&self) -> u32 {
        self.state.lock().unwrap().userinfo_requests
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
