//! Permits: sealed data opens only under a permit from the decision point, only for
//! the record it was decided on, and only the field groups it allows. (That nothing
//! outside `cases::access` can make a permit is a compile-time property: `Permit`'s
//! fields are private to that module and it has no public constructor.)

use std::sync::Arc;

use registry::authz::{Action, Authorizer, FieldGroup, Principal, Resource, ResourceKind, Role};
use registry::cases::access::{AccessError, Gate};
use registry::cases::deaths::{DeathError, open_death};
use registry::cases::episodes::{EpisodeError, open, resource};
use reqwest::Method;

use crate::episodes::episode;
use crate::helpers::TestApp;

backend_tests!(
    a_permit_opens_only_its_own_record_and_only_the_groups_it_allows,
    police_open_their_circumstances_but_never_the_identity_inside,
);

fn gate(app: &TestApp) -> Gate {
    Gate::new(
        Arc::new(Authorizer::new().expect("policies")),
        app.store.clone(),
    )
}

fn principal(user_id: &str, role: Role, facility: Option<&str>) -> Principal {
    Principal {
        user_id: user_id.into(),
        role,
        facility: facility.map(str::to_owned),
        municipality: None,
    }
}

async fn a_permit_opens_only_its_own_record_and_only_the_groups_it_allows(app: TestApp) {
    let doctor = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let mut ids = Vec::new();
    for (first, last) in [("Arta", "Gashi"), ("Besnik", "Krasniqi")] {
        let (status, body) = app
            .send(
                Method::POST,
                "/api/v1/episodes",
                Some(&doctor.token),
                Some(&episode(first, last, "1990-02-03", "2026-01-10")),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["episode_id"].as_str().expect("id").to_owned());
    }
    let keyring = app.keys.current();
    let row = |id: String| {
        let store = app.store.clone();
        let keyring = Arc::clone(&keyring);
        async move {
            store
                .episode(&keyring, &id)
                .await
                .expect("read")
                .expect("episode")
        }
    };
    let (first, second) = (row(ids[0].clone()).await, row(ids[1].clone()).await);
    let identity_of = |registry_id: String| {
        let store = app.store.clone();
        async move {
            store
                .sealed_subject(&registry_id)
                .await
                .expect("subject")
                .identity_sealed
        }
    };
    let first_identity = identity_of(first.registry_id.clone()).await;
    let second_identity = identity_of(second.registry_id.clone()).await;
    let gate = gate(&app);
    let me = principal(&doctor.user_id, Role::Clinician, Some("uckk-psychiatry"));

    // Decided for the first episode: it opens that one, whole.
    let (permit, _) = gate
        .decide(
            &me,
            Action::ReadEpisode,
            &resource(&first),
            "treatment".into(),
        )
        .await
        .expect("own facility");
    for group in [
        FieldGroup::Identity,
        FieldGroup::Clinical,
        FieldGroup::HealthSensitive,
    ] {
        assert!(permit.may_read(group), "{group:?}");
    }
    assert!(!permit.may_read(FieldGroup::Social));
    assert!(!permit.may_read(FieldGroup::Linkage));
    let opened = open(&app.keys, &permit, first, first_identity.as_deref()).expect("opens");
    assert_eq!(
        opened.identity.as_ref().map(|i| i.last_name.as_str()),
        Some("Gashi")
    );
    assert!(opened.sealed.is_some());

    // The same permit does not open the second episode.
    assert!(matches!(
        open(
            &app.keys,
            &permit,
            second.clone(),
            second_identity.as_deref()
        ),
        Err(EpisodeError::NotPermitted)
    ));

    // A listing's permit names no record and opens none.
    let (list_permit, _) = gate
        .decide(
            &me,
            Action::ListEpisodes,
            &Resource {
                facility: Some("uckk-psychiatry".into()),
                ..Resource::national(ResourceKind::Episode, "")
            },
            "treatment".into(),
        )
        .await
        .expect("list allowed");
    assert!(!list_permit.may_read(FieldGroup::Identity));
    assert!(matches!(
        open(
            &app.keys,
            &list_permit,
            second.clone(),
            second_identity.as_deref()
        ),
        Err(EpisodeError::NotPermitted)
    ));

    // Nobody else gets a permit for it: another facility's clinician, a social
    // worker, the police (the record is hidden: 404, not 403).
    for other in [
        principal("x", Role::Clinician, Some("hosp-peje")),
        principal("y", Role::SocialWorker, None),
        principal("z", Role::Police, None),
    ] {
        assert!(matches!(
            gate.decide(
                &other,
                Action::ReadEpisode,
                &resource(&second),
                "treatment".into()
            )
            .await,
            Err(AccessError::Denied { hidden: true })
        ));
    }
}

async fn police_open_their_circumstances_but_never_the_identity_inside(app: TestApp) {
    let officer = app.user("police", None, None).await;
    let body = serde_json::json!({
        "date_of_death": "2025-06-14",
        "municipality": "prizren",
        "place_type": "public_place",
        "found_alone": true,
        "paraphernalia": true,
        "witnessed": false,
        "suspected_substances": ["1.1"],
        "identity": {"first_name": "Blerim", "last_name": "Zeka", "birth_date": "1989-09-09", "sex": "1"},
        "circumstances": "Found in a park by a passer-by"
    });
    let (status, created) = app
        .send(
            Method::POST,
            "/api/v1/death-notifications",
            Some(&officer.token),
            Some(&body),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let row = app.store.death(&id).await.expect("read").expect("death");
    let gate = gate(&app);
    let notification = Resource {
        reporter: Some(officer.user_id.clone()),
        ..Resource::national(ResourceKind::DeathNotification, &id)
    };
    let (permit, _) = gate
        .decide(
            &principal(&officer.user_id, Role::Police, None),
            Action::ReadDeathNotification,
            &notification,
            "mortality_registry".into(),
        )
        .await
        .expect("own notification");
    assert!(permit.may_read(FieldGroup::PoliceCircumstances));
    assert!(!permit.may_read(FieldGroup::Identity));
    let (police, forensic) = open_death(&app.keys, &permit, &row).expect("opens");
    let police = police.expect("police part");
    assert!(
        police.identity.is_none(),
        "identity stays sealed for police"
    );
    assert!(forensic.is_none());

    // A forensic doctor's permit for the record opens the identity.
    let (permit, _) = gate
        .decide(
            &principal("doctor", Role::Forensic, None),
            Action::ReadDeathRecord,
            &Resource::national(ResourceKind::DeathRecord, &id),
            "mortality_registry".into(),
        )
        .await
        .expect("forensic");
    let (police, _) = open_death(&app.keys, &permit, &row).expect("opens");
    assert_eq!(
        police
            .and_then(|p| p.identity)
            .map(|i| i.last_name.clone())
            .as_deref(),
        Some("Zeka")
    );
    // And not another death's.
    let mut other = row.clone();
    other.death_id = uuid::Uuid::new_v4().to_string();
    assert!(matches!(
        open_death(&app.keys, &permit, &other),
        Err(DeathError::NotPermitted)
    ));
}
