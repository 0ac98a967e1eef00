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

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::StandInServer;

/// How the SSE bytes of a reply are cut into network chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Split {
    /// One chunk per event (and per comment).
    Events,
    /// Chunks of this many bytes (1: a byte per chunk).
    Size(usize),
    /// Cut at these byte offsets of the whole body.
    At(Vec<usize>),
}

/// How a reply's usage chunk is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// Counted from the text: characters / 4, rounded up, at least 1.
    Computed,
    Exact {
        prompt: u64,
        completion: u64,
    },
    /// No usage chunk at all.
    Omitted,
}

/// How a reply's stream ends, after its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The finish chunk, the usage chunk, `data: [DONE]`.
    Done,
    /// The finish chunk and the usage chunk, then the body ends cleanly without `[DONE]`.
    WithoutDone,
    /// The body is cut abruptly: no finish reason, no `[DONE]`.
    Drop,
    /// OpenAI's and OpenRouter's `{"error": {"message", "code", "type"}}`, then the body ends.
    OpenAiError { code: Value, message: String },
    /// vLLM's `{"object": "error", "message", "code"}`, then the body ends.
    VllmError { code: Value, message: String },
}

/// An HTTP failure answered instead of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpFailure {
    /// 429 with `Retry-After: <seconds>` when given.
    TooManyRequests { retry_after: Option<u64> },
    /// 500 with an `{"error": ...}` body.
    ServerError,
}

/// One scripted answer to a chat completion.
#[derive(Debug, Clone)]
pub struct ScriptedReply {
    /// The text, one delta each.
    pub deltas: Vec<String>,
    /// `None`: the finish chunk is left out (the stream still ends as [`Ending`] says).
    pub finish_reason: Option<String>,
    pub usage: Usage,
    pub ending: Ending,
    pub split: Split,
    /// A `: OPENROUTER PROCESSING` comment before every event.
    pub comments: bool,
    /// `data:{json}` instead of `data: {json}`.
    pub data_without_space: bool,
    /// Each JSON chunk pretty-printed over several `data:` lines.
    pub multiline_data: bool,
    /// Before the answer's headers.
    pub wait_before_headers: Duration,
    /// After the role chunk, before the first byte of text.
    pub wait_before_first_token: Duration,
    /// Before every network chunk after the first.
    pub delay_between_chunks: Duration,
    /// Answered, in order, to the requests before this reply is streamed.
    pub failures_first: VecDeque<HttpFailure>,
}

impl ScriptedReply {
    /// `text` in word-sized deltas, finish reason `stop`, computed usage, `[DONE]`.
    #[must_use]
    pub fn text(text: &str) -> Self {
        Self::deltas(text.split_inclusive(' ').map(str::to_owned).collect())
    }

    #[must_use]
    pub fn deltas(deltas: Vec<String>) -> Self {
        Self {
            deltas,
            finish_reason: Some("stop".to_owned()),
            usage: Usage::Computed,
            ending: Ending::Done,
            split: Split::Events,
            comments: false,
            data_without_space: false,
            multiline_data: false,
            wait_before_headers: Duration::ZERO,
            wait_before_first_token: Duration::ZERO,
            delay_between_chunks: Duration::ZERO,
            failures_first: VecDeque::new(),
        }
    }

    /// A long, slow reply for cancel tests: `n` deltas, `delay` before each network chunk.
    #[must_use]
    pub fn slow(n: usize, delay: Duration) -> Self {
        Self::deltas((0..n).map(|i| format!("word{i} ")).collect()).delay_between_chunks(delay)
    }

    #[must_use]
    pub fn finish_reason(mut self, reason: &str) -> Self {
        self.finish_reason = Some(reason.to_owned());
        self
    }

    #[must_use]
    pub fn without_finish_reason(mut self) -> Self {
        self.finish_reason = None;
        self
    }

    #[must_use]
    pub fn usage(mut self, prompt: u64, completion: u64) -> Self {
        self.usage = Usage::Exact { prompt, completion };
        self
    }

    #[must_use]
    pub fn without_usage(mut self) -> Self {
        self.usage = Usage::Omitted;
        self
    }

    #[must_use]
    pub fn ending(mut self, ending: Ending) -> Self {
        self.ending = ending;
        self
    }

    #[must_use]
    pub fn without_done(self) -> Self {
        self.ending(Ending::WithoutDone)
    }

    /// The text, then the connection cut: no finish reason, no `[DONE]`.
    #[must_use]
    pub fn drop_mid_stream(self) -> Self {
        self.ending(Ending::Drop)
    }

    #[must_use]
    pub fn openai_error_mid_stream(self, code: Value, message: &str) -> Self {
        self.ending(Ending::OpenAiError { code, message: message.to_owned() })
    }

    #[must_use]
    pub fn vllm_error_mid_stream(self, code: Value, message: &str) -> Self {
        self.ending(Ending::VllmError { code, message: message.to_owned() })
    }

    #[must_use]
    pub fn chunk_size(mut self, size: usize) -> Self {
        self.split = Split::Size(size.max(1));
        self
    }

    #[must_use]
    pub fn split_at(mut self, offsets: Vec<usize>) -> Self {
        self.split = Split::At(offsets);
        self
    }

    #[must_use]
    pub fn with_comments(mut self) -> Self {
        self.comments = true;
        self
    }

    #[must_use]
    pub fn data_without_space(mut self) -> Self {
        self.data_without_space = true;
        self
    }

    #[must_use]
    pub fn multiline_data(mut self) -> Self {
        self.multiline_data = true;
        self
    }

    #[must_use]
    pub fn wait_before_headers(mut self, wait: Duration) -> Self {
        self.wait_before_headers = wait;
        self
    }

    #[must_use]
    pub fn wait_before_first_token(mut self, wait: Duration) -> Self {
        self.wait_before_first_token = wait;
        self
    }

    #[must_use]
    pub fn delay_between_chunks(mut self, delay: Duration) -> Self {
        self.delay_between_chunks = delay;
        self
    }

    /// Answers `failure` to the next `n` requests, then this reply.
    #[must_use]
    pub fn after_failures(mut self, n: usize, failure: HttpFailure) -> Self {
        self.failures_first.extend(std::iter::repeat_n(failure, n));
        self
    }

    /// The reply's text, all deltas joined.
    #[must_use]
    pub fn full_text(&self) -> String {
        self.deltas.concat()
    }

    /// The whole SSE body and, for each event (comments included), the offset
    /// where it starts; also the offset where the first text starts.
    #[must_use]
    pub fn sse_body(&self, prompt_chars: usize) -> (Vec<u8>, Vec<usize>, Option<usize>) {
        let id = "chatcmpl-standin";
        let created = super::unix_now();
        let model = "standin-model";
        let chunk = |delta: Value, finish: Option<&str>| {
            json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }] })
        };
        let mut events: Vec<(Value, bool)> = vec![(chunk(json!({ "role": "assistant", "content": "" }), None), false)];
        for delta in &self.deltas {
            events.push((chunk(json!({ "content": delta }), None), true));
        }
        let text_chars = self.full_text().chars().count();
        let tail: Vec<Value> = match &self.ending {
            Ending::Done | Ending::WithoutDone => {
                let mut tail = Vec::new();
                if let Some(reason) = &self.finish_reason {
                    tail.push(chunk(json!({}), Some(reason)));
                }
                let estimate = |chars: usize| u64::try_from(chars.div_ceil(4).max(1)).unwrap();
                let usage = match self.usage {
                    Usage::Computed => Some((estimate(prompt_chars), estimate(text_chars))),
                    Usage::Exact { prompt, completion } => Some((prompt, completion)),
                    Usage::Omitted => None,
                };
                if let Some((prompt, completion)) = usage {
                    tail.push(json!({ "id": id, "object": "chat.completion.chunk", "created": created,
                        "model": model, "choices": [],
                        "usage": { "prompt_tokens": prompt, "completion_tokens": completion,
                                   "total_tokens": prompt + completion } }));
                }
                tail
            }
            Ending::Drop => Vec::new(),
            Ending::OpenAiError { code, message } => {
                vec![json!({ "error": { "message": message, "type": "server_error", "code": code } })]
            }
            Ending::VllmError { code, message } => {
                vec![json!({ "object": "error", "message": message, "type": "InternalServerError", "param": null,
                    "code": code })]
            }
        };
        events.extend(tail.into_iter().map(|v| (v, false)));
        let prefix = if self.data_without_space { "data:" } else { "data: " };
        let mut body = Vec::new();
        let mut starts = Vec::new();
        let mut first_text = None;
        let mut push_event = |body: &mut Vec<u8>, lines: Vec<String>, is_text: bool| {
            if self.comments {
                starts.push(body.len());
                body.extend_from_slice(b": OPENROUTER PROCESSING\n\n");
            }
            starts.push(body.len());
            if is_text && first_text.is_none() {
                first_text = Some(body.len());
            }
            for line in lines {
                body.extend_from_slice(prefix.as_bytes());
                body.extend_from_slice(line.as_bytes());
                body.push(b'\n');
            }
            body.push(b'\n');
        };
        for (event, is_text) in events {
            let lines = if self.multiline_data {
                serde_json::to_string_pretty(&event).unwrap().lines().map(str::to_owned).collect()
            } else {
                vec![event.to_string()]
            };
            push_event(&mut body, lines, is_text);
        }
        if self.ending == Ending::Done {
            push_event(&mut body, vec!["[DONE]".to_owned()], false);
        }
        (body, starts, first_text)
    }

    /// The network chunks of the body, each with the wait before it.
    fn network_chunks(&self, prompt_chars: usize) -> Vec<(Duration, Vec<u8>)> {
        let (body, starts, first_text) = self.sse_body(prompt_chars);
        let mut cuts: Vec<usize> = match &self.split {
            Split::Events => starts,
            Split::Size(size) => (0..body.len()).step_by(*size).collect(),
            Split::At(offsets) => offsets.clone(),
        };
        // The first-token wait needs a cut where the text starts.
        cuts.extend(first_text);
        cuts.push(0);
        cuts.push(body.len());
        cuts.retain(|&c| c <= body.len());
        cuts.sort_unstable();
        cuts.dedup();
        cuts.windows(2)
            .enumerate()
            .map(|(i, w)| {
                let mut wait = if i == 0 { Duration::ZERO } else { self.delay_between_chunks };
                if Some(w[0]) == first_text {
                    wait += self.wait_before_first_token;
                }
                (wait, body[w[0]..w[1]].to_vec())
            })
            .collect()
    }
}

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
