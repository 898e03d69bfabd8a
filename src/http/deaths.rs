//! Deaths and overdoses: police notifications, forensic records with Selection B/D,
//! emergency and police overdose records, and the new-substance list.
//!
//! Responses never carry the link to a person known to the registry: that shows
//! only in aggregates.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::CurrentUser;
use super::error::ErrorBody;
use super::ids::RecordId;
use super::{ApiError, ApiJson, AppState};
use crate::authz::{Action, FieldGroup, Resource, ResourceKind};
use crate::cases::deaths::{self, OverdoseSealed, Target};
use crate::clock::today_utc;
use crate::domain::death::{
    ForensicInput, NotificationInput, OverdoseInput, PoliceOverdoseInput, SubstanceInput,
    validate_forensic, validate_notification,
};
use crate::identity::subject::IdentityInput;
use crate::store::deaths::{DeathRow, OverdoseRow};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(notify, list_notifications))
        .routes(routes!(get_notification, amend_notification))
        .routes(routes!(create_death, list_deaths))
        .routes(routes!(get_death, update_death))
        .routes(routes!(record_overdose, list_overdoses))
        .routes(routes!(record_police_overdose))
        .routes(routes!(get_overdose))
        .routes(routes!(substance_signals))
}

async fn slugs(state: &AppState) -> Result<Vec<String>, ApiError> {
    Ok(state.store.municipality_slugs().await?)
}

/// A created record's id.
#[derive(Serialize, ToSchema)]
pub struct Created {
    /// The record's id.
    pub id: String,
}

impl From<deaths::DeathError> for ApiError {
    fn from(err: deaths::DeathError) -> Self {
        match err {
            deaths::DeathError::Invalid(fields) => Self::Invalid(fields),
            deaths::DeathError::Store(e) => e.into(),
            deaths::DeathError::Crypto(e) => Self::Internal(e.into()),
            deaths::DeathError::NotPermitted | deaths::DeathError::Denied { hidden: false } => {
                Self::Forbidden
            }
            deaths::DeathError::Denied { hidden: true } => Self::NotFound,
        }
    }
}

fn notification_resource(row: Option<&DeathRow>, user: &CurrentUser, id: &str) -> Resource {
    Resource {
        reporter: Some(
            row.and_then(|r| r.reporter.clone())
                .unwrap_or_else(|| user.principal.user_id.clone()),
        ),
        forensic_complete: row.is_some_and(|r| r.forensic_complete),
        ..Resource::national(ResourceKind::DeathNotification, id)
    }
}

/// Notify a suspected drug-related death (police).
#[utoipa::path(post, path = "/death-notifications", tag = "deaths", request_body = NotificationInput,
    responses((status = 201, body = Created), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn notify(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    ApiJson(input): ApiJson<NotificationInput>,
) -> Result<(StatusCode, ApiJson<Created>), ApiError> {
    let caller = user.caller(&headers, Action::CreateDeathNotification)?;
    let id = deaths::notify(&state.store, &state.keys, &state.gate, &caller, input).await?;
    Ok((StatusCode::CREATED, ApiJson(Created { id })))
}

/// A notification as its police author sees it: circumstances only, never forensic
/// findings, identity or linkage.
#[derive(Serialize, ToSchema)]
pub struct NotificationView {
    /// Death id.
    pub id: String,
    /// Year of death.
    pub year: i64,
    /// Municipality.
    pub municipality: String,
    /// Place type.
    pub place_type: String,
    /// Suspected substances.
    pub suspected_substances: Vec<String>,
    /// Whether forensic medicine has completed the record (then it can no longer be amended).
    pub forensic_complete: bool,
    /// Date and circumstances (police_circumstances field group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circumstances: Option<Circumstances>,
}

/// What the police recorded at the scene.
#[derive(Serialize, ToSchema)]
pub struct Circumstances {
    /// Date of death or finding.
    pub date_of_death: String,
    /// Found alone.
    pub found_alone: Option<bool>,
    /// Paraphernalia.
    pub paraphernalia: Option<bool>,
    /// Witnessed.
    pub witnessed: Option<bool>,
    /// Free text.
    pub circumstances: Option<String>,
}

impl From<deaths::PoliceSealed> for Circumstances {
    fn from(p: deaths::PoliceSealed) -> Self {
        Self {
            date_of_death: p.date_of_death,
            found_alone: p.found_alone,
            paraphernalia: p.paraphernalia,
            witnessed: p.witnessed,
            circumstances: p.circumstances,
        }
    }
}

fn codes(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Read a notification (police: own only; forensic: all).
#[utoipa::path(get, path = "/death-notifications/{death_id}", tag = "deaths",
    params(("death_id" = String, Path, description = "death id")),
    responses((status = 200, body = NotificationView), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_notification(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    RecordId(death_id): RecordId,
) -> Result<ApiJson<NotificationView>, ApiError> {
    let row = state
        .store
        .death(&death_id)
        .await?
        .filter(|r| r.has_notification);
    let resource = notification_resource(row.as_ref(), &user, &death_id);
    let permit = state
        .authorize(&user, Action::ReadDeathNotification, &resource, &headers)
        .await?;
    let row = row.ok_or(ApiError::NotFound)?;
    let circumstances = if permit.may_read(FieldGroup::PoliceCircumstances) {
        let (police, _) = deaths::open_death(&state.keys, &permit, &row)?;
        police.map(Circumstances::from)
    } else {
        None
    };
    Ok(ApiJson(NotificationView {
        id: row.death_id,
        year: row.stats.year,
        municipality: row.stats.municipality,
        place_type: row.stats.place_type,
        suspected_substances: codes(&row.stats.suspected_substances),
        forensic_complete: row.forensic_complete,
        circumstances,
    }))
}

/// One of the caller's notifications, as its list shows it.
#[derive(Serialize, ToSchema)]
pub struct NotificationSummary {
    /// Death id.
    pub id: String,
    /// Year of death.
    pub year: i64,
    /// Municipality of death.
    pub municipality: String,
    /// Place type.
    pub place_type: String,
    /// Completed by forensic medicine (no longer amendable).
    pub forensic_complete: bool,
}

/// The caller's own death notifications, newest first (at most 200).
#[utoipa::path(get, path = "/death-notifications", tag = "deaths",
    responses((status = 200, body = Vec<NotificationSummary>), (status = 403, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn list_notifications(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
) -> Result<ApiJson<Vec<NotificationSummary>>, ApiError> {
    let permit = state
        .authorize(
            &user,
            Action::ListDeathNotifications,
            &notification_resource(None, &user, ""),
            &headers,
        )
        .await?;
    let rows = state
        .store
        .notifications_of(&user.principal.user_id, 200)
        .await?;
    permit
        .record_disclosure(&state.store, rows.iter().map(|r| r.death_id.as_str()))
        .await?;
    Ok(ApiJson(
        rows.into_iter()
            .map(|r| NotificationSummary {
                id: r.death_id,
                year: r.stats.year,
                municipality: r.stats.municipality,
                place_type: r.stats.place_type,
                forensic_complete: r.forensic_complete,
            })
            .collect(),
    ))
}

/// Amend one's own notification until forensic completion (replaces it whole);
/// after it, 409 `completed_by_forensic_medicine`.
#[utoipa::path(put, path = "/death-notifications/{death_id}", tag = "deaths", request_body = NotificationInput,
    params(("death_id" = String, Path, description = "death id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn amend_notification(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    RecordId(death_id): RecordId,
    ApiJson(input): ApiJson<NotificationInput>,
) -> Result<StatusCode, ApiError> {
    let row = state
        .store
        .death(&death_id)
        .await?
        .filter(|r| r.has_notification);
    let resource = notification_resource(row.as_ref(), &user, &death_id);
    let own = row
        .as_ref()
        .is_some_and(|r| r.reporter.as_deref() == Some(user.principal.user_id.as_str()));
    if own && row.as_ref().is_some_and(|r| r.forensic_complete) {
        // Frozen once forensic medicine completed it. Its author knows it exists
        // (they can read it back), so they are told why; anyone else is answered
        // as before.
        state
            .authorize(&user, Action::ReadDeathNotification, &resource, &headers)
            .await?;
        return Err(ApiError::conflict(
            "completed_by_forensic_medicine",
            "this notification was completed by forensic medicine and can no longer be amended",
        ));
    }
    let permit = state
        .authorize(&user, Action::UpdateDeathNotification, &resource, &headers)
        .await?;
    let row = row.ok_or(ApiError::NotFound)?;
    let municipalities = slugs(&state).await?;
    let list: Vec<&str> = municipalities.iter().map(String::as_str).collect();
    let basics = validate_notification(&input, today_utc(), &list).map_err(ApiError::Invalid)?;
    deaths::amend(
        &state.store,
        &state.keys,
        row,
        input,
        basics,
        permit.write_event(Some(&death_id)),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn national(kind: ResourceKind, id: &str) -> Resource {
    Resource::national(kind, id)
}

/// Create a forensic death record, or complete a police notification by naming it
/// in `notification_id` (the death is then counted once).
#[utoipa::path(post, path = "/deaths", tag = "deaths", request_body = ForensicInput,
    responses((status = 201, body = Created), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn create_death(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    ApiJson(input): ApiJson<ForensicInput>,
) -> Result<(StatusCode, ApiJson<Created>), ApiError> {
    let caller = user.caller(&headers, Action::CreateDeathRecord)?;
    let id = deaths::create(&state.store, &state.keys, &state.gate, &caller, input).await?;
    Ok((StatusCode::CREATED, ApiJson(Created { id })))
}

/// Update a forensic death record (replaces the forensic part whole).
#[utoipa::path(put, path = "/deaths/{death_id}", tag = "deaths", request_body = ForensicInput,
    params(("death_id" = String, Path, description = "death id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn update_death(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    RecordId(death_id): RecordId,
    ApiJson(input): ApiJson<ForensicInput>,
) -> Result<StatusCode, ApiError> {
    let permit = state
        .authorize(
            &user,
            Action::UpdateDeathRecord,
            &national(ResourceKind::DeathRecord, &death_id),
            &headers,
        )
        .await?;
    state
        .store
        .death(&death_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let municipalities = slugs(&state).await?;
    let list: Vec<&str> = municipalities.iter().map(String::as_str).collect();
    let valid = validate_forensic(&input, today_utc(), &list).map_err(ApiError::Invalid)?;
    deaths::record(
        &state.store,
        &state.keys,
        input,
        valid,
        Target::Existing(death_id.clone()),
        permit.write_event(Some(&death_id)),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A death record as forensic medicine sees it (never the link to treatment).
#[derive(Serialize, ToSchema)]
pub struct DeathView {
    /// Death id.
    pub id: String,
    /// Has a police notification.
    pub has_notification: bool,
    /// Has a forensic record.
    pub has_forensic: bool,
    /// Final.
    pub forensic_complete: bool,
    /// Year of death.
    pub year: i64,
    /// Quarter of death.
    pub quarter: i64,
    /// Municipality.
    pub municipality: String,
    /// Place type.
    pub place_type: String,
    /// Sex code.
    pub sex: String,
    /// Age band.
    pub age_band: String,
    /// Manner.
    pub manner: Option<String>,
    /// Autopsy done.
    pub autopsy_done: Option<bool>,
    /// Toxicology done.
    pub toxicology_done: Option<bool>,
    /// ICD-10 underlying cause.
    pub underlying_cause: Option<String>,
    /// ICD-10 multiple causes.
    pub multiple_causes: Vec<String>,
    /// EMCDDA Selection B membership.
    pub selection_b: bool,
    /// The rule that decided Selection B.
    pub selection_b_rule: String,
    /// EMCDDA Selection D membership.
    pub selection_d: bool,
    /// The rule that decided Selection D.
    pub selection_d_rule: String,
    /// Identity of the deceased (identity field group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityInput>,
    /// Exact date of death (forensic findings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_death: Option<String>,
    /// Toxicology (forensic findings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub substances: Option<Vec<SubstanceInput>>,
    /// Residence, nationality, route, drug use, recent release, OST at death
    /// (forensic findings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background: Option<crate::domain::death::DeathBackground>,
    /// Police circumstances (police_circumstances field group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub police_circumstances: Option<Circumstances>,
}

/// Read a death record (forensic).
#[utoipa::path(get, path = "/deaths/{death_id}", tag = "deaths",
    params(("death_id" = String, Path, description = "death id")),
    responses((status = 200, body = DeathView), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_death(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    RecordId(death_id): RecordId,
) -> Result<ApiJson<DeathView>, ApiError> {
    let resource = national(ResourceKind::DeathRecord, &death_id);
    let permit = state
        .authorize(&user, Action::ReadDeathRecord, &resource, &headers)
        .await?;
    let row = state
        .store
        .death(&death_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let (identity_ok, findings_ok, police_ok) = (
        permit.may_read(FieldGroup::Identity),
        permit.may_read(FieldGroup::ForensicFindings),
        permit.may_read(FieldGroup::PoliceCircumstances),
    );
    let (police, forensic) = deaths::open_death(&state.keys, &permit, &row)?;
    let identity = forensic
        .as_ref()
        .and_then(|f| f.identity.clone())
        .or_else(|| police.as_ref().and_then(|p| p.identity.clone()));
    let s = row.stats;
    Ok(ApiJson(DeathView {
        id: row.death_id,
        has_notification: row.has_notification,
        has_forensic: row.has_forensic,
        forensic_complete: row.forensic_complete,
        year: s.year,
        quarter: s.quarter,
        municipality: s.municipality,
        place_type: s.place_type,
        sex: s.sex,
        age_band: s.age_band,
        manner: s.manner,
        autopsy_done: s.autopsy_done,
        toxicology_done: s.toxicology_done,
        underlying_cause: s.underlying_cause,
        multiple_causes: codes(&s.multiple_causes),
        selection_b: s.selection_b.0,
        selection_b_rule: s.selection_b.1,
        selection_d: s.selection_d.0,
        selection_d_rule: s.selection_d.1,
        identity: identity.filter(|_| identity_ok),
        date_of_death: forensic
            .as_ref()
            .map(|f| f.date_of_death.clone())
            .filter(|_| findings_ok),
        background: forensic
            .as_ref()
            .map(|f| f.background.clone())
            .filter(|_| findings_ok),
        substances: forensic.map(|f| f.substances).filter(|_| findings_ok),
        police_circumstances: police.map(Circumstances::from).filter(|_| police_ok),
    }))
}

/// One line of the death list.
#[derive(Serialize, ToSchema)]
pub struct DeathSummary {
    /// Death id.
    pub id: String,
    /// Year.
    pub year: i64,
    /// Municipality.
    pub municipality: String,
    /// Has a police notification.
    pub has_notification: bool,
    /// Has a forensic record.
    pub has_forensic: bool,
    /// Final.
    pub forensic_complete: bool,
    /// Selection B.
    pub selection_b: bool,
    /// Selection D.
    pub selection_d: bool,
}

/// Death records and notifications, newest first (forensic; at most 500).
#[utoipa::path(get, path = "/deaths", tag = "deaths",
    responses((status = 200, body = Vec<DeathSummary>), (status = 403, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn list_deaths(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
) -> Result<ApiJson<Vec<DeathSummary>>, ApiError> {
    let permit = state
        .authorize(
            &user,
            Action::ListDeathRecords,
            &national(ResourceKind::DeathRecord, ""),
            &headers,
        )
        .await?;
    let rows = state.store.deaths(500).await?;
    permit
        .record_disclosure(&state.store, rows.iter().map(|r| r.death_id.as_str()))
        .await?;
    Ok(ApiJson(
        rows.into_iter()
            .map(|r| DeathSummary {
                id: r.death_id,
                year: r.stats.year,
                municipality: r.stats.municipality,
                has_notification: r.has_notification,
                has_forensic: r.has_forensic,
                forensic_complete: r.forensic_complete,
                selection_b: r.stats.selection_b.0,
                selection_d: r.stats.selection_d.0,
            })
            .collect(),
    ))
}

fn overdose_resource(
    row: Option<&OverdoseRow>,
    user: &CurrentUser,
    emergency: bool,
    id: &str,
) -> Resource {
    Resource {
        facility: row.map_or_else(|| user.principal.facility.clone(), |r| r.facility.clone()),
        reporter: Some(row.map_or_else(|| user.principal.user_id.clone(), |r| r.reporter.clone())),
        emergency_capable: emergency,
        ..Resource::national(ResourceKind::Overdose, id)
    }
}

/// Record a non-fatal overdose presenting at the caller's emergency department.
#[utoipa::path(post, path = "/overdoses", tag = "overdoses", request_body = OverdoseInput,
    responses((status = 201, body = Created), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn record_overdose(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    ApiJson(input): ApiJson<OverdoseInput>,
) -> Result<(StatusCode, ApiJson<Created>), ApiError> {
    let caller = user.caller(&headers, Action::CreateOverdose)?;
    let report = OverdoseSealed::Clinical(input);
    let id =
        deaths::record_overdose(&state.store, &state.keys, &state.gate, &caller, report).await?;
    Ok((StatusCode::CREATED, ApiJson(Created { id })))
}

/// Record an overdose attended by police (smaller set).
#[utoipa::path(post, path = "/police-overdoses", tag = "overdoses", request_body = PoliceOverdoseInput,
    responses((status = 201, body = Created), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn record_police_overdose(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    ApiJson(input): ApiJson<PoliceOverdoseInput>,
) -> Result<(StatusCode, ApiJson<Created>), ApiError> {
    let caller = user.caller(&headers, Action::CreateOverdose)?;
    let report = OverdoseSealed::Police(input);
    let id =
        deaths::record_overdose(&state.store, &state.keys, &state.gate, &caller, report).await?;
    Ok((StatusCode::CREATED, ApiJson(Created { id })))
}

/// An overdose record.
#[derive(Serialize, ToSchema)]
pub struct OverdoseView {
    /// Overdose id.
    pub id: String,
    /// `clinical` or `police`.
    pub source: String,
    /// Year.
    pub year: i64,
    /// Quarter.
    pub quarter: i64,
    /// Municipality.
    pub municipality: String,
    /// Sex.
    pub sex: String,
    /// Age band.
    pub age_band: String,
    /// Substance codes.
    pub substances: Vec<String>,
    /// Outcome.
    pub outcome: String,
    /// Whether a death record follows this presentation: a linkage result, shown only
    /// to roles that may read the clinical record (never to police).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub followed_by_death: Option<bool>,
    /// The full record (clinical field group), as submitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl OverdoseView {
    fn of(row: OverdoseRow, details: Option<serde_json::Value>, clinical: bool) -> Self {
        Self {
            id: row.overdose_id,
            source: row.source,
            year: row.event_year,
            quarter: row.event_quarter,
            municipality: row.municipality,
            sex: row.sex,
            age_band: row.age_band,
            substances: codes(&row.substance_codes),
            outcome: row.outcome,
            followed_by_death: clinical.then_some(row.death_id.is_some()),
            details,
        }
    }
}

/// Read an overdose record (clinicians: own facility; police: own reports).
#[utoipa::path(get, path = "/overdoses/{overdose_id}", tag = "overdoses",
    params(("overdose_id" = String, Path, description = "overdose id")),
    responses((status = 200, body = OverdoseView), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_overdose(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    RecordId(overdose_id): RecordId,
) -> Result<ApiJson<OverdoseView>, ApiError> {
    let row = state.store.overdose(&overdose_id).await?;
    let emergency = match row.as_ref().and_then(|r| r.facility.clone()) {
        Some(f) => state
            .store
            .facility_info(&f)
            .await?
            .is_some_and(|f| f.emergency_capable),
        None => true,
    };
    let resource = overdose_resource(row.as_ref(), &user, emergency, &overdose_id);
    let permit = state
        .authorize(&user, Action::ReadOverdose, &resource, &headers)
        .await?;
    let row = row.ok_or(ApiError::NotFound)?;
    let clinical = permit.may_read(FieldGroup::Clinical);
    let details = deaths::open_overdose(&state.keys, &permit, &row)?;
    Ok(ApiJson(OverdoseView::of(row, details, clinical)))
}

/// The caller's facility's overdose records, newest first (at most 500).
#[utoipa::path(get, path = "/overdoses", tag = "overdoses",
    responses((status = 200, body = Vec<OverdoseView>), (status = 403, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn list_overdoses(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
) -> Result<ApiJson<Vec<OverdoseView>>, ApiError> {
    let emergency = user.facility.as_ref().is_some_and(|f| f.emergency_capable);
    let permit = state
        .authorize(
            &user,
            Action::ListOverdoses,
            &overdose_resource(None, &user, emergency, ""),
            &headers,
        )
        .await?;
    let facility = user.principal.facility.clone().ok_or(ApiError::Forbidden)?;
    let rows = state.store.facility_overdoses(&facility, 500).await?;
    permit
        .record_disclosure(&state.store, rows.iter().map(|r| r.overdose_id.as_str()))
        .await?;
    Ok(ApiJson(
        rows.into_iter()
            // Only facilities' clinicians list overdoses.
            .map(|r| OverdoseView::of(r, None, true))
            .collect(),
    ))
}

/// A substance reported that is not in the code list.
#[derive(Serialize, ToSchema)]
pub struct SubstanceSignal {
    /// Name as reported (lower case).
    pub name: String,
    /// First reported (UTC).
    pub first_seen: String,
    /// Reports in deaths and overdoses.
    pub reports: i64,
}

/// New substances for the early-warning contact point (strategy item 3.1.7).
#[utoipa::path(get, path = "/substance-signals", tag = "deaths",
    responses((status = 200, body = Vec<SubstanceSignal>), (status = 403, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn substance_signals(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
) -> Result<ApiJson<Vec<SubstanceSignal>>, ApiError> {
    state
        .authorize(
            &user,
            Action::ListNewSubstances,
            &national(ResourceKind::SubstanceSignal, ""),
            &headers,
        )
        .await?;
    Ok(ApiJson(
        state
            .store
            .substance_signals()
            .await?
            .into_iter()
            .map(|(name, first_seen, reports)| SubstanceSignal {
                name,
                first_seen,
                reports,
            })
            .collect(),
    ))
}
