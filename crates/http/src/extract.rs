//! `ApiJson<T>`: a JSON body extractor whose every failure is a precise problem:
//! 415 for another content type, 413 over the limit, 400 for malformed JSON and
//! 422 (with the field's path) for JSON that breaks the type's rules.

use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use devora_api_types::{ErrorCode, FieldError, FieldErrorCode};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::ApiError;
use crate::error::field_error;

/// Default body limit when no [`crate::HttpConfig`] is registered.
const DEFAULT_LIMIT: usize = 64 * 1024;

#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T> ApiJson<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for ApiJson<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn is_json(req: &HttpRequest) -> bool {
    let Ok(Some(mime)) = req.mime_type() else { return false };
    mime.type_() == "application" && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<web::Data<crate::HttpConfig>>().map_or(DEFAULT_LIMIT, |cfg| cfg.json_limit);
        let json = is_json(req);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !json {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedMediaType,
                    "This route accepts application/json bodies only.",
                ));
            }
            let too_large = || ApiError::new(ErrorCode::PayloadTooLarge, format!("The body exceeds {limit} bytes."));
            if declared.is_some_and(|len| len > limit) {
                return Err(too_large());
            }
            let mut body = web::BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
            while let Some(chunk) = payload.next().await {
                let chunk =
                    chunk.map_err(|_| ApiError::new(ErrorCode::MalformedRequest, "The body could not be read."))?;
                if body.len() + chunk.len() > limit {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            parse(&body).map(ApiJson)
        })
    }
}

/// Deserialises `body`, telling syntax errors (400) from rule errors (422).
///
/// # Errors
/// A problem describing the first error.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // Every request body of this API is an object. serde would also build a
    // struct from an array (`[null, null]`), silently mapping by position.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => return Err(ApiError::new(ErrorCode::MalformedRequest, "The body is empty; send a JSON object.")),
        Some(b'{') => {}
        Some(_) if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() => {
            return Err(ApiError::new(ErrorCode::MalformedRequest, "The body is not valid JSON."));
        }
        Some(_) => {
            return Err(ApiError::validation(vec![field_error(
                "",
                FieldErrorCode::NotAnObject,
                "the body must be a JSON object",
            )]));
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        json_error(if path == "." { String::new() } else { path }, &err.into_inner())
    })?;
    de.end().map_err(|err| json_error(String::new(), &err))?;
    Ok(value)
}

fn json_error(field: String, err: &serde_json::Error) -> ApiError {
    if err.classify() != serde_json::error::Category::Data {
        return ApiError::new(ErrorCode::MalformedRequest, format!("The body is not valid JSON: {err}."));
    }
    let message = err.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
    let code = if message.starts_with("unknown field") {
        FieldErrorCode::UnknownField
    } else if message.starts_with("missing field") {
        FieldErrorCode::Required
    } else {
        FieldErrorCode::Invalid
    };
    ApiError::validation(vec![FieldError { field, code, message }])
}
