//! Generation's settings: the provider's bounds, the worker pool, the lease and
//! the hard caps on every job.

use std::time::Duration;

use super::reader::Reader;

/// The model used when neither the request nor `LLM_MODEL` names one.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

#[derive(Debug, Clone)]
pub struct GenerationSettings {
    /// `LLM_MODEL`.
    pub default_model: String,
    pub connect_timeout: Duration,
    pub first_token_timeout: Duration,
    pub idle_timeout: Duration,
    /// Attempts of a call before its first token (connection errors, 429, 5xx).
    pub max_attempts: u32,
    /// Job workers on this node (`0`: this node runs no jobs).
    pub workers: usize,
    pub lease: Duration,
    pub poll_interval: Duration,
    /// A job taken this many times without ending fails with `worker-lost`.
    pub job_attempts: u32,
    pub max_output_tokens: u32,
    pub max_tokens_per_call: u32,
    pub max_rounds: u32,
    pub max_duration: Duration,
}

pub(super) fn read(r: &mut Reader) -> GenerationSettings {
    let secs = |r: &mut Reader, name: &'static str, default: u64, min: u64, max: u64| {
        Duration::from_secs(r.number(name, default, min, max))
    };
    let default_model = r.string("LLM_MODEL", DEFAULT_MODEL);
    if default_model.is_empty() || default_model.len() > 200 {
        r.fail("LLM_MODEL", "must be a model id of 1..200 characters");
    }
    GenerationSettings {
        default_model,
        connect_timeout: secs(r, "LLM_CONNECT_TIMEOUT_SECS", 5, 1, 120),
        first_token_timeout: secs(r, "LLM_FIRST_TOKEN_TIMEOUT_SECS", 60, 1, 900),
        idle_timeout: secs(r, "LLM_IDLE_TIMEOUT_SECS", 30, 1, 900),
        max_attempts: r.number("LLM_MAX_ATTEMPTS", 3u32, 1, 10),
        workers: r.number("GENERATION_WORKERS", 2usize, 0, 256),
        lease: Duration::from_millis(r.number("GENERATION_LEASE_MS", 30_000u64, 500, 3_600_000)),
        poll_interval: Duration::from_millis(r.number("GENERATION_POLL_MS", 1_000u64, 20, 60_000)),
        job_attempts: r.number("GENERATION_MAX_ATTEMPTS", 3u32, 1, 100),
        max_output_tokens: r.number("GENERATION_MAX_OUTPUT_TOKENS", 32_000u32, 16, 10_000_000),
        max_tokens_per_call: r.number("GENERATION_MAX_TOKENS_PER_CALL", 8_192u32, 16, 1_000_000),
        max_rounds: r.number("GENERATION_MAX_ROUNDS", 3u32, 1, 50),
        max_duration: secs(r, "GENERATION_MAX_DURATION_SECS", 900, 1, 86_400),
    }
}
