//! Forensic medicine's pages: the deaths and police notifications, a death record
//! with the ICD-10 causes found by a search on the server, toxicology rows and the
//! background of the deceased, and the EMCDDA Selection B and D result once saved;
//! and, as the early-warning contact point, the new substances reported in deaths
//! and in overdoses seen by emergency departments and police. Each calls the API
//! handler of the same request.

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::fields::{ANSWERS, Ask, Choice, Field, IDENTITY, UNIDENTIFIED, choices, fields};
use super::forms::{FormData, Problems};
use super::i18n::Tr;
use super::session::SignedIn;
use super::{Chrome, api_error_page, csrf_refused, refuse_unless, render};
use crate::authz::Action;
use crate::domain::death::{ForensicInput, MATRICES, PLACE_TYPES, RECENT_RELEASES};
use crate::http::deaths as api;
use crate::http::ids::RecordId;
use crate::http::{ApiError, ApiJson, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/deaths", get(list))
        .route("/deaths/new", get(new_form).post(submit))
        .route("/deaths/{death_id}", get(view))
        .route("/substance-signals", get(signals))
}

const DEATH: &[(&str, Ask)] = &[
    ("date_of_death", Ask::Date),
    ("municipality", Ask::Municipality),
    ("place_type", Ask::Pick("place", PLACE_TYPES)),
    ("underlying_cause", Ask::Line),
    ("multiple_causes", Ask::Line),
    ("manner", Ask::Pick("manner", MANNERS)),
];

/// The manners a record may state (the statistics' `99` is "not recorded").
const MANNERS: &[&str] = &[
    "natural",
    "accident",
    "suicide",
    "homicide",
    "undetermined",
    "pending",
];

const BACKGROUND: &[(&str, Ask)] = &[
    ("background.residence", Ask::Municipality),
    ("background.nationality", Ask::Line),
    ("background.route", Ask::Code("route")),
    ("background.known_drug_user", Ask::Pick("answer", ANSWERS)),
    (
        "background.recent_release",
        Ask::Pick("release", RECENT_RELEASES),
    ),
    ("background.in_ost_at_death", Ask::Pick("answer", ANSWERS)),
    ("circumstances", Ask::Text),
];

const HINTED: &[&str] = &[
    "sex",
    "underlying_cause",
    "multiple_causes",
    "manner",
    "background.residence",
    "background.nationality",
];

/// The yes-or-no questions asked as checkboxes.
const CHECKS: &[&str] = &[
    "autopsy_done",
    "toxicology_done",
    "manner_confirmed",
    "final_status",
];

/// Toxicology rows the form offers.
const SUBSTANCE_ROWS: usize = 5;

/// One toxicology row as the form shows it.
pub struct SubstanceRow {
    /// Row number (1-based), for names and ids.
    pub n: usize,
    /// Substance choices.
    pub codes: Vec<Choice>,
    /// New psychoactive substance name.
    pub nps_name: String,
    /// Contributed to the death.
    pub relevant: bool,
    /// Specimen choices.
    pub matrices: Vec<Choice>,
    /// Concentration as reported.
    pub concentration: String,
    /// What is wrong with the row.
    pub problem: String,
}

/// One ICD-10 code found by the search.
pub struct Found {
    /// The code.
    pub code: String,
    /// The WHO title (English: the classification's own words).
    pub label: String,
}

/// The death record form.
#[derive(Template)]
#[template(path = "death_new.html")]
struct DeathForm {
    chrome: Chrome,
    problems: Problems,
    notification_id: String,
    identity: Vec<Field>,
    death: Vec<Field>,
    checks: Vec<(String, String, bool)>,
    substances: Vec<SubstanceRow>,
    background: Vec<Field>,
    icd_query: String,
    found: Vec<Found>,
    searched: bool,
}

async fn form_page(
    state: &AppState,
    signed: &SignedIn,
    form: &FormData,
    problems: Problems,
    found: Option<Vec<Found>>,
) -> Response {
    let tr = signed.visitor.tr;
    let slugs = match state.store.municipality_slugs().await {
        Ok(slugs) => slugs,
        Err(e) => return api_error_page(&signed.visitor, e.into()),
    };
    let mut background = fields(&tr, BACKGROUND, HINTED, form, &problems, &slugs);
    // A residence may be abroad, or not known.
    if let Some(residence) = background.first_mut() {
        let chosen = form.one("background.residence");
        for extra in ["abroad", "99"] {
            residence.choices[0].push(Choice {
                value: extra.to_owned(),
                label: tr.t(&format!("residence-{extra}")),
                selected: chosen == extra,
            });
        }
    }
    let substance_options: Vec<(String, String)> = crate::domain::codes::SUBSTANCE
        .iter()
        .map(|c| {
            (
                (*c).to_owned(),
                format!("{c} · {}", tr.code("substance", c)),
            )
        })
        .collect();
    let matrix_options: Vec<(String, String)> = MATRICES
        .iter()
        .map(|m| ((*m).to_owned(), tr.t(&format!("matrix-{m}"))))
        .collect();
    let substances = (1..=SUBSTANCE_ROWS)
        .map(|n| {
            let name = |field: &str| format!("substances.{n}.{field}");
            SubstanceRow {
                n,
                codes: choices(&tr, &substance_options, form.one(&name("code"))),
                nps_name: form.one(&name("nps_name")).to_owned(),
                relevant: !form.one(&name("cause_relevant")).is_empty(),
                matrices: choices(&tr, &matrix_options, form.one(&name("matrix"))),
                concentration: form.one(&name("concentration")).to_owned(),
                problem: problems.of(&format!("substances[{}]", n - 1)),
            }
        })
        .collect();
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
    let searched = found.is_some();
    // The deceased may not be identified: nothing of the identity is required.
    let mut identity = fields(&tr, IDENTITY, HINTED, form, &problems, &slugs);
    identity.extend(fields(&tr, UNIDENTIFIED, HINTED, form, &problems, &slugs));
    for field in &mut identity {
        field.required = false;
    }
    let mut death = fields(&tr, DEATH, HINTED, form, &problems, &slugs);
    // The clinical forms' municipality is of residence; here it is of death.
    if let Some(municipality) = death.iter_mut().find(|f| f.name == "municipality") {
        municipality.label = tr.t("field-municipality-of-death");
    }
    let page = render(&DeathForm {
        chrome: signed.chrome(state, "death-new-title"),
        problems: problems.clone(),
        notification_id: form.one("notification_id").to_owned(),
        identity,
        death,
        checks,
        substances,
        background,
        icd_query: form.one("icd_query").to_owned(),
        found: found.unwrap_or_default(),
        searched,
    });
    super::form_answer(page, &problems)
}

/// `GET /deaths/new[?notification=…]`: a new record, or one completing a police
/// notification.
async fn new_form(
    State(state): State<AppState>,
    signed: SignedIn,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(refused) = refuse_unless(&state, &signed, Action::CreateDeathRecord).await {
        return refused;
    }
    let mut form = FormData::default();
    let notification = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "notification")
        .and_then(|(_, id)| uuid::Uuid::try_parse(&id).ok());
    if let Some(id) = notification {
        form = form.with("notification_id", &id.hyphenated().to_string());
    }
    form_page(&state, &signed, &form, Problems::default(), None).await
}

/// The form as the API's death record, and for each toxicology row sent, the
/// form's row it came from (the API names problems by the rows it was sent).
fn to_input(form: &FormData) -> (Value, Vec<usize>) {
    let text = |name: &str| form.one(name).trim().to_owned();
    let optional = |name: &str| {
        let value = text(name);
        (!value.is_empty()).then_some(Value::from(value))
    };
    let number = |name: &str| {
        let value = text(name);
        (!value.is_empty()).then(|| {
            value
                .parse::<u64>()
                .map_or_else(|_| Value::from(value.clone()), Value::from)
        })
    };
    let answer = |name: &str| form.answer(name);
    let mut input = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            input.insert(key.to_owned(), value);
        }
    };
    put("notification_id", optional("notification_id"));
    let names = ["first_name", "last_name", "birth_date", "personal_number"];
    if names
        .iter()
        .any(|n| !text(&format!("identity.{n}")).is_empty())
    {
        put(
            "identity",
            Some(json!({
                "first_name": text("identity.first_name"),
                "last_name": text("identity.last_name"),
                "birth_date": text("identity.birth_date"),
                "sex": text("identity.sex"),
                "personal_number": optional("identity.personal_number"),
            })),
        );
    } else {
        put("sex", optional("sex"));
        put("age", number("age"));
    }
    for key in ["date_of_death", "municipality", "place_type", "manner"] {
        put(key, Some(Value::from(text(key))));
    }
    put("underlying_cause", optional("underlying_cause"));
    let causes: Vec<Value> = text("multiple_causes")
        .split([',', ';', ' '])
        .filter(|c| !c.is_empty())
        .map(Value::from)
        .collect();
    put("multiple_causes", Some(Value::Array(causes)));
    for key in CHECKS {
        put(key, Some(Value::Bool(!form.one(key).is_empty())));
    }
    // A row with anything in it is sent, so a half-filled row is reported, not
    // dropped.
    let mut rows = Vec::new();
    let substances: Vec<Value> = (1..=SUBSTANCE_ROWS)
        .filter_map(|n| {
            let name = |field: &str| format!("substances.{n}.{field}");
            let (code, nps) = (optional(&name("code")), optional(&name("nps_name")));
            let (matrix, concentration) =
                (optional(&name("matrix")), optional(&name("concentration")));
            let relevant = !form.one(&name("cause_relevant")).is_empty();
            if code.is_none()
                && nps.is_none()
                && matrix.is_none()
                && concentration.is_none()
                && !relevant
            {
                return None;
            }
            rows.push(n);
            Some(json!({
                "code": code,
                "nps_name": nps,
                "cause_relevant": relevant,
                "matrix": matrix,
                "concentration": concentration,
            }))
        })
        .collect();
    put("substances", Some(Value::Array(substances)));
    put("circumstances", optional("circumstances"));
    let mut background = Map::new();
    for (key, value) in [
        ("residence", optional("background.residence")),
        ("nationality", optional("background.nationality")),
        ("route", optional("background.route")),
        ("known_drug_user", answer("background.known_drug_user")),
        ("recent_release", optional("background.recent_release")),
        ("in_ost_at_death", answer("background.in_ost_at_death")),
    ] {
        if let Some(value) = value {
            background.insert(key.to_owned(), value);
        }
    }
    put("background", Some(Value::Object(background)));
    (Value::Object(input), rows)
}

/// The API's problems with toxicology rows named by the form's rows.
fn by_form_row(
    fields: Vec<crate::field::FieldError>,
    rows: &[usize],
) -> Vec<crate::field::FieldError> {
    fields
        .into_iter()
        .map(|mut f| {
            let sent = f
                .field
                .strip_prefix("substances[")
                .and_then(|rest| rest.split_once(']'))
                .and_then(|(i, rest)| Some((i.parse::<usize>().ok()?, rest.to_owned())));
            if let Some((i, rest)) = sent {
                if let Some(row) = rows.get(i) {
                    f.field = format!("substances[{}]{rest}", row - 1);
                }
            }
            f
        })
        .collect()
}

/// `POST /deaths/new`: search the ICD-10 list, pick a code from it, or save (the
/// API's `POST /deaths`).
async fn submit(State(state): State<AppState>, signed: SignedIn, form: FormData) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    if let Err(refused) = refuse_unless(&state, &signed, Action::CreateDeathRecord).await {
        return refused;
    }
    let tr = signed.visitor.tr;
    let picked = form.one("pick_cause");
    if !picked.is_empty() {
        let form = form.with("underlying_cause", picked);
        return form_page(&state, &signed, &form, Problems::default(), None).await;
    }
    if form.one("action") == "search" {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("q", form.one("icd_query").trim())
            .finish();
        return match crate::http::reference::list_icd10(
            State(state.clone()),
            HeaderMap::new(),
            signed.user.clone(),
            RawQuery(Some(query)),
        )
        .await
        {
            Ok(ApiJson(found)) => {
                let found = found
                    .items
                    .into_iter()
                    .map(|c| Found {
                        code: c.code,
                        label: c.label,
                    })
                    .collect();
                form_page(&state, &signed, &form, Problems::default(), Some(found)).await
            }
            Err(ApiError::Invalid(_)) => {
                let problems = Problems::one(&tr, "icd_query", tr.t("death-search-length"));
                form_page(&state, &signed, &form, problems, Some(Vec::new())).await
            }
            Err(e) => api_error_page(&signed.visitor, e),
        };
    }
    let (input, rows) = to_input(&form);
    let body = serde_json::to_vec(&input).unwrap_or_default();
    let input: ForensicInput = match crate::http::json::parse_json(&body) {
        Ok(input) => input,
        Err(ApiError::Invalid(fields)) => {
            return form_page(
                &state,
                &signed,
                &form,
                Problems::from_fields(&tr, &by_form_row(fields, &rows)),
                None,
            )
            .await;
        }
        Err(e) => return api_error_page(&signed.visitor, e),
    };
    match api::create_death(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
        ApiJson(input),
    )
    .await
    {
        Ok((_, ApiJson(created))) => {
            Redirect::to(&format!("/deaths/{}", created.id)).into_response()
        }
        Err(ApiError::Invalid(fields)) => {
            form_page(
                &state,
                &signed,
                &form,
                Problems::from_fields(&tr, &by_form_row(fields, &rows)),
                None,
            )
            .await
        }
        Err(e) => api_error_page(&signed.visitor, e),
    }
}

/// One line of the list.
pub struct Line {
    /// Link to the record.
    pub href: String,
    /// Link to complete a notification, when only the police have reported it.
    pub complete: Option<String>,
    /// Year.
    pub year: i64,
    /// Municipality.
    pub municipality: String,
    /// What is recorded, translated.
    pub state: String,
    /// Selection B, translated.
    pub b: String,
    /// Selection D, translated.
    pub d: String,
}

/// The list page.
#[derive(Template)]
#[template(path = "deaths.html")]
struct ListPage {
    chrome: Chrome,
    lines: Vec<Line>,
}

fn yes_no(tr: &Tr, value: bool) -> String {
    tr.t(if value { "answer-yes" } else { "answer-no" })
}

/// `GET /deaths`: the API's `GET /deaths`.
async fn list(State(state): State<AppState>, signed: SignedIn) -> Response {
    if let Err(refused) = refuse_unless(&state, &signed, Action::ListDeathRecords).await {
        return refused;
    }
    let tr = signed.visitor.tr;
    let rows =
        match api::list_deaths(State(state.clone()), HeaderMap::new(), signed.user.clone()).await {
            Ok(ApiJson(rows)) => rows,
            Err(e) => return api_error_page(&signed.visitor, e),
        };
    let lines = rows
        .into_iter()
        .map(|r| Line {
            href: format!("/deaths/{}", r.id),
            complete: (r.has_notification && !r.has_forensic)
                .then(|| format!("/deaths/new?notification={}", r.id)),
            year: r.year,
            municipality: tr.municipality(&r.municipality),
            state: tr.t(match (r.has_forensic, r.forensic_complete) {
                (_, true) => "death-state-final",
                (true, false) => "death-state-draft",
                (false, _) => "death-state-police",
            }),
            b: yes_no(&tr, r.selection_b),
            d: yes_no(&tr, r.selection_d),
        })
        .collect();
    render(&ListPage {
        chrome: signed.chrome(&state, "deaths-title"),
        lines,
    })
    .into_response()
}

/// New substances reported in deaths and overdoses (strategy item 3.1.7).
#[derive(Template)]
#[template(path = "signals.html")]
struct SignalsPage {
    chrome: Chrome,
    signals: Vec<api::SubstanceSignal>,
}

/// `GET /substance-signals`: the API's `GET /substance-signals`. Names and counts
/// only: no record, no person, no place.
async fn signals(State(state): State<AppState>, signed: SignedIn) -> Response {
    if let Err(refused) = refuse_unless(&state, &signed, Action::ListNewSubstances).await {
        return refused;
    }
    match api::substance_signals(State(state.clone()), HeaderMap::new(), signed.user.clone()).await
    {
        Ok(ApiJson(signals)) => render(&SignalsPage {
            chrome: signed.chrome(&state, "signals-title"),
            signals,
        })
        .into_response(),
        Err(e) => api_error_page(&signed.visitor, e),
    }
}

/// A death record.
#[derive(Template)]
#[template(path = "death.html")]
struct ViewPage {
    chrome: Chrome,
    items: Vec<(String, String)>,
    selection_b: String,
    selection_d: String,
}

/// `GET /deaths/{id}`: the API's `GET /deaths/{id}`.
async fn view(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(death_id): Path<String>,
) -> Response {
    let Ok(id) = uuid::Uuid::try_parse(&death_id) else {
        return api_error_page(&signed.visitor, ApiError::NotFound);
    };
    let tr = signed.visitor.tr;
    let death = match api::get_death(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
        RecordId(id.hyphenated().to_string()),
    )
    .await
    {
        Ok(ApiJson(death)) => death,
        Err(e) => return api_error_page(&signed.visitor, e),
    };
    let label = |name: &str| super::forms::label(&tr, name);
    let mut items = vec![
        (
            label("date_of_death"),
            death
                .date_of_death
                .clone()
                .unwrap_or_else(|| death.year.to_string()),
        ),
        (
            tr.t("field-municipality-of-death"),
            tr.municipality(&death.municipality),
        ),
        (
            label("place_type"),
            tr.t(&format!("place-{}", death.place_type.replace('_', "-"))),
        ),
        (label("identity.sex"), tr.code("sex", &death.sex)),
        (label("age_band"), tr.code("age_band", &death.age_band)),
    ];
    if let Some(manner) = &death.manner {
        items.push((label("manner"), tr.t(&format!("manner-{manner}"))));
    }
    if let Some(cause) = &death.underlying_cause {
        items.push((label("underlying_cause"), cause.clone()));
    }
    if !death.multiple_causes.is_empty() {
        items.push((label("multiple_causes"), death.multiple_causes.join(", ")));
    }
    for substance in death.substances.iter().flatten() {
        let name = substance
            .code
            .as_deref()
            .map(|c| format!("{c} · {}", tr.code("substance", c)))
            .or_else(|| substance.nps_name.clone())
            .unwrap_or_default();
        let role = tr.t(if substance.cause_relevant {
            "death-cause-relevant"
        } else {
            "death-present"
        });
        items.push((label("substances"), format!("{name} ({role})")));
    }
    let selection = |member: bool, rule: &str| {
        format!("{} — {}: {rule}", yes_no(&tr, member), tr.t("death-rule"))
    };
    render(&ViewPage {
        chrome: signed.chrome(&state, "death-title"),
        items,
        selection_b: selection(death.selection_b, &death.selection_b_rule),
        selection_d: selection(death.selection_d, &death.selection_d_rule),
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages this page composes from field names and values exist in every
    /// language.
    #[test]
    fn every_composed_message_exists_in_every_language() {
        let mut keys: Vec<String> = Vec::new();
        let label = |name: &str| format!("field-{}", name.replace(['.', '_'], "-"));
        for (name, ask) in IDENTITY
            .iter()
            .chain(UNIDENTIFIED)
            .chain(DEATH)
            .chain(BACKGROUND)
        {
            keys.push(label(name));
            if let Ask::Pick(prefix, values) = ask {
                keys.extend(
                    values
                        .iter()
                        .map(|v| format!("{prefix}-{}", v.replace('_', "-"))),
                );
            }
        }
        keys.extend(CHECKS.iter().map(|c| label(c)));
        keys.extend(
            [
                "substances",
                "age_band",
                "icd_query",
                "municipality_of_death",
            ]
            .map(label),
        );
        keys.extend(
            HINTED
                .iter()
                .map(|n| format!("hint-{}", n.replace(['.', '_'], "-"))),
        );
        keys.extend(MATRICES.iter().map(|m| format!("matrix-{m}")));
        keys.extend(["abroad", "99"].map(|r| format!("residence-{r}")));
        keys.extend(
            crate::domain::death::PLACE_TYPES
                .iter()
                .map(|p| format!("place-{}", p.replace('_', "-"))),
        );
        keys.extend(
            crate::export::tables::MANNERS
                .iter()
                .map(|m| format!("manner-{m}")),
        );
        crate::web::i18n::tests::assert_every_language_has(&keys);
    }
}
