//! Hostile bytes, as an outside probe sends them, on both backends: NUL and other
//! control characters, bidirectional overrides, and ids that are not ids, in paths,
//! query filters and JSON bodies, for every role. Never a 5xx, never a 2xx; ids that
//! are not UUIDs are 404, text with forbidden characters is 422 naming the field.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;

backend_tests!(
    hostile_ids_in_every_path_are_refused_for_every_role,
    control_characters_in_queries_and_bodies_are_422_naming_the_field,
);

async fn hostile_ids_in_every_path_are_refused_for_every_role(app: TestApp) {
    let (_, doc) = app.get_json("/api/v1/openapi.json").await;
    let paths = doc["paths"].as_object().expect("paths");
    let hostile = [
        "%00",
        "abc%00def",
        "00000000-0000-4000-8000-00000000000%00",
        "%E2%80%AEtxt.exe",
        "..%2F..%2Fetc%2Fpasswd",
        "1%20or%201%3D1",
    ];
    let users = app.every_role().await;
    let mut probes = 0;
    for (template, methods) in paths {
        if !template.contains('{') {
            continue;
        }
        for method in methods.as_object().expect("methods").keys() {
            let method: Method = method.to_uppercase().parse().expect("method");
            for id in hostile {
                let path = format!(
                    "/api/v1{}",
                    template
                        .split('/')
                        .map(|part| if part.starts_with('{') { id } else { part })
                        .collect::<Vec<_>>()
                        .join("/")
                );
                for (role, user) in &users {
                    let mut request = app
                        .client
                        .request(method.clone(), app.url(&path))
                        .bearer_auth(&user.token);
                    if method != Method::GET {
                        request = request.json(&json!({}));
                    }
                    let response = request.send().await.expect("sent");
                    let status = response.status();
                    probes += 1;
                    assert!(
                        status.is_client_error(),
                        "{role} {method} {path}: {status} {}",
                        response.text().await.unwrap_or_default()
                    );
                }
            }
        }
    }
    println!("{probes} hostile-id probes, none 2xx or 5xx");
    assert!(probes > 300, "the document lists the id routes: {probes}");
}

async fn control_characters_in_queries_and_bodies_are_422_naming_the_field(app: TestApp) {
    let users = app.every_role().await;
    let user = |role: &str| &users.iter().find(|(r, _)| *r == role).expect("role").1;
    for (role, path) in [
        ("auditor", "/api/v1/audit/events?actor=%00"),
        ("auditor", "/api/v1/audit/events?object=a%00b"),
        ("auditor", "/api/v1/audit/events?actor=x%E2%80%AEy"),
        ("clinician", "/api/v1/episodes?primary_drug=%00"),
        ("clinician", "/api/v1/episodes?status=open%7F"),
    ] {
        let (status, body) = app
            .send(Method::GET, path, Some(&user(role).token), None)
            .await;
        assert_eq!(status, 422, "{path}: {body}");
        assert_eq!(body["error"]["code"], "invalid_input", "{path}: {body}");
    }

    let mut episode =
        crate::episodes::episode("Arta\u{202e}", "Berisha", "1990-01-01", "2025-01-01");
    episode["notes"] = json!("note with a NUL \u{0} in it");
    let mut death = json!({
        "identity": {"first_name": "Blerim", "last_name": "Ze\u{0}ka", "birth_date": "1989-09-09", "sex": "1"},
        "date_of_death": "2025-06-14", "municipality": "prizren", "place_type": "public_place",
        "underlying_cause": "X42", "manner": "accident", "autopsy_done": true,
        "toxicology_done": true, "final_status": true,
        "substances": [{"nps_name": "iso\u{0}tonitazene", "cause_relevant": true, "matrix": "blood"}]
    });
    death["multiple_causes"] = json!(["T40.1"]);
    let cases: [(&str, &str, Value, &[&str]); 4] = [
        (
            "clinician",
            "/api/v1/episodes",
            episode,
            &["identity.first_name", "notes"],
        ),
        (
            "forensic",
            "/api/v1/deaths",
            death,
            &["identity.last_name", "substances[0].nps_name"],
        ),
        (
            "analyst",
            "/api/v1/exports/custom",
            json!({"year": 2024, "purpose": "plan\u{0}ning", "dimensions": ["sex", "age_band"]}),
            &["purpose"],
        ),
        (
            "clinician",
            "/api/v1/episodes",
            json!({"identity": {"first\u{0}name": "x"}}),
            &["identity"],
        ),
    ];
    for (role, path, body, fields) in cases {
        let (status, answer) = app
            .send(Method::POST, path, Some(&user(role).token), Some(&body))
            .await;
        assert_eq!(status, 422, "{path}: {answer}");
        let named: Vec<&str> = answer["error"]["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|f| f["field"].as_str().expect("field"))
            .collect();
        assert_eq!(named, fields, "{path}: {answer}");
    }
}
