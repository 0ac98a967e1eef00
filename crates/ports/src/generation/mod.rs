//! Generation: the language model and the durable jobs that call it.

mod jobs;
mod llm;

pub use jobs::{
    CancelOutcome, CreateJobError, FencedError, JobFilter, JobSignal, JobSignals, JobStore, Lease, LeaseState, NewJob,
    Outcome, QueueStats, RescueReport, Reservation,
};
pub use llm::{
    ChatChunk, ChatMessage, ChatRequest, ChatRole, ChatStream, FinishReason, LanguageModel, LlmError, LlmTimeout,
    LlmTimeouts, ModelInfo, TokenUsage,
};
