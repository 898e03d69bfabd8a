//! The audit log: what is recorded, the auditor's queries, tamper detection and
//! concurrent writers.

use reqwest::Method;
use sqlx::Connection;

use registry::audit::ChainError;
use registry::cases::audit::{VerifyError, checkpoint, verify_store};

use crate::helpers::{TestApp, error_code};

backend_tests!(
    decisions_and_logins_are_recorded_without_personal_data,
    auditor_queries_by_actor_object_and_time,
    changed_deleted_or_reordered_events_are_found,
    truncation_is_caught_against_a_checkpoint,
    two_instances_writing_in_parallel_keep_one_chain,
    concurrent_decisions_share_group_commits_without_gaps,
    events_say_who_did_what_never_what_the_record_says,
    listings_record_every_record_they_disclose,
    a_registration_commits_its_decision_with_it_and_a_refused_one_still_records_it,
);

/// Access decisions are written by the group-commit writer: each of hundreds of
/// concurrent callers finds its event in the chain exactly once when it is answered,
/// with no gap or duplicate, and the chain verifies.
async fn concurrent_decisions_share_group_commits_without_gaps(app: TestApp) {
    let (before, _) = app.store.audit_head().await.expect("head");
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let store = app.store.clone();
            tokio::spawn(async move {
                let event = registry::audit::AuditEvent {
                    object: Some(format!("object-{i}")),
                    ..registry::audit::AuditEvent::new(
                        "tester",
                        "auditor",
                        "read_audit_log",
                        registry::audit::Outcome::Allowed,
                    )
                };
                store.audit(&event).await.expect("committed");
                // Answered only once durable: the event is in the chain already.
                let found = store
                    .audit_query(&registry::store::audit::AuditFilter {
                        object: Some(format!("object-{i}")),
                        limit: 10,
                        ..Default::default()
                    })
                    .await
                    .expect("query");
                found.len()
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            task.await.expect("task"),
            1,
            "each event once, when answered"
        );
    }
    let (after, _) = app.store.audit_head().await.expect("head");
    assert_eq!(after, before + 300);
    let page = app.store.audit_page(before, 1000).await.expect("page");
    let seqs: Vec<i64> = page.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, ((before + 1)..=after).collect::<Vec<_>>());
    verify_store(&app.store, &[]).await.expect("chain intact");
}

async fn events(app: &TestApp, token: &str, query: &str) -> Vec<serde_json::Value> {
    let (status, body) = app
        .send(
            Method::GET,
            &format!("/api/v1/audit/events{query}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["events"].as_array().expect("events").clone()
}

async fn decisions_and_logins_are_recorded_without_personal_data(app: TestApp) {
    let auditor = app.user("auditor", None, None).await;
    let clinician = app.user("clinician", Some("uckk-psychiatry"), None).await;
    // A denied request, with a declared purpose.
    let mut request = app
        .client
        .get(app.url("/api/v1/users"))
        .bearer_auth(&clinician.token);
    request = request.header("x-purpose", "curiosity");
    assert_eq!(request.send().await.expect("sent").status(), 403);
    // An allowed personal-data access: a data-subject access report.
    let subject = registry::cases::subjects::link_identity(
        &app.store,
        &app.keys,
        &registry::identity::subject::IdentityInput {
            personal_number: None,
            first_name: "Vjosa".into(),
            last_name: "Rexhepi".into(),
            birth_date: "1991-04-04".into(),
            sex: "2".into(),
        },
    )
    .await
    .expect("linked");
    let (status, report) = app
        .send(
            Method::GET,
            &format!("/api/v1/subjects/{}/access-report", subject.registry_id),
            Some(&auditor.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["identity"]["last_name"], "Rexhepi");

    let all = events(&app, &auditor.token, "?limit=1000").await;
    let denied = all
        .iter()
        .find(|e| e["actor"] == clinician.user_id.as_str() && e["action"] == "manage_users")
        .expect("denial recorded");
    assert_eq!(denied["outcome"], "denied");
    assert_eq!(denied["purpose"], "curiosity");
    assert!(denied["rule"].as_str().is_some_and(|r| !r.is_empty()));
    let allowed = all
        .iter()
        .find(|e| e["action"] == "subject_access_report")
        .expect("access recorded");
    assert_eq!(allowed["outcome"], "allowed");
    assert_eq!(allowed["object"], subject.registry_id.as_str());
    assert_eq!(allowed["purpose"], "data_subject_request");
    assert!(
        all.iter()
            .any(|e| e["action"] == "login" && e["outcome"] == "success")
    );
    assert!(all.iter().any(|e| e["action"] == "create_user"));
    let text = serde_json::to_string(&all).expect("json");
    for secret in ["Vjosa", "Rexhepi", "1991-04-04", "correct horse"] {
        assert!(!text.contains(secret), "{secret} leaked into the audit log");
    }
}

async fn auditor_queries_by_actor_object_and_time(app: TestApp) {
    let auditor = app.user("auditor", None, None).await;
    let admin = app.user("admin", None, None).await;
    let target = app.user("analyst", None, None).await;
    app.send(
        Method::POST,
        &format!("/api/v1/users/{}/disable", target.user_id),
        Some(&admin.token),
        None,
    )
    .await;
    let by_actor = events(&app, &auditor.token, &format!("?actor={}", admin.user_id)).await;
    assert!(!by_actor.is_empty());
    assert!(
        by_actor
            .iter()
            .all(|e| e["actor"] == admin.user_id.as_str())
    );
    let by_object = events(&app, &auditor.token, &format!("?object={}", target.user_id)).await;
    assert!(by_object.iter().any(|e| e["action"] == "disable_user"));
    let future = events(&app, &auditor.token, "?from=2999-01-01T00:00:00Z").await;
    assert!(future.is_empty());
    // Time bounds compare as times, whatever precision they are written with: an
    // event at 10:00:01.123457 is after 10:00:01 and before 10:00:02 (as text,
    // `…01.123457Z` sorts before `…01Z`).
    let disabled = by_object
        .iter()
        .find(|e| e["action"] == "disable_user")
        .expect("the disable event");
    let at = disabled["occurred_at"].as_str().expect("occurred_at");
    let second = at.split('.').next().expect("whole seconds");
    let seq = &disabled["seq"];
    let from = events(&app, &auditor.token, &format!("?from={second}Z")).await;
    assert!(from.iter().any(|e| &e["seq"] == seq), "{at} from {second}Z");
    let until = events(&app, &auditor.token, &format!("?to={second}Z")).await;
    assert!(
        until.iter().all(|e| &e["seq"] != seq),
        "{at} before {second}Z"
    );
    let page = events(&app, &auditor.token, "?limit=2").await;
    assert_eq!(page.len(), 2);

    let (status, body) = app
        .send(
            Method::GET,
            "/api/v1/audit/events?from=yesterday",
            Some(&auditor.token),
            None,
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["fields"][0]["field"], "from");
    let (status, body) = app
        .send(
            Method::GET,
            "/api/v1/audit/events",
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(error_code(&body), "forbidden");

    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/audit/verify",
            Some(&auditor.token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["ok"], true, "{body}");
}

async fn sql(app: &TestApp, statements: &[String]) {
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .expect("connect");
    for statement in statements {
        sqlx::query(statement)
            .execute(&mut conn)
            .await
            .expect("tampering statement");
    }
}

async fn broken_at(app: &TestApp) -> i64 {
    match verify_store(&app.store, &[]).await {
        Err(VerifyError::Chain(ChainError::Broken { seq, .. })) => seq,
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

/// Adds events: each user creation and login writes one.
async fn fill(app: &TestApp, n: usize) {
    for _ in 0..n {
        app.user("analyst", None, None).await;
    }
}

/// Overwrites the stored columns of event `seq` with `event`'s (seq itself kept).
async fn overwrite(app: &TestApp, seq: i64, event: &registry::audit::StoredEvent) {
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .expect("connect");
    sqlx::query(
        "update audit_event set occurred_at = $1, actor = $2, role = $3, action = $4, \
         object = $5, outcome = $6, rule = $7, purpose = $8, detail = $9, prev_hash = $10, \
         hash = $11 where seq = $12",
    )
    .bind(&event.occurred_at)
    .bind(&event.actor)
    .bind(&event.role)
    .bind(&event.action)
    .bind(event.object.as_deref())
    .bind(&event.outcome)
    .bind(event.rule.as_deref())
    .bind(event.purpose.as_deref())
    .bind(event.detail.as_deref())
    .bind(hex::decode(&event.prev_hash).expect("hex"))
    .bind(hex::decode(&event.hash).expect("hex"))
    .bind(seq)
    .execute(&mut conn)
    .await
    .expect("overwritten");
}

async fn changed_deleted_or_reordered_events_are_found(app: TestApp) {
    fill(&app, 3).await;
    let report = verify_store(&app.store, &[])
        .await
        .expect("intact chain verifies");
    assert!(report.events >= 6, "{report:?}");
    let original = app.store.audit_page(0, 100).await.expect("events");

    // One row's content changed.
    let mut changed = original[2].clone();
    changed.detail = Some("role=admin".into());
    overwrite(&app, 3, &changed).await;
    assert_eq!(broken_at(&app).await, 3, "changed content");
    overwrite(&app, 3, &original[2]).await;
    verify_store(&app.store, &[]).await.expect("restored");

    // Two rows reordered (their contents swapped).
    overwrite(&app, 4, &original[4]).await;
    overwrite(&app, 5, &original[3]).await;
    assert_eq!(broken_at(&app).await, 4, "reordered");
    overwrite(&app, 4, &original[3]).await;
    overwrite(&app, 5, &original[4]).await;
    verify_store(&app.store, &[]).await.expect("restored");

    // One row deleted.
    sql(&app, &["delete from audit_event where seq = 5".into()]).await;
    assert_eq!(broken_at(&app).await, 5, "deleted");
}

async fn truncation_is_caught_against_a_checkpoint(app: TestApp) {
    fill(&app, 3).await;
    let cp = checkpoint(&app.store, &app.keys.current())
        .await
        .expect("checkpoint");
    let report = verify_store(&app.store, &[])
        .await
        .expect("verifies with its checkpoint");
    assert_eq!(report.checkpoints, 1);

    // Remove the last two events and rewind the head to match: the chain itself is
    // consistent, but the signed checkpoint says it was longer.
    let keep = cp.seq - 2;
    let rewind_hash = format!("(select hash from audit_event where seq = {keep})");
    sql(
        &app,
        &[
            format!("update audit_head set seq = {keep}, hash = {rewind_hash} where id = 1"),
            format!("delete from audit_event where seq > {keep}"),
        ],
    )
    .await;
    match verify_store(&app.store, &[]).await {
        Err(VerifyError::Chain(ChainError::Truncated(message))) => {
            assert!(message.contains(&cp.seq.to_string()), "{message}");
        }
        other => panic!("expected truncation, got {other:?}"),
    }
    // The same holds with only an off-host copy of the checkpoint.
    sql(&app, &["delete from audit_checkpoint".into()]).await;
    verify_store(&app.store, &[])
        .await
        .expect("without checkpoints it looks intact");
    assert!(matches!(
        verify_store(&app.store, &[cp]).await,
        Err(VerifyError::Chain(ChainError::Truncated(_)))
    ));
}

async fn two_instances_writing_in_parallel_keep_one_chain(app: TestApp) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&app.key_file, dir.path().join("registry.keys")).expect("key file");
    let second = TestApp::spawn_on(dir, app.database_url.clone()).await;
    let before = app.store.audit_head().await.expect("head").0;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (base, token) = if i % 2 == 0 {
            (app.base.clone(), app.token.clone())
        } else {
            (second.base.clone(), second.token.clone())
        };
        tasks.push(tokio::spawn(async move {
            // Each denied request writes one audit event.
            reqwest::Client::new()
                .get(format!("{base}/api/v1/users"))
                .bearer_auth(token)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("joined").expect("sent"), 403);
    }
    let report = verify_store(&app.store, &[])
        .await
        .expect("one valid chain");
    assert!(report.events >= before + 40, "{report:?} before {before}");
}

/// Registering, closing, a death with its ICD codes and B/D classification: the audit
/// log records who did what to which record, never the record's content (a linkage
/// result, an end reason, a cause of death).
async fn events_say_who_did_what_never_what_the_record_says(app: TestApp) {
    use serde_json::json;
    let doctor = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let forensic = app.user("forensic", None, None).await;
    let body = crate::episodes::episode("Arber", "Gashi", "1990-02-02", "2025-01-10");
    let (status, created) = app
        .send(
            Method::POST,
            "/api/v1/episodes",
            Some(&doctor.token),
            Some(&body),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["episode_id"].as_str().expect("id");
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/v1/episodes/{id}/close"),
            Some(&doctor.token),
            Some(&json!({"end_date": "2025-03-01", "end_reason": "dropped_out"})),
        )
        .await;
    assert_eq!(status, 204);
    let death = json!({
        "identity": {"first_name": "Arber", "last_name": "Gashi", "birth_date": "1990-02-02", "sex": "1"},
        "date_of_death": "2025-06-14",
        "municipality": "prizren",
        "place_type": "public_place",
        "underlying_cause": "X42",
        "multiple_causes": ["T40.1"],
        "manner": "accident",
        "autopsy_done": true,
        "toxicology_done": true,
        "substances": [{"code": "1.1", "cause_relevant": true, "matrix": "blood"}],
        "final_status": true
    });
    let (status, answer) = app
        .send(
            Method::POST,
            "/api/v1/deaths",
            Some(&forensic.token),
            Some(&death),
        )
        .await;
    assert_eq!(status, 201, "{answer}");

    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .expect("connect");
    let details: Vec<(String, Option<String>)> =
        sqlx::query_as("select action, detail from audit_event order by seq")
            .fetch_all(&mut conn)
            .await
            .expect("events");
    for (action, detail) in &details {
        let Some(detail) = detail else { continue };
        for content in [
            "link",
            "attributes",
            "personal_number",
            "new",
            "dropped",
            "reason",
            "X42",
            "T40",
            "B=",
            "D=",
            "accident",
        ] {
            assert!(
                !detail.contains(content),
                "{action} carries record content {content:?}: {detail}"
            );
        }
    }
    assert!(
        details.iter().any(|(a, _)| a == "create_death_record"),
        "{details:?}"
    );
}

/// A listing is an access to every record on the page: the log names each, so the
/// auditor's "who saw this record?" finds the listing.
async fn listings_record_every_record_they_disclose(app: TestApp) {
    let doctor = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let mut ids = Vec::new();
    for (first, dob) in [
        ("Ana", "1991-01-01"),
        ("Besa", "1992-02-02"),
        ("Dea", "1993-03-03"),
    ] {
        let body = crate::episodes::episode(first, "Hoti", dob, "2025-02-01");
        let (status, created) = app
            .send(
                Method::POST,
                "/api/v1/episodes",
                Some(&doctor.token),
                Some(&body),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        ids.push(created["episode_id"].as_str().expect("id").to_owned());
    }
    let (status, page) = app
        .send(
            Method::GET,
            "/api/v1/episodes?limit=2",
            Some(&doctor.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let listed: Vec<String> = page["episodes"]
        .as_array()
        .expect("episodes")
        .iter()
        .map(|e| e["episode_id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(listed.len(), 2);
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .expect("connect");
    let mut logged: Vec<String> = sqlx::query_scalar(
        "select object from audit_event where action = 'list_episodes' and object is not null \
         order by seq",
    )
    .fetch_all(&mut conn)
    .await
    .expect("events");
    logged.sort();
    let mut expected = listed.clone();
    expected.sort();
    assert_eq!(logged, expected, "exactly the records on the page");
    let auditor = app.user("auditor", None, None).await;
    let (status, found) = app
        .send(
            Method::GET,
            &format!("/api/v1/audit/events?object={}", listed[0]),
            Some(&auditor.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{found}");
    let actions: Vec<&str> = found["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert!(actions.contains(&"list_episodes"), "{actions:?}");
    assert!(!ids.is_empty());
}

/// The decision that allowed a registration is appended in the registration's own
/// transaction (one commit instead of two); when the registration is refused or
/// replayed, the decision is still recorded, on its own.
async fn a_registration_commits_its_decision_with_it_and_a_refused_one_still_records_it(
    app: TestApp,
) {
    let doctor = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let events = || async {
        let mut conn = sqlx::AnyConnection::connect(&app.database_url)
            .await
            .expect("connect");
        sqlx::query_as::<_, (String, String)>(
            "select outcome, coalesce(object, '-') from audit_event \
             where action = 'create_episode' order by seq",
        )
        .fetch_all(&mut conn)
        .await
        .expect("events")
    };
    let body = crate::episodes::episode("Gentiana", "Rexha", "1990-05-05", "2025-02-01");
    let keyed = || async {
        let response = app
            .client
            .post(app.url("/api/v1/episodes"))
            .bearer_auth(&doctor.token)
            .header("idempotency-key", "registration-0001")
            .json(&body)
            .send()
            .await
            .expect("sent");
        crate::helpers::json_of(response).await
    };
    let (status, created) = keyed().await;
    assert_eq!(status, 201, "{created}");
    let id = created["episode_id"].as_str().expect("id").to_owned();
    assert_eq!(
        events().await,
        [
            ("allowed".to_owned(), "-".to_owned()),
            ("success".to_owned(), id.clone())
        ],
        "decision first, then the write"
    );
    // Refused after the decision (a municipality that does not exist): the
    // decision is recorded, nothing else.
    let mut bad = body.clone();
    bad["municipality"] = serde_json::json!("atlantis");
    let (status, _) = app
        .send(
            Method::POST,
            "/api/v1/episodes",
            Some(&doctor.token),
            Some(&bad),
        )
        .await;
    assert_eq!(status, 422);
    // A replay: the decision again, no second write.
    let (status, _) = keyed().await;
    assert_eq!(status, 200);
    // The same person again at once: the episode continues (409), decision recorded.
    let (status, _) = app
        .send(
            Method::POST,
            "/api/v1/episodes",
            Some(&doctor.token),
            Some(&body),
        )
        .await;
    assert_eq!(status, 409);
    let outcomes: Vec<String> = events().await.into_iter().map(|(o, _)| o).collect();
    assert_eq!(
        outcomes,
        ["allowed", "success", "allowed", "allowed", "allowed"]
    );
    verify_store(&app.store, &[])
        .await
        .expect("the chain holds");
}
