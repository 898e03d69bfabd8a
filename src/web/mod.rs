//! The browser interface: server-rendered pages in Albanian, Serbian and English,
//! served by the same binary as the API.
//!
//! A page is another client of the API's handlers: it turns its form into the
//! request the API takes, calls the same handler (so the same decision point,
//! validation and audit), and renders the answer. No page needs JavaScript, and
//! none runs any: the Content-Security-Policy allows no script at all.

mod admin;
mod analyst;
mod auditor;
mod clinician;
mod emergency;
mod facilities;
mod fields;
mod forensic;
mod forms;
pub mod i18n;
mod police;
mod registrar;
mod session;
mod social;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::authz::Action;
use crate::http::auth::CurrentUser;
use crate::http::{ApiError, AppState};
use i18n::{Lang, Tr};
use session::{SignedIn, Visitor};

/// Pages may load their own style sheet and submit forms to this site; nothing
/// else: no script, no frame, no plug-in, no other origin.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The pages, with their own Content-Security-Policy.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route(
            "/login",
            get(session::login_form).post(session::login_submit),
        )
        .route("/logout", post(session::logout))
        .route(
            "/password",
            get(session::password_form).post(session::password_submit),
        )
        .route("/language", post(session::choose_language))
        .route("/static/registry.css", get(stylesheet))
        .merge(clinician::router())
        .merge(emergency::router())
        .merge(analyst::router())
        .merge(forensic::router())
        .merge(social::router())
        .merge(police::router())
        .merge(auditor::router())
        .merge(admin::router())
        .merge(facilities::router())
        .merge(registrar::router())
        .fallback(page_not_found)
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        ))
}

/// A link in the menu.
pub struct Link {
    /// Where it goes.
    pub href: &'static str,
    /// Its label.
    pub label: String,
    /// Whether it is the page shown.
    pub current: bool,
}

/// What every page's frame shows: language, title, the user and their menu.
pub struct Chrome {
    /// Translations in the page's language.
    pub tr: Tr,
    /// The page title.
    pub title: String,
    /// The user's login name, when logged in.
    pub user: Option<String>,
    /// The user's role, translated.
    pub role: String,
    /// The links the user's role may follow.
    pub nav: Vec<Link>,
    /// The CSRF token every form of the page carries.
    pub csrf: String,
    /// The page's path (the language menu returns to it).
    pub here: String,
    /// The languages offered.
    pub languages: Vec<LangChoice>,
}

/// A language of the language menu.
pub struct LangChoice {
    /// Its tag.
    pub tag: &'static str,
    /// Its own name.
    pub name: &'static str,
    /// Whether the page is in it.
    pub chosen: bool,
}

/// Where a page acts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Desk {
    /// The user's own scope: their facility, municipality or own reports.
    Own,
    /// Their facility's emergency department (the clinical overdose pages): only
    /// an emergency-capable facility has one.
    EmergencyDepartment,
}

/// A record of `action`'s kind where a page of `desk` acts for `user`.
fn page_scope(user: &CurrentUser, action: Action, desk: Desk) -> crate::authz::Resource {
    // As the API's list and read decide: a closed facility's department still
    // reads what it recorded; recording anew is refused by the API.
    let emergency = desk == Desk::EmergencyDepartment
        && user.facility.as_ref().is_some_and(|f| f.emergency_capable);
    crate::cases::access::own_scope(&user.principal, action, emergency)
}

/// Whether the policies let `user` do `action` where a page of `desk` acts.
fn shows(state: &AppState, user: &CurrentUser, action: Action, desk: Desk) -> bool {
    let resource = page_scope(user, action, desk);
    state.gate.shows(&user.principal, action, &resource)
}

/// The pages of the menu, each with the action its page needs and where it acts:
/// a link is shown only when the policies allow that action there.
const MENU: &[(&str, Action, Desk, &str)] = &[
    (
        "/episodes/new",
        Action::CreateEpisode,
        Desk::Own,
        "nav-register",
    ),
    ("/patients", Action::ListEpisodes, Desk::Own, "nav-patients"),
    ("/ost", Action::CheckOst, Desk::Own, "nav-ost"),
    (
        "/overdoses",
        Action::ListOverdoses,
        Desk::EmergencyDepartment,
        "nav-overdoses",
    ),
    (
        "/contacts",
        Action::ListSocialContacts,
        Desk::Own,
        "nav-contacts",
    ),
    (
        "/notifications",
        Action::ListDeathNotifications,
        Desk::Own,
        "nav-notifications",
    ),
    (
        "/police-overdoses/new",
        Action::CreateOverdose,
        Desk::Own,
        "nav-police-overdose",
    ),
    ("/deaths", Action::ListDeathRecords, Desk::Own, "nav-deaths"),
    (
        "/substance-signals",
        Action::ListNewSubstances,
        Desk::Own,
        "nav-signals",
    ),
    ("/outputs", Action::RunExport, Desk::Own, "nav-outputs"),
    ("/audit", Action::ReadAudit, Desk::Own, "nav-audit"),
    ("/reviews", Action::ReviewLinks, Desk::Own, "nav-reviews"),
    ("/admin", Action::ManageUsers, Desk::Own, "nav-admin"),
    (
        "/admin/facilities",
        Action::ManageFacilities,
        Desk::Own,
        "nav-facilities",
    ),
];

impl Chrome {
    fn anonymous(visitor: &Visitor, title_key: &str) -> Self {
        let tr = visitor.tr;
        Self {
            tr,
            title: tr.t(title_key),
            user: None,
            role: String::new(),
            nav: Vec::new(),
            csrf: visitor.csrf(),
            here: visitor.path.clone(),
            languages: Lang::ALL
                .iter()
                .map(|l| LangChoice {
                    tag: l.tag(),
                    name: l.name(),
                    chosen: *l == tr.lang,
                })
                .collect(),
        }
    }

    fn signed_in(state: &AppState, visitor: &Visitor, user: &CurrentUser, title_key: &str) -> Self {
        let tr = visitor.tr;
        let nav = MENU
            .iter()
            .filter(|(_, action, desk, _)| shows(state, user, *action, *desk))
            .map(|(href, _, _, label)| Link {
                href,
                label: tr.t(label),
                current: visitor.path == *href,
            })
            .collect();
        Self {
            user: Some(user.username.clone()),
            role: tr.t(&format!(
                "role-{}",
                user.principal.role.as_str().replace('_', "-")
            )),
            nav,
            ..Self::anonymous(visitor, title_key)
        }
    }
}

/// A rendered page and its status.
pub struct Page {
    /// The HTTP status.
    pub status: StatusCode,
    body: Result<String, askama::Error>,
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        match self.body {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "page template failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
        }
    }
}

/// Renders a page with status 200.
pub fn render(template: &impl Template) -> Page {
    Page {
        status: StatusCode::OK,
        body: template.render(),
    }
}

/// A form's page: 422 when it comes back with problems, so a client (and a
/// test) sees the refusal without reading the page.
fn form_answer(mut page: Page, problems: &forms::Problems) -> Response {
    if !problems.is_empty() {
        page.status = StatusCode::UNPROCESSABLE_ENTITY;
    }
    page.into_response()
}

/// The home page: the user's menu.
#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
}

async fn home(
    axum::extract::State(state): axum::extract::State<AppState>,
    signed: SignedIn,
) -> Response {
    render(&HomePage {
        chrome: signed.chrome(&state, "home-title"),
    })
    .into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/registry.css"),
    )
        .into_response()
}

/// A page that says what went wrong, in the user's language.
#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    chrome: Chrome,
    message: String,
}

fn message_page(
    visitor: &Visitor,
    status: StatusCode,
    title_key: &str,
    message_key: &str,
) -> Response {
    let chrome = Chrome::anonymous(visitor, title_key);
    let message = visitor.tr.t(message_key);
    let mut page = render(&MessagePage { chrome, message });
    page.status = status;
    page.into_response()
}

async fn page_not_found(visitor: Visitor) -> Response {
    message_page(
        &visitor,
        StatusCode::NOT_FOUND,
        "error-title",
        "error-not-found",
    )
}

/// Refuses a page whose action the user's role may not do in their own scope.
/// The refusal goes through the decision point, which records it in the audit log
/// as it does an API call's; an allowed page is decided again, and audited, by the
/// API handler it calls.
async fn refuse_unless(
    state: &AppState,
    signed: &SignedIn,
    action: Action,
) -> Result<(), Response> {
    refuse_unless_at(state, signed, action, Desk::Own).await
}

/// [`refuse_unless`] for a page that acts where `desk` says.
async fn refuse_unless_at(
    state: &AppState,
    signed: &SignedIn,
    action: Action,
    desk: Desk,
) -> Result<(), Response> {
    if shows(state, &signed.user, action, desk) {
        return Ok(());
    }
    let resource = page_scope(&signed.user, action, desk);
    let refused = state
        .authorize(
            &signed.user,
            action,
            &resource,
            &axum::http::HeaderMap::new(),
        )
        .await
        .err()
        .unwrap_or(ApiError::Forbidden);
    Err(api_error_page(&signed.visitor, refused))
}

/// A record id from a path or a form, in the API's canonical form; `None` for
/// anything that is not one.
fn record_id(raw: &str) -> Option<String> {
    uuid::Uuid::try_parse(raw.trim())
        .ok()
        .map(|id| id.hyphenated().to_string())
}

/// A form whose CSRF token does not match the browser's cookie.
fn csrf_refused(visitor: &Visitor) -> Response {
    message_page(visitor, StatusCode::FORBIDDEN, "error-title", "error-csrf")
}

/// An API error that is not about a form field, as a page.
fn api_error_page(visitor: &Visitor, error: ApiError) -> Response {
    let (status, key) = match &error {
        ApiError::Forbidden => (StatusCode::FORBIDDEN, "error-forbidden"),
        ApiError::NotFound => (StatusCode::NOT_FOUND, "error-not-found"),
        ApiError::Unauthenticated { .. } => return Redirect::to("/login").into_response(),
        ApiError::TooManyAttempts(_) => (StatusCode::TOO_MANY_REQUESTS, "error-too-many"),
        ApiError::Conflict { .. } => (StatusCode::CONFLICT, "error-conflict"),
        ApiError::Internal(e) => {
            tracing::error!(error = %e, "page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "error-internal")
        }
        _ => {
            let status = error.into_response().status();
            if status.is_server_error() {
                (status, "error-internal")
            } else {
                (status, "error-bad-request")
            }
        }
    };
    message_page(visitor, status, "error-title", key)
}
