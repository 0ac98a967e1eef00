//! Generation: the language model and the durable jobs that call it.

mod llm;

pub use llm::{
    ChatChunk, ChatMessage, ChatRequest, ChatRole, ChatStream, FinishReason, LanguageModel, LlmError, LlmTimeout,
    LlmTimeouts, ModelInfo, TokenUsage,
};
