//! Fuzzy linkage through the service (issue 16): the slips a registry sees link to
//! the person already registered, a one-digit personal-number slip waits for a
//! registrar, other people stay apart, and racing registrations of one new person
//! spelt differently make one subject.

use registry::cases::subjects::link_identity;
use registry::identity::subject::IdentityInput;
use registry::store::subjects::{LinkRule, Linked};

use crate::helpers::{TestApp, raw_connection};

backend_tests!(
    the_slips_of_a_repeat_registration_find_the_person,
    a_personal_number_one_digit_apart_waits_for_a_registrar,
    racing_registrations_of_one_new_person_make_one_subject,
    a_registrar_decides_the_pairs_with_both_identities_side_by_side,
    a_merge_counts_one_person_in_the_next_snapshot_only,
    a_death_is_known_to_treatment_through_a_merge,
    subjects_of_an_older_blocking_scheme_are_given_the_current_one_at_start_up,
);

/// A registry that stored its subjects under the previous blocking scheme (other
/// buckets) finds them again by similarity once restarted: start-up gives every
/// such subject the current scheme's buckets.
async fn subjects_of_an_older_blocking_scheme_are_given_the_current_one_at_start_up(app: TestApp) {
    let first = link(&app, &identity(None, "Xhavit", "Çeku", "1991-04-12", "1")).await;
    let mut conn = raw_connection(&app.database_url).await;
    // As the previous scheme left it: buckets no record of today looks in.
    for sql in [
        "update subject_encoding set blocking = 1",
        "update subject_bucket set bucket = bucket + 2000000",
    ] {
        sqlx::query(sql).execute(&mut conn).await.expect("aged");
    }
    // The restarted service re-buckets the subject under the current scheme.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&app.key_file, dir.path().join("registry.keys")).expect("key file copied");
    let restarted = TestApp::spawn_on(dir, app.database_url.clone()).await;
    let (old, aged): (i64, i64) = sqlx::query_as(
        "select (select count(*) from subject_encoding where blocking <> 2), \
         (select count(*) from subject_bucket where bucket >= 2000000)",
    )
    .fetch_one(&mut conn)
    .await
    .expect("count");
    assert_eq!((old, aged), (0, 0));
    // So a slip finds the person by similarity.
    let slip = link(
        &restarted,
        &identity(None, "Xhavit", "Çekku", "1991-04-12", "1"),
    )
    .await;
    assert_eq!(slip.rule, LinkRule::Similarity);
    assert_eq!(slip.registry_id, first.registry_id);
}

fn identity(pn: Option<&str>, first: &str, last: &str, birth: &str, sex: &str) -> IdentityInput {
    IdentityInput {
        personal_number: pn.map(str::to_owned),
        first_name: first.into(),
        last_name: last.into(),
        birth_date: birth.into(),
        sex: sex.into(),
    }
}

async fn link(app: &TestApp, input: &IdentityInput) -> Linked {
    link_identity(&app.store, &app.keys, input)
        .await
        .expect("linked")
}

/// Open review items and their audit events.
async fn reviews(app: &TestApp) -> (i64, i64) {
    use sqlx::Row;
    let mut conn = raw_connection(&app.database_url).await;
    let open: i64 = sqlx::query("select count(*) from link_review where status = 'open'")
        .fetch_one(&mut conn)
        .await
        .expect("reviews")
        .get(0);
    let events: i64 =
        sqlx::query("select count(*) from audit_event where action = 'queue_link_review'")
            .fetch_one(&mut conn)
            .await
            .expect("events")
            .get(0);
    (open, events)
}

async fn the_slips_of_a_repeat_registration_find_the_person(app: TestApp) {
    let first = link(&app, &identity(None, "Xhavit", "Çeku", "1991-04-12", "1")).await;
    assert_eq!(first.rule, LinkRule::New);
    for (what, slip) in [
        (
            "one letter",
            identity(None, "Xhavit", "Çekku", "1991-04-12", "1"),
        ),
        (
            "letters swapped",
            identity(None, "Xahvit", "Çeku", "1991-04-12", "1"),
        ),
        (
            "Serbian spelling",
            identity(None, "Džavit", "Ćeku", "1991-04-12", "1"),
        ),
        (
            "Cyrillic",
            identity(None, "Џавит", "Ћеку", "1991-04-12", "1"),
        ),
        (
            "day and month swapped",
            identity(None, "Xhavit", "Çeku", "1991-12-04", "1"),
        ),
        ("year only", identity(None, "Xhavit", "Çeku", "1991", "1")),
        (
            "names swapped and a slip",
            identity(None, "Ceku", "Xhavitt", "1991-04-12", "1"),
        ),
        (
            "no given name (a partial identity)",
            identity(None, "", "Çeku", "1991-04-12", "1"),
        ),
    ] {
        let linked = link(&app, &slip).await;
        assert_eq!(linked.registry_id, first.registry_id, "{what}");
        assert!(
            matches!(linked.rule, LinkRule::Similarity | LinkRule::Attributes),
            "{what}: {:?}",
            linked.rule
        );
    }
    // Other people: a namesake born another year, a woman of the same family
    // born the same day (a twin, perhaps), a stranger.
    for (what, other) in [
        (
            "namesake",
            identity(None, "Xhavit", "Çeku", "1968-11-23", "1"),
        ),
        (
            "twin sister",
            identity(None, "Xhevide", "Çeku", "1991-04-12", "2"),
        ),
        (
            "stranger",
            identity(None, "Besa", "Gashi", "1985-05-05", "2"),
        ),
    ] {
        let linked = link(&app, &other).await;
        assert_ne!(linked.registry_id, first.registry_id, "{what}");
        assert_eq!(linked.rule, LinkRule::New, "{what}");
    }
    // The twin is a candidate a registrar should see; the others are not.
    assert_eq!(reviews(&app).await.0, 1);
}

async fn a_personal_number_one_digit_apart_waits_for_a_registrar(app: TestApp) {
    let first = link(
        &app,
        &identity(Some("1234567890"), "Arta", "Berisha", "1994-02-17", "2"),
    )
    .await;
    let slip = link(
        &app,
        &identity(Some("1234567800"), "Arta", "Berisha", "1994-02-17", "2"),
    )
    .await;
    assert_ne!(
        slip.registry_id, first.registry_id,
        "never linked by itself"
    );
    assert_eq!(slip.rule, LinkRule::New);
    assert_eq!(slip.reviews.len(), 1, "but queued for review");
    // Two different numbers are never even a candidate.
    let other = link(
        &app,
        &identity(Some("5555555555"), "Arta", "Berisha", "1994-02-17", "2"),
    )
    .await;
    assert!(other.reviews.is_empty());
    assert_eq!(reviews(&app).await, (1, 0));

    // Through the API, a registration that queues a review says so in the audit
    // log: the review item's id, no identity, no score.
    let doctor = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let mut body = crate::episodes::episode("Arta", "Berisha", "1994-02-17", "2025-03-03");
    body["identity"]["personal_number"] = serde_json::json!("1234567809");
    body["identity"]["sex"] = serde_json::json!("2");
    let (status, created) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/episodes",
            Some(&doctor.token),
            Some(&body),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["link_rule"], "new");
    let text = created.to_string();
    for hidden in ["review", "similar", "probability", "encoding"] {
        assert!(!text.contains(hidden), "{hidden} in {text}");
    }
    assert_eq!(reviews(&app).await, (2, 1));
}

async fn racing_registrations_of_one_new_person_make_one_subject(app: TestApp) {
    let spellings = [
        ("Xhavit", "Çeku"),
        ("Džavit", "Ćeku"),
        ("Џавит", "Ћеку"),
        ("Xhavit", "Ceku"),
        ("XHAVIT", "ÇEKU"),
        ("Dzavit", "Ceku"),
        ("Ćeku", "Xhavit"),
        ("xhavit", "çeku"),
    ];
    let tasks: Vec<_> = spellings
        .iter()
        .map(|(first, last)| {
            let (store, keys) = (app.store.clone(), app.keys.clone());
            let input = identity(None, first, last, "1991-04-12", "1");
            tokio::spawn(async move { link_identity(&store, &keys, &input).await })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        ids.insert(task.await.expect("task").expect("linked").registry_id);
    }
    assert_eq!(ids.len(), 1, "one subject: {ids:?}");
}

async fn a_registrar_decides_the_pairs_with_both_identities_side_by_side(app: TestApp) {
    use reqwest::Method;
    use serde_json::json;
    // Twins: a registrar should look.
    link(&app, &identity(None, "Dardan", "Sopi", "1988-06-21", "1")).await;
    let sister = link(&app, &identity(None, "Merita", "Sopi", "1988-06-21", "2")).await;
    // A personal number one digit apart.
    let first = link(
        &app,
        &identity(Some("1234567890"), "Arta", "Berisha", "1994-02-17", "2"),
    )
    .await;
    let slip = link(
        &app,
        &identity(Some("1234567800"), "Arta", "Berisha", "1994-02-17", "2"),
    )
    .await;
    let (twins, numbers) = (sister.reviews[0].clone(), slip.reviews[0].clone());

    let registrar = app.user("registrar", None, None).await;
    let (status, queue) = app
        .send(
            Method::GET,
            "/api/v1/linkage/reviews",
            Some(&registrar.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{queue}");
    let items = queue["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    let item = &items[0];
    assert_eq!(item["review_id"], twins.as_str());
    assert_eq!(item["registered"]["identity"]["first_name"], "Merita");
    assert_eq!(item["earlier"]["identity"]["first_name"], "Dardan");
    assert_eq!(item["similarity"]["birth_date"], "exact");
    assert_eq!(item["similarity"]["sex_agrees"], false);
    assert!(
        item["similarity"]["last_name"]
            .as_f64()
            .is_some_and(|d| d > 0.95)
    );
    assert_eq!(items[1]["similarity"]["personal_number"], "one_digit");
    // Similarities only: nothing of the encodings, no pseudonym.
    let text = queue.to_string();
    for hidden in ["encoding", "bucket", "pseudonym", "filter"] {
        assert!(!text.contains(hidden), "{hidden} in {text}");
    }
    // Other roles see no queue.
    for role in ["clinician", "analyst", "auditor", "admin"] {
        let facility = (role == "clinician").then_some("uckk-psychiatry");
        let other = app.user(role, facility, None).await;
        let (status, _) = app
            .send(
                Method::GET,
                "/api/v1/linkage/reviews",
                Some(&other.token),
                None,
            )
            .await;
        assert_eq!(status, 403, "{role}");
    }

    let decide = |id: &str, body: serde_json::Value| {
        let (app, token, path) = (
            &app,
            registrar.token.clone(),
            format!("/api/v1/linkage/reviews/{id}"),
        );
        async move {
            app.send(Method::POST, &path, Some(&token), Some(&body))
                .await
        }
    };
    // The reason must fit the decision.
    let (status, body) = decide(&twins, json!({"decision": "link", "reason": "relatives"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["fields"][0]["field"], "reason", "{body}");
    let (status, _) = decide(
        &twins,
        json!({"decision": "distinct", "reason": "relatives"}),
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = decide(
        &twins,
        json!({"decision": "distinct", "reason": "relatives"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");

    // One person: the later subject joins the earlier; its identity now links there.
    let (status, body) = decide(
        &numbers,
        json!({"decision": "link", "reason": "same_person_slip"}),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let again = link(
        &app,
        &identity(Some("1234567800"), "Arta", "Berisha", "1994-02-17", "2"),
    )
    .await;
    assert_eq!(again.registry_id, first.registry_id);
    let (status, queue) = app
        .send(
            Method::GET,
            "/api/v1/linkage/reviews",
            Some(&registrar.token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(queue["items"].as_array().map(Vec::len), Some(0));

    // The merge was wrong after all: split, and the later identity stands alone.
    let path = format!("/api/v1/subjects/{}/split", slip.registry_id);
    let (status, body) = app
        .send(
            Method::POST,
            &path,
            Some(&registrar.token),
            Some(&json!({"reason": "same_person_slip"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app
        .send(
            Method::POST,
            &path,
            Some(&registrar.token),
            Some(&json!({"reason": "different_people"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = app
        .send(
            Method::POST,
            &path,
            Some(&registrar.token),
            Some(&json!({"reason": "different_people"})),
        )
        .await;
    assert_eq!(status, 409, "not merged any more");
    let alone = link(
        &app,
        &identity(Some("1234567800"), "Arta", "Berisha", "1994-02-17", "2"),
    )
    .await;
    assert_eq!(alone.registry_id, slip.registry_id);

    // Audited with the decision and its reason code, no values.
    use sqlx::Row;
    let mut conn = raw_connection(&app.database_url).await;
    let details: Vec<String> = sqlx::query(
        "select detail from audit_event where action = 'decide_links' and outcome = 'success' \
         order by seq",
    )
    .fetch_all(&mut conn)
    .await
    .expect("events")
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect();
    assert_eq!(details, ["distinct:relatives", "linked:same_person_slip"]);
}

/// Two subjects a registrar merged are one entrant in the next statistical snapshot;
/// the snapshot frozen before the merge does not move.
async fn a_merge_counts_one_person_in_the_next_snapshot_only(app: TestApp) {
    use registry::export::snapshot::Population;
    use reqwest::Method;
    use serde_json::json;
    let year = registry::export::current_year() - 1;
    let mut queued = Vec::new();
    for (facility, number, start) in [
        ("uckk-psychiatry", "1234567890", "03-03"),
        ("hosp-prizren", "1234567800", "09-09"),
    ] {
        let doctor = app.user("clinician", Some(facility), None).await;
        let mut body =
            crate::episodes::episode("Arta", "Berisha", "1994-02-17", &format!("{year}-{start}"));
        body["identity"]["personal_number"] = json!(number);
        body["identity"]["sex"] = json!("2");
        let (status, created) = app
            .send(
                Method::POST,
                "/api/v1/episodes",
                Some(&doctor.token),
                Some(&body),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        queued.push(created["registry_id"].as_str().expect("id").to_owned());
    }
    assert_ne!(
        queued[0], queued[1],
        "a number one digit apart is not linked by itself"
    );
    let analyst = app.user("analyst", None, None).await;
    let freeze = || async {
        let (status, info) = app
            .send(
                Method::POST,
                "/api/v1/exports/freeze",
                Some(&analyst.token),
                Some(&json!({"year": year, "purpose": "data lock"})),
            )
            .await;
        assert_eq!(status, 201, "{info}");
    };
    let store = app.store.clone();
    let entrants = |version: i64| {
        let store = store.clone();
        async move {
            let info = store
                .snapshot_info(year, Some(version))
                .await
                .expect("status")
                .expect("frozen");
            (
                info.rows.get(&Population::Entrants).copied(),
                info.rows.get(&Population::InTreatment).copied(),
            )
        }
    };
    freeze().await;
    assert_eq!(entrants(1).await, (Some(2), Some(2)));

    let review = app.store.open_reviews(10).await.expect("reviews");
    let registrar = app.user("registrar", None, None).await;
    let (status, body) = app
        .send(
            Method::POST,
            &format!("/api/v1/linkage/reviews/{}", review[0].review_id),
            Some(&registrar.token),
            Some(&json!({"decision": "link", "reason": "same_person_documents"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    freeze().await;
    assert_eq!(entrants(2).await, (Some(1), Some(1)), "one person now");
    assert_eq!(
        entrants(1).await,
        (Some(2), Some(2)),
        "the earlier version stays"
    );
}

/// A death linked to a subject that has no episode is known to treatment once a
/// registrar merges that subject with the person's treated one.
async fn a_death_is_known_to_treatment_through_a_merge(app: TestApp) {
    use reqwest::Method;
    use serde_json::json;
    let doctor = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let mut episode = crate::episodes::episode("Arta", "Berisha", "1994-02-17", "2024-03-03");
    episode["identity"]["personal_number"] = json!("1234567890");
    episode["identity"]["sex"] = json!("2");
    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/episodes",
            Some(&doctor.token),
            Some(&episode),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // The same person under a personal number one digit apart: a second subject
    // and a pair for the registrar.
    let slip = link(
        &app,
        &identity(Some("1234567800"), "Arta", "Berisha", "1994-02-17", "2"),
    )
    .await;
    assert_eq!(slip.reviews.len(), 1);
    let forensic = app.user("forensic", None, None).await;
    let death = json!({
        "identity": {"personal_number": "1234567800", "first_name": "Arta", "last_name": "Berisha",
                     "birth_date": "1994-02-17", "sex": "2"},
        "date_of_death": "2025-06-14",
        "municipality": "prishtine",
        "place_type": "home",
        "underlying_cause": "X42",
        "multiple_causes": ["T40.1"],
        "manner": "accident",
        "autopsy_done": true,
        "toxicology_done": true,
        "substances": [{"code": "1.1", "cause_relevant": true, "matrix": "blood"}],
        "final_status": true
    });
    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/deaths",
            Some(&forensic.token),
            Some(&death),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let known = || async {
        let deaths = app
            .store
            .export_deaths(&app.keys.current(), 2025, 2025)
            .await
            .expect("deaths");
        assert_eq!(deaths.len(), 1);
        deaths[0].known_to_treatment
    };
    assert!(!known().await, "the death's subject has no episode");
    let registrar = app.user("registrar", None, None).await;
    let (status, body) = app
        .send(
            Method::POST,
            &format!("/api/v1/linkage/reviews/{}", slip.reviews[0]),
            Some(&registrar.token),
            Some(&json!({"decision": "link", "reason": "same_person_documents"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert!(known().await, "one person with the treated subject");
}
