//! `RecordId`: the path extractor for every record id. Ids are UUIDs; anything else
//! (a NUL byte, a name, 10 kB of text) is answered 404 before it reaches a query, as
//! an id that does not exist would be.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use super::ApiError;

/// A record id from the path, in the canonical lower-case hyphenated form.
#[derive(Debug, Clone)]
pub struct RecordId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RecordId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        uuid::Uuid::try_parse(&raw)
            .map(|id| Self(id.hyphenated().to_string()))
            .map_err(|_| ApiError::NotFound)
    }
}
