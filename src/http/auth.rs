//! Who is calling, and may they: the session extractor and the single decision point.
//!
//! `CurrentUser` resolves the bearer token to a live session and loads the user's
//! role and scope from the database on every request, so role and scope changes
//! apply on the next request (ASVS 8.3.2). `AppState::authorize` asks the policy
//! engine, writes personal-data decisions and every denial to the audit log with the
//! rule that decided and the declared purpose, and returns a `Permit` — the only way
//! to obtain one, so code that reads personal data can demand it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::audit::AuditEvent;
use crate::auth::{SESSION_IDLE_SECS, token::hash_token, unix_now};
use crate::authz::{Action, Principal, Resource, Role};
use crate::cases::access::AccessError;
use crate::store::StoreError;
use crate::store::users::FacilityInfo;

/// How often (seconds) a session's idle clock is written back; sparing a write on
/// every request costs at most this much idle-timeout precision.
const TOUCH_EVERY_SECS: i64 = 60;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// Role and scope for policy decisions.
    pub principal: Principal,
    /// Login name.
    pub username: String,
    /// Internal user row id.
    pub row_id: i64,
    /// Hash of the bearer token (for logout).
    pub token_hash: [u8; 32],
    /// Whether the account has TOTP enabled.
    pub totp_enabled: bool,
    /// The user's facility as it stands now (clinicians and emergency staff).
    pub facility: Option<FacilityInfo>,
}

/// Paths a user whose one-time password must still be changed may call.
fn allowed_before_password_change(parts: &Parts) -> bool {
    let path = parts.uri.path();
    path.ends_with("/me/password") || path.ends_with("/sessions/current") || path.ends_with("/me")
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Why a session token gives no caller.
#[derive(Debug)]
pub enum NoCaller {
    /// The session has expired, was ended, or never existed.
    Expired,
    /// The account must change its one-time password before anything else.
    PasswordChange,
    /// The store failed.
    Failed(ApiError),
}

impl CurrentUser {
    /// The caller behind a session token (from the API's bearer header or the
    /// browser's cookie): the live session, the user's role and scope as they stand
    /// now. `password_change_allowed` says whether the request is one a user whose
    /// one-time password must still be changed may make.
    pub async fn from_token(
        state: &AppState,
        token: &str,
        password_change_allowed: bool,
    ) -> Result<Self, NoCaller> {
        let token_hash = hash_token(token);
        let now = unix_now();
        let session = state
            .store
            .live_session(&token_hash, now, SESSION_IDLE_SECS)
            .await
            .map_err(|e| NoCaller::Failed(e.into()))?;
        let Some(session) = session else {
            return Err(NoCaller::Expired);
        };
        if now - session.last_seen_at >= TOUCH_EVERY_SECS {
            match state.store.touch_session(&token_hash, now).await {
                Ok(()) => {}
                // Only the idle clock is not moved on: reads that write nothing keep
                // working on a full disk (the session may idle out a little early).
                Err(StoreError::StorageFull(_)) => {
                    tracing::warn!("disk full: session activity not recorded");
                }
                Err(e) => return Err(NoCaller::Failed(e.into())),
            }
        }
        let (user, facility) = (session.user, session.facility);
        let role: Role = user.role.parse().map_err(|_| {
            NoCaller::Failed(ApiError::Internal(anyhow::anyhow!(
                "stored role is not known"
            )))
        })?;
        if user.must_change_password && !password_change_allowed {
            return Err(NoCaller::PasswordChange);
        }
        Ok(Self {
            principal: Principal {
                user_id: user.user_id,
                role,
                facility: user.facility,
                municipality: user.municipality,
            },
            username: user.username,
            row_id: user.id,
            token_hash,
            totp_enabled: user.totp_enabled,
            facility,
        })
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(token) = bearer(&parts.headers) else {
            return Err(ApiError::Unauthenticated {
                code: "unauthenticated",
                message: "log in first (POST /api/v1/sessions) and send Authorization: Bearer <token>",
            }
            .into_response());
        };
        Self::from_token(state, token, allowed_before_password_change(parts))
            .await
            .map_err(|problem| match problem {
                NoCaller::Expired => ApiError::Unauthenticated {
                    code: "unauthenticated",
                    message: "the session has expired or was ended; log in again",
                }
                .into_response(),
                NoCaller::PasswordChange => super::error::error_response(
                    StatusCode::FORBIDDEN,
                    "password_change_required",
                    "change the one-time password first (POST /api/v1/me/password)",
                ),
                NoCaller::Failed(e) => e.into_response(),
            })
    }
}

pub use crate::cases::access::Permit;

/// The purpose a request declares in `X-Purpose`, or the action's usual purpose.
pub fn declared_purpose(headers: &HeaderMap, action: Action) -> Result<String, ApiError> {
    match headers.get("x-purpose") {
        None => Ok(default_purpose(action).to_owned()),
        Some(value) => {
            let text = value.to_str().unwrap_or_default();
            let valid = (3..=40).contains(&text.len())
                && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            if valid {
                Ok(text.to_owned())
            } else {
                Err(ApiError::BadRequest {
                    code: "invalid_purpose",
                    message: "header X-Purpose must be 3-40 lower-case letters or underscores, \
                              e.g. treatment, audit, data_subject_request"
                        .into(),
                })
            }
        }
    }
}

fn default_purpose(action: Action) -> &'static str {
    use crate::authz::ResourceKind as K;
    if matches!(action, Action::ReviewLinks | Action::DecideLinks) {
        return "record_linkage";
    }
    match action.resource_kind() {
        K::Episode | K::OstQuery | K::Overdose => "treatment",
        K::SocialContact => "social_care",
        K::DeathNotification | K::DeathRecord | K::SubstanceSignal => "mortality_registry",
        K::Export => "statistics",
        K::AuditLog => "audit",
        K::Subject => "data_subject_request",
        K::Reference | K::UserAccount | K::Keys | K::Facility => "administration",
    }
}

impl CurrentUser {
    /// The caller a use case takes: this user, their facility and the purpose the
    /// request declares for `action`.
    pub fn caller(
        &self,
        headers: &HeaderMap,
        action: Action,
    ) -> Result<crate::cases::access::Caller, ApiError> {
        Ok(crate::cases::access::Caller {
            principal: self.principal.clone(),
            facility: self.facility.clone(),
            purpose: declared_purpose(headers, action)?,
        })
    }
}

impl AppState {
    /// The single decision point. Denials answer 404 for a specific scoped record
    /// (so existence is not revealed) and 403 otherwise.
    pub async fn authorize(
        &self,
        user: &CurrentUser,
        action: Action,
        resource: &Resource,
        headers: &HeaderMap,
    ) -> Result<Permit, ApiError> {
        let (permit, allowed) = self.decide(user, action, resource, headers).await?;
        if let Some(event) = allowed {
            self.store.audit(&event).await?;
        }
        Ok(permit)
    }

    /// Decides through the decision point (`cases::access`) with the purpose the
    /// request declares; a refusal of a scoped record answers 404, any other 403.
    async fn decide(
        &self,
        user: &CurrentUser,
        action: Action,
        resource: &Resource,
        headers: &HeaderMap,
    ) -> Result<(Permit, Option<AuditEvent>), ApiError> {
        let purpose = declared_purpose(headers, action)?;
        self.gate
            .decide(&user.principal, action, resource, purpose)
            .await
            .map_err(|e| match e {
                AccessError::Denied { hidden: true } => ApiError::NotFound,
                AccessError::Denied { hidden: false } => ApiError::Forbidden,
                AccessError::Store(e) => ApiError::from(e),
            })
    }
}
