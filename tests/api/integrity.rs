//! Integrity under concurrency: one subject per person and one open episode per
//! facility however many registrations race, through two service instances on one
//! PostgreSQL database; retries with one idempotency key get the first answer; a
//! broken uniqueness rule reaches the client as a code, never a constraint name.

use std::collections::BTreeMap;

use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::episodes::episode;
use crate::helpers::{Backend, TestApp, TestUser};

/// A second instance of the service on the same database and key file.
async fn second_instance(app: &TestApp) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&app.key_file, dir.path().join("registry.keys")).expect("key file copied");
    TestApp::spawn_on(dir, app.database_url.clone()).await
}

/// Sends every `(instance, user, body, idempotency key)` at once; returns status and
/// body of each, in order.
async fn race(requests: Vec<(&TestApp, &TestUser, Value, Option<&str>)>) -> Vec<(u16, Value)> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(requests.len()));
    let sends = requests.into_iter().map(|(app, user, body, key)| {
        let mut request = app
            .client
            .post(app.url("/api/v1/episodes"))
            .bearer_auth(&user.token)
            .json(&body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let barrier = std::sync::Arc::clone(&barrier);
        async move {
            barrier.wait().await;
            let response = request.send().await.expect("sent");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json"))
        }
    });
    futures_util::future::join_all(sends).await
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&app.database_url)
        .await
        .expect("connect");
    sqlx::query_scalar(sql)
        .fetch_one(&mut conn)
        .await
        .expect("count")
}

/// Open episodes per facility.
async fn open_episodes(app: &TestApp) -> BTreeMap<String, i64> {
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&app.database_url)
        .await
        .expect("connect");
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "select facility, count(*) from episode where status = 'open' group by facility",
    )
    .fetch_all(&mut conn)
    .await
    .expect("open episodes");
    rows.into_iter().collect()
}

fn statuses(answers: &[(u16, Value)]) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for (status, _) in answers {
        *counts.entry(*status).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_registrations_through_two_instances_make_one_subject() {
    let first = TestApp::spawn(Backend::Postgres).await;
    let second = second_instance(&first).await;
    let facilities = ["uckk-psychiatry", "hosp-prizren"];
    let mut doctors = Vec::new();
    for facility in facilities {
        doctors.push(first.user("clinician", Some(facility), None).await);
    }

    // A new person without a personal number, 20 times at once: 10 per facility,
    // alternating between the instances.
    let body = episode("Drilon", "Gashi", "1993-03-03", "2025-05-05");
    let requests = (0..20)
        .map(|i| {
            let app = if i % 2 == 0 { &first } else { &second };
            (app, &doctors[i % 2], body.clone(), None)
        })
        .collect();
    let answers = race(requests).await;
    println!("new identity x20: statuses {:?}", statuses(&answers));
    let subjects = count(&first, "select count(*) from subject").await;
    println!("new identity x20: {subjects} subject(s)");
    assert_eq!(subjects, 1, "one person, one subject: {answers:?}");
    assert_eq!(
        open_episodes(&first).await,
        BTreeMap::from([("hosp-prizren".into(), 1), ("uckk-psychiatry".into(), 1)])
    );
    for (status, answer) in &answers {
        match status {
            201 => {}
            409 => assert_eq!(answer["error"]["code"], "episode_continues", "{answer}"),
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    assert_eq!(statuses(&answers).get(&201), Some(&2));

    // A known person (personal number on record), registered 10 times at once at one
    // facility: half with the same attributes and no number, half under another
    // spelling of the first name with the number. Both reach the same subject by
    // different keys, so only the subject's own lock keeps it to one open episode.
    let doctor = first.user("clinician", Some("hosp-peje"), None).await;
    let mut known = episode("Valon", "Hoxha", "1985-01-01", "2024-01-10");
    known["identity"]["personal_number"] = json!("1234509876");
    let (status, created) = first
        .send(
            reqwest::Method::POST,
            "/api/v1/episodes",
            Some(&doctors[0].token),
            Some(&known),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let mut plain = episode("Valon", "Hoxha", "1985-01-01", "2025-06-01");
    plain["treatment_status"] = json!("2");
    let mut renamed = plain.clone();
    renamed["identity"]["first_name"] = json!("Vallon");
    renamed["identity"]["personal_number"] = json!("1234509876");
    let requests = (0..10)
        .map(|i| {
            let app = if i % 2 == 0 { &first } else { &second };
            let body = if i % 2 == 0 { &plain } else { &renamed };
            (app, &doctor, body.clone(), None)
        })
        .collect();
    let answers = race(requests).await;
    println!("known person x10: statuses {:?}", statuses(&answers));
    let subjects = count(&first, "select count(*) from subject").await;
    println!("known person x10: {subjects} subject(s) in all");
    assert_eq!(subjects, 2, "{answers:?}");
    assert_eq!(open_episodes(&first).await.get("hosp-peje"), Some(&1));
    assert_eq!(statuses(&answers).get(&201), Some(&1), "{answers:?}");
    let registry_ids: std::collections::BTreeSet<&str> = answers
        .iter()
        .filter(|(status, _)| *status == 201)
        .map(|(_, a)| a["registry_id"].as_str().expect("registry id"))
        .collect();
    assert_eq!(
        registry_ids.into_iter().collect::<Vec<_>>(),
        vec![created["registry_id"].as_str().expect("id")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_retries_of_one_idempotency_key_get_the_first_answer() {
    let first = TestApp::spawn(Backend::Postgres).await;
    let second = second_instance(&first).await;
    let doctor = first.user("clinician", Some("uckk-psychiatry"), None).await;
    let body = episode("Besnik", "Morina", "1988-08-08", "2025-04-04");
    let requests = (0..20)
        .map(|i| {
            let app = if i % 2 == 0 { &first } else { &second };
            (app, &doctor, body.clone(), Some("retry-race-5d1e"))
        })
        .collect();
    let answers = race(requests).await;
    println!("20 retries of one key: statuses {:?}", statuses(&answers));
    assert_eq!(
        statuses(&answers),
        BTreeMap::from([(200, 19), (201, 1)]),
        "{answers:?}"
    );
    let ids: std::collections::BTreeSet<&str> = answers
        .iter()
        .map(|(_, a)| a["episode_id"].as_str().expect("episode id"))
        .collect();
    assert_eq!(ids.len(), 1, "every retry names the first episode");
    assert_eq!(
        answers
            .iter()
            .filter(|(_, a)| a["replayed"] == true)
            .count(),
        19
    );
    assert_eq!(count(&first, "select count(*) from episode").await, 1);
}

backend_tests!(
    unique_violations_reach_clients_as_codes_without_constraint_names,
    racing_corrections_are_each_applied_and_a_stale_one_is_refused,
);

/// Corrections of different items sent at once are all applied (none undoes
/// another: each is applied to what the others left); one made on a state that is
/// gone (`If-Match`) is refused with 412 and changes nothing.
async fn racing_corrections_are_each_applied_and_a_stale_one_is_refused(app: TestApp) {
    let clinician = app.user("clinician", Some("hosp-prizren"), None).await;
    let (status, created) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/episodes",
            Some(&clinician.token),
            Some(&episode("Besa", "Kastrati", "1994-02-03", "2025-05-06")),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let path = format!(
        "/api/v1/episodes/{}",
        created["episode_id"].as_str().expect("id")
    );
    let (_, before) = app
        .send(reqwest::Method::GET, &path, Some(&clinician.token), None)
        .await;
    let changes = [
        json!({"referral_source": "1"}),
        json!({"living_where": "2"}),
        json!({"education": "4"}),
        json!({"labour_status": "3"}),
        json!({"frequency": "2"}),
        json!({"hiv_testing": "1"}),
    ];
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(changes.len()));
    let sends = changes.iter().map(|change| {
        let request = app
            .client
            .patch(app.url(&path))
            .bearer_auth(&clinician.token)
            .json(change);
        let barrier = std::sync::Arc::clone(&barrier);
        async move {
            barrier.wait().await;
            request.send().await.expect("sent").status().as_u16()
        }
    });
    let statuses = futures_util::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");
    let (_, after) = app
        .send(reqwest::Method::GET, &path, Some(&clinician.token), None)
        .await;
    for change in &changes {
        let (item, value) = change
            .as_object()
            .and_then(|o| o.iter().next())
            .expect("item");
        let now = after["tdi"]
            .get(item)
            .or_else(|| after["sensitive"].get(item));
        assert_eq!(now, Some(value), "{item} lost: {after}");
    }
    let history = count(&app, "select count(*) from episode_history").await;
    assert_eq!(history, changes.len() as i64);

    // A correction made on the state read before them all is refused.
    let stale = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&clinician.token)
        .header(
            "if-match",
            before["updated_at"].as_str().expect("updated_at"),
        )
        .json(&json!({"referral_source": "6"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(stale.status().as_u16(), 412);
    let body: Value = stale.json().await.expect("json");
    assert_eq!(body["error"]["code"], "episode_changed");
    let (_, now) = app
        .send(reqwest::Method::GET, &path, Some(&clinician.token), None)
        .await;
    assert_eq!(now["tdi"]["referral_source"], "1");
    // On the current state it applies.
    let fresh = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&clinician.token)
        .header("if-match", now["updated_at"].as_str().expect("updated_at"))
        .json(&json!({"referral_source": "6"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(fresh.status().as_u16(), 204);
}

/// A row that breaks each uniqueness rule, inserted straight into the database, gives
/// the store's classification and the client's answer.
async fn unique_violations_reach_clients_as_codes_without_constraint_names(app: TestApp) {
    use registry::http::error::ApiError;
    use registry::store::{StoreError, Unique};

    let doctor = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let mut body = episode("Teuta", "Rama", "1991-09-09", "2025-02-02");
    body["identity"]["personal_number"] = json!("1112223334");
    let response = app
        .client
        .post(app.url("/api/v1/episodes"))
        .bearer_auth(&doctor.token)
        .header("idempotency-key", "unique-probe-1")
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);

    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&app.database_url)
        .await
        .expect("connect");
    // Each case copies a stored row with new values in some columns, so that it
    // breaks exactly one rule.
    let cases = [
        (
            "subject",
            vec![("registry_id", "'00000000-0000-4000-8000-000000000001'")],
            Unique::PersonalNumber,
            "concurrent_change",
        ),
        (
            "subject",
            vec![("pn_pseudonym", "null")],
            Unique::Other,
            "concurrent_change",
        ),
        (
            "episode",
            vec![("episode_id", "'00000000-0000-4000-8000-000000000002'")],
            Unique::IdempotencyKey,
            "idempotency_key_reused",
        ),
        (
            "app_user",
            vec![("user_id", "'00000000-0000-4000-8000-000000000003'")],
            Unique::Username,
            "username_taken",
        ),
    ];
    for (table, overrides, rule, code) in cases {
        let sql = copy_row(&mut conn, &app, table, &overrides).await;
        let err = sqlx::query(&sql)
            .execute(&mut conn)
            .await
            .expect_err("the row breaks a uniqueness rule");
        let stored = StoreError::from(err);
        assert!(
            matches!(stored, StoreError::Conflict(r) if r == rule),
            "{sql}: {stored:?}"
        );
        let response = ApiError::from(stored).into_response();
        assert_eq!(response.status(), 409);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&bytes).to_lowercase();
        let answer: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(answer["error"]["code"], code, "{text}");
        let message = answer["error"]["message"].as_str().expect("message");
        let dotted = format!("{table}.");
        for leak in [
            "pseudonym",
            "subject_",
            "episode_idempotency",
            "app_user",
            "created_by",
            "constraint",
            "unique",
            dotted.as_str(),
        ] {
            assert!(!message.contains(leak), "{leak} in {text}");
        }
    }
}

/// `insert into table (every column but id) select ... from table limit 1`, with
/// some columns replaced by SQL values.
async fn copy_row(
    conn: &mut sqlx::AnyConnection,
    app: &TestApp,
    table: &str,
    overrides: &[(&str, &str)],
) -> String {
    let sql = if app.database_url.starts_with("sqlite:") {
        format!("select name from pragma_table_info('{table}') order by cid")
    } else {
        format!(
            "select column_name::text from information_schema.columns \
             where table_name = '{table}' order by ordinal_position"
        )
    };
    let columns: Vec<String> = sqlx::query_scalar(&sql)
        .fetch_all(&mut *conn)
        .await
        .expect("columns");
    let columns: Vec<&str> = columns
        .iter()
        .map(String::as_str)
        .filter(|c| *c != "id")
        .collect();
    let values: Vec<&str> = columns
        .iter()
        .map(|c| {
            overrides
                .iter()
                .find(|(name, _)| name == c)
                .map_or(*c, |(_, value)| *value)
        })
        .collect();
    format!(
        "insert into {table} ({}) select {} from {table} limit 1",
        columns.join(", "),
        values.join(", ")
    )
}
