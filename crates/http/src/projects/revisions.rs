//! A project's revisions: list, read one, restore one.

use actix_web::{HttpResponse, web};
use base64::Engine;
use devora_api_types::{FieldErrorCode, Problem, RevisionChangeDto, RevisionDto, RevisionKindDto, RevisionPage};
use devora_domain::{Revision, RevisionKind};

use super::project_id;
use crate::auth::Authenticated;
use crate::error::field_error;
use crate::pagination::{PageQuery, parse_limit};
use crate::{ApiError, AppState};

pub(crate) fn revision_dto(r: &Revision) -> RevisionDto {
    RevisionDto {
        number: r.number,
        kind: match r.kind {
            RevisionKind::Job => RevisionKindDto::Job,
            RevisionKind::Files => RevisionKindDto::Files,
            RevisionKind::Restore => RevisionKindDto::Restore,
        },
        job_id: r.job_id.map(|j| j.as_uuid()),
        summary: r.summary.clone(),
        restored_from: r.restored_from,
        created_at: r.created_at,
        changes: r
            .changes
            .iter()
            .map(|c| RevisionChangeDto {
                path: c.path.as_str().to_owned(),
                before_sha256: c.before.clone(),
                after_sha256: c.after.clone(),
            })
            .collect(),
    }
}

/// Revision cursors are opaque: base64url of `r<number>`.
fn encode_cursor(number: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("r{number}"))
}

fn decode_cursor(raw: &str) -> Option<u64> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix('r')?.parse().ok()
}

/// A revision number: 1 or more (0, for a restore: the state before the first revision).
fn revision_number(raw: &str, lowest: u64) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .ok()
        .filter(|n| *n >= lowest)
        .ok_or_else(|| ApiError::new(devora_api_types::ErrorCode::NotFound, "No such revision."))
}

/// The project's revisions, newest first: each generation job's operations,
/// each change through the files API, each restore.
#[utoipa::path(
    get, path = "/api/v2/projects/{id}/revisions", tag = "projects", operation_id = "list_revisions", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Project id"), PageQuery),
    responses(
        (status = 200, description = "A page of revisions", body = RevisionPage),
        (status = 404, description = "No such project of yours", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_revisions(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<RevisionPage>, ApiError> {
    let id = project_id(&path)?;
    let mut errors = Vec::new();
    let limit = parse_limit(query.limit.as_deref(), &mut errors);
    let before = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(raw) => {
            let decoded = decode_cursor(raw);
            if decoded.is_none() {
                errors.push(field_error("cursor", FieldErrorCode::Invalid, "is not a cursor this API issued"));
            }
            decoded
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let page = state.projects.revisions(caller.0.user_id, id, before, limit).await?;
    Ok(web::Json(RevisionPage {
        items: page.items.iter().map(revision_dto).collect(),
        next_cursor: page.next.map(encode_cursor),
    }))
}

/// One revision: what made it, its summary, the paths it changed with their
/// SHA-256 before and after.
#[utoipa::path(
    get, path = "/api/v2/projects/{id}/revisions/{n}", tag = "projects", operation_id = "get_revision", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Project id"), ("n" = u64, Path, minimum = 1, description = "Revision number")),
    responses(
        (status = 200, description = "The revision", body = RevisionDto),
        (status = 404, description = "No such project of yours, or no such revision", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_revision(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<(String, String)>,
) -> Result<web::Json<RevisionDto>, ApiError> {
    let (raw_id, raw_n) = path.into_inner();
    let id = project_id(&raw_id)?;
    let revision = state.projects.revision(caller.0.user_id, id, revision_number(&raw_n, 1)?).await?;
    Ok(web::Json(revision_dto(&revision)))
}

/// Return the project's files to their state after revision `n` (`0`: before the
/// first revision). The restore is itself a new revision, so it can be undone the
/// same way; when the files are already in that state nothing is recorded and
/// revision `n` is answered.
#[utoipa::path(
    post, path = "/api/v2/projects/{id}/revisions/{n}/restore", tag = "projects", operation_id = "restore_revision", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Project id"), ("n" = u64, Path, description = "Revision number; 0 is the state before the first revision")),
    responses(
        (status = 201, description = "Restored: the new revision", body = RevisionDto, headers(("Location" = String, description = "The new revision's URL"))),
        (status = 200, description = "Already in that state: revision `n`", body = RevisionDto),
        (status = 404, description = "No such project of yours, or no such revision", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A restored file would take a directory's path", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The restored files exceed the plan's storage (`project-storage-full`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The restored files exceed the file count (`too-many-files`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn restore_revision(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (raw_id, raw_n) = path.into_inner();
    let id = project_id(&raw_id)?;
    let n = revision_number(&raw_n, 0)?;
    let revision = state.projects.restore(caller.0.user_id, id, n).await?;
    if revision.number == n {
        return Ok(HttpResponse::Ok().json(revision_dto(&revision)));
    }
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/api/v2/projects/{id}/revisions/{}", revision.number)))
        .json(revision_dto(&revision)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_cursors_round_trip_and_others_are_refused() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("nope"), None);
        assert_eq!(decode_cursor(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("x1")), None);
    }
}
