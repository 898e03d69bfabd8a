//! The browser's session: cookies, the CSRF token every form carries, and the
//! pages that log in, log out, change the password and choose the language.
//!
//! The session cookie holds the same opaque token the API hands out (256 random
//! bits; the database keeps only its hash), so a browser session is a session like
//! any other: same idle and absolute timeouts, same login throttling and TOTP step,
//! same forced password change. It is `HttpOnly`, `SameSite=Strict` and, over TLS,
//! `Secure` with the `__Host-` prefix. Every form carries a token derived from the
//! cookie's secret (the session token, or before login a random visit token), which
//! a page of another site can neither read nor compute.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::forms::{FormData, Problems};
use super::i18n::{Lang, Tr};
use super::{Chrome, Page, render};
use crate::cases::login::{self, LoginError};
use crate::http::AppState;
use crate::http::auth::{CurrentUser, NoCaller};
use crate::http::client::Client;

const SESSION: &str = "registry_session";
const VISIT: &str = "registry_visit";
const LANGUAGE: &str = "registry_lang";

/// What every request from a browser brings: its cookies, language and transport.
#[derive(Clone)]
pub struct Visitor {
    /// The page language.
    pub tr: Tr,
    /// The session token from the cookie, if any.
    session: Option<String>,
    /// The visit token (before login), if any.
    visit: Option<String>,
    /// Whether the browser came over TLS (through a trusted proxy).
    https: bool,
    /// The path asked for (the language menu returns to it).
    pub path: String,
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
        // Only values this service could have set: base64url tokens, language tags.
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl Visitor {
    fn cookie_name(&self, name: &str) -> String {
        // Over TLS the `__Host-` prefix makes the browser refuse a cookie that is
        // not Secure, has a Domain, or another Path: no sibling host can plant one.
        if self.https {
            format!("__Host-{name}")
        } else {
            name.to_owned()
        }
    }

    /// A `Set-Cookie` header for `name`: `None` deletes it; without `max_age` it
    /// lasts while the browser is open (a session on a shared workstation ends when
    /// the browser is closed, and at the session's own timeouts before that).
    fn set_cookie(&self, name: &str, value: Option<&str>, max_age: Option<i64>) -> HeaderValue {
        let secure = if self.https { "; Secure" } else { "" };
        let lifetime = match (value, max_age) {
            (None, _) => "; Max-Age=0".to_owned(),
            (Some(_), Some(seconds)) => format!("; Max-Age={seconds}"),
            (Some(_), None) => String::new(),
        };
        HeaderValue::from_str(&format!(
            "{}={}; Path=/; HttpOnly; SameSite=Strict{lifetime}{secure}",
            self.cookie_name(name),
            value.unwrap_or_default(),
        ))
        .expect("cookie names and values are plain ASCII")
    }

    /// The CSRF token for forms on this visit.
    pub fn csrf(&self) -> String {
        self.session
            .as_deref()
            .or(self.visit.as_deref())
            .map(csrf_of)
            .unwrap_or_default()
    }

    /// Checks a submitted form's CSRF token against the cookie's secret.
    pub fn check_csrf(&self, form: &FormData) -> bool {
        let expected = self.csrf();
        let given = form.one("csrf");
        !expected.is_empty() && constant_time_eq(expected.as_bytes(), given.as_bytes())
    }

    /// A visit token cookie, when the browser has none yet (the login form's
    /// CSRF token is derived from it).
    fn with_visit(mut self) -> (Self, Option<HeaderValue>) {
        if self.visit.is_some() {
            return (self, None);
        }
        let Ok((token, _)) = crate::auth::token::new_token() else {
            return (self, None);
        };
        let header = self.set_cookie(VISIT, Some(&token), None);
        self.visit = Some(token.to_string());
        (self, Some(header))
    }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let https = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|ConnectInfo(peer)| {
                Client::of(*peer, &parts.headers, &state.settings.trusted_proxies).https
            });
        let prefix = if https { "__Host-" } else { "" };
        let headers = &parts.headers;
        let named = |name: &str| cookie(headers, &format!("{prefix}{name}")).map(str::to_owned);
        let lang = Lang::negotiate(
            named(LANGUAGE).as_deref(),
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        );
        Ok(Self {
            tr: Tr { lang },
            session: named(SESSION),
            visit: named(VISIT),
            https,
            path: parts.uri.path().to_owned(),
        })
    }
}

/// The CSRF token of a cookie secret: a hash no other site can compute without the
/// cookie, which it cannot read.
fn csrf_of(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(
        format!("registry-csrf\0{secret}").as_bytes(),
    ))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A logged-in browser user: the same caller the API resolves from a bearer token.
pub struct SignedIn {
    /// The caller, for the API's handlers.
    pub user: CurrentUser,
    /// The browser visit.
    pub visitor: Visitor,
}

impl SignedIn {
    /// The frame of a page for this user, with the links their role may follow.
    pub fn chrome(&self, state: &AppState, title_key: &str) -> Chrome {
        Chrome::signed_in(state, &self.visitor, &self.user, title_key)
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Ok(visitor) = Visitor::from_request_parts(parts, state).await;
        let Some(token) = visitor.session.clone() else {
            return Err(Redirect::to("/login").into_response());
        };
        let password_page = parts.uri.path() == "/password" || parts.uri.path() == "/logout";
        match CurrentUser::from_token(state, &token, password_page).await {
            Ok(user) => Ok(Self { user, visitor }),
            Err(NoCaller::Expired) => Err(Redirect::to("/login").into_response()),
            Err(NoCaller::PasswordChange) => Err(Redirect::to("/password").into_response()),
            Err(NoCaller::Failed(e)) => Err(super::api_error_page(&visitor, e)),
        }
    }
}

/// The login page.
#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    problems: Problems,
    username: String,
}

fn login_page_for(visitor: &Visitor, problems: Problems, username: String) -> Page {
    let chrome = Chrome::anonymous(visitor, "login-title");
    render(&LoginPage {
        chrome,
        problems,
        username,
    })
}

/// `GET /login`.
pub async fn login_form(visitor: Visitor) -> Response {
    let (visitor, set) = visitor.with_visit();
    let mut response = login_page_for(&visitor, Problems::default(), String::new()).into_response();
    if let Some(set) = set {
        response.headers_mut().append(header::SET_COOKIE, set);
    }
    response
}

/// `POST /login`: the API's login use case, then the session cookie.
pub async fn login_submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    visitor: Visitor,
    form: FormData,
) -> Response {
    if !visitor.check_csrf(&form) {
        return super::csrf_refused(&visitor);
    }
    let client = Client::of(peer, &headers, &state.settings.trusted_proxies);
    let username = form.one("username").trim().to_owned();
    let password = Zeroizing::new(form.one("password").to_owned());
    let totp = form.one("totp").trim();
    let totp = (!totp.is_empty()).then_some(totp);
    let tr = visitor.tr;
    let problem = |field: &str, key: &str| Problems::one(&tr, field, tr.t(key));
    let problems = match login::login(
        &state.store,
        &state.keys,
        &username,
        password,
        totp,
        &client.address.to_string(),
    )
    .await
    {
        Ok(done) => {
            // A session this browser held before ends: one browser, one session.
            if let Some(old) = visitor.session.as_deref() {
                if let Ok(before) = CurrentUser::from_token(&state, old, true).await {
                    let _ = login::logout(
                        &state.store,
                        &before.token_hash,
                        &before.principal.user_id,
                        before.principal.role.as_str(),
                    )
                    .await;
                }
            }
            let mut response = Redirect::to("/").into_response();
            let cookie = visitor.set_cookie(SESSION, Some(&done.token), None);
            response.headers_mut().append(header::SET_COOKIE, cookie);
            return response;
        }
        Err(LoginError::InvalidCredentials) => problem("password", "login-wrong"),
        Err(LoginError::TotpRequired) => problem("totp", "login-totp-required"),
        Err(LoginError::Locked(seconds)) => Problems::one(
            &tr,
            "username",
            tr.count("login-locked", "seconds", seconds),
        ),
        Err(LoginError::Invalid(fields)) => Problems::from_fields(&tr, &fields),
        Err(LoginError::Store(e)) => return super::api_error_page(&visitor, e.into()),
        Err(LoginError::Internal(what)) => {
            return super::api_error_page(
                &visitor,
                crate::http::ApiError::Internal(anyhow::anyhow!("login: {what}")),
            );
        }
    };
    let mut page = login_page_for(&visitor, problems, username);
    page.status = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    page.into_response()
}

/// `POST /logout`: ends the session (audited like the API's) and drops the cookie.
pub async fn logout(State(state): State<AppState>, signed: SignedIn, form: FormData) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return super::csrf_refused(&signed.visitor);
    }
    let user = &signed.user;
    if let Err(e) = login::logout(
        &state.store,
        &user.token_hash,
        &user.principal.user_id,
        user.principal.role.as_str(),
    )
    .await
    {
        return super::api_error_page(&signed.visitor, e.into());
    }
    let mut response = Redirect::to("/login").into_response();
    let gone = signed.visitor.set_cookie(SESSION, None, None);
    response.headers_mut().append(header::SET_COOKIE, gone);
    response
}

/// The password change page.
#[derive(askama::Template)]
#[template(path = "password.html")]
struct PasswordPage {
    chrome: Chrome,
    problems: Problems,
    done: bool,
}

/// `GET /password`.
pub async fn password_form(State(state): State<AppState>, signed: SignedIn) -> Response {
    render(&PasswordPage {
        chrome: signed.chrome(&state, "password-title"),
        problems: Problems::default(),
        done: false,
    })
    .into_response()
}

/// `POST /password`: the API's password change.
pub async fn password_submit(
    State(state): State<AppState>,
    signed: SignedIn,
    form: FormData,
) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return super::csrf_refused(&signed.visitor);
    }
    let tr = signed.visitor.tr;
    let new = form.one("new_password");
    let problems = if new != form.one("new_password_repeat") {
        Problems::one(&tr, "new_password_repeat", tr.t("password-repeat-differs"))
    } else {
        let record = match state.store.user_by_id(&signed.user.principal.user_id).await {
            Ok(Some(record)) => record,
            Ok(None) => {
                return super::api_error_page(&signed.visitor, crate::http::ApiError::NotFound);
            }
            Err(e) => return super::api_error_page(&signed.visitor, e.into()),
        };
        match login::change_password(
            &state.store,
            &record,
            Zeroizing::new(form.one("current_password").to_owned()),
            Zeroizing::new(new.to_owned()),
        )
        .await
        {
            Ok(()) => {
                return render(&PasswordPage {
                    chrome: signed.chrome(&state, "password-title"),
                    problems: Problems::default(),
                    done: true,
                })
                .into_response();
            }
            Err(LoginError::Invalid(fields)) => Problems::from_fields(&tr, &fields),
            Err(LoginError::Store(e)) => return super::api_error_page(&signed.visitor, e.into()),
            Err(_) => Problems::one(&tr, "current_password", tr.t("problem-invalid")),
        }
    };
    let mut page = render(&PasswordPage {
        chrome: signed.chrome(&state, "password-title"),
        problems,
        done: false,
    });
    page.status = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    page.into_response()
}

/// `POST /language`: remembers the chosen language and returns to the page.
pub async fn choose_language(visitor: Visitor, form: FormData) -> Response {
    if !visitor.check_csrf(&form) {
        return super::csrf_refused(&visitor);
    }
    let lang = Lang::from_tag(form.one("lang")).unwrap_or(Lang::Sq);
    // Back to a page of this site only: a local path, never `//host` or a scheme.
    let back = form.one("back");
    let local = back.starts_with('/')
        && !back.starts_with("//")
        && back.len() <= 200
        && back
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b));
    let back = if local { back } else { "/" };
    let mut response = Redirect::to(back).into_response();
    let cookie = visitor.set_cookie(LANGUAGE, Some(lang.tag()), Some(365 * 24 * 3600));
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}
