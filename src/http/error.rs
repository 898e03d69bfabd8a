//! The one error type every handler returns, rendered as
//! `{"error": {"code": "...", "message": "...", "fields": [...]}}`.
//!
//! 4xx messages tell the caller what to fix; 5xx details are logged here, once,
//! and never returned (ASVS 16.5).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

pub use crate::field::FieldError;
use crate::store::{StoreError, Unique};

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (bad JSON, wrong types).
    #[error("{message}")]
    BadRequest {
        /// Stable machine code.
        code: &'static str,
        /// Human message saying what to fix.
        message: String,
    },
    /// One or more fields failed validation; all of them are listed.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// Not logged in, or the credentials are wrong.
    #[error("{message}")]
    Unauthenticated {
        /// Stable machine code.
        code: &'static str,
        /// What to do.
        message: &'static str,
    },
    /// The caller's role may not do this.
    #[error("forbidden")]
    Forbidden,
    /// Too many failed attempts; try again after the given number of seconds.
    #[error("too many attempts")]
    TooManyAttempts(i64),
    /// The resource does not exist, or the caller may not know that it exists.
    #[error("not found")]
    NotFound,
    /// The request conflicts with stored data.
    #[error("{message}")]
    Conflict {
        /// Stable machine code saying which rule.
        code: &'static str,
        /// What happened and what to do.
        message: String,
    },
    /// A precondition the request set (`If-Match`) no longer holds.
    #[error("{message}")]
    Precondition {
        /// Stable machine code saying which.
        code: &'static str,
        /// What happened and what to do.
        message: &'static str,
    },
    /// The request body is larger than the configured limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// The body is not `application/json`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The database is unreachable; retrying later may succeed.
    #[error("service unavailable")]
    Unavailable,
    /// The disk is full: nothing was written; retrying once space is freed succeeds.
    #[error("storage full")]
    StorageFull,
    /// An unexpected fault; the cause is logged, not returned.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// The error object inside every error response.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_input`.
    code: String,
    /// What went wrong and what to do about it.
    message: String,
    /// Per-field problems, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<FieldError>,
}

/// Builds a JSON error response; also used by the middleware that turns the
/// framework's bare error responses (404, 405, 413, timeouts, panics) into JSON.
pub(crate) fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    error_response_with_fields(status, code, message, Vec::new())
}

fn error_response_with_fields(
    status: StatusCode,
    code: &str,
    message: &str,
    fields: Vec<FieldError>,
) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.to_owned(),
            fields,
        },
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::BadRequest { code, message } => {
                error_response(StatusCode::BAD_REQUEST, code, &message)
            }
            Self::Invalid(fields) => {
                let message = match fields.as_slice() {
                    [one] => format!("{}: {}", one.field, one.problem),
                    many => format!(
                        "{} fields are invalid: {}",
                        many.len(),
                        many.iter()
                            .map(|f| f.field.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                error_response_with_fields(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_input",
                    &message,
                    fields,
                )
            }
            Self::Unauthenticated { code, message } => {
                let mut response = error_response(StatusCode::UNAUTHORIZED, code, message);
                response.headers_mut().insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer"),
                );
                response
            }
            Self::Forbidden => error_response(
                StatusCode::FORBIDDEN,
                "forbidden",
                "your role may not do this; the decision has been logged",
            ),
            Self::TooManyAttempts(retry_after) => {
                let mut response = error_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    "too many failed attempts; try again later",
                );
                if let Ok(value) = axum::http::HeaderValue::from_str(&retry_after.to_string()) {
                    response
                        .headers_mut()
                        .insert(axum::http::header::RETRY_AFTER, value);
                }
                response
            }
            Self::NotFound => error_response(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such resource; check the path and identifier",
            ),
            Self::Conflict { code, message } => {
                error_response(StatusCode::CONFLICT, code, &message)
            }
            Self::Precondition { code, message } => {
                error_response(StatusCode::PRECONDITION_FAILED, code, message)
            }
            Self::PayloadTooLarge => error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is larger than this service accepts",
            ),
            Self::UnsupportedMediaType => error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with the header Content-Type: application/json",
            ),
            Self::Unavailable => error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database cannot be reached; try again shortly",
            ),
            Self::StorageFull => {
                let mut response = error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_full",
                    "the registry's storage is full, so nothing was saved; the operator has \
                     been alerted; send the request again later",
                );
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static(STORAGE_FULL_RETRY_AFTER),
                );
                response
            }
            Self::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "internal error");
                error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "an internal error occurred; it has been logged",
                )
            }
        }
    }
}

/// Seconds a client waits before retrying after `storage_full`: freeing disk space
/// takes an operator minutes, not milliseconds.
const STORAGE_FULL_RETRY_AFTER: &str = "60";

impl ApiError {
    /// A 409 with its code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }
}

/// The one place a broken uniqueness rule becomes an answer: a code and a message per
/// rule, never the constraint's name or anything else about the row it met (a
/// "personal number exists" would tell the caller that someone with that number was
/// just registered).
fn on_unique(rule: Unique) -> ApiError {
    match rule {
        Unique::PersonalNumber | Unique::Other => ApiError::conflict(
            "concurrent_change",
            "another request changed the same records at the same moment; send the request again",
        ),
        Unique::IdempotencyKey => ApiError::conflict(
            "idempotency_key_reused",
            "you already sent a request with this Idempotency-Key; send a new key for a new \
             registration",
        ),
        Unique::Username => ApiError::conflict("username_taken", "this username is already taken"),
        Unique::FacilityCode => ApiError::conflict(
            "facility_code_taken",
            "a facility with this code exists; change it instead",
        ),
        Unique::SnapshotVersion => ApiError::conflict(
            "frozen_concurrently",
            "the year was frozen by another request at the same moment; see the freeze status",
        ),
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Self::Unavailable
            }
            StoreError::StorageFull(cause) => {
                tracing::error!(error = %cause, "storage full: writes are refused until disk space is freed");
                Self::StorageFull
            }
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict(rule) => on_unique(rule),
            other => Self::Internal(other.into()),
        }
    }
}
