//! An emergency department's pages (strategy item 3.1.5): record a non-fatal
//! overdose that presented there, list the facility's overdoses and read one.
//! Only a clinician of an operating, emergency-capable facility sees them; each
//! calls the API handler of the same request.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::fields::{ANSWERS, Ask, Field, IDENTITY, UNIDENTIFIED, fields, lookup, shown};
use super::forms::{FormData, Problems, label};
use super::i18n::Tr;
use super::session::SignedIn;
use super::{Chrome, Desk, api_error_page, csrf_refused, record_id, refuse_unless_at, render};
use crate::authz::Action;
use crate::domain::death::{CLINICAL_FEATURES, CLINICAL_OUTCOMES, OverdoseInput, TREATMENTS};
use crate::field::FieldError;
use crate::http::deaths as api;
use crate::http::ids::RecordId;
use crate::http::{ApiError, ApiJson, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/overdoses", get(list))
        .route("/overdoses/new", get(new_form).post(record))
        .route("/overdoses/{overdose_id}", get(view))
}

/// The presentation, asked first.
const PRESENTATION: &[(&str, Ask)] = &[
    ("presented_at", Ask::Line),
    ("arrival_by_ambulance", Ask::Pick("answer", ANSWERS)),
    ("municipality", Ask::Municipality),
];

/// What was found and done, after the person.
const CLINICAL: &[(&str, Ask)] = &[
    ("substances_reported", Ask::Codes("substance")),
    ("substances_confirmed", Ask::Codes("substance")),
    ("nps_names", Ask::Line),
    ("alcohol", Ask::Pick("answer", ANSWERS)),
    ("naloxone", Ask::Pick("answer", ANSWERS)),
    ("outcome", Ask::Pick("outcome", CLINICAL_OUTCOMES)),
    ("length_of_stay_hours", Ask::Number),
    ("intentional_self_harm", Ask::Pick("answer", ANSWERS)),
];

/// The Euro-DEN lists asked as checkboxes: the field, and the message prefix
/// of each value's label.
const CHECKED: &[(&str, &str, &[&str])] = &[
    ("clinical_features", "feature", CLINICAL_FEATURES),
    ("other_treatment", "treatment", TREATMENTS),
];

const HINTED: &[&str] = &["presented_at", "identity.birth_date", "sex", "nps_names"];

/// The questions that must be answered.
const REQUIRED: &[&str] = &[
    "presented_at",
    "arrival_by_ambulance",
    "municipality",
    "alcohol",
    "naloxone",
    "outcome",
];

/// The yes-or-no questions; `intentional_self_harm` may stay unanswered.
const YES_NO: &[&str] = &[
    "arrival_by_ambulance",
    "alcohol",
    "naloxone",
    "intentional_self_harm",
];

/// A group of checkboxes.
pub struct Checks {
    /// The field sent.
    pub name: &'static str,
    /// The group's element id.
    pub id: String,
    /// Its legend.
    pub legend: String,
    /// `(value, label, checked)` of each box.
    pub boxes: Vec<(String, String, bool)>,
    /// What is wrong with it, or empty.
    pub problem: String,
}

/// The overdose form.
#[derive(Template)]
#[template(path = "overdose_new.html")]
struct NewOverdosePage {
    chrome: Chrome,
    problems: Problems,
    presentation: Vec<Field>,
    identity: Vec<Field>,
    unidentified: Vec<Field>,
    clinical: Vec<Field>,
    checks: Vec<Checks>,
}

async fn form_page(
    state: &AppState,
    signed: &SignedIn,
    form: &FormData,
    problems: Problems,
) -> Response {
    let tr = signed.visitor.tr;
    let slugs = match state.store.municipality_slugs().await {
        Ok(slugs) => slugs,
        Err(e) => return api_error_page(&signed.visitor, e.into()),
    };
    let ask = |items| {
        let mut asked = fields(&tr, items, HINTED, form, &problems, &slugs);
        for field in &mut asked {
            field.required = REQUIRED.contains(&field.name);
        }
        asked
    };
    let checks = CHECKED
        .iter()
        .map(|&(name, prefix, values)| {
            let chosen = form.all(name);
            Checks {
                name,
                id: super::forms::input_id(name),
                legend: label(&tr, name),
                boxes: values
                    .iter()
                    .map(|v| {
                        (
                            (*v).to_owned(),
                            tr.t(&format!("{prefix}-{}", v.replace('_', "-"))),
                            chosen.contains(v),
                        )
                    })
                    .collect(),
                problem: problems.of(name),
            }
        })
        .collect();
    let page = render(&NewOverdosePage {
        chrome: signed.chrome(state, "overdose-new-title"),
        problems: problems.clone(),
        presentation: ask(PRESENTATION),
        identity: ask(IDENTITY),
        unidentified: ask(UNIDENTIFIED),
        clinical: ask(CLINICAL),
        checks,
    });
    super::form_answer(page, &problems)
}

/// Refuses the form to whoever may not record an overdose at an emergency
/// department. Police may record overdoses too (their own, smaller form), but
/// have no department: its pages are for those who may also list its overdoses.
async fn refuse_unless_department(state: &AppState, signed: &SignedIn) -> Result<(), Response> {
    for action in [Action::ListOverdoses, Action::CreateOverdose] {
        refuse_unless_at(state, signed, action, Desk::EmergencyDepartment).await?;
    }
    Ok(())
}

/// `GET /overdoses/new`.
async fn new_form(State(state): State<AppState>, signed: SignedIn) -> Response {
    if let Err(refused) = refuse_unless_department(&state, &signed).await {
        return refused;
    }
    form_page(&state, &signed, &FormData::default(), Problems::default()).await
}

/// The form as the API's input.
fn to_input(form: &FormData) -> Value {
    let mut json = form.to_json(
        &["age", "length_of_stay_hours"],
        &[
            "substances_reported",
            "substances_confirmed",
            "clinical_features",
            "other_treatment",
        ],
        &["sex", "identity.personal_number", "nps_names"],
    );
    // A person not identified: no name, no birth date; sex and age instead.
    let identified = IDENTITY
        .iter()
        .any(|(name, _)| !form.one(name).trim().is_empty());
    if let Some(object) = json.as_object_mut() {
        if !identified {
            object.remove("identity");
        }
        // Blank is not "no": left out, the API names what it requires.
        for name in YES_NO {
            match form.answer(name) {
                Some(answer) => {
                    object.insert((*name).to_owned(), answer);
                }
                None => {
                    object.remove(*name);
                }
            }
        }
    }
    let names: Vec<&str> = form
        .one("nps_names")
        .split([',', ';'])
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect();
    json["nps_names"] = json!(names);
    json
}

/// `POST /overdoses/new`: the API's `POST /overdoses`.
async fn record(State(state): State<AppState>, signed: SignedIn, form: FormData) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    // A page that may not do this is refused before its form is read.
    if let Err(refused) = refuse_unless_department(&state, &signed).await {
        return refused;
    }
    let tr = signed.visitor.tr;
    let body = serde_json::to_vec(&to_input(&form)).unwrap_or_default();
    let outcome = match crate::http::json::parse_json::<OverdoseInput>(&body) {
        Ok(input) => {
            api::record_overdose(
                State(state.clone()),
                HeaderMap::new(),
                signed.user.clone(),
                ApiJson(input),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match outcome {
        // To the record by a redirect, so a reload does not record it again.
        Ok((_, ApiJson(created))) => {
            Redirect::to(&format!("/overdoses/{}", created.id)).into_response()
        }
        Err(ApiError::Invalid(problems)) => {
            // The list of names is one line of the form.
            let problems: Vec<FieldError> = problems
                .into_iter()
                .map(|p| match p.field.strip_prefix("nps_names[") {
                    Some(_) => FieldError::new("nps_names", p.problem),
                    None => p,
                })
                .collect();
            form_page(
                &state,
                &signed,
                &form,
                Problems::from_fields(&tr, &problems),
            )
            .await
        }
        Err(e) => api_error_page(&signed.visitor, e),
    }
}

/// One overdose in the list.
pub struct Line {
    /// Link to it.
    pub href: String,
    /// Year and quarter.
    pub when: String,
    /// Municipality.
    pub municipality: String,
    /// Sex and age band.
    pub person: String,
    /// Substances.
    pub substances: String,
    /// Outcome, translated.
    pub outcome: String,
    /// Whether a death record follows it, translated.
    pub followed_by_death: String,
}

/// The facility's overdoses.
#[derive(Template)]
#[template(path = "overdoses.html")]
struct ListPage {
    chrome: Chrome,
    lines: Vec<Line>,
    may_record: bool,
}

/// `GET /overdoses`: the API's `GET /overdoses`.
async fn list(State(state): State<AppState>, signed: SignedIn) -> Response {
    if let Err(refused) = refuse_unless_at(
        &state,
        &signed,
        Action::ListOverdoses,
        Desk::EmergencyDepartment,
    )
    .await
    {
        return refused;
    }
    let tr = signed.visitor.tr;
    let rows = match api::list_overdoses(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
    )
    .await
    {
        Ok(ApiJson(rows)) => rows,
        Err(e) => return api_error_page(&signed.visitor, e),
    };
    let lines = rows
        .into_iter()
        .map(|r| Line {
            href: format!("/overdoses/{}", r.id),
            when: format!("{} {}", r.year, tr.t1("outputs-quarter", "n", r.quarter)),
            municipality: tr.municipality(&r.municipality),
            person: format!(
                "{} · {}",
                tr.code("sex", &r.sex),
                tr.code("age_band", &r.age_band)
            ),
            substances: shown(&tr, Ask::Codes("substance"), &json!(r.substances)),
            outcome: shown(
                &tr,
                Ask::Pick("outcome", CLINICAL_OUTCOMES),
                &json!(r.outcome),
            ),
            followed_by_death: r
                .followed_by_death
                .map(|d| shown(&tr, Ask::Line, &json!(d)))
                .unwrap_or_default(),
        })
        .collect();
    let may_record = super::shows(
        &state,
        &signed.user,
        Action::CreateOverdose,
        Desk::EmergencyDepartment,
    );
    render(&ListPage {
        chrome: signed.chrome(&state, "overdoses-title"),
        lines,
        may_record,
    })
    .into_response()
}

/// One overdose.
#[derive(Template)]
#[template(path = "overdose.html")]
struct OverdosePage {
    chrome: Chrome,
    items: Vec<(String, String)>,
}

/// The record's items as submitted, in the form's order, with their labels.
fn items(tr: &Tr, view: &api::OverdoseView) -> Vec<(String, String)> {
    let mut items = vec![(
        tr.t("overdoses-when"),
        format!(
            "{} {}",
            view.year,
            tr.t1("outputs-quarter", "n", view.quarter)
        ),
    )];
    let Some(details) = &view.details else {
        return items;
    };
    let asked = PRESENTATION
        .iter()
        .chain(IDENTITY)
        .chain(UNIDENTIFIED)
        .chain(CLINICAL)
        .copied()
        .chain(
            CHECKED
                .iter()
                .map(|&(name, prefix, values)| (name, Ask::Pick(prefix, values))),
        );
    for (name, ask) in asked {
        let value = lookup(details, name).map_or_else(String::new, |v| shown(tr, ask, v));
        if !value.is_empty() {
            items.push((label(tr, name), value));
        }
    }
    if let Some(followed) = view.followed_by_death {
        items.push((
            tr.t("overdoses-followed"),
            shown(tr, Ask::Line, &json!(followed)),
        ));
    }
    items
}

/// `GET /overdoses/{id}`: the API's `GET /overdoses/{id}`.
async fn view(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(overdose_id): Path<String>,
) -> Response {
    let Some(id) = record_id(&overdose_id) else {
        return api_error_page(&signed.visitor, ApiError::NotFound);
    };
    match api::get_overdose(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
        RecordId(id),
    )
    .await
    {
        Ok(ApiJson(view)) => render(&OverdosePage {
            chrome: signed.chrome(&state, "overdose-title"),
            items: items(&signed.visitor.tr, &view),
        })
        .into_response(),
        Err(e) => api_error_page(&signed.visitor, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_composed_message_exists_in_every_language() {
        let label = |name: &str| format!("field-{}", name.replace(['.', '_'], "-"));
        let mut keys: Vec<String> = PRESENTATION
            .iter()
            .chain(CLINICAL)
            .map(|(name, _)| label(name))
            .collect();
        keys.extend(
            HINTED
                .iter()
                .map(|n| format!("hint-{}", n.replace(['.', '_'], "-"))),
        );
        for &(name, prefix, values) in CHECKED {
            keys.push(label(name));
            keys.extend(
                values
                    .iter()
                    .map(|v| format!("{prefix}-{}", v.replace('_', "-"))),
            );
        }
        keys.extend(
            CLINICAL_OUTCOMES
                .iter()
                .map(|o| format!("outcome-{}", o.replace('_', "-"))),
        );
        crate::web::i18n::tests::assert_every_language_has(&keys);
    }

    /// The form sends what the API takes: no identity when no name is given,
    /// unanswered questions left out (never "no"), names split into a list.
    #[test]
    fn the_form_becomes_the_api_input() {
        let form = FormData::from_query(
            "presented_at=2026-03-01T22%3A40&arrival_by_ambulance=yes&municipality=prishtine\
             &sex=2&age=31&substances_reported=11&substances_reported=&nps_names=a-PVP%2C+3-MMC\
             &alcohol=no&naloxone=&outcome=ward&clinical_features=seizures\
             &clinical_features=agitation&intentional_self_harm=",
        );
        let input = to_input(&form);
        assert!(input.get("identity").is_none());
        assert!(input.get("naloxone").is_none());
        assert!(input.get("intentional_self_harm").is_none());
        assert_eq!(input["alcohol"], json!(false));
        assert_eq!(input["arrival_by_ambulance"], json!(true));
        assert_eq!(input["age"], json!(31));
        assert_eq!(input["substances_reported"], json!(["11"]));
        assert_eq!(input["nps_names"], json!(["a-PVP", "3-MMC"]));
        assert_eq!(input["clinical_features"], json!(["seizures", "agitation"]));
        let named = form.with("identity.last_name", "Gashi");
        assert_eq!(to_input(&named)["identity"]["last_name"], json!("Gashi"));
    }
}
