//! The administrator's facility register: every facility, a form to add one, and
//! one page per facility to rename it, say whether it has an emergency department
//! and close or reopen it. Each calls the API handler of the same request.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Map, Value};

use super::fields::{ANSWERS, Ask, Field, fields};
use super::forms::{FormData, Problems};
use super::session::SignedIn;
use super::{Chrome, api_error_page, csrf_refused, refuse_unless, render};
use crate::authz::Action;
use crate::cases::facilities::valid_code;
use crate::http::{ApiError, ApiJson, AppState, facilities as api, reference};
use crate::store::reference::Facility;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/facilities", get(list).post(add))
        .route("/admin/facilities/{code}", get(facility).post(change))
}

/// A new facility.
const NEW: &[(&str, Ask)] = &[
    ("code", Ask::Line),
    ("name", Ask::Line),
    ("municipality", Ask::Municipality),
    ("centre_type", Ask::Code("centre_type")),
    ("emergency_capable", Ask::Pick("answer", ANSWERS)),
];

/// A change of one.
const CHANGE: &[(&str, Ask)] = &[
    ("name", Ask::Line),
    ("emergency_capable", Ask::Pick("answer", ANSWERS)),
    ("active", Ask::Pick("operating", ANSWERS)),
];

const HINTED: &[&str] = &["code", "emergency_capable"];

/// The register and the form to add a facility.
#[derive(Template)]
#[template(path = "facilities.html")]
struct ListPage {
    chrome: Chrome,
    problems: Problems,
    rows: Vec<[String; 6]>,
    fields: Vec<Field>,
}

/// One facility's page.
#[derive(Template)]
#[template(path = "facility.html")]
struct FacilityPage {
    chrome: Chrome,
    problems: Problems,
    code: String,
    facts: Vec<(String, String)>,
    fields: Vec<Field>,
}

/// The register, as the API answers it.
async fn register(state: &AppState, signed: &SignedIn) -> Result<Vec<Facility>, ApiError> {
    let ApiJson(list) =
        reference::list_facilities(State(state.clone()), HeaderMap::new(), signed.user.clone())
            .await?;
    Ok(list.items)
}

async fn list_page(
    state: &AppState,
    signed: &SignedIn,
    form: &FormData,
    problems: Problems,
) -> Response {
    let tr = signed.visitor.tr;
    let (facilities, slugs) = match (
        register(state, signed).await,
        state.store.municipality_slugs().await,
    ) {
        (Ok(facilities), Ok(slugs)) => (facilities, slugs),
        (Err(e), _) => return api_error_page(&signed.visitor, e),
        (_, Err(e)) => return api_error_page(&signed.visitor, e.into()),
    };
    let yes_no = |yes: bool| tr.t(if yes { "answer-yes" } else { "answer-no" });
    let rows = facilities
        .into_iter()
        .map(|f| {
            [
                f.code,
                f.name,
                tr.municipality(&f.municipality),
                format!(
                    "{} · {}",
                    f.centre_type,
                    tr.code("centre_type", &f.centre_type)
                ),
                yes_no(f.emergency_capable),
                tr.t(if f.active {
                    "operating-yes"
                } else {
                    "operating-no"
                }),
            ]
        })
        .collect();
    let mut fields = fields(&tr, NEW, HINTED, form, &problems, &slugs);
    for field in &mut fields {
        field.required = true;
        if field.name == "municipality" {
            field.label = tr.t("admin-municipality");
        }
    }
    let page = render(&ListPage {
        chrome: signed.chrome(state, "facilities-title"),
        problems: problems.clone(),
        rows,
        fields,
    });
    super::form_answer(page, &problems)
}

/// `GET /admin/facilities`.
async fn list(State(state): State<AppState>, signed: SignedIn) -> Response {
    if let Err(refused) = refuse_unless(&state, &signed, Action::ManageFacilities).await {
        return refused;
    }
    list_page(&state, &signed, &FormData::default(), Problems::default()).await
}

/// `POST /admin/facilities`: the API's `POST /facilities`.
async fn add(State(state): State<AppState>, signed: SignedIn, form: FormData) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    if let Err(refused) = refuse_unless(&state, &signed, Action::ManageFacilities).await {
        return refused;
    }
    let tr = signed.visitor.tr;
    let mut json = form.to_json(&[], &[], &["emergency_capable"]);
    if let Some(answer) = form.answer("emergency_capable") {
        json["emergency_capable"] = answer;
    }
    let body = serde_json::to_vec(&json).unwrap_or_default();
    let outcome = match crate::http::json::parse_json(&body) {
        Ok(new) => {
            api::create_facility(
                State(state.clone()),
                HeaderMap::new(),
                signed.user.clone(),
                ApiJson(new),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok((_, ApiJson(added))) => {
            Redirect::to(&format!("/admin/facilities/{}", added.code)).into_response()
        }
        Err(ApiError::Invalid(fields)) => {
            list_page(&state, &signed, &form, Problems::from_fields(&tr, &fields)).await
        }
        Err(ApiError::Conflict {
            code: "facility_code_taken",
            ..
        }) => {
            let problems = Problems::one(&tr, "code", tr.t("facilities-code-taken"));
            list_page(&state, &signed, &form, problems).await
        }
        Err(e) => api_error_page(&signed.visitor, e),
    }
}

async fn facility_page(
    state: &AppState,
    signed: &SignedIn,
    code: &str,
    form: Option<&FormData>,
    problems: Problems,
) -> Response {
    let tr = signed.visitor.tr;
    let found = match register(state, signed).await {
        Ok(all) => all.into_iter().find(|f| f.code == code),
        Err(e) => return api_error_page(&signed.visitor, e),
    };
    let Some(found) = found else {
        return api_error_page(&signed.visitor, ApiError::NotFound);
    };
    let yes_no = |yes: bool| if yes { "yes" } else { "no" };
    // The form starts from the facility as it is; after a refused change, from
    // what was sent.
    let current = FormData::default()
        .with("name", &found.name)
        .with("emergency_capable", yes_no(found.emergency_capable))
        .with("active", yes_no(found.active));
    let mut fields = fields(&tr, CHANGE, &[], form.unwrap_or(&current), &problems, &[]);
    for field in &mut fields {
        field.required = true;
    }
    let facts = vec![
        (tr.t("admin-code"), found.code.clone()),
        (
            tr.t("admin-municipality"),
            tr.municipality(&found.municipality),
        ),
        (
            tr.t("field-centre-type"),
            format!(
                "{} · {}",
                found.centre_type,
                tr.code("centre_type", &found.centre_type)
            ),
        ),
    ];
    let page = render(&FacilityPage {
        chrome: signed.chrome(state, "facility-title"),
        problems: problems.clone(),
        code: found.code,
        facts,
        fields,
    });
    super::form_answer(page, &problems)
}

/// `GET /admin/facilities/{code}`.
async fn facility(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(code): Path<String>,
) -> Response {
    if let Err(refused) = refuse_unless(&state, &signed, Action::ManageFacilities).await {
        return refused;
    }
    if !valid_code(&code) {
        return api_error_page(&signed.visitor, ApiError::NotFound);
    }
    facility_page(&state, &signed, &code, None, Problems::default()).await
}

/// `POST /admin/facilities/{code}`: the API's `PATCH /facilities/{code}`.
async fn change(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(code): Path<String>,
    form: FormData,
) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    if let Err(refused) = refuse_unless(&state, &signed, Action::ManageFacilities).await {
        return refused;
    }
    if !valid_code(&code) {
        return api_error_page(&signed.visitor, ApiError::NotFound);
    }
    let tr = signed.visitor.tr;
    let mut json = Map::new();
    json.insert("name".into(), Value::from(form.one("name")));
    for name in ["emergency_capable", "active"] {
        if let Some(answer) = form.answer(name) {
            json.insert(name.into(), answer);
        }
    }
    let body = serde_json::to_vec(&json).unwrap_or_default();
    let outcome = match crate::http::json::parse_json(&body) {
        Ok(change) => {
            api::change_facility(
                State(state.clone()),
                HeaderMap::new(),
                signed.user.clone(),
                Path(code.clone()),
                ApiJson(change),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(_) => Redirect::to("/admin/facilities").into_response(),
        Err(ApiError::Invalid(fields)) => {
            let problems = Problems::from_fields(&tr, &fields);
            facility_page(&state, &signed, &code, Some(&form), problems).await
        }
        Err(e) => api_error_page(&signed.visitor, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_composed_message_exists_in_every_language() {
        let mut keys: Vec<String> = NEW
            .iter()
            .chain(CHANGE)
            .map(|(name, _)| format!("field-{}", name.replace('_', "-")))
            .collect();
        keys.extend(
            HINTED
                .iter()
                .map(|n| format!("hint-{}", n.replace('_', "-"))),
        );
        keys.extend(ANSWERS.iter().map(|a| format!("operating-{a}")));
        keys.extend(
            crate::domain::codes::list("centre_type")
                .unwrap_or_default()
                .iter()
                .map(|c| crate::web::i18n::code_key("centre_type", c)),
        );
        crate::web::i18n::tests::assert_every_language_has(&keys);
    }
}
