//! `/api/v2/projects`: projects, their files and conversation. Ownership is
//! checked by the app layer; another user's project answers 404 like a missing one.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use devora_api_types::{
    CreateMessageRequest, CreateProjectRequest, ErrorCode, FieldError, FileEntry, FileList, FrameworkDto, MessageDto,
    MessagePage, MessageRoleDto, Problem, ProjectDto, ProjectPage, UpdateProjectRequest,
};
use devora_app::projects::ProjectError;
use devora_domain::{
    FileMeta, FilePath, Framework, Message, MessageContent, MessageRole, Project, ProjectDescription, ProjectId,
    ProjectName,
};
use devora_ports::{ProjectPatch, StoredResponse};
use futures_util::StreamExt;

use super::resource;
use crate::auth::Authenticated;
use crate::conditional::{json_with_etag, not_modified};
use crate::idempotency::idempotent;
use crate::pagination::{PageQuery, encode_cursor};
use crate::{ApiError, ApiJson, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v2/projects", "GET, POST").route(web::get().to(list)).route(web::post().to(create)))
        .service(
            resource("/api/v2/projects/{id}", "GET, PATCH, DELETE")
                .route(web::get().to(get))
                .route(web::patch().to(update))
                .route(web::delete().to(delete)),
        )
        .service(resource("/api/v2/projects/{id}/files", "GET").route(web::get().to(list_files)))
        .service(
            resource("/api/v2/projects/{id}/files/{path:.*}", "GET, PUT, DELETE")
                .route(web::get().to(read_file))
                .route(web::put().to(put_file))
                .route(web::delete().to(delete_file)),
        )
        .service(
            resource("/api/v2/projects/{id}/messages", "GET, POST")
                .route(web::get().to(list_messages))
                .route(web::post().to(post_message)),
        );
}

impl From<ProjectError> for ApiError {
    fn from(err: ProjectError) -> Self {
        match err {
            ProjectError::NotFound => Self::new(ErrorCode::NotFound, "No such project."),
            ProjectError::FileNotFound => Self::new(ErrorCode::NotFound, "No such file in this project."),
            ProjectError::LimitReached(limit) => Self::new(
                ErrorCode::PlanLimit,
                format!("Your plan allows {limit} projects. Delete one or upgrade to create more."),
            ),
            ProjectError::FileTooLarge(limit) => {
                Self::new(ErrorCode::PayloadTooLarge, format!("A file may be at most {limit} bytes."))
            }
            ProjectError::TooManyFiles(limit) => {
                Self::new(ErrorCode::TooManyFiles, format!("A project may have at most {limit} files."))
            }
            ProjectError::ProjectFull(limit) => {
                Self::new(ErrorCode::ProjectStorageFull, format!("A project's files may total at most {limit} bytes."))
            }
            ProjectError::PathConflict(existing) => Self::new(
                ErrorCode::Conflict,
                format!("\"{existing}\" is already a file or a directory; a path cannot be both."),
            ),
            ProjectError::Internal(err) => Self::internal(err),
        }
    }
}

fn framework_dto(f: Framework) -> FrameworkDto {
    match f {
        Framework::React => FrameworkDto::React,
        Framework::NextJs => FrameworkDto::Nextjs,
        Framework::Vue => FrameworkDto::Vue,
        Framework::Nuxt => FrameworkDto::Nuxt,
        Framework::Svelte => FrameworkDto::Svelte,
        Framework::SvelteKit => FrameworkDto::Sveltekit,
        Framework::Angular => FrameworkDto::Angular,
        Framework::Astro => FrameworkDto::Astro,
        Framework::Remix => FrameworkDto::Remix,
        Framework::Solid => FrameworkDto::Solid,
        Framework::Express => FrameworkDto::Express,
        Framework::FastApi => FrameworkDto::Fastapi,
        Framework::Django => FrameworkDto::Django,
        Framework::Flask => FrameworkDto::Flask,
        Framework::Rails => FrameworkDto::Rails,
        Framework::Laravel => FrameworkDto::Laravel,
        Framework::Static => FrameworkDto::Static,
    }
}

fn framework(dto: FrameworkDto) -> Framework {
    match dto {
        FrameworkDto::React => Framework::React,
        FrameworkDto::Nextjs => Framework::NextJs,
        FrameworkDto::Vue => Framework::Vue,
        FrameworkDto::Nuxt => Framework::Nuxt,
        FrameworkDto::Svelte => Framework::Svelte,
        FrameworkDto::Sveltekit => Framework::SvelteKit,
        FrameworkDto::Angular => Framework::Angular,
        FrameworkDto::Astro => Framework::Astro,
        FrameworkDto::Remix => Framework::Remix,
        FrameworkDto::Solid => Framework::Solid,
        FrameworkDto::Express => Framework::Express,
        FrameworkDto::Fastapi => Framework::FastApi,
        FrameworkDto::Django => Framework::Django,
        FrameworkDto::Flask => Framework::Flask,
        FrameworkDto::Rails => Framework::Rails,
        FrameworkDto::Laravel => Framework::Laravel,
        FrameworkDto::Static => Framework::Static,
    }
}

pub fn project_dto(p: &Project) -> ProjectDto {
    ProjectDto {
        id: p.id.as_uuid(),
        name: p.name.as_str().to_owned(),
        description: p.description.as_ref().map(|d| d.as_str().to_owned()),
        framework: p.framework.map(framework_dto),
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

fn file_entry(f: &FileMeta) -> FileEntry {
    FileEntry { path: f.path.as_str().to_owned(), size: f.size, sha256: f.sha256.clone(), updated_at: f.updated_at }
}

fn message_dto(m: &Message) -> MessageDto {
    MessageDto {
        id: m.id.as_uuid(),
        role: match m.role {
            MessageRole::User => MessageRoleDto::User,
            MessageRole::Assistant => MessageRoleDto::Assistant,
            MessageRole::System => MessageRoleDto::System,
        },
        content: m.content.as_str().to_owned(),
        created_at: m.created_at,
    }
}

/// Any id shape that is not one of ours is simply not found.
fn project_id(raw: &str) -> Result<ProjectId, ApiError> {
    ProjectId::parse(raw).ok_or_else(|| ApiError::new(ErrorCode::NotFound, "No such project."))
}

fn file_path(raw: &str) -> Result<FilePath, ApiError> {
    FilePath::parse(raw).map_err(|rule| {
        ApiError::validation(vec![FieldError {
            field: "path".into(),
            code: rule.code().into(),
            message: rule.to_string(),
        }])
    })
}

fn field(field: &str, message: &str) -> FieldError {
    FieldError { field: field.into(), code: "invalid".into(), message: message.into() }
}

fn json_stored(
    status: u16,
    value: &impl serde::Serialize,
    location: Option<String>,
) -> Result<StoredResponse, ApiError> {
    Ok(StoredResponse { status, body: serde_json::to_vec(value).map_err(ApiError::internal)?, location })
}

/// The caller's projects, newest first.
#[utoipa::path(
    get, path = "/api/v2/projects", tag = "projects", operation_id = "list_projects", security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of projects (first pages are cached; `ETag`)", body = ProjectPage),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
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
    let body = ProjectPage {
        items: page.items.iter().map(project_dto).collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    };
    json_with_etag(&req, &body)
}

/// Create a project.
#[utoipa::path(
    post, path = "/api/v2/projects", tag = "projects", operation_id = "create_project", security(("bearer" = [])),
    request_body = CreateProjectRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for the same key and body within 24 h")),
    responses(
        (status = 201, description = "Created", body = ProjectDto, headers(("Location" = String, description = "The new project's URL"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The plan's project limit (`plan-limit`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Same Idempotency-Key still in flight", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
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
    let name = ProjectName::parse(&body.name).map_err(|m| errors.push(field("name", m))).ok();
    let description = match body.description.as_deref() {
        Some(d) => ProjectDescription::parse(d).map_err(|m| errors.push(field("description", m))).ok().flatten(),
        None => None,
    };
    let Some(name) = name.filter(|_| errors.is_empty()) else { return Err(ApiError::validation(errors)) };
    let framework = body.framework.map(framework);
    let owner = caller.0.user_id;
    let projects = state.projects.clone();
    idempotent(&state.idempotency, &req, owner, &body, move || async move {
        let project = projects.create(owner, name, description, framework).await?;
        json_stored(201, &project_dto(&project), Some(format!("/api/v2/projects/{}", project.id)))
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
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
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
    json_with_etag(&req, &project_dto(&project))
}

/// Change a project's name, description or framework.
#[utoipa::path(
    patch, path = "/api/v2/projects/{id}", tag = "projects", operation_id = "update_project", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Project id")),
    request_body = UpdateProjectRequest,
    responses(
        (status = 200, description = "The updated project", body = ProjectDto),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project of yours", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
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
        patch.name = ProjectName::parse(raw).map_err(|m| errors.push(field("name", m))).ok();
    }
    if let Some(raw) = &body.description {
        patch.description = match raw {
            Some(d) => ProjectDescription::parse(d).map_err(|m| errors.push(field("description", m))).ok(),
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
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
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

/// The project's files (metadata), by path.
#[utoipa::path(
    get, path = "/api/v2/projects/{id}/files", tag = "projects", operation_id = "list_files", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Project id")),
    responses(
        (status = 200, description = "Files (cached; `ETag`)", body = FileList),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project of yours", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_files(
    state: web::Data<AppState>,
    caller: Authenticated,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let files = state.projects.files(caller.0.user_id, project_id(&path)?).await?;
    json_with_etag(&req, &FileList { items: files.iter().map(file_entry).collect() })
}

/// `{id}` and `{path}` of the file routes, for the OpenAPI document (the
/// handlers take them as text and parse them, answering 404 and 422).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct FileRoute {
    /// Project id
    id: uuid::Uuid,
    /// Relative file path, `/`-separated: no `.` or `..` segments, no leading `/`, no
    /// backslashes, control or invisible (bidirectional, zero-width) characters; at
    /// most 512 bytes once empty segments are dropped, 255 bytes a segment, 16 levels.
    #[param(
        pattern = r"^[^/\\\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^\\\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]*$",
        max_length = 512
    )]
    path: String,
}

/// A file's content, as stored (binary-safe).
#[utoipa::path(
    get, path = "/api/v2/projects/{id}/files/{path}", tag = "projects", operation_id = "read_file", security(("bearer" = [])),
    params(FileRoute),
    responses(
        (status = 200, description = "The content; `ETag` is its SHA-256", content_type = "application/octet-stream", body = Vec<u8>,
            headers(("X-Content-SHA256" = String, description = "Hex SHA-256 of the content"))),
        (status = 304, description = "Not modified (`If-None-Match`)",
            headers(("X-Content-SHA256" = String, description = "Hex SHA-256 of the content"))),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project of yours, or no such file", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid path", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn read_file(
    state: web::Data<AppState>,
    caller: Authenticated,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, raw_path) = path.into_inner();
    let id = project_id(&id)?;
    let file = file_path(&raw_path)?;
    let (meta, content) = state.projects.read_file(caller.0.user_id, id, &file).await?;
    let etag = format!("\"{}\"", meta.sha256);
    let matches = not_modified(&req, &etag);
    let mut res = if matches { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    res.insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .insert_header(("x-content-sha256", meta.sha256.clone()));
    if matches {
        return Ok(res.finish());
    }
    Ok(res.content_type("application/octet-stream").body(content))
}

/// Create or replace a file. The body is the raw content (any type, binary-safe).
#[utoipa::path(
    put, path = "/api/v2/projects/{id}/files/{path}", tag = "projects", operation_id = "put_file", security(("bearer" = [])),
    params(FileRoute),
    request_body(content = Option<Vec<u8>>, content_type = "application/octet-stream", description = "The file's content; empty for an empty file"),
    responses(
        (status = 200, description = "Replaced", body = FileEntry),
        (status = 201, description = "Created", body = FileEntry),
        (status = 400, description = "The body could not be read (the upload broke off)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The path is already a directory, or one of its directories is a file", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "File too large, or the project's storage is full", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid path, or too many files", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_file(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<(String, String)>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (id, raw_path) = path.into_inner();
    let id = project_id(&id)?;
    let file = file_path(&raw_path)?;
    let limit = usize::try_from(state.projects.config().max_file_bytes).unwrap_or(usize::MAX);
    let too_large = || ApiError::new(ErrorCode::PayloadTooLarge, format!("A file may be at most {limit} bytes."));
    let mut content = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::new(ErrorCode::MalformedRequest, "The body could not be read."))?;
        if content.len() + chunk.len() > limit {
            return Err(too_large());
        }
        content.extend_from_slice(&chunk);
    }
    let (meta, created) = state.projects.put_file(caller.0.user_id, id, &file, &content).await?;
    let mut res = if created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(res.json(file_entry(&meta)))
}

/// Delete a file.
#[utoipa::path(
    delete, path = "/api/v2/projects/{id}/files/{path}", tag = "projects", operation_id = "delete_file", security(("bearer" = [])),
    params(FileRoute),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project of yours, or no such file", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid path", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_file(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, raw_path) = path.into_inner();
    let id = project_id(&id)?;
    let file = file_path(&raw_path)?;
    state.projects.delete_file(caller.0.user_id, id, &file).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The conversation, oldest first.
#[utoipa::path(
    get, path = "/api/v2/projects/{id}/messages", tag = "projects", operation_id = "list_messages", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Project id"), PageQuery),
    responses(
        (status = 200, description = "A page of messages", body = MessagePage),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project of yours", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_messages(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<MessagePage>, ApiError> {
    let id = project_id(&path)?;
    let (limit, cursor) = query.parse()?;
    let page = state.projects.messages(caller.0.user_id, id, cursor, limit).await?;
    Ok(web::Json(MessagePage {
        items: page.items.iter().map(message_dto).collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    }))
}

/// Add a `user` message to the conversation.
#[utoipa::path(
    post, path = "/api/v2/projects/{id}/messages", tag = "projects", operation_id = "post_message", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Project id"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for the same key and body within 24 h")),
    request_body = CreateMessageRequest,
    responses(
        (status = 201, description = "Added", body = MessageDto),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Same Idempotency-Key still in flight", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a user message, bad content, or Idempotency-Key reused", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn post_message(
    state: web::Data<AppState>,
    caller: Authenticated,
    req: HttpRequest,
    path: web::Path<String>,
    body: ApiJson<CreateMessageRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = project_id(&path)?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    if body.role != MessageRoleDto::User {
        errors.push(FieldError {
            field: "role".into(),
            code: "not-allowed".into(),
            message: "clients post user messages only".into(),
        });
    }
    let content = MessageContent::parse(&body.content).map_err(|m| errors.push(field("content", m))).ok();
    let Some(content) = content.filter(|_| errors.is_empty()) else { return Err(ApiError::validation(errors)) };
    let owner = caller.0.user_id;
    let projects = state.projects.clone();
    idempotent(&state.idempotency, &req, owner, &body, move || async move {
        let message = projects.post_message(owner, id, content).await?;
        json_stored(201, &message_dto(&message), None)
    })
    .await
}
