//! A project's conversation: list messages, post one.

use actix_web::{HttpRequest, HttpResponse, web};
use devora_api_types::{CreateMessageRequest, FieldErrorCode, MessageDto, MessagePage, MessageRoleDto, Problem};
use devora_domain::MessageContent;

use super::{created, message_dto, project_id};
use crate::auth::Authenticated;
use crate::error::{field_error, invalid_field};
use crate::idempotency::idempotent;
use crate::pagination::{PageQuery, encode_cursor};
use crate::{ApiError, ApiJson, AppState};

/// The conversation, oldest first.
#[utoipa::path(
    get, path = "/api/v2/projects/{id}/messages", tag = "projects", operation_id = "list_messages", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Project id"), PageQuery),
    responses(
        (status = 200, description = "A page of messages", body = MessagePage),
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
        (status = 404, description = "No such project of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Same Idempotency-Key still in flight", body = Problem, content_type = "application/problem+json"),
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
        errors.push(field_error("role", FieldErrorCode::NotAllowed, "clients post user messages only"));
    }
    let content = MessageContent::parse(&body.content).map_err(|m| errors.push(invalid_field("content", m))).ok();
    let Some(content) = content.filter(|_| errors.is_empty()) else { return Err(ApiError::validation(errors)) };
    let owner = caller.0.user_id;
    let projects = state.projects.clone();
    idempotent(&state.idempotency, &req, owner, &body, move || async move {
        let message = projects.post_message(owner, id, content).await?;
        created(&message_dto(&message), None)
    })
    .await
}
