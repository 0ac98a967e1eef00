//! A client for one server node addressed directly (a process of a
//! [`Cluster`](super::cluster::Cluster)): the few calls the cluster and fault tests make.

use std::time::Duration;

use reqwest::Response;
use serde_json::{Value, json};

use super::requests::{PASSWORD, SignedIn, unique_email};

/// One node's address and a client for it (cheap to clone).
#[derive(Clone)]
pub struct Endpoint {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
}

impl Endpoint {
    /// A client without redirects and with a generous timeout (a noisy machine).
    #[must_use]
    pub fn new(port: u16) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self { address: format!("http://127.0.0.1:{port}"), port, client }
    }

    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("request sent")
    }

    pub async fn get_as(&self, token: &str, path: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.expect("request sent")
    }

    /// GET's JSON body, whatever the status.
    pub async fn get_json_as(&self, token: &str, path: &str) -> Value {
        self.get_as(token, path).await.json().await.unwrap()
    }

    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).bearer_auth(token).json(body).send().await.expect("request sent")
    }

    pub async fn patch_as(&self, token: &str, path: &str, body: &Value) -> Response {
        self.client.patch(self.url(path)).bearer_auth(token).json(body).send().await.expect("request sent")
    }

    /// Registers an account with a fresh email and [`PASSWORD`], asserting the 201.
    pub async fn new_user(&self) -> SignedIn {
        let body = json!({"email": unique_email(), "password": PASSWORD, "name": "Cluster User"});
        let res = self.client.post(self.url("/api/v2/auth/register")).json(&body).send().await.unwrap();
        SignedIn::read(res, 201).await
    }

    /// Creates a project, asserting the 201; its id.
    pub async fn create_project_id(&self, token: &str, name: &str) -> String {
        let res = self.post_as(token, "/api/v2/projects", &json!({"name": name})).await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    }

    pub async fn rename_project(&self, token: &str, project: &str, name: &str) -> Response {
        self.patch_as(token, &format!("/api/v2/projects/{project}"), &json!({ "name": name })).await
    }

    /// GET /health/ready's status, or `None` when the node did not answer.
    pub async fn readiness(&self) -> Option<u16> {
        self.client.get(self.url("/health/ready")).send().await.ok().map(|r| r.status().as_u16())
    }
}
