//! Every way a generation request can fail, in the terms clients see.

use devora_domain::generation::BudgetRefusal;
use devora_ports::StorageError;
use devora_ports::generation::LlmError;

use crate::projects::ProjectError;
use crate::{InternalError, NotConfigured};

#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    #[error(transparent)]
    NotConfigured(NotConfigured),
    /// No such job, or not the caller's.
    #[error("job not found")]
    JobNotFound,
    /// The project named in the request: no such project, or not the caller's.
    #[error("project not found")]
    ProjectNotFound,
    /// The plan does not offer this model.
    #[error("the model {0} is not available on your plan")]
    ModelNotAllowed(String),
    /// A plan limit on generation would be broken.
    #[error("plan limit reached: {}", .0.kind.as_str())]
    Limit(BudgetRefusal),
    /// The plan's project limit (full-stack requests create a project).
    #[error("project limit of {limit} reached")]
    ProjectLimit { limit: u32, count: u64 },
    /// A stream ticket that is unknown, spent, expired or for another job.
    #[error("the ticket is not valid for this job")]
    InvalidTicket,
    /// The provider failed while answering a request made on the caller's behalf (models).
    #[error("the model provider failed: {0}")]
    Provider(LlmError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<StorageError> for GenerationError {
    fn from(err: StorageError) -> Self {
        Self::Internal(err.into())
    }
}

impl From<ProjectError> for GenerationError {
    fn from(err: ProjectError) -> Self {
        match err {
            ProjectError::NotFound => Self::ProjectNotFound,
            ProjectError::LimitReached { limit, count } => Self::ProjectLimit { limit, count },
            ProjectError::Internal(err) => Self::Internal(err),
            other => Self::Internal(InternalError::new(other.to_string())),
        }
    }
}
