//! Treatment episodes and social-work contacts through the API.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, error_code};

backend_tests!(
    registration_links_seals_and_reads_back,
    same_person_at_two_facilities_is_one_subject_with_hints,
    other_facilities_episodes_are_invisible,
    retried_registration_with_idempotency_key_is_not_duplicated,
    every_problem_is_reported_at_once,
    six_months_without_contact_starts_a_new_episode,
    corrections_keep_history_and_closing_is_validated,
    ost_check_answers_yes_or_no_and_nothing_else,
    social_workers_record_contacts_for_their_own_municipality,
    one_person_counts_once_per_year,
    a_clinician_finds_their_own_patient_again_by_identity,
);

/// A complete, valid TDI episode.
pub fn episode(first: &str, last: &str, dob: &str, start: &str) -> Value {
    json!({
        "identity": {"first_name": first, "last_name": last, "birth_date": dob, "sex": "1"},
        "municipality": "prishtine",
        "treatment_start_date": start,
        "treatment_status": "2",
        "referral_source": "6",
        "living_with": "2",
        "living_with_children": "1",
        "living_where": "1",
        "labour_status": "4",
        "education": "3",
        "primary_drug": "1.1",
        "route": "1",
        "frequency": "1",
        "age_first_use": 19,
        "secondary_drugs": ["7.1", "8"],
        "polydrug": "1",
        "ost_status": "3",
        "ost_first_year": 2023,
        "injecting": "2.3",
        "age_first_injection": 21,
        "sharing": "1",
        "hiv_testing": "2.2",
        "hcv_testing": "2.2",
        "notes": "Planted-note-Qx7 after an overdose"
    })
}

async fn clinician(app: &TestApp, facility: &str) -> TestUser {
    app.user("clinician", Some(facility), None).await
}

async fn register(app: &TestApp, user: &TestUser, body: &Value) -> (reqwest::StatusCode, Value) {
    app.send(
        Method::POST,
        "/api/v1/episodes",
        Some(&user.token),
        Some(body),
    )
    .await
}

async fn registration_links_seals_and_reads_back(app: TestApp) {
    let doc = clinician(&app, "uckk-psychiatry").await;
    let (status, created) = register(
        &app,
        &doc,
        &episode("Arben", "Krasniqi", "1990-05-01", "2025-03-10"),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["known_before"], false);
    assert_eq!(created["link_rule"], "new");
    let keys: Vec<&str> = created
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(
        keys,
        vec![
            "episode_id",
            "hints",
            "known_before",
            "link_rule",
            "registry_id",
            "replayed"
        ]
    );

    let id = created["episode_id"].as_str().expect("id");
    let (status, view) = app
        .send(
            Method::GET,
            &format!("/api/v1/episodes/{id}"),
            Some(&doc.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["identity"]["last_name"], "Krasniqi");
    assert_eq!(view["tdi"]["start_year"], 2025);
    assert_eq!(view["tdi"]["start_quarter"], 1);
    assert_eq!(view["tdi"]["age_band"], "30-34");
    assert_eq!(view["tdi"]["secondary_drugs"], json!(["7.1", "8"]));
    assert_eq!(view["treatment_start_date"], "2025-03-10");
    assert_eq!(view["sensitive"]["hiv_testing"], "2.2");
    assert_eq!(view["centre_type"], "2");

    // Sealed values are not in the database in clear; statistical ones are.
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&app.database_url)
        .await
        .expect("connect");
    let row: (String, String, Vec<u8>) = sqlx::query_as(
        "select primary_drug, route, sealed from episode where cast(episode_id as text) = $1",
    )
    .bind(id)
    .fetch_one(&mut conn)
    .await
    .expect("row");
    assert_eq!((row.0.as_str(), row.1.as_str()), ("1.1", "1"));
    let sealed = String::from_utf8_lossy(&row.2);
    for planted in ["Planted-note-Qx7", "2025-03-10", "2.3"] {
        assert!(!sealed.contains(planted), "{planted} stored in clear");
    }
}

async fn same_person_at_two_facilities_is_one_subject_with_hints(app: TestApp) {
    let a = clinician(&app, "uckk-psychiatry").await;
    let b = clinician(&app, "hosp-prizren").await;
    let (_, first) = register(
        &app,
        &a,
        &episode("Dragan", "Đorđević", "1985-02-03", "2024-01-10"),
    )
    .await;
    let mut second = episode("Драган", "Ђорђевић", "1985-02-03", "2025-02-01");
    second["treatment_status"] = json!("1"); // says never treated
    second["ost_status"] = json!("1");
    second["ost_first_year"] = Value::Null;
    let (status, linked) = register(&app, &b, &second).await;
    assert_eq!(status, 201, "{linked}");
    assert_eq!(linked["registry_id"], first["registry_id"]);
    assert_eq!(linked["known_before"], true);
    assert_eq!(linked["link_rule"], "attributes");
    assert_eq!(linked["hints"][0]["code"], "earlier_episode_exists");

    // Same initials and birth date, different people.
    let (_, other) = register(
        &app,
        &b,
        &episode("Drita", "Demolli", "1985-02-03", "2025-02-01"),
    )
    .await;
    assert_ne!(other["registry_id"], first["registry_id"]);
    assert_eq!(other["known_before"], false);
}

async fn other_facilities_episodes_are_invisible(app: TestApp) {
    let a = clinician(&app, "uckk-psychiatry").await;
    let b = clinician(&app, "hosp-prizren").await;
    let (_, created) = register(
        &app,
        &a,
        &episode("Liridon", "Hoxha", "1992-01-01", "2025-01-05"),
    )
    .await;
    let id = created["episode_id"].as_str().expect("id");
    for (method, path) in [
        (Method::GET, format!("/api/v1/episodes/{id}")),
        (Method::GET, format!("/api/v1/episodes/{id}/history")),
    ] {
        let (status, body) = app.send(method, &path, Some(&b.token), None).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(error_code(&body), "not_found");
    }
    let (status, _) = app
        .send(
            Method::PATCH,
            &format!("/api/v1/episodes/{id}"),
            Some(&b.token),
            Some(&json!({"primary_drug": "2.1"})),
        )
        .await;
    assert_eq!(status, 404);
    // A missing episode looks the same as another facility's.
    let (status, _) = app
        .send(
            Method::GET,
            "/api/v1/episodes/00000000-0000-4000-8000-000000000000",
            Some(&b.token),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (_, page) = app
        .send(Method::GET, "/api/v1/episodes", Some(&b.token), None)
        .await;
    assert_eq!(page["episodes"], json!([]));
    let (_, page) = app
        .send(Method::GET, "/api/v1/episodes", Some(&a.token), None)
        .await;
    assert_eq!(page["episodes"].as_array().map(Vec::len), Some(1));
}

async fn retried_registration_with_idempotency_key_is_not_duplicated(app: TestApp) {
    let doc = clinician(&app, "uckk-psychiatry").await;
    let body = episode("Besnik", "Morina", "1988-08-08", "2025-04-04");
    let mut ids = Vec::new();
    for expected in [201, 200] {
        let response = app
            .client
            .post(app.url("/api/v1/episodes"))
            .bearer_auth(&doc.token)
            .header("idempotency-key", "retry-7f2c9a41")
            .json(&body)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), expected);
        let value: Value = response.json().await.expect("json");
        ids.push(value["episode_id"].clone());
    }
    assert_eq!(ids[0], ids[1]);
    let (_, page) = app
        .send(Method::GET, "/api/v1/episodes", Some(&doc.token), None)
        .await;
    assert_eq!(page["episodes"].as_array().map(Vec::len), Some(1));
}

async fn every_problem_is_reported_at_once(app: TestApp) {
    let doc = clinician(&app, "uckk-psychiatry").await;
    let mut bad = episode("Arta", "Berisha", "2000-01-01", "2999-01-01");
    bad["route"] = json!("9");
    bad["primary_drug"] = json!("8");
    bad["secondary_drugs"] = json!(["1.1", "1.1", "2.1", "3.1", "4.1"]);
    bad["ost_status"] = json!("2");
    bad["ost_first_year"] = Value::Null;
    bad["municipality"] = json!("atlantis");
    bad["identity"]["sex"] = json!("M");
    let (status, body) = register(&app, &doc, &bad).await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["field"].as_str().expect("field"))
        .collect();
    for field in [
        "identity.sex",
        "municipality",
        "treatment_start_date",
        "route",
        "primary_drug",
        "secondary_drugs",
        "ost_first_year",
    ] {
        assert!(
            fields.iter().any(|f| f.starts_with(field)),
            "{field} missing from {fields:?}"
        );
    }
    // Injecting "never" with route "inject".
    let mut contradiction = episode("Arta", "Berisha", "2000-01-01", "2025-01-01");
    contradiction["injecting"] = json!("1");
    contradiction["age_first_injection"] = Value::Null;
    let (status, body) = register(&app, &doc, &contradiction).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["fields"][0]["field"], "injecting");
    let (_, page) = app
        .send(Method::GET, "/api/v1/episodes", Some(&doc.token), None)
        .await;
    assert_eq!(page["episodes"], json!([]), "nothing stored");
}

async fn close(
    app: &TestApp,
    user: &TestUser,
    id: &str,
    end: &str,
    reason: &str,
) -> (reqwest::StatusCode, Value) {
    app.send(
        Method::POST,
        &format!("/api/v1/episodes/{id}/close"),
        Some(&user.token),
        Some(&json!({"end_date": end, "end_reason": reason})),
    )
    .await
}

async fn six_months_without_contact_starts_a_new_episode(app: TestApp) {
    let doc = clinician(&app, "uckk-psychiatry").await;
    let (_, first) = register(
        &app,
        &doc,
        &episode("Fatos", "Gashi", "1980-03-03", "2024-01-15"),
    )
    .await;
    let first_id = first["episode_id"].as_str().expect("id");
    let (status, body) = register(
        &app,
        &doc,
        &episode("Fatos", "Gashi", "1980-03-03", "2024-03-01"),
    )
    .await;
    assert_eq!(status, 409, "open episode continues: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains(first_id)
    );
    assert_eq!(
        close(&app, &doc, first_id, "2024-05-31", "dropped_out")
            .await
            .0,
        204
    );
    let (status, _) = register(
        &app,
        &doc,
        &episode("Fatos", "Gashi", "1980-03-03", "2024-09-01"),
    )
    .await;
    assert_eq!(status, 409, "less than six months after the end");
    let (status, body) = register(
        &app,
        &doc,
        &episode("Fatos", "Gashi", "1980-03-03", "2024-12-01"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["registry_id"], first["registry_id"]);
}

async fn corrections_keep_history_and_closing_is_validated(app: TestApp) {
    let doc = clinician(&app, "uckk-psychiatry").await;
    let (_, created) = register(
        &app,
        &doc,
        &episode("Gentiana", "Rama", "1995-06-06", "2025-02-02"),
    )
    .await;
    let id = created["episode_id"].as_str().expect("id");
    let path = format!("/api/v1/episodes/{id}");
    let (status, body) = app
        .send(
            Method::PATCH,
            &path,
            Some(&doc.token),
            Some(&json!({"primary_drug": "2.1", "route": "4"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, view) = app.send(Method::GET, &path, Some(&doc.token), None).await;
    assert_eq!(view["tdi"]["primary_drug"], "2.1");
    let (status, body) = app
        .send(
            Method::PATCH,
            &path,
            Some(&doc.token),
            Some(&json!({"primary_drug": "8"})),
        )
        .await;
    assert_eq!(
        status, 422,
        "a correction is validated like a registration: {body}"
    );

    assert_eq!(close(&app, &doc, id, "2025-01-01", "finished").await.0, 422);
    let (status, body) = close(&app, &doc, id, "2025-01-01", "completed").await;
    assert_eq!(status, 422, "before the start date: {body}");
    assert_eq!(body["error"]["fields"][0]["field"], "end_date");
    assert_eq!(
        close(&app, &doc, id, "2025-06-30", "completed").await.0,
        204
    );
    assert_eq!(
        close(&app, &doc, id, "2025-07-30", "completed").await.0,
        409
    );

    let (status, history) = app
        .send(
            Method::GET,
            &format!("{path}/history"),
            Some(&doc.token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let history = history.as_array().expect("entries");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["change"], "correct");
    let fields: Vec<&str> = history[0]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        fields.contains(&"primary_drug") && fields.contains(&"route"),
        "{fields:?}"
    );
    assert_eq!(history[0]["changed_by"], doc.user_id.as_str());
    assert_eq!(history[1]["change"], "close");
    let (_, view) = app.send(Method::GET, &path, Some(&doc.token), None).await;
    assert_eq!(view["status"], "closed");
    assert_eq!(view["end_date"], "2025-06-30");
}

async fn ost_check_answers_yes_or_no_and_nothing_else(app: TestApp) {
    let a = clinician(&app, "uckk-psychiatry").await;
    let b = clinician(&app, "hosp-prizren").await;
    register(
        &app,
        &a,
        &episode("Ilir", "Shala", "1987-07-07", "2025-03-10"),
    )
    .await;
    let ask = |user: TestUser, first: &'static str| {
        let app = &app;
        async move {
            app.send(
                Method::POST,
                "/api/v1/ost-checks",
                Some(&user.token),
                Some(&json!({"identity": {"first_name": first, "last_name": "Shala", "birth_date": "1987-07-07", "sex": "1"}})),
            )
            .await
        }
    };
    let (status, answer) = ask(b.clone(), "Ilir").await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"in_ost_elsewhere": true, "since_month": "2025-03"})
    );
    let (_, answer) = ask(a.clone(), "Ilir").await;
    assert_eq!(
        answer,
        json!({"in_ost_elsewhere": false, "since_month": null}),
        "own facility is not elsewhere"
    );
    let (_, answer) = ask(b.clone(), "Unknown").await;
    assert_eq!(
        answer,
        json!({"in_ost_elsewhere": false, "since_month": null})
    );
    // A slip in the name still finds the person (fuzzy linkage, automatic links only).
    let (_, answer) = ask(b.clone(), "Illir").await;
    assert_eq!(
        answer,
        json!({"in_ost_elsewhere": true, "since_month": "2025-03"})
    );
    let (total, _) = app.store.subject_counts().await.expect("counts");
    assert_eq!(total, 1, "asking never creates a subject");
    let police = app.user("police", None, None).await;
    let (status, _) = ask(police, "Ilir").await;
    assert_eq!(status, 403);
}

async fn social_workers_record_contacts_for_their_own_municipality(app: TestApp) {
    let doc = clinician(&app, "uckk-psychiatry").await;
    let (_, treated) = register(
        &app,
        &doc,
        &episode("Mimoza", "Krasniqi", "1993-03-03", "2025-01-20"),
    )
    .await;
    let sw = app.user("social_worker", None, Some("prishtine")).await;
    let other = app.user("social_worker", None, Some("prizren")).await;
    let contact = json!({
        "identity": {"first_name": "Mimoza", "last_name": "Krasniqi", "birth_date": "1993-03-03", "sex": "1"},
        "contact_date": "2025-02-11",
        "service_type": "housing",
        "referral_to_treatment": true,
        "housing_support": true,
        "employment_support": false,
        "notes": "emergency shelter arranged"
    });
    let (status, created) = app
        .send(
            Method::POST,
            "/api/v1/social-contacts",
            Some(&sw.token),
            Some(&contact),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["registry_id"], treated["registry_id"],
        "same person through the pseudonym"
    );
    let id = created["contact_id"].as_str().expect("id");
    let (status, view) = app
        .send(
            Method::GET,
            &format!("/api/v1/social-contacts/{id}"),
            Some(&sw.token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(view["contact_date"], "2025-02-11");
    assert_eq!(view["service_type"], "housing");
    for clinical in [
        "tdi",
        "primary_drug",
        "sensitive",
        "hiv_testing",
        "identity",
    ] {
        assert!(
            view.get(clinical).is_none(),
            "{clinical} must not reach a social worker"
        );
    }
    let (status, _) = app
        .send(
            Method::GET,
            &format!("/api/v1/social-contacts/{id}"),
            Some(&other.token),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (_, list) = app
        .send(
            Method::GET,
            "/api/v1/social-contacts",
            Some(&other.token),
            None,
        )
        .await;
    assert_eq!(list, json!([]));
    // Social workers never see episodes.
    let (status, _) = app
        .send(
            Method::GET,
            &format!(
                "/api/v1/episodes/{}",
                treated["episode_id"].as_str().unwrap_or_default()
            ),
            Some(&sw.token),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let mut bad = contact.clone();
    bad["service_type"] = json!("massage");
    bad["contact_date"] = json!("2999-01-01");
    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/social-contacts",
            Some(&sw.token),
            Some(&bad),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["fields"].as_array().map(Vec::len), Some(2));
}

async fn one_person_counts_once_per_year(app: TestApp) {
    let facilities = ["uckk-psychiatry", "hosp-prizren", "hosp-peje"];
    for (facility, start) in facilities
        .iter()
        .zip(["2025-01-10", "2025-05-10", "2025-09-10"])
    {
        let doc = clinician(&app, facility).await;
        let (status, body) = register(
            &app,
            &doc,
            &episode("Valon", "Kelmendi", "1991-01-01", start),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let doc = clinician(&app, "uckk-psychiatry").await;
    register(
        &app,
        &doc,
        &episode("Teuta", "Bytyqi", "1994-04-04", "2025-02-02"),
    )
    .await;
    let entrants = app.store.tdi_entrants(2025).await.expect("entrants");
    assert_eq!(entrants.len(), 2, "two persons, four episodes");
    let valon = entrants
        .iter()
        .find(|e| e.plain.birth_year == 1991)
        .expect("counted");
    assert_eq!(
        valon.plain.start_quarter, 1,
        "the first episode of the year counts"
    );
    assert!(
        app.store
            .tdi_entrants(2024)
            .await
            .expect("entrants")
            .is_empty()
    );
}

/// A clinician finds a patient again by identity: their own facility's episodes of
/// that person only, newest first; audited as a read of the person.
async fn a_clinician_finds_their_own_patient_again_by_identity(app: TestApp) {
    let a = clinician(&app, "uckk-psychiatry").await;
    let b = clinician(&app, "hosp-prizren").await;
    let mut first = episode("Liridon", "Hoxha", "1992-01-01", "2024-01-05");
    first["identity"]["personal_number"] = json!("1112223334");
    let (status, body) = register(&app, &a, &first).await;
    assert_eq!(status, 201, "{body}");
    let earlier = body["episode_id"].as_str().expect("id").to_owned();
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/v1/episodes/{earlier}/close"),
            Some(&a.token),
            Some(&json!({"end_date": "2024-02-01", "end_reason": "completed"})),
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = register(
        &app,
        &a,
        &episode("Liridon", "Hoxha", "1992-01-01", "2025-03-05"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let later = body["episode_id"].as_str().expect("id").to_owned();
    // The same person at another facility.
    let (status, _) = register(
        &app,
        &b,
        &episode("Liridon", "Hoxha", "1992-01-01", "2025-04-05"),
    )
    .await;
    assert_eq!(status, 201);
    let search = |user: TestUser, identity: Value| {
        let app = &app;
        async move {
            app.send(
                Method::POST,
                "/api/v1/episodes/search",
                Some(&user.token),
                Some(&identity),
            )
            .await
        }
    };
    let ids = |page: &Value| -> Vec<String> {
        page["episodes"]
            .as_array()
            .expect("episodes")
            .iter()
            .map(|e| e["episode_id"].as_str().expect("id").to_owned())
            .collect()
    };
    // By names and date of birth, with a slip in the family name.
    let (status, page) = search(
        a.clone(),
        json!({"first_name": "Liridon", "last_name": "Hoxxha", "birth_date": "1992-01-01"}),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), [later.clone(), earlier.clone()], "newest first");
    // By personal number alone.
    let (status, page) = search(a.clone(), json!({"personal_number": "1112223334"})).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page).len(), 2);
    // The other facility sees its own episode only.
    let (_, page) = search(
        b.clone(),
        json!({"first_name": "Liridon", "last_name": "Hoxha", "birth_date": "1992-01-01", "sex": "1"}),
    )
    .await;
    assert_eq!(ids(&page).len(), 1);
    assert!(!ids(&page).contains(&earlier) && !ids(&page).contains(&later));
    // Someone unknown: an empty list, nothing else.
    let (status, page) = search(
        a.clone(),
        json!({"first_name": "Nobody", "last_name": "Known", "birth_date": "1970-07-07", "sex": "2"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page, json!({"episodes": []}));
    // Bad input names the field, without echoing it.
    let (status, body) = search(a.clone(), json!({"first_name": "Liridon"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["fields"][0]["field"], "birth_date", "{body}");
    let (status, body) = search(a.clone(), json!({"personal_number": "12ab"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["fields"][0]["field"], "personal_number");
    assert!(!body.to_string().contains("12ab"));
    let (status, body) = search(a.clone(), json!({})).await;
    assert_eq!(status, 422, "{body}");
    // Other roles never search.
    let police = app.user("police", None, None).await;
    let (status, _) = search(police, json!({"personal_number": "1112223334"})).await;
    assert_eq!(status, 403);
    // Audited: who was looked up (the person's registry id, found or not), and
    // each episode shown; never the identity searched for.
    use sqlx::Row;
    let mut conn = crate::helpers::raw_connection(&app.database_url).await;
    let rows = sqlx::query(
        "select coalesce(object, ''), coalesce(detail, '') from audit_event where action = 'find_patient'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("events");
    assert_eq!(rows.len(), 4, "every valid search");
    let objects: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
    let person = page_person(&app, &a, &later).await;
    assert_eq!(
        objects.iter().filter(|o| **o == person).count(),
        3,
        "the person, found three times; the unknown one names no one"
    );
    let texts: String = rows
        .iter()
        .map(|r| r.get::<String, _>(1))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(!texts.contains("Liridon") && !texts.contains("1112223334"));
}

async fn page_person(app: &TestApp, user: &TestUser, episode_id: &str) -> String {
    let (_, view) = app
        .send(
            Method::GET,
            &format!("/api/v1/episodes/{episode_id}"),
            Some(&user.token),
            None,
        )
        .await;
    view["registry_id"]
        .as_str()
        .expect("registry id")
        .to_owned()
}
