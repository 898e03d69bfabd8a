//! The police's pages: notify a suspected drug-related death, list one's own
//! notifications, read and amend one until forensic medicine completes it, and
//! record an overdose attended at the scene. Each calls the API handler of the
//! same request.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::fields::{ANSWERS, Ask, Field, IDENTITY, UNIDENTIFIED, fields};
use super::forms::{FormData, Problems};
use super::i18n::Tr;
use super::session::SignedIn;
use super::{Chrome, api_error_page, csrf_refused, refuse_unless, render};
use crate::authz::Action;
use crate::domain::death::{NotificationInput, PLACE_TYPES, POLICE_OUTCOMES, PoliceOverdoseInput};
use crate::http::deaths as api;
use crate::http::ids::RecordId;
use crate::http::{ApiError, ApiJson, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/notifications", get(list))
        .route("/notifications/new", get(new_form).post(notify))
        .route("/notifications/{death_id}", get(view).post(amend))
        .route(
            "/police-overdoses/new",
            get(overdose_form).post(record_overdose),
        )
}

/// The scene, then the person (identified or not), then the circumstances.
const SCENE: &[(&str, Ask)] = &[
    ("date_of_death", Ask::Date),
    ("municipality", Ask::Municipality),
    ("place_type", Ask::Pick("place", PLACE_TYPES)),
    ("found_alone", Ask::Pick("answer", ANSWERS)),
    ("paraphernalia", Ask::Pick("answer", ANSWERS)),
    ("witnessed", Ask::Pick("answer", ANSWERS)),
    ("suspected_substances", Ask::Codes("substance")),
];
const NOTIFICATION: &[&[(&str, Ask)]] = &[
    SCENE,
    IDENTITY,
    UNIDENTIFIED,
    &[("circumstances", Ask::Text)],
];

const OVERDOSE: &[(&str, Ask)] = &[
    ("date", Ask::Date),
    ("municipality", Ask::Municipality),
    ("sex", Ask::Code("sex")),
    ("age", Ask::Number),
    ("substances_suspected", Ask::Codes("substance")),
    ("naloxone_given", Ask::Pick("answer", ANSWERS)),
    ("outcome", Ask::Pick("outcome", POLICE_OUTCOMES)),
];

const HINTED: &[&str] = &[
    "sex",
    "identity.birth_date",
    "suspected_substances",
    "substances_suspected",
];

/// The notification form as the API's input.
fn notification_json(form: &FormData) -> Value {
    let text = |name: &str| form.one(name).trim().to_owned();
    let mut input = Map::new();
    for key in ["date_of_death", "municipality", "place_type"] {
        input.insert(key.into(), Value::from(text(key)));
    }
    for key in ["found_alone", "paraphernalia", "witnessed"] {
        if let Some(value) = form.answer(key) {
            input.insert(key.into(), value);
        }
    }
    let substances: Vec<Value> = form
        .all("suspected_substances")
        .into_iter()
        .map(Value::from)
        .collect();
    input.insert("suspected_substances".into(), Value::Array(substances));
    let names = ["first_name", "last_name", "birth_date", "personal_number"];
    if names
        .iter()
        .any(|n| !text(&format!("identity.{n}")).is_empty())
    {
        let number = text("identity.personal_number");
        input.insert(
            "identity".into(),
            json!({
                "first_name": text("identity.first_name"),
                "last_name": text("identity.last_name"),
                "birth_date": text("identity.birth_date"),
                "sex": text("identity.sex"),
                "personal_number": (!number.is_empty()).then_some(number),
            }),
        );
    } else {
        if !text("sex").is_empty() {
            input.insert("sex".into(), Value::from(text("sex")));
        }
        if !text("age").is_empty() {
            let age = text("age");
            input.insert(
                "age".into(),
                age.parse::<u64>()
                    .map_or_else(|_| Value::from(age.clone()), Value::from),
            );
        }
    }
    if !text("circumstances").is_empty() {
        input.insert("circumstances".into(), Value::from(text("circumstances")));
    }
    Value::Object(input)
}

/// The notification form (new, or an amendment of `death_id`).
#[derive(Template)]
#[template(path = "notification.html")]
struct NotificationPage {
    chrome: Chrome,
    problems: Problems,
    action: String,
    amending: bool,
    summary: Vec<(String, String)>,
    fields: Vec<Field>,
}

async fn notification_page(
    state: &AppState,
    signed: &SignedIn,
    form: &FormData,
    problems: Problems,
    amend: Option<(String, Vec<(String, String)>)>,
) -> Response {
    let tr = signed.visitor.tr;
    let slugs = match state.store.municipality_slugs().await {
        Ok(slugs) => slugs,
        Err(e) => return api_error_page(&signed.visitor, e.into()),
    };
    let mut fields: Vec<Field> = NOTIFICATION
        .iter()
        .flat_map(|items| super::fields::fields(&tr, items, HINTED, form, &problems, &slugs))
        .collect();
    for field in &mut fields {
        field.required = matches!(field.name, "date_of_death" | "municipality" | "place_type");
        if field.name == "municipality" {
            field.label = tr.t("field-municipality-of-death");
        }
    }
    let (action, amending, summary, title) = match amend {
        Some((id, summary)) => (
            format!("/notifications/{id}"),
            true,
            summary,
            "notification-title",
        ),
        None => (
            "/notifications/new".to_owned(),
            false,
            Vec::new(),
            "notification-new-title",
        ),
    };
    let page = render(&NotificationPage {
        chrome: signed.chrome(state, title),
        problems: problems.clone(),
        action,
        amending,
        summary,
        fields,
    });
    super::form_answer(page, &problems)
}

/// `GET /notifications/new`.
async fn new_form(State(state): State<AppState>, signed: SignedIn) -> Response {
    if let Err(refused) = refuse_unless(&state, &signed, Action::CreateDeathNotification).await {
        return refused;
    }
    notification_page(
        &state,
        &signed,
        &FormData::default(),
        Problems::default(),
        None,
    )
    .await
}

fn parse_notification(form: &FormData) -> Result<NotificationInput, ApiError> {
    let body = serde_json::to_vec(&notification_json(form)).unwrap_or_default();
    crate::http::json::parse_json(&body)
}

/// `POST /notifications/new`: the API's `POST /death-notifications`.
async fn notify(State(state): State<AppState>, signed: SignedIn, form: FormData) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    if let Err(refused) = refuse_unless(&state, &signed, Action::CreateDeathNotification).await {
        return refused;
    }
    let tr = signed.visitor.tr;
    let outcome = match parse_notification(&form) {
        Ok(input) => api::notify(
            State(state.clone()),
            HeaderMap::new(),
            signed.user.clone(),
            ApiJson(input),
        )
        .await
        .map(|(_, ApiJson(created))| created.id),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(id) => Redirect::to(&format!("/notifications/{id}")).into_response(),
        Err(ApiError::Invalid(fields)) => {
            notification_page(
                &state,
                &signed,
                &form,
                Problems::from_fields(&tr, &fields),
                None,
            )
            .await
        }
        Err(e) => api_error_page(&signed.visitor, e),
    }
}

/// One notification in the list.
pub struct Line {
    /// Link to it.
    pub href: String,
    /// Year.
    pub year: i64,
    /// Municipality.
    pub municipality: String,
    /// Place, translated.
    pub place: String,
    /// Completed by forensic medicine, translated.
    pub state: String,
}

/// The list page.
#[derive(Template)]
#[template(path = "notifications.html")]
struct ListPage {
    chrome: Chrome,
    lines: Vec<Line>,
}

fn place(tr: &Tr, place_type: &str) -> String {
    tr.t(&format!("place-{}", place_type.replace('_', "-")))
}

/// `GET /notifications`: the API's `GET /death-notifications`.
async fn list(State(state): State<AppState>, signed: SignedIn) -> Response {
    if let Err(refused) = refuse_unless(&state, &signed, Action::ListDeathNotifications).await {
        return refused;
    }
    let tr = signed.visitor.tr;
    let rows =
        match api::list_notifications(State(state.clone()), HeaderMap::new(), signed.user.clone())
            .await
        {
            Ok(ApiJson(rows)) => rows,
            Err(e) => return api_error_page(&signed.visitor, e),
        };
    let lines = rows
        .into_iter()
        .map(|r| Line {
            href: format!("/notifications/{}", r.id),
            year: r.year,
            municipality: tr.municipality(&r.municipality),
            place: place(&tr, &r.place_type),
            state: tr.t(if r.forensic_complete {
                "notification-completed"
            } else {
                "notification-open"
            }),
        })
        .collect();
    render(&ListPage {
        chrome: signed.chrome(&state, "notifications-title"),
        lines,
    })
    .into_response()
}

/// The notification as read back, and the form filled with what it holds.
async fn read_back(
    state: &AppState,
    signed: &SignedIn,
    id: &str,
) -> Result<(FormData, Vec<(String, String)>), ApiError> {
    let tr = signed.visitor.tr;
    let ApiJson(view) = api::get_notification(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
        RecordId(id.to_owned()),
    )
    .await?;
    let label = |name: &str| super::forms::label(&tr, name);
    let mut summary = vec![
        (
            tr.t("field-municipality-of-death"),
            tr.municipality(&view.municipality),
        ),
        (label("place_type"), place(&tr, &view.place_type)),
        (
            label("suspected_substances"),
            view.suspected_substances
                .iter()
                .map(|c| format!("{c} · {}", tr.code("substance", c)))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            tr.t("notification-state"),
            tr.t(if view.forensic_complete {
                "notification-completed"
            } else {
                "notification-open"
            }),
        ),
    ];
    let mut form = FormData::default()
        .with("municipality", &view.municipality)
        .with("place_type", &view.place_type);
    for code in &view.suspected_substances {
        form = form.and("suspected_substances", code);
    }
    if let Some(c) = &view.circumstances {
        summary.insert(0, (label("date_of_death"), c.date_of_death.clone()));
        form = form.with("date_of_death", &c.date_of_death);
        for (name, value) in [
            ("found_alone", c.found_alone),
            ("paraphernalia", c.paraphernalia),
            ("witnessed", c.witnessed),
        ] {
            if let Some(value) = value {
                form = form.with(name, if value { "yes" } else { "no" });
            }
        }
        if let Some(text) = &c.circumstances {
            form = form.with("circumstances", text);
        }
    }
    Ok((form, summary))
}

/// `GET /notifications/{id}`: the API's `GET /death-notifications/{id}`, with
/// the form to amend it.
async fn view(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(death_id): Path<String>,
) -> Response {
    let Some(id) = super::record_id(&death_id) else {
        return api_error_page(&signed.visitor, ApiError::NotFound);
    };
    match read_back(&state, &signed, &id).await {
        Ok((form, summary)) => {
            notification_page(
                &state,
                &signed,
                &form,
                Problems::default(),
                Some((id, summary)),
            )
            .await
        }
        Err(e) => api_error_page(&signed.visitor, e),
    }
}

/// `POST /notifications/{id}`: the API's `PUT /death-notifications/{id}`.
async fn amend(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(death_id): Path<String>,
    form: FormData,
) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    let Some(id) = super::record_id(&death_id) else {
        return api_error_page(&signed.visitor, ApiError::NotFound);
    };
    let tr = signed.visitor.tr;
    // An amendment replaces the notification whole, and reading it back does not
    // show the identity: sent without any of it, the stored identity, sex and age
    // would be erased. The officer gives them again (sex 99 when not known).
    let person = [
        "identity.first_name",
        "identity.last_name",
        "identity.birth_date",
        "sex",
        "age",
    ];
    if person.iter().all(|name| form.one(name).trim().is_empty()) {
        let summary = read_back(&state, &signed, &id)
            .await
            .map(|(_, s)| s)
            .unwrap_or_default();
        let problems = Problems::one(
            &tr,
            "identity.first_name",
            tr.t("notification-identity-again"),
        );
        return notification_page(&state, &signed, &form, problems, Some((id, summary))).await;
    }
    let outcome = match parse_notification(&form) {
        Ok(input) => api::amend_notification(
            State(state.clone()),
            HeaderMap::new(),
            signed.user.clone(),
            RecordId(id.clone()),
            ApiJson(input),
        )
        .await
        .map(|_| ()),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => Redirect::to(&format!("/notifications/{id}")).into_response(),
        Err(ApiError::Invalid(fields)) => {
            let summary = read_back(&state, &signed, &id)
                .await
                .map(|(_, s)| s)
                .unwrap_or_default();
            notification_page(
                &state,
                &signed,
                &form,
                Problems::from_fields(&tr, &fields),
                Some((id, summary)),
            )
            .await
        }
        Err(ApiError::Conflict {
            code: "completed_by_forensic_medicine",
            ..
        }) => super::message_page(
            &signed.visitor,
            StatusCode::CONFLICT,
            "error-title",
            "notification-frozen",
        ),
        Err(e) => api_error_page(&signed.visitor, e),
    }
}

/// The attended-overdose form.
#[derive(Template)]
#[template(path = "police_overdose.html")]
struct OverdosePage {
    chrome: Chrome,
    problems: Problems,
    fields: Vec<Field>,
    done: bool,
}

async fn overdose_page(
    state: &AppState,
    signed: &SignedIn,
    form: &FormData,
    problems: Problems,
    done: bool,
) -> Response {
    let tr = signed.visitor.tr;
    let slugs = match state.store.municipality_slugs().await {
        Ok(slugs) => slugs,
        Err(e) => return api_error_page(&signed.visitor, e.into()),
    };
    let mut fields = fields(&tr, OVERDOSE, HINTED, form, &problems, &slugs);
    for field in &mut fields {
        field.required = matches!(
            field.name,
            "date" | "municipality" | "naloxone_given" | "outcome"
        );
        if field.name == "date" {
            field.label = tr.t("field-overdose-date");
        }
    }
    let page = render(&OverdosePage {
        chrome: signed.chrome(state, "police-overdose-title"),
        problems: problems.clone(),
        fields,
        done,
    });
    super::form_answer(page, &problems)
}

/// `GET /police-overdoses/new[?recorded=1]`.
async fn overdose_form(
    State(state): State<AppState>,
    signed: SignedIn,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    if let Err(refused) = refuse_unless(&state, &signed, Action::CreateOverdose).await {
        return refused;
    }
    let recorded = query.as_deref() == Some("recorded=1");
    overdose_page(
        &state,
        &signed,
        &FormData::default(),
        Problems::default(),
        recorded,
    )
    .await
}

/// `POST /police-overdoses/new`: the API's `POST /police-overdoses`.
async fn record_overdose(
    State(state): State<AppState>,
    signed: SignedIn,
    form: FormData,
) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    if let Err(refused) = refuse_unless(&state, &signed, Action::CreateOverdose).await {
        return refused;
    }
    let tr = signed.visitor.tr;
    let mut json = form.to_json(&["age"], &["substances_suspected"], &["sex"]);
    // Blank is not "no": left out, the API names it as required.
    match form.answer("naloxone_given") {
        Some(given) => json["naloxone_given"] = given,
        None => {
            if let Some(object) = json.as_object_mut() {
                object.remove("naloxone_given");
            }
        }
    }
    if json.get("substances_suspected").is_none() {
        json["substances_suspected"] = json!([]);
    }
    let body = serde_json::to_vec(&json).unwrap_or_default();
    let outcome = match crate::http::json::parse_json::<PoliceOverdoseInput>(&body) {
        Ok(input) => api::record_police_overdose(
            State(state.clone()),
            HeaderMap::new(),
            signed.user.clone(),
            ApiJson(input),
        )
        .await
        .map(|_| ()),
        Err(e) => Err(e),
    };
    match outcome {
        // Back to the form by a redirect, so a reload does not record it again.
        Ok(()) => Redirect::to("/police-overdoses/new?recorded=1").into_response(),
        Err(ApiError::Invalid(fields)) => {
            overdose_page(
                &state,
                &signed,
                &form,
                Problems::from_fields(&tr, &fields),
                false,
            )
            .await
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
        let mut keys: Vec<String> = NOTIFICATION
            .iter()
            .flat_map(|items| items.iter())
            .chain(OVERDOSE)
            .map(|(n, _)| label(n))
            .collect();
        keys.extend(
            HINTED
                .iter()
                .map(|n| format!("hint-{}", n.replace(['.', '_'], "-"))),
        );
        keys.extend(
            POLICE_OUTCOMES
                .iter()
                .map(|o| format!("outcome-{}", o.replace('_', "-"))),
        );
        crate::web::i18n::tests::assert_every_language_has(&keys);
    }
}
