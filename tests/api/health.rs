//! Probes and the OpenAPI document.

use crate::helpers::TestApp;

backend_tests!(
    healthz_and_readyz_answer,
    readyz_is_not_ready_while_no_write_can_succeed,
    openapi_document_lists_the_api
);

async fn healthz_and_readyz_answer(app: TestApp) {
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ready");
}

/// Another process holds the database's write lock (SQLite) or the lock of the table
/// the probe writes (PostgreSQL): reads still work, writes cannot, and readiness
/// must say so instead of answering a read-only ping.
async fn readyz_is_not_ready_while_no_write_can_succeed(app: TestApp) {
    use sqlx::Connection;
    let mut blocker = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .expect("connect");
    let lock = if app.database_url.starts_with("sqlite:") {
        "begin immediate"
    } else {
        "begin; lock table readiness in exclusive mode"
    };
    sqlx::raw_sql(lock)
        .execute(&mut blocker)
        .await
        .expect("write lock held");
    let started = std::time::Instant::now();
    let (status, body) = app.get_json("/readyz").await;
    println!(
        "readyz with the write path blocked: {status} after {:?}",
        started.elapsed()
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    let (status, _) = app.get_json("/api/v1/reference/municipalities").await;
    assert_eq!(status, 200, "reads keep working");
    sqlx::raw_sql("rollback")
        .execute(&mut blocker)
        .await
        .expect("released");
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "{body}");
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

/// The OpenAPI document is kept under test: a change to any route, parameter or
/// response shows in review as a change of `tests/api/openapi.json`. Regenerate
/// with `UPDATE_OPENAPI_SNAPSHOT=1 cargo test openapi_document_matches`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_snapshot() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let (status, doc) = app.get_json("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI_SNAPSHOT").is_some() {
        let text = serde_json::to_string_pretty(&doc).expect("json");
        std::fs::write(&path, text + "\n").expect("snapshot written");
    }
    let snapshot: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path).expect("tests/api/openapi.json exists"),
    )
    .expect("snapshot is JSON");
    assert!(
        snapshot == doc,
        "the OpenAPI document changed; review it and regenerate the snapshot with \
         UPDATE_OPENAPI_SNAPSHOT=1 cargo test openapi_document_matches"
    );
    // Query filters are query parameters, and every operation lists its errors.
    for (path, name) in [("/episodes", "status"), ("/audit/events", "actor")] {
        let parameters = doc["paths"][path]["get"]["parameters"]
            .as_array()
            .expect("parameters");
        let parameter = parameters
            .iter()
            .find(|p| p["name"] == name)
            .expect("parameter");
        assert_eq!(parameter["in"], "query", "{path} {name}");
    }
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            for status in ["400", "401", "403", "422", "503"] {
                assert!(
                    operation["responses"].get(status).is_some(),
                    "{method} {path} lacks {status}"
                );
            }
        }
    }
}
