//! Identity never rests in clear: linking, sealing, rotation, shredding, and a scan
//! of the raw database for planted identities.

use std::time::Duration;

use registry::cases::keys;
use registry::cases::subjects::{SubjectError, link_identity, shred};
use registry::crypto::KeyringHandle;
use registry::identity::subject::IdentityInput;
use registry::store::subjects::LinkRule;
use sqlx::Connection;

use crate::helpers::TestApp;

/// Opens a subject's identity as the operator at the console would (through the
/// decision point's audited operator permit).
async fn open_identity(app: &TestApp, registry_id: &str) -> Result<IdentityInput, SubjectError> {
    let gate = registry::cases::access::Gate::new(
        std::sync::Arc::new(registry::authz::Authorizer::new().expect("policies")),
        app.store.clone(),
    );
    let permit = gate
        .operator(
            registry::authz::Action::SubjectAccessReport,
            registry_id,
            &[registry::authz::FieldGroup::Identity],
            "data_subject_request",
        )
        .await
        .expect("operator permit");
    registry::cases::subjects::open_identity(&app.store, &app.keys, &permit, registry_id)
        .await
        .map(|identity| identity.expect("the permit allows the identity"))
}

backend_tests!(
    same_person_with_spelling_variants_links_to_one_subject,
    different_people_with_same_initials_and_birth_date_stay_apart,
    invalid_identity_lists_every_bad_field,
    database_dump_holds_no_planted_identity,
    sealed_identity_moved_to_another_row_fails_to_open,
    master_rotation_rewraps_every_subject,
    pseudonym_rotation_keeps_linking,
    shredding_destroys_identity_and_keeps_counts,
    erasure_ground_is_a_code_and_the_reference_a_case_number,
    start_up_refuses_missing_or_foreign_key_file,
);

fn identity(pn: Option<&str>, first: &str, last: &str, dob: &str, sex: &str) -> IdentityInput {
    IdentityInput {
        personal_number: pn.map(str::to_owned),
        first_name: first.into(),
        last_name: last.into(),
        birth_date: dob.into(),
        sex: sex.into(),
    }
}

async fn link(app: &TestApp, input: &IdentityInput) -> registry::store::subjects::Linked {
    link_identity(&app.store, &app.keys, input)
        .await
        .expect("identity links")
}

async fn same_person_with_spelling_variants_links_to_one_subject(app: TestApp) {
    let first = link(
        &app,
        &identity(None, "Dragan", "Đorđević", "1988-03-14", "1"),
    )
    .await;
    assert_eq!(first.rule, LinkRule::New);
    // Serbian Cyrillic at another facility.
    let cyrillic = link(
        &app,
        &identity(None, "Драган", "Ђорђевић", "1988-03-14", "1"),
    )
    .await;
    assert_eq!(cyrillic.registry_id, first.registry_id);
    assert_eq!(cyrillic.rule, LinkRule::Attributes);
    // No diacritics, upper case, surname written first.
    let ascii = link(
        &app,
        &identity(None, "DJORDJEVIC", "dragan", "1988-03-14", "1"),
    )
    .await;
    assert_eq!(ascii.registry_id, first.registry_id);

    // Personal number learnt later: linked by attributes, then the number links alone.
    let with_pn = link(
        &app,
        &identity(
            Some("1234567890"),
            "Dragan",
            "Djordjevic",
            "1988-03-14",
            "1",
        ),
    )
    .await;
    assert_eq!(with_pn.registry_id, first.registry_id);
    let pn_only_match = link(
        &app,
        &identity(
            Some("1234567890"),
            "Dragan",
            "Djordjević-Marković",
            "1988",
            "1",
        ),
    )
    .await;
    assert_eq!(pn_only_match.registry_id, first.registry_id);
    assert_eq!(pn_only_match.rule, LinkRule::PersonalNumber);

    // Albanian letters folded consistently; swapped name order.
    let a = link(&app, &identity(None, "Ardita", "Gashi", "1995-07-01", "2")).await;
    let b = link(&app, &identity(None, "Gashi", "Ardita", "1995-07-01", "2")).await;
    let c = link(&app, &identity(None, "Ardita", "GASHI", "1995-07-01", "2")).await;
    assert_eq!(a.registry_id, b.registry_id);
    assert_eq!(a.registry_id, c.registry_id);
    let d = link(&app, &identity(None, "Ardita", "Gashi", "1988-11-23", "2")).await;
    assert_ne!(
        a.registry_id, d.registry_id,
        "another birth date is another person"
    );
}

async fn different_people_with_same_initials_and_birth_date_stay_apart(app: TestApp) {
    let a = link(
        &app,
        &identity(None, "Arben", "Krasniqi", "1990-01-01", "1"),
    )
    .await;
    let b = link(&app, &identity(None, "Agim", "Kastrati", "1990-01-01", "1")).await;
    assert_ne!(a.registry_id, b.registry_id);
    // Same names and birth date but two different personal numbers: two people.
    let c = link(
        &app,
        &identity(Some("1111111111"), "Besa", "Hoxha", "1992-05-05", "2"),
    )
    .await;
    let d = link(
        &app,
        &identity(Some("2222222222"), "Besa", "Hoxha", "1992-05-05", "2"),
    )
    .await;
    assert_ne!(c.registry_id, d.registry_id);
    assert_eq!(d.rule, LinkRule::New);
}

async fn invalid_identity_lists_every_bad_field(app: TestApp) {
    // A blank first name alone would be a partial identity (accepted); one of
    // digits only is not a name.
    let bad = identity(Some("12AB"), "12", "Gashi", "1990-02-30", "x");
    match link_identity(&app.store, &app.keys, &bad).await {
        Err(SubjectError::Invalid(errors)) => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(
                fields,
                vec![
                    "identity.personal_number",
                    "identity.first_name",
                    "identity.birth_date",
                    "identity.sex"
                ]
            );
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    let (total, _) = app.store.subject_counts().await.expect("counts");
    assert_eq!(total, 0, "nothing stored");
}

/// Distinctive planted identities; none of these strings may appear in the raw database.
const PLANTED: &[(&str, &str, &str, &str)] = &[
    ("9876543210", "Zyhrije", "Qerkezaj", "1983-11-29"),
    ("5647382910", "Svetozar", "Ćirković", "1979-06-17"),
    ("1029384756", "Миливоје", "Радосављевић", "1991-12-03"),
];

fn needles() -> Vec<Vec<u8>> {
    let mut out: Vec<String> = Vec::new();
    for (pn, first, last, dob) in PLANTED {
        out.push((*pn).to_owned());
        out.push(pn[2..8].to_owned()); // a run of the digits
        for name in [first, last] {
            out.push((*name).to_owned());
            out.push(name.to_uppercase());
            out.push(name.to_lowercase());
            out.push(registry::identity::normalize::fold_name(name));
        }
        out.push((*dob).to_owned());
        out.push(dob.replace('-', ""));
        let parts: Vec<&str> = dob.split('-').collect();
        out.push(format!("{}.{}.{}", parts[2], parts[1], parts[0]));
        out.push(format!("{}/{}/{}", parts[2], parts[1], parts[0]));
    }
    let mut bytes: Vec<Vec<u8>> = out.iter().map(|s| s.as_bytes().to_vec()).collect();
    // UTF-16 (little and big endian) of every needle, in case of a wide encoding.
    for s in &out {
        bytes.push(s.encode_utf16().flat_map(u16::to_le_bytes).collect());
        bytes.push(s.encode_utf16().flat_map(u16::to_be_bytes).collect());
    }
    bytes
}

async fn raw_database_bytes(app: &TestApp) -> Vec<u8> {
    if app.database_url.starts_with("sqlite:") {
        let mut all = Vec::new();
        for suffix in ["registry.db", "registry.db-wal", "registry.db-shm"] {
            if let Ok(bytes) = std::fs::read(app.dir.path().join(suffix)) {
                all.extend(bytes);
            }
        }
        assert!(all.len() > 10_000, "the database file was read");
        all
    } else {
        let out = std::process::Command::new("pg_dump")
            .arg("--dbname")
            .arg(&app.database_url)
            .output()
            .expect("pg_dump runs");
        assert!(
            out.status.success(),
            "pg_dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("subject"),
            "the dump holds the subject table"
        );
        out.stdout
    }
}

async fn database_dump_holds_no_planted_identity(app: TestApp) {
    for (pn, first, last, dob) in PLANTED {
        link(&app, &identity(Some(pn), first, last, dob, "1")).await;
        link(&app, &identity(None, first, last, dob, "1")).await;
    }
    let (total, _) = app.store.subject_counts().await.expect("counts");
    assert_eq!(total, 3, "each planted person is one subject");
    let raw = raw_database_bytes(&app).await;
    for needle in needles() {
        assert!(
            !raw.windows(needle.len()).any(|w| w == needle.as_slice()),
            "planted value found in the raw database: {}",
            String::from_utf8_lossy(&needle)
        );
    }
    // Control: the scan does find what is stored in clear (reference data).
    let control = "Prishtinë".as_bytes();
    assert!(raw.windows(control.len()).any(|w| w == control));
}

async fn sealed_identity_moved_to_another_row_fails_to_open(app: TestApp) {
    let a = link(&app, &identity(None, "Luan", "Berisha", "1985-02-02", "1")).await;
    let b = link(&app, &identity(None, "Drita", "Morina", "1987-03-03", "2")).await;
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .expect("direct connection");
    let sealed_a: Vec<u8> = sqlx::query_scalar(
        "select identity_sealed from subject where cast(registry_id as text) = $1",
    )
    .bind(&a.registry_id)
    .fetch_one(&mut conn)
    .await
    .expect("sealed identity");
    sqlx::query("update subject set identity_sealed = $1 where cast(registry_id as text) = $2")
        .bind(&sealed_a)
        .bind(&b.registry_id)
        .execute(&mut conn)
        .await
        .expect("copied");
    assert!(open_identity(&app, &b.registry_id).await.is_err());
    let opened = open_identity(&app, &a.registry_id)
        .await
        .expect("own row opens");
    assert_eq!(opened.last_name, "Berisha");

    // A wrapped data key moved to another subject fails too.
    let wrapped_a: Vec<u8> = sqlx::query_scalar(
        "select data_key_wrapped from subject where cast(registry_id as text) = $1",
    )
    .bind(&a.registry_id)
    .fetch_one(&mut conn)
    .await
    .expect("wrapped key");
    sqlx::query("update subject set data_key_wrapped = $1 where cast(registry_id as text) = $2")
        .bind(&wrapped_a)
        .bind(&b.registry_id)
        .execute(&mut conn)
        .await
        .expect("copied");
    assert!(open_identity(&app, &b.registry_id).await.is_err());
}

async fn master_rotation_rewraps_every_subject(app: TestApp) {
    let mut ids = Vec::new();
    for i in 0..25 {
        let (first, last, birth) = crate::helpers::distinct_person(i);
        ids.push(
            link(&app, &identity(None, &first, &last, &birth, "1"))
                .await
                .registry_id,
        );
    }
    let mut batches = 0;
    let report = keys::rotate_master(&app.store, &app.key_file, 7, Duration::ZERO, |_| {
        batches += 1
    })
    .await
    .expect("rotation");
    assert_eq!(report.target_version, 2);
    assert!(report.created_version);
    assert_eq!(report.rows_moved, 25);
    assert!(batches >= 4, "worked in batches of 7: {batches}");

    let status = keys::status(&app.store, &app.key_file)
        .await
        .expect("status");
    let master: Vec<_> = status
        .iter()
        .filter(|s| s.kind == registry::crypto::keyfile::KeyKind::Master)
        .collect();
    assert_eq!(master.len(), 2);
    assert_eq!((master[0].version, master[0].rows), (1, 0));
    assert_eq!(
        (master[1].version, master[1].state, master[1].rows),
        (2, "active", 25)
    );

    // The running service picks up the new key file, then the old version is retired.
    assert!(app.keys.reload_if_changed().expect("reload"));
    keys::retire(
        &app.store,
        &app.key_file,
        registry::crypto::keyfile::KeyKind::Master,
        1,
    )
    .await
    .expect("old version retired");
    app.keys.reload_if_changed().expect("reload");
    for id in &ids {
        open_identity(&app, id)
            .await
            .expect("still opens after rotation and retirement");
    }
    // New subjects use the new version; the active version cannot be retired.
    link(
        &app,
        &identity(None, "After", "Rotation", "1990-01-01", "1"),
    )
    .await;
    let status = keys::status(&app.store, &app.key_file)
        .await
        .expect("status");
    assert!(
        status
            .iter()
            .any(|s| s.version == 2 && s.rows == 26 && s.state == "active")
    );
    assert!(
        status
            .iter()
            .any(|s| s.version == 1 && s.state == "retired")
    );
    assert!(
        keys::retire(
            &app.store,
            &app.key_file,
            registry::crypto::keyfile::KeyKind::Master,
            2
        )
        .await
        .is_err()
    );

    // Key operations are in the audit log.
    let events = app.store.audit_page(0, 1000).await.expect("events");
    for action in ["create_keys", "rotate_master_key", "retire_key"] {
        assert!(
            events.iter().any(|e| e.action == action),
            "{action} audited"
        );
    }

    // Re-running with nothing pending starts a fresh rotation to version 3.
    let again = keys::rotate_master(&app.store, &app.key_file, 100, Duration::ZERO, |_| {})
        .await
        .expect("second rotation");
    assert_eq!((again.target_version, again.rows_moved), (3, 26));
}

async fn pseudonym_rotation_keeps_linking(app: TestApp) {
    let with_pn = link(
        &app,
        &identity(Some("3141592653"), "Nora", "Shala", "1993-09-09", "2"),
    )
    .await;
    let without_pn = link(&app, &identity(None, "Petar", "Nikolić", "1980-08-08", "1")).await;
    let report = keys::rotate_pseudonym(&app.store, &app.key_file, 1, Duration::ZERO, |_| {})
        .await
        .expect("rotation");
    assert_eq!((report.target_version, report.rows_moved), (2, 2));
    let status = keys::status(&app.store, &app.key_file)
        .await
        .expect("status");
    assert!(
        status
            .iter()
            .filter(|s| s.kind == registry::crypto::keyfile::KeyKind::Pseudonym)
            .all(|s| (s.version == 2) == (s.rows == 2)),
        "no subject left on version 1: {status:?}"
    );
    // The service reloads the key file (the rotation waits for that before moving
    // rows); it then holds both versions and links under either.
    app.keys.reload_if_changed().expect("reload");
    {
        let again = link(
            &app,
            &identity(Some("3141592653"), "Nora", "Shala", "1993", "2"),
        )
        .await;
        assert_eq!(again.registry_id, with_pn.registry_id);
        assert_eq!(again.rule, LinkRule::PersonalNumber);
        let again = link(&app, &identity(None, "Петар", "Николић", "1980-08-08", "1")).await;
        assert_eq!(again.registry_id, without_pn.registry_id);
        assert_eq!(again.rule, LinkRule::Attributes);
    }
}

async fn shredding_destroys_identity_and_keeps_counts(app: TestApp) {
    let kept = link(&app, &identity(None, "Kept", "Person", "1990-01-01", "1")).await;
    let gone = link(
        &app,
        &identity(Some("2718281828"), "Erased", "Person", "1970", "2"),
    )
    .await;
    assert!(
        shred(
            &app.store,
            &app.keys,
            &app.operator(registry::authz::Action::ShredSubject, &gone.registry_id)
                .await,
            &gone.registry_id,
            registry::cases::subjects::ErasureGround::NoLongerNecessary,
            None,
        )
        .await
        .expect("shredded")
    );
    assert!(
        !shred(
            &app.store,
            &app.keys,
            &app.operator(registry::authz::Action::ShredSubject, &gone.registry_id)
                .await,
            &gone.registry_id,
            registry::cases::subjects::ErasureGround::NoLongerNecessary,
            None,
        )
        .await
        .expect("idempotent")
    );
    assert!(matches!(
        open_identity(&app, &gone.registry_id).await,
        Err(SubjectError::Keys(_))
    ));
    open_identity(&app, &kept.registry_id)
        .await
        .expect("others unaffected");
    let (total, shredded) = app.store.subject_counts().await.expect("counts");
    assert_eq!((total, shredded), (2, 1), "the statistical row remains");
    let row = app
        .store
        .sealed_subject(&gone.registry_id)
        .await
        .expect("row remains");
    assert_eq!((row.sex.as_str(), row.birth_year), ("2", 1970));
    assert!(row.data_key_wrapped.is_none() && row.identity_sealed.is_none());
    // The erased person registering again is a new subject: nothing links to the old one.
    let back = link(
        &app,
        &identity(Some("2718281828"), "Erased", "Person", "1970", "2"),
    )
    .await;
    assert_ne!(back.registry_id, gone.registry_id);
    assert!(matches!(
        shred(
            &app.store,
            &app.keys,
            &app.operator(
                registry::authz::Action::ShredSubject,
                "00000000-0000-0000-0000-000000000000"
            )
            .await,
            "00000000-0000-0000-0000-000000000000",
            registry::cases::subjects::ErasureGround::NoLongerNecessary,
            None,
        )
        .await,
        Err(SubjectError::Store(registry::store::StoreError::NotFound))
    ));
}

async fn start_up_refuses_missing_or_foreign_key_file(app: TestApp) {
    link(&app, &identity(None, "Some", "Body", "1990-01-01", "1")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("registry.keys");
    let err = keys::open(&missing, &app.store).await.expect_err("refused");
    assert!(err.to_string().contains("never creates new keys"), "{err}");
    assert!(!missing.exists(), "no key file was created for old data");

    keys::init(&missing).expect("a foreign key file");
    let err = keys::open(&missing, &app.store).await.expect_err("refused");
    assert!(err.to_string().contains("does not match"), "{err}");

    let handle = KeyringHandle::load(&app.key_file).expect("own key file");
    keys::register_and_verify(&handle, &app.store)
        .await
        .expect("the right key file is accepted");
}

/// The erasure's legal basis stays in the audit log for ever: a code from the list
/// and a case number, never free text that could hold a name or a birth date.
async fn erasure_ground_is_a_code_and_the_reference_a_case_number(app: TestApp) {
    use serde_json::json;
    let admin = app.user("admin", None, None).await;
    let subject = link(
        &app,
        &identity(None, "Shqipe", "Krasniqi", "1985-04-04", "2"),
    )
    .await;
    let path = format!("/api/v1/subjects/{}/shred", subject.registry_id);
    for (body, field) in [
        (
            json!({"legal_basis": "GDPR 17(1)(a), request of Shqipe Krasniqi born 1985-04-04"}),
            "legal_basis",
        ),
        (
            json!({"legal_basis": "no_longer_necessary", "reference": "Shqipe Krasniqi 1985"}),
            "reference",
        ),
        (
            json!({"legal_basis": "no_longer_necessary", "reference": "KRASNIQI-1985"}),
            "reference",
        ),
    ] {
        let (status, answer) = app
            .send(
                reqwest::Method::POST,
                &path,
                Some(&admin.token),
                Some(&body),
            )
            .await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"]["fields"][0]["field"], field, "{answer}");
        assert!(!answer.to_string().contains("Shqipe"), "{answer}");
        assert!(!answer.to_string().contains("KRASNIQI"), "{answer}");
    }
    let (status, answer) = app
        .send(
            reqwest::Method::POST,
            &path,
            Some(&admin.token),
            Some(&json!({"legal_basis": "objection_upheld", "reference": "DPO-2026/0142"})),
        )
        .await;
    assert_eq!(status, 204, "{answer}");
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&app.database_url)
        .await
        .expect("connect");
    let details: Vec<Option<String>> = sqlx::query_scalar(
        "select detail from audit_event where action = 'shred_subject' and detail is not null",
    )
    .fetch_all(&mut conn)
    .await
    .expect("events");
    assert_eq!(
        details,
        [Some(
            "legal_basis=objection_upheld reference=DPO-2026/0142".to_owned()
        )]
    );
    for (reference, safe) in [
        ("DPO-2026/0142", true),
        ("2026.17", true),
        ("KAI/12-3", true),
        ("ARBEN-1990", false),
        ("Dpo-1", false),
        ("1990-05-01-12-7", false),
        ("", false),
        ("12345678901", false),
    ] {
        assert_eq!(
            registry::cases::subjects::is_safe_reference(reference),
            safe,
            "{reference}"
        );
    }
}
