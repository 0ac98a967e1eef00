//! Support views of one user (read-only, each read audited) and stopping any job.

use actix_web::{HttpResponse, web};
use devora_api_types::{JobDto, JobPage, Problem, ProjectPage};
use devora_ports::generation::JobFilter;

use super::Admin;
use super::users::user_id;
use crate::generation::jobs::JobsQuery;
use crate::generation::{job_dto, job_id, status_from_dto};
use crate::pagination::{PageQuery, encode_cursor};
use crate::projects::project_page;
use crate::{ApiError, AppState};

/// A user's projects (metadata, never file contents), newest first. Audited
/// (`user_projects_viewed`).
#[utoipa::path(
    get, path = "/api/v2/admin/users/{id}/projects", tag = "admin", operation_id = "admin_user_projects", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id"), PageQuery),
    responses(
        (status = 200, description = "A page of the user's projects", body = ProjectPage),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn user_projects(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<ProjectPage>, ApiError> {
    let id = user_id(&path)?;
    let (limit, cursor) = query.parse()?;
    let page = state.admin.user_projects(&admin.actor, id, cursor, limit).await?;
    Ok(web::Json(project_page(&page)))
}

/// A user's generation jobs, newest first (`?status=` and `?project_id=` as for
/// the user's own list). Audited (`user_jobs_viewed`).
#[utoipa::path(
    get, path = "/api/v2/admin/users/{id}/jobs", tag = "admin", operation_id = "admin_user_jobs", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id"), JobsQuery),
    responses(
        (status = 200, description = "A page of the user's jobs", body = JobPage),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `limit`, `cursor`, `project_id` or `status`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn user_jobs(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    query: web::Query<JobsQuery>,
) -> Result<web::Json<JobPage>, ApiError> {
    let id = user_id(&path)?;
    let (filter, limit, cursor) = query.into_inner().parse()?;
    let page = state.admin.user_jobs(&admin.actor, id, filter, cursor, limit).await?;
    Ok(web::Json(JobPage {
        items: page.items.iter().map(job_dto).collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    }))
}

/// Stop any user's job, as its owner could: a queued one at once, a running one
/// within about a second. Audited with the change (nothing is recorded for a job
/// that had ended).
#[utoipa::path(
    post, path = "/api/v2/admin/jobs/{id}/cancel", tag = "admin", operation_id = "admin_cancel_job", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The job's id")),
    responses(
        (status = 202, description = "Stopping (or stopped, or already ended): the job as it is now", body = JobDto),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn cancel_job(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let job = state.admin.cancel_job(&admin.actor, job_id(&path)?).await?;
    Ok(HttpResponse::Accepted().json(job_dto(&job)))
}

impl JobsQuery {
    /// The filter and the page, or 422 naming every bad parameter.
    ///
    /// # Errors
    /// 422 naming the field.
    pub(crate) fn parse(self) -> Result<(JobFilter, u32, Option<devora_ports::PageCursor>), ApiError> {
        let parsed = PageQuery { limit: self.limit, cursor: self.cursor }.parse();
        let mut errors = Vec::new();
        let project = match self.project_id.as_deref().filter(|p| !p.is_empty()) {
            Some(raw) => devora_domain::ProjectId::parse(raw).or_else(|| {
                errors.push(crate::error::field_error(
                    "project_id",
                    devora_api_types::FieldErrorCode::Invalid,
                    "must be a project id",
                ));
                None
            }),
            None => None,
        };
        let status = match self.status.as_deref().filter(|s| !s.is_empty()) {
            Some(raw) => {
                serde_json::from_value::<devora_api_types::JobStatusDto>(serde_json::Value::String(raw.to_owned()))
                    .map(status_from_dto)
                    .map_err(|_| {
                        errors.push(crate::error::field_error(
                            "status",
                            devora_api_types::FieldErrorCode::Invalid,
                            "must be queued, running, succeeded, failed or cancelled",
                        ));
                    })
                    .ok()
            }
            None => None,
        };
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        let (limit, cursor) = parsed?;
        Ok((JobFilter { project, status }, limit, cursor))
    }
}
