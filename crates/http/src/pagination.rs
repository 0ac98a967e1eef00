//! `?limit=` (1..100, default 20) and opaque `?cursor=` parsing.

use base64::Engine;
use chrono::DateTime;
use devora_api_types::{FieldError, FieldErrorCode};
use devora_ports::PageCursor;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::ApiError;
use crate::error::field_error;

/// Kept as text so a bad value is a 422 naming the field, not a bare 400.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1..100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, example = 20)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page (opaque).
    #[param(example = "MTc2Mzk3NjY2MDAwMDAwMS4wMTkzYTFjMi04YTExLTdjMzMtOWQ0ZS02ZjdhOGI5YzBkMWU")]
    pub cursor: Option<String>,
}

/// Cursors are opaque to clients: base64url of `<micros>.<uuid>`.
#[must_use]
pub fn encode_cursor(cursor: &PageCursor) -> String {
    let raw = format!("{}.{}", cursor.created_at.timestamp_micros(), cursor.id);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(raw: &str) -> Option<PageCursor> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (micros, id) = text.split_once('.')?;
    Some(PageCursor {
        created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        id: uuid::Uuid::try_parse(id).ok()?,
    })
}

/// `?limit=`: 1..=100, 20 when absent; out of range or not a number adds a
/// field error (and stands in 20, so the other fields are still checked).
pub fn parse_limit(raw: Option<&str>, errors: &mut Vec<FieldError>) -> u32 {
    match raw.map(str::parse::<u32>) {
        None => 20,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            errors.push(field_error("limit", FieldErrorCode::OutOfRange, "must be a whole number from 1 to 100"));
            20
        }
    }
}

impl PageQuery {
    /// # Errors
    /// 422 naming `limit` or `cursor`.
    pub fn parse(&self) -> Result<(u32, Option<PageCursor>), ApiError> {
        let mut errors = Vec::new();
        let limit = parse_limit(self.limit.as_deref(), &mut errors);
        let cursor = match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(raw) => {
                let decoded = decode_cursor(raw);
                if decoded.is_none() {
                    errors.push(field_error("cursor", FieldErrorCode::Invalid, "is not a cursor this API issued"));
                }
                decoded
            }
        };
        if errors.is_empty() { Ok((limit, cursor)) } else { Err(ApiError::validation(errors)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = PageCursor {
            created_at: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
            id: uuid::Uuid::now_v7(),
        };
        let q = PageQuery { limit: Some("5".into()), cursor: Some(encode_cursor(&c)) };
        assert_eq!(q.parse().unwrap(), (5, Some(c)));
        for (limit, cursor) in
            [(Some("0"), None), (Some("101"), None), (Some("x"), None), (None, Some("!!")), (None, Some("bm9wZQ"))]
        {
            let q = PageQuery { limit: limit.map(Into::into), cursor: cursor.map(Into::into) };
            assert!(q.parse().is_err(), "{limit:?} {cursor:?}");
        }
    }
}
