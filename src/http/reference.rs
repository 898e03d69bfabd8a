//! Read-only reference data: geography, TDI code lists, ICD-10 codes, facilities.
//! None of it is personal data.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::CurrentUser;
use super::{ApiError, ApiJson, AppState, FieldError};
use crate::authz::{Action, Resource, ResourceKind};
use crate::store::reference::{Code, District, Facility, Icd10Code, Municipality};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_districts))
        .routes(routes!(list_municipalities))
        .routes(routes!(list_code_lists))
        .routes(routes!(get_code_list))
        .routes(routes!(check_codes))
        .routes(routes!(list_substances))
        .routes(routes!(list_icd10))
        .routes(routes!(list_facilities))
}

/// Reference data carries no personal data, but access is still deny-by-default:
/// every role may read it once logged in.
async fn may_read(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    state
        .authorize(
            user,
            Action::ReadReference,
            &Resource::national(ResourceKind::Reference, ""),
            headers,
        )
        .await
        .map(|_| ())
}

/// A list of items and their count.
#[derive(Debug, Serialize, ToSchema)]
pub struct Items<T> {
    /// How many items follow.
    pub count: usize,
    /// The items.
    pub items: Vec<T>,
}

impl<T> From<Vec<T>> for Items<T> {
    fn from(items: Vec<T>) -> Self {
        Self {
            count: items.len(),
            items,
        }
    }
}

/// Kosovo's seven districts.
#[utoipa::path(get, path = "/reference/districts", tag = "reference",
    responses((status = 200, body = Items<District>)))]
#[tracing::instrument(skip_all)]
async fn list_districts(
    State(s): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
) -> Result<ApiJson<Items<District>>, ApiError> {
    may_read(&s, &user, &headers).await?;
    Ok(ApiJson(s.store.districts().await?.into()))
}

/// The 38 municipalities with their district.
#[utoipa::path(get, path = "/reference/municipalities", tag = "reference",
    responses((status = 200, body = Items<Municipality>)))]
#[tracing::instrument(skip_all)]
async fn list_municipalities(
    State(s): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
) -> Result<ApiJson<Items<Municipality>>, ApiError> {
    may_read(&s, &user, &headers).await?;
    Ok(ApiJson(s.store.municipalities().await?.into()))
}

/// Names of the TDI 3.0 code lists.
#[utoipa::path(get, path = "/reference/code-lists", tag = "reference",
    responses((status = 200, body = Items<String>)))]
#[tracing::instrument(skip_all)]
async fn list_code_lists(
    State(s): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
) -> Result<ApiJson<Items<String>>, ApiError> {
    may_read(&s, &user, &headers).await?;
    Ok(ApiJson(s.store.code_list_names().await?.into()))
}

/// The codes of one TDI 3.0 code list, in protocol order.
#[utoipa::path(get, path = "/reference/code-lists/{list}", tag = "reference",
    params(("list" = String, Path, description = "code list name, e.g. `route`")),
    responses((status = 200, body = Items<Code>), (status = 404, body = super::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn get_code_list(
    State(s): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    Path(list): Path<String>,
) -> Result<ApiJson<Items<Code>>, ApiError> {
    may_read(&s, &user, &headers).await?;
    let codes = s.store.code_list(list_name(&list)?).await?;
    if codes.is_empty() {
        return Err(ApiError::NotFound);
    }
    Ok(ApiJson(codes.into()))
}

/// Codes to check against a code list.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeCheck {
    /// Between 1 and 100 codes, e.g. `["1.1", "7.1"]`.
    pub codes: Vec<String>,
}

/// Which of the submitted codes the list holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeCheckResult {
    /// Codes found in the list.
    pub known: Vec<String>,
    /// Codes not in the list.
    pub unknown: Vec<String>,
}

/// The most codes one check accepts.
const MAX_CHECKED_CODES: usize = 100;

/// Checks codes against a TDI code list, so a client can validate a form before
/// submitting it.
#[utoipa::path(post, path = "/reference/code-lists/{list}/check", tag = "reference",
    params(("list" = String, Path, description = "code list name, e.g. `substance`")),
    request_body = CodeCheck,
    responses((status = 200, body = CodeCheckResult), (status = 404, body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn check_codes(
    State(s): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    Path(list): Path<String>,
    ApiJson(check): ApiJson<CodeCheck>,
) -> Result<ApiJson<CodeCheckResult>, ApiError> {
    may_read(&s, &user, &headers).await?;
    if check.codes.is_empty() || check.codes.len() > MAX_CHECKED_CODES {
        return Err(ApiError::Invalid(vec![FieldError {
            field: "codes".into(),
            problem: format!("must hold between 1 and {MAX_CHECKED_CODES} codes"),
        }]));
    }
    let codes = s.store.code_list(list_name(&list)?).await?;
    if codes.is_empty() {
        return Err(ApiError::NotFound);
    }
    let (known, unknown) = check
        .codes
        .into_iter()
        .partition(|c| codes.iter().any(|known| &known.code == c));
    Ok(ApiJson(CodeCheckResult { known, unknown }))
}

/// The TDI substance codes (primary and secondary drugs).
#[utoipa::path(get, path = "/reference/substances", tag = "reference",
    responses((status = 200, body = Items<Code>)))]
#[tracing::instrument(skip_all)]
async fn list_substances(
    State(s): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
) -> Result<ApiJson<Items<Code>>, ApiError> {
    may_read(&s, &user, &headers).await?;
    Ok(ApiJson(s.store.code_list("substance").await?.into()))
}

/// A search of the ICD-10 list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Icd10Query {
    /// The start of a code (`X4`, `F11.`) or words of its title (`heroin`); at
    /// most 50 matches. Absent: every code.
    pub q: Option<String>,
}

/// Matches a search returns at most.
const ICD10_MATCHES: i64 = 50;

/// Every WHO ICD-10 (2019) code a death record accepts (families name the
/// drug-related-death groups; `other` for every other cause), or a search of them.
#[utoipa::path(get, path = "/reference/icd10", tag = "reference", params(Icd10Query),
    responses((status = 200, body = Items<Icd10Code>), (status = 422, body = super::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn list_icd10(
    State(s): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    RawQuery(query): RawQuery,
) -> Result<ApiJson<Items<Icd10Code>>, ApiError> {
    may_read(&s, &user, &headers).await?;
    let query: Icd10Query = super::json::parse_query(query.as_deref())?;
    let codes = match query.q.as_deref().map(str::trim) {
        None => s.store.icd10_codes().await?,
        Some(q) if (1..=60).contains(&q.chars().count()) => {
            s.store.search_icd10(q, ICD10_MATCHES).await?
        }
        Some(_) => {
            return Err(ApiError::Invalid(vec![FieldError::new(
                "q",
                "must be 1 to 60 characters",
            )]));
        }
    };
    Ok(ApiJson(codes.into()))
}

/// Treatment facilities with their TDI centre type.
#[utoipa::path(get, path = "/reference/facilities", tag = "reference",
    responses((status = 200, body = Items<Facility>)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn list_facilities(
    State(s): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
) -> Result<ApiJson<Items<Facility>>, ApiError> {
    may_read(&s, &user, &headers).await?;
    Ok(ApiJson(s.store.facilities().await?.into()))
}

/// A code-list name from the path: lower-case letters, digits and underscores; any
/// other text is a list that does not exist.
fn list_name(list: &str) -> Result<&str, ApiError> {
    let plain = (1..=40).contains(&list.len())
        && list
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain {
        Ok(list)
    } else {
        Err(ApiError::NotFound)
    }
}
