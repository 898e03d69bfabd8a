//! Social-work contacts for a Centre for Social Work's own municipality. No clinical
//! field is ever returned here.

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
use crate::authz::{Action, Resource, ResourceKind};
use crate::domain::social::ContactInput;
use crate::store::episodes::ContactRow;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(record_contact, list_contacts))
        .routes(routes!(get_contact))
}

fn resource(municipality: Option<String>, id: &str) -> Resource {
    Resource {
        municipality,
        ..Resource::national(ResourceKind::SocialContact, id)
    }
}

/// The recorded contact.
#[derive(Serialize, ToSchema)]
pub struct ContactCreated {
    /// Contact id.
    pub contact_id: String,
    /// The person's registry id.
    pub registry_id: String,
}

/// Record a social-service contact or referral for a resident of the caller's
/// municipality.
#[utoipa::path(post, path = "/social-contacts", tag = "social", request_body = ContactInput,
    responses((status = 201, body = ContactCreated), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn record_contact(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    ApiJson(input): ApiJson<ContactInput>,
) -> Result<(StatusCode, ApiJson<ContactCreated>), ApiError> {
    let caller = user.caller(&headers, Action::CreateSocialContact)?;
    let (contact_id, registry_id) =
        crate::cases::social::record(&state.store, &state.keys, &state.gate, &caller, &input)
            .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(ContactCreated {
            contact_id,
            registry_id,
        }),
    ))
}

/// A contact as a social worker sees it.
#[derive(Serialize, ToSchema)]
pub struct ContactView {
    /// Contact id.
    pub contact_id: String,
    /// The person's registry id.
    pub registry_id: String,
    /// Municipality of the centre.
    pub municipality: String,
    /// Year of the contact.
    pub contact_year: i64,
    /// Quarter of the contact.
    pub contact_quarter: i64,
    /// Service type.
    pub service_type: String,
    /// Referred to treatment.
    pub referral_to_treatment: bool,
    /// Housing support.
    pub housing_support: bool,
    /// Employment support.
    pub employment_support: bool,
    /// Exact date (social field group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_date: Option<String>,
    /// Notes (social field group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

fn summary(row: ContactRow) -> ContactView {
    ContactView {
        contact_id: row.contact_id,
        registry_id: row.registry_id,
        municipality: row.municipality,
        contact_year: row.contact_year,
        contact_quarter: row.contact_quarter,
        service_type: row.service_type,
        referral_to_treatment: row.referral_to_treatment,
        housing_support: row.housing_support,
        employment_support: row.employment_support,
        contact_date: None,
        notes: None,
    }
}

/// The caller's centre's contacts, newest first (at most 200).
#[utoipa::path(get, path = "/social-contacts", tag = "social",
    responses((status = 200, body = Vec<ContactView>), (status = 403, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn list_contacts(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
) -> Result<ApiJson<Vec<ContactView>>, ApiError> {
    let permit = state
        .authorize(
            &user,
            Action::ListSocialContacts,
            &resource(user.principal.municipality.clone(), ""),
            &headers,
        )
        .await?;
    let municipality = user
        .principal
        .municipality
        .clone()
        .ok_or(ApiError::Forbidden)?;
    let rows = crate::cases::social::list(&state.store, &state.keys, &municipality, 200).await?;
    permit
        .record_disclosure(&state.store, rows.iter().map(|r| r.contact_id.as_str()))
        .await?;
    Ok(ApiJson(rows.into_iter().map(summary).collect()))
}

/// One contact of the caller's centre; another centre's answers 404.
#[utoipa::path(get, path = "/social-contacts/{contact_id}", tag = "social",
    params(("contact_id" = String, Path, description = "contact id")),
    responses((status = 200, body = ContactView), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn get_contact(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    RecordId(contact_id): RecordId,
) -> Result<ApiJson<ContactView>, ApiError> {
    let row = crate::cases::social::find(&state.store, &state.keys, &contact_id).await?;
    let target = resource(
        row.as_ref()
            .map(|r| r.municipality.clone())
            .or_else(|| user.principal.municipality.clone()),
        &contact_id,
    );
    let permit = state
        .authorize(&user, Action::ReadSocialContact, &target, &headers)
        .await?;
    let row = row.ok_or(ApiError::NotFound)?;
    let sealed = crate::cases::social::open(&state.keys, &permit, &row)?;
    let mut view = summary(row);
    if let Some(sealed) = sealed {
        view.contact_date = Some(sealed.contact_date);
        view.notes = sealed.notes;
    }
    Ok(ApiJson(view))
}
