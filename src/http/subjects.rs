//! Data-subject rights: the access report (auditor) and erasure by crypto-shredding
//! (admin, with a stated legal basis).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::CurrentUser;
use super::error::ErrorBody;
use super::ids::RecordId;
use super::{ApiError, ApiJson, AppState};
use crate::authz::{Action, Resource, ResourceKind};
use crate::cases::subjects::SubjectError;
use crate::identity::subject::IdentityInput;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(access_report))
        .routes(routes!(shred_subject))
}

impl From<SubjectError> for ApiError {
    fn from(err: SubjectError) -> Self {
        match err {
            SubjectError::Invalid(fields) => Self::Invalid(fields),
            SubjectError::Store(e) => e.into(),
            SubjectError::Keys(e) => Self::Internal(e.into()),
            SubjectError::Crypto(e) => Self::Internal(e.into()),
        }
    }
}

/// What the registry holds about one person.
#[derive(Serialize, ToSchema)]
pub struct AccessReport {
    /// Registry id.
    pub registry_id: String,
    /// TDI sex code.
    pub sex: String,
    /// Year of birth.
    pub birth_year: i64,
    /// Records that name this person, all agencies together.
    pub linked_records: i64,
    /// The same, per kind of record.
    pub records: RecordCounts,
    /// Every record held about the person: kind, id, when, and who holds it.
    pub held: Vec<HeldRecordView>,
    /// When the person was erased, if they were.
    pub erased_at: Option<String>,
    /// The identity as submitted (absent once erased, or when the role may not see it).
    pub identity: Option<IdentityInput>,
}

/// One record held about the person (nothing of its content).
#[derive(Serialize, ToSchema)]
pub struct HeldRecordView {
    /// `treatment_episode`, `social_contact`, `death` or `overdose`.
    pub kind: &'static str,
    /// The record's id.
    pub id: String,
    /// Year of the event (treatment start, contact, death, overdose).
    pub year: i64,
    /// Quarter of that year.
    pub quarter: i64,
    /// Facility code, or municipality slug for municipal and national records.
    pub held_by: String,
    /// When it was recorded (UTC).
    pub recorded_at: String,
}

/// Records that name one person, per kind.
#[derive(Serialize, ToSchema)]
pub struct RecordCounts {
    /// Treatment episodes.
    pub treatment_episodes: i64,
    /// Social-work contacts.
    pub social_contacts: i64,
    /// Drug-related death records.
    pub deaths: i64,
    /// Overdose records.
    pub overdoses: i64,
}

/// Data-subject access report (GDPR art. 15).
#[utoipa::path(get, path = "/subjects/{registry_id}/access-report", tag = "subjects",
    params(("registry_id" = String, Path, description = "the subject's registry id")),
    responses((status = 200, body = AccessReport), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn access_report(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    RecordId(registry_id): RecordId,
) -> Result<ApiJson<AccessReport>, ApiError> {
    let resource = Resource::national(ResourceKind::Subject, &registry_id);
    let permit = state
        .authorize(&user, Action::SubjectAccessReport, &resource, &headers)
        .await?;
    let row = state.store.sealed_subject(&registry_id).await?;
    let held = crate::cases::subjects::held_records(&state.store, &state.keys, &row).await?;
    let count = |table: &str| {
        held.iter()
            .filter(|r| r.kind == table)
            .count()
            .try_into()
            .unwrap_or(i64::MAX)
    };
    let records = RecordCounts {
        treatment_episodes: count("treatment_episode"),
        social_contacts: count("social_contact"),
        deaths: count("death"),
        overdoses: count("overdose"),
    };
    let identity = if row.shredded_at.is_none() {
        crate::cases::subjects::open_identity(&state.store, &state.keys, &permit, &registry_id)
            .await?
    } else {
        None
    };
    Ok(ApiJson(AccessReport {
        registry_id: row.registry_id,
        sex: row.sex,
        birth_year: row.birth_year,
        linked_records: held.len().try_into().unwrap_or(i64::MAX),
        records,
        held: held
            .into_iter()
            .map(|r| HeldRecordView {
                kind: r.kind,
                id: r.id,
                year: r.year,
                quarter: r.quarter,
                held_by: r.held_by,
                recorded_at: r.recorded_at,
            })
            .collect(),
        erased_at: row.shredded_at,
        identity,
    }))
}

/// Why a person is erased.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShredRequest {
    /// The ground of the erasure, a code.
    pub legal_basis: crate::cases::subjects::ErasureGround,
    /// The case number of the request or decision, e.g. `DPO-2026/0142` (up to four
    /// capital letters, then digits).
    #[serde(default)]
    pub reference: Option<String>,
}

/// Erase a person by crypto-shredding; counts remain.
#[utoipa::path(post, path = "/subjects/{registry_id}/shred", tag = "subjects",
    request_body = ShredRequest,
    params(("registry_id" = String, Path, description = "the subject's registry id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn shred_subject(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    RecordId(registry_id): RecordId,
    ApiJson(request): ApiJson<ShredRequest>,
) -> Result<StatusCode, ApiError> {
    let permit = state
        .authorize(
            &user,
            Action::ShredSubject,
            &Resource::national(ResourceKind::Subject, &registry_id),
            &headers,
        )
        .await?;
    crate::cases::subjects::shred(
        &state.store,
        &state.keys,
        &permit,
        &registry_id,
        request.legal_basis,
        request.reference.as_deref(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
