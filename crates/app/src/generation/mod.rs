//! Generation jobs: a person asks, a worker on some node calls the model, the
//! browser watches the job's event log. Jobs are durable (they outlive the
//! request and the browser), run under a lease on any node, stop when asked, and
//! spend within the plan's budget.
//!
//! One file per seam: `requests` (what a user starts and reads), `feed` (watching
//! a job's events), `worker` (the pool that claims and the rescuer), `runner`
//! (one job's run), `options` (the full-stack choices), `errors`.

mod context;
mod ending;
mod errors;
mod feed;
mod options;
mod prompt;
mod reply;
mod requests;
mod runner;
mod transcript;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use devora_ports::generation::{JobSignals, JobStore, LanguageModel};
use devora_ports::{Clock, Entitlements};

pub use context::ModelWindow;
pub use errors::GenerationError;
pub use feed::EventFeed;
pub use options::{FullstackOptions, FullstackSpec, MAX_FEATURES, OPTIONS};
pub use requests::{IssuedTicket, UsageView};
pub use worker::spawn_workers;

use crate::NotConfigured;
use crate::projects::ProjectService;

/// Tunables of generation, from the server's configuration.
#[derive(Debug, Clone)]
pub struct GenerationConfig {
    /// The model used when a request names none (`LLM_MODEL`).
    pub default_model: String,
    /// This node's name in leases (host and process), for operators reading a job.
    pub node_id: String,
    /// Workers on this node: jobs it runs at once.
    pub workers: usize,
    /// How long a claim holds a job without a heartbeat.
    pub lease: Duration,
    /// How often a running job's lease is extended.
    pub heartbeat: Duration,
    /// How often idle workers look for work without a wake-up, and watchers re-read the log.
    pub poll_interval: Duration,
    /// A job taken this many times without ending fails with `worker-lost`.
    pub max_attempts: u32,
    /// Hard caps on every job, whatever the plan.
    pub max_output_tokens: u32,
    pub max_rounds: u32,
    pub max_duration: Duration,
    /// `max_tokens` asked of the provider per call (less when the budget has less).
    pub max_tokens_per_call: u32,
    /// Token deltas are gathered for this long before they become one event.
    pub coalesce: Duration,
    /// How long a stream ticket stays valid.
    pub ticket_ttl: Duration,
    /// The window of a model not listed in `model_windows`.
    pub default_window: ModelWindow,
    /// Per-model windows and tokenizer estimates.
    pub model_windows: Vec<(String, ModelWindow)>,
}

impl GenerationConfig {
    /// The window and tokenizer estimate for `model`.
    #[must_use]
    pub fn window(&self, model: &str) -> ModelWindow {
        self.model_windows.iter().find(|(m, _)| m == model).map_or(self.default_window, |(_, w)| *w)
    }
}

/// The adapters generation needs.
#[derive(Clone)]
pub struct GenerationPorts {
    pub jobs: Arc<dyn JobStore>,
    pub signals: Arc<dyn JobSignals>,
    /// `None` without `LLM_BASE_URL`: starting jobs and listing models answer
    /// [`NotConfigured`]; reading jobs still works.
    pub model: Option<Arc<dyn LanguageModel>>,
    pub entitlements: Arc<dyn Entitlements>,
    pub projects: ProjectService,
    pub clock: Arc<dyn Clock>,
}

#[derive(Clone)]
pub struct GenerationService {
    ports: GenerationPorts,
    config: Arc<GenerationConfig>,
}

const LLM_BASE_URL: NotConfigured = NotConfigured { feature: "Generation", variable: "LLM_BASE_URL" };

impl GenerationService {
    #[must_use]
    pub fn new(ports: GenerationPorts, config: GenerationConfig) -> Self {
        Self { ports, config: Arc::new(config) }
    }

    #[must_use]
    pub fn config(&self) -> &GenerationConfig {
        &self.config
    }

    /// Whether a provider is configured (jobs can run).
    #[must_use]
    pub fn is_configured(&self) -> bool {
        self.ports.model.is_some()
    }

    fn model(&self) -> Result<&Arc<dyn LanguageModel>, GenerationError> {
        self.ports.model.as_ref().ok_or(GenerationError::NotConfigured(LLM_BASE_URL))
    }
}
