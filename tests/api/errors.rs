//! Bad input is answered with a JSON 4xx that says what to fix; never a 5xx.

use crate::helpers::{TestApp, error_code, json_of};

backend_tests!(
    unknown_api_route_is_json_404_and_any_other_a_page,
    wrong_method_is_json_405,
    malformed_json_is_400_with_position,
    wrong_shape_names_the_field,
    missing_content_type_is_415,
    oversize_body_is_413,
    responses_are_not_cached_and_carry_request_ids,
    submitted_values_are_never_echoed,
);

const CHECK: &str = "/api/v1/reference/code-lists/substance/check";

async fn unknown_api_route_is_json_404_and_any_other_a_page(app: TestApp) {
    let (status, body) = app.get_json("/api/v1/no-such-thing").await;
    assert_eq!(status, 404);
    assert_eq!(error_code(&body), "not_found");
    // Outside the API, paths are the browser interface's: an HTML page.
    let page = app
        .client
        .get(app.url("/nothing/here"))
        .send()
        .await
        .expect("sent");
    assert_eq!(page.status(), 404);
    let kind = page.headers()["content-type"].to_str().unwrap_or_default();
    assert!(kind.starts_with("text/html"), "{kind}");
}

async fn wrong_method_is_json_405(app: TestApp) {
    let response = app
        .client
        .delete(app.url("/api/v1/reference/municipalities"))
        .send()
        .await
        .expect("sent");
    assert!(response.headers().contains_key("allow"));
    let (status, body) = json_of(response).await;
    assert_eq!(status, 405);
    assert_eq!(error_code(&body), "method_not_allowed");
}

async fn malformed_json_is_400_with_position(app: TestApp) {
    let response = app
        .client
        .post(app.url(CHECK))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body("{\"codes\": [\"1.1\",\n  ]}")
        .send()
        .await
        .expect("sent");
    let (status, body) = json_of(response).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), "malformed_json");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("line 2"), "{message}");
    assert!(message.contains("column"), "{message}");
}

async fn wrong_shape_names_the_field(app: TestApp) {
    let (status, body) = app
        .post_json(CHECK, &serde_json::json!({"codes": "1.1"}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(error_code(&body), "invalid_input");
    assert_eq!(body["error"]["fields"][0]["field"], "codes");
    let (status, body) = app
        .post_json(CHECK, &serde_json::json!({"codes": ["1.1"], "extra": true}))
        .await;
    assert_eq!(status, 422);
    let problem = body["error"]["fields"][0]["problem"]
        .as_str()
        .expect("problem");
    // The unknown name is not repeated (it could be anything the client typed).
    assert_eq!(problem, "unknown field, expected `codes`");
    assert_eq!(body["error"]["fields"][0]["field"], "body");

    // A registration with several fields missing or of the wrong type: every one
    // at once, under its own name, in plain words.
    let doctor = app.user("clinician", Some("hosp-prizren"), None).await;
    let mut episode = crate::episodes::episode("Arben", "Gashi", "1990-01-01", "2025-01-01");
    let map = episode.as_object_mut().expect("object");
    map.remove("route");
    map.remove("frequency");
    map.insert("age_first_use".into(), serde_json::json!("nineteen"));
    map.insert("secondary_drugs".into(), serde_json::json!("7.1"));
    episode["identity"]["sex"] = serde_json::json!(1);
    let (status, body) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/episodes",
            Some(&doctor.token),
            Some(&episode),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<(String, String)> = body["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap_or_default().to_owned(),
                f["problem"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let named = |field: &str| {
        fields
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, p)| p.as_str())
    };
    assert_eq!(named("route"), Some("is required"), "{fields:?}");
    assert_eq!(named("frequency"), Some("is required"), "{fields:?}");
    assert_eq!(
        named("identity.sex"),
        Some("invalid type: number given, expected text")
    );
    assert!(
        named("age_first_use").is_some_and(|p| p.contains("whole number")),
        "{fields:?}"
    );
    assert!(
        named("secondary_drugs").is_some_and(|p| p.contains("a list")),
        "{fields:?}"
    );
    assert!(!body.to_string().contains("nineteen"));
}

async fn missing_content_type_is_415(app: TestApp) {
    let response = app
        .client
        .post(app.url(CHECK))
        .bearer_auth(&app.token)
        .body("{\"codes\": [\"1.1\"]}")
        .send()
        .await
        .expect("sent");
    let (status, body) = json_of(response).await;
    assert_eq!(status, 415);
    assert_eq!(error_code(&body), "unsupported_media_type");
}

async fn oversize_body_is_413(app: TestApp) {
    // The test service accepts at most 64 KiB; send a little more (a much larger body
    // can be cut off mid-send when the server answers early).
    let codes: Vec<String> = (0..7_000).map(|i| format!("code-{i}")).collect();
    let (status, body) = app
        .post_json(CHECK, &serde_json::json!({ "codes": codes }))
        .await;
    assert_eq!(status, 413);
    assert_eq!(error_code(&body), "payload_too_large");
    // The service is still healthy afterwards.
    let (status, _) = app.get_json("/readyz").await;
    assert_eq!(status, 200);
}

async fn responses_are_not_cached_and_carry_request_ids(app: TestApp) {
    let response = app
        .client
        .get(app.url("/api/v1/reference/districts"))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let id = response.headers()["x-request-id"].to_str().expect("ascii");
    assert_eq!(id.len(), 36, "a UUID request id: {id}");
}

/// Enum values, unknown field names and query values can be personal data (a name
/// typed into the wrong field): errors say what is expected, never what was sent.
async fn submitted_values_are_never_echoed(app: TestApp) {
    const PLANTED: &str = "Çështjeqyrja";
    let analyst = app.user("analyst", None, None).await;
    let doctor = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let mut episode = crate::episodes::episode("Arta", "Berisha", "1990-01-01", "2025-01-01");
    episode[PLANTED] = serde_json::json!(1);
    let mut nested = crate::episodes::episode("Arta", "Berisha", "1990-01-01", "2025-01-01");
    nested["identity"][PLANTED] = serde_json::json!("x");
    let cases = [
        (&doctor, "/api/v1/episodes", episode),
        (&doctor, "/api/v1/episodes", nested),
        (
            &analyst,
            "/api/v1/exports/custom",
            serde_json::json!({"year": 2024, "purpose": "planning",
                "dimensions": ["sex", "age_band"], "format": PLANTED}),
        ),
        (
            &analyst,
            "/api/v1/exports/custom",
            serde_json::json!({"year": 2024, "purpose": "planning",
                "dimensions": [PLANTED, "sex"]}),
        ),
    ];
    for (user, path, body) in cases {
        let (status, answer) = app
            .send(reqwest::Method::POST, path, Some(&user.token), Some(&body))
            .await;
        assert!(status.is_client_error(), "{path}: {status} {answer}");
        assert!(
            !answer.to_string().contains(PLANTED),
            "{path} echoes: {answer}"
        );
    }
    let mut odd_key = serde_json::json!({"identity": {}});
    odd_key["identity"][PLANTED] = serde_json::json!("a NUL \u{0} below a typed name");
    let (status, answer) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/episodes",
            Some(&doctor.token),
            Some(&odd_key),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(!answer.to_string().contains(PLANTED), "echoes: {answer}");
    assert_eq!(answer["error"]["fields"][0]["field"], "identity");
    for query in [
        format!("/api/v1/episodes?{PLANTED}=%00"),
        format!("/api/v1/episodes?year={PLANTED}"),
        format!("/api/v1/episodes?status={PLANTED}"),
        format!("/api/v1/episodes?limit=1&{PLANTED}=1"),
    ] {
        let (status, answer) = app
            .send(reqwest::Method::GET, &query, Some(&doctor.token), None)
            .await;
        assert!(status.is_client_error(), "{query}: {status} {answer}");
        assert!(
            !answer.to_string().contains(PLANTED),
            "{query} echoes: {answer}"
        );
    }
}
