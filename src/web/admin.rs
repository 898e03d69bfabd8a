//! The administrator's page: user accounts (add, re-scope, disable) and the key
//! status; the facility register has its own pages (`facilities.rs`). Each calls the API handler of the same request.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::forms::{FormData, Problems};
use super::i18n::Tr;
use super::session::SignedIn;
use super::{Chrome, api_error_page, csrf_refused, refuse_unless, render};
use crate::authz::{Action, Role};
use crate::http::ids::RecordId;
use crate::http::{ApiError, ApiJson, AppState, keys, reference, users};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(admin_page).post(add_user))
        .route("/admin/scope", post(rescope))
        .route("/admin/disable", post(disable))
}

/// One account as listed.
pub struct Account {
    /// Public id (for the forms).
    pub user_id: String,
    /// Login name.
    pub username: String,
    /// Role, translated.
    pub role: String,
    /// Facility or municipality.
    pub scope: String,
    /// State, translated.
    pub state: String,
    /// Whether it can still be disabled.
    pub active: bool,
}

/// The page.
#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    chrome: Chrome,
    problems: Problems,
    accounts: Vec<Account>,
    roles: Vec<(String, String, bool)>,
    facilities: Vec<(String, String, bool)>,
    municipalities: Vec<(String, String, bool)>,
    username: String,
    created: String,
    keys: Vec<[String; 4]>,
    /// The form sent (`add` or `rescope`), whose role and scope selects get the
    /// ids its problems link to; empty when none was.
    posted: &'static str,
}

fn role_name(tr: &Tr, role: &str) -> String {
    tr.t(&format!("role-{}", role.replace('_', "-")))
}

async fn page(
    state: &AppState,
    signed: &SignedIn,
    form: &FormData,
    problems: Problems,
    created: String,
) -> Response {
    let tr = signed.visitor.tr;
    let (user, headers) = (signed.user.clone(), HeaderMap::new());
    let accounts =
        match users::list_users(State(state.clone()), headers.clone(), user.clone()).await {
            Ok(ApiJson(list)) => list.items,
            Err(e) => return api_error_page(&signed.visitor, e),
        };
    let facilities =
        match reference::list_facilities(State(state.clone()), headers.clone(), user.clone()).await
        {
            Ok(ApiJson(list)) => list.items,
            Err(e) => return api_error_page(&signed.visitor, e),
        };
    let keys = match keys::key_status(State(state.clone()), headers, user).await {
        Ok(ApiJson(list)) => list,
        Err(e) => return api_error_page(&signed.visitor, e),
    };
    let slugs = match state.store.municipality_slugs().await {
        Ok(slugs) => slugs,
        Err(e) => return api_error_page(&signed.visitor, e.into()),
    };
    let chosen = |name: &str, value: &str| form.one(name) == value;
    let page = render(&AdminPage {
        chrome: signed.chrome(state, "admin-title"),
        problems: problems.clone(),
        accounts: accounts
            .into_iter()
            .map(|a| Account {
                scope: a
                    .facility
                    .clone()
                    .or_else(|| a.municipality.as_deref().map(|m| tr.municipality(m)))
                    .unwrap_or_default(),
                state: tr.t(match (&a.disabled_at, a.must_change_password) {
                    (Some(_), _) => "admin-disabled",
                    (None, true) => "admin-must-change",
                    (None, false) => "admin-active",
                }),
                active: a.disabled_at.is_none(),
                role: role_name(&tr, &a.role),
                user_id: a.user_id,
                username: a.username,
            })
            .collect(),
        roles: Role::ALL
            .iter()
            .map(|r| {
                (
                    r.as_str().to_owned(),
                    role_name(&tr, r.as_str()),
                    chosen("role", r.as_str()),
                )
            })
            .collect(),
        facilities: facilities
            .iter()
            .map(|f| {
                (
                    f.code.clone(),
                    format!("{} ({})", f.name, f.code),
                    chosen("facility", &f.code),
                )
            })
            .collect(),
        municipalities: slugs
            .iter()
            .map(|m| (m.clone(), tr.municipality(m), chosen("municipality", m)))
            .collect(),
        username: form.one("username").to_owned(),
        created,
        // Only the re-scope form sends an account's id.
        posted: match (form.one("user_id").is_empty(), problems.is_empty()) {
            (false, _) => "rescope",
            (true, false) => "add",
            (true, true) => "",
        },
        keys: keys
            .into_iter()
            .map(|k| [k.kind, k.version.to_string(), k.state, k.rows.to_string()])
            .collect(),
    });
    super::form_answer(page, &problems)
}

/// `GET /admin`.
async fn admin_page(State(state): State<AppState>, signed: SignedIn) -> Response {
    if let Err(refused) = refuse_unless(&state, &signed, Action::ManageUsers).await {
        return refused;
    }
    page(
        &state,
        &signed,
        &FormData::default(),
        Problems::default(),
        String::new(),
    )
    .await
}

/// The role and scope fields of a form, as the API takes them.
fn scope_json(form: &FormData) -> Value {
    let optional = |name: &str| {
        let value = form.one(name).trim();
        (!value.is_empty()).then(|| value.to_owned())
    };
    json!({
        "role": form.one("role"),
        "facility": optional("facility"),
        "municipality": optional("municipality"),
    })
}

/// `POST /admin`: the API's `POST /users` (a generated one-time password, shown
/// once, to be changed at first login).
async fn add_user(State(state): State<AppState>, signed: SignedIn, form: FormData) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    if let Err(refused) = refuse_unless(&state, &signed, Action::ManageUsers).await {
        return refused;
    }
    let tr = signed.visitor.tr;
    let mut body = scope_json(&form);
    body["username"] = Value::from(form.one("username").trim());
    let request =
        match crate::http::json::parse_json(&serde_json::to_vec(&body).unwrap_or_default()) {
            Ok(request) => request,
            Err(ApiError::Invalid(fields)) => {
                return page(
                    &state,
                    &signed,
                    &form,
                    Problems::from_fields(&tr, &fields),
                    String::new(),
                )
                .await;
            }
            Err(e) => return api_error_page(&signed.visitor, e),
        };
    match users::create_user(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
        ApiJson(request),
    )
    .await
    {
        Ok((_, ApiJson(created))) => {
            let shown = tr.t1(
                "admin-created",
                "password",
                created.initial_password.unwrap_or_default(),
            );
            page(
                &state,
                &signed,
                &FormData::default(),
                Problems::default(),
                shown,
            )
            .await
        }
        Err(ApiError::Invalid(fields)) => {
            page(
                &state,
                &signed,
                &form,
                Problems::from_fields(&tr, &fields),
                String::new(),
            )
            .await
        }
        Err(ApiError::Conflict {
            code: "username_taken",
            ..
        }) => {
            page(
                &state,
                &signed,
                &form,
                Problems::one(&tr, "username", tr.t("admin-username-taken")),
                String::new(),
            )
            .await
        }
        Err(e) => api_error_page(&signed.visitor, e),
    }
}

/// `POST /admin/scope`: the API's `PUT /users/{id}/scope`.
async fn rescope(State(state): State<AppState>, signed: SignedIn, form: FormData) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    let Some(id) = super::record_id(form.one("user_id")) else {
        return api_error_page(&signed.visitor, ApiError::NotFound);
    };
    let tr = signed.visitor.tr;
    let request = match crate::http::json::parse_json(
        &serde_json::to_vec(&scope_json(&form)).unwrap_or_default(),
    ) {
        Ok(request) => request,
        Err(ApiError::Invalid(fields)) => {
            return page(
                &state,
                &signed,
                &form,
                Problems::from_fields(&tr, &fields),
                String::new(),
            )
            .await;
        }
        Err(e) => return api_error_page(&signed.visitor, e),
    };
    match users::rescope_user(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
        RecordId(id),
        ApiJson(request),
    )
    .await
    {
        Ok(_) => Redirect::to("/admin").into_response(),
        Err(ApiError::Invalid(fields)) => {
            page(
                &state,
                &signed,
                &form,
                Problems::from_fields(&tr, &fields),
                String::new(),
            )
            .await
        }
        Err(e) => api_error_page(&signed.visitor, e),
    }
}

/// `POST /admin/disable`: the API's `POST /users/{id}/disable`.
async fn disable(State(state): State<AppState>, signed: SignedIn, form: FormData) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    let Some(id) = super::record_id(form.one("user_id")) else {
        return api_error_page(&signed.visitor, ApiError::NotFound);
    };
    match users::disable_user(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
        RecordId(id),
    )
    .await
    {
        Ok(_) => Redirect::to("/admin").into_response(),
        Err(e) => api_error_page(&signed.visitor, e),
    }
}
