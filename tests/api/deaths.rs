//! Drug-related deaths and overdoses: police, forensic and emergency workflows.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, error_code};

backend_tests!(
    notification_and_forensic_record_of_one_death_count_once,
    police_see_only_their_own_notifications_and_never_findings,
    icd10_cm_codes_and_bad_records_are_refused_with_every_field,
    deaths_link_to_people_known_to_treatment_invisibly,
    overdoses_are_recorded_by_emergency_departments_and_police,
    deaths_of_every_cause_are_completed_and_count_for_cohort_mortality,
);

fn notification() -> Value {
    json!({
        "date_of_death": "2025-06-14",
        "municipality": "prizren",
        "place_type": "public_place",
        "found_alone": true,
        "paraphernalia": true,
        "witnessed": false,
        "suspected_substances": ["1.1"],
        "identity": {"first_name": "Blerim", "last_name": "Zeka", "birth_date": "1989-09-09", "sex": "1"},
        "circumstances": "Found-in-park-Zq9 by a passer-by"
    })
}

fn forensic(notification_id: Option<&str>) -> Value {
    json!({
        "notification_id": notification_id,
        "identity": {"first_name": "Blerim", "last_name": "Zeka", "birth_date": "1989-09-09", "sex": "1"},
        "date_of_death": "2025-06-14",
        "municipality": "prizren",
        "place_type": "public_place",
        "underlying_cause": "X42",
        "multiple_causes": ["T40.1", "T42.4"],
        "manner": "accident",
        "autopsy_done": true,
        "toxicology_done": true,
        "substances": [
            {"code": "1.1", "cause_relevant": true, "matrix": "blood", "concentration": "0.31 mg/L morphine"},
            {"code": "4.2", "cause_relevant": false, "matrix": "blood"},
            {"nps_name": "Isotonitazene", "cause_relevant": true, "matrix": "blood"}
        ],
        "final_status": true
    })
}

async fn post(
    app: &TestApp,
    user: &TestUser,
    path: &str,
    body: &Value,
) -> (reqwest::StatusCode, Value) {
    app.send(Method::POST, path, Some(&user.token), Some(body))
        .await
}

async fn get(app: &TestApp, user: &TestUser, path: &str) -> (reqwest::StatusCode, Value) {
    app.send(Method::GET, path, Some(&user.token), None).await
}

async fn notification_and_forensic_record_of_one_death_count_once(app: TestApp) {
    let police = app.user("police", None, None).await;
    let doctor = app.user("forensic", None, None).await;
    let (status, created) = post(
        &app,
        &police,
        "/api/v1/death-notifications",
        &notification(),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let (status, body) = post(&app, &doctor, "/api/v1/deaths", &forensic(Some(&id))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["id"],
        id.as_str(),
        "the notification is completed, not duplicated"
    );
    let deaths = app.store.deaths_in_year(2025).await.expect("deaths");
    assert_eq!(deaths.len(), 1, "counted once");
    assert!(deaths[0].has_notification && deaths[0].has_forensic && deaths[0].forensic_complete);

    let (status, view) = get(&app, &doctor, &format!("/api/v1/deaths/{id}")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["selection_b"], true);
    assert_eq!(
        view["selection_b_rule"]
            .as_str()
            .map(|r| r.starts_with("B2")),
        Some(true),
        "{view}"
    );
    assert_eq!(view["selection_d"], true);
    assert_eq!(view["identity"]["last_name"], "Zeka");
    assert_eq!(view["substances"][0]["concentration"], "0.31 mg/L morphine");
    assert_eq!(view["police_circumstances"]["found_alone"], true);

    // A second forensic record for the same notification is refused.
    let (status, _) = post(&app, &doctor, "/api/v1/deaths", &forensic(Some(&id))).await;
    assert_eq!(status, 422);
    // The unknown substance reached the early-warning list.
    let (status, signals) = get(&app, &doctor, "/api/v1/substance-signals").await;
    assert_eq!(status, 200);
    assert_eq!(signals[0]["name"], "isotonitazene");
    assert_eq!(signals[0]["reports"], 1);
    // Updating reclassifies: pending manner takes the death out of Selection D.
    let mut pending = forensic(None);
    pending["manner"] = json!("pending");
    let (status, body) = app
        .send(
            Method::PUT,
            &format!("/api/v1/deaths/{id}"),
            Some(&doctor.token),
            Some(&pending),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, view) = get(&app, &doctor, &format!("/api/v1/deaths/{id}")).await;
    assert_eq!(view["selection_d"], false);
    assert_eq!(view["selection_b"], true);

    // A master-key rotation re-wraps the death's own data key too.
    let report = registry::cases::keys::rotate_master(
        &app.store,
        &app.key_file,
        10,
        std::time::Duration::ZERO,
        |_| {},
    )
    .await
    .expect("rotation");
    assert!(report.rows_moved >= 1, "{report:?}");
    app.keys.reload_if_changed().expect("reload");
    registry::cases::keys::retire(
        &app.store,
        &app.key_file,
        registry::crypto::keyfile::KeyKind::Master,
        1,
    )
    .await
    .expect("nothing left on version 1");
    app.keys.reload_if_changed().expect("reload");
    let (status, view) = get(&app, &doctor, &format!("/api/v1/deaths/{id}")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["identity"]["last_name"], "Zeka");
}

async fn police_see_only_their_own_notifications_and_never_findings(app: TestApp) {
    let police = app.user("police", None, None).await;
    let colleague = app.user("police", None, None).await;
    let doctor = app.user("forensic", None, None).await;
    let (_, created) = post(
        &app,
        &police,
        "/api/v1/death-notifications",
        &notification(),
    )
    .await;
    let id = created["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/death-notifications/{id}");
    let (status, view) = get(&app, &police, &path).await;
    assert_eq!(status, 200);
    assert_eq!(
        view["circumstances"]["circumstances"],
        "Found-in-park-Zq9 by a passer-by"
    );
    for hidden in [
        "identity",
        "registry_id",
        "substances",
        "underlying_cause",
        "selection_b",
    ] {
        assert!(view.get(hidden).is_none(), "{hidden} shown to police");
    }
    assert_eq!(
        get(&app, &colleague, &path).await.0,
        404,
        "another officer's notification"
    );
    let mut amended = notification();
    amended["place_type"] = json!("home");
    let amend = |user: TestUser, body: Value| {
        let app = &app;
        let path = path.clone();
        async move {
            app.send(Method::PUT, &path, Some(&user.token), Some(&body))
                .await
                .0
        }
    };
    assert_eq!(amend(police.clone(), amended.clone()).await, 204);
    assert_eq!(amend(colleague.clone(), amended.clone()).await, 404);
    post(&app, &doctor, "/api/v1/deaths", &forensic(Some(&id))).await;
    let (status, body) = app
        .send(Method::PUT, &path, Some(&police.token), Some(&amended))
        .await;
    assert_eq!(status, 409, "no amendments after forensic completion");
    assert_eq!(body["error"]["code"], "completed_by_forensic_medicine");
    assert_eq!(
        amend(colleague.clone(), amended.clone()).await,
        404,
        "another officer still learns nothing"
    );
    assert_ne!(
        amend(doctor.clone(), amended).await,
        409,
        "only the author is told why"
    );
    let (status, view) = get(&app, &police, &path).await;
    assert_eq!(status, 200);
    assert_eq!(view["forensic_complete"], true);
    assert_eq!(
        view["suspected_substances"],
        json!(["1.1"]),
        "what the police reported reads back after completion: {view}"
    );
    assert!(view.get("selection_d").is_none());
    assert_eq!(
        get(&app, &police, &format!("/api/v1/deaths/{id}")).await.0,
        403
    );
    assert_eq!(get(&app, &police, "/api/v1/episodes").await.0, 403);
}

async fn icd10_cm_codes_and_bad_records_are_refused_with_every_field(app: TestApp) {
    let doctor = app.user("forensic", None, None).await;
    let mut bad = forensic(None);
    bad["underlying_cause"] = json!("F11.20");
    bad["multiple_causes"] = json!(["T40.1X1A", "U99.9"]);
    bad["manner"] = json!("of old age");
    bad["municipality"] = json!("atlantis");
    bad["substances"] = json!([{"code": "1.9", "cause_relevant": true}, {"cause_relevant": true}]);
    let (status, body) = post(&app, &doctor, "/api/v1/deaths", &bad).await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    for f in [
        "underlying_cause",
        "multiple_causes[0]",
        "multiple_causes[1]",
        "manner",
        "municipality",
        "substances[0].code",
        "substances[1]",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    let cm = body["error"]["fields"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["field"] == "underlying_cause"))
        .and_then(|f| f["problem"].as_str())
        .unwrap_or_default();
    assert!(cm.contains("ICD-10-CM"), "{cm}");
    assert!(
        app.store
            .deaths_in_year(2025)
            .await
            .expect("deaths")
            .is_empty()
    );
    let police = app.user("police", None, None).await;
    assert_eq!(
        post(&app, &police, "/api/v1/deaths", &forensic(None))
            .await
            .0,
        403
    );
    let (status, body) = get(&app, &police, "/api/v1/deaths").await;
    assert_eq!(status, 403);
    assert_eq!(error_code(&body), "forbidden");
}

async fn deaths_link_to_people_known_to_treatment_invisibly(app: TestApp) {
    let doc = app.user("clinician", Some("hosp-prizren"), None).await;
    let mut ep = crate::episodes::episode("Blerim", "Zeka", "1989-09-09", "2024-02-02");
    ep["municipality"] = json!("prizren");
    let (status, created) = post(&app, &doc, "/api/v1/episodes", &ep).await;
    assert_eq!(status, 201);
    // Left treatment three months before death.
    let episode_id = created["episode_id"].as_str().expect("id");
    let (status, _) = post(
        &app,
        &doc,
        &format!("/api/v1/episodes/{episode_id}/close"),
        &json!({"end_date": "2025-03-01", "end_reason": "dropped_out"}),
    )
    .await;
    assert_eq!(status, 204);
    let doctor = app.user("forensic", None, None).await;
    // The forensic record misspells the family name: fuzzy linkage finds the person
    // all the same.
    let mut record = forensic(None);
    record["identity"]["last_name"] = json!("Zekka");
    let (_, created) = post(&app, &doctor, "/api/v1/deaths", &record).await;
    let id = created["id"].as_str().expect("id");
    let deaths = app.store.deaths_in_year(2025).await.expect("deaths");
    assert!(
        deaths[0].subject_ref.is_some(),
        "linked to the person known to treatment"
    );
    let (_, view) = get(&app, &doctor, &format!("/api/v1/deaths/{id}")).await;
    let text = view.to_string();
    assert!(
        !text.contains("registry_id") && !text.contains("subject"),
        "{text}"
    );
    // An unknown person is not linked and no subject is created for them.
    let (before, _) = app.store.subject_counts().await.expect("counts");
    let mut stranger = forensic(None);
    stranger["identity"]["first_name"] = json!("Unknown");
    post(&app, &doctor, "/api/v1/deaths", &stranger).await;
    let (after, _) = app.store.subject_counts().await.expect("counts");
    assert_eq!(before, after);
}

async fn overdoses_are_recorded_by_emergency_departments_and_police(app: TestApp) {
    let er = app.user("clinician", Some("hosp-peje"), None).await;
    let ost = app.user("clinician", Some("ost-prishtine"), None).await;
    let police = app.user("police", None, None).await;
    let doctor = app.user("forensic", None, None).await;
    let presentation = json!({
        "presented_at": "2025-03-03T22:15",
        "sex": "1",
        "age": 27,
        "municipality": "peje",
        "arrival_by_ambulance": true,
        "substances_reported": ["1.1"],
        "substances_confirmed": ["1.1", "4.2"],
        "nps_names": ["Isotonitazene"],
        "alcohol": true,
        "clinical_features": ["reduced_consciousness"],
        "naloxone": true,
        "other_treatment": ["intubation"],
        "outcome": "critical_care",
        "length_of_stay_hours": 40
    });
    let (status, created) = post(&app, &er, "/api/v1/overdoses", &presentation).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(
        post(&app, &ost, "/api/v1/overdoses", &presentation).await.0,
        403,
        "no emergency department"
    );
    let (status, view) = get(&app, &er, &format!("/api/v1/overdoses/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(view["age_band"], "25-29");
    assert_eq!(view["details"]["naloxone"], true);
    assert_eq!(
        get(&app, &ost, &format!("/api/v1/overdoses/{id}")).await.0,
        404
    );

    let attended = json!({"date": "2025-03-04", "municipality": "peje", "sex": "2", "age": 31,
        "substances_suspected": ["2.1"], "nps_names": ["isotonitazene"], "naloxone_given": true, "outcome": "taken_to_hospital"});
    let (status, body) = post(&app, &police, "/api/v1/police-overdoses", &attended).await;
    assert_eq!(status, 201, "{body}");
    let (_, signals) = get(&app, &doctor, "/api/v1/substance-signals").await;
    assert_eq!(
        signals[0]["reports"], 2,
        "both reports counted under one name: {signals}"
    );

    // Death after presentation links the two.
    let mut death = forensic(None);
    death["overdose_id"] = json!(id);
    let (status, _) = post(&app, &doctor, "/api/v1/deaths", &death).await;
    assert_eq!(status, 201);
    let (_, view) = get(&app, &er, &format!("/api/v1/overdoses/{id}")).await;
    assert_eq!(view["followed_by_death"], true);
    // A death after a police-attended overdose: the police see their record, never
    // whether a death followed (a linkage result).
    let police_id = body["id"].as_str().expect("id").to_owned();
    let mut death = forensic(None);
    death["identity"]["first_name"] = json!("Dritan");
    death["overdose_id"] = json!(police_id);
    let (status, answer) = post(&app, &doctor, "/api/v1/deaths", &death).await;
    assert_eq!(status, 201, "{answer}");
    let (status, view) = get(&app, &police, &format!("/api/v1/overdoses/{police_id}")).await;
    assert_eq!(status, 200, "{view}");
    assert!(view.get("followed_by_death").is_none(), "{view}");
    assert!(!view.to_string().contains("death"), "{view}");

    let mut bad = presentation.clone();
    bad["presented_at"] = json!("2025-03-03 22:15");
    bad["outcome"] = json!("fine");
    bad["clinical_features"] = json!(["sleepy"]);
    let (status, body) = post(&app, &er, "/api/v1/overdoses", &bad).await;
    assert_eq!(status, 422);
    assert!(
        body["error"]["fields"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
            >= 3,
        "{body}"
    );
}

/// A death that turns out not to be drug-related is completed with any WHO ICD-10
/// code and the manner it had; it is neither B nor D, and counts among the deaths
/// of people known to treatment, all causes. A manner that contradicts the code's
/// intent needs confirming; a repeated multiple cause is refused.
async fn deaths_of_every_cause_are_completed_and_count_for_cohort_mortality(app: TestApp) {
    let clinician = app.user("clinician", Some("hosp-prizren"), None).await;
    let mut ep = crate::episodes::episode("Blerim", "Zeka", "1989-09-09", "2024-02-02");
    ep["municipality"] = json!("prizren");
    let (status, _) = post(&app, &clinician, "/api/v1/episodes", &ep).await;
    assert_eq!(status, 201);
    let doctor = app.user("forensic", None, None).await;
    let mut natural = forensic(None);
    natural["underlying_cause"] = json!("I21.9");
    natural["multiple_causes"] = json!(["R99"]);
    natural["manner"] = json!("natural");
    natural["background"] = json!({
        "residence": "prizren", "nationality": "XK", "route": "1", "known_drug_user": true,
        "recent_release": "treatment", "in_ost_at_death": false
    });
    let (status, body) = post(&app, &doctor, "/api/v1/deaths", &natural).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    let (_, view) = get(&app, &doctor, &format!("/api/v1/deaths/{id}")).await;
    assert_eq!(view["manner"], "natural");
    assert_eq!(view["underlying_cause"], "I21.9");
    assert_eq!(view["selection_b"], false);
    assert_eq!(view["selection_d"], false);
    assert_eq!(view["background"]["recent_release"], "treatment");
    assert_eq!(view["background"]["nationality"], "XK");
    // A road accident, as its code says.
    let mut road = forensic(None);
    road["identity"] =
        json!({"first_name": "Arta", "last_name": "Hoxha", "birth_date": "1990-01-01", "sex": "2"});
    road["underlying_cause"] = json!("V89.2");
    road["multiple_causes"] = json!([]);
    let (status, body) = post(&app, &doctor, "/api/v1/deaths", &road).await;
    assert_eq!(status, 201, "{body}");

    // X42 is coded as an accident: "suicide" needs confirming.
    let mut intent = forensic(None);
    intent["identity"] = json!({"first_name": "Besnik", "last_name": "Hoxha", "birth_date": "1991-01-01", "sex": "1"});
    intent["manner"] = json!("suicide");
    let (status, body) = post(&app, &doctor, "/api/v1/deaths", &intent).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["fields"][0]["field"], "manner");
    assert!(
        body["error"]["fields"][0]["problem"]
            .as_str()
            .is_some_and(|p| p.contains("manner_confirmed")),
        "{body}"
    );
    intent["manner_confirmed"] = json!(true);
    let (status, body) = post(&app, &doctor, "/api/v1/deaths", &intent).await;
    assert_eq!(status, 201, "{body}");
    // A repeated multiple cause; a nationality that is not a code.
    let mut repeated = forensic(None);
    repeated["multiple_causes"] = json!(["T40.1", "T42.4", "t40.1"]);
    repeated["background"] = json!({"nationality": "Kosovar-Qz"});
    let (status, body) = post(&app, &doctor, "/api/v1/deaths", &repeated).await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert_eq!(fields, ["multiple_causes[2]", "background.nationality"]);
    assert!(!body.to_string().contains("Kosovar-Qz"));

    // Cohort mortality: the natural death of a person known to treatment.
    let deaths = app
        .store
        .export_deaths(&app.keys.current(), 2025, 2025)
        .await
        .expect("deaths");
    assert_eq!(deaths.len(), 3);
    let known: Vec<_> = deaths.iter().filter(|d| d.known_to_treatment).collect();
    assert_eq!(known.len(), 1, "Blerim Zeka, known to treatment");
    assert_eq!(known[0].manner, "natural");
    assert!(!known[0].selection_b && !known[0].selection_d);
    let analyst = app.user("analyst", None, None).await;
    let (status, info) = app
        .send(
            Method::POST,
            "/api/v1/exports/freeze",
            Some(&analyst.token),
            Some(&json!({"year": 2025, "purpose": "data lock"})),
        )
        .await;
    assert_eq!(status, 201, "{info}");
    let (status, content) = app
        .send(
            Method::POST,
            "/api/v1/exports/statutory",
            Some(&analyst.token),
            Some(&json!({"year": 2025, "format": "json", "purpose": "EMCDDA reporting"})),
        )
        .await;
    assert_eq!(status, 200, "{content}");
    let table = content["drd"]
        .as_array()
        .and_then(|d| d.iter().find(|t| t["id"] == "drd-known-to-treatment"))
        .expect("cohort table");
    // Rows: known, not known, all; columns: B, D, all deaths.
    assert_eq!(table["cells"][0], json!([0, 0, 1]), "{table}");
    assert_eq!(table["cells"][2], json!([1, 1, 3]), "{table}");
}
