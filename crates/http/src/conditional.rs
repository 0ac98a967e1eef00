//! Strong ETags on JSON reads and `If-None-Match` -> 304.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ApiError;

/// The entity tag of a representation: its SHA-256, shortened.
#[must_use]
pub fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// Whether `If-None-Match` names `etag` (weak comparison, `*` included).
pub fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    let Some(header) = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) else { return false };
    header.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

/// 200 with the JSON body and its ETag, or 304 when the client has it already.
///
/// # Errors
/// When the value cannot be serialised.
pub fn json_with_etag<T: Serialize>(req: &HttpRequest, value: &T) -> Result<HttpResponse, ApiError> {
    let body = serde_json::to_vec(value).map_err(ApiError::internal)?;
    let etag = etag_of(&body);
    let etag_value = HeaderValue::from_str(&etag).map_err(ApiError::internal)?;
    // Private: the representation depends on who asks; revalidate every time.
    let cache_control = HeaderValue::from_static("private, no-cache");
    if not_modified(req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag_value))
            .insert_header((header::CACHE_CONTROL, cache_control))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag_value))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .content_type("application/json")
        .body(body))
}
