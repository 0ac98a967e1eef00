//! Every generation error a client can get, mapped to its status and stable code.

use actix_web::http::header::{self, HeaderValue};
use devora_api_types::{ErrorCode, FieldErrorCode};
use devora_app::generation::GenerationError;
use devora_domain::generation::LimitKind;

use crate::ApiError;
use crate::auth::unauthenticated;
use crate::error::field_error;

impl From<GenerationError> for ApiError {
    fn from(err: GenerationError) -> Self {
        match err {
            GenerationError::NotConfigured(missing) => missing.into(),
            GenerationError::JobNotFound => Self::new(ErrorCode::NotFound, "No such job."),
            GenerationError::ProjectNotFound => {
                Self::validation(vec![field_error("project_id", FieldErrorCode::Invalid, "is not a project of yours")])
            }
            GenerationError::ModelNotAllowed(model) => Self::validation(vec![field_error(
                "model",
                FieldErrorCode::NotAllowed,
                format!("{model} is not offered on your plan; see GET /api/v2/generation/models"),
            )]),
            GenerationError::Limit(refusal) => {
                let detail = match refusal.kind {
                    LimitKind::Generations => format!(
                        "Your plan allows {} generations a month and you have used {}. Upgrade, or wait for the reset.",
                        refusal.limit, refusal.used
                    ),
                    LimitKind::Tokens => format!(
                        "Your plan allows {} tokens a month and {} are used or held. Upgrade, or wait for the reset.",
                        refusal.limit, refusal.used
                    ),
                    LimitKind::ConcurrentJobs => format!(
                        "Your plan runs {} jobs at once and you have {} queued or running. Wait for one to end.",
                        refusal.limit, refusal.used
                    ),
                };
                Self::quota_limit(detail, refusal.kind.as_str(), refusal.limit, refusal.used, refusal.resets_at)
            }
            GenerationError::ProjectLimit { limit, count } => Self::quota_limit(
                format!(
                    "Your plan allows {limit} projects and you have {count}. Delete one or upgrade to create more."
                ),
                "projects",
                u64::from(limit),
                count,
                None,
            ),
            GenerationError::InvalidTicket => unauthenticated(
                ErrorCode::TicketInvalid,
                "The stream ticket is unknown, spent, expired or for another job; ask for a new one.",
            ),
            GenerationError::Provider(err) => {
                tracing::warn!(error = %err, "model provider failed");
                Self::new(ErrorCode::ProviderUnavailable, "The model provider cannot be reached; try again shortly.")
                    .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))
            }
            GenerationError::Internal(err) => Self::internal(err),
        }
    }
}
