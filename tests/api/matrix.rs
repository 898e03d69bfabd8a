//! The every-role-by-every-route test: every operation in the OpenAPI document is
//! called by a logged-in user of every role (in and out of scope where the resource
//! is scoped) and by an anonymous caller, and the outcome must be exactly what the
//! policy matrix (`registry policy matrix`) says. An operation this test does not
//! know fails it, so no route can be added without appearing here.

use std::collections::BTreeMap;

use registry::authz::{Authorizer, Role, ScopeCase};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TEST_PASSWORD, TestApp, TestUser};

backend_tests!(every_role_on_every_route_gets_exactly_the_matrix);

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// No login needed.
    Public,
    /// Any logged-in user (the caller's own account or session).
    Authenticated,
    /// Decided by the policy for this action.
    Policy(&'static str),
    /// Decided by the policy, on a route made for these roles' record shape only
    /// (the clinical and the police overdose forms).
    PolicyFor(&'static str, &'static [Role]),
}

/// Scope cases exercised for national and for scoped resources.
const NATIONAL: &[ScopeCase] = &[ScopeCase::NotScoped];
const IN: &[ScopeCase] = &[ScopeCase::InScope];
const IN_OUT: &[ScopeCase] = &[ScopeCase::InScope, ScopeCase::OutOfScope];

/// Every API operation: method, OpenAPI path, who may call it, and the scope cases
/// to try (creating and listing happen in the caller's own scope only).
const ROUTES: &[(&str, &str, Access, &[ScopeCase])] = &[
    ("POST", "/sessions", Access::Public, NATIONAL),
    (
        "DELETE",
        "/sessions/current",
        Access::Authenticated,
        NATIONAL,
    ),
    ("GET", "/me", Access::Authenticated, NATIONAL),
    ("POST", "/me/password", Access::Authenticated, NATIONAL),
    ("POST", "/me/totp", Access::Authenticated, NATIONAL),
    ("POST", "/me/totp/confirm", Access::Authenticated, NATIONAL),
    (
        "GET",
        "/reference/districts",
        Access::Policy("read_reference"),
        NATIONAL,
    ),
    (
        "GET",
        "/reference/municipalities",
        Access::Policy("read_reference"),
        NATIONAL,
    ),
    (
        "GET",
        "/reference/code-lists",
        Access::Policy("read_reference"),
        NATIONAL,
    ),
    (
        "GET",
        "/reference/code-lists/{list}",
        Access::Policy("read_reference"),
        NATIONAL,
    ),
    (
        "POST",
        "/reference/code-lists/{list}/check",
        Access::Policy("read_reference"),
        NATIONAL,
    ),
    (
        "GET",
        "/reference/substances",
        Access::Policy("read_reference"),
        NATIONAL,
    ),
    (
        "GET",
        "/reference/icd10",
        Access::Policy("read_reference"),
        NATIONAL,
    ),
    (
        "GET",
        "/reference/facilities",
        Access::Policy("read_reference"),
        NATIONAL,
    ),
    ("GET", "/users", Access::Policy("manage_users"), NATIONAL),
    ("POST", "/users", Access::Policy("manage_users"), NATIONAL),
    (
        "PUT",
        "/users/{user_id}/scope",
        Access::Policy("manage_users"),
        NATIONAL,
    ),
    (
        "POST",
        "/users/{user_id}/disable",
        Access::Policy("manage_users"),
        NATIONAL,
    ),
    (
        "POST",
        "/facilities",
        Access::Policy("manage_facilities"),
        NATIONAL,
    ),
    (
        "PATCH",
        "/facilities/{code}",
        Access::Policy("manage_facilities"),
        NATIONAL,
    ),
    (
        "GET",
        "/audit/events",
        Access::Policy("read_audit"),
        NATIONAL,
    ),
    (
        "POST",
        "/audit/verify",
        Access::Policy("verify_audit"),
        NATIONAL,
    ),
    (
        "GET",
        "/subjects/{registry_id}/access-report",
        Access::Policy("subject_access_report"),
        NATIONAL,
    ),
    (
        "POST",
        "/subjects/{registry_id}/shred",
        Access::Policy("shred_subject"),
        NATIONAL,
    ),
    (
        "GET",
        "/linkage/reviews",
        Access::Policy("review_links"),
        NATIONAL,
    ),
    (
        "POST",
        "/linkage/reviews/{review_id}",
        Access::Policy("decide_links"),
        NATIONAL,
    ),
    (
        "POST",
        "/subjects/{registry_id}/split",
        Access::Policy("decide_links"),
        NATIONAL,
    ),
    (
        "GET",
        "/keys/status",
        Access::Policy("read_key_status"),
        NATIONAL,
    ),
    ("POST", "/episodes", Access::Policy("create_episode"), IN),
    ("GET", "/episodes", Access::Policy("list_episodes"), IN),
    (
        "POST",
        "/episodes/search",
        Access::Policy("list_episodes"),
        IN,
    ),
    (
        "GET",
        "/episodes/{episode_id}",
        Access::Policy("read_episode"),
        IN_OUT,
    ),
    (
        "PATCH",
        "/episodes/{episode_id}",
        Access::Policy("update_episode"),
        IN_OUT,
    ),
    (
        "POST",
        "/episodes/{episode_id}/close",
        Access::Policy("update_episode"),
        IN_OUT,
    ),
    (
        "GET",
        "/episodes/{episode_id}/history",
        Access::Policy("read_episode"),
        IN_OUT,
    ),
    ("POST", "/ost-checks", Access::Policy("check_ost"), NATIONAL),
    (
        "POST",
        "/social-contacts",
        Access::Policy("create_social_contact"),
        IN,
    ),
    (
        "GET",
        "/social-contacts",
        Access::Policy("list_social_contacts"),
        IN,
    ),
    (
        "GET",
        "/social-contacts/{contact_id}",
        Access::Policy("read_social_contact"),
        IN_OUT,
    ),
    (
        "POST",
        "/death-notifications",
        Access::Policy("create_death_notification"),
        IN,
    ),
    (
        "GET",
        "/death-notifications",
        Access::Policy("list_death_notifications"),
        IN,
    ),
    (
        "GET",
        "/death-notifications/{death_id}",
        Access::Policy("read_death_notification"),
        IN_OUT,
    ),
    (
        "PUT",
        "/death-notifications/{death_id}",
        Access::Policy("update_death_notification"),
        IN_OUT,
    ),
    (
        "POST",
        "/deaths",
        Access::Policy("create_death_record"),
        NATIONAL,
    ),
    (
        "GET",
        "/deaths",
        Access::Policy("list_death_records"),
        NATIONAL,
    ),
    (
        "GET",
        "/deaths/{death_id}",
        Access::Policy("read_death_record"),
        NATIONAL,
    ),
    (
        "PUT",
        "/deaths/{death_id}",
        Access::Policy("update_death_record"),
        NATIONAL,
    ),
    (
        "POST",
        "/overdoses",
        Access::PolicyFor("create_overdose", &[Role::Clinician]),
        IN,
    ),
    (
        "POST",
        "/police-overdoses",
        Access::PolicyFor("create_overdose", &[Role::Police]),
        IN,
    ),
    ("GET", "/overdoses", Access::Policy("list_overdoses"), IN),
    (
        "GET",
        "/overdoses/{overdose_id}",
        Access::Policy("read_overdose"),
        IN_OUT,
    ),
    (
        "GET",
        "/substance-signals",
        Access::Policy("list_new_substances"),
        NATIONAL,
    ),
    (
        "GET",
        "/exports/tables",
        Access::Policy("list_export_tables"),
        NATIONAL,
    ),
    ("POST", "/exports", Access::Policy("run_export"), NATIONAL),
    (
        "POST",
        "/exports/custom",
        Access::Policy("run_export"),
        NATIONAL,
    ),
    (
        "GET",
        "/exports/releases",
        Access::Policy("list_export_tables"),
        NATIONAL,
    ),
    (
        "GET",
        "/exports/freeze",
        Access::Policy("list_export_tables"),
        NATIONAL,
    ),
    (
        "POST",
        "/exports/freeze",
        Access::Policy("freeze_year"),
        NATIONAL,
    ),
    (
        "POST",
        "/exports/statutory",
        Access::Policy("run_statutory_export"),
        NATIONAL,
    ),
];

fn notification_body() -> Value {
    json!({"date_of_death": "2025-06-14", "municipality": "prizren", "place_type": "home"})
}

fn forensic_body() -> Value {
    json!({"date_of_death": "2025-06-14", "municipality": "prizren", "place_type": "home",
        "underlying_cause": "X42", "multiple_causes": ["T40.1"], "manner": "accident",
        "autopsy_done": true, "toxicology_done": true,
        "substances": [{"code": "1.1", "cause_relevant": true}]})
}

fn clinical_overdose_body() -> Value {
    json!({"presented_at": "2025-03-03T22:15", "sex": "1", "age": 27, "municipality": "peje",
        "arrival_by_ambulance": true, "alcohol": false, "naloxone": true, "outcome": "discharged"})
}

fn police_overdose_body() -> Value {
    json!({"date": "2025-03-04", "municipality": "peje", "naloxone_given": false, "outcome": "other"})
}

/// Records made by users of the matrix samples' own scope ("in") and of another
/// scope ("out"): clinicians at uckk-psychiatry / hosp-prizren, social workers in
/// prishtine / prizren.
struct Owners {
    clinician_in: TestUser,
    clinician_out: TestUser,
    social_in: TestUser,
    social_out: TestUser,
    police_other: TestUser,
    forensic: TestUser,
}

impl Owners {
    async fn new(app: &TestApp) -> Self {
        // Outputs read frozen years only: freeze last year for the export routes.
        registry::cases::outputs::freeze(
            &app.store,
            &app.keys,
            &registry::export::snapshot::Cache::default(),
            registry::export::current_year() - 1,
            &registry::export::Requester {
                user_id: "cli".into(),
                role: "operator".into(),
                purpose: "matrix test".into(),
                rules: "cli".into(),
            },
            &registry::export::Rules::default(),
        )
        .await
        .expect("freeze");
        Self {
            clinician_in: app.user("clinician", Some("uckk-psychiatry"), None).await,
            clinician_out: app.user("clinician", Some("hosp-prizren"), None).await,
            social_in: app.user("social_worker", None, Some("prishtine")).await,
            social_out: app.user("social_worker", None, Some("prizren")).await,
            police_other: app.user("police", None, None).await,
            forensic: app.user("forensic", None, None).await,
        }
    }

    /// A notification reported by the caller when in scope (if the caller can
    /// report), else by another police officer.
    async fn notification(
        &self,
        app: &TestApp,
        case: ScopeCase,
        caller: Option<&TestUser>,
        role: Option<Role>,
    ) -> String {
        let owner = match (case, role, caller) {
            (ScopeCase::InScope, Some(Role::Police), Some(c)) => c,
            _ => &self.police_other,
        };
        let (status, body) = app
            .send(
                Method::POST,
                "/api/v1/death-notifications",
                Some(&owner.token),
                Some(&notification_body()),
            )
            .await;
        assert_eq!(status, 201, "fixture notification: {body}");
        body["id"].as_str().expect("id").to_owned()
    }

    async fn death(&self, app: &TestApp) -> String {
        let (status, body) = app
            .send(
                Method::POST,
                "/api/v1/deaths",
                Some(&self.forensic.token),
                Some(&forensic_body()),
            )
            .await;
        assert_eq!(status, 201, "fixture death: {body}");
        body["id"].as_str().expect("id").to_owned()
    }

    /// An overdose at the caller's facility / by the caller when in scope, else at
    /// another facility.
    async fn overdose(
        &self,
        app: &TestApp,
        case: ScopeCase,
        caller: Option<&TestUser>,
        role: Option<Role>,
    ) -> String {
        let (owner, path, body) = match (case, role, caller) {
            (ScopeCase::InScope, Some(Role::Police), Some(c)) => {
                (c, "/api/v1/police-overdoses", police_overdose_body())
            }
            (ScopeCase::InScope, _, _) => (
                &self.clinician_in,
                "/api/v1/overdoses",
                clinical_overdose_body(),
            ),
            _ => (
                &self.clinician_out,
                "/api/v1/overdoses",
                clinical_overdose_body(),
            ),
        };
        let (status, created) = app
            .send(Method::POST, path, Some(&owner.token), Some(&body))
            .await;
        assert_eq!(status, 201, "fixture overdose: {created}");
        created["id"].as_str().expect("id").to_owned()
    }

    async fn episode(&self, app: &TestApp, case: ScopeCase) -> String {
        let owner = if case == ScopeCase::OutOfScope {
            &self.clinician_out
        } else {
            &self.clinician_in
        };
        let (status, body) = app
            .send(
                Method::POST,
                "/api/v1/episodes",
                Some(&owner.token),
                // Random family names too: two fixtures sharing one family name and
                // birth date could be linked as one person by fuzzy linkage (random
                // given names over 16 letters share letter pairs), and the second
                // episode would then continue the first.
                Some(&crate::episodes::episode(
                    &letters(),
                    &letters(),
                    "1990-01-01",
                    "2025-01-01",
                )),
            )
            .await;
        assert_eq!(status, 201, "fixture episode: {body}");
        body["episode_id"].as_str().expect("id").to_owned()
    }

    async fn contact(&self, app: &TestApp, case: ScopeCase) -> String {
        let owner = if case == ScopeCase::OutOfScope {
            &self.social_out
        } else {
            &self.social_in
        };
        let (status, body) = app
            .send(
                Method::POST,
                "/api/v1/social-contacts",
                Some(&owner.token),
                Some(&contact_body()),
            )
            .await;
        assert_eq!(status, 201, "fixture contact: {body}");
        body["contact_id"].as_str().expect("id").to_owned()
    }
}

/// A fresh open review item: twins (one family name, one birth date, another
/// given name and sex), a family and a birth date no other fixture has.
async fn fresh_review(app: &TestApp) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (_, family, birth) = crate::helpers::distinct_person(n + 200);
    let family = format!("{family}-{}", letters());
    let twin = |first: &str, sex: &str| registry::identity::subject::IdentityInput {
        personal_number: None,
        first_name: first.into(),
        last_name: family.clone(),
        birth_date: birth.clone(),
        sex: sex.into(),
    };
    let link = |input| async move {
        registry::cases::subjects::link_identity(&app.store, &app.keys, &input)
            .await
            .expect("linked")
    };
    link(twin("Dardan", "1")).await;
    let sister = link(twin("Merita", "2")).await;
    sister
        .reviews
        .first()
        .cloned()
        .expect("twins are queued for review")
}

/// A fresh subject merged into another (a review item decided as one person).
async fn fresh_merged(app: &TestApp) -> String {
    let review = fresh_review(app).await;
    let merged = app
        .store
        .open_reviews(1_000)
        .await
        .expect("reviews")
        .into_iter()
        .find(|r| r.review_id == review)
        .expect("the review")
        .subject;
    app.store
        .decide_review(
            &review,
            registry::store::linkage::ReviewDecision::Link,
            "same_person_slip",
            registry::audit::AuditEvent::new(
                "fixture",
                "registrar",
                "decide_links",
                registry::audit::Outcome::Success,
            ),
        )
        .await
        .expect("decided")
        .expect("merged");
    merged
}

/// A fresh name of letters only (names may not hold digits).
fn letters() -> String {
    counter()
        .chars()
        .map(|c| char::from(b'a' + (c.to_digit(16).unwrap_or(0) as u8)))
        .collect()
}

fn contact_body() -> Value {
    json!({
        "identity": {"first_name": letters(), "last_name": letters(), "birth_date": "1990-01-01", "sex": "2"},
        "contact_date": "2025-02-01",
        "service_type": "counselling",
        "referral_to_treatment": false,
        "housing_support": false,
        "employment_support": false
    })
}

/// A logged-in user of `role`, with the scope the policy matrix's samples assume.
async fn user_of(app: &TestApp, role: Role) -> TestUser {
    match role {
        Role::Clinician => app.user(role.as_str(), Some("uckk-psychiatry"), None).await,
        Role::SocialWorker => app.user(role.as_str(), None, Some("prishtine")).await,
        _ => app.user(role.as_str(), None, None).await,
    }
}

/// The users of every role.
async fn users(app: &TestApp) -> BTreeMap<Role, TestUser> {
    let mut out = BTreeMap::new();
    for role in Role::ALL {
        out.insert(role, user_of(app, role).await);
    }
    out
}

fn counter() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_owned()
}

/// A concrete request for an operation: path with parameters filled and a valid body,
/// so that an allowed call succeeds (2xx) and only a denial fails.
async fn request_for(
    app: &TestApp,
    owners: &Owners,
    method: &str,
    path: &str,
    caller: Option<&TestUser>,
    case: ScopeCase,
    role: Option<Role>,
) -> Option<(String, Option<Value>)> {
    let fresh_subject = || async {
        registry::cases::subjects::link_identity(
            &app.store,
            &app.keys,
            &registry::identity::subject::IdentityInput {
                personal_number: None,
                first_name: format!(
                    "Matrix{}",
                    counter().replace(|c: char| c.is_ascii_digit(), "")
                ),
                last_name: "Subject".into(),
                birth_date: "1990-01-01".into(),
                sex: "1".into(),
            },
        )
        .await
        .expect("subject")
        .registry_id
    };
    Some(match (method, path) {
        ("POST", "/sessions") => {
            let target = app.user("analyst", None, None).await;
            (
                path.into(),
                Some(json!({"username": target.username, "password": TEST_PASSWORD})),
            )
        }
        ("DELETE", "/sessions/current") | ("GET", "/me") | ("POST", "/me/totp") => {
            (path.into(), None)
        }
        ("POST", "/me/password") => (
            path.into(),
            Some(json!({"current_password": TEST_PASSWORD, "new_password": TEST_PASSWORD})),
        ),
        ("POST", "/me/totp/confirm") => {
            // Enrol first so that a valid code can be computed.
            let token = caller.map(|c| c.token.as_str());
            let (_, enrolment) = app.send(Method::POST, "/api/v1/me/totp", token, None).await;
            let code = enrolment["secret"]
                .as_str()
                .and_then(|s| totp_rs::Secret::Encoded(s.to_owned()).to_bytes().ok())
                .map(|secret| {
                    let now = u64::try_from(registry::auth::unix_now()).unwrap_or(0);
                    registry::auth::totp::code_at(&secret, now)
                })
                .unwrap_or_else(|| "000000".into());
            (path.into(), Some(json!({"code": code})))
        }
        ("GET", p) if p.starts_with("/reference/") && !p.contains('{') => (path.into(), None),
        ("GET", "/reference/code-lists/{list}") => ("/reference/code-lists/route".into(), None),
        ("POST", "/reference/code-lists/{list}/check") => (
            "/reference/code-lists/route/check".into(),
            Some(json!({"codes": ["1", "7"]})),
        ),
        ("GET", "/users")
        | ("GET", "/audit/events")
        | ("POST", "/audit/verify")
        | ("GET", "/keys/status") => (path.into(), None),
        ("POST", "/users") => (
            path.into(),
            Some(json!({"username": format!("made-{}", counter()), "role": "analyst"})),
        ),
        ("PUT", "/users/{user_id}/scope") => {
            let target = app.user("analyst", None, None).await;
            (
                format!("/users/{}/scope", target.user_id),
                Some(json!({"role": "auditor"})),
            )
        }
        ("POST", "/users/{user_id}/disable") => {
            let target = app.user("analyst", None, None).await;
            (format!("/users/{}/disable", target.user_id), None)
        }
        ("POST", "/facilities") => (
            path.into(),
            Some(json!({
                "code": format!("matrix-{}", counter()),
                "name": "Matrix clinic",
                "municipality": "prishtine",
                "centre_type": "1",
                "emergency_capable": false,
            })),
        ),
        // A change that changes nothing: the facility keeps operating.
        ("PATCH", "/facilities/{code}") => (
            "/facilities/ngo-lowthreshold-prishtine".into(),
            Some(json!({"active": true})),
        ),
        ("GET", "/subjects/{registry_id}/access-report") => (
            format!("/subjects/{}/access-report", fresh_subject().await),
            None,
        ),
        ("GET", "/linkage/reviews") => (path.into(), None),
        ("POST", "/linkage/reviews/{review_id}") => (
            format!("/linkage/reviews/{}", fresh_review(app).await),
            Some(json!({"decision": "distinct", "reason": "relatives"})),
        ),
        ("POST", "/subjects/{registry_id}/split") => (
            format!("/subjects/{}/split", fresh_merged(app).await),
            Some(json!({"reason": "different_people"})),
        ),
        ("POST", "/subjects/{registry_id}/shred") => (
            format!("/subjects/{}/shred", fresh_subject().await),
            Some(json!({"legal_basis": "no_longer_necessary", "reference": "DPO-2026/17"})),
        ),
        ("POST", "/episodes") => (
            path.into(),
            Some(crate::episodes::episode(
                &letters(),
                &letters(),
                "1990-01-01",
                "2025-01-01",
            )),
        ),
        ("GET", "/episodes") | ("GET", "/social-contacts") | ("GET", "/death-notifications") => {
            (path.into(), None)
        }
        ("POST", "/episodes/search") => (
            path.into(),
            Some(json!({"first_name": "Nobody", "last_name": "Known", "birth_date": "1990-01-01"})),
        ),
        ("GET", "/episodes/{episode_id}") => (
            format!("/episodes/{}", owners.episode(app, case).await),
            None,
        ),
        ("PATCH", "/episodes/{episode_id}") => (
            format!("/episodes/{}", owners.episode(app, case).await),
            Some(json!({"frequency": "2"})),
        ),
        ("POST", "/episodes/{episode_id}/close") => (
            format!("/episodes/{}/close", owners.episode(app, case).await),
            Some(json!({"end_date": "2025-06-01", "end_reason": "completed"})),
        ),
        ("GET", "/episodes/{episode_id}/history") => (
            format!("/episodes/{}/history", owners.episode(app, case).await),
            None,
        ),
        ("POST", "/ost-checks") => (
            path.into(),
            Some(
                json!({"identity": {"first_name": "Nobody", "last_name": "Known", "birth_date": "1990-01-01", "sex": "1"}}),
            ),
        ),
        ("POST", "/social-contacts") => (path.into(), Some(contact_body())),
        ("GET", "/social-contacts/{contact_id}") => (
            format!("/social-contacts/{}", owners.contact(app, case).await),
            None,
        ),
        ("POST", "/death-notifications") => (path.into(), Some(notification_body())),
        ("GET", "/death-notifications/{death_id}") => (
            format!(
                "/death-notifications/{}",
                owners.notification(app, case, caller, role).await
            ),
            None,
        ),
        ("PUT", "/death-notifications/{death_id}") => (
            format!(
                "/death-notifications/{}",
                owners.notification(app, case, caller, role).await
            ),
            Some(notification_body()),
        ),
        ("POST", "/deaths") => (path.into(), Some(forensic_body())),
        ("GET", "/deaths") | ("GET", "/overdoses") | ("GET", "/substance-signals") => {
            (path.into(), None)
        }
        ("GET", "/exports/tables") | ("GET", "/exports/releases") | ("GET", "/exports/freeze") => {
            (path.into(), None)
        }
        ("POST", "/exports") => (
            path.into(),
            Some(
                json!({"tables": ["tdi-8"], "year": registry::export::current_year() - 1, "purpose": "matrix test"}),
            ),
        ),
        ("POST", "/exports/custom") => (
            path.into(),
            Some(
                json!({"dimensions": ["sex", "age_band"], "year": registry::export::current_year() - 1, "purpose": "matrix test"}),
            ),
        ),
        ("POST", "/exports/freeze") => (
            path.into(),
            Some(json!({"year": registry::export::current_year() - 2, "purpose": "matrix test"})),
        ),
        ("POST", "/exports/statutory") => (
            path.into(),
            Some(
                json!({"year": registry::export::current_year() - 1, "format": "json", "purpose": "matrix test"}),
            ),
        ),
        ("GET", "/deaths/{death_id}") => (format!("/deaths/{}", owners.death(app).await), None),
        ("PUT", "/deaths/{death_id}") => (
            format!("/deaths/{}", owners.death(app).await),
            Some(forensic_body()),
        ),
        ("POST", "/overdoses") => (path.into(), Some(clinical_overdose_body())),
        ("POST", "/police-overdoses") => (path.into(), Some(police_overdose_body())),
        ("GET", "/overdoses/{overdose_id}") => (
            format!(
                "/overdoses/{}",
                owners.overdose(app, case, caller, role).await
            ),
            None,
        ),
        _ => return None,
    })
}

fn allowed(
    matrix: &[registry::authz::MatrixRow],
    role: Role,
    action: &str,
    case: ScopeCase,
) -> bool {
    matrix
        .iter()
        .find(|r| r.role == role && r.action == action && r.scope == case)
        .map(|r| r.allowed)
        .unwrap_or_else(|| {
            panic!(
                "the policy matrix has no row for {action} {}",
                case.as_str()
            )
        })
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap_or(Method::GET)
}

async fn every_role_on_every_route_gets_exactly_the_matrix(app: TestApp) {
    let (_, document) = app.get_json("/api/v1/openapi.json").await;
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for verb in ["get", "post", "put", "patch", "delete"] {
            if item.get(verb).is_some() {
                operations.push((verb.to_uppercase(), path.clone()));
            }
        }
    }
    let unknown: Vec<_> = operations
        .iter()
        .filter(|(m, p)| !ROUTES.iter().any(|(rm, rp, _, _)| rm == m && rp == p))
        .collect();
    assert!(
        unknown.is_empty(),
        "routes missing from the matrix test: {unknown:?}"
    );
    let vanished: Vec<_> = ROUTES
        .iter()
        .filter(|(m, p, _, _)| !operations.iter().any(|(om, op)| om == m && op == p))
        .collect();
    assert!(
        vanished.is_empty(),
        "routes in the test but not in the API: {vanished:?}"
    );

    let matrix = Authorizer::new().expect("policies").matrix();
    let users = users(&app).await;
    let mut mismatches = Vec::new();
    let mut calls = 0;
    let owners = Owners::new(&app).await;
    let mut expected_calls = 0;
    for (verb, path, access, cases) in ROUTES {
        expected_calls += 1 + Role::ALL.len() * cases.len();
        // Anonymous.
        let (url, body) = request_for(&app, &owners, verb, path, None, cases[0], None)
            .await
            .expect("known route");
        let (status, _) = app
            .send(method(verb), &format!("/api/v1{url}"), None, body.as_ref())
            .await;
        calls += 1;
        let anonymous_ok = status.is_success();
        if anonymous_ok != (*access == Access::Public) {
            mismatches.push(format!("anonymous {verb} {path}: got {status}"));
        }
        for (role, user) in &users {
            for case in cases.iter().copied() {
                // A fresh session per call, so logout and password change cannot
                // disturb the next one; TOTP enrolment changes the account, so it
                // gets its own.
                let caller = if *path == "/me/totp/confirm" {
                    user_of(&app, *role).await
                } else {
                    TestUser {
                        token: app.login(&user.username, TEST_PASSWORD).await,
                        ..user.clone()
                    }
                };
                let token = caller.token.clone();
                let (url, body) =
                    request_for(&app, &owners, verb, path, Some(&caller), case, Some(*role))
                        .await
                        .expect("known route");
                let (status, response) = app
                    .send(
                        method(verb),
                        &format!("/api/v1{url}"),
                        Some(&token),
                        body.as_ref(),
                    )
                    .await;
                calls += 1;
                let expected = match access {
                    Access::Public | Access::Authenticated => true,
                    Access::Policy(action) => allowed(&matrix, *role, action, case),
                    Access::PolicyFor(action, roles) => {
                        roles.contains(role) && allowed(&matrix, *role, action, case)
                    }
                };
                let observed = if status.is_success() {
                    true
                } else if status == 403 || status == 404 {
                    false
                } else {
                    mismatches.push(format!(
                        "{} {} {verb} {path}: unexpected {status} {response}",
                        role.as_str(),
                        case.as_str()
                    ));
                    continue;
                };
                if observed != expected {
                    mismatches.push(format!(
                        "{} {} {verb} {path}: expected {}, got {status} {response}",
                        role.as_str(),
                        case.as_str(),
                        if expected { "allow" } else { "deny" }
                    ));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert_eq!(calls, expected_calls);
}
