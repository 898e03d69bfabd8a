//! Probes and the OpenAPI document.

use crate::helpers::TestApp;

backend_tests!(healthz_and_readyz_answer, openapi_document_lists_the_api);

async fn healthz_and_readyz_answer(app: TestApp) {
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ready");
}

async fn openapi_document_lists_the_api(app: TestApp) {
    let (status, doc) = app.get_json("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{doc}"
    );
    let paths = doc["paths"].as_object().expect("paths object");
    for path in [
        "/reference/municipalities",
        "/reference/districts",
        "/reference/substances",
        "/reference/facilities",
        "/reference/code-lists/{list}",
    ] {
        assert!(paths.contains_key(path), "OpenAPI lacks {path}");
    }
}
