//! An OpenAI-compatible chat-completions provider (OpenAI, OpenRouter, vLLM,
//! llama.cpp, Ollama...) behind [`devora_ports::generation::LanguageModel`], over the shared
//! outbound client, streamed: the SSE body is parsed incrementally as it arrives.
//!
//! # Requests
//! - `POST {base}/chat/completions` with `{model, messages, max_tokens, temperature?,
//!   stream: true, stream_options: {include_usage: true}}`; `GET {base}/models`.
//! - `Authorization: Bearer <key>` when a key is configured (never logged).
//!
//! # Retries and timeouts
//! - Only before the first token: connection errors, 429 and 5xx are retried with
//!   exponential backoff and full jitter; a `Retry-After` (seconds or HTTP-date) is
//!   obeyed up to [`RetryPolicy::max_retry_after`]. A connection that drops before
//!   the first token counts as a connection error. Once a token was handed out the
//!   call is never repeated (the reply would be duplicated), and an error object in
//!   the stream is final even before the first token (the provider has answered).
//! - Other 4xx: [`LlmError::Rejected`](devora_ports::generation::LlmError::Rejected), not retried.
//!   Retries used up: `Unavailable` (or `Timeout(Connect)` when connecting timed out).
//! - [`stream_chat`](devora_ports::generation::LanguageModel::stream_chat) resolves once the first
//!   delta (or the finish) arrived, within `first_token` per attempt; afterwards each
//!   chunk must come within `idle`, and the whole stream within
//!   [`LlmConfig::max_stream_duration`] (the shared client's 10 s total timeout is
//!   overridden per request for this).
//! - Connecting is bounded by the shared client's connect timeout: reqwest has no
//!   per-request one, so build the outbound client with `LlmTimeouts::connect` (or
//!   less); the adapter warns at start-up when the client's bound is longer.
//!
//! # Stream outcome
//! A stream succeeds with [`ChatChunk::Finished`](devora_ports::generation::ChatChunk::Finished) only
//! when a finish reason was seen and then `data: [DONE]` or a clean end of body came.
//! `[DONE]` without any finish reason, or an end (clean or not) without both, is
//! `Broken`: a provider that stops early must never look like a complete, short reply.
//! Without a usage chunk the usage is estimated (characters / 4, rounded up, at least 1)
//! and marked `estimated`. Error objects inside the stream, OpenAI's
//! `{"error": {"message", "code", "type"}}` and vLLM's `{"object": "error", "message",
//! "code"}`, become `Provider` errors. Dropping the stream drops the response, which
//! closes the connection.
//!
//! # Wiring
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use devora_llm::{LlmConfig, OpenAiCompatibleModel};
//! use devora_outbound::{OutboundConfig, OutboundHttp};
//! use devora_ports::generation::{LanguageModel, LlmTimeouts};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let timeouts = LlmTimeouts {
//!     connect: Duration::from_secs(5),
//!     first_token: Duration::from_secs(60),
//!     idle: Duration::from_secs(30),
//! };
//! // The process's one outbound client, shared with Stripe and the identity providers.
//! let http = OutboundHttp::new(OutboundConfig { connect_timeout: timeouts.connect, ..OutboundConfig::default() })?;
//! // LLM_BASE_URL, LLM_API_KEY (LLM_MODEL goes into each ChatRequest)
//! let config = LlmConfig::new("https://openrouter.ai/api/v1").with_api_key("sk-or-...").with_timeouts(timeouts);
//! let model: Arc<dyn LanguageModel> = Arc::new(OpenAiCompatibleModel::new(config, http));
//! # Ok(())
//! # }
//! ```

mod model;
mod sse;
mod stream;

use std::time::Duration;

use devora_ports::generation::LlmTimeouts;

pub use model::OpenAiCompatibleModel;

/// How calls are retried before the first token: up to `max_attempts` tries in
/// all, waiting a uniformly random time in `[0, min(max_delay, base_delay * 2^n)]`
/// before retry `n` ("full jitter"), or what `Retry-After` asks, if not more than
/// `max_retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (at least 1).
    pub max_attempts: u32,
    pub base_delay: Duration,
    /// The cap on one backoff wait.
    pub max_delay: Duration,
    /// The longest `Retry-After` obeyed; a longer one gives up at once (`Unavailable`).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The longest backoff before retry `retry` (0-based): the base doubled per retry, capped.
    #[must_use]
    pub fn ceiling(&self, retry: u32) -> Duration {
        self.base_delay.saturating_mul(2u32.saturating_pow(retry)).min(self.max_delay)
    }

    /// A random wait in `[0, ceiling(retry)]`.
    #[must_use]
    pub fn delay(&self, retry: u32) -> Duration {
        use rand::Rng as _;
        let ceiling = u64::try_from(self.ceiling(retry).as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=ceiling))
    }
}

/// Where the provider is and how patiently it is called.
#[derive(Clone)]
pub struct LlmConfig {
    /// `LLM_BASE_URL`, e.g. `https://api.openai.com/v1`, stored without a trailing slash.
    pub base_url: String,
    /// `LLM_API_KEY`, sent as a bearer token; local servers (vLLM, llama.cpp) may need none.
    pub api_key: Option<String>,
    pub timeouts: LlmTimeouts,
    pub retry: RetryPolicy,
    /// The longest a whole stream may take, from the request to the last chunk.
    pub max_stream_duration: Duration,
}

impl LlmConfig {
    /// No key; timeouts of 5 s to connect, 60 s to the first token, 30 s between
    /// chunks; the default retry policy; streams of at most 10 minutes.
    #[must_use]
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            api_key: None,
            timeouts: LlmTimeouts {
                connect: Duration::from_secs(5),
                first_token: Duration::from_secs(60),
                idle: Duration::from_secs(30),
            },
            retry: RetryPolicy::default(),
            max_stream_duration: Duration::from_secs(600),
        }
    }

    #[must_use]
    pub fn with_api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api_key = Some(api_key.into());
        self
    }

    #[must_use]
    pub fn with_timeouts(mut self, timeouts: LlmTimeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    #[must_use]
    pub fn with_max_stream_duration(mut self, max: Duration) -> Self {
        self.max_stream_duration = max;
        self
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base_url.trim_end_matches('/'))
    }
}

// The key never reaches a log through `{:?}`.
impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeouts", &self.timeouts)
            .field("retry", &self.retry)
            .field("max_stream_duration", &self.max_stream_duration)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_with_or_without_a_trailing_slash_gives_the_same_urls() {
        for base in ["http://host/v1", "http://host/v1/", "http://host/v1//"] {
            let config = LlmConfig::new(base);
            assert_eq!(config.url("chat/completions"), "http://host/v1/chat/completions");
            assert_eq!(config.url("models"), "http://host/v1/models");
        }
        let mut config = LlmConfig::new("http://host/v1");
        config.base_url = "http://host/v1/".to_owned();
        assert_eq!(config.url("models"), "http://host/v1/models", "a field set directly is tolerated too");
    }

    #[test]
    fn the_backoff_doubles_from_the_base_up_to_the_cap_and_jitters_below_it() {
        let policy = RetryPolicy::default();
        let ceilings: Vec<_> = (0..6).map(|n| policy.ceiling(n)).collect();
        assert_eq!(ceilings, [500, 1000, 2000, 4000, 8000, 8000].map(Duration::from_millis));
        assert_eq!(policy.ceiling(u32::MAX), Duration::from_secs(8), "no overflow");
        let delays: Vec<_> = (0..200).map(|_| policy.delay(1)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(1)));
        assert!(delays.iter().any(|d| *d != delays[0]), "full jitter, not a fixed wait");
    }

    #[test]
    fn the_config_does_not_print_its_key() {
        let config = LlmConfig::new("http://host/v1").with_api_key("sk-secret-key");
        let printed = format!("{config:?}");
        assert!(!printed.contains("sk-secret-key"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }
}
