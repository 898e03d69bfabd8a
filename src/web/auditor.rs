//! The auditor's page: verify the audit log's hash chain, search its events, and
//! a data-subject access report. Each calls the API handler of the same request.

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::forms::{FormData, Problems};
use super::session::SignedIn;
use super::{Chrome, api_error_page, csrf_refused, refuse_unless, render};
use crate::audit::StoredEvent;
use crate::authz::Action;
use crate::http::ids::RecordId;
use crate::http::{ApiError, ApiJson, AppState, audit as api, subjects};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/audit", get(search))
        .route("/audit/verify", post(verify))
        .route("/audit/subject", get(subject))
}

/// The audit page: verification, search and the access report.
#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    problems: Problems,
    verified: String,
    verified_ok: bool,
    actor: String,
    object: String,
    from: String,
    to: String,
    events: Vec<StoredEvent>,
    searched: bool,
    registry_id: String,
    report: Vec<(String, String)>,
    held: Vec<[String; 4]>,
}

impl AuditPage {
    fn new(chrome: Chrome, query: &FormData) -> Self {
        Self {
            chrome,
            problems: Problems::default(),
            verified: String::new(),
            verified_ok: false,
            actor: query.one("actor").to_owned(),
            object: query.one("object").to_owned(),
            from: query.one("from").to_owned(),
            to: query.one("to").to_owned(),
            events: Vec::new(),
            searched: false,
            registry_id: query.one("registry_id").to_owned(),
            report: Vec::new(),
            held: Vec::new(),
        }
    }
}

fn finish(page: &AuditPage) -> Response {
    let mut rendered = render(page);
    if !page.problems.is_empty() {
        rendered.status = StatusCode::UNPROCESSABLE_ENTITY;
    }
    rendered.into_response()
}

/// `GET /audit[?actor=…&object=…&from=…&to=…]`: the API's `GET /audit/events`
/// (a read: the search is a link, so it needs no form token).
async fn search(
    State(state): State<AppState>,
    signed: SignedIn,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Err(refused) = refuse_unless(&state, &signed, Action::ReadAudit).await {
        return refused;
    }
    let tr = signed.visitor.tr;
    let query = FormData::from_query(raw.as_deref().unwrap_or_default());
    let mut page = AuditPage::new(signed.chrome(&state, "audit-title"), &query);
    let filters: Vec<(&str, &str)> = ["actor", "object", "from", "to"]
        .into_iter()
        .map(|name| (name, query.one(name).trim()))
        .filter(|(_, value)| !value.is_empty())
        .collect();
    if filters.is_empty() && query.one("search").is_empty() {
        return finish(&page);
    }
    let api_query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(filters)
        .append_pair("limit", "200")
        .finish();
    match api::list_events(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
        RawQuery(Some(api_query)),
    )
    .await
    {
        Ok(ApiJson(found)) => {
            page.events = found.events;
            page.searched = true;
        }
        Err(ApiError::Invalid(fields)) => page.problems = Problems::from_fields(&tr, &fields),
        Err(e) => return api_error_page(&signed.visitor, e),
    }
    finish(&page)
}

/// `POST /audit/verify`: the API's `POST /audit/verify`.
async fn verify(State(state): State<AppState>, signed: SignedIn, form: FormData) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    if let Err(refused) = refuse_unless(&state, &signed, Action::VerifyAudit).await {
        return refused;
    }
    let tr = signed.visitor.tr;
    let mut page = AuditPage::new(signed.chrome(&state, "audit-title"), &FormData::default());
    match api::verify(State(state.clone()), HeaderMap::new(), signed.user.clone()).await {
        Ok(ApiJson(result)) => {
            page.verified_ok = result.ok;
            page.verified = if result.ok {
                tr.count("audit-verified", "events", result.events)
            } else {
                tr.t1(
                    "audit-broken",
                    "seq",
                    result
                        .first_bad_seq
                        .map_or_else(|| "?".to_owned(), |s| s.to_string()),
                )
            };
        }
        Err(e) => return api_error_page(&signed.visitor, e),
    }
    finish(&page)
}

/// `GET /audit/subject?registry_id=…`: the API's access report.
async fn subject(
    State(state): State<AppState>,
    signed: SignedIn,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Err(refused) = refuse_unless(&state, &signed, Action::SubjectAccessReport).await {
        return refused;
    }
    let tr = signed.visitor.tr;
    let query = FormData::from_query(raw.as_deref().unwrap_or_default());
    let mut page = AuditPage::new(signed.chrome(&state, "audit-title"), &query);
    let Ok(id) = uuid::Uuid::try_parse(query.one("registry_id").trim()) else {
        page.problems = Problems::one(&tr, "registry_id", tr.t("audit-registry-id-problem"));
        return finish(&page);
    };
    let report = match subjects::access_report(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
        RecordId(id.hyphenated().to_string()),
    )
    .await
    {
        Ok(ApiJson(report)) => report,
        Err(ApiError::NotFound) => {
            page.problems = Problems::one(&tr, "registry_id", tr.t("audit-registry-id-unknown"));
            return finish(&page);
        }
        Err(e) => return api_error_page(&signed.visitor, e),
    };
    page.report = vec![
        (tr.t("episode-registry-id"), report.registry_id.clone()),
        (tr.t("field-identity-sex"), tr.code("sex", &report.sex)),
        (tr.t("audit-birth-year"), report.birth_year.to_string()),
        (
            tr.t("audit-linked-records"),
            report.linked_records.to_string(),
        ),
    ];
    // The person's own data, which the request is about (GDPR art. 15): the
    // identity as submitted, when the role may see it and it was not erased.
    if let Some(identity) = &report.identity {
        let label = |name: &str| super::forms::label(&tr, name);
        page.report
            .push((label("identity.first_name"), identity.first_name.clone()));
        page.report
            .push((label("identity.last_name"), identity.last_name.clone()));
        page.report
            .push((label("identity.birth_date"), identity.birth_date.clone()));
    }
    if let Some(erased) = &report.erased_at {
        page.report.push((tr.t("audit-erased-at"), erased.clone()));
    }
    page.held = report
        .held
        .into_iter()
        .map(|h| {
            [
                tr.t(&format!("record-{}", h.kind.replace('_', "-"))),
                format!("{} {}", h.year, tr.t1("outputs-quarter", "n", h.quarter)),
                h.held_by,
                h.recorded_at,
            ]
        })
        .collect();
    finish(&page)
}
