//! Generation's wiring: the language model (when `LLM_BASE_URL` is set), job
//! signals (Redis pub/sub or in-process) and the service.

use std::sync::Arc;

use devora_app::generation::{GenerationConfig, GenerationPorts, GenerationService, ModelWindow};
use devora_app::projects::ProjectService;
use devora_db::Database;
use devora_llm::{LlmConfig, OpenAiCompatibleModel, RetryPolicy};
use devora_outbound::{OutboundConfig, OutboundHttp};
use devora_ports::generation::{JobSignals, LanguageModel, LlmTimeouts};
use devora_ports::{Entitlements, SystemClock};
use rand::RngCore;
use secrecy::ExposeSecret;

use crate::{Settings, StartupError};

/// The provider for these settings; `None` without `LLM_BASE_URL`.
pub(crate) fn language_model(settings: &Settings) -> Result<Option<Arc<dyn LanguageModel>>, StartupError> {
    let Some(base) = &settings.integrations.llm_base_url else { return Ok(None) };
    let g = &settings.generation;
    let timeouts = LlmTimeouts { connect: g.connect_timeout, first_token: g.first_token_timeout, idle: g.idle_timeout };
    let http = OutboundHttp::new(OutboundConfig { connect_timeout: g.connect_timeout, ..OutboundConfig::default() })
        .map_err(|e| StartupError::Setup { what: "the outbound HTTP client", detail: e.to_string() })?;
    let mut config = LlmConfig::new(base.as_str())
        .with_timeouts(timeouts)
        .with_retry(RetryPolicy { max_attempts: g.max_attempts, ..RetryPolicy::default() })
        .with_max_stream_duration(g.max_duration);
    if let Some(key) = &settings.integrations.llm_api_key {
        config = config.with_api_key(key.expose_secret());
    }
    Ok(Some(Arc::new(OpenAiCompatibleModel::new(config, http))))
}

/// This process's name in job leases: the host, the process and a random tag
/// (two servers in one process, as in tests, are two nodes).
fn node_id() -> String {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "node".to_owned());
    let mut tag = [0_u8; 3];
    rand::rng().fill_bytes(&mut tag);
    let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("{host}-{}-{tag}", std::process::id())
}

pub(crate) fn generation_service(
    settings: &Settings,
    database: &Database,
    signals: Arc<dyn JobSignals>,
    entitlements: Arc<dyn Entitlements>,
    projects: ProjectService,
) -> Result<GenerationService, StartupError> {
    let g = &settings.generation;
    let ports = GenerationPorts {
        jobs: Arc::new(database.clone()),
        signals,
        model: language_model(settings)?,
        entitlements,
        projects,
        clock: Arc::new(SystemClock),
    };
    let config = GenerationConfig {
        default_model: g.default_model.clone(),
        node_id: node_id(),
        workers: g.workers,
        lease: g.lease,
        heartbeat: g.lease / 3,
        poll_interval: g.poll_interval,
        max_attempts: g.job_attempts,
        max_output_tokens: g.max_output_tokens,
        max_rounds: g.max_rounds,
        max_duration: g.max_duration,
        max_tokens_per_call: g.max_tokens_per_call,
        coalesce: std::time::Duration::from_millis(100),
        ticket_ttl: std::time::Duration::from_secs(60),
        default_window: ModelWindow { tokens: g.context_window, chars_per_token: g.chars_per_token },
        model_windows: g
            .model_windows
            .iter()
            .map(|(model, tokens, ratio)| (model.clone(), ModelWindow { tokens: *tokens, chars_per_token: *ratio }))
            .collect(),
    };
    Ok(GenerationService::new(ports, config))
}
