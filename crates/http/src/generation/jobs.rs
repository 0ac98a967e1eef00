//! Models and options, starting jobs, reading and cancelling them, stream
//! tickets and usage.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use devora_api_types::{
    AgenticRequest, FieldErrorCode, FullstackRequest, GenerationOptions, GenerationUsage, JobDto, JobPage,
    JobStatusDto, ModelDto, ModelList, Problem, QuotaDto, StreamTicket, TokenQuotaDto,
};
use devora_app::generation::{FullstackSpec, MAX_FEATURES, OPTIONS};
use devora_domain::{ProjectDescription, ProjectId, ProjectName, Prompt};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{job_dto, job_id};
use crate::auth::Authenticated;
use crate::error::{field_error, invalid_field};
use crate::idempotency::idempotent_as;
use crate::pagination::encode_cursor;
use crate::projects::created;
use crate::{ApiError, ApiJson, AppState};

/// The models the configured provider offers that the caller's plan allows.
#[utoipa::path(
    get, path = "/api/v2/generation/models", tag = "generation", operation_id = "list_models", security(("bearer" = [])),
    responses(
        (status = 200, description = "The models", body = ModelList),
        (status = 503, description = "No provider configured (`not-configured`, naming `LLM_BASE_URL`), the provider unreachable (`provider-unavailable`), or the database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn models(state: web::Data<AppState>, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    let models = state.generation.models(caller.0.user_id).await?;
    let default = &state.generation.config().default_model;
    let items =
        models.into_iter().map(|m| ModelDto { default: &m.id == default, id: m.id, owned_by: m.owned_by }).collect();
    Ok(HttpResponse::Ok().json(ModelList { items }))
}

/// The choices of a full-stack request.
#[utoipa::path(
    get, path = "/api/v2/generation/options", tag = "generation", operation_id = "generation_options", security(("bearer" = [])),
    responses((status = 200, description = "The documented choices", body = GenerationOptions))
)]
pub async fn options(_caller: Authenticated) -> HttpResponse {
    let list = |set: &[&str]| set.iter().map(|s| (*s).to_owned()).collect();
    HttpResponse::Ok().insert_header(("cache-control", "private, max-age=3600")).json(GenerationOptions {
        frontend: list(OPTIONS.frontend),
        backend: list(OPTIONS.backend),
        database: list(OPTIONS.database),
        features: list(OPTIONS.features),
    })
}

fn accepted(job: &JobDto) -> Result<devora_ports::CreatedResource, ApiError> {
    created(job, Some(format!("/api/v2/generation/jobs/{}", job.id)))
}

/// Start an agentic job on one of the caller's projects. The prompt joins the
/// project's conversation; watch the job with its events.
#[utoipa::path(
    post, path = "/api/v2/generation/agentic", tag = "generation", operation_id = "start_agentic", security(("bearer" = [])),
    request_body = AgenticRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for the same key and body within 24 h")),
    responses(
        (status = 202, description = "Queued", body = JobDto, headers(("Location" = String, description = "The job's URL"))),
        (status = 403, description = "A plan limit (`plan-limit` with `limit_name`, `limit`, `used` and `resets_at`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Same Idempotency-Key still in flight", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (a project not yours, a model not on your plan), or Idempotency-Key reused", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No provider configured (`not-configured`, naming `LLM_BASE_URL`), or the database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn start_agentic(
    state: web::Data<AppState>,
    caller: Authenticated,
    req: HttpRequest,
    body: ApiJson<AgenticRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut errors = Vec::new();
    let prompt = Prompt::parse(&body.prompt).map_err(|m| errors.push(invalid_field("prompt", m))).ok();
    check_model(body.model.as_deref(), &mut errors);
    let Some(prompt) = prompt.filter(|_| errors.is_empty()) else { return Err(ApiError::validation(errors)) };
    let project = ProjectId::from_uuid(body.project_id);
    let owner = caller.0.user_id;
    let generation = state.generation.clone();
    let model = body.model.clone();
    idempotent_as(StatusCode::ACCEPTED, &state.idempotency, &req, owner, &body, move || async move {
        let job = generation.start_agentic(owner, project, prompt, model).await?;
        accepted(&job_dto(&job))
    })
    .await
}

fn check_model(model: Option<&str>, errors: &mut Vec<devora_api_types::FieldError>) {
    if let Some(model) = model
        && (model.is_empty() || model.len() > 200 || model.chars().any(char::is_control))
    {
        errors.push(field_error("model", FieldErrorCode::Invalid, "must be a model id of 1..200 characters"));
    }
}

/// Create a project and start the job that generates its scaffold.
#[utoipa::path(
    post, path = "/api/v2/generation/fullstack", tag = "generation", operation_id = "start_fullstack", security(("bearer" = [])),
    request_body = FullstackRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for the same key and body within 24 h")),
    responses(
        (status = 202, description = "The project is created and its job queued; the job names the project", body = JobDto, headers(("Location" = String, description = "The job's URL"))),
        (status = 403, description = "A plan limit: projects or generation (`plan-limit`); nothing is created", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Same Idempotency-Key still in flight", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A choice not on offer (`GET /generation/options`), invalid fields, or Idempotency-Key reused", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No provider configured (`not-configured`, naming `LLM_BASE_URL`), or the database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn start_fullstack(
    state: web::Data<AppState>,
    caller: Authenticated,
    req: HttpRequest,
    body: ApiJson<FullstackRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut errors = Vec::new();
    let name = ProjectName::parse(&body.name).map_err(|m| errors.push(invalid_field("name", m))).ok();
    let description = match body.description.as_deref() {
        Some(d) => {
            ProjectDescription::parse(d).map_err(|m| errors.push(invalid_field("description", m))).ok().flatten()
        }
        None => None,
    };
    let mut pick = |field: &str, set: &'static [&'static str], raw: &str| {
        let picked = FullstackSpec::pick(set, raw);
        if picked.is_none() {
            errors.push(field_error(field, FieldErrorCode::NotAllowed, format!("must be one of: {}", set.join(", "))));
        }
        picked
    };
    let frontend = pick("frontend", OPTIONS.frontend, &body.frontend);
    let backend = pick("backend", OPTIONS.backend, &body.backend);
    let database = pick("database", OPTIONS.database, &body.database);
    let mut features = Vec::new();
    let requested = body.features.clone().unwrap_or_default();
    for (i, raw) in requested.iter().enumerate() {
        match FullstackSpec::pick(OPTIONS.features, raw) {
            Some(f) if !features.contains(&f) => features.push(f),
            Some(_) => errors.push(field_error(&format!("features[{i}]"), FieldErrorCode::Invalid, "is repeated")),
            None => errors.push(field_error(
                &format!("features[{i}]"),
                FieldErrorCode::NotAllowed,
                format!("must be one of: {}", OPTIONS.features.join(", ")),
            )),
        }
    }
    if requested.len() > MAX_FEATURES {
        errors.push(field_error("features", FieldErrorCode::TooLong, format!("at most {MAX_FEATURES} features")));
    }
    check_model(body.model.as_deref(), &mut errors);
    let (Some(name), Some(frontend), Some(backend), Some(database)) = (name, frontend, backend, database) else {
        return Err(ApiError::validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let spec = FullstackSpec { name, description, frontend, backend, database, features };
    let owner = caller.0.user_id;
    let generation = state.generation.clone();
    let model = body.model.clone();
    idempotent_as(StatusCode::ACCEPTED, &state.idempotency, &req, owner, &body, move || async move {
        let (job, _) = generation.start_fullstack(owner, spec, model).await?;
        accepted(&job_dto(&job))
    })
    .await
}

/// `?project_id=&status=` with the page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// Items per page, 1..100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, example = 20)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page (opaque).
    pub cursor: Option<String>,
    /// Only this project's jobs.
    #[param(value_type = Option<uuid::Uuid>)]
    pub project_id: Option<String>,
    /// Only jobs with this status.
    #[param(value_type = Option<JobStatusDto>)]
    pub status: Option<String>,
}

/// The caller's jobs, newest first.
#[utoipa::path(
    get, path = "/api/v2/generation/jobs", tag = "generation", operation_id = "list_jobs", security(("bearer" = [])),
    params(JobsQuery),
    responses(
        (status = 200, description = "A page of jobs", body = JobPage),
        (status = 422, description = "Bad `limit`, `cursor`, `project_id` or `status`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<JobsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (filter, limit, cursor) = query.into_inner().parse()?;
    let page = state.generation.list(caller.0.user_id, filter, cursor, limit).await?;
    Ok(HttpResponse::Ok().json(JobPage {
        items: page.items.iter().map(job_dto).collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    }))
}

/// One of the caller's jobs.
#[utoipa::path(
    get, path = "/api/v2/generation/jobs/{id}", tag = "generation", operation_id = "get_job", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job", body = JobDto),
        (status = 404, description = "No such job of yours", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let job = state.generation.get(caller.0.user_id, job_id(&path)?).await?;
    Ok(HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(job_dto(&job)))
}

/// Stop a job: a queued one at once, a running one within about a second on
/// whichever node runs it. What it already did stays. Cancelling an ended job
/// changes nothing.
#[utoipa::path(
    post, path = "/api/v2/generation/jobs/{id}/cancel", tag = "generation", operation_id = "cancel_job", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The job's id")),
    responses(
        (status = 202, description = "Stopping (or stopped, or already ended): the job as it is now", body = JobDto),
        (status = 404, description = "No such job of yours", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let job = state.generation.cancel(Some(caller.0.user_id), job_id(&path)?).await?;
    Ok(HttpResponse::Accepted().json(job_dto(&job)))
}

/// A single-use ticket (valid 60 s) for the job's event stream or WebSocket,
/// for browsers, which cannot send `Authorization` there.
#[utoipa::path(
    post, path = "/api/v2/generation/jobs/{id}/ticket", tag = "generation", operation_id = "job_stream_ticket", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The job's id")),
    responses(
        (status = 201, description = "The ticket and the two stream URLs carrying it", body = StreamTicket),
        (status = 404, description = "No such job of yours", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn ticket(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(&path)?;
    let issued = state.generation.issue_ticket(caller.0.user_id, id).await?;
    let base = format!("/api/v2/generation/jobs/{id}");
    Ok(HttpResponse::Created().insert_header(("cache-control", "no-store")).json(StreamTicket {
        events_url: format!("{base}/events?ticket={}", issued.ticket),
        ws_url: format!("{base}/ws?ticket={}", issued.ticket),
        ticket: issued.ticket,
        expires_at: issued.expires_at,
    }))
}

/// This period's generations and tokens against the plan, and when it resets.
#[utoipa::path(
    get, path = "/api/v2/generation/usage", tag = "generation", operation_id = "generation_usage", security(("bearer" = [])),
    responses((status = 200, description = "Usage this period", body = GenerationUsage))
)]
pub async fn usage(state: web::Data<AppState>, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    let view = state.generation.usage(caller.0.user_id).await?;
    Ok(HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(usage_dto(&view)))
}

pub(crate) fn usage_dto(view: &devora_app::generation::UsageView) -> GenerationUsage {
    GenerationUsage {
        plan_id: view.plan.as_str().to_owned(),
        period_start: view.period_start,
        resets_at: view.resets_at,
        generations: QuotaDto { used: view.usage.generations, limit: view.generations_limit },
        tokens: TokenQuotaDto {
            used: view.usage.tokens_used,
            reserved: view.usage.tokens_reserved,
            limit: view.tokens_limit,
        },
        concurrent_jobs: QuotaDto { used: view.usage.active_jobs, limit: view.concurrent_limit },
    }
}
