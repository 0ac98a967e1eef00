//! What the scenarios read, written over HTTP as a client would: one account,
//! a full first page of projects, a source file.

use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery staple";
pub const FILE_PATH: &str = "src/App.tsx";
const NAME: &str = "Recipe box";
const DESCRIPTION: &str =
    "Save, tag and share family recipes; plan the week's meals and build a shopping list from them.";
const FRAMEWORK: &str = "nextjs";
/// The first page of `GET /projects` holds 20 (the default `limit`): fill it.
const PROJECTS: usize = 21;

/// The body of `POST /projects`.
pub fn create_body() -> String {
    json!({"name": NAME, "description": DESCRIPTION, "framework": FRAMEWORK}).to_string()
}

/// One project as `GET /projects/{id}` returns it: the baseline's body.
pub fn project_json() -> Vec<u8> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let project = json!({
        "id": uuid::Uuid::now_v7(),
        "name": NAME,
        "description": DESCRIPTION,
        "framework": FRAMEWORK,
        "created_at": now,
        "updated_at": now,
    });
    project.to_string().into_bytes()
}

/// A React component of about 1.5 KB, the file read's content.
fn file_content() -> String {
    let mut src = String::from("import { useState } from 'react';\n\nexport default function App() {\n");
    src.push_str("  const [recipes, setRecipes] = useState<string[]>([]);\n");
    for i in 0..24 {
        src.push_str(&format!("  const step{i} = () => setRecipes((r) => [...r, 'recipe {i}']);\n"));
    }
    src.push_str("  return <main>{recipes.map((r) => <p key={r}>{r}</p>)}</main>;\n}\n");
    src
}

pub struct Seed {
    pub email: String,
    pub token: String,
    pub project_id: String,
    /// The size of the real `GET /projects/{id}` body, beside the baseline's.
    pub project_bytes: usize,
}

impl Seed {
    pub fn login_body(&self) -> String {
        json!({"email": self.email, "password": PASSWORD}).to_string()
    }
}

async fn expect(response: reqwest::Response, status: u16, what: &str) -> Result<reqwest::Response, String> {
    if response.status().as_u16() == status {
        return Ok(response);
    }
    let got = response.status();
    let body = response.text().await.unwrap_or_default();
    Err(format!("seeding: {what} answered {got}, expected {status}: {body}"))
}

/// Registers `bench-<pid>@example.com`, creates [`PROJECTS`] projects and
/// writes [`FILE_PATH`] into the first.
pub async fn seed(base: &str) -> Result<Seed, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().build().map_err(|e| format!("HTTP client: {e}"))?;
    let send = |r: reqwest::RequestBuilder| async move { r.send().await.map_err(|e| format!("seeding: {e}")) };
    let email = format!("bench-{}@example.com", std::process::id());
    let register = json!({"email": email, "password": PASSWORD, "name": "Bench User"});
    let response = send(client.post(format!("{base}/api/v2/auth/register")).json(&register)).await?;
    let account: Value = expect(response, 201, "POST /auth/register").await?.json().await.map_err(|e| e.to_string())?;
    let token = account["tokens"]["access_token"].as_str().ok_or("register: no tokens.access_token")?.to_owned();

    let mut project_id = None;
    for _ in 0..PROJECTS {
        let request = client.post(format!("{base}/api/v2/projects")).bearer_auth(&token);
        let response = send(request.header("content-type", "application/json").body(create_body())).await?;
        let project: Value = expect(response, 201, "POST /projects").await?.json().await.map_err(|e| e.to_string())?;
        let id = project["id"].as_str().ok_or("POST /projects: no id")?.to_owned();
        project_id.get_or_insert(id);
    }
    let project_id = project_id.ok_or("no project was created")?;

    let file_url = format!("{base}/api/v2/projects/{project_id}/files/{FILE_PATH}");
    let response = send(client.put(&file_url).bearer_auth(&token).body(file_content())).await?;
    expect(response, 201, "PUT /projects/{id}/files/{path}").await?;
    let response = send(client.get(&file_url).bearer_auth(&token)).await?;
    expect(response, 200, "GET /projects/{id}/files/{path}").await?;

    let response = send(client.get(format!("{base}/api/v2/projects/{project_id}")).bearer_auth(&token)).await?;
    let body = expect(response, 200, "GET /projects/{id}").await?.bytes().await.map_err(|e| e.to_string())?;
    let login = json!({"email": email, "password": PASSWORD});
    let response = send(client.post(format!("{base}/api/v2/auth/login")).json(&login)).await?;
    expect(response, 200, "POST /auth/login").await?;
    Ok(Seed { email, token, project_id, project_bytes: body.len() })
}
