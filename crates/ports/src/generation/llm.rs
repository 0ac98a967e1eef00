//! The language model: an OpenAI-compatible chat completion, streamed.

use std::time::Duration;

use async_trait::async_trait;

/// Who said a message of the conversation sent to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRole {
    System,
    User,
    Assistant,
}

impl ChatRole {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
}

/// One call to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    /// The most completion tokens this call may produce (and what the budget reserves).
    pub max_tokens: u32,
    pub temperature: Option<f32>,
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    /// `max_tokens` or the context window was reached: the reply is cut.
    Length,
    ContentFilter,
    ToolCalls,
}

impl FinishReason {
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "stop" => Some(Self::Stop),
            "length" => Some(Self::Length),
            "content_filter" => Some(Self::ContentFilter),
            "tool_calls" | "function_call" => Some(Self::ToolCalls),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ContentFilter => "content_filter",
            Self::ToolCalls => "tool_calls",
        }
    }
}

/// Tokens one call used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// The provider sent no usage; these are estimates from the text's length.
    pub estimated: bool,
}

impl TokenUsage {
    #[must_use]
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// A piece of a streamed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatChunk {
    /// More of the reply's text (never empty).
    Delta(String),
    /// The reply is complete: the last chunk of every successful stream.
    Finished { reason: FinishReason, usage: TokenUsage },
}

/// Which bound on waiting for the provider ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlmTimeout {
    Connect,
    FirstToken,
    /// Too long between two chunks of a stream that had started.
    Idle,
}

impl LlmTimeout {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::FirstToken => "first token",
            Self::Idle => "idle",
        }
    }
}

/// Why a call to the model failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// The provider could not be reached, or kept answering 429/5xx, within the retries.
    #[error("the model provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request (a 4xx other than 429: bad key, unknown model, too long).
    #[error("the model provider refused the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("the model provider did not answer in time ({})", .0.as_str())]
    Timeout(LlmTimeout),
    /// An error object arrived inside the stream.
    #[error("the model provider reported an error: {message}")]
    Provider { code: Option<String>, message: String },
    /// The stream broke off or was not what the protocol says (no finish reason, no `[DONE]`,
    /// malformed JSON).
    #[error("the model provider's stream broke: {0}")]
    Broken(String),
}

/// A streamed reply, pulled chunk by chunk. Dropping it closes the provider's
/// connection (how a cancelled job stops the call).
#[async_trait]
pub trait ChatStream: Send {
    /// The next chunk; `Ok(None)` after [`ChatChunk::Finished`] was returned.
    ///
    /// # Errors
    /// [`LlmError`]: a stream that ends without a finish reason or `[DONE]` is an
    /// error, never a short success.
    async fn next(&mut self) -> Result<Option<ChatChunk>, LlmError>;
}

/// A model the provider offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub id: String,
    pub owned_by: Option<String>,
}

/// An OpenAI-compatible chat-completions provider.
#[async_trait]
pub trait LanguageModel: Send + Sync + 'static {
    /// The provider's models (`GET /models`).
    ///
    /// # Errors
    /// [`LlmError`].
    async fn models(&self) -> Result<Vec<ModelInfo>, LlmError>;

    /// Starts a streamed completion. Resolves once the first chunk has arrived
    /// (within the first-token timeout); only until then are connection errors,
    /// 429 and 5xx retried.
    ///
    /// # Errors
    /// [`LlmError`].
    async fn stream_chat(&self, request: ChatRequest) -> Result<Box<dyn ChatStream>, LlmError>;
}

/// Bounds a provider adapter applies; configurable per deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LlmTimeouts {
    pub connect: Duration,
    pub first_token: Duration,
    pub idle: Duration,
}
