//! The provider's two endpoints, the retries before the first token, and the
//! translation of its HTTP errors.

use std::time::Duration;

use async_trait::async_trait;
use devora_outbound::OutboundHttp;
use devora_ports::generation::{ChatRequest, ChatStream, LanguageModel, LlmError, LlmTimeout, ModelInfo};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::LlmConfig;
use crate::stream::{Interrupt, ProviderStream, Reply, excerpt, provider_error};

/// [`LanguageModel`] over an OpenAI-compatible `/chat/completions` and `/models`.
#[derive(Debug, Clone)]
pub struct OpenAiCompatibleModel {
    config: LlmConfig,
    http: OutboundHttp,
}

/// What one try came to.
enum Attempt<T> {
    Done(T),
    /// Worth another try (connection failure, 429, 5xx).
    Transient {
        detail: String,
        retry_after: Option<Duration>,
        /// Connecting timed out: the error if this was the last try.
        connect_timeout: bool,
    },
    Final(LlmError),
}

#[derive(Deserialize)]
struct ModelList {
    data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
    owned_by: Option<String>,
}

impl OpenAiCompatibleModel {
    #[must_use]
    pub fn new(config: LlmConfig, http: OutboundHttp) -> Self {
        let client_connect = http.config().connect_timeout;
        if client_connect > config.timeouts.connect {
            tracing::warn!(
                configured = ?config.timeouts.connect,
                applied = ?client_connect,
                "the LLM connect timeout is shorter than the shared outbound client's, which is the one applied"
            );
        }
        Self { config, http }
    }

    /// Runs `attempt` until it is done, final, or the retries are used up.
    async fn with_retries<T, F>(&self, what: &str, mut attempt: impl FnMut() -> F) -> Result<T, LlmError>
    where
        F: Future<Output = Attempt<T>>,
    {
        let retry = self.config.retry;
        let mut tries = 0u32;
        loop {
            tries += 1;
            let (detail, retry_after, connect_timeout) = match attempt().await {
                Attempt::Done(value) => return Ok(value),
                Attempt::Final(error) => return Err(error),
                Attempt::Transient { detail, retry_after, connect_timeout } => (detail, retry_after, connect_timeout),
            };
            if tries >= retry.max_attempts.max(1) {
                tracing::warn!(what, tries, %detail, "the model provider stayed unavailable; giving up");
                return Err(if connect_timeout {
                    LlmError::Timeout(LlmTimeout::Connect)
                } else {
                    LlmError::Unavailable(format!("{what}: {detail} (gave up after {tries} tries)"))
                });
            }
            let wait = match retry_after {
                Some(asked) if asked > retry.max_retry_after => {
                    tracing::warn!(what, tries, ?asked, %detail, "the model provider asks to wait too long; giving up");
                    return Err(LlmError::Unavailable(format!(
                        "{what}: {detail} (asked to retry after {}s)",
                        asked.as_secs()
                    )));
                }
                Some(asked) => asked,
                None => retry.delay(tries - 1),
            };
            tracing::warn!(what, tries, ?wait, %detail, "a call to the model provider failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.config.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// One try of a streamed completion, up to its first chunk.
    async fn chat_attempt(&self, body: &Value, prompt_chars: usize) -> Attempt<ProviderStream> {
        let started = Instant::now();
        let first_token_by = started + self.config.timeouts.first_token;
        let stream_deadline = started + self.config.max_stream_duration;
        let request = self
            .http
            .client()
            .post(self.config.url("chat/completions"))
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(body)
            // Replaces the client's short total timeout; our own deadline fires first.
            .timeout(self.config.max_stream_duration + Duration::from_secs(1));
        let response = match tokio::time::timeout_at(first_token_by, self.authorized(request).send()).await {
            Err(_) => return Attempt::Final(first_token_timeout("waiting for the answer's headers")),
            Ok(Err(e)) => return transport("chat completion", &e),
            Ok(Ok(response)) => response,
        };
        let response = match tokio::time::timeout_at(first_token_by, refused(response, "chat completion")).await {
            Err(_) => return Attempt::Final(first_token_timeout("reading an error answer")),
            Ok(Err(refusal)) => return refusal,
            Ok(Ok(response)) => response,
        };
        let mut stream =
            ProviderStream::new(response, Reply::new(prompt_chars), self.config.timeouts.idle, stream_deadline);
        while !stream.has_chunk() {
            match stream.pull(first_token_by.min(stream_deadline)).await {
                Ok(()) => {}
                Err(Interrupt::Timeout) => return Attempt::Final(first_token_timeout("waiting for the first token")),
                // Nothing was handed out yet, so trying again duplicates nothing.
                Err(Interrupt::Transport(detail)) => {
                    return Attempt::Transient {
                        detail: format!("the connection dropped before the first token: {detail}"),
                        retry_after: None,
                        connect_timeout: false,
                    };
                }
                Err(Interrupt::Llm(error)) => {
                    tracing::warn!(%error, "the model provider's stream failed before the first token");
                    return Attempt::Final(error);
                }
            }
        }
        Attempt::Done(stream)
    }

    async fn models_attempt(&self) -> Attempt<Vec<ModelInfo>> {
        let request =
            self.http.client().get(self.config.url("models")).header(reqwest::header::ACCEPT, "application/json");
        let response = match self.authorized(request).send().await {
            Ok(response) => response,
            Err(e) => return transport("models", &e),
        };
        let response = match refused(response, "models").await {
            Ok(response) => response,
            Err(refusal) => return refusal,
        };
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(e) => return transport("models", &e),
        };
        match serde_json::from_slice::<ModelList>(&body) {
            Ok(list) => {
                Attempt::Done(list.data.into_iter().map(|m| ModelInfo { id: m.id, owned_by: m.owned_by }).collect())
            }
            Err(e) => {
                tracing::warn!(error = %e, "the model provider's model list is unreadable");
                Attempt::Final(LlmError::Broken(format!(
                    "the model list is unreadable ({e}): {}",
                    excerpt(&String::from_utf8_lossy(&body))
                )))
            }
        }
    }
}

#[async_trait]
impl LanguageModel for OpenAiCompatibleModel {
    async fn models(&self) -> Result<Vec<ModelInfo>, LlmError> {
        self.with_retries("models", || self.models_attempt()).await
    }

    async fn stream_chat(&self, request: ChatRequest) -> Result<Box<dyn ChatStream>, LlmError> {
        let prompt_chars = request.messages.iter().map(|m| m.content.chars().count()).sum();
        let messages: Vec<Value> =
            request.messages.iter().map(|m| json!({ "role": m.role.as_str(), "content": m.content })).collect();
        let mut body = json!({
            "model": request.model,
            "messages": messages,
            "max_tokens": request.max_tokens,
            "stream": true,
            "stream_options": { "include_usage": true },
        });
        if let Some(temperature) = request.temperature {
            body["temperature"] = json!(temperature);
        }
        let stream = self.with_retries("chat completion", || self.chat_attempt(&body, prompt_chars)).await?;
        Ok(Box::new(stream))
    }
}

fn first_token_timeout(when: &str) -> LlmError {
    tracing::warn!(when, "the model provider did not send a first token in time");
    LlmError::Timeout(LlmTimeout::FirstToken)
}

/// A reqwest error with its causes ("error sending request" alone says little).
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn transport<T>(what: &str, error: &reqwest::Error) -> Attempt<T> {
    let detail = describe(error);
    tracing::debug!(what, %detail, "the model provider could not be reached");
    Attempt::Transient { detail, retry_after: None, connect_timeout: error.is_connect() && error.is_timeout() }
}

/// The response when it is a success; otherwise what its error means.
async fn refused<T>(response: reqwest::Response, what: &str) -> Result<reqwest::Response, Attempt<T>> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after =
        response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(retry_after);
    let body = response.bytes().await.unwrap_or_default();
    let message = error_message(status, &body);
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        tracing::warn!(what, %status, ?retry_after, %message, "the model provider answered an error");
        return Err(Attempt::Transient { detail: format!("{status}: {message}"), retry_after, connect_timeout: false });
    }
    tracing::warn!(what, %status, %message, "the model provider refused the request");
    Err(Attempt::Final(LlmError::Rejected { status: status.as_u16(), message }))
}

/// The message of an error answer: `{"error": {"message"}}` (or vLLM's top-level
/// `message`), else the start of the body, else the status.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<Value>(body)
        && let Some(LlmError::Provider { message, .. }) = provider_error(&value)
    {
        return message;
    }
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() { status.to_string() } else { excerpt(text.trim()) }
}

/// `Retry-After` in seconds or as an HTTP-date.
fn retry_after(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    if let Ok(seconds) = raw.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_seconds_and_as_an_http_date() {
        assert_eq!(retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO), "a past date: now");
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(20)).format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let wait = retry_after(&soon).unwrap();
        assert!(wait > Duration::from_secs(17) && wait <= Duration::from_secs(20), "{wait:?}");
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn error_messages_come_from_the_error_body_when_there_is_one() {
        let status = StatusCode::UNAUTHORIZED;
        assert_eq!(
            error_message(
                status,
                br#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#
            ),
            "Incorrect API key provided"
        );
        assert_eq!(
            error_message(status, br#"{"object":"error","message":"no such model","code":404}"#),
            "no such model"
        );
        assert_eq!(error_message(status, b"<html>nope</html>"), "<html>nope</html>");
        assert_eq!(error_message(status, b""), "401 Unauthorized");
    }
}
