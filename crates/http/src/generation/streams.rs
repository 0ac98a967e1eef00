//! A job's events as Server-Sent Events and over WebSocket. Either stream
//! authenticates with `Authorization: Bearer` or a single-use `?ticket=`,
//! replays the log after `Last-Event-ID` (or `?last_event_id=`), then follows
//! the job live on whichever node runs it, and closes after the `end` event.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message};
use devora_api_types::{ErrorCode, FieldErrorCode, JobStreamCommand, Problem};
use devora_app::generation::EventFeed;
use devora_domain::{JobId, UserId};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{event_dto, job_id};
use crate::auth::bearer_token;
use crate::auth::unauthenticated;
use crate::error::field_error;
use crate::{ApiError, AppState};

/// A comment line is sent when nothing else was for this long (proxies close idle streams).
const HEARTBEAT: Duration = Duration::from_secs(15);

/// What a reconnecting `EventSource` waits, in milliseconds.
const RETRY_MS: u32 = 2000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// A ticket from `POST /generation/jobs/{id}/ticket`, instead of `Authorization`.
    pub ticket: Option<String>,
    /// Resume after this event (as the `Last-Event-ID` header, which wins when both are sent).
    #[param(value_type = Option<u64>)]
    pub last_event_id: Option<String>,
}

/// Who may watch: the bearer's user, or the ticket's (spent on use).
async fn watcher(state: &AppState, req: &HttpRequest, job: JobId, ticket: Option<&str>) -> Result<UserId, ApiError> {
    if let Some(ticket) = ticket {
        return Ok(state.generation.redeem_ticket(ticket, job).await?);
    }
    let Some(token) = bearer_token(req.headers()) else {
        return Err(unauthenticated(
            ErrorCode::Unauthenticated,
            "Send an access token (Authorization: Bearer) or a stream ticket (?ticket=).",
        ));
    };
    Ok(state.auth.authenticate(token).await?.user_id)
}

/// Where to resume: `Last-Event-ID`, else `?last_event_id=`, else the start.
fn resume_after(req: &HttpRequest, query: &StreamQuery) -> Result<u64, ApiError> {
    let header = req.headers().get("last-event-id").and_then(|v| v.to_str().ok());
    match header.or(query.last_event_id.as_deref()).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(0),
        Some(raw) => raw.parse().map_err(|_| {
            ApiError::validation(vec![field_error(
                "Last-Event-ID",
                FieldErrorCode::Invalid,
                "must be the id of an event of this stream (a whole number)",
            )])
        }),
    }
}

async fn open_feed(
    state: &AppState,
    req: &HttpRequest,
    raw_id: &str,
    query: &StreamQuery,
) -> Result<(JobId, UserId, EventFeed), ApiError> {
    let id = job_id(raw_id)?;
    let after = resume_after(req, query)?;
    let user = watcher(state, req, id, query.ticket.as_deref()).await?;
    let job = state.generation.get(user, id).await?;
    Ok((id, user, state.generation.feed(id, after, job.status.is_final())))
}

fn sse_frame(buf: &mut String, event: &devora_domain::JobEvent) {
    let dto = event_dto(event);
    let data = serde_json::to_string(&dto).unwrap_or_default();
    buf.push_str(&format!("id: {}\nevent: {}\ndata: {data}\n\n", event.seq, event.payload.kind()));
}

/// The job's events as Server-Sent Events: `id:` is the event's `seq`, `event:`
/// its type, `data:` the event as JSON (`JobEvent`). A `retry:` hint first, a
/// comment every 15 s while quiet; the stream ends after the `end` event.
#[utoipa::path(
    get, path = "/api/v2/generation/jobs/{id}/events", tag = "generation", operation_id = "job_events", security(("bearer" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "The job's id"),
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this event"),
        StreamQuery,
    ),
    responses(
        (status = 200, description = "`text/event-stream` of `JobEventDto` as `data:`; see docs/api.md", content_type = "text/event-stream", body = devora_api_types::JobEventDto,
            example = json!("retry: 2000\n\nid: 1\nevent: status\ndata: {\"type\":\"status\",\"seq\":1,\"at\":\"2026-12-07T10:00:00Z\",\"status\":\"queued\",\"attempt\":0}\n\n")),
        (status = 401, description = "No valid access token or ticket (`unauthenticated`, `ticket-invalid`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job of yours", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A `Last-Event-ID` that is not a number", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn events(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let (id, _, feed) = open_feed(&state, &req, &path, &query).await?;
    let start = Some(Bytes::from(format!("retry: {RETRY_MS}\n\n")));
    let body = futures_util::stream::unfold((feed, start, false), move |(mut feed, start, done)| async move {
        if let Some(first) = start {
            return Some((Ok::<_, Infallible>(first), (feed, None, false)));
        }
        if done {
            return None;
        }
        match feed.next_batch(HEARTBEAT).await {
            Ok(events) if events.is_empty() => {
                if feed.ended() {
                    return None;
                }
                Some((Ok(Bytes::from_static(b": heartbeat\n\n")), (feed, None, false)))
            }
            Ok(events) => {
                let mut buf = String::new();
                for event in &events {
                    sse_frame(&mut buf, event);
                }
                let ended = feed.ended();
                Some((Ok(Bytes::from(buf)), (feed, None, ended)))
            }
            Err(err) => {
                // The client reconnects with Last-Event-ID and loses nothing.
                tracing::warn!(job = %id, error = %err, "event stream ended early");
                None
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // Not compressed (the compressor would hold events back) nor buffered by proxies.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}

/// The job's events over WebSocket: each a text frame with the event as JSON
/// (`JobEvent`); the client may send `{"type":"cancel"}`. The server closes with
/// 1000 after the `end` event, 1003 on a message it does not understand.
#[utoipa::path(
    get, path = "/api/v2/generation/jobs/{id}/ws", tag = "generation", operation_id = "job_websocket", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The job's id"), StreamQuery),
    responses(
        (status = 101, description = "Switching to WebSocket"),
        (status = 400, description = "Not a WebSocket upgrade", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token or ticket (`unauthenticated`, `ticket-invalid`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job of yours", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A `last_event_id` that is not a number", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn websocket(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<String>,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let (id, user, mut feed) = open_feed(&state, &req, &path, &query).await?;
    let (response, mut session, mut messages) = actix_ws::handle(&req, body)
        .map_err(|_| ApiError::new(ErrorCode::MalformedRequest, "Expected a WebSocket upgrade request."))?;
    let generation = state.generation.clone();
    actix_web::rt::spawn(async move {
        let close = loop {
            tokio::select! {
                batch = feed.next_batch(HEARTBEAT) => match batch {
                    Ok(events) if events.is_empty() => {
                        if feed.ended() {
                            break CloseReason::from(CloseCode::Normal);
                        }
                        if session.ping(b"").await.is_err() {
                            return;
                        }
                    }
                    Ok(events) => {
                        for event in &events {
                            let text = serde_json::to_string(&event_dto(event)).unwrap_or_default();
                            if session.text(text).await.is_err() {
                                return;
                            }
                        }
                        if feed.ended() {
                            break CloseReason::from(CloseCode::Normal);
                        }
                    }
                    Err(err) => {
                        tracing::warn!(job = %id, error = %err, "job websocket ended early");
                        break CloseReason { code: CloseCode::Again, description: Some("try again".into()) };
                    }
                },
                message = messages.recv() => match message {
                    Some(Ok(Message::Text(text))) => match serde_json::from_str::<JobStreamCommand>(&text) {
                        Ok(JobStreamCommand::Cancel) => {
                            if let Err(err) = generation.cancel(Some(user), id).await {
                                tracing::warn!(job = %id, error = %err, "cancel over websocket failed");
                            }
                        }
                        Err(_) => break CloseReason {
                            code: CloseCode::Unsupported,
                            description: Some("expected {\"type\":\"cancel\"}".into()),
                        },
                    },
                    Some(Ok(Message::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                    Some(Ok(_)) => {}
                },
            }
        };
        let _ = session.close(Some(close)).await;
    });
    Ok(response)
}
