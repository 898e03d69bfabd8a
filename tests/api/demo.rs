//! The synthetic registry: `demo::fill` goes through the domain code, every record is
//! accepted, the demo accounts work over HTTP, and what it stores is usable by every
//! role's routes (clinician lists, analyst exports) with an intact audit chain.

use registry::demo::{self, Config, DemoError};
use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

backend_tests!(demo_fill_loads_a_usable_registry_once);

async fn demo_fill_loads_a_usable_registry_once(app: TestApp) {
    let users = demo::create_users(&app.store).await.expect("demo users");
    let facilities = app.store.facilities().await.expect("facilities").len();
    let municipalities = app.store.municipality_slugs().await.expect("slugs").len();
    assert_eq!(users.len(), facilities + municipalities + 6);
    let config = Config {
        persons: 120,
        years: 2,
        seed: 99,
        today: time::macros::date!(2026 - 11 - 24),
    };
    let mut seen = 0;
    let summary = demo::fill(&app.store, &app.keys, &config, &users, |done| seen = done)
        .await
        .expect("filled");
    assert_eq!(seen, 120, "progress reported for every person");
    assert!(summary.refused.is_empty(), "{:?}", summary.refused);
    assert!(summary.episodes >= 120, "{summary:?}");
    // Every person is in the registry; a slip without a personal number may create a
    // second subject, never fewer subjects than people.
    assert!(
        summary.subjects >= 120 && summary.subjects <= 120 + summary.slipped as i64,
        "{summary:?}"
    );
    assert!(summary.linked > 0 && summary.contacts > 0, "{summary:?}");

    // A printed demo credential logs in, and the clinician sees their facility's episodes.
    let clinician = users
        .iter()
        .find(|u| u.scope.as_deref() == Some("ost-prishtine"))
        .expect("ost clinician");
    let token = app.login(&clinician.username, &clinician.password).await;
    let (status, page) = app
        .send(Method::GET, "/api/v1/episodes", Some(&token), None)
        .await;
    assert_eq!(status, 200, "{page}");
    let listed = page["episodes"].as_array().map_or(0, Vec::len);
    assert!(listed > 0, "the OST unit has episodes: {page}");

    // The analyst freezes last year and releases the statutory set from it.
    let analyst = users
        .iter()
        .find(|u| u.role == registry::authz::Role::Analyst)
        .expect("analyst");
    let token = app.login(&analyst.username, &analyst.password).await;
    let year = registry::export::current_year() - 1;
    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/exports/freeze",
            Some(&token),
            Some(&json!({"year": year, "purpose": "demo check"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["entrants"].as_i64().unwrap_or(0) > 0, "{body}");
    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/exports/statutory",
            Some(&token),
            Some(&json!({"year": year, "format": "json", "purpose": "demo check"})),
        )
        .await;
    assert_eq!(status, 200, "{}", body["error"]);
    let total = body["tables"][0]["cells"]
        .as_array()
        .and_then(|rows| rows.last())
        .and_then(|row| row.as_array())
        .and_then(|row| row.last())
        .cloned()
        .unwrap_or_default();
    assert!(total.as_i64().unwrap_or(0) > 0, "{total}");

    // Every demo record went through the decision point as its demo user: one
    // allowed decision under a real policy rule, then one write, per record.
    let events = app.store.audit_page(0, i64::MAX).await.expect("events");
    let demo: Vec<_> = events
        .iter()
        .filter(|e| e.purpose.as_deref() == Some("demo_data"))
        .collect();
    assert!(
        demo.iter().all(|e| e
            .rule
            .as_deref()
            .is_some_and(|r| !r.is_empty() && r != "demo")),
        "every demo event names the policy rule that decided it"
    );
    let count = |action: &str, outcome: &str| {
        demo.iter()
            .filter(|e| e.action == action && e.outcome == outcome)
            .count() as u64
    };
    assert!(summary.contacts > 0 && summary.overdoses > 0, "{summary:?}");
    for (action, recorded) in [
        ("create_social_contact", summary.contacts),
        (
            "create_overdose",
            summary.overdoses + summary.police_overdoses,
        ),
        ("create_death_notification", summary.notifications),
        ("create_death_record", summary.deaths),
    ] {
        assert_eq!(count(action, "allowed"), recorded, "{action} decisions");
        assert_eq!(count(action, "success"), recorded, "{action} writes");
    }

    registry::cases::audit::verify_store(&app.store, &[])
        .await
        .expect("audit chain intact after the fill");

    // A second fill into a registry that holds people is refused.
    match demo::fill(&app.store, &app.keys, &config, &users, |_| {}).await {
        Err(DemoError::NotEmpty(n)) => assert_eq!(n, summary.subjects),
        other => panic!("expected NotEmpty, got {:?}", other.map(|s| s.subjects)),
    }
}
