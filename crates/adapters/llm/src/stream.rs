//! A streamed reply: the events of the SSE body read as chat-completion chunks,
//! and the bounds on waiting for them.

use std::collections::VecDeque;

use async_trait::async_trait;
use devora_ports::generation::{ChatChunk, ChatStream, FinishReason, LlmError, LlmTimeout, TokenUsage};
use serde_json::Value;
use tokio::time::Instant;

use crate::sse::SseParser;

/// What one event of the stream said.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Said {
    /// More of the reply's text (never empty).
    Text(String),
    /// Nothing for the caller (a role-only delta, the finish reason, the usage).
    Nothing,
    /// `data: [DONE]` after a finish reason.
    Done,
}

/// The protocol's state across the events of one reply.
#[derive(Debug)]
pub(crate) struct Reply {
    finish: Option<FinishReason>,
    usage: Option<(u64, u64)>,
    prompt_chars: usize,
    reply_chars: usize,
}

impl Reply {
    /// `prompt_chars`: the characters of every message sent, for an estimate.
    pub(crate) fn new(prompt_chars: usize) -> Self {
        Self { finish: None, usage: None, prompt_chars, reply_chars: 0 }
    }

    /// Reads the data of one event.
    ///
    /// # Errors
    /// `Provider` for an error object, `Broken` for what the protocol does not allow.
    pub(crate) fn read(&mut self, data: &str) -> Result<Said, LlmError> {
        let data = data.trim();
        if data == "[DONE]" {
            // A provider that says it is done without saying why has not said the
            // reply is whole: cut replies must never look complete.
            return match self.finish {
                Some(_) => Ok(Said::Done),
                None => Err(LlmError::Broken("[DONE] came without a finish reason".to_owned())),
            };
        }
        if data.is_empty() {
            return Ok(Said::Nothing);
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| LlmError::Broken(format!("a chunk is not JSON ({e}): {}", excerpt(data))))?;
        if let Some(error) = provider_error(&chunk) {
            return Err(error);
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            let count = |name: &str| usage.get(name).and_then(Value::as_u64);
            if let (Some(prompt), Some(completion)) = (count("prompt_tokens"), count("completion_tokens")) {
                self.usage = Some((prompt, completion));
            }
        }
        let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) else {
            return Ok(Said::Nothing);
        };
        if let Some(raw) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish = Some(finish_reason(raw)?);
        }
        match choice.get("delta").and_then(|d| d.get("content")).and_then(Value::as_str) {
            Some(text) if !text.is_empty() => {
                self.reply_chars += text.chars().count();
                Ok(Said::Text(text.to_owned()))
            }
            _ => Ok(Said::Nothing),
        }
    }

    /// The last chunk, once the stream ended at `[DONE]` or at the end of the body.
    ///
    /// # Errors
    /// `Broken` when no finish reason came.
    pub(crate) fn finished(&self) -> Result<ChatChunk, LlmError> {
        let reason =
            self.finish.ok_or_else(|| LlmError::Broken("the stream ended without a finish reason".to_owned()))?;
        let usage = match self.usage {
            Some((prompt_tokens, completion_tokens)) => {
                TokenUsage { prompt_tokens, completion_tokens, estimated: false }
            }
            None => TokenUsage {
                prompt_tokens: estimate(self.prompt_chars),
                completion_tokens: estimate(self.reply_chars),
                estimated: true,
            },
        };
        Ok(ChatChunk::Finished { reason, usage })
    }
}

/// About four characters a token, rounded up, at least one.
fn estimate(chars: usize) -> u64 {
    u64::try_from(chars.div_ceil(4)).unwrap_or(u64::MAX).max(1)
}

/// The standard reasons, and the few synonyms servers send for them; anything
/// else (vLLM's `abort`, an `error`) means the reply did not end properly.
fn finish_reason(raw: &str) -> Result<FinishReason, LlmError> {
    FinishReason::parse(raw)
        .or(match raw {
            "eos" | "eos_token" | "end_turn" | "stop_sequence" => Some(FinishReason::Stop),
            "max_tokens" => Some(FinishReason::Length),
            _ => None,
        })
        .ok_or_else(|| LlmError::Broken(format!("the reply finished for an unknown reason: {}", excerpt(raw))))
}

/// An error object in either shape: OpenAI's and OpenRouter's
/// `{"error": {"message", "code", "type"}}` or vLLM's `{"object": "error", "message", "code"}`.
pub(crate) fn provider_error(body: &Value) -> Option<LlmError> {
    let error = match body.get("error") {
        Some(error) if error.is_object() => error,
        Some(Value::String(message)) => return Some(LlmError::Provider { code: None, message: message.clone() }),
        _ if body.get("object").and_then(Value::as_str) == Some("error") => body,
        _ => return None,
    };
    let code = match error.get("code") {
        Some(Value::String(code)) => Some(code.clone()),
        Some(Value::Number(code)) => Some(code.to_string()),
        _ => error.get("type").and_then(Value::as_str).map(str::to_owned),
    };
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .map_or_else(|| "an error without a message".to_owned(), str::to_owned);
    Some(LlmError::Provider { code, message })
}

/// The start of something the provider sent, for an error message.
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// Why reading stopped short of a chunk.
#[derive(Debug)]
pub(crate) enum Interrupt {
    /// The deadline passed.
    Timeout,
    /// The connection failed while the body was read.
    Transport(String),
    /// The provider said something final: an error, a broken protocol.
    Llm(LlmError),
}

/// A reply being streamed from the provider's response.
pub(crate) struct ProviderStream {
    /// Dropped as soon as the reply ended or failed, or with the stream: that
    /// closes the connection.
    response: Option<reqwest::Response>,
    parser: SseParser,
    reply: Reply,
    ready: VecDeque<ChatChunk>,
    /// `Finished` was handed out.
    complete: bool,
    failed: Option<LlmError>,
    idle: std::time::Duration,
    /// The end of the longest stream allowed.
    deadline: Instant,
}

impl ProviderStream {
    pub(crate) fn new(response: reqwest::Response, reply: Reply, idle: std::time::Duration, deadline: Instant) -> Self {
        Self {
            response: Some(response),
            parser: SseParser::new(),
            reply,
            ready: VecDeque::new(),
            complete: false,
            failed: None,
            idle,
            deadline,
        }
    }

    /// A chunk is ready to hand out.
    pub(crate) fn has_chunk(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Reads the next piece of the body, by `until` at the latest, into ready chunks.
    pub(crate) async fn pull(&mut self, until: Instant) -> Result<(), Interrupt> {
        let Some(response) = self.response.as_mut() else {
            return Ok(());
        };
        let piece = match tokio::time::timeout_at(until, response.chunk()).await {
            Err(_) => return Err(Interrupt::Timeout),
            Ok(Err(e)) => return Err(Interrupt::Transport(crate::model::describe(&e))),
            Ok(Ok(piece)) => piece,
        };
        let Some(bytes) = piece else {
            // The end of the body: an event left without its blank line is dropped,
            // as the standard says; the reply stands if its finish reason came.
            self.response = None;
            let last = self.reply.finished().map_err(Interrupt::Llm)?;
            self.ready.push_back(last);
            return Ok(());
        };
        self.parser.feed(&bytes);
        while let Some(data) = self.parser.next_event() {
            match self.reply.read(&data).map_err(Interrupt::Llm)? {
                Said::Text(text) => self.ready.push_back(ChatChunk::Delta(text)),
                Said::Nothing => {}
                Said::Done => {
                    self.response = None;
                    let last = self.reply.finished().map_err(Interrupt::Llm)?;
                    self.ready.push_back(last);
                    break;
                }
            }
        }
        Ok(())
    }

    fn fail(&mut self, error: LlmError) -> LlmError {
        tracing::warn!(%error, "the model provider's stream failed");
        self.response = None;
        self.ready.clear();
        self.failed = Some(error.clone());
        error
    }
}

#[async_trait]
impl ChatStream for ProviderStream {
    async fn next(&mut self) -> Result<Option<ChatChunk>, LlmError> {
        loop {
            if let Some(chunk) = self.ready.pop_front() {
                self.complete |= matches!(chunk, ChatChunk::Finished { .. });
                return Ok(Some(chunk));
            }
            if let Some(error) = &self.failed {
                return Err(error.clone());
            }
            if self.complete || self.response.is_none() {
                return Ok(None);
            }
            let until = (Instant::now() + self.idle).min(self.deadline);
            match self.pull(until).await {
                Ok(()) => {}
                Err(Interrupt::Timeout) if Instant::now() >= self.deadline => {
                    return Err(self.fail(LlmError::Broken("the stream took longer than allowed".to_owned())));
                }
                Err(Interrupt::Timeout) => return Err(self.fail(LlmError::Timeout(LlmTimeout::Idle))),
                Err(Interrupt::Transport(detail)) => {
                    return Err(self.fail(LlmError::Broken(format!("the connection dropped: {detail}"))));
                }
                Err(Interrupt::Llm(error)) => return Err(self.fail(error)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn chunk(content: Option<&str>, finish: Option<&str>) -> String {
        json!({ "id": "c1", "object": "chat.completion.chunk", "model": "m",
            "choices": [{ "index": 0, "delta": { "content": content }, "finish_reason": finish }] })
        .to_string()
    }

    #[test]
    fn deltas_finish_and_usage_make_a_finished_reply() {
        let mut reply = Reply::new(10);
        assert_eq!(reply.read(&json!({"choices":[{"delta":{"role":"assistant"}}]}).to_string()), Ok(Said::Nothing));
        assert_eq!(reply.read(&chunk(Some("Hel"), None)), Ok(Said::Text("Hel".into())));
        assert_eq!(reply.read(&chunk(Some(""), None)), Ok(Said::Nothing), "empty deltas are skipped");
        assert_eq!(reply.read(&chunk(None, None)), Ok(Said::Nothing), "null deltas are skipped");
        assert_eq!(reply.read(&chunk(Some("lo"), Some("length"))), Ok(Said::Text("lo".into())));
        let usage = json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}});
        assert_eq!(reply.read(&usage.to_string()), Ok(Said::Nothing));
        assert_eq!(reply.read("[DONE]"), Ok(Said::Done));
        assert_eq!(
            reply.finished(),
            Ok(ChatChunk::Finished {
                reason: FinishReason::Length,
                usage: TokenUsage { prompt_tokens: 12, completion_tokens: 2, estimated: false }
            })
        );
    }

    #[test]
    fn without_a_usage_chunk_the_usage_is_estimated_from_the_characters() {
        let mut reply = Reply::new(9);
        reply.read(&chunk(Some("héllo"), Some("stop"))).unwrap();
        let Ok(ChatChunk::Finished { usage, .. }) = reply.finished() else { panic!("not finished") };
        assert_eq!(usage, TokenUsage { prompt_tokens: 3, completion_tokens: 2, estimated: true });
        let empty = Reply { finish: Some(FinishReason::Stop), ..Reply::new(0) };
        let Ok(ChatChunk::Finished { usage, .. }) = empty.finished() else { panic!("not finished") };
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (1, 1), "at least one each");
    }

    #[test]
    fn an_end_without_a_finish_reason_is_broken_even_after_done() {
        let mut reply = Reply::new(1);
        reply.read(&chunk(Some("partial"), None)).unwrap();
        assert!(matches!(reply.finished(), Err(LlmError::Broken(_))));
        assert!(matches!(reply.read("[DONE]"), Err(LlmError::Broken(_))));
    }

    #[test]
    fn error_objects_of_both_shapes_are_provider_errors() {
        let mut reply = Reply::new(1);
        let openai = json!({"error": {"message": "Rate limit reached", "type": "rate_limit", "code": 429}});
        assert_eq!(
            reply.read(&openai.to_string()),
            Err(LlmError::Provider { code: Some("429".into()), message: "Rate limit reached".into() })
        );
        let openrouter = json!({"error": {"message": "Upstream failed", "code": "server_error"}});
        assert_eq!(
            reply.read(&openrouter.to_string()),
            Err(LlmError::Provider { code: Some("server_error".into()), message: "Upstream failed".into() })
        );
        let vllm = json!({"object": "error", "message": "out of KV cache", "type": "InternalServerError", "code": 500});
        assert_eq!(
            reply.read(&vllm.to_string()),
            Err(LlmError::Provider { code: Some("500".into()), message: "out of KV cache".into() })
        );
    }

    #[test]
    fn malformed_chunks_and_unknown_finish_reasons_are_broken() {
        let mut reply = Reply::new(1);
        assert!(matches!(reply.read("{not json"), Err(LlmError::Broken(_))));
        assert!(matches!(reply.read(&chunk(None, Some("abort"))), Err(LlmError::Broken(_))));
        assert_eq!(reply.read(&chunk(None, Some("eos_token"))), Ok(Said::Nothing));
        assert_eq!(reply.finish, Some(FinishReason::Stop));
    }
}
