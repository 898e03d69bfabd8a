//! A clinician's pages: register an episode, find a patient of the own facility,
//! view and close an episode, and the substitution-treatment check. Each calls the
//! API handler of the same request.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::fields::{Ask, Choice, Field, IDENTITY, choices, fields};
use super::forms::{FormData, Problems};
use super::i18n::Tr;
use super::session::SignedIn;
use super::{Chrome, api_error_page, csrf_refused, render};
use crate::authz::Action;
use crate::domain::episode::EpisodeInput;
use crate::http::episodes as api;
use crate::http::ids::RecordId;
use crate::http::{ApiError, ApiJson, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/episodes/new", get(new_episode).post(register))
        .route("/patients", get(find_form).post(find))
        .route("/episodes/{episode_id}", get(episode))
        .route("/episodes/{episode_id}/close", post(close))
        .route(
            "/episodes/{episode_id}/correct",
            get(correction_form).post(correct),
        )
        .route("/ost", get(ost_form).post(ost_check))
}

/// Every TDI item, in the protocol's order (a test compares it with the API's).
const TDI: &[(&str, Ask)] = &[
    ("municipality", Ask::Municipality),
    ("treatment_start_date", Ask::Date),
    ("treatment_status", Ask::Code("treatment_status")),
    ("referral_source", Ask::Code("referral_source")),
    ("living_with", Ask::Code("living_with")),
    ("living_with_children", Ask::Code("living_with_children")),
    ("living_where", Ask::Code("living_where")),
    ("labour_status", Ask::Code("labour_status")),
    ("education", Ask::Code("education")),
    ("primary_drug", Ask::Code("substance")),
    ("route", Ask::Code("route")),
    ("frequency", Ask::Code("frequency")),
    ("age_first_use", Ask::Number),
    ("secondary_drugs", Ask::Codes("substance")),
    ("polydrug", Ask::Code("polydrug")),
    ("ost_status", Ask::Code("ost_status")),
    ("ost_first_year", Ask::Number),
    ("injecting", Ask::Code("injecting")),
    ("age_first_injection", Ask::Number),
    ("sharing", Ask::Code("sharing")),
    ("hiv_testing", Ask::Code("hiv_testing")),
    ("hcv_testing", Ask::Code("hcv_testing")),
    ("notes", Ask::Text),
];

/// Fields whose rule the form states beside them (the consistency rules).
const HINTED: &[&str] = &[
    "identity.birth_date",
    "identity.personal_number",
    "treatment_start_date",
    "primary_drug",
    "age_first_use",
    "secondary_drugs",
    "ost_status",
    "ost_first_year",
    "injecting",
    "age_first_injection",
    "sharing",
];

/// The registration form.
#[derive(Template)]
#[template(path = "episode_new.html")]
struct NewEpisodePage {
    chrome: Chrome,
    problems: Problems,
    identity: Vec<Field>,
    tdi: Vec<Field>,
    form_id: String,
}

async fn episode_form(
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
    let identity = fields(&tr, IDENTITY, HINTED, form, &problems, &slugs);
    let tdi = fields(&tr, TDI, HINTED, form, &problems, &slugs);
    let form_id = match form.one("form_id") {
        id if uuid::Uuid::try_parse(id).is_ok() => id.to_owned(),
        _ => uuid::Uuid::new_v4().to_string(),
    };
    let page = render(&NewEpisodePage {
        chrome: signed.chrome(state, "register-title"),
        problems: problems.clone(),
        identity,
        tdi,
        form_id,
    });
    super::form_answer(page, &problems)
}

/// `GET /episodes/new`.
async fn new_episode(State(state): State<AppState>, signed: SignedIn) -> Response {
    if let Err(refused) = super::refuse_unless(&state, &signed, Action::CreateEpisode).await {
        return refused;
    }
    episode_form(&state, &signed, &FormData::default(), Problems::default()).await
}

/// `POST /episodes/new`: the API's `POST /episodes`.
async fn register(State(state): State<AppState>, signed: SignedIn, form: FormData) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    // A role that may not do this is refused before its form is read.
    if let Err(refused) = super::refuse_unless(&state, &signed, Action::CreateEpisode).await {
        return refused;
    }
    let tr = signed.visitor.tr;
    let json = form.to_json(
        &["age_first_use", "ost_first_year", "age_first_injection"],
        &["secondary_drugs"],
        &["identity.personal_number", "notes"],
    );
    let body = serde_json::to_vec(&json).unwrap_or_default();
    let input: EpisodeInput = match crate::http::json::parse_json(&body) {
        Ok(input) => input,
        Err(ApiError::Invalid(fields)) => {
            return episode_form(&state, &signed, &form, Problems::from_fields(&tr, &fields)).await;
        }
        Err(e) => return api_error_page(&signed.visitor, e),
    };
    // The form's own id makes a second press of the button (or a reload) return
    // the first registration instead of a second one.
    let mut headers = HeaderMap::new();
    if let Ok(id) = uuid::Uuid::try_parse(form.one("form_id")) {
        if let Ok(key) = HeaderValue::from_str(&id.hyphenated().to_string()) {
            headers.insert("idempotency-key", key);
        }
    }
    match api::register_episode(
        State(state.clone()),
        headers,
        signed.user.clone(),
        ApiJson(input),
    )
    .await
    {
        Ok((_, ApiJson(done))) => {
            Redirect::to(&format!("/episodes/{}", done.episode_id)).into_response()
        }
        Err(ApiError::Invalid(fields)) => {
            episode_form(&state, &signed, &form, Problems::from_fields(&tr, &fields)).await
        }
        Err(ApiError::Conflict {
            code: "episode_continues",
            ..
        }) => {
            let problems = Problems::one(&tr, "treatment_start_date", tr.t("register-continues"));
            episode_form(&state, &signed, &form, problems).await
        }
        Err(e) => api_error_page(&signed.visitor, e),
    }
}

/// One episode in a list.
pub struct EpisodeLine {
    /// Link to it.
    pub href: String,
    /// Start year and quarter.
    pub started: String,
    /// Open or closed, translated.
    pub status: String,
    /// The primary drug's label.
    pub primary_drug: String,
}

/// The patient search.
#[derive(Template)]
#[template(path = "patients.html")]
struct PatientsPage {
    chrome: Chrome,
    problems: Problems,
    identity: Vec<Field>,
    searched: bool,
    episodes: Vec<EpisodeLine>,
}

/// The search asks for the identity without the personal number first; the number
/// alone also finds a person.
const SEARCH: &[(&str, Ask)] = &[
    ("identity.personal_number", Ask::Line),
    ("identity.first_name", Ask::Line),
    ("identity.last_name", Ask::Line),
    ("identity.birth_date", Ask::Line),
    ("identity.sex", Ask::Code("sex")),
];

fn patients_page(
    state: &AppState,
    signed: &SignedIn,
    form: &FormData,
    problems: Problems,
    episodes: Option<Vec<EpisodeLine>>,
) -> Response {
    let tr = signed.visitor.tr;
    let mut identity = fields(&tr, SEARCH, HINTED, form, &problems, &[]);
    for field in &mut identity {
        field.required = false;
    }
    let page = render(&PatientsPage {
        chrome: signed.chrome(state, "patients-title"),
        problems: problems.clone(),
        identity,
        searched: episodes.is_some(),
        episodes: episodes.unwrap_or_default(),
    });
    super::form_answer(page, &problems)
}

/// `GET /patients`.
async fn find_form(State(state): State<AppState>, signed: SignedIn) -> Response {
    if let Err(refused) = super::refuse_unless(&state, &signed, Action::ListEpisodes).await {
        return refused;
    }
    patients_page(
        &state,
        &signed,
        &FormData::default(),
        Problems::default(),
        None,
    )
}

/// `POST /patients`: the API's `POST /episodes/search`.
async fn find(State(state): State<AppState>, signed: SignedIn, form: FormData) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    // A role that may not do this is refused before its form is read.
    if let Err(refused) = super::refuse_unless(&state, &signed, Action::ListEpisodes).await {
        return refused;
    }
    let tr = signed.visitor.tr;
    let every: Vec<&str> = SEARCH.iter().map(|(name, _)| *name).collect();
    let json = form.to_json(&[], &[], &every);
    // The search takes the identity's fields at the top level.
    let search = json
        .get("identity")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    let body = serde_json::to_vec(&search).unwrap_or_default();
    let query = match crate::http::json::parse_json(&body) {
        Ok(query) => query,
        Err(ApiError::Invalid(fields)) => {
            let fields: Vec<_> = fields
                .into_iter()
                .map(|f| crate::field::FieldError::new(format!("identity.{}", f.field), f.problem))
                .collect();
            return patients_page(
                &state,
                &signed,
                &form,
                Problems::from_fields(&tr, &fields),
                None,
            );
        }
        Err(e) => return api_error_page(&signed.visitor, e),
    };
    match api::find_patient(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
        ApiJson(query),
    )
    .await
    {
        Ok(ApiJson(found)) => {
            let lines = found
                .episodes
                .into_iter()
                .map(|e| EpisodeLine {
                    href: format!("/episodes/{}", e.episode_id),
                    started: format!("{} T{}", e.start_year, e.start_quarter),
                    status: tr.t(&format!("status-{}", e.status)),
                    primary_drug: tr.code("substance", &e.primary_drug),
                })
                .collect();
            patients_page(&state, &signed, &form, Problems::default(), Some(lines))
        }
        Err(ApiError::Invalid(fields)) => {
            let fields: Vec<_> = fields
                .into_iter()
                .map(|f| {
                    crate::field::FieldError::new(
                        format!("identity.{}", f.field.trim_start_matches("identity.")),
                        f.problem,
                    )
                })
                .collect();
            patients_page(
                &state,
                &signed,
                &form,
                Problems::from_fields(&tr, &fields),
                None,
            )
        }
        Err(e) => api_error_page(&signed.visitor, e),
    }
}

/// One item of an episode, as shown.
pub struct Shown {
    /// The item's label.
    pub label: String,
    /// Its value, with the code's label.
    pub value: String,
}

/// An episode.
#[derive(Template)]
#[template(path = "episode.html")]
struct EpisodePage {
    chrome: Chrome,
    episode_id: String,
    registry_id: String,
    open: bool,
    status: String,
    items: Vec<Shown>,
    problems: Problems,
    end_date: String,
    reasons: Vec<Choice>,
    may_correct: bool,
}

/// The items the caller's role may see, as the API answered them: one document
/// of the clinical and the sensitive groups.
fn known_items(view: &api::EpisodeView) -> serde_json::Value {
    let mut known = serde_json::Map::new();
    for part in [
        serde_json::to_value(&view.tdi),
        serde_json::to_value(&view.sensitive),
    ] {
        if let Ok(serde_json::Value::Object(map)) = part {
            known.extend(map);
        }
    }
    if let Some(date) = &view.treatment_start_date {
        known.insert("treatment_start_date".into(), date.clone().into());
    }
    serde_json::Value::Object(known)
}

fn shown(tr: &Tr, view: &api::EpisodeView) -> Vec<Shown> {
    let coded = |list: &str, code: &str| format!("{code} · {}", tr.code(list, code));
    let label = |name: &str| tr.t(&format!("field-{}", name.replace(['.', '_'], "-")));
    let mut items = Vec::new();
    if let Some(identity) = &view.identity {
        for (name, value) in [
            ("identity.first_name", identity.first_name.clone()),
            ("identity.last_name", identity.last_name.clone()),
            ("identity.birth_date", identity.birth_date.clone()),
            ("identity.sex", coded("sex", &identity.sex)),
        ] {
            items.push(Shown {
                label: label(name),
                value,
            });
        }
    }
    let known = known_items(view);
    for &(name, ask) in TDI {
        if let Some(value) = known.get(name) {
            items.push(Shown {
                label: label(name),
                value: super::fields::shown(tr, ask, value),
            });
        }
    }
    if let Some(date) = &view.end_date {
        items.push(Shown {
            label: label("end_date"),
            value: date.clone(),
        });
    }
    if let Some(reason) = &view.end_reason {
        items.push(Shown {
            label: label("end_reason"),
            value: tr.t(&format!("end-reason-{}", reason.replace('_', "-"))),
        });
    }
    items
}

async fn episode_page(
    state: &AppState,
    signed: &SignedIn,
    episode_id: String,
    form: &FormData,
    problems: Problems,
) -> Response {
    let tr = signed.visitor.tr;
    let view = match api::get_episode(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
        RecordId(episode_id),
    )
    .await
    {
        Ok(ApiJson(view)) => view,
        Err(e) => return api_error_page(&signed.visitor, e),
    };
    let chosen = form.one("end_reason");
    let reasons = choices(
        &tr,
        &crate::cases::episodes::END_REASONS
            .iter()
            .map(|r| {
                (
                    r.to_string(),
                    tr.t(&format!("end-reason-{}", r.replace('_', "-"))),
                )
            })
            .collect::<Vec<_>>(),
        chosen,
    );
    let page = render(&EpisodePage {
        chrome: signed.chrome(state, "episode-title"),
        open: view.status == "open",
        status: tr.t(&format!("status-{}", view.status)),
        items: shown(&tr, &view),
        episode_id: view.episode_id,
        registry_id: view.registry_id,
        problems: problems.clone(),
        end_date: form.one("end_date").to_owned(),
        reasons,
        may_correct: super::shows(state, &signed.user, Action::UpdateEpisode, super::Desk::Own),
    });
    super::form_answer(page, &problems)
}

/// `GET /episodes/{id}`: the API's `GET /episodes/{id}`.
async fn episode(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(episode_id): Path<String>,
) -> Response {
    let Ok(id) = uuid::Uuid::try_parse(&episode_id) else {
        return api_error_page(&signed.visitor, ApiError::NotFound);
    };
    episode_page(
        &state,
        &signed,
        id.hyphenated().to_string(),
        &FormData::default(),
        Problems::default(),
    )
    .await
}

/// `POST /episodes/{id}/close`: the API's `POST /episodes/{id}/close`.
async fn close(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(episode_id): Path<String>,
    form: FormData,
) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    let Ok(id) = uuid::Uuid::try_parse(&episode_id) else {
        return api_error_page(&signed.visitor, ApiError::NotFound);
    };
    let id = id.hyphenated().to_string();
    let tr = signed.visitor.tr;
    let request = api::CloseRequest {
        end_date: form.one("end_date").trim().to_owned(),
        end_reason: form.one("end_reason").to_owned(),
    };
    match api::close_episode(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
        RecordId(id.clone()),
        ApiJson(request),
    )
    .await
    {
        Ok(_) => Redirect::to(&format!("/episodes/{id}")).into_response(),
        Err(ApiError::Invalid(fields)) => {
            episode_page(
                &state,
                &signed,
                id,
                &form,
                Problems::from_fields(&tr, &fields),
            )
            .await
        }
        Err(e) => api_error_page(&signed.visitor, e),
    }
}

/// The correction of an episode.
#[derive(Template)]
#[template(path = "episode_correct.html")]
struct CorrectionPage {
    chrome: Chrome,
    problems: Problems,
    episode_id: String,
    tdi: Vec<Field>,
    /// When the episode shown had last changed (sent back as `If-Match`).
    read_at: String,
}

async fn correction_page(
    state: &AppState,
    signed: &SignedIn,
    episode_id: String,
    form: &FormData,
    problems: Problems,
) -> Response {
    let tr = signed.visitor.tr;
    let slugs = match state.store.municipality_slugs().await {
        Ok(slugs) => slugs,
        Err(e) => return api_error_page(&signed.visitor, e.into()),
    };
    let page = render(&CorrectionPage {
        chrome: signed.chrome(state, "correct-title"),
        problems: problems.clone(),
        episode_id,
        tdi: fields(&tr, TDI, HINTED, form, &problems, &slugs),
        read_at: form.one("read_at").to_owned(),
    });
    super::form_answer(page, &problems)
}

/// `GET /episodes/{id}/correct`: the episode's items as the API answers them, in
/// the registration form.
async fn correction_form(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(episode_id): Path<String>,
) -> Response {
    if let Err(refused) = super::refuse_unless(&state, &signed, Action::UpdateEpisode).await {
        return refused;
    }
    let Some(id) = super::record_id(&episode_id) else {
        return api_error_page(&signed.visitor, ApiError::NotFound);
    };
    let view = match api::get_episode(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
        RecordId(id.clone()),
    )
    .await
    {
        Ok(ApiJson(view)) => view,
        Err(e) => return api_error_page(&signed.visitor, e),
    };
    // The form sends back every item: it is offered only to a role that sees
    // every item, or a blank it was never shown would clear a stored value.
    if view.tdi.is_none() || view.sensitive.is_none() {
        return api_error_page(&signed.visitor, ApiError::Forbidden);
    }
    let form = super::fields::prefilled(TDI, &known_items(&view)).with("read_at", &view.updated_at);
    correction_page(&state, &signed, id, &form, Problems::default()).await
}

/// `POST /episodes/{id}/correct`: the API's `PATCH /episodes/{id}`. Every item is
/// sent; the API changes those that differ and keeps the previous values in the
/// episode's history.
async fn correct(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(episode_id): Path<String>,
    form: FormData,
) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    if let Err(refused) = super::refuse_unless(&state, &signed, Action::UpdateEpisode).await {
        return refused;
    }
    let Some(id) = super::record_id(&episode_id) else {
        return api_error_page(&signed.visitor, ApiError::NotFound);
    };
    let tr = signed.visitor.tr;
    let numbers = ["age_first_use", "ost_first_year", "age_first_injection"];
    let mut json = form.to_json(&numbers, &["secondary_drugs"], &numbers);
    // What the form showed is what it sends: no secondary drug chosen means none
    // (a correction's empty list clears it), a blank number means not known (the
    // correction's 99), blank notes clear the notes.
    if json.get("secondary_drugs").is_none() {
        json["secondary_drugs"] = serde_json::json!([]);
    }
    for name in numbers {
        if form.one(name).trim().is_empty() {
            json[name] = crate::domain::items::NUMBER_NOT_KNOWN.into();
        }
    }
    if let Some(object) = json.as_object_mut() {
        object.remove("read_at");
    }
    // Applied only to the episode as the form showed it: a correction saved by
    // someone else meanwhile is not undone by this form's older values.
    let mut headers = HeaderMap::new();
    let read_at = form.one("read_at").trim();
    if let Some(read_at) = Some(read_at)
        .filter(|r| !r.is_empty())
        .and_then(|r| HeaderValue::from_str(r).ok())
    {
        headers.insert(axum::http::header::IF_MATCH, read_at);
    }
    let body = serde_json::to_vec(&json).unwrap_or_default();
    let outcome = match crate::http::json::parse_json(&body) {
        Ok(correction) => {
            api::correct_episode(
                State(state.clone()),
                headers,
                signed.user.clone(),
                RecordId(id.clone()),
                ApiJson(correction),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(_) => Redirect::to(&format!("/episodes/{id}")).into_response(),
        Err(ApiError::Invalid(fields)) => {
            correction_page(
                &state,
                &signed,
                id,
                &form,
                Problems::from_fields(&tr, &fields),
            )
            .await
        }
        Err(ApiError::Precondition { .. }) => super::message_page(
            &signed.visitor,
            StatusCode::PRECONDITION_FAILED,
            "error-title",
            "correct-changed",
        ),
        Err(e) => api_error_page(&signed.visitor, e),
    }
}

/// The substitution-treatment check.
#[derive(Template)]
#[template(path = "ost.html")]
struct OstPage {
    chrome: Chrome,
    problems: Problems,
    identity: Vec<Field>,
    answer: String,
}

fn ost_page(
    state: &AppState,
    signed: &SignedIn,
    form: &FormData,
    problems: Problems,
    answer: String,
) -> Response {
    let tr = signed.visitor.tr;
    let identity = fields(&tr, IDENTITY, HINTED, form, &problems, &[]);
    let page = render(&OstPage {
        chrome: signed.chrome(state, "ost-title"),
        problems: problems.clone(),
        identity,
        answer,
    });
    super::form_answer(page, &problems)
}

/// `GET /ost`.
async fn ost_form(State(state): State<AppState>, signed: SignedIn) -> Response {
    if let Err(refused) = super::refuse_unless(&state, &signed, Action::CheckOst).await {
        return refused;
    }
    ost_page(
        &state,
        &signed,
        &FormData::default(),
        Problems::default(),
        String::new(),
    )
}

/// `POST /ost`: the API's `POST /ost-checks`.
async fn ost_check(State(state): State<AppState>, signed: SignedIn, form: FormData) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    // A role that may not do this is refused before its form is read.
    if let Err(refused) = super::refuse_unless(&state, &signed, Action::CheckOst).await {
        return refused;
    }
    let tr = signed.visitor.tr;
    let body = serde_json::to_vec(&form.to_json(&[], &[], &["identity.personal_number"]))
        .unwrap_or_default();
    let request = match crate::http::json::parse_json(&body) {
        Ok(request) => request,
        Err(ApiError::Invalid(fields)) => {
            return ost_page(
                &state,
                &signed,
                &form,
                Problems::from_fields(&tr, &fields),
                String::new(),
            );
        }
        Err(e) => return api_error_page(&signed.visitor, e),
    };
    match api::ost_check(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
        ApiJson(request),
    )
    .await
    {
        Ok(ApiJson(answer)) => {
            let text = match answer.since_month {
                Some(month) if answer.in_ost_elsewhere => tr.t1("ost-yes", "month", month),
                _ => tr.t("ost-no"),
            };
            ost_page(&state, &signed, &form, Problems::default(), text)
        }
        Err(ApiError::Invalid(fields)) => ost_page(
            &state,
            &signed,
            &form,
            Problems::from_fields(&tr, &fields),
            String::new(),
        ),
        Err(e) => api_error_page(&signed.visitor, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages named by composing a key (labels, rules, roles, states) exist in
    /// every language; the literal ones are checked by the i18n tests.
    #[test]
    fn every_composed_message_exists_in_every_language() {
        let mut keys: Vec<String> = Vec::new();
        let fields = IDENTITY
            .iter()
            .chain(TDI)
            .chain(SEARCH)
            .map(|(name, _)| *name);
        let others = ["end_date", "end_reason", "username", "password", "totp"];
        let others =
            others
                .into_iter()
                .chain(["current_password", "new_password", "new_password_repeat"]);
        let reported = [
            "notification_id",
            "body",
            "identity.body",
            "custom_year",
            "custom_purpose",
        ];
        for name in fields.chain(others).chain(reported) {
            keys.push(format!("field-{}", name.replace(['.', '_'], "-")));
        }
        keys.extend(
            HINTED
                .iter()
                .map(|n| format!("hint-{}", n.replace(['.', '_'], "-"))),
        );
        keys.extend(
            crate::authz::Role::ALL
                .iter()
                .map(|r| format!("role-{}", r.as_str().replace('_', "-"))),
        );
        keys.extend(["status-open", "status-closed"].map(String::from));
        keys.extend(
            crate::cases::episodes::END_REASONS
                .iter()
                .map(|r| format!("end-reason-{}", r.replace('_', "-"))),
        );
        keys.extend(
            super::super::MENU
                .iter()
                .map(|(_, _, _, label)| (*label).to_owned()),
        );
        keys.extend(super::super::forms::message_ids().map(String::from));
        keys.extend(
            crate::export::tables::CUSTOM_DIMS
                .iter()
                .map(|d| format!("dim-{}", d.name().replace('_', "-"))),
        );
        keys.extend(
            ["national", "district", "municipality"].map(|g| format!("outputs-geography-{g}")),
        );
        crate::web::i18n::tests::assert_every_language_has(&keys);
    }

    #[test]
    fn the_form_asks_every_tdi_item_in_the_protocol_order() {
        let asked: Vec<&str> = TDI.iter().map(|(name, _)| *name).collect();
        assert_eq!(asked, EpisodeInput::ITEMS);
    }
}
