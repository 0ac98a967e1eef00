//! Projects: list, create, read, update, delete.

use actix_web::{HttpRequest, HttpResponse, web};
use devora_api_types::{CreateProjectRequest, Problem, ProjectDto, ProjectPage, UpdateProjectRequest};
use devora_domain::{ProjectDescription, ProjectName};
use devora_ports::ProjectPatch;

use super::{created, framework, project_dto, project_id, project_page};
use crate::auth::Authenticated;
use crate::conditional::json_with_etag;
use crate::error::invalid_field;
use crate::idempotency::idempotent;
use crate::pagination::PageQuery;
use crate::{ApiError, ApiJson, AppState};

/// The caller's projects, newest first.
#[utoipa::path(
    get, path = "/api/v2/projects", tag = "projects", operation_id = "list_projects", security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of projects (first pages are cached; `ETag`)", body = ProjectPage),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 422, description = "Bad `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Authenticated,
    req: HttpRequest,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, cursor) = query.parse()?;
    let page = state.projects.list(caller.0.user_id, cursor, limit).await?;
    json_with_etag(&req, &project_page(&page))
}

/// Create a project.
#[utoipa::path(
    post, path = "/api/v2/projects", tag = "projects", operation_id = "create_project", security(("bearer" = [])),
    request_body = CreateProjectRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for the same key and body within 24 h")),
    responses(
        (status = 201, description = "Created", body = ProjectDto, headers(("Location" = String, description = "The new project's URL"))),
        (status = 403, description = "The plan's project limit (`plan-limit`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Same Idempotency-Key still in flight", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or Idempotency-Key reused with another body", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    caller: Authenticated,
    req: HttpRequest,
    body: ApiJson<CreateProjectRequest>,
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
    let Some(name) = name.filter(|_| errors.is_empty()) else { return Err(ApiError::validation(errors)) };
    let framework = body.framework.map(framework);
    let owner = caller.0.user_id;
    let projects = state.projects.clone();
    idempotent(&state.idempotency, &req, owner, &body, move || async move {
        let project = projects.create(owner, name, description, framework).await?;
        created(&project_dto(&project), Some(format!("/api/v2/projects/{}", project.id)))
    })
    .await
}

/// A project.
#[utoipa::path(
    get, path = "/api/v2/projects/{id}", tag = "projects", operation_id = "get_project", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Project id")),
    responses(
        (status = 200, description = "The project (cached; `ETag`)", body = ProjectDto),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 404, description = "No such project of yours", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Authenticated,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let project = state.projects.get(caller.0.user_id, project_id(&path)?).await?;
    Ok(state.rendered_projects.render(&project)?.respond(&req))
}

/// Change a project's name, description or framework.
#[utoipa::path(
    patch, path = "/api/v2/projects/{id}", tag = "projects", operation_id = "update_project", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Project id")),
    request_body = UpdateProjectRequest,
    responses(
        (status = 200, description = "The updated project", body = ProjectDto),
        (status = 404, description = "No such project of yours", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<String>,
    body: ApiJson<UpdateProjectRequest>,
) -> Result<web::Json<ProjectDto>, ApiError> {
    let id = project_id(&path)?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    let mut patch = ProjectPatch::default();
    if let Some(raw) = &body.name {
        patch.name = ProjectName::parse(raw).map_err(|m| errors.push(invalid_field("name", m))).ok();
    }
    if let Some(raw) = &body.description {
        patch.description = match raw {
            Some(d) => ProjectDescription::parse(d).map_err(|m| errors.push(invalid_field("description", m))).ok(),
            None => Some(None),
        };
    }
    if let Some(raw) = body.framework {
        patch.framework = Some(raw.map(framework));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let project = state.projects.update(caller.0.user_id, id, &patch).await?;
    Ok(web::Json(project_dto(&project)))
}

/// Delete a project with its files and conversation.
#[utoipa::path(
    delete, path = "/api/v2/projects/{id}", tag = "projects", operation_id = "delete_project", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Project id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such project of yours", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.projects.delete(caller.0.user_id, project_id(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
