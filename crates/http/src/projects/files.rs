//! A project's files: list, read, write, delete.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use devora_api_types::{ErrorCode, FileEntry, FileList, Problem};
use futures_util::StreamExt;

use super::{file_entry, file_path, project_id};
use crate::auth::Authenticated;
use crate::conditional::{json_with_etag, not_modified};
use crate::{ApiError, AppState};

/// The project's files (metadata), by path.
#[utoipa::path(
    get, path = "/api/v2/projects/{id}/files", tag = "projects", operation_id = "list_files", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Project id")),
    responses(
        (status = 200, description = "Files (cached; `ETag`)", body = FileList),
        (status = 304, description = "Not modified (`If-None-Match`)"),
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
        pattern = r"^[^/\\\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^/\\\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,254}(?:/[^/\\\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,255})*$",
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
