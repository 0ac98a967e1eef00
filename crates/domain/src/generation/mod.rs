//! Generation jobs: what a person asked the model for, where it stands, what it
//! cost, and the rules that cap its spend and hand it between workers.

mod budget;
mod events;
mod lease;
mod operations;
pub mod protocol;

use chrono::{DateTime, Utc};

pub use budget::{Admission, BudgetRefusal, LimitKind, PeriodUsage, TokenGrant, admit, billing_period, grant_tokens};
pub use events::{JobEvent, JobEventPayload};
pub use lease::{LeaseVerdict, expired_lease};
pub use operations::{OperationKind, OperationReport, RefusalReason};

use crate::{Invalid, ProjectId, UserId, Violation};

uuid_id!(JobId, "A generation job's id.");

/// What a job builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Works on an existing project from a person's request.
    Agentic,
    /// Creates a project and generates its scaffold.
    Fullstack,
}

impl JobKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agentic => "agentic",
            Self::Fullstack => "fullstack",
        }
    }

    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "agentic" => Some(Self::Agentic),
            "fullstack" => Some(Self::Fullstack),
            _ => None,
        }
    }
}

/// Where a job stands. `queued -> running -> succeeded | failed | cancelled`; a
/// running job whose worker was lost goes back to `queued`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [Self; 5] = [Self::Queued, Self::Running, Self::Succeeded, Self::Failed, Self::Cancelled];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// No worker will touch the job again.
    #[must_use]
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// Why a job failed, as clients see it. Codes never change once published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobErrorCode {
    /// Its worker stopped answering more times than a job is retried.
    WorkerLost,
    /// The month's token budget ran out while it worked.
    BudgetExhausted,
    /// The provider could not be reached or kept failing.
    ProviderUnavailable,
    /// The provider refused the request (bad key, unknown model, too long).
    ProviderRejected,
    /// The provider reported an error mid-reply.
    ProviderError,
    /// The provider did not answer in time.
    ProviderTimeout,
    /// The provider's stream broke off before the reply was complete.
    StreamBroken,
    /// The provider withheld the reply (content filter).
    ContentFiltered,
    /// The job hit the server's wall-clock cap.
    TimeLimit,
    /// The job hit the server's cap on output tokens or provider rounds.
    OutputLimit,
    /// The job's project was deleted while it was queued or running.
    ProjectGone,
    /// The job stopped (its node stopped or was lost) after it had changed files:
    /// it is not run again over its own changes; they are its revision.
    Interrupted,
    /// Something on our side failed; logged with the job id.
    Internal,
}

impl JobErrorCode {
    pub const ALL: [Self; 13] = [
        Self::WorkerLost,
        Self::BudgetExhausted,
        Self::ProviderUnavailable,
        Self::ProviderRejected,
        Self::ProviderError,
        Self::ProviderTimeout,
        Self::StreamBroken,
        Self::ContentFiltered,
        Self::TimeLimit,
        Self::OutputLimit,
        Self::ProjectGone,
        Self::Interrupted,
        Self::Internal,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WorkerLost => "worker-lost",
            Self::BudgetExhausted => "budget-exhausted",
            Self::ProviderUnavailable => "provider-unavailable",
            Self::ProviderRejected => "provider-rejected",
            Self::ProviderError => "provider-error",
            Self::ProviderTimeout => "provider-timeout",
            Self::StreamBroken => "stream-broken",
            Self::ContentFiltered => "content-filtered",
            Self::TimeLimit => "time-limit",
            Self::OutputLimit => "output-limit",
            Self::ProjectGone => "project-gone",
            Self::Interrupted => "interrupted",
            Self::Internal => "internal",
        }
    }

    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

/// A failed job's reason: a stable code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    pub code: JobErrorCode,
    pub message: String,
}

/// Tokens a job used, over all its provider calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JobUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// At least one call's usage was estimated (the provider sent none).
    pub estimated: bool,
}

impl JobUsage {
    #[must_use]
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// What a person asked for, in their words: 1..=20000 characters, not blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt(String);

impl Prompt {
    pub const MAX_CHARS: usize = 20_000;

    /// # Errors
    /// Blank, too long, or holding control characters other than tab and newlines.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.trim().is_empty() {
            return Err(Invalid::new(Violation::Required, "must not be blank"));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new(Violation::TooLong, "must be at most 20000 characters"));
        }
        if raw.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            return Err(Invalid::new(Violation::ControlCharacter, "must not contain control characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A generation job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub owner_id: UserId,
    pub project_id: Option<ProjectId>,
    pub kind: JobKind,
    pub status: JobStatus,
    pub prompt: String,
    pub model: String,
    /// 0..=100.
    pub progress: u8,
    pub step: Option<String>,
    /// How many times a worker has taken the job (1 on its first run).
    pub attempt: u32,
    pub usage: JobUsage,
    pub error: Option<JobError>,
    /// The model's reply (written when the job ends; the `delta` events carry it live).
    pub output: String,
    /// The reply's summary for the conversation (`<devora-summary>`).
    pub summary: Option<String>,
    /// The project revision that holds the job's applied operations.
    pub revision: Option<u64>,
    /// Every file operation of the reply, applied or refused, in order.
    pub operations: Vec<OperationReport>,
    pub cancel_requested: bool,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}
