//! A social worker's page: the contacts of the own centre's municipality, and a
//! new contact or referral. Each calls the API handler of the same request.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::fields::{Ask, Field, IDENTITY};
use super::forms::{FormData, Problems};
use super::session::SignedIn;
use super::{Chrome, api_error_page, csrf_refused, refuse_unless, render};
use crate::authz::Action;
use crate::domain::social::{ContactInput, SERVICE_TYPES};
use crate::http::social as api;
use crate::http::{ApiError, ApiJson, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/contacts", get(contacts).post(record))
}

const CONTACT: &[(&str, Ask)] = &[
    ("contact_date", Ask::Date),
    ("service_type", Ask::Pick("service", SERVICE_TYPES)),
    ("notes", Ask::Text),
];

/// The support given, asked as checkboxes.
const CHECKS: &[&str] = &[
    "referral_to_treatment",
    "housing_support",
    "employment_support",
];

/// One contact in the list.
pub struct Line {
    /// Year and quarter.
    pub when: String,
    /// Service, translated.
    pub service: String,
    /// The support given, translated.
    pub support: String,
    /// The person's registry number.
    pub registry_id: String,
}

/// The contacts page.
#[derive(Template)]
#[template(path = "contacts.html")]
struct ContactsPage {
    chrome: Chrome,
    problems: Problems,
    fields: Vec<Field>,
    checks: Vec<(String, String, bool)>,
    lines: Vec<Line>,
}

async fn page(
    state: &AppState,
    signed: &SignedIn,
    form: &FormData,
    problems: Problems,
) -> Response {
    let tr = signed.visitor.tr;
    let rows = match api::list_contacts(State(state.clone()), HeaderMap::new(), signed.user.clone())
        .await
    {
        Ok(ApiJson(rows)) => rows,
        Err(e) => return api_error_page(&signed.visitor, e),
    };
    let lines = rows
        .into_iter()
        .map(|r| {
            let support: Vec<String> = [
                (r.referral_to_treatment, "referral_to_treatment"),
                (r.housing_support, "housing_support"),
                (r.employment_support, "employment_support"),
            ]
            .into_iter()
            .filter(|(given, _)| *given)
            .map(|(_, name)| super::forms::label(&tr, name))
            .collect();
            Line {
                when: format!(
                    "{} {}",
                    r.contact_year,
                    tr.t1("outputs-quarter", "n", r.contact_quarter)
                ),
                service: tr.t(&format!("service-{}", r.service_type.replace('_', "-"))),
                support: support.join(", "),
                registry_id: r.registry_id,
            }
        })
        .collect();
    let mut fields: Vec<Field> = [IDENTITY, CONTACT]
        .into_iter()
        .flat_map(|items| super::fields::fields(&tr, items, &[], form, &problems, &[]))
        .collect();
    for field in &mut fields {
        field.required = matches!(
            field.name,
            "identity.birth_date" | "identity.sex" | "contact_date" | "service_type"
        );
    }
    let checks = CHECKS
        .iter()
        .map(|c| {
            (
                (*c).to_owned(),
                super::forms::label(&tr, c),
                !form.one(c).is_empty(),
            )
        })
        .collect();
    let page = render(&ContactsPage {
        chrome: signed.chrome(state, "contacts-title"),
        problems: problems.clone(),
        fields,
        checks,
        lines,
    });
    super::form_answer(page, &problems)
}

/// `GET /contacts`: the API's `GET /social-contacts` and an empty form.
async fn contacts(State(state): State<AppState>, signed: SignedIn) -> Response {
    if let Err(refused) = refuse_unless(&state, &signed, Action::ListSocialContacts).await {
        return refused;
    }
    page(&state, &signed, &FormData::default(), Problems::default()).await
}

/// `POST /contacts`: the API's `POST /social-contacts`.
async fn record(State(state): State<AppState>, signed: SignedIn, form: FormData) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    if let Err(refused) = refuse_unless(&state, &signed, Action::CreateSocialContact).await {
        return refused;
    }
    let tr = signed.visitor.tr;
    let mut json = form.to_json(&[], &[], &["identity.personal_number", "notes"]);
    for check in CHECKS {
        json[*check] = Value::Bool(!form.one(check).is_empty());
    }
    if json.get("identity").is_none() {
        json["identity"] = json!({});
    }
    let body = serde_json::to_vec(&json).unwrap_or_default();
    let input: ContactInput = match crate::http::json::parse_json(&body) {
        Ok(input) => input,
        Err(ApiError::Invalid(fields)) => {
            return page(&state, &signed, &form, Problems::from_fields(&tr, &fields)).await;
        }
        Err(e) => return api_error_page(&signed.visitor, e),
    };
    match api::record_contact(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
        ApiJson(input),
    )
    .await
    {
        Ok(_) => Redirect::to("/contacts").into_response(),
        Err(ApiError::Invalid(fields)) => {
            page(&state, &signed, &form, Problems::from_fields(&tr, &fields)).await
        }
        Err(e) => api_error_page(&signed.visitor, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_composed_message_exists_in_every_language() {
        let label = |name: &str| format!("field-{}", name.replace(['.', '_'], "-"));
        let mut keys: Vec<String> = IDENTITY
            .iter()
            .chain(CONTACT)
            .map(|(name, _)| label(name))
            .collect();
        keys.extend(CHECKS.iter().map(|c| label(c)));
        keys.extend(
            SERVICE_TYPES
                .iter()
                .map(|s| format!("service-{}", s.replace('_', "-"))),
        );
        crate::web::i18n::tests::assert_every_language_has(&keys);
    }
}
