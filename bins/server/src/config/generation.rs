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
    /// The context window of a model not listed in `model_windows` (tokens), and
    /// its characters per token.
    pub context_window: u64,
    pub chars_per_token: f64,
    /// `GENERATION_MODEL_WINDOWS`: `model=tokens[:chars_per_token]`, comma-separated.
    pub model_windows: Vec<(String, u64, f64)>,
}

pub(super) fn read(r: &mut Reader) -> GenerationSettings {
    let secs = |r: &mut Reader, name: &'static str, default: u64, min: u64, max: u64| {
        Duration::from_secs(r.number(name, default, min, max))
    };
    let default_model = r.string("LLM_MODEL", DEFAULT_MODEL);
    let ratio = r.get("GENERATION_CHARS_PER_TOKEN");
    let chars_per_token = chars_per_token(r, "GENERATION_CHARS_PER_TOKEN", ratio).unwrap_or(4.0);
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
        context_window: r.number("GENERATION_CONTEXT_WINDOW", 128_000u64, 1_000, 10_000_000),
        chars_per_token,
        model_windows: model_windows(r),
    }
}

fn chars_per_token(r: &mut Reader, variable: &'static str, raw: Option<String>) -> Option<f64> {
    let raw = raw?;
    match raw.trim().parse::<f64>() {
        Ok(n) if (0.5..=20.0).contains(&n) => Some(n),
        _ => {
            r.fail(variable, format!("characters per token must be a number from 0.5 to 20 (got {raw:?})"));
            None
        }
    }
}

fn model_windows(r: &mut Reader) -> Vec<(String, u64, f64)> {
    let mut windows = Vec::new();
    for entry in r.list("GENERATION_MODEL_WINDOWS") {
        let Some((model, rest)) = entry.split_once('=') else {
            r.fail("GENERATION_MODEL_WINDOWS", format!("{entry:?} is not model=tokens[:chars_per_token]"));
            continue;
        };
        let (tokens, ratio) = match rest.split_once(':') {
            Some((tokens, ratio)) => (tokens, Some(ratio.to_owned())),
            None => (rest, None),
        };
        let Ok(tokens) =
            tokens.trim().parse::<u64>().map_err(|_| ()).and_then(|t| if t >= 1000 { Ok(t) } else { Err(()) })
        else {
            r.fail(
                "GENERATION_MODEL_WINDOWS",
                format!("{entry:?}: the window must be a whole number of tokens, at least 1000"),
            );
            continue;
        };
        let ratio = match ratio {
            Some(raw) => match chars_per_token(r, "GENERATION_MODEL_WINDOWS", Some(raw)) {
                Some(ratio) => ratio,
                None => continue,
            },
            None => 4.0,
        };
        windows.push((model.trim().to_owned(), tokens, ratio));
    }
    windows
}
