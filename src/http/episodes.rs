//! Treatment episodes for clinicians at their own facility, and the substitution
//! double-enrolment check.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{CurrentUser, Permit};
use super::error::ErrorBody;
use super::ids::RecordId;
use super::{ApiError, ApiJson, AppState, FieldError};
use crate::authz::{Action, FieldGroup, Resource, ResourceKind};
use crate::cases::episodes::{self, EpisodeError, OstAnswer, Registered};
use crate::clock::today_utc;
use crate::domain::episode::{EpisodeCorrection, EpisodeInput, PlainEpisode, apply, validate};
use crate::identity::subject::{IdentityInput, PatientSearch};
use crate::store::episodes::{EpisodeFilter, EpisodeRow};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_episode, list_episodes))
        .routes(routes!(get_episode, correct_episode))
        .routes(routes!(close_episode))
        .routes(routes!(episode_history))
        .routes(routes!(ost_check))
        .routes(routes!(find_patient))
}

impl From<EpisodeError> for ApiError {
    fn from(err: EpisodeError) -> Self {
        match err {
            EpisodeError::Invalid(fields) => Self::Invalid(fields),
            EpisodeError::Continues(id) => Self::conflict(
                "episode_continues",
                format!(
                    "this person has an open episode here, or one that ended less than six months \
                 before this start date ({id}); by the TDI protocol that episode continues: \
                 correct or close it instead"
                ),
            ),
            EpisodeError::AlreadyClosed => {
                Self::conflict("episode_closed", "the episode is already closed")
            }
            EpisodeError::NotPermitted | EpisodeError::Denied { hidden: false } => Self::Forbidden,
            EpisodeError::Denied { hidden: true } => Self::NotFound,
            EpisodeError::Changed => Self::conflict(
                "episode_changed",
                "the episode was changed by someone else after you read it; read it again \
                 and send your change on what it holds now",
            ),
            EpisodeError::FacilityInactive => Self::conflict(
                "facility_inactive",
                "your facility is not active in the registry",
            ),
            EpisodeError::Erased => Self::conflict(
                "subject_erased",
                "this person's data has been erased; the record can no longer be read or changed",
            ),
            EpisodeError::Store(e) => e.into(),
            EpisodeError::Crypto(e) => Self::Internal(e.into()),
        }
    }
}

fn facility_resource(user: &CurrentUser, id: &str) -> Resource {
    Resource {
        facility: user.principal.facility.clone(),
        ..Resource::national(ResourceKind::Episode, id)
    }
}

async fn municipalities(state: &AppState) -> Result<Vec<String>, ApiError> {
    Ok(state.store.municipality_slugs().await?)
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(value) => {
            let key = value.to_str().unwrap_or_default();
            let ok = (8..=100).contains(&key.len())
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if ok {
                Ok(Some(key.to_owned()))
            } else {
                Err(ApiError::BadRequest {
                    code: "invalid_idempotency_key",
                    message: "header Idempotency-Key must be 8-100 letters, digits, '-' or '_' (a UUID is ideal)".into(),
                })
            }
        }
    }
}

/// Register a treatment episode at the caller's facility. Send an `Idempotency-Key`
/// header so that a retried request returns the first result instead of a duplicate.
#[utoipa::path(post, path = "/episodes", tag = "episodes", request_body = EpisodeInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "client-chosen key, 8-100 characters")),
    responses((status = 201, body = Registered), (status = 200, description = "replay of an earlier request", body = Registered),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn register_episode(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    ApiJson(input): ApiJson<EpisodeInput>,
) -> Result<(StatusCode, ApiJson<Registered>), ApiError> {
    let key = idempotency_key(&headers)?;
    let who = user.caller(&headers, Action::CreateEpisode)?;
    let registered =
        episodes::register(&state.store, &state.keys, &state.gate, &who, &input, key).await?;
    let status = if registered.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, ApiJson(registered)))
}

/// One line of the episode list.
#[derive(Serialize, ToSchema)]
pub struct EpisodeSummary {
    /// Episode id.
    pub episode_id: String,
    /// The person's registry id.
    pub registry_id: String,
    /// `open` or `closed`.
    pub status: String,
    /// Year treatment started.
    pub start_year: u16,
    /// Quarter treatment started.
    pub start_quarter: u8,
    /// TDI primary drug code.
    pub primary_drug: String,
    /// TDI treatment status (ever previously treated).
    pub treatment_status: String,
    /// OST status.
    pub ost_status: String,
    /// End reason, once closed.
    pub end_reason: Option<String>,
}

/// Filters and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Year treatment started.
    pub year: Option<i64>,
    /// `open` or `closed`.
    pub status: Option<String>,
    /// TDI primary drug code.
    pub primary_drug: Option<String>,
    /// Page size, 1-500 (default 50).
    pub limit: Option<i64>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// A page of episodes.
#[derive(Serialize, ToSchema)]
pub struct EpisodePage {
    /// Newest first.
    pub episodes: Vec<EpisodeSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The caller's facility's episodes, newest first, with filters and paging.
#[utoipa::path(get, path = "/episodes", tag = "episodes", params(ListQuery),
    responses((status = 200, body = EpisodePage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn list_episodes(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    RawQuery(query): RawQuery,
) -> Result<ApiJson<EpisodePage>, ApiError> {
    let query: ListQuery = super::json::parse_query(query.as_deref())?;
    let permit = state
        .authorize(
            &user,
            Action::ListEpisodes,
            &facility_resource(&user, ""),
            &headers,
        )
        .await?;
    let facility = user.principal.facility.clone().ok_or(ApiError::Forbidden)?;
    let mut errors = Vec::new();
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        errors.push(FieldError::new("limit", "must be between 1 and 500"));
    }
    if query
        .status
        .as_deref()
        .is_some_and(|s| s != "open" && s != "closed")
    {
        errors.push(FieldError::new("status", "must be open or closed"));
    }
    let before_id = match query.cursor.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(id)) if id > 0 => Some(id),
        Some(_) => {
            errors.push(FieldError::new(
                "cursor",
                "is not a cursor from a previous page",
            ));
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let rows = episodes::list(
        &state.store,
        &state.keys,
        &facility,
        &EpisodeFilter {
            year: query.year,
            status: query.status,
            primary_drug: query.primary_drug,
            before_id,
            limit,
        },
    )
    .await?;
    permit
        .record_disclosure(&state.store, rows.iter().map(|r| r.episode_id.as_str()))
        .await?;
    let next_cursor = (i64::try_from(rows.len()).unwrap_or(0) == limit)
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(ApiJson(EpisodePage {
        episodes: rows.into_iter().map(summary).collect(),
        next_cursor,
    }))
}

/// The caller's facility's episodes of one person.
#[derive(Serialize, ToSchema)]
pub struct PatientEpisodes {
    /// Newest first; empty when this facility holds none of the person (or the
    /// registry does not know them: the answer does not say which).
    pub episodes: Vec<EpisodeSummary>,
}

fn summary(r: EpisodeRow) -> EpisodeSummary {
    EpisodeSummary {
        episode_id: r.episode_id,
        registry_id: r.registry_id,
        status: r.status,
        start_year: r.plain.start_year,
        start_quarter: r.plain.start_quarter,
        primary_drug: r.plain.primary_drug,
        treatment_status: r.plain.treatment_status,
        ost_status: r.plain.ost_status,
        end_reason: r.end_reason,
    }
}

/// Find a patient again: the caller's facility's episodes of the person with this
/// identity (POST, so the identity stays out of URLs and logs). Other facilities'
/// episodes stay invisible. Audited as a read of the person (`find_patient`) and of
/// each episode shown.
#[utoipa::path(post, path = "/episodes/search", tag = "episodes", request_body = PatientSearch,
    responses((status = 200, body = PatientEpisodes), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn find_patient(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    ApiJson(search): ApiJson<PatientSearch>,
) -> Result<ApiJson<PatientEpisodes>, ApiError> {
    let permit = state
        .authorize(
            &user,
            Action::ListEpisodes,
            &facility_resource(&user, ""),
            &headers,
        )
        .await?;
    let facility = user.principal.facility.clone().ok_or(ApiError::Forbidden)?;
    let query = crate::identity::subject::validate_search(search, today_utc())
        .map_err(ApiError::Invalid)?;
    let (rows, registry_id) =
        episodes::find_patient(&state.store, &state.keys, &query, &facility).await?;
    // Who was looked up is recorded, found or not (the person's registry id when
    // the registry knows them), then each episode disclosed.
    state
        .store
        .audit(&permit.event("find_patient", registry_id.as_deref()))
        .await?;
    permit
        .record_disclosure(&state.store, rows.iter().map(|r| r.episode_id.as_str()))
        .await?;
    Ok(ApiJson(PatientEpisodes {
        episodes: rows.into_iter().map(summary).collect(),
    }))
}

/// Injecting, sharing, HIV/HCV testing and notes (health-sensitive field group).
#[derive(Serialize, ToSchema)]
pub struct SensitiveView {
    /// TDI injecting status.
    pub injecting: String,
    /// Age at first injection.
    pub age_first_injection: Option<u16>,
    /// Needle/syringe sharing.
    pub sharing: String,
    /// HIV testing.
    pub hiv_testing: String,
    /// HCV testing.
    pub hcv_testing: String,
    /// Free text.
    pub notes: Option<String>,
}

/// An episode, with only the field groups the caller's role may see.
#[derive(Serialize, ToSchema)]
pub struct EpisodeView {
    /// Episode id.
    pub episode_id: String,
    /// The person's registry id.
    pub registry_id: String,
    /// Facility code.
    pub facility: String,
    /// TDI centre type.
    pub centre_type: String,
    /// `open` or `closed`.
    pub status: String,
    /// How the person was linked.
    pub link_rule: String,
    /// Identity (identity field group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityInput>,
    /// TDI items (clinical field group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tdi: Option<PlainEpisode>,
    /// Exact treatment start date (clinical field group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub treatment_start_date: Option<String>,
    /// Exact end date, once closed (clinical field group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// End reason, once closed.
    pub end_reason: Option<String>,
    /// Health-sensitive items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<SensitiveView>,
    /// Registered at (UTC).
    pub created_at: String,
    /// Last changed at (UTC).
    pub updated_at: String,
}

/// Loads an episode and checks the caller may do `action` on it; an episode of
/// another facility answers 404 (its existence is not revealed).
async fn load(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    episode_id: &str,
    action: Action,
) -> Result<(episodes::OpenedEpisode, Permit), ApiError> {
    let Some(row) = episodes::find(&state.store, &state.keys, episode_id).await? else {
        // Audit the attempt like a denial would be, so probing is visible.
        state
            .authorize(user, action, &facility_resource(user, episode_id), headers)
            .await?;
        return Err(ApiError::NotFound);
    };
    let permit = state
        .authorize(user, action, &episodes::resource(&row), headers)
        .await?;
    let identity = state
        .store
        .sealed_subject(&row.registry_id)
        .await?
        .identity_sealed;
    let opened = episodes::open(&state.keys, &permit, row, identity.as_deref())?;
    Ok((opened, permit))
}

/// Read one episode of the caller's facility.
#[utoipa::path(get, path = "/episodes/{episode_id}", tag = "episodes",
    params(("episode_id" = String, Path, description = "episode id")),
    responses((status = 200, body = EpisodeView), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_episode(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    RecordId(episode_id): RecordId,
) -> Result<ApiJson<EpisodeView>, ApiError> {
    let (opened, permit) = load(&state, &user, &headers, &episode_id, Action::ReadEpisode).await?;
    let (clinical_ok, sensitive_ok) = (
        permit.may_read(FieldGroup::Clinical),
        permit.may_read(FieldGroup::HealthSensitive),
    );
    let row = opened.row;
    let sealed = opened.sealed;
    Ok(ApiJson(EpisodeView {
        episode_id: row.episode_id,
        registry_id: row.registry_id,
        facility: row.facility,
        centre_type: row.centre_type,
        status: row.status,
        link_rule: row.link_rule,
        identity: opened.identity,
        tdi: clinical_ok.then_some(row.plain),
        treatment_start_date: sealed
            .as_ref()
            .filter(|_| clinical_ok)
            .map(|s| s.treatment_start_date.clone()),
        end_date: opened.end_date,
        end_reason: row.end_reason,
        sensitive: sealed
            .as_ref()
            .filter(|_| sensitive_ok)
            .map(|sealed| SensitiveView {
                injecting: sealed.injecting.clone(),
                age_first_injection: sealed.age_first_injection,
                sharing: sealed.sharing.clone(),
                hiv_testing: sealed.hiv_testing.clone(),
                hcv_testing: sealed.hcv_testing.clone(),
                notes: sealed.notes.clone(),
            }),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }))
}

/// Correct an episode: only the fields sent change; the previous values are kept
/// (sealed) in its history. Corrections that race are applied one after the
/// other, each to the episode as the other left it. With `If-Match` (the
/// episode's `updated_at` as read), the correction is applied only to that
/// state, else 412: for a client that sends back every item it showed.
#[utoipa::path(patch, path = "/episodes/{episode_id}", tag = "episodes", request_body = EpisodeCorrection,
    params(("episode_id" = String, Path, description = "episode id"),
        ("If-Match" = Option<String>, Header, description = "the episode's updated_at as read")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn correct_episode(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    RecordId(episode_id): RecordId,
    ApiJson(correction): ApiJson<EpisodeCorrection>,
) -> Result<StatusCode, ApiError> {
    let read_as = headers.get(header::IF_MATCH).map(|v| {
        v.to_str()
            .unwrap_or_default()
            .trim()
            .trim_matches('"')
            .to_owned()
    });
    let mut attempts = 0;
    loop {
        let (opened, permit) =
            load(&state, &user, &headers, &episode_id, Action::UpdateEpisode).await?;
        if read_as
            .as_ref()
            .is_some_and(|r| *r != opened.row.updated_at)
        {
            return Err(changed_since_read());
        }
        let current = episodes::as_input(&opened)?;
        let (corrected, changed) = apply(&current, &correction);
        if changed.is_empty() {
            return Ok(StatusCode::NO_CONTENT);
        }
        let slugs = municipalities(&state).await?;
        let slugs: Vec<&str> = slugs.iter().map(String::as_str).collect();
        let valid = validate(&corrected, today_utc(), &slugs).map_err(ApiError::Invalid)?;
        let written = episodes::correct(
            &state.store,
            &state.keys,
            &opened,
            valid,
            &changed,
            &user.principal.user_id,
            permit.write_event(Some(&episode_id)),
        )
        .await;
        match written {
            Ok(()) => return Ok(StatusCode::NO_CONTENT),
            // Another change won the race: apply this one to what it left.
            Err(EpisodeError::Changed) if read_as.is_none() && attempts < 5 => attempts += 1,
            Err(EpisodeError::Changed) if read_as.is_some() => return Err(changed_since_read()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The answer to a change made on a state of the episode that is gone.
fn changed_since_read() -> ApiError {
    ApiError::Precondition {
        code: "episode_changed",
        message: "the episode was changed by someone else after you read it; read it again \
                  and make your change on what it holds now",
    }
}

/// The end of an episode.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// Date treatment ended, `YYYY-MM-DD`.
    pub end_date: String,
    /// `completed`, `referred`, `dropped_out`, `died` or `other`.
    pub end_reason: String,
}

/// Close an episode with its end date and reason.
#[utoipa::path(post, path = "/episodes/{episode_id}/close", tag = "episodes", request_body = CloseRequest,
    params(("episode_id" = String, Path, description = "episode id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn close_episode(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    RecordId(episode_id): RecordId,
    ApiJson(request): ApiJson<CloseRequest>,
) -> Result<StatusCode, ApiError> {
    let (opened, permit) =
        load(&state, &user, &headers, &episode_id, Action::UpdateEpisode).await?;
    episodes::close(
        &state.store,
        &state.keys,
        &opened,
        &request.end_date,
        &request.end_reason,
        &user.principal.user_id,
        permit.write_event(Some(&episode_id)),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One change to an episode (the previous values stay sealed).
#[derive(Serialize, ToSchema)]
pub struct HistoryEntry {
    /// Who changed it (user id).
    pub changed_by: String,
    /// When (UTC).
    pub changed_at: String,
    /// `correct` or `close`.
    pub change: String,
    /// Names of the fields that changed.
    pub fields: Vec<String>,
}

/// Who changed an episode, when, and which fields.
#[utoipa::path(get, path = "/episodes/{episode_id}/history", tag = "episodes",
    params(("episode_id" = String, Path, description = "episode id")),
    responses((status = 200, body = Vec<HistoryEntry>), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn episode_history(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    RecordId(episode_id): RecordId,
) -> Result<ApiJson<Vec<HistoryEntry>>, ApiError> {
    let (opened, _) = load(&state, &user, &headers, &episode_id, Action::ReadEpisode).await?;
    let entries = state.store.episode_history(opened.row.id).await?;
    Ok(ApiJson(
        entries
            .into_iter()
            .map(|(changed_by, changed_at, change, fields)| HistoryEntry {
                changed_by,
                changed_at,
                change,
                fields: fields.split(',').map(str::to_owned).collect(),
            })
            .collect(),
    ))
}

/// The person to check.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OstCheckRequest {
    /// Identity of the person in front of the clinician.
    pub identity: IdentityInput,
}

/// Is this person currently in opioid substitution treatment at another facility?
/// Answers yes or no and since which month — nothing else.
#[utoipa::path(post, path = "/ost-checks", tag = "episodes", request_body = OstCheckRequest,
    responses((status = 200, body = OstAnswer), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn ost_check(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    ApiJson(request): ApiJson<OstCheckRequest>,
) -> Result<ApiJson<OstAnswer>, ApiError> {
    let permit = state
        .authorize(
            &user,
            Action::CheckOst,
            &Resource::national(ResourceKind::OstQuery, ""),
            &headers,
        )
        .await?;
    let identity = crate::identity::subject::validate(&request.identity, today_utc(), "identity.")
        .map_err(ApiError::Invalid)?;
    let facility = user.principal.facility.clone().unwrap_or_default();
    let (answer, registry_id) = episodes::ost_check(
        &state.store,
        &state.keys,
        &request.identity,
        &identity,
        &facility,
    )
    .await?;
    // Which person was asked about is recorded; the answer (health data) is not.
    state
        .store
        .audit(&permit.write_event(registry_id.as_deref()))
        .await?;
    Ok(ApiJson(answer))
}
