//! Admin API for user accounts: list, create, re-scope, disable.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use super::auth::{CurrentUser, Permit};
use super::error::ErrorBody;
use super::ids::RecordId;
use super::reference::Items;
use super::{ApiError, ApiJson, AppState};
use crate::authz::{Action, Resource, ResourceKind};
use crate::cases::users::{self, AccountView, InitialPassword, NewAccount, Scope, UserError};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(rescope_user))
        .routes(routes!(disable_user))
}

impl From<UserError> for ApiError {
    fn from(err: UserError) -> Self {
        match err {
            UserError::Invalid(fields) => Self::Invalid(fields),
            UserError::UsernameTaken => {
                Self::conflict("username_taken", "this username is already taken")
            }
            UserError::Refused(code, message) => Self::conflict(code, message),
            UserError::NotFound => Self::NotFound,
            UserError::Store(e) => e.into(),
            UserError::Hashing => Self::Internal(anyhow::anyhow!("password hashing failed")),
        }
    }
}

async fn permit(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    id: &str,
) -> Result<Permit, ApiError> {
    state
        .authorize(
            user,
            Action::ManageUsers,
            &Resource::national(ResourceKind::UserAccount, id),
            headers,
        )
        .await
}

/// Every account.
#[utoipa::path(get, path = "/users", tag = "users",
    responses((status = 200, body = Items<AccountView>), (status = 403, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
) -> Result<ApiJson<Items<AccountView>>, ApiError> {
    permit(&state, &user, &headers, "").await?;
    let users: Vec<AccountView> = state
        .store
        .users()
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(ApiJson(users.into()))
}

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login name: 3-64 of a-z, 0-9, `.`, `_`, `-`.
    pub username: String,
    /// `clinician`, `social_worker`, `police`, `forensic`, `analyst`, `auditor` or `admin`.
    pub role: String,
    /// Facility code (clinicians only).
    #[serde(default)]
    pub facility: Option<String>,
    /// Municipality slug (social workers only).
    #[serde(default)]
    pub municipality: Option<String>,
    /// Initial password, changed by the user at first login; omit to get a
    /// generated one.
    #[serde(default)]
    pub password: Option<String>,
}

/// The created account, with its one-time password when one was generated.
#[derive(Serialize, ToSchema)]
pub struct UserCreated {
    /// Public id.
    pub user_id: String,
    /// Generated one-time password (shown only here).
    pub initial_password: Option<String>,
}

/// Create an account.
#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = UserCreated), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    ApiJson(request): ApiJson<CreateUser>,
) -> Result<(StatusCode, ApiJson<UserCreated>), ApiError> {
    let permit = permit(&state, &user, &headers, "").await?;
    let created = users::create(
        &state.store,
        &permit,
        NewAccount {
            username: request.username,
            scope: Scope {
                role: request.role,
                facility: request.facility,
                municipality: request.municipality,
            },
            password: match request.password {
                Some(p) => InitialPassword::SetByAdmin(Zeroizing::new(p)),
                None => InitialPassword::Generated,
            },
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(UserCreated {
            user_id: created.user_id,
            initial_password: created.initial_password.map(|p| p.to_string()),
        }),
    ))
}

/// A new role and scope.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rescope {
    /// The role.
    pub role: String,
    /// Facility code (clinicians only).
    #[serde(default)]
    pub facility: Option<String>,
    /// Municipality slug (social workers only).
    #[serde(default)]
    pub municipality: Option<String>,
}

/// Change an account's role and scope; it applies on the user's next request.
#[utoipa::path(put, path = "/users/{user_id}/scope", tag = "users", request_body = Rescope,
    params(("user_id" = String, Path, description = "the account's public id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn rescope_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    RecordId(user_id): RecordId,
    ApiJson(request): ApiJson<Rescope>,
) -> Result<StatusCode, ApiError> {
    let permit = permit(&state, &user, &headers, &user_id).await?;
    users::rescope(
        &state.store,
        &permit,
        &user_id,
        Scope {
            role: request.role,
            facility: request.facility,
            municipality: request.municipality,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Disable an account; all of its sessions end at once.
#[utoipa::path(post, path = "/users/{user_id}/disable", tag = "users",
    params(("user_id" = String, Path, description = "the account's public id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn disable_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    RecordId(user_id): RecordId,
) -> Result<StatusCode, ApiError> {
    let permit = permit(&state, &user, &headers, &user_id).await?;
    users::disable(&state.store, &permit, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
