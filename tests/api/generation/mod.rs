//! Generation against the OpenAI-compatible stand-in: jobs from request to end,
//! their event streams, budgets, and several nodes (in-process and real processes).

mod budgets;
mod files;
mod lifecycle;
mod nodes;
mod processes;
mod streams;

use std::pin::Pin;
use std::time::Duration;

use devora_e2e::standins::LlmStandIn;
use futures_util::{Stream, StreamExt};
use serde_json::json;

use super::*;

/// The plan every generation test runs on unless it brings its own: room for
/// many jobs at once, the stand-in's models allowed.
pub fn roomy_limits() -> Value {
    json!({"projects": 1000, "generations_per_month": 1000, "tokens_per_month": 10_000_000,
           "concurrent_jobs": 50, "storage_bytes": 10_000_000, "models": ["gpt-4o-mini", "test-model"]})
}

/// A server wired to an LLM stand-in, on a catalogue whose free plan has `limits`.
pub struct Gen {
    pub app: TestApp,
    pub llm: LlmStandIn,
    _plans: devora_e2e::TempDir,
}

/// The environment a generation server runs with: short polls and leases.
pub fn generation_env(llm: &LlmStandIn, plans_file: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("LLM_BASE_URL", llm.url.as_str()),
        ("LLM_MODEL", "gpt-4o-mini"),
        ("LLM_FIRST_TOKEN_TIMEOUT_SECS", "10"),
        ("GENERATION_POLL_MS", "100"),
        ("GENERATION_LEASE_MS", "3000"),
        ("RATE_LIMIT_GENERATION", "10000/min"),
        ("BILLING_PLANS_FILE", plans_file),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    env
}

/// A catalogue file holding one free plan with `limits`.
pub fn plans_file(limits: &Value) -> (devora_e2e::TempDir, String) {
    let dir = devora_e2e::TempDir::new();
    let file = dir.path().join("plans.json");
    std::fs::write(
        &file,
        json!({"version": 1, "plans": [{"id": "free", "name": "Free", "limits": limits}]}).to_string(),
    )
    .unwrap();
    let path = file.to_str().unwrap().to_owned();
    (dir, path)
}

impl Gen {
    pub async fn spawn(variant: Variant) -> Self {
        Self::spawn_with(variant, &roomy_limits(), &[], Options::default()).await
    }

    pub async fn spawn_with(variant: Variant, limits: &Value, extra: &[(&str, &str)], mut options: Options) -> Self {
        let llm = LlmStandIn::start().await;
        let (plans, file) = plans_file(limits);
        let mut env = generation_env(&llm, &file, extra);
        env.append(&mut options.env);
        options.env = env;
        let app = TestApp::spawn_with(variant, options).await;
        Self { app, llm, _plans: plans }
    }

    /// A signed-in user with a project: (token, project id).
    pub async fn user_with_project(&self) -> (SignedIn, String) {
        let user = self.app.new_user().await;
        let project = self.app.create_project_id(&user.access_token, "Generated").await;
        (user, project)
    }

    /// Starts an agentic job; asserts 202 and returns the job.
    pub async fn start(&self, token: &str, project: &str, prompt: &str) -> Value {
        let res = self
            .app
            .post_as(token, "/api/v2/generation/agentic", &json!({"project_id": project, "prompt": prompt}))
            .await;
        assert_eq!(res.status().as_u16(), 202, "start: {}", res.text().await.unwrap_or_default());
        res.json().await.unwrap()
    }

    pub async fn job(&self, token: &str, id: &str) -> Value {
        self.app.get_json_as(token, &format!("/api/v2/generation/jobs/{id}")).await
    }

    /// Polls the job until `done` holds (within 20 s) and returns it.
    pub async fn wait_until(&self, token: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        wait_until(&self.app, token, id, done).await
    }

    /// Polls until the job has ended.
    pub async fn wait_for_end(&self, token: &str, id: &str) -> Value {
        self.wait_until(token, id, ended).await
    }
}

pub fn ended(job: &Value) -> bool {
    matches!(job["status"].as_str(), Some("succeeded" | "failed" | "cancelled"))
}

pub async fn wait_until(app: &TestApp, token: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let job = app.get_json_as(token, &format!("/api/v2/generation/jobs/{id}")).await;
        if done(&job) {
            return job;
        }
        assert!(tokio::time::Instant::now() < deadline, "job never reached the state: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One Server-Sent Events frame with data.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<u64>,
    pub event: Option<String>,
    pub data: Value,
}

/// Reads a `text/event-stream` response frame by frame.
pub struct SseReader {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<actix_web::web::Bytes>> + Send>>,
    buf: String,
    pub retry: Option<u64>,
    pub comments: usize,
}

impl SseReader {
    pub fn new(res: reqwest::Response) -> Self {
        Self { body: Box::pin(res.bytes_stream()), buf: String::new(), retry: None, comments: 0 }
    }

    /// The next event with data; `None` when the server ended the stream.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, None, Vec::new());
                for line in frame.lines() {
                    if let Some(rest) = line.strip_prefix(':') {
                        let _ = rest;
                        self.comments += 1;
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("retry: ") {
                        self.retry = Some(v.parse().unwrap());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return Some(SseEvent { id, event, data: serde_json::from_str(&data.join("\n")).unwrap() });
            }
            let chunk =
                tokio::time::timeout(Duration::from_secs(20), self.body.next()).await.expect("an event in time");
            match chunk {
                Some(Ok(bytes)) => self.buf.push_str(std::str::from_utf8(&bytes).unwrap()),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Every remaining event until the server ends the stream.
    pub async fn rest(&mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }
}

/// Opens a job's event stream with a bearer token, resuming after `last_event_id`.
pub async fn open_events(app: &TestApp, token: &str, job: &str, last_event_id: Option<u64>) -> reqwest::Response {
    let mut req = app.client.get(app.url(&format!("/api/v2/generation/jobs/{job}/events"))).bearer_auth(token);
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id.to_string());
    }
    req.send().await.unwrap()
}

/// The delta texts of `events`, joined.
pub fn text_of(events: &[SseEvent]) -> String {
    events.iter().filter(|e| e.data["type"] == "delta").map(|e| e.data["text"].as_str().unwrap()).collect()
}

/// Asserts the events carry sequence numbers `from..` without gaps or repeats,
/// `id:` equal to `seq` and `event:` equal to `type`.
pub fn assert_contiguous(events: &[SseEvent], from: u64) {
    for (i, e) in events.iter().enumerate() {
        let seq = from + i as u64;
        assert_eq!(e.data["seq"], seq, "event {i} of {events:?}");
        assert_eq!(e.id, Some(seq));
        assert_eq!(e.event.as_deref(), e.data["type"].as_str());
    }
}
