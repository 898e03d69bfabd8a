//! The auditor's view of the audit log: query by actor, object and time; verify.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::CurrentUser;
use super::error::ErrorBody;
use super::{ApiError, ApiJson, AppState, FieldError};
use crate::audit::StoredEvent;
use crate::authz::{Action, Resource, ResourceKind};
use crate::cases::audit::{VerifyError, verify_store};
use crate::store::audit::AuditFilter;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(verify))
}

/// Filters; all optional.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Events by this actor (user id).
    pub actor: Option<String>,
    /// Events about this object id.
    pub object: Option<String>,
    /// At or after this UTC time (RFC 3339).
    pub from: Option<String>,
    /// Before this UTC time (RFC 3339).
    pub to: Option<String>,
    /// Events after this sequence number (for paging).
    pub after_seq: Option<i64>,
    /// At most this many events (1-1000, default 100).
    pub limit: Option<i64>,
}

/// A page of events.
#[derive(Serialize, ToSchema)]
pub struct EventPage {
    /// The events, oldest first.
    pub events: Vec<StoredEvent>,
    /// Pass as `after_seq` for the next page; absent on the last page.
    pub next_after_seq: Option<i64>,
}

fn check_time(field: &str, value: Option<&String>, errors: &mut Vec<FieldError>) {
    if let Some(v) = value {
        if time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).is_err() {
            errors.push(FieldError::new(
                field,
                "must be an RFC 3339 time, e.g. 2026-11-24T00:00:00Z",
            ));
        }
    }
}

/// Query the audit log.
#[utoipa::path(get, path = "/audit/events", tag = "audit", params(EventQuery),
    responses((status = 200, body = EventPage), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn list_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    RawQuery(query): RawQuery,
) -> Result<ApiJson<EventPage>, ApiError> {
    let query: EventQuery = super::json::parse_query(query.as_deref())?;
    state
        .authorize(
            &user,
            Action::ReadAudit,
            &Resource::national(ResourceKind::AuditLog, ""),
            &headers,
        )
        .await?;
    let mut errors = Vec::new();
    check_time("from", query.from.as_ref(), &mut errors);
    check_time("to", query.to.as_ref(), &mut errors);
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        errors.push(FieldError::new("limit", "must be between 1 and 1000"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let events = state
        .store
        .audit_query(&AuditFilter {
            actor: query.actor,
            object: query.object,
            from: query.from,
            to: query.to,
            after_seq: query.after_seq.unwrap_or(0),
            limit,
        })
        .await?;
    let next_after_seq = (i64::try_from(events.len()).unwrap_or(0) == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(ApiJson(EventPage {
        events,
        next_after_seq,
    }))
}

/// Result of a verification.
#[derive(Serialize, ToSchema)]
pub struct VerifyResult {
    /// Whether the whole chain verified.
    pub ok: bool,
    /// Events verified.
    pub events: i64,
    /// Head hash (hex), when OK.
    pub head_hash: Option<String>,
    /// First bad sequence number, when broken.
    pub first_bad_seq: Option<i64>,
    /// What is wrong, when not OK.
    pub problem: Option<String>,
}

/// Verify the hash chain and the stored checkpoints.
#[utoipa::path(post, path = "/audit/verify", tag = "audit",
    responses((status = 200, body = VerifyResult), (status = 403, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
) -> Result<ApiJson<VerifyResult>, ApiError> {
    state
        .authorize(
            &user,
            Action::VerifyAudit,
            &Resource::national(ResourceKind::AuditLog, ""),
            &headers,
        )
        .await?;
    Ok(ApiJson(match verify_store(&state.store, &[]).await {
        Ok(report) => VerifyResult {
            ok: true,
            events: report.events,
            head_hash: Some(report.head_hash),
            first_bad_seq: None,
            problem: None,
        },
        Err(VerifyError::Chain(err)) => VerifyResult {
            ok: false,
            events: 0,
            head_hash: None,
            first_bad_seq: match &err {
                crate::audit::ChainError::Broken { seq, .. } => Some(*seq),
                _ => None,
            },
            problem: Some(err.to_string()),
        },
        Err(VerifyError::Store(e)) => return Err(e.into()),
    }))
}
