//! An OpenAI-compatible provider: `POST /v1/chat/completions` streamed as
//! `text/event-stream` with chunked transfer (a role chunk, `choices[0].delta.content`
//! chunks, a `finish_reason` chunk, a final `choices: []` usage chunk, `data: [DONE]`),
//! and `GET /v1/models`.
//!
//! It checks what a real provider would (the bearer key when one is set, answering
//! 401 with an `{"error": {...}}` body) and what Devora promises on top (`stream: true`
//! and `stream_options.include_usage`). Replies are scripted ([`ScriptedReply`]):
//! a queue consumed one per request, a default when it is empty. Every chat request
//! body is recorded, and the stand-in counts streams started, finished, and those
//! whose client went away before the end.

mod reply;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

pub use reply::{Ending, HttpFailure, ScriptedReply, Split, Usage};

use super::StandInServer;

#[derive(Default)]
struct LlmState {
    api_key: Option<String>,
    models: Vec<(String, Option<String>)>,
    script: VecDeque<ScriptedReply>,
    default_reply: Option<ScriptedReply>,
    /// Every chat-completion body received, failed ones included.
    requests: Vec<Value>,
    models_requests: usize,
    streams_started: usize,
    streams_completed: usize,
    /// Streams whose client went away before their last byte.
    streams_abandoned: usize,
}

/// Records how a stream's body ended when actix drops it: before its last chunk
/// was taken means the client went away.
struct StreamWatch {
    state: Arc<Mutex<LlmState>>,
    completed: bool,
}

impl StreamWatch {
    fn complete(&mut self) {
        self.completed = true;
    }
}

impl Drop for StreamWatch {
    fn drop(&mut self) {
        let mut st = self.state.lock().unwrap();
        if self.completed {
            st.streams_completed += 1;
        } else {
            st.streams_abandoned += 1;
        }
    }
}

struct Feed {
    chunks: VecDeque<(Duration, Vec<u8>)>,
    cut: bool,
    /// Before the cut, like before any chunk (so what came before it is flushed).
    wait_before_cut: Duration,
    watch: StreamWatch,
}

fn error_body(message: &str, kind: &str, code: Value) -> Value {
    json!({ "error": { "message": message, "type": kind, "param": null, "code": code } })
}

fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status).content_type("application/json").body(body.to_string())
}

/// The 401 a request without the configured key gets.
fn unauthorized(req: &HttpRequest, st: &LlmState) -> Option<HttpResponse> {
    let key = st.api_key.as_ref()?;
    let sent = req.headers().get("authorization").and_then(|v| v.to_str().ok());
    if sent == Some(format!("Bearer {key}").as_str()) {
        return None;
    }
    Some(json_response(
        StatusCode::UNAUTHORIZED,
        &error_body("Incorrect API key provided.", "invalid_request_error", json!("invalid_api_key")),
    ))
}

async fn models(req: HttpRequest, state: web::Data<Mutex<LlmState>>) -> HttpResponse {
    let mut st = state.lock().unwrap();
    st.models_requests += 1;
    if let Some(refusal) = unauthorized(&req, &st) {
        return refusal;
    }
    let data: Vec<Value> = st
        .models
        .iter()
        .map(|(id, owned_by)| json!({ "id": id, "object": "model", "created": 1_700_000_000, "owned_by": owned_by }))
        .collect();
    json_response(StatusCode::OK, &json!({ "object": "list", "data": data }))
}

async fn chat(req: HttpRequest, body: web::Bytes, state: web::Data<Mutex<LlmState>>) -> HttpResponse {
    let shared = state.clone().into_inner();
    let (reply, prompt_chars) = {
        let mut st = state.lock().unwrap();
        let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        st.requests.push(parsed.clone());
        if let Some(refusal) = unauthorized(&req, &st) {
            return refusal;
        }
        let bad = |message: &str| {
            json_response(StatusCode::BAD_REQUEST, &error_body(message, "invalid_request_error", Value::Null))
        };
        if parsed["stream"] != json!(true) {
            return bad("this stand-in only streams: send \"stream\": true");
        }
        if parsed["stream_options"]["include_usage"] != json!(true) {
            return bad("send \"stream_options\": {\"include_usage\": true}");
        }
        if parsed["model"].as_str().is_none_or(str::is_empty) {
            return bad("you must provide a model parameter");
        }
        let Some(messages) = parsed["messages"].as_array().filter(|m| !m.is_empty()) else {
            return bad("messages must be a non-empty array");
        };
        let prompt_chars: usize = messages.iter().map(|m| m["content"].as_str().map_or(0, |c| c.chars().count())).sum();
        if let Some(front) = st.script.front_mut()
            && let Some(failure) = front.failures_first.pop_front()
        {
            return match failure {
                HttpFailure::TooManyRequests { retry_after } => {
                    let mut response = HttpResponse::TooManyRequests();
                    if let Some(seconds) = retry_after {
                        response.insert_header(("retry-after", seconds.to_string()));
                    }
                    response.content_type("application/json").body(
                        error_body("Rate limit reached for requests", "requests", json!("rate_limit_exceeded"))
                            .to_string(),
                    )
                }
                HttpFailure::ServerError => json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &error_body("The server had an error while processing your request.", "server_error", json!(500)),
                ),
            };
        }
        let reply = st
            .script
            .pop_front()
            .or_else(|| st.default_reply.clone())
            .unwrap_or_else(|| ScriptedReply::text("Hello from the stand-in."));
        st.streams_started += 1;
        (reply, prompt_chars)
    };
    if !reply.wait_before_headers.is_zero() {
        tokio::time::sleep(reply.wait_before_headers).await;
    }
    let feed = Feed {
        chunks: reply.network_chunks(prompt_chars).into(),
        cut: reply.ending == Ending::Drop,
        wait_before_cut: reply.delay_between_chunks,
        watch: StreamWatch { state: shared, completed: false },
    };
    let body = futures_util::stream::unfold(feed, |mut feed| async move {
        match feed.chunks.pop_front() {
            Some((wait, bytes)) => {
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                // The last chunk taken: the client has had (or is being sent) everything.
                feed.watch.completed |= feed.chunks.is_empty() && !feed.cut;
                Some((Ok(web::Bytes::from(bytes)), feed))
            }
            None if feed.cut => {
                if !feed.wait_before_cut.is_zero() {
                    tokio::time::sleep(feed.wait_before_cut).await;
                }
                feed.cut = false;
                feed.watch.completed = true;
                Some((Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "stand-in cut the stream")), feed))
            }
            None => {
                feed.watch.complete();
                None
            }
        }
    });
    HttpResponse::Ok().content_type("text/event-stream").insert_header(("cache-control", "no-cache")).streaming(body)
}

/// A local OpenAI-compatible provider.
pub struct LlmStandIn {
    /// The API base, `http://127.0.0.1:<port>/v1`, as `LLM_BASE_URL` would name it.
    pub url: String,
    state: Arc<Mutex<LlmState>>,
    _server: StandInServer,
}

impl LlmStandIn {
    /// Without a key (any or no `Authorization` is accepted), offering one model.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Accepting only `Authorization: Bearer <api_key>`.
    pub async fn with_key(api_key: &str) -> Self {
        Self::start_with(Some(api_key.to_owned())).await
    }

    async fn start_with(api_key: Option<String>) -> Self {
        let state = Arc::new(Mutex::new(LlmState {
            api_key,
            models: vec![("standin-model".to_owned(), Some("devora".to_owned()))],
            ..LlmState::default()
        }));
        let data = web::Data::from(state.clone());
        let server = StandInServer::start(move |cfg| {
            cfg.app_data(data.clone())
                .route("/v1/chat/completions", web::post().to(chat))
                .route("/v1/models", web::get().to(models));
        });
        Self { url: format!("{}/v1", server.url), state, _server: server }
    }

    /// The models `GET /v1/models` lists: (id, owned_by).
    pub fn set_models(&self, models: &[(&str, Option<&str>)]) {
        self.state.lock().unwrap().models =
            models.iter().map(|(id, owner)| ((*id).to_owned(), owner.map(str::to_owned))).collect();
    }

    /// Queues a reply for the next chat completion (after those already queued).
    pub fn script(&self, reply: ScriptedReply) {
        self.state.lock().unwrap().script.push_back(reply);
    }

    /// What a chat completion gets when the queue is empty.
    pub fn set_default_reply(&self, reply: ScriptedReply) {
        self.state.lock().unwrap().default_reply = Some(reply);
    }

    /// Every chat-completion request body received, refused and failed ones included.
    pub fn requests(&self) -> Vec<Value> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn models_requests(&self) -> usize {
        self.state.lock().unwrap().models_requests
    }

    pub fn streams_started(&self) -> usize {
        self.state.lock().unwrap().streams_started
    }

    /// Streams whose every byte was taken by the connection.
    pub fn streams_completed(&self) -> usize {
        self.state.lock().unwrap().streams_completed
    }

    /// Streams whose client went away before their last byte.
    pub fn streams_abandoned(&self) -> usize {
        self.state.lock().unwrap().streams_abandoned
    }

    /// Waits until at least `n` streams were abandoned by their client; false if
    /// that did not happen `within`.
    pub async fn wait_for_abandoned(&self, n: usize, within: Duration) -> bool {
        let until = tokio::time::Instant::now() + within;
        loop {
            if self.streams_abandoned() >= n {
                return true;
            }
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
