//! The browser interface over plain HTTP, as a browser would send it (cookies,
//! forms, redirects), without a browser: sessions, CSRF, the page policy,
//! languages, role refusals and the clinician's forms. `browser.rs` drives the same
//! pages in a real Chromium.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

use crate::helpers::{TEST_PASSWORD, TestApp};

backend_tests!(
    a_browser_session_is_a_cookie_and_every_form_needs_its_token,
    the_language_follows_the_choice_then_the_browser,
    police_see_no_clinical_link_and_are_refused_its_pages,
    a_clinician_registers_finds_and_closes_through_the_forms,
    a_clinician_corrects_an_episode_through_the_form,
    an_emergency_department_records_and_reads_overdoses,
    hostile_form_bodies_get_a_page_not_a_failure,
    an_analyst_downloads_the_workbook_and_builds_a_custom_table,
    forensic_medicine_records_a_death_through_the_form,
    a_social_worker_records_and_lists_contacts,
    police_notify_list_and_amend_their_own_notifications,
    an_auditor_verifies_searches_and_reports,
    an_administrator_adds_rescopes_and_disables_accounts,
    an_administrator_manages_the_facility_register,
    a_registrar_decides_a_pair_side_by_side,
);

/// A cookie-keeping client that does not follow redirects.
pub struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
    accept_language: Option<&'static str>,
}

/// One answer: status, headers and page.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// Where a redirect goes.
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The `Set-Cookie` line for `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The CSRF token the page's forms carry.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let at = self.body.find(marker).expect("the page has a form") + marker.len();
        self.body[at..]
            .split('"')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: app.base.clone(),
            cookies: BTreeMap::new(),
            accept_language: None,
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let mut request = request;
        if !self.cookies.is_empty() {
            let header: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request = request.header(reqwest::header::COOKIE, header.join("; "));
        }
        if let Some(lang) = self.accept_language {
            request = request.header(reqwest::header::ACCEPT_LANGUAGE, lang);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        for line in headers.get_all(SET_COOKIE).iter() {
            let line = line.to_str().expect("ascii cookie");
            let pair = line.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || line.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let body = response.text().await.unwrap_or_default();
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        self.send(request).await
    }

    /// Logs in through the login form; panics unless it works.
    pub async fn log_in(&mut self, username: &str) {
        let page = self.get("/login").await;
        let csrf = page.csrf();
        let done = self
            .post(
                "/login",
                &[
                    ("csrf", &csrf),
                    ("username", username),
                    ("password", TEST_PASSWORD),
                ],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert_eq!(done.location(), "/");
    }
}

fn html_lang(body: &str) -> &str {
    let at = body.find("<html lang=\"").expect("an html page") + "<html lang=\"".len();
    body[at..].split('"').next().unwrap_or_default()
}

async fn a_browser_session_is_a_cookie_and_every_form_needs_its_token(app: TestApp) {
    let clinician = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/login").await;
    assert_eq!(page.status, 200);
    // The policy allows the style sheet and forms to this site, and no script.
    let policy = page.headers["content-security-policy"]
        .to_str()
        .expect("ascii");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("form-action 'self'"), "{policy}");
    assert!(
        !policy.contains("script") && !policy.contains("unsafe"),
        "{policy}"
    );
    assert!(!page.body.contains("<script"), "no script on any page");
    assert!(!page.body.contains(" style=\""), "no inline style");
    let visit = page.set_cookie("registry_visit").expect("a visit cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(visit.contains(flag), "{visit}");
    }
    assert!(!visit.contains("Secure"), "plain HTTP: {visit}");
    let csrf = page.csrf();
    assert!(csrf.len() >= 40, "{csrf}");

    // Without the token, or with another, the form is refused and no session made.
    for token in ["", "forged-token-forged-token-forged-token-xx"] {
        let refused = browser
            .post(
                "/login",
                &[
                    ("csrf", token),
                    ("username", &clinician.username),
                    ("password", TEST_PASSWORD),
                ],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(refused.set_cookie("registry_session").is_none());
    }
    // A wrong password: the form again, in Albanian, without what was typed.
    let wrong = browser
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", &clinician.username),
                ("password", "Wrong-Password-Typed-9"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong.body.contains("fjalëkalimi është gabim"),
        "{}",
        wrong.body
    );
    assert!(!wrong.body.contains("Wrong-Password-Typed-9"));
    assert!(wrong.set_cookie("registry_session").is_none());

    let done = browser
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", &clinician.username),
                ("password", TEST_PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let session = done.set_cookie("registry_session").expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(flag), "{session}");
    }
    // It lasts while the browser is open (a shared workstation), not for hours.
    assert!(
        !session.contains("Max-Age") && !session.contains("Expires"),
        "{session}"
    );
    let first = browser.cookies["registry_session"].clone();
    // Logging in again in the same browser ends the session it held.
    browser.log_in(&clinician.username).await;
    let (status, _) = app
        .send(reqwest::Method::GET, "/api/v1/me", Some(&first), None)
        .await;
    assert_eq!(status, 401, "the earlier session was ended");
    let home = browser.get("/").await;
    assert_eq!(home.status, 200);
    assert_eq!(html_lang(&home.body), "sq");
    assert!(home.body.contains(&clinician.username));
    assert!(home.body.contains("href=\"/episodes/new\""));
    // The session's token changes the forms' token: the login page's no longer works.
    let csrf = home.csrf();
    let stale = browser.post("/logout", &[("csrf", "")]).await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
    assert_eq!(browser.get("/").await.status, 200, "still logged in");
    let out = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/login");
    let after = browser.get("/").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.location(), "/login");

    // Behind the trusted proxy over TLS the cookies are Secure and `__Host-`.
    let proxied = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("client");
    let page = proxied
        .get(format!("{}/login", app.base))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .expect("sent");
    let cookie = page
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-registry_visit="))
        .expect("a __Host- cookie over TLS")
        .to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

async fn the_language_follows_the_choice_then_the_browser(app: TestApp) {
    let mut browser = Browser::new(&app);
    browser.accept_language = Some("sr-Latn-RS, en;q=0.5");
    let page = browser.get("/login").await;
    assert_eq!(html_lang(&page.body), "sr-Latn");
    assert!(page.body.contains("Korisničko ime"), "{}", page.body);
    let csrf = page.csrf();
    let chosen = browser
        .post(
            "/language",
            &[("csrf", &csrf), ("lang", "en"), ("back", "/login")],
        )
        .await;
    assert_eq!(chosen.status, StatusCode::SEE_OTHER);
    assert_eq!(chosen.location(), "/login");
    let page = browser.get("/login").await;
    assert_eq!(html_lang(&page.body), "en", "the choice beats the browser");
    assert!(page.body.contains("Username"));
    // The way back is a page of this site only.
    for back in [
        "//evil.example/x",
        "https://evil.example/",
        "/a\r\nSet-Cookie: x=1",
        "\\\\evil",
    ] {
        let answer = browser
            .post(
                "/language",
                &[("csrf", &csrf), ("lang", "sq"), ("back", back)],
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        assert_eq!(answer.location(), "/", "{back:?}");
    }
    // Without the token the choice is refused.
    let refused = browser
        .post("/language", &[("lang", "sq"), ("back", "/")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // No language asked for at all: Albanian.
    let mut plain = Browser::new(&app);
    assert_eq!(html_lang(&plain.get("/login").await.body), "sq");
}

async fn police_see_no_clinical_link_and_are_refused_its_pages(app: TestApp) {
    let police = app.user("police", None, None).await;
    let mut browser = Browser::new(&app);
    browser.log_in(&police.username).await;
    let home = browser.get("/").await;
    assert_eq!(home.status, 200);
    for link in ["/episodes/new", "/patients", "/ost"] {
        assert!(
            !home.body.contains(&format!("href=\"{link}\"")),
            "{link} shown to police"
        );
        let page = browser.get(link).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{link}");
        assert!(page.body.contains("Roli juaj nuk mund"), "{}", page.body);
    }
    // Sending the form anyway is refused, the refusal audited like an API call's.
    let csrf = home.csrf();
    let sent = browser
        .post(
            "/episodes/new",
            &[
                ("csrf", &csrf),
                ("identity.first_name", "Arben"),
                ("identity.last_name", "Krasniqi"),
                ("identity.birth_date", "1990-01-01"),
                ("identity.sex", "1"),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::FORBIDDEN);
    let mut conn = crate::helpers::raw_connection(&app.database_url).await;
    let (denials,): (i64,) = sqlx::query_as(
        "select count(*) from audit_event where actor = $1 and action = 'create_episode' \
         and outcome = 'denied'",
    )
    .bind(&police.user_id)
    .fetch_one(&mut conn)
    .await
    .expect("audit");
    assert!(denials >= 2, "{denials} denials audited");
    let (episodes,): (i64,) = sqlx::query_as("select count(*) from episode")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert_eq!(episodes, 0);
}

/// The registration form with every TDI item, in English.
fn episode_form<'a>(
    csrf: &'a str,
    form_id: &'a str,
    first_name: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("form_id", form_id),
        ("identity.first_name", first_name),
        ("identity.last_name", "Berisha"),
        ("identity.birth_date", "1991-03-04"),
        ("identity.sex", "2"),
        ("identity.personal_number", ""),
        ("municipality", "prishtine"),
        ("treatment_start_date", "2025-02-03"),
        ("treatment_status", "2"),
        ("referral_source", "6"),
        ("living_with", "2"),
        ("living_with_children", "1"),
        ("living_where", "1"),
        ("labour_status", "4"),
        ("education", "3"),
        ("primary_drug", "1.1"),
        ("route", "1"),
        ("frequency", "1"),
        ("age_first_use", "19"),
        ("secondary_drugs", "7.1"),
        ("secondary_drugs", ""),
        ("polydrug", "1"),
        ("ost_status", "3"),
        ("ost_first_year", "2023"),
        ("injecting", "2.3"),
        ("age_first_injection", "21"),
        ("sharing", "1"),
        ("hiv_testing", "2.2"),
        ("hcv_testing", "2.2"),
        ("notes", ""),
    ]
}

fn replace<'a>(form: &mut [(&'a str, &'a str)], name: &str, value: &'a str) {
    for pair in form.iter_mut() {
        if pair.0 == name {
            pair.1 = value;
            return;
        }
    }
    panic!("no field {name}");
}

async fn a_clinician_registers_finds_and_closes_through_the_forms(app: TestApp) {
    let clinician = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let mut browser = Browser::new(&app);
    browser.accept_language = Some("en");
    browser.log_in(&clinician.username).await;
    let page = browser.get("/episodes/new").await;
    assert_eq!(page.status, 200);
    // Every TDI item is asked, with labels and code-list labels in English.
    for item in [
        "f-identity-first_name",
        "f-municipality",
        "f-secondary_drugs",
        "f-hcv_testing",
    ] {
        assert!(page.body.contains(&format!("id=\"{item}")), "{item}");
    }
    assert!(page.body.contains("1.1 · heroin"));
    assert!(page.body.contains("Prishtinë / Priština"));
    let csrf = page.csrf();
    let form_id = uuid::Uuid::new_v4().to_string();

    // A number that is not one is a problem of the document's shape, reported
    // first (as the API does).
    let mut form = episode_form(&csrf, &form_id, "");
    replace(&mut form, "injecting", "1");
    replace(&mut form, "age_first_injection", "");
    replace(&mut form, "sharing", "99");
    replace(&mut form, "age_first_use", "nineteen");
    let refused = browser.post("/episodes/new", &form).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("must be a whole number"),
        "{}",
        refused.body
    );
    assert_eq!(html_lang(&refused.body), "en");
    // Then the rules, all at once: the municipality missing, and "never injected"
    // beside a drug usually injected. Each is named beside its field. (The first
    // name may stay empty: a partial identity is accepted.)
    let mut form = episode_form(&csrf, &form_id, "");
    replace(&mut form, "municipality", "");
    replace(&mut form, "injecting", "1");
    replace(&mut form, "age_first_injection", "");
    replace(&mut form, "sharing", "99");
    let refused = browser.post("/episodes/new", &form).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    for (id, text) in [
        ("f-municipality-problem", "is required"),
        (
            "f-injecting-problem",
            "when the primary drug is usually injected",
        ),
    ] {
        let at = refused.body.find(&format!("id=\"{id}\"")).expect(id);
        let line = refused.body[at..].lines().next().unwrap_or_default();
        assert!(line.contains(text), "{id}: {line}");
    }
    assert!(
        refused.body.contains("href=\"#f-injecting\""),
        "the summary links to the field"
    );
    // The form comes back as it was sent, so nothing has to be typed again.
    assert!(refused.body.contains("value=\"Berisha\""));

    // Corrected: registered, and the page of the new episode.
    let form = episode_form(&csrf, &form_id, "Drita");
    let done = browser.post("/episodes/new", &form).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let episode = done.location().to_owned();
    assert!(episode.starts_with("/episodes/"), "{episode}");
    // Pressing the button again returns the same episode (the form's own id).
    let again = browser.post("/episodes/new", &form).await;
    assert_eq!(again.location(), episode);
    let shown = browser.get(&episode).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains("Drita"));
    assert!(shown.body.contains("id=\"status\">open<"));

    // Found again by a slip in the name.
    let found = browser
        .post(
            "/patients",
            &[
                ("csrf", &csrf),
                ("identity.first_name", "Dritta"),
                ("identity.last_name", "Berisha"),
                ("identity.birth_date", "1991-03-04"),
                ("identity.sex", "2"),
            ],
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert!(
        found.body.contains(&format!("href=\"{episode}\"")),
        "{}",
        found.body
    );

    // Closing: a future date is refused beside the field, then it closes.
    let close = format!("{episode}/close");
    let future = browser
        .post(
            &close,
            &[
                ("csrf", &csrf),
                ("end_date", "2999-01-01"),
                ("end_reason", "completed"),
            ],
        )
        .await;
    assert_eq!(future.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(future.body.contains("must not be in the future"));
    let closed = browser
        .post(
            &close,
            &[
                ("csrf", &csrf),
                ("end_date", "2025-06-30"),
                ("end_reason", "completed"),
            ],
        )
        .await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER);
    let shown = browser.get(&episode).await;
    assert!(
        shown.body.contains("id=\"status\">closed<"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("treatment completed"));

    // The same audit as the API: the registration and the close are recorded
    // under the clinician, and the search as find_patient.
    let mut conn = crate::helpers::raw_connection(&app.database_url).await;
    for action in ["create_episode", "update_episode", "find_patient"] {
        let (n,): (i64,) =
            sqlx::query_as("select count(*) from audit_event where actor = $1 and action = $2")
                .bind(&clinician.user_id)
                .bind(action)
                .fetch_one(&mut conn)
                .await
                .expect("audit");
        assert!(n >= 1, "{action} not audited");
    }

    // Another facility's clinician does not see it.
    let other = app.user("clinician", Some("hosp-prizren"), None).await;
    let mut elsewhere = Browser::new(&app);
    elsewhere.log_in(&other.username).await;
    assert_eq!(elsewhere.get(&episode).await.status, StatusCode::NOT_FOUND);
}

/// The value a page's input of `id` holds, or the value of its select's chosen option.
fn shown_value<'a>(body: &'a str, id: &str) -> &'a str {
    let at = body.find(&format!("id=\"{id}\"")).expect(id);
    let element = &body[body[..at].rfind('<').unwrap_or(0)..];
    let tag = if element.starts_with("<select") {
        let options = &element[..element.find("</select>").unwrap_or(element.len())];
        let Some(chosen) = options.find(" selected>") else {
            return "";
        };
        &options[options[..chosen].rfind("<option").unwrap_or(0)..chosen]
    } else {
        &element[..element.find('>').unwrap_or(element.len())]
    };
    let Some(start) = tag.find("value=\"") else {
        return "";
    };
    let value = &tag[start + 7..];
    &value[..value.find('"').unwrap_or(0)]
}

async fn a_clinician_corrects_an_episode_through_the_form(app: TestApp) {
    let clinician = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let mut browser = Browser::new(&app);
    browser.accept_language = Some("en");
    browser.log_in(&clinician.username).await;
    let csrf = browser.get("/episodes/new").await.csrf();
    let form_id = uuid::Uuid::new_v4().to_string();
    let done = browser
        .post("/episodes/new", &episode_form(&csrf, &form_id, "Vjosa"))
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let episode = done.location().to_owned();
    let shown = browser.get(&episode).await;
    let link = format!("href=\"{episode}/correct\"");
    assert!(shown.body.contains(&link), "no correction link");

    // The form starts from what is recorded.
    let correct = format!("{episode}/correct");
    let form = browser.get(&correct).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert_eq!(shown_value(&form.body, "f-age_first_use"), "19");
    assert_eq!(shown_value(&form.body, "f-referral_source"), "6");
    assert_eq!(shown_value(&form.body, "f-secondary_drugs-1"), "7.1");
    assert_eq!(
        shown_value(&form.body, "f-treatment_start_date"),
        "2025-02-03"
    );
    assert!(
        !form.body.contains("Vjosa"),
        "the identity is not in the correction"
    );

    // A correction that breaks a rule is refused beside the field; nothing changes.
    let mut sent = episode_form(&csrf, "", "");
    sent.retain(|(name, _)| !name.starts_with("identity.") && *name != "form_id");
    replace(&mut sent, "age_first_use", "40");
    let refused = browser.post(&correct, &sent).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    let at = refused
        .body
        .find("id=\"f-age_first_use-problem\"")
        .expect("problem shown");
    assert!(
        refused.body[at..]
            .lines()
            .next()
            .unwrap_or_default()
            .contains("age at treatment start")
    );
    assert_eq!(
        shown_value(&refused.body, "f-age_first_use"),
        "40",
        "kept as sent"
    );

    // Corrected: the referral source, the secondary drug removed, the age at
    // first use blanked (not known), on the state the form showed.
    let marker = "name=\"read_at\" value=\"";
    let at = form.body.find(marker).expect("read_at") + marker.len();
    let read_at = form.body[at..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(!read_at.is_empty());
    let mut sent = episode_form(&csrf, "", "");
    sent.retain(|(name, _)| !name.starts_with("identity.") && *name != "form_id");
    sent.push(("read_at", &read_at));
    replace(&mut sent, "referral_source", "1");
    replace(&mut sent, "secondary_drugs", "");
    replace(&mut sent, "polydrug", "99");
    replace(&mut sent, "age_first_use", "");
    let corrected = browser.post(&correct, &sent).await;
    assert_eq!(
        corrected.status,
        StatusCode::SEE_OTHER,
        "{}",
        corrected.body
    );
    assert_eq!(corrected.location(), episode);
    let api = app
        .client
        .get(app.url(&format!("/api/v1{episode}")))
        .bearer_auth(&clinician.token)
        .send()
        .await
        .expect("read");
    let view: serde_json::Value = api.json().await.expect("json");
    assert_eq!(view["tdi"]["referral_source"], "1", "{view}");
    assert_eq!(
        view["tdi"]["secondary_drugs"],
        serde_json::json!([]),
        "{view}"
    );
    assert_eq!(
        view["tdi"]["age_first_use"],
        serde_json::Value::Null,
        "{view}"
    );
    assert_eq!(view["sensitive"]["age_first_injection"], 21, "unchanged");
    // The same form sent again was made on a state that is gone: refused, so it
    // cannot undo a change saved meanwhile.
    replace(&mut sent, "referral_source", "6");
    let stale = browser.post(&correct, &sent).await;
    assert_eq!(
        stale.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        stale.body
    );
    assert!(stale.body.contains("Someone else saved a change"));
    // The previous values are in the history, the correction audited.
    let mut conn = crate::helpers::raw_connection(&app.database_url).await;
    let (history,): (i64,) = sqlx::query_as("select count(*) from episode_history")
        .fetch_one(&mut conn)
        .await
        .expect("history");
    assert_eq!(history, 1);
    let details: Vec<(Option<String>,)> = sqlx::query_as(
        "select detail from audit_event where actor = $1 and action = 'update_episode' \
         and detail like 'fields=%'",
    )
    .bind(&clinician.user_id)
    .fetch_all(&mut conn)
    .await
    .expect("audit");
    assert_eq!(
        details,
        [(Some(
            "fields=referral_source,age_first_use,secondary_drugs,polydrug".to_owned()
        ),)],
        "one correction, audited with what it changed"
    );

    // Another facility's clinician can neither open nor send the correction.
    let other = app.user("clinician", Some("hosp-prizren"), None).await;
    let mut elsewhere = Browser::new(&app);
    elsewhere.log_in(&other.username).await;
    assert_eq!(elsewhere.get(&correct).await.status, StatusCode::NOT_FOUND);
    let csrf = elsewhere.get("/").await.csrf();
    let mut sent = episode_form(&csrf, "", "");
    sent.retain(|(name, _)| !name.starts_with("identity.") && *name != "form_id");
    replace(&mut sent, "referral_source", "2");
    assert_eq!(
        elsewhere.post(&correct, &sent).await.status,
        StatusCode::NOT_FOUND
    );
    let (history,): (i64,) = sqlx::query_as("select count(*) from episode_history")
        .fetch_one(&mut conn)
        .await
        .expect("history");
    assert_eq!(history, 1, "nothing changed");
}

/// An emergency overdose as the form sends it: not identified.
fn overdose_form(csrf: &str) -> Vec<(&str, &str)> {
    vec![
        ("csrf", csrf),
        ("presented_at", "2025-03-14T22:40"),
        ("arrival_by_ambulance", "yes"),
        ("municipality", "prishtine"),
        ("identity.first_name", ""),
        ("identity.last_name", ""),
        ("identity.birth_date", ""),
        ("identity.sex", ""),
        ("identity.personal_number", ""),
        ("sex", "1"),
        ("age", "27"),
        ("substances_reported", "1.1"),
        ("substances_reported", ""),
        ("substances_confirmed", ""),
        ("nps_names", "a-PVP, 3-MMC"),
        ("alcohol", "no"),
        ("naloxone", "yes"),
        ("outcome", "ward"),
        ("length_of_stay_hours", "18"),
        ("intentional_self_harm", ""),
        ("clinical_features", "reduced_consciousness"),
        ("other_treatment", "sedation"),
    ]
}

async fn an_emergency_department_records_and_reads_overdoses(app: TestApp) {
    // A clinician of a facility without an emergency department sees no link and
    // is refused, the refusal audited.
    let outpatient = app.user("clinician", Some("ost-prishtine"), None).await;
    let mut browser = Browser::new(&app);
    browser.log_in(&outpatient.username).await;
    let home = browser.get("/").await;
    assert!(!home.body.contains("href=\"/overdoses\""));
    for page in ["/overdoses", "/overdoses/new"] {
        assert_eq!(
            browser.get(page).await.status,
            StatusCode::FORBIDDEN,
            "{page}"
        );
    }
    let csrf = home.csrf();
    let sent = browser.post("/overdoses/new", &overdose_form(&csrf)).await;
    assert_eq!(sent.status, StatusCode::FORBIDDEN);
    // Police keep their own form, and do not get the emergency department's.
    let police = app.user("police", None, None).await;
    let mut officer = Browser::new(&app);
    officer.log_in(&police.username).await;
    let home = officer.get("/").await;
    assert!(home.body.contains("href=\"/police-overdoses/new\""));
    assert!(!home.body.contains("href=\"/overdoses\""));
    assert_eq!(
        officer.get("/overdoses/new").await.status,
        StatusCode::FORBIDDEN
    );

    let clinician = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let mut browser = Browser::new(&app);
    browser.accept_language = Some("en");
    browser.log_in(&clinician.username).await;
    let home = browser.get("/").await;
    assert!(home.body.contains("href=\"/overdoses\""));
    assert!(!home.body.contains("href=\"/police-overdoses/new\""));
    let list = browser.get("/overdoses").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("href=\"/overdoses/new\""));
    let csrf = list.csrf();

    // A blank answer is asked for, not taken as "no" (a problem of the document's
    // shape, reported first, as the API does).
    let mut form = overdose_form(&csrf);
    replace(&mut form, "naloxone", "");
    let refused = browser.post("/overdoses/new", &form).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("href=\"#f-naloxone\""),
        "{}",
        refused.body
    );
    // Then the rules, all at once, each beside its field.
    let mut form = overdose_form(&csrf);
    replace(&mut form, "presented_at", "14.03.2025 22:40");
    replace(&mut form, "length_of_stay_hours", "9000");
    replace(&mut form, "clinical_features", "levitation");
    let refused = browser.post("/overdoses/new", &form).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    for (id, text) in [
        ("f-presented_at-problem", "date and time"),
        ("f-length_of_stay_hours-problem", "one year"),
        ("f-clinical_features-problem", "one of the choices"),
    ] {
        let at = refused
            .body
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("{id}: {}", refused.body));
        let line = refused.body[at..].lines().next().unwrap_or_default();
        assert!(line.contains(text), "{id}: {line}");
    }
    assert!(
        !refused.body.contains("levitation"),
        "the value is not echoed"
    );

    // Recorded, then read back with its labels.
    let recorded = browser.post("/overdoses/new", &overdose_form(&csrf)).await;
    assert_eq!(recorded.status, StatusCode::SEE_OTHER, "{}", recorded.body);
    let record = recorded.location().to_owned();
    assert!(record.starts_with("/overdoses/"), "{record}");
    let shown = browser.get(&record).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    for text in [
        "admitted to a ward",
        "reduced consciousness",
        "sedation",
        "a-PVP, 3-MMC",
        "2025-03-14T22:40",
        "1.1 · heroin",
    ] {
        assert!(shown.body.contains(text), "{text}: {}", shown.body);
    }
    // An identified person: the name goes in, encrypted.
    let mut named = overdose_form(&csrf);
    replace(&mut named, "identity.first_name", "Lirie");
    replace(&mut named, "identity.last_name", "Hoxha");
    replace(&mut named, "identity.birth_date", "1996");
    replace(&mut named, "identity.sex", "2");
    replace(&mut named, "sex", "");
    replace(&mut named, "age", "");
    let second = browser.post("/overdoses/new", &named).await;
    assert_eq!(second.status, StatusCode::SEE_OTHER, "{}", second.body);
    let shown = browser.get(second.location()).await;
    assert!(shown.body.contains("Hoxha"));
    let list = browser.get("/overdoses").await;
    assert!(list.body.contains(&format!("href=\"{record}\"")));
    assert!(
        list.body
            .contains(&format!("href=\"{}\"", second.location()))
    );

    // Forensic medicine, the early-warning contact point, sees the new substances
    // the department named, as names and counts only; the department does not.
    let forensic = app.user("forensic", None, None).await;
    let mut doctor = Browser::new(&app);
    doctor.log_in(&forensic.username).await;
    assert!(
        doctor
            .get("/")
            .await
            .body
            .contains("href=\"/substance-signals\"")
    );
    let signals = doctor.get("/substance-signals").await;
    assert_eq!(signals.status, 200, "{}", signals.body);
    for name in ["a-pvp", "3-mmc"] {
        assert!(
            signals.body.to_lowercase().contains(name),
            "{name}: {}",
            signals.body
        );
    }
    assert!(!signals.body.contains("Hoxha"));
    assert_eq!(
        browser.get("/substance-signals").await.status,
        StatusCode::FORBIDDEN
    );

    // Another emergency department does not see them.
    let other = app.user("clinician", Some("hosp-prizren"), None).await;
    let mut elsewhere = Browser::new(&app);
    elsewhere.log_in(&other.username).await;
    assert_eq!(elsewhere.get(&record).await.status, StatusCode::NOT_FOUND);
    let theirs = elsewhere.get("/overdoses").await;
    assert_eq!(theirs.status, 200, "{}", theirs.body);
    assert!(!theirs.body.contains(&record));
}

async fn hostile_form_bodies_get_a_page_not_a_failure(app: TestApp) {
    let clinician = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let mut browser = Browser::new(&app);
    browser.log_in(&clinician.username).await;
    let csrf = browser.get("/").await.csrf();
    let hostile: Vec<(&str, String)> = vec![
        ("identity.first_name", "\u{202e}ihsaG".into()),
        ("identity.last_name", "a\u{0}b".into()),
        ("identity.birth_date", "1990-13-45".into()),
        ("identity.sex", "<script>alert(1)</script>".into()),
        ("age_first_use", "99999999999999999999999".into()),
        ("secondary_drugs", "x".repeat(500)),
        ("identity.first_name.deeper", "x".into()),
        ("identity", "flat".into()),
        ("form_id", "not-a-uuid\r\nX: y".into()),
    ];
    let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
    form.extend(hostile.iter().map(|(k, v)| (*k, v.as_str())));
    let answer = browser.post("/episodes/new", &form).await;
    assert!(answer.status.is_client_error(), "{}", answer.status);
    assert!(
        !answer.body.contains("<script>alert(1)</script>"),
        "escaped"
    );
    // Not a form at all.
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{}/episodes/new", app.base))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert!(raw.status().is_client_error() || raw.status().is_redirection());
    // Larger than the body limit.
    let big = "a=".to_owned() + &"x".repeat(200_000);
    let answer = browser
        .post("/episodes/new", &[("csrf", &csrf), ("notes", &big)])
        .await;
    assert!(answer.status.is_client_error(), "{}", answer.status);
    // Pages that do not exist, and ids that are not ids.
    for path in [
        "/nothing-here",
        "/episodes/not-a-uuid",
        "/episodes/00000000-0000-0000-0000-000000000000",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.body.contains("<html lang=\"sq\""));
    }
}

/// Registers `n` people treated last year (through the API) and freezes that year;
/// returns the year.
pub async fn frozen_year(app: &TestApp, n: usize) -> i64 {
    let year = registry::export::current_year() - 1;
    let clinician = app.user("clinician", Some("uckk-psychiatry"), None).await;
    for i in 0..n {
        let (first, last, _) = crate::helpers::distinct_person(i);
        let mut body =
            crate::episodes::episode(&first, &last, "1990-01-01", &format!("{year}-03-03"));
        body["identity"]["sex"] = serde_json::json!(if i % 3 == 0 { "2" } else { "1" });
        let (status, created) = app
            .send(
                reqwest::Method::POST,
                "/api/v1/episodes",
                Some(&clinician.token),
                Some(&body),
            )
            .await;
        assert_eq!(status, 201, "{created}");
    }
    let analyst = app.user("analyst", None, None).await;
    let (status, info) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/exports/freeze",
            Some(&analyst.token),
            Some(&serde_json::json!({"year": year, "purpose": "data lock"})),
        )
        .await;
    assert_eq!(status, 201, "{info}");
    year
}

async fn an_analyst_downloads_the_workbook_and_builds_a_custom_table(app: TestApp) {
    let year = frozen_year(&app, 12).await;
    let year_text = year.to_string();
    let analyst = app.user("analyst", None, None).await;
    let mut browser = Browser::new(&app);
    browser.accept_language = Some("en");
    browser.log_in(&analyst.username).await;
    let page = browser.get("/outputs").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("href=\"/outputs\""),
        "the analyst's menu"
    );
    assert!(
        page.body.contains(&format!("<td>{year}</td>")),
        "the frozen year is listed"
    );
    let csrf = page.csrf();

    // The workbook, as a download.
    let file = browser
        .post(
            "/outputs/statutory",
            &[
                ("csrf", &csrf),
                ("year", &year_text),
                ("format", "xlsx"),
                ("purpose", "EMCDDA reporting"),
            ],
        )
        .await;
    assert_eq!(file.status, 200, "{}", file.body);
    let kind = file.headers["content-type"].to_str().unwrap_or_default();
    assert!(kind.contains("spreadsheetml"), "{kind}");
    let disposition = file.headers["content-disposition"]
        .to_str()
        .unwrap_or_default();
    assert!(
        disposition.starts_with("attachment") && disposition.contains(".xlsx"),
        "{disposition}"
    );
    assert!(
        file.headers.contains_key("x-release-id"),
        "recorded in the ledger"
    );

    // A custom table: sex down the side, age band across; a table and a chart.
    let shown = browser
        .post(
            "/outputs/custom",
            &[
                ("csrf", &csrf),
                ("dimensions", "sex"),
                ("dimensions", "age_band"),
                ("dimensions", ""),
                ("year", &year_text),
                ("geography", "national"),
                ("purpose", "planning"),
            ],
        )
        .await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(
        shown.body.contains("<svg") && shown.body.contains("</svg>"),
        "a chart"
    );
    assert!(
        shown.body.contains("<th scope=\"row\">female</th>"),
        "labels in English"
    );
    assert!(shown.body.contains("sex × age band"));
    assert!(!shown.body.contains("<script"));
    let csv = browser
        .post(
            "/outputs/custom",
            &[
                ("csrf", &csrf),
                ("dimensions", "sex"),
                ("dimensions", "age_band"),
                ("year", &year_text),
                ("purpose", "planning"),
                ("format", "csv"),
            ],
        )
        .await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/csv")
    );
    assert!(
        csv.body
            .starts_with("table,year,snapshot_version,unit,row,column,value"),
        "{}",
        csv.body
    );

    // Problems named beside their fields; a year not frozen says so.
    let refused = browser
        .post(
            "/outputs/custom",
            &[
                ("csrf", &csrf),
                ("dimensions", "sex"),
                ("year", &year_text),
                ("purpose", ""),
            ],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("id=\"f-dimensions-problem\""));
    assert!(refused.body.contains("id=\"f-custom_purpose-problem\""));
    let next = (year - 1).to_string();
    let unfrozen = browser
        .post(
            "/outputs/statutory",
            &[
                ("csrf", &csrf),
                ("year", &next),
                ("format", "csv"),
                ("purpose", "reporting"),
            ],
        )
        .await;
    assert_eq!(
        unfrozen.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unfrozen.body
    );
    assert!(unfrozen.body.contains("not frozen yet"));

    // A clinician neither sees the page nor gets a table from it.
    let clinician = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let mut other = Browser::new(&app);
    other.log_in(&clinician.username).await;
    let home = other.get("/").await;
    assert!(!home.body.contains("href=\"/outputs\""));
    assert_eq!(other.get("/outputs").await.status, StatusCode::FORBIDDEN);
    let csrf = home.csrf();
    let sent = other
        .post(
            "/outputs/custom",
            &[
                ("csrf", &csrf),
                ("dimensions", "sex"),
                ("dimensions", "route"),
                ("year", &year_text),
                ("purpose", "curious"),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::FORBIDDEN);
}

/// A death record's form, an unidentified man, heroin found and contributing.
fn death_form<'a>(csrf: &'a str, date: &'a str, manner: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("notification_id", ""),
        ("identity.first_name", ""),
        ("identity.last_name", ""),
        ("identity.birth_date", ""),
        ("sex", "1"),
        ("age", "34"),
        ("date_of_death", date),
        ("municipality", "prizren"),
        ("place_type", "home"),
        ("underlying_cause", "X42"),
        ("multiple_causes", "T40.1"),
        ("manner", manner),
        ("autopsy_done", "yes"),
        ("toxicology_done", "yes"),
        ("final_status", "yes"),
        ("substances.1.code", "1.1"),
        ("substances.1.cause_relevant", "yes"),
        ("substances.1.matrix", "blood"),
        ("substances.1.concentration", "0.2 mg/L"),
        ("background.residence", "abroad"),
        ("background.known_drug_user", "yes"),
        ("action", "save"),
    ]
}

async fn forensic_medicine_records_a_death_through_the_form(app: TestApp) {
    let forensic = app.user("forensic", None, None).await;
    let mut browser = Browser::new(&app);
    browser.accept_language = Some("sr");
    browser.log_in(&forensic.username).await;
    let list = browser.get("/deaths").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("href=\"/deaths/new\""));
    let csrf = list.csrf();
    // The ICD-10 search finds codes; choosing one puts it in the underlying cause.
    let found = browser
        .post(
            "/deaths/new",
            &[("csrf", &csrf), ("icd_query", "X42"), ("action", "search")],
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert!(
        found.body.contains("name=\"pick_cause\" value=\"X42\""),
        "{}",
        found.body
    );
    let picked = browser
        .post(
            "/deaths/new",
            &[("csrf", &csrf), ("pick_cause", "X42"), ("age", "34")],
        )
        .await;
    assert!(
        picked
            .body
            .contains("name=\"underlying_cause\" value=\"X42\"")
    );
    assert!(picked.body.contains("value=\"34\""), "what was typed stays");

    let date = format!("{}-05-06", registry::export::current_year() - 1);
    // Suicide with a code of accidental poisoning: refused on the manner, in Serbian.
    let refused = browser
        .post("/deaths/new", &death_form(&csrf, &date, "suicide"))
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    let at = refused
        .body
        .find("id=\"f-manner-problem\"")
        .expect("manner problem");
    assert!(
        refused.body[at..].contains("ne slaže se"),
        "{}",
        &refused.body[at..at + 200]
    );
    // Accident: saved, and the record says it is in Selection B.
    let saved = browser
        .post("/deaths/new", &death_form(&csrf, &date, "accident"))
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let record = browser.get(saved.location()).await;
    assert_eq!(record.status, 200);
    let b = record
        .body
        .find("id=\"selection-b\">")
        .expect("selection B");
    assert!(
        record.body[b..].starts_with("id=\"selection-b\">da"),
        "{}",
        &record.body[b..b + 80]
    );
    assert!(record.body.contains("heroin"));

    // Police neither see the link nor the page.
    let police = app.user("police", None, None).await;
    let mut other = Browser::new(&app);
    other.log_in(&police.username).await;
    assert!(!other.get("/").await.body.contains("href=\"/deaths\""));
    assert_eq!(other.get("/deaths").await.status, StatusCode::FORBIDDEN);
    assert_eq!(other.get("/deaths/new").await.status, StatusCode::FORBIDDEN);
}

async fn a_social_worker_records_and_lists_contacts(app: TestApp) {
    let worker = app.user("social_worker", None, Some("peje")).await;
    let mut browser = Browser::new(&app);
    browser.log_in(&worker.username).await;
    let page = browser.get("/contacts").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Asnjë kontakt"), "none yet, in Albanian");
    let csrf = page.csrf();
    let date = format!("{}-02-03", registry::export::current_year() - 1);
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("identity.first_name", "Besnik"),
        ("identity.last_name", "Morina"),
        ("identity.birth_date", "1988-08-08"),
        ("identity.sex", "1"),
        ("contact_date", date.as_str()),
        ("service_type", ""),
        ("housing_support", "yes"),
    ];
    let refused = browser.post("/contacts", &form).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("id=\"f-service_type-problem\""));
    form[6].1 = "housing";
    let done = browser.post("/contacts", &form).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let list = browser.get("/contacts").await;
    assert!(list.body.contains("<td>strehim</td>"), "{}", list.body);
    assert!(list.body.contains("Mbështetje për strehim"));
    assert!(!list.body.contains("Morina"), "the list shows no name");

    let clinician = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let mut other = Browser::new(&app);
    other.log_in(&clinician.username).await;
    assert_eq!(other.get("/contacts").await.status, StatusCode::FORBIDDEN);
}

async fn police_notify_list_and_amend_their_own_notifications(app: TestApp) {
    let officer = app.user("police", None, None).await;
    let mut browser = Browser::new(&app);
    browser.accept_language = Some("en");
    browser.log_in(&officer.username).await;
    let home = browser.get("/").await;
    assert!(home.body.contains("href=\"/notifications\""));
    assert!(home.body.contains("href=\"/police-overdoses/new\""));
    let csrf = home.csrf();
    let date = format!("{}-04-05", registry::export::current_year() - 1);
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("date_of_death", date.as_str()),
        ("municipality", "ferizaj"),
        ("place_type", ""),
        ("found_alone", "yes"),
        ("suspected_substances", "1.1"),
        ("suspected_substances", ""),
        ("sex", "1"),
        ("age", "30"),
    ];
    let refused = browser.post("/notifications/new", &form).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("id=\"f-place_type-problem\""));
    form[3].1 = "public_place";
    let sent = browser.post("/notifications/new", &form).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let own = sent.location().to_owned();
    let read = browser.get(&own).await;
    assert_eq!(read.status, 200);
    assert!(read.body.contains("1.1 · heroin") && read.body.contains("public place"));
    assert!(
        read.body.contains(&format!("value=\"{date}\"")),
        "the form holds what was sent"
    );
    let list = browser.get("/notifications").await;
    assert!(list.body.contains(&format!("href=\"{own}\"")));
    // Amended: the place changes.
    form[3].1 = "home";
    let amended = browser.post(&own, &form).await;
    assert_eq!(amended.status, StatusCode::SEE_OTHER, "{}", amended.body);
    assert!(browser.get(&own).await.body.contains("<dd>home</dd>"));

    // Another officer neither lists it nor reads it.
    let other = app.user("police", None, None).await;
    let mut second = Browser::new(&app);
    second.log_in(&other.username).await;
    assert!(!second.get("/notifications").await.body.contains(&own));
    assert_eq!(second.get(&own).await.status, StatusCode::NOT_FOUND);

    // An amendment without the person would erase the stored identity: refused.
    let mut bare = form.clone();
    bare.retain(|(name, _)| *name != "sex" && *name != "age");
    let kept = browser.post(&own, &bare).await;
    assert_eq!(
        kept.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        kept.body
    );
    assert!(kept.body.contains("replaces the notification whole"));

    // An overdose attended at the scene; naloxone left blank is asked for, not "no".
    let mut overdose = vec![
        ("csrf", csrf.as_str()),
        ("date", date.as_str()),
        ("municipality", "ferizaj"),
        ("sex", "2"),
        ("age", "25"),
        ("substances_suspected", "1.1"),
        ("naloxone_given", ""),
        ("outcome", "taken_to_hospital"),
    ];
    let blank = browser.post("/police-overdoses/new", &overdose).await;
    assert_eq!(
        blank.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        blank.body
    );
    assert!(blank.body.contains("id=\"f-naloxone_given-problem\""));
    overdose[6].1 = "yes";
    let recorded = browser.post("/police-overdoses/new", &overdose).await;
    // Recorded, then back to the form by a redirect (a reload records nothing).
    assert_eq!(recorded.status, StatusCode::SEE_OTHER, "{}", recorded.body);
    let page = browser.get(recorded.location()).await;
    assert!(page.body.contains("id=\"done\""));
}

async fn an_auditor_verifies_searches_and_reports(app: TestApp) {
    let clinician = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let body = crate::episodes::episode("Arber", "Lleshi", "1991-01-01", "2025-01-02");
    let (status, created) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/episodes",
            Some(&clinician.token),
            Some(&body),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let registry_id = created["registry_id"]
        .as_str()
        .expect("registry id")
        .to_owned();
    let auditor = app.user("auditor", None, None).await;
    let mut browser = Browser::new(&app);
    browser.accept_language = Some("en");
    browser.log_in(&auditor.username).await;
    let page = browser.get("/audit").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.csrf();
    let verified = browser.post("/audit/verify", &[("csrf", &csrf)]).await;
    assert!(
        verified.body.contains("The chain is intact"),
        "{}",
        verified.body
    );
    // The clinician's registration is found by actor.
    let found = browser
        .get(&format!("/audit?search=1&actor={}", clinician.user_id))
        .await;
    assert_eq!(found.status, 200);
    assert!(
        found.body.contains("<td>create_episode</td>"),
        "{}",
        found.body
    );
    let bad = browser.get("/audit?search=1&from=yesterday").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("id=\"f-from-problem\""));
    // The access report lists the episode without its content.
    let report = browser
        .get(&format!("/audit/subject?registry_id={registry_id}"))
        .await;
    assert_eq!(report.status, 200, "{}", report.body);
    assert!(
        report.body.contains("<td>treatment episode</td>"),
        "{}",
        report.body
    );
    assert!(report.body.contains("uckk-psychiatry"));
    assert!(
        report.body.contains("<dd>Lleshi</dd>"),
        "the person's own identity"
    );
    let unknown = browser
        .get("/audit/subject?registry_id=00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Not the clinician's page.
    let mut other = Browser::new(&app);
    other.log_in(&clinician.username).await;
    assert_eq!(other.get("/audit").await.status, StatusCode::FORBIDDEN);
}

async fn an_administrator_adds_rescopes_and_disables_accounts(app: TestApp) {
    let admin = app.user("admin", None, None).await;
    let mut browser = Browser::new(&app);
    browser.accept_language = Some("en");
    browser.log_in(&admin.username).await;
    let page = browser.get("/admin").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("uckk-psychiatry"),
        "the facility register"
    );
    assert!(page.body.contains("<td>master</td>"), "the key status");
    let csrf = page.csrf();
    // A clinician needs a facility: refused beside the field.
    let refused = browser
        .post(
            "/admin",
            &[
                ("csrf", &csrf),
                ("username", "drita.krasniqi"),
                ("role", "clinician"),
                ("facility", ""),
                ("municipality", ""),
            ],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("Facility: is required."),
        "{}",
        refused.body
    );
    // The summary's link goes to the select it names.
    assert!(refused.body.contains("href=\"#f-facility\""));
    assert_eq!(refused.body.matches("id=\"f-facility\"").count(), 1);
    let created = browser
        .post(
            "/admin",
            &[
                ("csrf", &csrf),
                ("username", "drita.krasniqi"),
                ("role", "clinician"),
                ("facility", "uckk-psychiatry"),
                ("municipality", ""),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(
        created.body.contains("One-time password"),
        "{}",
        created.body
    );
    let again = browser
        .post(
            "/admin",
            &[
                ("csrf", &csrf),
                ("username", "drita.krasniqi"),
                ("role", "clinician"),
                ("facility", "uckk-psychiatry"),
                ("municipality", ""),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.body.contains("already taken"));
    let (_, users) = app
        .send(
            reqwest::Method::GET,
            "/api/v1/users",
            Some(&admin.token),
            None,
        )
        .await;
    let id = users["items"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["username"] == "drita.krasniqi")
        .and_then(|u| u["user_id"].as_str())
        .expect("created")
        .to_owned();
    let moved = browser
        .post(
            "/admin/scope",
            &[
                ("csrf", &csrf),
                ("user_id", &id),
                ("role", "clinician"),
                ("facility", "hosp-prizren"),
                ("municipality", ""),
            ],
        )
        .await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.body);
    let disabled = browser
        .post("/admin/disable", &[("csrf", &csrf), ("user_id", &id)])
        .await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER);
    let (_, users) = app
        .send(
            reqwest::Method::GET,
            "/api/v1/users",
            Some(&admin.token),
            None,
        )
        .await;
    let account = users["items"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["user_id"] == id.as_str())
        .expect("still listed")
        .clone();
    assert_eq!(account["facility"], "hosp-prizren");
    assert!(account["disabled_at"].is_string());

    let police = app.user("police", None, None).await;
    let mut other = Browser::new(&app);
    other.log_in(&police.username).await;
    assert_eq!(other.get("/admin").await.status, StatusCode::FORBIDDEN);
}

async fn a_registrar_decides_a_pair_side_by_side(app: TestApp) {
    let clinician = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let other = app.user("clinician", Some("hosp-prizren"), None).await;
    for (doc, number) in [(&clinician, "1234567890"), (&other, "1234567800")] {
        let mut body = crate::episodes::episode("Arta", "Berisha", "1994-02-17", "2025-01-02");
        body["identity"]["personal_number"] = serde_json::json!(number);
        body["identity"]["sex"] = serde_json::json!("2");
        let (status, created) = app
            .send(
                reqwest::Method::POST,
                "/api/v1/episodes",
                Some(&doc.token),
                Some(&body),
            )
            .await;
        assert_eq!(status, 201, "{created}");
    }
    let registrar = app.user("registrar", None, None).await;
    let mut browser = Browser::new(&app);
    browser.accept_language = Some("en");
    browser.log_in(&registrar.username).await;
    let page = browser.get("/reviews").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("<td>1234567890</td>") && page.body.contains("<td>1234567800</td>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("one digit differs"));
    let marker = "name=\"review_id\" value=\"";
    let at = page.body.find(marker).expect("a pair") + marker.len();
    let review_id = page.body[at..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned();
    let csrf = page.csrf();
    // No reason chosen: no decision (pressing the button merges nobody).
    let undecided = browser
        .post(
            "/reviews/decide",
            &[("csrf", &csrf), ("review_id", &review_id), ("reason", "")],
        )
        .await;
    assert_eq!(undecided.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        undecided.body.contains(&review_id),
        "the pair is still there"
    );
    let decided = browser
        .post(
            "/reviews/decide",
            &[
                ("csrf", &csrf),
                ("review_id", &review_id),
                ("reason", "same_person_documents"),
            ],
        )
        .await;
    assert_eq!(decided.status, StatusCode::SEE_OTHER, "{}", decided.body);
    assert!(
        browser
            .get("/reviews")
            .await
            .body
            .contains("The queue is empty.")
    );

    let mut doc = Browser::new(&app);
    doc.log_in(&clinician.username).await;
    assert_eq!(doc.get("/reviews").await.status, StatusCode::FORBIDDEN);
}

async fn an_administrator_manages_the_facility_register(app: TestApp) {
    let admin = app.user("admin", None, None).await;
    let mut browser = Browser::new(&app);
    browser.accept_language = Some("en");
    browser.log_in(&admin.username).await;
    assert!(
        browser
            .get("/admin")
            .await
            .body
            .contains("href=\"/admin/facilities\"")
    );
    let register = browser.get("/admin/facilities").await;
    assert_eq!(register.status, 200, "{}", register.body);
    assert!(
        register
            .body
            .contains("href=\"/admin/facilities/hosp-prizren\"")
    );
    let csrf = register.csrf();
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("code", "Hosp Ferizaj"),
        ("name", "S"),
        ("municipality", "ferizaj"),
        ("centre_type", "2"),
        ("emergency_capable", "yes"),
    ];
    // Both problems at once, beside their fields.
    let refused = browser.post("/admin/facilities", &form).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    for (id, text) in [
        ("f-code-problem", "lower-case letters"),
        ("f-name-problem", "2 to 200 characters"),
    ] {
        let at = refused.body.find(&format!("id=\"{id}\"")).expect(id);
        let line = refused.body[at..].lines().next().unwrap_or_default();
        assert!(line.contains(text), "{id}: {line}");
    }
    form[1].1 = "qkmf-ferizaj";
    form[2].1 = "Qendra Kryesore e Mjekësisë Familjare Ferizaj";
    let added = browser.post("/admin/facilities", &form).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    assert_eq!(added.location(), "/admin/facilities/qkmf-ferizaj");
    // The same code again is named beside the code.
    let again = browser.post("/admin/facilities", &form).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.body.contains("a facility with this code exists"));

    // Its page starts from what is registered; closing it is one change.
    let page = browser.get("/admin/facilities/qkmf-ferizaj").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        shown_value(&page.body, "f-name"),
        "Qendra Kryesore e Mjekësisë Familjare Ferizaj"
    );
    assert_eq!(shown_value(&page.body, "f-emergency_capable"), "yes");
    assert_eq!(shown_value(&page.body, "f-active"), "yes");
    let changed = browser
        .post(
            "/admin/facilities/qkmf-ferizaj",
            &[
                ("csrf", &csrf),
                ("name", "Qendra Kryesore e Mjekësisë Familjare Ferizaj"),
                ("emergency_capable", "yes"),
                ("active", "no"),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    let (_, list) = app.get_json("/api/v1/reference/facilities").await;
    let ferizaj = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|f| f["code"] == "qkmf-ferizaj")
        .cloned()
        .expect("added");
    assert_eq!(ferizaj["active"], false);
    assert_eq!(ferizaj["emergency_capable"], true);
    assert!(
        browser
            .get("/admin/facilities")
            .await
            .body
            .contains("closed")
    );
    // A name too short is refused beside it; nothing changes.
    let refused = browser
        .post(
            "/admin/facilities/qkmf-ferizaj",
            &[("csrf", &csrf), ("name", "x"), ("active", "yes")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(shown_value(&refused.body, "f-name"), "x", "kept as sent");
    // Codes that are not codes, and facilities that do not exist: not found.
    for path in ["/admin/facilities/nowhere", "/admin/facilities/Bad%20Code"] {
        assert_eq!(
            browser.get(path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }

    // Another role is refused, the refusal audited.
    let clinician = app.user("clinician", Some("hosp-prizren"), None).await;
    let mut other = Browser::new(&app);
    other.log_in(&clinician.username).await;
    assert!(!other.get("/").await.body.contains("/admin/facilities"));
    assert_eq!(
        other.get("/admin/facilities").await.status,
        StatusCode::FORBIDDEN
    );
    let csrf = other.get("/").await.csrf();
    let sent = other
        .post(
            "/admin/facilities/hosp-prizren",
            &[("csrf", &csrf), ("active", "no")],
        )
        .await;
    assert_eq!(sent.status, StatusCode::FORBIDDEN);
    let mut conn = crate::helpers::raw_connection(&app.database_url).await;
    let (denied,): (i64,) = sqlx::query_as(
        "select count(*) from audit_event where actor = $1 and action = 'manage_facilities' \
         and outcome = 'denied'",
    )
    .bind(&clinician.user_id)
    .fetch_one(&mut conn)
    .await
    .expect("audit");
    assert!(denied >= 2, "{denied}");
}
