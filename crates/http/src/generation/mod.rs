//! `/api/v2/generation`: models and options, jobs (start, read, cancel), their
//! event streams (Server-Sent Events and WebSocket, with single-use tickets for
//! browsers) and the caller's usage. Routes in [`scope`]; handlers in `jobs` and
//! `streams`; every error a client can get in `errors`.

mod errors;
pub(crate) mod jobs;
pub(crate) mod streams;

use actix_web::dev::HttpServiceFactory;
use actix_web::web;
use devora_api_types::{
    ErrorCode, JobDto, JobErrorCodeDto, JobErrorDto, JobEventDto, JobKindDto, JobStatusDto, JobUsageDto,
    OperationKindDto, OperationReportDto, RefusalReasonDto,
};
use devora_app::PolicyKind;
use devora_domain::generation::{OperationKind, OperationReport, RefusalReason};
use devora_domain::{Job, JobErrorCode, JobEvent, JobEventPayload, JobId, JobKind, JobStatus, JobUsage};

use crate::ApiError;
use crate::rate_limit::{limit, limit_by_method};
use crate::routes::resource;

/// The routes under `/api/v2/generation`: starting a job counts under
/// `generation`, the rest by method (`reads` / `writes`).
pub fn scope() -> impl HttpServiceFactory {
    web::scope("/generation")
        .service(
            resource("/agentic", "POST").route(web::post().to(jobs::start_agentic)).wrap(limit(PolicyKind::Generation)),
        )
        .service(
            resource("/fullstack", "POST")
                .route(web::post().to(jobs::start_fullstack))
                .wrap(limit(PolicyKind::Generation)),
        )
        .service(
            web::scope("")
                .service(resource("/models", "GET").route(web::get().to(jobs::models)))
                .service(resource("/options", "GET").route(web::get().to(jobs::options)))
                .service(resource("/usage", "GET").route(web::get().to(jobs::usage)))
                .service(resource("/jobs", "GET").route(web::get().to(jobs::list)))
                .service(resource("/jobs/{id}", "GET").route(web::get().to(jobs::get)))
                .service(resource("/jobs/{id}/cancel", "POST").route(web::post().to(jobs::cancel)))
                .service(resource("/jobs/{id}/ticket", "POST").route(web::post().to(jobs::ticket)))
                .service(resource("/jobs/{id}/events", "GET").route(web::get().to(streams::events)))
                .service(resource("/jobs/{id}/ws", "GET").route(web::get().to(streams::websocket)))
                .default_service(web::to(crate::context::not_found))
                .wrap(limit_by_method()),
        )
}

pub(crate) fn job_id(raw: &str) -> Result<JobId, ApiError> {
    JobId::parse(raw).ok_or_else(|| ApiError::new(ErrorCode::NotFound, "No such job."))
}

pub(crate) fn status_dto(status: JobStatus) -> JobStatusDto {
    match status {
        JobStatus::Queued => JobStatusDto::Queued,
        JobStatus::Running => JobStatusDto::Running,
        JobStatus::Succeeded => JobStatusDto::Succeeded,
        JobStatus::Failed => JobStatusDto::Failed,
        JobStatus::Cancelled => JobStatusDto::Cancelled,
    }
}

pub(crate) fn status_from_dto(status: JobStatusDto) -> JobStatus {
    match status {
        JobStatusDto::Queued => JobStatus::Queued,
        JobStatusDto::Running => JobStatus::Running,
        JobStatusDto::Succeeded => JobStatus::Succeeded,
        JobStatusDto::Failed => JobStatus::Failed,
        JobStatusDto::Cancelled => JobStatus::Cancelled,
    }
}

fn error_code_dto(code: JobErrorCode) -> JobErrorCodeDto {
    match code {
        JobErrorCode::WorkerLost => JobErrorCodeDto::WorkerLost,
        JobErrorCode::BudgetExhausted => JobErrorCodeDto::BudgetExhausted,
        JobErrorCode::ProviderUnavailable => JobErrorCodeDto::ProviderUnavailable,
        JobErrorCode::ProviderRejected => JobErrorCodeDto::ProviderRejected,
        JobErrorCode::ProviderError => JobErrorCodeDto::ProviderError,
        JobErrorCode::ProviderTimeout => JobErrorCodeDto::ProviderTimeout,
        JobErrorCode::StreamBroken => JobErrorCodeDto::StreamBroken,
        JobErrorCode::ContentFiltered => JobErrorCodeDto::ContentFiltered,
        JobErrorCode::TimeLimit => JobErrorCodeDto::TimeLimit,
        JobErrorCode::OutputLimit => JobErrorCodeDto::OutputLimit,
        JobErrorCode::ProjectGone => JobErrorCodeDto::ProjectGone,
        JobErrorCode::Interrupted => JobErrorCodeDto::Interrupted,
        JobErrorCode::Internal => JobErrorCodeDto::Internal,
    }
}

fn operation_kind_dto(kind: OperationKind) -> OperationKindDto {
    match kind {
        OperationKind::Write => OperationKindDto::Write,
        OperationKind::Edit => OperationKindDto::Edit,
        OperationKind::Delete => OperationKindDto::Delete,
        OperationKind::Rename => OperationKindDto::Rename,
        OperationKind::Unknown => OperationKindDto::Unknown,
    }
}

fn reason_dto(reason: RefusalReason) -> RefusalReasonDto {
    match reason {
        RefusalReason::InvalidPath => RefusalReasonDto::InvalidPath,
        RefusalReason::TooLarge => RefusalReasonDto::TooLarge,
        RefusalReason::TooManyFiles => RefusalReasonDto::TooManyFiles,
        RefusalReason::StorageFull => RefusalReasonDto::StorageFull,
        RefusalReason::PathConflict => RefusalReasonDto::PathConflict,
        RefusalReason::NotFound => RefusalReasonDto::NotFound,
        RefusalReason::AlreadyExists => RefusalReasonDto::AlreadyExists,
        RefusalReason::SearchNotFound => RefusalReasonDto::SearchNotFound,
        RefusalReason::SearchAmbiguous => RefusalReasonDto::SearchAmbiguous,
        RefusalReason::NotText => RefusalReasonDto::NotText,
        RefusalReason::Malformed => RefusalReasonDto::Malformed,
        RefusalReason::Truncated => RefusalReasonDto::Truncated,
    }
}

fn report_dto(r: &OperationReport) -> OperationReportDto {
    OperationReportDto {
        kind: operation_kind_dto(r.kind),
        path: r.path.clone(),
        from: r.from.clone(),
        applied: r.applied(),
        reason: r.refused.as_ref().map(|(reason, _)| reason_dto(*reason)),
        message: r.refused.as_ref().map(|(_, message)| message.clone()),
        size: r.size,
        sha256: r.sha256.clone(),
    }
}

fn usage_dto(u: &JobUsage) -> JobUsageDto {
    JobUsageDto {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        total_tokens: u.total(),
        estimated: u.estimated,
    }
}

pub(crate) fn job_dto(job: &Job) -> JobDto {
    JobDto {
        id: job.id.as_uuid(),
        kind: match job.kind {
            JobKind::Agentic => JobKindDto::Agentic,
            JobKind::Fullstack => JobKindDto::Fullstack,
        },
        status: status_dto(job.status),
        project_id: job.project_id.map(|p| p.as_uuid()),
        prompt: job.prompt.clone(),
        model: job.model.clone(),
        progress: job.progress,
        step: job.step.clone(),
        attempt: job.attempt,
        usage: usage_dto(&job.usage),
        error: job.error.as_ref().map(|e| JobErrorDto { code: error_code_dto(e.code), message: e.message.clone() }),
        output: job.output.clone(),
        summary: job.summary.clone(),
        revision: job.revision,
        operations: job.operations.iter().map(report_dto).collect(),
        cancel_requested: job.cancel_requested && !job.status.is_final(),
        created_at: job.created_at,
        started_at: job.started_at,
        finished_at: job.finished_at,
        updated_at: job.updated_at,
    }
}

pub(crate) fn event_dto(event: &JobEvent) -> JobEventDto {
    let (seq, at) = (event.seq, event.at);
    match &event.payload {
        JobEventPayload::Status { status, attempt } => {
            JobEventDto::Status { seq, at, status: status_dto(*status), attempt: *attempt }
        }
        JobEventPayload::Progress { progress, step } => {
            JobEventDto::Progress { seq, at, progress: *progress, step: step.clone() }
        }
        JobEventPayload::Delta { text } => JobEventDto::Delta { seq, at, text: text.clone() },
        JobEventPayload::Usage(usage) => JobEventDto::Usage { seq, at, usage: usage_dto(usage) },
        JobEventPayload::File(r) => match &r.refused {
            None => JobEventDto::File {
                seq,
                at,
                kind: operation_kind_dto(r.kind),
                path: r.path.clone().unwrap_or_default(),
                from: r.from.clone(),
                size: r.size,
                sha256: r.sha256.clone(),
            },
            Some((reason, message)) => JobEventDto::FileRefused {
                seq,
                at,
                kind: operation_kind_dto(r.kind),
                path: r.path.clone(),
                from: r.from.clone(),
                reason: reason_dto(*reason),
                message: message.clone(),
            },
        },
        JobEventPayload::End { status, error } => JobEventDto::End {
            seq,
            at,
            status: status_dto(*status),
            error: error
                .as_ref()
                .map(|(code, message)| JobErrorDto { code: error_code_dto(*code), message: message.clone() }),
        },
    }
}
