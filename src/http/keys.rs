//! Key status for the operator (no key material, only versions and counts).

use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::CurrentUser;
use super::error::ErrorBody;
use super::{ApiError, ApiJson, AppState};
use crate::authz::{Action, Resource, ResourceKind};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(key_status))
}

/// One key version.
#[derive(Serialize, ToSchema)]
pub struct KeyVersionStatus {
    /// `master` or `pseudonym`.
    pub kind: String,
    /// Version number.
    pub version: u32,
    /// `active`, `available` or `retired`.
    pub state: String,
    /// Rows using it.
    pub rows: i64,
    /// Encryptions under it by this process since start (master keys).
    pub encryptions_this_process: u64,
}

/// Key versions and their use.
#[utoipa::path(get, path = "/keys/status", tag = "keys",
    responses((status = 200, body = Vec<KeyVersionStatus>), (status = 403, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn key_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
) -> Result<ApiJson<Vec<KeyVersionStatus>>, ApiError> {
    state
        .authorize(
            &user,
            Action::ReadKeyStatus,
            &Resource::national(ResourceKind::Keys, ""),
            &headers,
        )
        .await?;
    let counts = state.keys.wrap_counts();
    let lines = crate::cases::keys::status(&state.store, &state.settings.key_file)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(ApiJson(
        lines
            .into_iter()
            .map(|l| KeyVersionStatus {
                kind: l.kind.as_str().to_owned(),
                version: l.version,
                state: l.state.to_owned(),
                rows: l.rows,
                encryptions_this_process: if l.kind == crate::crypto::keyfile::KeyKind::Master {
                    counts.get(&l.version).copied().unwrap_or(0)
                } else {
                    0
                },
            })
            .collect(),
    ))
}
