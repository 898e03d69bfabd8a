//! Aggregate outputs for the Strategy Secretariat: freezing past years, the exact
//! national statutory release (EMCDDA workbook, DRD tables), flexible tables with
//! cell-key perturbation, the catalogue and the ledger. Nothing reads live data.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{CurrentUser, Permit};
use super::error::ErrorBody;
use super::json::UnreadJson;
use super::{ApiError, ApiJson, AppState, FieldError};
use crate::authz::{Action, Resource, ResourceKind};
use crate::export::flexible::{FlexRequest, Profile};
use crate::export::ptable::PTable;
use crate::export::snapshot::SnapshotInfo;
use crate::export::tables::{CUSTOM_DIMS, Dim, TableDef, catalogue};
use crate::export::{ExportError, Format, Geography, Output, Requester};
use crate::store::exports::LedgerEntry;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tables))
        .routes(routes!(run_export))
        .routes(routes!(run_custom))
        .routes(routes!(run_statutory))
        .routes(routes!(freeze, list_snapshots))
        .routes(routes!(list_releases))
}

impl From<ExportError> for ApiError {
    fn from(err: ExportError) -> Self {
        match err {
            ExportError::Invalid(fields) => Self::Invalid(fields),
            ExportError::Conflict(code, why) => Self::conflict(code, why),
            ExportError::Store(e) => e.into(),
            ExportError::Internal(why) => Self::Internal(anyhow::anyhow!(why)),
        }
    }
}

fn resource() -> Resource {
    Resource::national(ResourceKind::Export, "")
}

/// The catalogue.
#[derive(Serialize, ToSchema)]
pub struct Catalogue {
    /// Built-in flexible tables (`tdi` requests every TDI table).
    pub tables: Vec<TableDef>,
    /// Dimensions a custom cross-tabulation may use (two or three).
    pub custom_dimensions: Vec<Dim>,
    /// The cell-key profiles in force with their perturbation tables (public).
    pub profiles: Vec<(Profile, PTable)>,
    /// Statutory tables: every EMCDDA workbook table by number, and the DRD tables.
    pub statutory_tables: Vec<String>,
}

/// The available tables and the perturbation tables in force.
#[utoipa::path(get, path = "/exports/tables", tag = "exports",
    responses((status = 200, body = Catalogue), (status = 403, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn list_tables(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
) -> Result<ApiJson<Catalogue>, ApiError> {
    state
        .authorize(&user, Action::ListExportTables, &resource(), &headers)
        .await?;
    let rules = &state.settings.output_rules;
    let profiles = [Profile::Ckm, Profile::CkmDeaths]
        .into_iter()
        .map(|p| PTable::new(p.params(rules)).map(|t| (p, t)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    let mut statutory: Vec<String> = crate::export::statutory::workbook_specs()
        .iter()
        .map(|s| s.section.to_owned())
        .collect();
    statutory.extend(
        [
            "drd-total",
            "drd-sex",
            "drd-age",
            "drd-substance",
            "drd-manner",
            "drd-known-to-treatment",
            "drd-after-treatment",
        ]
        .map(str::to_owned),
    );
    Ok(ApiJson(Catalogue {
        tables: catalogue(),
        custom_dimensions: CUSTOM_DIMS.to_vec(),
        profiles,
        statutory_tables: statutory,
    }))
}

fn check_purpose(purpose: &str, errors: &mut Vec<FieldError>) {
    if !(3..=200).contains(&purpose.trim().chars().count()) {
        errors.push(FieldError::new(
            "purpose",
            "state the purpose in 3-200 characters",
        ));
    }
}

fn check_years(year_from: i64, year_to: Option<i64>, errors: &mut Vec<FieldError>) -> (i64, i64) {
    let to = year_to.unwrap_or(year_from);
    if !(1990..=2200).contains(&year_from) {
        errors.push(FieldError::new("year", "must be a year from 1990"));
    }
    if !to
        .checked_sub(year_from)
        .is_some_and(|span| (0..=9).contains(&span))
    {
        errors.push(FieldError::new(
            "year_to",
            "must be at or after year, at most 9 years later (one table per year)",
        ));
    }
    (year_from, to)
}

fn requester(user: &CurrentUser, purpose: &str, rules: &str) -> Requester {
    Requester {
        user_id: user.principal.user_id.clone(),
        role: user.principal.role.as_str().to_owned(),
        purpose: purpose.trim().to_owned(),
        rules: rules.to_owned(),
    }
}

fn respond(output: Output) -> Response {
    let mut response = output.bytes.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(output.format.content_type()),
    );
    if let Ok(id) = HeaderValue::from_str(&output.release.release_id) {
        response.headers_mut().insert("x-release-id", id);
    }
    response
}

/// A flexible release of built-in tables.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// Table ids, or `tdi` for every TDI table.
    pub tables: Vec<String>,
    /// Data year (frozen).
    pub year: i64,
    /// Last year of a range (one table per year); default `year`.
    #[serde(default)]
    pub year_to: Option<i64>,
    /// `national` (default), `district` or `municipality`.
    #[serde(default)]
    pub geography: Option<Geography>,
    /// `ckm` (default) or `ckm-deaths`; death and overdose tables always use at least `ckm-deaths`.
    #[serde(default)]
    pub profile: Option<Profile>,
    /// Break every table down by sex as well.
    #[serde(default)]
    pub by_sex: bool,
    /// Why the tables are needed (recorded in the ledger and the audit log).
    pub purpose: String,
    /// `json` (default) or `csv`.
    #[serde(default)]
    pub format: Option<Format>,
}

/// A custom cross-tabulation.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomRequest {
    /// Two or three dimensions; the last becomes the columns.
    pub dimensions: Vec<Dim>,
    /// Data year (frozen).
    pub year: i64,
    /// Last year of a range (one table per year); default `year`.
    #[serde(default)]
    pub year_to: Option<i64>,
    /// `national` (default), `district` or `municipality`.
    #[serde(default)]
    pub geography: Option<Geography>,
    /// `ckm` (default) or `ckm-deaths`.
    #[serde(default)]
    pub profile: Option<Profile>,
    /// Why the table is needed (recorded in the ledger and the audit log).
    pub purpose: String,
    /// `json` (default) or `csv`.
    #[serde(default)]
    pub format: Option<Format>,
}

/// What both flexible routes share once their tables are resolved.
struct Flexible<'a> {
    year: i64,
    year_to: Option<i64>,
    geography: Option<Geography>,
    profile: Option<Profile>,
    by_sex: bool,
    purpose: &'a str,
    format: Option<Format>,
    /// The request as received (recorded in the ledger).
    spec: String,
}

/// Checks the shared fields (every problem at once, with the tables'), then
/// releases and answers (the caller was authorised before the body was read).
async fn flexible(
    state: &AppState,
    user: &CurrentUser,
    permit: &Permit,
    tables: Result<Vec<(TableDef, Vec<Dim>)>, Vec<FieldError>>,
    common: Flexible<'_>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    check_purpose(common.purpose, &mut errors);
    let years = check_years(common.year, common.year_to, &mut errors);
    let tables = tables.map_err(|e| errors.extend(e)).ok();
    let Some(tables) = tables.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let request = FlexRequest {
        tables,
        years,
        geography: common.geography.unwrap_or(Geography::National),
        profile: common.profile,
        by_sex: common.by_sex,
    };
    let output = crate::export::flexible::release(
        &state.store,
        &state.snapshots,
        &request,
        common.spec,
        common.format.unwrap_or(Format::Json),
        &requester(user, common.purpose, permit.rules()),
        &state.settings.output_rules,
    )
    .await?;
    Ok(respond(output))
}

/// Built-in tables at any geography, from frozen snapshots, cell-key perturbed.
#[utoipa::path(post, path = "/exports", tag = "exports", request_body = ExportRequest,
    responses((status = 200, body = crate::export::flexible::FlexContent), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn run_export(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    body: UnreadJson,
) -> Result<Response, ApiError> {
    let permit = state
        .authorize(&user, Action::RunExport, &resource(), &headers)
        .await?;
    let body: ExportRequest = body.parse()?;
    let tables = crate::export::flexible::resolve(&body.tables);
    let common = Flexible {
        year: body.year,
        year_to: body.year_to,
        geography: body.geography,
        profile: body.profile,
        by_sex: body.by_sex,
        purpose: &body.purpose,
        format: body.format,
        spec: serde_json::to_string(&body).unwrap_or_default(),
    };
    flexible(&state, &user, &permit, tables, common).await
}

/// A custom cross-tabulation of two or three allowed dimensions, cell-key perturbed.
#[utoipa::path(post, path = "/exports/custom", tag = "exports", request_body = CustomRequest,
    responses((status = 200, body = crate::export::flexible::FlexContent), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn run_custom(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    body: UnreadJson,
) -> Result<Response, ApiError> {
    let permit = state
        .authorize(&user, Action::RunExport, &resource(), &headers)
        .await?;
    let body: CustomRequest = body.parse()?;
    let tables = crate::export::flexible::custom(&body.dimensions).map(|t| vec![t]);
    let common = Flexible {
        year: body.year,
        year_to: body.year_to,
        geography: body.geography,
        profile: body.profile,
        by_sex: false,
        purpose: &body.purpose,
        format: body.format,
        spec: serde_json::to_string(&body).unwrap_or_default(),
    };
    flexible(&state, &user, &permit, tables, common).await
}

/// A statutory release.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatutoryRequest {
    /// Data year (frozen).
    pub year: i64,
    /// Snapshot version (default: the latest).
    #[serde(default)]
    pub version: Option<i64>,
    /// `xlsx` (the EMCDDA workbook, default), `csv` or `json`.
    #[serde(default)]
    pub format: Option<Format>,
    /// Why the tables are needed (recorded in the ledger and the audit log).
    pub purpose: String,
}

/// The exact national statutory set of a frozen year: the EMCDDA TDI workbook filled
/// in (xlsx), or the same tables labelled as CSV or JSON, with the DRD breakdowns.
#[utoipa::path(post, path = "/exports/statutory", tag = "exports", request_body = StatutoryRequest,
    responses((status = 200, body = crate::export::StatutoryContent), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn run_statutory(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    body: UnreadJson,
) -> Result<Response, ApiError> {
    let permit = state
        .authorize(&user, Action::RunStatutoryExport, &resource(), &headers)
        .await?;
    let body: StatutoryRequest = body.parse()?;
    let mut errors = Vec::new();
    check_purpose(&body.purpose, &mut errors);
    check_years(body.year, None, &mut errors);
    if body.version.is_some_and(|v| !(1..=10).contains(&v)) {
        errors.push(FieldError::new("version", "must be a version from 1 to 10"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let output = crate::export::statutory_release(
        &state.store,
        &state.snapshots,
        body.year,
        body.version,
        body.format.unwrap_or(Format::Xlsx),
        &requester(&user, &body.purpose, permit.rules()),
        &state.settings.output_rules,
    )
    .await?;
    Ok(respond(output))
}

/// What an analyst is told about a snapshot version. The exact number of persons
/// in treatment and of overdoses, and how many rows changed, are not published
/// exactly anywhere else, so they stay on the operator's `registry freeze --status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotSummary {
    /// Snapshot id.
    pub snapshot_id: String,
    /// Data year.
    pub year: i64,
    /// Version of the year.
    pub version: i64,
    /// When it was frozen (UTC).
    pub created_at: String,
    /// Who froze it.
    pub created_by: String,
    /// TDI entrants (published exactly in the statutory set).
    pub entrants: i64,
    /// Deaths (published exactly in the statutory set).
    pub deaths: i64,
    /// `first_version`, `none` (no row differs from the previous version) or `some`.
    pub changes: &'static str,
}

impl From<SnapshotInfo> for SnapshotSummary {
    fn from(info: SnapshotInfo) -> Self {
        use crate::export::snapshot::Population;
        let rows = |p| info.rows.get(&p).copied().unwrap_or(0);
        Self {
            entrants: rows(Population::Entrants),
            deaths: rows(Population::Deaths),
            changes: match info.changed_rows {
                None => "first_version",
                Some(0) => "none",
                Some(_) => "some",
            },
            snapshot_id: info.snapshot_id,
            year: info.year,
            version: info.version,
            created_at: info.created_at,
            created_by: info.created_by,
        }
    }
}

/// A freeze.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeRequest {
    /// The past year to freeze.
    pub year: i64,
    /// Why (recorded in the audit log).
    pub purpose: String,
}

/// Freezes a past year into a new snapshot version (at most the configured number
/// of versions per year).
#[utoipa::path(post, path = "/exports/freeze", tag = "exports", request_body = FreezeRequest,
    responses((status = 201, body = SnapshotSummary), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn freeze(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    body: UnreadJson,
) -> Result<(axum::http::StatusCode, ApiJson<SnapshotSummary>), ApiError> {
    let permit = state
        .authorize(&user, Action::FreezeYear, &resource(), &headers)
        .await?;
    let body: FreezeRequest = body.parse()?;
    let mut errors = Vec::new();
    check_purpose(&body.purpose, &mut errors);
    check_years(body.year, None, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let info = crate::cases::outputs::freeze(
        &state.store,
        &state.keys,
        &state.snapshots,
        body.year,
        &requester(&user, &body.purpose, permit.rules()),
        &state.settings.output_rules,
    )
    .await?;
    Ok((axum::http::StatusCode::CREATED, ApiJson(info.into())))
}

/// Every frozen year and version: when, by whom, entrants and deaths, and whether
/// anything changed from the previous version.
#[utoipa::path(get, path = "/exports/freeze", tag = "exports",
    responses((status = 200, body = Vec<SnapshotSummary>), (status = 403, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn list_snapshots(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
) -> Result<ApiJson<Vec<SnapshotSummary>>, ApiError> {
    state
        .authorize(&user, Action::ListExportTables, &resource(), &headers)
        .await?;
    Ok(ApiJson(
        state
            .store
            .snapshots()
            .await?
            .into_iter()
            .map(SnapshotSummary::from)
            .collect(),
    ))
}

/// The release ledger (newest first, at most 200): who, why, what, from which
/// snapshot, when, and the hash of the output.
#[utoipa::path(get, path = "/exports/releases", tag = "exports",
    responses((status = 200, body = Vec<LedgerEntry>), (status = 403, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn list_releases(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
) -> Result<ApiJson<Vec<LedgerEntry>>, ApiError> {
    state
        .authorize(&user, Action::ListExportTables, &resource(), &headers)
        .await?;
    Ok(ApiJson(state.store.ledger(200).await?))
}
