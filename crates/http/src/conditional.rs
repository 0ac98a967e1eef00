//! Strong ETags on JSON reads and `If-None-Match` -> 304.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
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

/// A JSON representation with its entity tag, ready to answer with.
#[derive(Debug, Clone)]
pub struct Rendered {
    body: web::Bytes,
    etag: HeaderValue,
}

impl Rendered {
    /// Serialises `value` and tags it.
    ///
    /// # Errors
    /// When the value cannot be serialised.
    pub fn of<T: Serialize>(value: &T) -> Result<Self, ApiError> {
        let body = serde_json::to_vec(value).map_err(ApiError::internal)?;
        let etag = HeaderValue::from_str(&etag_of(&body)).map_err(ApiError::internal)?;
        Ok(Self { body: body.into(), etag })
    }

    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    #[must_use]
    pub fn etag(&self) -> &HeaderValue {
        &self.etag
    }

    /// 200 with the body and its ETag, or 304 when the client has it already.
    #[must_use]
    pub fn respond(&self, req: &HttpRequest) -> HttpResponse {
        // Private: the representation depends on who asks; revalidate every time.
        let cache_control = HeaderValue::from_static("private, no-cache");
        let etag = self.etag.to_str().unwrap_or_default();
        if not_modified(req, etag) {
            return HttpResponse::NotModified()
                .insert_header((header::ETAG, self.etag.clone()))
                .insert_header((header::CACHE_CONTROL, cache_control))
                .finish();
        }
        HttpResponse::Ok()
            .insert_header((header::ETAG, self.etag.clone()))
            .insert_header((header::CACHE_CONTROL, cache_control))
            .content_type("application/json")
            .body(self.body.clone())
    }
}

/// 200 with the JSON body and its ETag, or 304 when the client has it already.
///
/// # Errors
/// When the value cannot be serialised.
pub fn json_with_etag<T: Serialize>(req: &HttpRequest, value: &T) -> Result<HttpResponse, ApiError> {
    Ok(Rendered::of(value)?.respond(req))
}
