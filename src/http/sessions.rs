//! Login and logout, and the caller's own account: password change and TOTP.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use super::auth::CurrentUser;
use super::error::ErrorBody;
use super::{ApiError, ApiJson, AppState};
use crate::auth::{SESSION_ABSOLUTE_SECS, SESSION_IDLE_SECS};
use crate::cases::login::{self, LoginError};
use crate::cases::users::AccountView;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_session))
        .routes(routes!(delete_current_session))
        .routes(routes!(me))
        .routes(routes!(change_password))
        .routes(routes!(start_totp))
        .routes(routes!(confirm_totp))
}

impl From<LoginError> for ApiError {
    fn from(err: LoginError) -> Self {
        match err {
            LoginError::InvalidCredentials => Self::Unauthenticated {
                code: "invalid_credentials",
                message: "username or password is wrong",
            },
            LoginError::TotpRequired => Self::Unauthenticated {
                code: "totp_required",
                message: "this account needs the code from its authenticator app (field totp)",
            },
            LoginError::Locked(seconds) => Self::TooManyAttempts(seconds),
            LoginError::Invalid(fields) => Self::Invalid(fields),
            LoginError::Store(e) => e.into(),
            LoginError::Internal(what) => Self::Internal(anyhow::anyhow!("login: {what}")),
        }
    }
}

/// Credentials.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Current TOTP code, for accounts with a second factor.
    #[serde(default)]
    pub totp: Option<String>,
}

/// A new session.
#[derive(Serialize, ToSchema)]
pub struct SessionCreated {
    /// Bearer token for `Authorization: Bearer …`; shown only here.
    pub token: String,
    /// Absolute expiry, Unix seconds.
    pub expires_at: i64,
    /// Seconds without a request after which the session ends.
    pub idle_timeout_secs: i64,
    /// Maximum session lifetime in seconds.
    pub absolute_timeout_secs: i64,
    /// The account.
    pub user: AccountView,
}

/// Log in: exchange username and password (and TOTP code) for a bearer token.
#[utoipa::path(post, path = "/sessions", tag = "sessions", request_body = LoginRequest,
    responses((status = 201, body = SessionCreated), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn create_session(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<(StatusCode, ApiJson<SessionCreated>), ApiError> {
    let client = super::client::Client::of(peer, &headers, &state.settings.trusted_proxies);
    let password = Zeroizing::new(request.password);
    let done = login::login(
        &state.store,
        &state.keys,
        &request.username,
        password,
        request.totp.as_deref(),
        &client.address.to_string(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(SessionCreated {
            token: done.token.to_string(),
            expires_at: done.expires_at,
            idle_timeout_secs: SESSION_IDLE_SECS,
            absolute_timeout_secs: SESSION_ABSOLUTE_SECS,
            user: done.user.into(),
        }),
    ))
}

/// Log out: end the current session.
#[utoipa::path(delete, path = "/sessions/current", tag = "sessions",
    responses((status = 204), (status = 401, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn delete_current_session(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<StatusCode, ApiError> {
    login::logout(
        &state.store,
        &user.token_hash,
        &user.principal.user_id,
        user.principal.role.as_str(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn own_record(
    state: &AppState,
    user: &CurrentUser,
) -> Result<crate::store::users::UserRecord, ApiError> {
    state
        .store
        .user_by_id(&user.principal.user_id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// The caller's own account: role and scope.
#[utoipa::path(get, path = "/me", tag = "sessions",
    responses((status = 200, body = AccountView), (status = 401, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn me(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<ApiJson<AccountView>, ApiError> {
    Ok(ApiJson(own_record(&state, &user).await?.into()))
}

/// A password change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    pub current_password: String,
    /// The new password: at least 12 characters, not a common password.
    pub new_password: String,
}

/// Change the caller's password (required first after a one-time password).
#[utoipa::path(post, path = "/me/password", tag = "sessions", request_body = PasswordChange,
    responses((status = 204), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn change_password(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let record = own_record(&state, &user).await?;
    login::change_password(
        &state.store,
        &record,
        Zeroizing::new(request.current_password),
        Zeroizing::new(request.new_password),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A TOTP secret to enter into an authenticator app.
#[derive(Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// Secret in base32.
    pub secret: String,
    /// `otpauth://` URI (QR code content).
    pub otpauth_uri: String,
}

/// The proof that changing a second factor that is on needs.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpChange {
    /// The current password.
    pub current_password: String,
    /// The code the authenticator app shows now.
    pub code: String,
}

/// Start TOTP enrolment; confirm with a code to enable it. When a second factor is
/// already on, the body must carry the current password and the current code (the
/// new enrolment replaces the factor in force).
#[utoipa::path(post, path = "/me/totp", tag = "sessions", request_body = TotpChange,
    responses((status = 201, body = TotpEnrolment), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn start_totp(
    State(state): State<AppState>,
    user: CurrentUser,
    body: axum::body::Bytes,
) -> Result<(StatusCode, ApiJson<TotpEnrolment>), ApiError> {
    let record = own_record(&state, &user).await?;
    let proof = if body.is_empty() {
        None
    } else {
        let change: TotpChange = crate::http::json::parse_json(&body)?;
        Some(login::Reauthentication {
            current_password: Zeroizing::new(change.current_password),
            code: change.code,
        })
    };
    let enrolment = login::start_totp(&state.store, &state.keys, &record, proof).await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(TotpEnrolment {
            secret: enrolment.secret_base32,
            otpauth_uri: enrolment.uri,
        }),
    ))
}

/// A code from the authenticator app.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    /// Six digits.
    pub code: String,
}

/// Confirm TOTP enrolment; from now on login asks for a code.
#[utoipa::path(post, path = "/me/totp/confirm", tag = "sessions", request_body = TotpCode,
    responses((status = 204), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn confirm_totp(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<TotpCode>,
) -> Result<StatusCode, ApiError> {
    let record = own_record(&state, &user).await?;
    login::confirm_totp(&state.store, &state.keys, &record, &request.code).await?;
    Ok(StatusCode::NO_CONTENT)
}
