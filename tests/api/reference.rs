//! Reference data loaded from `seeds/` and served read-only.

use std::collections::BTreeSet;

use serde_json::json;

use crate::helpers::{TestApp, error_code};

backend_tests!(
    thirty_eight_municipalities_in_seven_districts,
    code_lists_follow_the_tdi_protocol,
    facilities_have_tdi_centre_types,
    icd10_codes_use_who_format,
    reloading_seeds_is_idempotent,
    restart_on_existing_database_keeps_reference_data,
    codes_can_be_checked_against_a_list,
);

async fn thirty_eight_municipalities_in_seven_districts(app: TestApp) {
    let (status, body) = app.get_json("/api/v1/reference/municipalities").await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], 38);
    let items = body["items"].as_array().expect("items");
    let districts: BTreeSet<&str> = items
        .iter()
        .map(|m| m["district"].as_str().expect("district"))
        .collect();
    assert_eq!(districts.len(), 7);
    let prishtine = items
        .iter()
        .find(|m| m["slug"] == "prishtine")
        .expect("Prishtinë present");
    assert_eq!(prishtine["name_sq"], "Prishtinë");
    assert_eq!(prishtine["name_sr"], "Priština");

    let (status, body) = app.get_json("/api/v1/reference/districts").await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], 7);
}

async fn code_lists_follow_the_tdi_protocol(app: TestApp) {
    let (status, body) = app.get_json("/api/v1/reference/substances").await;
    assert_eq!(status, 200);
    let codes: Vec<&str> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["code"].as_str().expect("code"))
        .collect();
    assert_eq!(
        codes.first(),
        Some(&"1"),
        "protocol order starts with opioids"
    );
    assert_eq!(codes.get(1), Some(&"1.1"));
    assert!(codes.contains(&"7.1") && codes.contains(&"8") && codes.contains(&"99"));
    let heroin = &body["items"][1];
    assert_eq!(heroin["label"], "heroin");
    assert_eq!(heroin["parent"], "1");

    let (status, body) = app.get_json("/api/v1/reference/code-lists").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| n.as_str().expect("name"))
        .collect();
    for list in [
        "centre_type",
        "treatment_status",
        "referral_source",
        "living_with",
        "living_with_children",
        "living_where",
        "labour_status",
        "education",
        "route",
        "frequency",
        "ost_status",
        "injecting",
        "sharing",
        "hiv_testing",
        "hcv_testing",
        "substance",
        "age_band",
    ] {
        assert!(
            names.contains(&list),
            "code list {list} missing from {names:?}"
        );
    }

    let (status, body) = app.get_json("/api/v1/reference/code-lists/route").await;
    assert_eq!(status, 200);
    assert_eq!(body["items"][0]["code"], "1");
    assert_eq!(body["items"][0]["label"], "inject");

    let (status, body) = app
        .get_json("/api/v1/reference/code-lists/no-such-list")
        .await;
    assert_eq!(status, 404);
    assert_eq!(error_code(&body), "not_found");
}

async fn facilities_have_tdi_centre_types(app: TestApp) {
    let (status, body) = app.get_json("/api/v1/reference/facilities").await;
    assert_eq!(status, 200);
    let items = body["items"].as_array().expect("items");
    assert!(items.len() >= 5, "a starter list of facilities is loaded");
    for f in items {
        let t = f["centre_type"].as_str().expect("centre type");
        assert!(["1", "2", "3", "4", "5", "6", "99"].contains(&t), "{f}");
        assert!(f["emergency_capable"].is_boolean(), "{f}");
    }
    assert!(items.iter().any(|f| f["emergency_capable"] == true));
}

async fn icd10_codes_use_who_format(app: TestApp) {
    let (status, body) = app.get_json("/api/v1/reference/icd10").await;
    assert_eq!(status, 200);
    let codes: Vec<&str> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["code"].as_str().expect("code"))
        .collect();
    for code in [
        "F11.2", "F19.0", "X42", "X62", "Y12", "T40.1", "T40.4", "T43.6",
    ] {
        assert!(codes.contains(&code), "{code} missing");
    }
    assert!(
        codes.iter().all(|c| c.len() <= 5),
        "no ICD-10-CM style codes"
    );
    // The whole WHO classification: a death of any cause can be recorded.
    assert!(codes.len() > 12_000, "{}", codes.len());
    for code in ["R99", "V89.2", "I21.9"] {
        assert!(codes.contains(&code), "{code} missing");
    }
    // A search field: by the start of a code, or words of the title.
    let search = |q: &str| {
        let app = &app;
        let q = q.to_owned();
        async move {
            app.get_json(&format!("/api/v1/reference/icd10?q={q}"))
                .await
        }
    };
    let (status, found) = search("heroin").await;
    assert_eq!(status, 200);
    let found: Vec<&str> = found["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["code"].as_str())
        .collect();
    assert!(found.contains(&"T40.1"), "{found:?}");
    let (_, found) = search("x4").await;
    let items = found["items"].as_array().expect("items");
    assert!(!items.is_empty() && items.len() <= 50);
    assert!(
        items
            .iter()
            .all(|c| c["code"].as_str().is_some_and(|c| c.starts_with("X4")))
    );
    let (_, found) = search("50%25").await;
    assert_eq!(
        found["items"],
        serde_json::json!([]),
        "wildcards are literal"
    );
    let (status, _) = search(&"a".repeat(61)).await;
    assert_eq!(status, 422);
}

async fn reloading_seeds_is_idempotent(app: TestApp) {
    let report = app.store.load_seeds().await.expect("second load");
    assert!(
        report.files.iter().all(|(_, _, loaded)| !loaded),
        "unchanged files are skipped: {report:?}"
    );
    let (_, body) = app.get_json("/api/v1/reference/municipalities").await;
    assert_eq!(body["count"], 38);
}

async fn codes_can_be_checked_against_a_list(app: TestApp) {
    let (status, body) = app
        .post_json(
            "/api/v1/reference/code-lists/substance/check",
            &json!({"codes": ["1.1", "7.1", "1.9"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["known"], json!(["1.1", "7.1"]));
    assert_eq!(body["unknown"], json!(["1.9"]));

    let (status, body) = app
        .post_json(
            "/api/v1/reference/code-lists/substance/check",
            &json!({"codes": []}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["fields"][0]["field"], "codes");
}

async fn restart_on_existing_database_keeps_reference_data(app: TestApp) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&app.key_file, dir.path().join("registry.keys")).expect("key file copied");
    let second = TestApp::spawn_on(dir, app.database_url.clone()).await;
    let (status, body) = second.get_json("/api/v1/reference/municipalities").await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], 38);
    if app.database_url.starts_with("sqlite:") {
        assert!(app.dir.path().join("registry.db").exists());
    }
}
