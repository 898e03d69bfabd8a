//! Aggregate exports for the Strategy Secretariat: the table catalogue, standard
//! tables, custom cross-tabulations (always protected the same way) and the ledger.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::CurrentUser;
use super::error::ErrorBody;
use super::{ApiError, ApiJson, AppState, FieldError};
use crate::authz::{Action, Resource, ResourceKind};
use crate::export::protect::Profile;
use crate::export::tables::{CUSTOM_DIMS, Dim, TableDef, catalogue};
use crate::export::{ExportError, Geography, Release, Request, Requester};
use crate::store::exports::LedgerEntry;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tables))
        .routes(routes!(run_export))
        .routes(routes!(run_custom))
        .routes(routes!(list_releases))
}

impl From<ExportError> for ApiError {
    fn from(err: ExportError) -> Self {
        match err {
            ExportError::Invalid(fields) => Self::Invalid(fields),
            ExportError::Refused(why) => Self::Conflict(format!("the export was refused: {why}")),
            ExportError::Store(e) => e.into(),
        }
    }
}

fn resource() -> Resource {
    Resource::national(ResourceKind::Export, "")
}

/// The catalogue.
#[derive(Serialize, ToSchema)]
pub struct Catalogue {
    /// Built-in tables (`tdi` requests the whole TDI set, `tdi-11` the mean-age table).
    pub tables: Vec<TableDef>,
    /// Dimensions a custom cross-tabulation may use (at most three).
    pub custom_dimensions: Vec<Dim>,
    /// Protection profiles.
    pub profiles: Vec<Profile>,
}

/// The available table definitions.
#[utoipa::path(get, path = "/exports/tables", tag = "exports",
    responses((status = 200, body = Catalogue), (status = 403, body = ErrorBody)))]
async fn list_tables(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
) -> Result<ApiJson<Catalogue>, ApiError> {
    state
        .authorize(&user, Action::ListExportTables, &resource(), &headers)
        .await?;
    Ok(ApiJson(Catalogue {
        tables: catalogue(),
        custom_dimensions: CUSTOM_DIMS.to_vec(),
        profiles: vec![Profile::K5, Profile::K10, Profile::K11, Profile::Round5],
    }))
}

/// Common parameters of an export.
#[derive(Debug, Clone, Serialize)]
pub struct ExportParams {
    year_from: i64,
    year_to: i64,
    geography: Option<Geography>,
    profile: Option<String>,
    purpose: String,
    format: Option<String>,
}

macro_rules! params_of {
    ($body:expr) => {
        ExportParams {
            year_from: $body.year_from,
            year_to: $body.year_to,
            geography: $body.geography,
            profile: $body.profile.clone(),
            purpose: $body.purpose.clone(),
            format: $body.format.clone(),
        }
    };
}

/// A standard-table export.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// Table ids, or `tdi` for the whole TDI set.
    pub tables: Vec<String>,
    /// First year.
    pub year_from: i64,
    /// Last year.
    pub year_to: i64,
    /// `national` (default), `district` or `municipality`.
    #[serde(default)]
    pub geography: Option<Geography>,
    /// `k5` (default), `k10`, `k11` or `round5`.
    #[serde(default)]
    pub profile: Option<String>,
    /// Why the tables are needed (recorded in the ledger and the audit log).
    pub purpose: String,
    /// `json` (default) or `csv`.
    #[serde(default)]
    pub format: Option<String>,
}

/// A custom cross-tabulation.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomRequest {
    /// One to three dimensions; the last becomes the columns.
    pub dimensions: Vec<Dim>,
    /// First year.
    pub year_from: i64,
    /// Last year.
    pub year_to: i64,
    /// `national` (default), `district` or `municipality`.
    #[serde(default)]
    pub geography: Option<Geography>,
    /// `k5` (default), `k10`, `k11` or `round5`.
    #[serde(default)]
    pub profile: Option<String>,
    /// Why the tables are needed (recorded in the ledger and the audit log).
    pub purpose: String,
    /// `json` (default) or `csv`.
    #[serde(default)]
    pub format: Option<String>,
}

fn check(params: &ExportParams, errors: &mut Vec<FieldError>) -> (Profile, bool) {
    if !(1990..=2200).contains(&params.year_from) {
        errors.push(FieldError::new("year_from", "must be a year from 1990"));
    }
    if params.year_to < params.year_from || params.year_to - params.year_from > 20 {
        errors.push(FieldError::new(
            "year_to",
            "must be at or after year_from, at most 20 years later",
        ));
    }
    let profile = match Profile::parse(params.profile.as_deref().unwrap_or("k5")) {
        Some(p) => p,
        None => {
            errors.push(FieldError::new("profile", "must be k5, k10, k11 or round5"));
            Profile::K5
        }
    };
    if !(3..=200).contains(&params.purpose.trim().chars().count()) {
        errors.push(FieldError::new(
            "purpose",
            "state the purpose in 3-200 characters",
        ));
    }
    let csv = match params.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            errors.push(FieldError::new("format", "must be json or csv"));
            false
        }
    };
    (profile, csv)
}

fn respond(release: Release, csv: bool) -> Response {
    if csv {
        let mut response = crate::export::to_csv(&release.content).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        if let Ok(id) = HeaderValue::from_str(&release.release.release_id) {
            response.headers_mut().insert("x-release-id", id);
        }
        response
    } else {
        ApiJson(release).into_response()
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "the two export routes share everything after parsing"
)]
async fn export(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    request: Request,
    custom_rows: &[Dim],
    params: &ExportParams,
    spec: String,
    csv: bool,
) -> Result<Response, ApiError> {
    let permit = state
        .authorize(user, Action::RunExport, &resource(), headers)
        .await?;
    let release = crate::export::release(
        &state.store,
        &state.keys.current(),
        &request,
        custom_rows,
        &spec,
        &Requester {
            user_id: user.principal.user_id.clone(),
            role: user.principal.role.as_str().to_owned(),
            purpose: params.purpose.trim().to_owned(),
            rules: permit.rules().to_owned(),
        },
    )
    .await?;
    Ok(respond(release, csv))
}

/// Export standard tables, protected, with the audit certificate.
#[utoipa::path(post, path = "/exports", tag = "exports", request_body = ExportRequest,
    responses((status = 200, body = Release), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn run_export(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    ApiJson(body): ApiJson<ExportRequest>,
) -> Result<Response, ApiError> {
    let params = params_of!(body);
    let mut errors = Vec::new();
    let (profile, csv) = check(&params, &mut errors);
    let resolved = crate::export::resolve(&body.tables)
        .map_err(|e| errors.extend(e))
        .ok();
    let (tables, table_11) = match resolved {
        Some(r) if errors.is_empty() => r,
        _ => return Err(ApiError::Invalid(errors)),
    };
    let request = Request {
        tables,
        table_11,
        years: (params.year_from, params.year_to),
        geography: params.geography.unwrap_or(Geography::National),
        profile,
    };
    let spec = serde_json::to_string(&body).unwrap_or_default();
    export(&state, &user, &headers, request, &[], &params, spec, csv).await
}

/// A custom cross-tabulation over up to three allowed dimensions, protected the same way.
#[utoipa::path(post, path = "/exports/custom", tag = "exports", request_body = CustomRequest,
    responses((status = 200, body = Release), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn run_custom(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    ApiJson(body): ApiJson<CustomRequest>,
) -> Result<Response, ApiError> {
    let params = params_of!(body);
    let mut errors = Vec::new();
    let (profile, csv) = check(&params, &mut errors);
    let table = crate::export::custom(&body.dimensions)
        .map_err(|e| errors.extend(e))
        .ok();
    let (table, row_dims) = match table {
        Some(t) if errors.is_empty() => t,
        _ => return Err(ApiError::Invalid(errors)),
    };
    let request = Request {
        tables: vec![table],
        table_11: false,
        years: (params.year_from, params.year_to),
        geography: params.geography.unwrap_or(Geography::National),
        profile,
    };
    let spec = serde_json::to_string(&body).unwrap_or_default();
    export(
        &state, &user, &headers, request, &row_dims, &params, spec, csv,
    )
    .await
}

/// The release ledger (newest first, at most 200): who, why, what, when, and the hash.
#[utoipa::path(get, path = "/exports/releases", tag = "exports",
    responses((status = 200, body = Vec<LedgerEntry>), (status = 403, body = ErrorBody)))]
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
