//! Admin API for the facility register: add a facility, and change its name,
//! emergency department or operation. Reading it is `GET /reference/facilities`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{CurrentUser, Permit};
use super::error::ErrorBody;
use super::{ApiError, ApiJson, AppState};
use crate::authz::{Action, Resource, ResourceKind};
use crate::cases::facilities::{self, FacilityError, NewFacility};
use crate::store::reference::{Facility, FacilityChange};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_facility))
        .routes(routes!(change_facility))
}

impl From<FacilityError> for ApiError {
    fn from(err: FacilityError) -> Self {
        match err {
            FacilityError::Invalid(fields) => Self::Invalid(fields),
            FacilityError::CodeTaken => Self::conflict(
                "facility_code_taken",
                "a facility with this code exists; change it instead",
            ),
            FacilityError::NotFound => Self::NotFound,
            FacilityError::Store(e) => e.into(),
        }
    }
}

async fn permit(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    code: &str,
) -> Result<Permit, ApiError> {
    state
        .authorize(
            user,
            Action::ManageFacilities,
            &Resource::national(ResourceKind::Facility, code),
            headers,
        )
        .await
}

/// Add a facility; it operates from now on.
#[utoipa::path(post, path = "/facilities", tag = "facilities", request_body = NewFacility,
    responses((status = 201, body = Facility), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn create_facility(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    ApiJson(new): ApiJson<NewFacility>,
) -> Result<(StatusCode, ApiJson<Facility>), ApiError> {
    let permit = permit(&state, &user, &headers, "").await?;
    let facility = facilities::create(&state.store, &permit, new).await?;
    Ok((StatusCode::CREATED, ApiJson(facility)))
}

/// Change a facility's name, emergency department or operation (`active: false`
/// closes it: its records and accounts stay, its clinicians can no longer
/// register there). The code cannot change.
#[utoipa::path(patch, path = "/facilities/{code}", tag = "facilities", request_body = FacilityChange,
    params(("code" = String, Path, description = "facility code")),
    responses((status = 200, body = Facility), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn change_facility(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    Path(code): Path<String>,
    ApiJson(change): ApiJson<FacilityChange>,
) -> Result<ApiJson<Facility>, ApiError> {
    // A code that cannot be one names no facility (and is never echoed).
    let code = Some(code)
        .filter(|c| facilities::valid_code(c))
        .unwrap_or_default();
    let permit = permit(&state, &user, &headers, &code).await?;
    if code.is_empty() {
        return Err(ApiError::NotFound);
    }
    let facility = facilities::change(&state.store, &permit, &code, change).await?;
    Ok(ApiJson(facility))
}
