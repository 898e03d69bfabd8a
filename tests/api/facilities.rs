//! The facility register over the API: an administrator adds a facility and
//! changes it; the change governs what its clinicians may do at once; bad input
//! is named field by field; a race for one code makes one facility.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

backend_tests!(
    an_administrator_adds_and_changes_a_facility,
    bad_facility_input_is_named_and_nothing_changes,
    a_race_for_one_code_makes_one_facility,
);

fn new_clinic(code: &str) -> Value {
    json!({
        "code": code,
        "name": "Qendra e Mjekësisë Familjare Ferizaj",
        "municipality": "ferizaj",
        "centre_type": "4",
        "emergency_capable": false,
    })
}

async fn facility(app: &TestApp, code: &str) -> Option<Value> {
    let (status, list) = app.get_json("/api/v1/reference/facilities").await;
    assert_eq!(status, 200);
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|f| f["code"] == code)
        .cloned()
}

async fn an_administrator_adds_and_changes_a_facility(app: TestApp) {
    let admin = app.user("admin", None, None).await;
    let token = Some(admin.token.as_str());
    let (status, added) = app
        .send(
            Method::POST,
            "/api/v1/facilities",
            token,
            Some(&new_clinic("fmc-ferizaj")),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["active"], true);
    let listed = facility(&app, "fmc-ferizaj").await.expect("listed");
    assert_eq!(listed["name"], "Qendra e Mjekësisë Familjare Ferizaj");
    assert_eq!(listed["emergency_capable"], false);

    // A clinician placed there registers nothing about overdoses until the
    // facility has an emergency department, and may from the next request on.
    let clinician = app.user("clinician", Some("fmc-ferizaj"), None).await;
    let (status, _) = app
        .send(
            Method::GET,
            "/api/v1/overdoses",
            Some(&clinician.token),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, changed) = app
        .send(
            Method::PATCH,
            "/api/v1/facilities/fmc-ferizaj",
            token,
            Some(&json!({"emergency_capable": true, "name": "  QKMF Ferizaj  "})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["emergency_capable"], true);
    assert_eq!(changed["name"], "QKMF Ferizaj", "trimmed");
    assert_eq!(changed["municipality"], "ferizaj", "kept");
    let (status, _) = app
        .send(
            Method::GET,
            "/api/v1/overdoses",
            Some(&clinician.token),
            None,
        )
        .await;
    assert_eq!(status, 200);

    // Closed: its clinicians can no longer register an episode there.
    let (status, _) = app
        .send(
            Method::PATCH,
            "/api/v1/facilities/fmc-ferizaj",
            token,
            Some(&json!({"active": false})),
        )
        .await;
    assert_eq!(status, 200);
    // A change that changes nothing writes nothing and is not audited.
    let (status, same) = app
        .send(
            Method::PATCH,
            "/api/v1/facilities/fmc-ferizaj",
            token,
            Some(&json!({"active": false, "name": "QKMF Ferizaj"})),
        )
        .await;
    assert_eq!(status, 200, "{same}");
    let episode = crate::episodes::episode("Arta", "Morina", "1992-05-06", "2025-04-01");
    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/episodes",
            Some(&clinician.token),
            Some(&episode),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        facility(&app, "fmc-ferizaj").await.expect("kept")["active"],
        false
    );

    // Each change is audited under the administrator, with what changed and
    // never the name.
    let mut conn = crate::helpers::raw_connection(&app.database_url).await;
    let details: Vec<(Option<String>,)> = sqlx::query_as(
        "select detail from audit_event where actor = $1 and action = 'manage_facilities' \
         and object = 'fmc-ferizaj' order by seq",
    )
    .bind(&admin.user_id)
    .fetch_all(&mut conn)
    .await
    .expect("audit");
    let details: Vec<String> = details.into_iter().filter_map(|(d,)| d).collect();
    assert_eq!(details.len(), 3, "{details:?}");
    assert!(details[0].starts_with("added:"), "{details:?}");
    assert_eq!(details[1], "changed: name emergency=true");
    assert_eq!(details[2], "changed: active=false");
    assert!(details.iter().all(|d| !d.contains("Ferizaj")));
}

async fn bad_facility_input_is_named_and_nothing_changes(app: TestApp) {
    let admin = app.user("admin", None, None).await;
    let token = Some(admin.token.as_str());
    let before = app.get_json("/api/v1/reference/facilities").await.1;

    // Every problem at once, each by its field, no value echoed.
    let hostile = json!({
        "code": "Bad Code<script>",
        "name": "X",
        "municipality": "atlantis",
        "centre_type": "42",
        "emergency_capable": false,
    });
    let (status, body) = app
        .send(Method::POST, "/api/v1/facilities", token, Some(&hostile))
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert_eq!(fields, ["code", "name", "municipality", "centre_type"]);
    let text = body.to_string();
    for echoed in ["script", "atlantis", "42"] {
        assert!(!text.contains(echoed), "{echoed} echoed: {text}");
    }
    // A missing field, a wrong type, an unknown field: named, 422.
    for (sent, field) in [
        (json!({"code": "ab-c", "name": "Clinic"}), "municipality"),
        (json!({"active": "yes"}), "active"),
        (json!({"colour": "red"}), "unknown field"),
        (json!({"name": "Klinika\u{202e}"}), "name"),
    ] {
        let (method, path) = if sent.get("code").is_some() {
            (Method::POST, "/api/v1/facilities")
        } else {
            (Method::PATCH, "/api/v1/facilities/hosp-prizren")
        };
        let (status, body) = app.send(method, path, token, Some(&sent)).await;
        assert_eq!(status, 422, "{sent}: {body}");
        assert!(body.to_string().contains(field), "{field}: {body}");
    }
    // A code that exists: 409; one that does not, or cannot be one: 404.
    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/facilities",
            token,
            Some(&new_clinic("hosp-prizren")),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(error_code(&body), "facility_code_taken");
    for path in [
        "/api/v1/facilities/nowhere",
        "/api/v1/facilities/..%2Fusers",
        "/api/v1/facilities/A%00",
    ] {
        let (status, _) = app
            .send(Method::PATCH, path, token, Some(&json!({"active": false})))
            .await;
        assert_eq!(status, 404, "{path}");
    }
    // No other role may change the register.
    for (role, user) in app.every_role().await {
        if role == "admin" {
            continue;
        }
        let (status, _) = app
            .send(
                Method::PATCH,
                "/api/v1/facilities/hosp-prizren",
                Some(&user.token),
                Some(&json!({"active": false})),
            )
            .await;
        assert_eq!(status, 403, "{role}");
    }
    assert_eq!(app.get_json("/api/v1/reference/facilities").await.1, before);
}

async fn a_race_for_one_code_makes_one_facility(app: TestApp) {
    let admin = app.user("admin", None, None).await;
    let body = new_clinic("fmc-raced");
    let sends = (0..8).map(|_| {
        app.send(
            Method::POST,
            "/api/v1/facilities",
            Some(&admin.token),
            Some(&body),
        )
    });
    let answers = futures_util::future::join_all(sends).await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let refused = answers.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!((created, refused), (1, 7), "{answers:?}");
    let mut conn = crate::helpers::raw_connection(&app.database_url).await;
    let (n,): (i64,) = sqlx::query_as("select count(*) from facility where code = 'fmc-raced'")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert_eq!(n, 1);
}
