//! Typed requests against a [`TestApp`]: the API's calls by name, and plain
//! anonymous or signed-in (`..._as`) verbs for everything else.

use reqwest::Response;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::app::TestApp;

/// The password every account the helpers register has.
pub const PASSWORD: &str = "correct horse battery staple";

/// An email address no other test uses.
#[must_use]
pub fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// What register, login, refresh and the login-code exchange answer.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The `user` object.
    pub user: Value,
    /// The `tokens` object, as sent.
    pub tokens: Value,
    pub access_token: String,
    pub refresh_token: String,
}

impl SignedIn {
    /// Reads a `{user, tokens}` body, asserting it came with `status`.
    pub async fn read(res: Response, status: u16) -> Self {
        let got = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert_eq!(got, status, "{text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        let token =
            |name: &str| body["tokens"][name].as_str().unwrap_or_else(|| panic!("no {name}: {body}")).to_owned();
        Self {
            access_token: token("access_token"),
            refresh_token: token("refresh_token"),
            user: body["user"].clone(),
            tokens: body["tokens"].clone(),
        }
    }

    #[must_use]
    pub fn user_id(&self) -> &str {
        self.user["id"].as_str().unwrap()
    }
}

impl TestApp {
    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("request sent")
    }

    /// GET with `X-Forwarded-For`, as a proxy in front would send it.
    pub async fn get_forwarded_for(&self, path: &str, forwarded_for: &str) -> Response {
        self.client.get(self.url(path)).header("x-forwarded-for", forwarded_for).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.unwrap()
    }

    pub async fn get_as(&self, token: &str, path: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    /// GET's JSON body, whatever the status.
    pub async fn get_json_as(&self, token: &str, path: &str) -> Value {
        self.get_as(token, path).await.json().await.unwrap()
    }

    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).bearer_auth(token).json(body).send().await.unwrap()
    }

    pub async fn patch_as(&self, token: &str, path: &str, body: &Value) -> Response {
        self.client.patch(self.url(path)).bearer_auth(token).json(body).send().await.unwrap()
    }

    pub async fn put_as(&self, token: &str, path: &str, content: Vec<u8>) -> Response {
        self.client.put(self.url(path)).bearer_auth(token).body(content).send().await.unwrap()
    }

    pub async fn delete_as(&self, token: &str, path: &str) -> Response {
        self.client.delete(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    /// Sends a request with the target exactly as given (reqwest would normalise
    /// `..`); returns the status and the whole response as text.
    pub async fn raw_request(&self, method: &str, target: &str, token: &str, body: &[u8]) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, text)
    }

    /// Registers an account with [`PASSWORD`], asserting the 201.
    pub async fn register(&self, email: &str) -> SignedIn {
        let body = json!({"email": email, "password": PASSWORD, "name": "Test User"});
        SignedIn::read(self.post("/api/v2/auth/register", &body).await, 201).await
    }

    /// Registers an account with a fresh email.
    pub async fn new_user(&self) -> SignedIn {
        self.register(&unique_email()).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post("/api/v2/auth/login", &json!({"email": email, "password": password})).await
    }

    /// Logs in, asserting the 200.
    pub async fn sign_in(&self, email: &str, password: &str) -> SignedIn {
        SignedIn::read(self.login(email, password).await, 200).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post("/api/v2/auth/refresh", &json!({"refresh_token": refresh_token})).await
    }

    pub async fn logout(&self, refresh_token: &str) -> Response {
        self.post("/api/v2/auth/logout", &json!({"refresh_token": refresh_token})).await
    }

    /// GET /api/v2/auth/me.
    pub async fn me(&self, token: &str) -> Response {
        self.get_as(token, "/api/v2/auth/me").await
    }

    pub async fn change_password(&self, token: &str, current: &str, new: &str) -> Response {
        let body = json!({"current_password": current, "new_password": new});
        self.post_as(token, "/api/v2/auth/me/password", &body).await
    }

    pub async fn revoke_session(&self, token: &str, session: &str) -> Response {
        self.delete_as(token, &format!("/api/v2/auth/sessions/{session}")).await
    }

    /// GET /authorize for `provider`, bound to `code_challenge`; asserts the
    /// redirect and returns the provider URL it sends the browser to and the
    /// state in it.
    pub async fn oauth_authorize(
        &self,
        provider: &str,
        code_challenge: &str,
        redirect_to: Option<&str>,
    ) -> (String, String) {
        let mut path = format!("/api/v2/auth/oauth/{provider}/authorize?code_challenge={code_challenge}");
        if let Some(to) = redirect_to {
            let to: String = url::form_urlencoded::byte_serialize(to.as_bytes()).collect();
            path.push_str(&format!("&redirect_to={to}"));
        }
        let res = self.get(&path).await;
        assert_eq!(res.status(), 302, "{}", res.text().await.unwrap());
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        let provider_url = url::Url::parse(&location).unwrap();
        let state = provider_url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
        (location, state)
    }

    /// GET /callback as the provider sends the browser back; returns where the
    /// browser is sent next.
    pub async fn oauth_callback(&self, provider: &str, code: &str, state: &str) -> url::Url {
        let res = self.get(&format!("/api/v2/auth/oauth/{provider}/callback?code={code}&state={state}")).await;
        assert_eq!(res.status(), 302);
        url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap()
    }

    /// POST /oauth/exchange: a login code and the PKCE verifier it is bound to.
    pub async fn exchange_login_code(&self, code: &str, code_verifier: &str) -> Response {
        self.post("/api/v2/auth/oauth/exchange", &json!({"code": code, "code_verifier": code_verifier})).await
    }

    /// Creates a project (framework React), asserting the 201 and its `Location`.
    pub async fn create_project(&self, token: &str, name: &str) -> Value {
        let res = self.post_as(token, "/api/v2/projects", &json!({"name": name, "framework": "react"})).await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        assert!(res.headers().get("location").is_some());
        res.json().await.unwrap()
    }

    /// Creates a project and returns its id.
    pub async fn create_project_id(&self, token: &str, name: &str) -> String {
        self.create_project(token, name).await["id"].as_str().unwrap().to_owned()
    }

    pub async fn rename_project(&self, token: &str, project: &str, name: &str) -> Response {
        self.patch_as(token, &format!("/api/v2/projects/{project}"), &json!({ "name": name })).await
    }

    pub async fn delete_project(&self, token: &str, project: &str) -> Response {
        self.delete_as(token, &format!("/api/v2/projects/{project}")).await
    }

    pub async fn put_file(&self, token: &str, project: &str, path: &str, content: Vec<u8>) -> Response {
        self.put_as(token, &format!("/api/v2/projects/{project}/files/{path}"), content).await
    }

    pub async fn read_file(&self, token: &str, project: &str, path: &str) -> Response {
        self.get_as(token, &format!("/api/v2/projects/{project}/files/{path}")).await
    }

    pub async fn delete_file(&self, token: &str, project: &str, path: &str) -> Response {
        self.delete_as(token, &format!("/api/v2/projects/{project}/files/{path}")).await
    }

    /// Posts a user message to a project's conversation.
    pub async fn post_message(&self, token: &str, project: &str, content: &str) -> Response {
        let body = json!({"role": "user", "content": content});
        self.post_as(token, &format!("/api/v2/projects/{project}/messages"), &body).await
    }
}
