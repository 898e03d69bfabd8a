//! The pages in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
//! installed by `scripts/install-browser.sh`, which `.ci/test` runs), driven through
//! WebDriver with fantoccini. Screenshots of every page visited are written under
//! `target/ui-screenshots/<test>/` for review.
//!
//! These tests fail, never skip, when the browser is missing.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use crate::helpers::{TEST_PASSWORD, TestApp};

backend_tests!(
    a_clinician_registers_corrects_finds_and_closes_in_albanian,
    police_cannot_reach_a_clinical_page,
    an_analyst_downloads_the_workbook_and_charts_a_custom_table_in_english,
    a_forensic_doctor_completes_a_death_in_serbian,
    every_page_is_labelled_and_logging_in_works_from_the_keyboard,
);

/// A headless Chromium under its own chromedriver, with a fresh profile; both end
/// when this is dropped.
struct Chromium {
    client: Client,
    driver: tokio::process::Child,
    profile: tempfile::TempDir,
    shots: PathBuf,
    taken: usize,
}

const DRIVER: &str = "/usr/bin/chromedriver";
const BROWSER: &str = "/usr/bin/chromium";

impl Chromium {
    /// Starts the browser with `accept_language` as its languages.
    async fn start(test: &str, backend: &str, accept_language: &str) -> Self {
        assert!(
            std::path::Path::new(DRIVER).exists() && std::path::Path::new(BROWSER).exists(),
            "Chromium and chromedriver are missing: run scripts/install-browser.sh \
             (.ci/test does) — browser tests never skip"
        );
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            listener.local_addr().expect("address").port()
        };
        let driver = tokio::process::Command::new(DRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("profile folder");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": BROWSER,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--window-size=1280,1600",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--lang={accept_language}"),
                ],
                "prefs": {
                    "intl.accept_languages": accept_language,
                    "download.default_directory": profile.path().join("downloads"),
                    "download.prompt_for_download": false,
                },
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut client = None;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let attempt = ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await;
            if let Ok(connected) = attempt {
                client = Some(connected);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/ui-screenshots")
            .join(format!("{test}-{backend}"));
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).expect("screenshot folder");
        Self {
            client: client.expect("chromedriver answers within 10 s"),
            driver,
            profile,
            shots,
            taken: 0,
        }
    }

    async fn goto(&mut self, url: &str) {
        self.client.goto(url).await.expect("page loads");
    }

    /// Saves a screenshot of the page as `NN-name.png`.
    async fn shot(&mut self, name: &str) {
        self.taken += 1;
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(
            self.shots.join(format!("{:02}-{name}.png", self.taken)),
            png,
        )
        .expect("screenshot written");
    }

    /// Saves a screenshot of one element (below the fold too) as `NN-name.png`.
    async fn shot_of(&mut self, css: &str, name: &str) {
        self.taken += 1;
        let element = self.client.find(Locator::Css(css)).await.expect(css);
        let png = element.screenshot().await.expect("screenshot");
        std::fs::write(
            self.shots.join(format!("{:02}-{name}.png", self.taken)),
            png,
        )
        .expect("screenshot written");
    }

    async fn fill(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.expect(css);
        field.clear().await.expect("cleared");
        field.send_keys(text).await.expect("typed");
    }

    async fn choose(&self, css: &str, value: &str) {
        let select = self.client.find(Locator::Css(css)).await.expect(css);
        select.select_by_value(value).await.expect(value);
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .expect(css)
            .click()
            .await
            .expect("clicked");
    }

    /// Waits (up to 10 s) until the page's path satisfies `wanted`: a click on a
    /// form's button returns before the next page has loaded.
    async fn wait_path(&self, wanted: impl Fn(&str) -> bool) -> String {
        for _ in 0..200 {
            let path = self.path().await;
            if wanted(&path) {
                return path;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the page did not change: {}", self.source().await);
    }

    /// Waits (up to 10 s) for an element, and returns its text.
    async fn wait_text(&self, css: &str) -> String {
        self.wait_until_text(css, |_| true).await
    }

    /// Waits (up to 10 s) until an element shows text that satisfies `wanted`, and
    /// returns it. A page being replaced (after a click) is not an error: its
    /// elements go stale, and the next page is read instead.
    async fn wait_until_text(&self, css: &str, wanted: impl Fn(&str) -> bool) -> String {
        for _ in 0..200 {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                if let Ok(text) = element.text().await {
                    if wanted(&text) {
                        return text;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{css} did not show the expected text: {}",
            self.source().await
        );
    }

    async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("url")
            .path()
            .to_owned()
    }

    async fn log_in(&mut self, app: &TestApp, username: &str) {
        self.goto(&format!("{}/login", app.base)).await;
        self.shot("login").await;
        self.fill("#f-username", username).await;
        self.fill("#f-password", TEST_PASSWORD).await;
        self.click("#login").await;
        self.wait_path(|p| p == "/").await;
    }

    /// Waits (up to 10 s) for a downloaded file whose name ends with `suffix`.
    async fn downloaded(&self, suffix: &str) -> Vec<u8> {
        let folder = self.profile.path().join("downloads");
        for _ in 0..200 {
            let done = std::fs::read_dir(&folder)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().ends_with(suffix));
            if let Some(path) = done {
                return std::fs::read(path).expect("downloaded file");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nothing ending in {suffix} was downloaded");
    }

    /// The ids (or names) of form controls on the page without a label, and the
    /// `aria-describedby` references that point at nothing.
    async fn unlabelled(&self) -> Vec<String> {
        let script = "return [...document.querySelectorAll('input:not([type=hidden]),select,textarea')]\
            .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'))\
            .map(e => 'unlabelled ' + (e.id || e.name))\
            .concat([...document.querySelectorAll('[aria-describedby]')]\
            .flatMap(e => e.getAttribute('aria-describedby').split(' ')\
            .filter(id => id && !document.getElementById(id)).map(id => 'missing ' + id)))";
        let found = self
            .client
            .execute(script, Vec::new())
            .await
            .expect("script runs");
        serde_json::from_value(found).unwrap_or_default()
    }

    /// The id of the focused element.
    async fn focused(&self) -> String {
        let element = self.client.active_element().await.expect("focus");
        element.attr("id").await.ok().flatten().unwrap_or_default()
    }

    /// Presses keys on the focused element.
    async fn keys(&self, text: &str) {
        let element = self.client.active_element().await.expect("focus");
        element.send_keys(text).await.expect("keys");
    }

    async fn end(self) {
        let _ = self.client.close().await;
        let mut driver = self.driver;
        let _ = driver.kill().await;
    }
}

fn backend_of(app: &TestApp) -> &'static str {
    if app.database_url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    }
}

async fn a_clinician_registers_corrects_finds_and_closes_in_albanian(app: TestApp) {
    let clinician = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let mut browser = Chromium::start("clinician-sq", backend_of(&app), "sq").await;
    browser.log_in(&app, &clinician.username).await;
    browser.shot("home").await;
    assert!(browser.source().await.contains("<html lang=\"sq\""));

    browser.click("a[href=\"/episodes/new\"]").await;
    browser.wait_path(|p| p == "/episodes/new").await;
    browser.shot("register-empty").await;
    browser.fill("#f-identity-first_name", "Vjosa").await;
    browser.fill("#f-identity-last_name", "Rexhepi").await;
    browser.fill("#f-identity-birth_date", "1993-07-14").await;
    browser.choose("#f-identity-sex", "2").await;
    browser.choose("#f-municipality", "prizren").await;
    browser.fill("#f-treatment_start_date", "2025-04-02").await;
    for (field, code) in [
        ("treatment_status", "2"),
        ("referral_source", "2"),
        ("living_with", "3"),
        ("living_with_children", "2"),
        ("living_where", "1"),
        ("labour_status", "1"),
        ("education", "3"),
        ("primary_drug", "1.1"),
        ("route", "2"),
        ("frequency", "1"),
        ("polydrug", "2"),
        ("ost_status", "1"),
        ("hiv_testing", "2.2"),
        ("hcv_testing", "2.2"),
        // The one mistake: sharing answered for someone who never injected.
        ("injecting", "1"),
        ("sharing", "1"),
    ] {
        browser.choose(&format!("#f-{field}"), code).await;
    }
    browser.fill("#f-age_first_use", "18").await;
    browser.choose("#f-secondary_drugs-1", "7.1").await;
    browser.click("#register").await;
    // Refused beside the field, in Albanian, with a link from the summary.
    let problem = browser.wait_text("#f-sharing-problem").await;
    assert!(problem.contains("e panjohur"), "{problem}");
    assert!(browser.source().await.contains("href=\"#f-sharing\""));
    browser.shot("register-problem").await;
    // Everything typed is still there; only the mistake is corrected.
    browser.choose("#f-sharing", "99").await;
    browser.click("#register").await;
    let episode = browser
        .wait_path(|p| p.starts_with("/episodes/") && p != "/episodes/new")
        .await;
    assert_eq!(browser.wait_text("#status").await, "i hapur");
    browser.shot("episode-open").await;

    // Corrected afterwards: the referral source was wrong. The form starts from
    // what is recorded; only the changed item changes.
    browser.click("#correct-link").await;
    browser.wait_path(|p| p.ends_with("/correct")).await;
    browser.shot("episode-correct").await;
    browser.choose("#f-referral_source", "4").await;
    browser.click("#correct").await;
    browser.wait_path(|p| p == episode).await;
    let page = browser.source().await;
    assert!(
        page.contains("4 · "),
        "the corrected referral source is shown"
    );
    assert!(page.contains("<dd>18</dd>"), "the age at first use is kept");

    // Found again (a slip in the first name), then opened from the list.
    browser.click("a[href=\"/patients\"]").await;
    browser.wait_path(|p| p == "/patients").await;
    browser.fill("#f-identity-first_name", "Vjossa").await;
    browser.fill("#f-identity-last_name", "Rexhepi").await;
    browser.fill("#f-identity-birth_date", "1993-07-14").await;
    browser.choose("#f-identity-sex", "2").await;
    browser.click("#find").await;
    let link = format!("a[href=\"{episode}\"]");
    browser.wait_text(&link).await;
    browser.shot("patient-found").await;
    browser.click(&link).await;
    browser.wait_path(|p| p == episode).await;

    browser.fill("#f-end_date", "2025-09-30").await;
    browser.choose("#f-end_reason", "completed").await;
    browser.click("#close").await;
    // The same page comes back, closed, without its close form.
    browser
        .wait_until_text("#status", |t| t == "i mbyllur")
        .await;
    assert!(!browser.source().await.contains("id=\"close\""));
    browser.shot("episode-closed").await;
    browser.end().await;
}

async fn police_cannot_reach_a_clinical_page(app: TestApp) {
    let police = app.user("police", None, None).await;
    let mut browser = Chromium::start("police", backend_of(&app), "en").await;
    browser.log_in(&app, &police.username).await;
    browser.shot("home").await;
    let home = browser.source().await;
    assert!(home.contains("<html lang=\"en\""));
    for link in ["/episodes/new", "/patients", "/ost"] {
        assert!(
            !home.contains(&format!("href=\"{link}\"")),
            "{link} is shown"
        );
        browser.goto(&format!("{}{link}", app.base)).await;
        let page = browser.source().await;
        assert!(
            page.contains("Your role may not use this page"),
            "{link}: {page}"
        );
        assert!(!page.contains("id=\"f-"), "{link}: no form field is shown");
    }
    browser.shot("refused").await;
    browser.end().await;
}

async fn an_analyst_downloads_the_workbook_and_charts_a_custom_table_in_english(app: TestApp) {
    let year = crate::web::frozen_year(&app, 12).await.to_string();
    let analyst = app.user("analyst", None, None).await;
    let mut browser = Chromium::start("analyst-en", backend_of(&app), "en-GB").await;
    browser.log_in(&app, &analyst.username).await;
    assert!(browser.source().await.contains("<html lang=\"en\""));
    browser.click("a[href=\"/outputs\"]").await;
    browser.wait_path(|p| p == "/outputs").await;
    browser.shot("outputs").await;

    browser.choose("#f-year", &year).await;
    browser.choose("#f-format", "xlsx").await;
    browser.fill("#f-purpose", "EMCDDA reporting").await;
    browser.click("#download-statutory").await;
    let workbook = browser.downloaded(".xlsx").await;
    assert!(workbook.starts_with(b"PK"), "an xlsx file (a zip)");

    browser.choose("#f-dimensions", "sex").await;
    browser.choose("#f-dimensions-2", "age_band").await;
    browser.choose("#f-custom_year", &year).await;
    browser.fill("#f-custom_purpose", "service planning").await;
    browser.click("#show-table").await;
    let title = browser.wait_text("section.table h3").await;
    assert!(title.starts_with("sex × age band"), "{title}");
    let page = browser.source().await;
    assert!(
        page.contains("<svg") && page.contains("female"),
        "a chart and English labels"
    );
    browser.shot("custom-table").await;
    browser.shot_of("section.table", "custom-table-chart").await;
    browser.end().await;
}

async fn a_forensic_doctor_completes_a_death_in_serbian(app: TestApp) {
    let forensic = app.user("forensic", None, None).await;
    let mut browser = Chromium::start("forensic-sr", backend_of(&app), "sq").await;
    browser.log_in(&app, &forensic.username).await;
    // Serbian chosen from the language menu (the browser asked for Albanian).
    browser.choose("#language", "sr-Latn").await;
    browser.click("form.language button").await;
    for _ in 0..200 {
        if browser.source().await.contains("<html lang=\"sr-Latn\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(browser.source().await.contains("<html lang=\"sr-Latn\""));
    browser.click("a[href=\"/deaths\"]").await;
    browser.wait_path(|p| p == "/deaths").await;
    browser.shot("deaths").await;
    browser.click("#new-death").await;
    browser.wait_path(|p| p == "/deaths/new").await;

    let date = format!("{}-05-06", registry::export::current_year() - 1);
    browser.choose("#f-sex", "1").await;
    browser.fill("#f-age", "34").await;
    browser.fill("#f-date_of_death", &date).await;
    browser.choose("#f-municipality", "prizren").await;
    browser.choose("#f-place_type", "home").await;
    browser.choose("#f-manner", "accident").await;
    browser.fill("#f-multiple_causes", "T40.1").await;
    browser.click("#f-autopsy_done").await;
    browser.click("#f-toxicology_done").await;
    browser.click("#f-final_status").await;
    browser.choose("#f-substances-1-code", "1.1").await;
    browser.click("#f-substances-1-cause_relevant").await;
    browser.choose("#f-substances-1-matrix", "blood").await;
    // The cause found by the search, and chosen from its results.
    browser.fill("#f-icd_query", "X42").await;
    browser.click("#search-icd").await;
    browser
        .wait_text("button[name=\"pick_cause\"][value=\"X42\"]")
        .await;
    browser.shot("icd-search").await;
    browser
        .click("button[name=\"pick_cause\"][value=\"X42\"]")
        .await;
    for _ in 0..200 {
        if browser
            .source()
            .await
            .contains("name=\"underlying_cause\" value=\"X42\"")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        browser.source().await.contains("value=\"34\""),
        "what was typed stays"
    );
    browser.click("#save-death").await;
    let record = browser
        .wait_path(|p| p.starts_with("/deaths/") && p != "/deaths/new")
        .await;
    let selection = browser.wait_text("#selection-b").await;
    assert!(selection.starts_with("da"), "{selection}");
    browser.shot("death-saved").await;
    assert!(record.len() > "/deaths/".len());
    browser.end().await;
}

const TAB: &str = "\u{e004}";
const ENTER: &str = "\u{e007}";

async fn every_page_is_labelled_and_logging_in_works_from_the_keyboard(app: TestApp) {
    let mut browser = Chromium::start("keyboard", backend_of(&app), "en").await;
    let clinician = app.user("clinician", Some("uckk-psychiatry"), None).await;
    // Log in with the keyboard alone: Tab to the username, type, Tab, type, Enter.
    browser.goto(&format!("{}/login", app.base)).await;
    let mut presses = 0;
    while browser.focused().await != "f-username" {
        browser.keys(TAB).await;
        presses += 1;
        assert!(presses < 12, "the username field is reachable by Tab");
    }
    browser.keys(&clinician.username).await;
    browser.keys(TAB).await;
    assert_eq!(browser.focused().await, "f-password");
    browser.keys(crate::helpers::TEST_PASSWORD).await;
    browser.keys(ENTER).await;
    browser.wait_path(|p| p == "/").await;

    // Every role's pages: every control labelled, every description present.
    let roles = [
        ("clinician", Some("uckk-psychiatry"), None),
        ("social_worker", None, Some("peje")),
        ("police", None, None),
        ("forensic", None, None),
        ("analyst", None, None),
        ("auditor", None, None),
        ("admin", None, None),
        ("registrar", None, None),
    ];
    let mut visited = 0;
    for (role, facility, municipality) in roles {
        let user = app.user(role, facility, municipality).await;
        browser
            .client
            .delete_all_cookies()
            .await
            .expect("logged out");
        browser.log_in(&app, &user.username).await;
        let home = browser.source().await;
        let links: Vec<String> = home
            .match_indices("<li><a href=\"")
            .map(|(at, m)| {
                home[at + m.len()..]
                    .split('"')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        // Pages reached from a list rather than the menu.
        let beyond: &[&str] = match role {
            "clinician" => &["/overdoses/new"],
            "admin" => &["/admin/facilities/hosp-prizren"],
            _ => &[],
        };
        let beyond: Vec<String> = beyond.iter().map(|p| (*p).to_owned()).collect();
        for link in links
            .iter()
            .chain(&beyond)
            .chain([&"/password".to_owned(), &"/login".to_owned()])
        {
            browser.goto(&format!("{}{link}", app.base)).await;
            let problems = browser.unlabelled().await;
            assert!(problems.is_empty(), "{role} {link}: {problems:?}");
            visited += 1;
        }
        // A form sent back with problems keeps its labels and descriptions.
        if role == "clinician" {
            browser.goto(&format!("{}/episodes/new", app.base)).await;
            browser.click("#register").await;
            browser.wait_text("#problems-title").await;
            let problems = browser.unlabelled().await;
            assert!(problems.is_empty(), "register with problems: {problems:?}");
            // The check sees the form (it is not vacuous): dozens of controls, and a
            // control stripped of its label is reported.
            let controls = browser
                .client
                .execute(
                    "return document.querySelectorAll('select,input:not([type=hidden])').length",
                    Vec::new(),
                )
                .await
                .expect("count");
            assert!(controls.as_u64().unwrap_or(0) > 30, "{controls}");
            browser
                .client
                .execute(
                    "document.querySelector('label[for=f-route]').remove()",
                    Vec::new(),
                )
                .await
                .expect("label removed");
            assert_eq!(
                browser.unlabelled().await,
                vec!["unlabelled f-route".to_owned()]
            );
            browser.shot("register-all-problems").await;
        }
    }
    assert!(visited >= 20, "{visited} pages checked");
    browser.end().await;
}
