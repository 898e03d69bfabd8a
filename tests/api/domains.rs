//! Per-agency pseudonym domains: a database dump alone joins no agency's records to
//! another's. The registry is filled through the API with people known to every
//! agency, the tables are read raw (as a thief with the dump and without the key
//! file would), and every column of one domain's table is tried as a join key
//! against every column of another domain's.

use std::collections::{BTreeMap, HashMap};

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use registry::crypto::reference::RecordDomain;

use crate::helpers::{TestApp, TestUser};

backend_tests!(no_column_of_one_agency_joins_another_agency_without_the_key);

/// People known to all four record kinds. Prime, so `k * step mod PEOPLE` visits
/// everyone: each agency registers them in its own order, as real agencies would
/// (a shared order would make row ids line up, which is not a key).
const PEOPLE: usize = 41;

const FIRST: [&str; 8] = [
    "Arben", "Blerta", "Dardan", "Elira", "Fatos", "Gresa", "Ilir", "Jehona",
];
const LAST: [&str; 6] = ["Berisha", "Gashi", "Hoxha", "Krasniqi", "Morina", "Shala"];

fn identity(person: usize) -> Value {
    json!({
        "first_name": FIRST[person % FIRST.len()],
        "last_name": format!("{}{}", LAST[person % LAST.len()], ["", "i", "aj", "ku", "ri", "ni", "llari"][person / 6]),
        "birth_date": format!("{}-{:02}-{:02}", 1970 + person % 25, 1 + person % 12, 1 + person % 28),
        "sex": if person % 2 == 0 { "1" } else { "2" },
    })
}

fn episode(person: usize) -> Value {
    let mut body = crate::episodes::episode("x", "x", "1990-01-01", "2025-02-02");
    body["identity"] = identity(person);
    body
}

fn contact(person: usize) -> Value {
    json!({
        "identity": identity(person),
        "contact_date": "2025-03-11",
        "service_type": "housing",
        "referral_to_treatment": true,
        "housing_support": true,
        "employment_support": false
    })
}

fn death(person: usize) -> Value {
    json!({
        "identity": identity(person),
        "date_of_death": "2025-06-14",
        "municipality": "prizren",
        "place_type": "public_place",
        "underlying_cause": "X42",
        "multiple_causes": ["T40.1"],
        "manner": "accident",
        "autopsy_done": true,
        "toxicology_done": true,
        "substances": [{"code": "1.1", "cause_relevant": true, "matrix": "blood"}],
        "final_status": true
    })
}

fn overdose(person: usize) -> Value {
    json!({
        "presented_at": "2025-05-03T22:15",
        "identity": identity(person),
        "municipality": "peje",
        "arrival_by_ambulance": true,
        "substances_reported": ["1.1"],
        "alcohol": false,
        "naloxone": true,
        "outcome": "discharged"
    })
}

/// One kind of record: its table, domain, who records it, and how.
struct Kind {
    table: &'static str,
    domain: &'static str,
    path: &'static str,
    id_field: &'static str,
    id_column: &'static str,
    body: fn(usize) -> Value,
    step: usize,
}

const KINDS: [Kind; 4] = [
    Kind {
        table: "episode",
        domain: "treatment",
        path: "/api/v1/episodes",
        id_field: "episode_id",
        id_column: "episode_id",
        body: episode,
        step: 1,
    },
    Kind {
        table: "social_contact",
        domain: "social work",
        path: "/api/v1/social-contacts",
        id_field: "contact_id",
        id_column: "contact_id",
        body: contact,
        step: 7,
    },
    Kind {
        table: "death",
        domain: "mortality",
        path: "/api/v1/deaths",
        id_field: "id",
        id_column: "death_id",
        body: death,
        step: 13,
    },
    Kind {
        table: "overdose",
        domain: "mortality",
        path: "/api/v1/overdoses",
        id_field: "id",
        id_column: "overdose_id",
        body: overdose,
        step: 29,
    },
];

/// The name of the control column added to every dump.
const CONTROL: &str = "(control: the person in clear)";

/// A column's value as text (blobs in hex), or `None` for SQL null.
fn cell(row: &AnyRow, i: usize) -> Option<String> {
    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
        return v;
    }
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        return v.map(|n| n.to_string());
    }
    if let Ok(v) = row.try_get::<Option<Vec<u8>>, _>(i) {
        return v.map(hex::encode);
    }
    if let Ok(v) = row.try_get::<Option<bool>, _>(i) {
        return v.map(|b| i64::from(b).to_string());
    }
    if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
        return v.map(|f| f.to_string());
    }
    panic!("column {i} has a type the test cannot read");
}

/// A table as a thief reads it: column name → values by row, and each row's person.
struct Dump {
    columns: BTreeMap<String, Vec<Option<String>>>,
    person: Vec<usize>,
}

/// `select *` of a table, except that on PostgreSQL every column is read as text
/// (the `Any` driver cannot decode `uuid` or `timestamptz`; text equality is what
/// the join search compares).
async fn select_as_text(conn: &mut sqlx::AnyConnection, table: &str) -> String {
    if !app_is_postgres(conn) {
        return format!("select * from {table} order by id");
    }
    let columns: Vec<String> = sqlx::query_scalar(
        "select column_name::text from information_schema.columns \
         where table_name = $1 and table_schema = current_schema() order by ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await
    .expect("columns");
    let list: Vec<String> = columns
        .iter()
        .map(|c| format!("cast({c} as text) as {c}"))
        .collect();
    format!("select {} from {table} order by id", list.join(", "))
}

fn app_is_postgres(conn: &sqlx::AnyConnection) -> bool {
    conn.backend_name() == "PostgreSQL"
}

async fn dump(app: &TestApp, kind: &Kind, person_of: &HashMap<String, usize>) -> Dump {
    let mut conn = crate::helpers::raw_connection(&app.database_url).await;
    let rows = sqlx::query(&select_as_text(&mut conn, kind.table).await)
        .fetch_all(&mut conn)
        .await
        .expect("dump");
    let mut columns: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
    let mut person = Vec::new();
    for row in &rows {
        use sqlx::Column;
        for (i, column) in row.columns().iter().enumerate() {
            columns
                .entry(column.name().to_owned())
                .or_default()
                .push(cell(row, i));
        }
        let public: String = row.try_get(kind.id_column).expect("public id");
        person.push(person_of[&public]);
    }
    assert_eq!(
        person.len(),
        PEOPLE,
        "{}: one record per person",
        kind.table
    );
    // The control: a column holding what a clear subject id would, so the test
    // shows it finds a real join key.
    columns.insert(
        CONTROL.to_owned(),
        person.iter().map(|p| Some(format!("person-{p}"))).collect(),
    );
    Dump { columns, person }
}

/// One-to-one matches between two columns: values held by exactly one row of each.
fn one_to_one(a: &[Option<String>], b: &[Option<String>]) -> Vec<(usize, usize)> {
    let (left, right) = (rows_by_value(a), rows_by_value(b));
    left.iter()
        .filter_map(
            |(value, rows)| match (rows.as_slice(), right.get(value).map(Vec::as_slice)) {
                ([r1], Some([r2])) => Some((*r1, *r2)),
                _ => None,
            },
        )
        .collect()
}

fn rows_by_value(column: &[Option<String>]) -> HashMap<&str, Vec<usize>> {
    let mut seen: HashMap<&str, Vec<usize>> = HashMap::new();
    for (row, value) in column.iter().enumerate() {
        if let Some(v) = value {
            seen.entry(v.as_str()).or_default().push(row);
        }
    }
    seen
}

async fn no_column_of_one_agency_joins_another_agency_without_the_key(app: TestApp) {
    let users: Vec<TestUser> = vec![
        app.user("clinician", Some("uckk-psychiatry"), None).await,
        app.user("social_worker", None, Some("prishtine")).await,
        app.user("forensic", None, None).await,
        app.user("clinician", Some("hosp-peje"), None).await,
    ];
    let mut person_of: HashMap<String, usize> = HashMap::new();
    let mut registry_ids: HashMap<usize, String> = HashMap::new();
    for (kind, user) in KINDS.iter().zip(&users) {
        for k in 0..PEOPLE {
            let person = (k * kind.step) % PEOPLE;
            let (status, created) = app
                .send(
                    Method::POST,
                    kind.path,
                    Some(&user.token),
                    Some(&(kind.body)(person)),
                )
                .await;
            assert_eq!(status, 201, "{} of person {person}: {created}", kind.table);
            let id = created[kind.id_field].as_str().expect("id").to_owned();
            person_of.insert(id, person);
            if let Some(registry_id) = created["registry_id"].as_str() {
                let known = registry_ids
                    .entry(person)
                    .or_insert_with(|| registry_id.to_owned());
                assert_eq!(known, registry_id, "one subject per person");
            }
        }
    }
    assert_eq!(registry_ids.len(), PEOPLE);

    let mut dumps = Vec::new();
    for kind in &KINDS {
        dumps.push(dump(&app, kind, &person_of).await);
    }
    let mut report = Vec::new();
    let mut joins = Vec::new();
    for (i, (k1, d1)) in KINDS.iter().zip(&dumps).enumerate() {
        for (k2, d2) in KINDS.iter().zip(&dumps).skip(i + 1) {
            if k1.domain == k2.domain {
                continue;
            }
            for (c1, v1) in &d1.columns {
                for (c2, v2) in &d2.columns {
                    let matches = one_to_one(v1, v2);
                    if matches.is_empty() {
                        continue;
                    }
                    let correct = matches
                        .iter()
                        .filter(|(r1, r2)| d1.person[*r1] == d2.person[*r2])
                        .count();
                    // What chance gives: were the values unrelated to the people, a
                    // one-to-one match would pair the right person with probability
                    // 1/PEOPLE (each person has one row per table). Poisson bound.
                    let expected = matches.len() as f64 / PEOPLE as f64;
                    let bound = expected + 4.0 * expected.sqrt() + 1.0;
                    report.push(format!(
                        "{}.{c1} = {}.{c2}: {} one-to-one, {correct} right (chance {expected:.2})",
                        k1.table,
                        k2.table,
                        matches.len()
                    ));
                    if c1 == CONTROL || c2 == CONTROL {
                        if c1 == c2 {
                            assert!(correct as f64 > bound, "the test finds a real key");
                        }
                        continue;
                    }
                    if correct as f64 > bound {
                        joins.push(format!(
                            "{}.{c1} = {}.{c2}: {correct} of {PEOPLE}",
                            k1.table, k2.table
                        ));
                    }
                }
            }
        }
    }
    println!("{}", report.join("\n"));
    assert!(joins.is_empty(), "join keys across agencies: {joins:?}");

    // Nor does the registry's own index line up with its first record by time: a
    // subject keeps the day it was created, not the instant.
    let mut conn = crate::helpers::raw_connection(&app.database_url).await;
    let created: Vec<String> = sqlx::query_scalar("select cast(created_at as text) from subject")
        .fetch_all(&mut conn)
        .await
        .expect("subjects");
    drop(conn);
    assert_eq!(created.len(), PEOPLE);
    assert!(
        created.iter().all(|t| t.len() == "2026-12-02".len()),
        "{created:?}"
    );

    // The references are there, and the service still follows them with the key:
    // one person's records are counted per agency, and deaths are known to treatment.
    for kind in &KINDS {
        let refs = &dumps[KINDS
            .iter()
            .position(|k| k.table == kind.table)
            .expect("kind")]
        .columns["subject_ref"];
        assert!(
            refs.iter().all(Option::is_some),
            "{}: every record names its person",
            kind.table
        );
    }
    let auditor = app.user("auditor", None, None).await;
    for person in [0, 17, 40] {
        let (status, report) = app
            .send(
                Method::GET,
                &format!("/api/v1/subjects/{}/access-report", registry_ids[&person]),
                Some(&auditor.token),
                None,
            )
            .await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(
            report["records"],
            json!({"treatment_episodes": 1, "social_contacts": 1, "deaths": 1, "overdoses": 1}),
            "{report}"
        );
        assert_eq!(report["linked_records"], 4);
        // Every record itself: kind, id, when, and who holds it.
        let held = report["held"].as_array().expect("held records");
        let mut kinds: Vec<&str> = held
            .iter()
            .map(|r| r["kind"].as_str().unwrap_or(""))
            .collect();
        kinds.sort_unstable();
        assert_eq!(
            kinds,
            ["death", "overdose", "social_contact", "treatment_episode"],
            "{report}"
        );
        for record in held {
            assert_eq!(record["id"].as_str().map(str::len), Some(36), "{record}");
            assert!(
                record["year"].as_i64().is_some_and(|y| y >= 1990),
                "{record}"
            );
            assert!(
                record["held_by"].as_str().is_some_and(|h| !h.is_empty()),
                "{record}"
            );
            assert!(record["recorded_at"].as_str().is_some(), "{record}");
        }
    }
    let facts = app
        .store
        .export_deaths(&app.keys.current(), 2025, 2025)
        .await
        .expect("deaths");
    assert_eq!(facts.len(), PEOPLE);
    assert!(
        facts.iter().all(|d| d.known_to_treatment),
        "each death reaches its episode through the keys"
    );
}

backend_tests!(an_older_database_has_its_clear_links_converted_at_start);

/// The last migration before records named their person by reference.
const LAST_CLEAR_LINK_MIGRATION: i64 = 20261201000008;

/// Builds a database as the previous release left it — subject ids in clear in the
/// four record tables, a registration log per subject — then starts the service on
/// it: the links become references and the clear ones are gone.
async fn an_older_database_has_its_clear_links_converted_at_start(app: TestApp) {
    let backend = app.store.backend();
    let dir = tempfile::tempdir().expect("directory");
    let url = match backend {
        crate::helpers::Backend::Sqlite => format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("registry.db").display()
        ),
        crate::helpers::Backend::Postgres => crate::helpers::fresh_postgres_database().await,
    };
    let old = registry::store::Store::connect(&url, 2)
        .await
        .expect("connect");
    let folder = match backend {
        crate::helpers::Backend::Sqlite => "sqlite",
        crate::helpers::Backend::Postgres => "postgres",
    };
    let mut migrator = sqlx::migrate::Migrator::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(folder),
    )
    .await
    .expect("migrations");
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= LAST_CLEAR_LINK_MIGRATION)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let mut conn = crate::helpers::raw_connection(&url).await;
    migrator.run(&mut conn).await.expect("older schema");
    old.load_seeds().await.expect("seeds");
    let now = "2025-01-01T00:00:00Z";
    let registry_id = uuid::Uuid::new_v4().to_string();
    let mut tx = sqlx::Connection::begin(&mut conn).await.expect("tx");
    let subject: i64 = sqlx::query_scalar(
        "insert into subject (registry_id, attr_pseudonym, pseudonym_version, sex, birth_year, \
         birth_year_only, data_key_wrapped, master_key_version, identity_sealed, created_at) \
         values ($1, $2, 1, '1', 1990, $3, $4, 1, $5, $6) returning id",
    )
    .bind(&registry_id)
    .bind(vec![7u8; 32])
    .bind(false)
    .bind(vec![1u8; 40])
    .bind(vec![2u8; 40])
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .expect("subject");
    sqlx::query("insert into subject_link (subject_id, rule, linked_at) values ($1, 'new', $2)")
        .bind(subject)
        .bind(now)
        .execute(&mut *tx)
        .await
        .expect("link log");
    let episode_id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "insert into episode (episode_id, subject_id, facility, centre_type, link_rule, status, \
         start_year, start_quarter, sex, birth_year, age_at_start, age_band, municipality, \
         treatment_status, referral_source, living_with, living_with_children, living_where, \
         labour_status, education, primary_drug, route, frequency, secondary_drugs, polydrug, \
         ost_status, sealed, created_by, created_at, updated_at) values ($1, $2, \
         'uckk-psychiatry', '2', 'new', 'open', 2025, 1, '1', 1990, 35, '35-39', 'prishtine', \
         '1', '6', '2', '1', '1', '4', '3', '1.1', '1', '1', '', '1', '3', $3, 'u', $4, $4)",
    )
    .bind(&episode_id)
    .bind(subject)
    .bind(vec![3u8; 40])
    .bind(now)
    .execute(&mut *tx)
    .await
    .expect("episode");
    sqlx::query(
        "insert into episode_history (history_id, episode_id, changed_by, changed_at, change, \
         fields, previous_sealed) select $1, id, 'u', $2, 'correct', 'route', $3 from episode",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(now)
    .bind(vec![8u8; 40])
    .execute(&mut *tx)
    .await
    .expect("history");
    sqlx::query(
        "insert into social_contact (contact_id, subject_id, municipality, link_rule, \
         contact_year, contact_quarter, service_type, referral_to_treatment, housing_support, \
         employment_support, sealed, created_by, created_at) values ($1, $2, 'prishtine', \
         'attributes', 2025, 1, 'housing', $3, $3, $3, $4, 'u', $5)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(subject)
    .bind(false)
    .bind(vec![4u8; 40])
    .bind(now)
    .execute(&mut *tx)
    .await
    .expect("contact");
    sqlx::query(
        "insert into death (death_id, subject_id, has_notification, has_forensic, \
         forensic_complete, death_year, death_quarter, municipality, place_type, sex, age_band, \
         multiple_causes, suspected_substances, substance_codes, selection_b, selection_b_rule, \
         selection_d, selection_d_rule, data_key_wrapped, master_key_version, forensic_sealed, \
         created_at, updated_at) values ($1, $2, $3, $4, $4, 2025, 2, 'prizren', 'home', '1', \
         '35-39', '', '', '', $3, 'none', $3, 'none', $5, 1, $5, $6, $6)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(subject)
    .bind(false)
    .bind(true)
    .bind(vec![5u8; 40])
    .bind(now)
    .execute(&mut *tx)
    .await
    .expect("death");
    sqlx::query(
        "insert into overdose (overdose_id, subject_id, source, facility, reporter, event_year, \
         event_quarter, municipality, sex, age_band, substance_codes, outcome, data_key_wrapped, \
         master_key_version, sealed, created_at) values ($1, $2, 'clinical', 'hosp-peje', 'u', \
         2025, 1, 'peje', '1', '35-39', '1.1', 'discharged', $3, 1, $3, $4)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(subject)
    .bind(vec![6u8; 40])
    .bind(now)
    .execute(&mut *tx)
    .await
    .expect("overdose");
    // A person erased before references existed, left by an old rotation on a
    // pseudonym version the key file no longer holds.
    let erased: i64 = sqlx::query_scalar(
        "insert into subject (registry_id, pseudonym_version, sex, birth_year, \
         birth_year_only, created_at, shredded_at) values ($1, 7, '2', 1980, $2, $3, $3) \
         returning id",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(false)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .expect("erased subject");
    sqlx::query(
        "insert into episode (episode_id, subject_id, facility, centre_type, link_rule, status, \
         start_year, start_quarter, sex, birth_year, age_at_start, age_band, municipality, \
         treatment_status, referral_source, living_with, living_with_children, living_where, \
         labour_status, education, primary_drug, route, frequency, secondary_drugs, polydrug, \
         ost_status, sealed, created_by, created_at, updated_at) select $1, $2, facility, \
         centre_type, link_rule, status, start_year, start_quarter, sex, birth_year, \
         age_at_start, age_band, municipality, treatment_status, referral_source, living_with, \
         living_with_children, living_where, labour_status, education, primary_drug, route, \
         frequency, secondary_drugs, polydrug, ost_status, sealed, created_by, created_at, \
         updated_at from episode",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(erased)
    .execute(&mut *tx)
    .await
    .expect("erased person's episode");
    tx.commit().await.expect("commit");
    old.close().await;
    // The key file the older release used (no key-check values were registered).
    registry::cases::keys::init(&dir.path().join("registry.keys")).expect("key file");

    let upgraded = TestApp::spawn_on(dir, url).await;
    let keyring = upgraded.keys.current();
    let mut conn = crate::helpers::raw_connection(&upgraded.database_url).await;
    let waiting: i64 = sqlx::query_scalar("select count(*) from reference_upgrade")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert_eq!(waiting, 0, "every clear link converted");
    for (table, domain) in [
        ("episode", RecordDomain::Treatment),
        ("social_contact", RecordDomain::SocialWork),
        ("death", RecordDomain::Mortality),
        ("overdose", RecordDomain::Mortality),
    ] {
        let reference: Vec<u8> = sqlx::query_scalar(&format!(
            "select subject_ref from {table} order by id limit 1"
        ))
        .fetch_one(&mut conn)
        .await
        .expect("reference");
        assert_eq!(
            keyring.subject_of(domain, &reference),
            Some((subject, 1)),
            "{table}"
        );
        assert!(
            sqlx::query(&format!("select subject_id from {table}"))
                .fetch_all(&mut conn)
                .await
                .is_err(),
            "{table} keeps no clear subject id"
        );
    }
    assert!(
        sqlx::query("select * from subject_link")
            .fetch_all(&mut conn)
            .await
            .is_err(),
        "the registration log is gone"
    );
    let moved: i64 = sqlx::query_scalar("select pseudonym_version from subject where id = $1")
        .bind(erased)
        .fetch_one(&mut conn)
        .await
        .expect("version");
    assert_eq!(moved, 1, "the erased person moved to the active version");
    let reference: Vec<u8> =
        sqlx::query_scalar("select subject_ref from episode order by id desc limit 1")
            .fetch_one(&mut conn)
            .await
            .expect("reference");
    assert_eq!(
        keyring.subject_of(RecordDomain::Treatment, &reference),
        Some((erased, 1))
    );
    if backend == crate::helpers::Backend::Sqlite {
        let broken = sqlx::query("pragma foreign_key_check")
            .fetch_all(&mut conn)
            .await
            .expect("check");
        assert!(broken.is_empty(), "the rebuilt tables keep every reference");
    }
    let history: i64 = sqlx::query_scalar(
        "select count(*) from episode_history h join episode e on e.id = h.episode_id",
    )
    .fetch_one(&mut conn)
    .await
    .expect("history");
    assert_eq!(history, 1, "corrections still belong to their episode");
    drop(conn);
    let row = upgraded
        .store
        .episode(&keyring, &episode_id)
        .await
        .expect("read")
        .expect("episode");
    assert_eq!(
        row.registry_id, registry_id,
        "the service follows the reference"
    );
}

backend_tests!(records_follow_their_person_through_a_pseudonym_rotation);

/// After a pseudonym-key rotation and the retirement of the old version, every
/// record still reaches its person — erased people included, who stay in the counts.
async fn records_follow_their_person_through_a_pseudonym_rotation(app: TestApp) {
    let users = [
        app.user("clinician", Some("uckk-psychiatry"), None).await,
        app.user("social_worker", None, Some("prishtine")).await,
        app.user("forensic", None, None).await,
        app.user("clinician", Some("hosp-peje"), None).await,
    ];
    let mut ids = Vec::new();
    for (kind, user) in KINDS.iter().zip(&users) {
        let (status, created) = app
            .send(
                Method::POST,
                kind.path,
                Some(&user.token),
                Some(&(kind.body)(0)),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        ids.push(created[kind.id_field].as_str().expect("id").to_owned());
    }
    let (status, erased) = app
        .send(
            Method::POST,
            KINDS[0].path,
            Some(&users[0].token),
            Some(&episode(1)),
        )
        .await;
    assert_eq!(status, 201, "{erased}");
    let (_, kept) = app
        .send(
            Method::GET,
            &format!("/api/v1/episodes/{}", ids[0]),
            Some(&users[0].token),
            None,
        )
        .await;
    let erased_id = erased["registry_id"].as_str().expect("registry id");
    assert!(
        registry::cases::subjects::shred(
            &app.store,
            &app.keys,
            &app.operator(registry::authz::Action::ShredSubject, erased_id)
                .await,
            erased_id,
            registry::cases::subjects::ErasureGround::NoLongerNecessary,
            None,
        )
        .await
        .expect("shred")
    );

    let report = registry::cases::keys::rotate_pseudonym(
        &app.store,
        &app.key_file,
        10,
        std::time::Duration::ZERO,
        |_| {},
    )
    .await
    .expect("rotation");
    assert_eq!(report.rows_moved, 2, "the live and the erased person");
    app.keys.reload_if_changed().expect("reload");
    registry::cases::keys::retire(
        &app.store,
        &app.key_file,
        registry::crypto::keyfile::KeyKind::Pseudonym,
        1,
    )
    .await
    .expect("nothing is left on version 1");
    // Nudge the modification time: the retirement may land within the same tick.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let file = std::fs::File::options()
        .append(true)
        .open(&app.key_file)
        .expect("key file");
    file.set_modified(std::time::SystemTime::now())
        .expect("touch");
    assert!(app.keys.reload_if_changed().expect("reload"));
    assert!(
        app.keys
            .current()
            .subject_ref(RecordDomain::Treatment, 1, 1)
            .is_err(),
        "version 1 is no longer held"
    );

    let (status, view) = app
        .send(
            Method::GET,
            &format!("/api/v1/episodes/{}", ids[0]),
            Some(&users[0].token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        view, kept,
        "the same episode, read through the new reference"
    );
    let (status, contact) = app
        .send(
            Method::GET,
            &format!("/api/v1/social-contacts/{}", ids[1]),
            Some(&users[1].token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{contact}");
    assert_eq!(contact["registry_id"], kept["registry_id"]);
    let auditor = app.user("auditor", None, None).await;
    let (status, access) = app
        .send(
            Method::GET,
            &format!(
                "/api/v1/subjects/{}/access-report",
                kept["registry_id"].as_str().expect("id")
            ),
            Some(&auditor.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{access}");
    assert_eq!(access["linked_records"], 4, "{access}");
    let keyring = app.keys.current();
    let deaths = app
        .store
        .export_deaths(&keyring, 2025, 2025)
        .await
        .expect("deaths");
    assert!(deaths[0].known_to_treatment);
    let entrants = app.store.tdi_entrants(2025).await.expect("entrants");
    assert_eq!(entrants.len(), 2, "the erased person still counts, once");
    for entrant in &entrants {
        assert!(
            keyring
                .subject_of(RecordDomain::Treatment, &entrant.subject_ref)
                .is_some()
        );
    }
}

backend_tests!(erasure_reaches_the_persons_deaths_and_overdoses);

/// Deaths and overdoses are sealed under keys of their own, not the person's: the
/// erasure finds them through the mortality reference and removes the identity.
async fn erasure_reaches_the_persons_deaths_and_overdoses(app: TestApp) {
    let clinic = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let forensic = app.user("forensic", None, None).await;
    let er = app.user("clinician", Some("hosp-peje"), None).await;
    let mut records = Vec::new();
    for person in [2, 3] {
        let (status, treated) = app
            .send(
                Method::POST,
                "/api/v1/episodes",
                Some(&clinic.token),
                Some(&episode(person)),
            )
            .await;
        assert_eq!(status, 201, "{treated}");
        let (status, death) = app
            .send(
                Method::POST,
                "/api/v1/deaths",
                Some(&forensic.token),
                Some(&self::death(person)),
            )
            .await;
        assert_eq!(status, 201, "{death}");
        let (status, overdose) = app
            .send(
                Method::POST,
                "/api/v1/overdoses",
                Some(&er.token),
                Some(&self::overdose(person)),
            )
            .await;
        assert_eq!(status, 201, "{overdose}");
        records.push((
            treated["registry_id"]
                .as_str()
                .expect("registry id")
                .to_owned(),
            format!("/api/v1/deaths/{}", death["id"].as_str().expect("id")),
            format!("/api/v1/overdoses/{}", overdose["id"].as_str().expect("id")),
        ));
    }
    let identity_in =
        |view: &Value| view.to_string().contains(FIRST[2]) || view.to_string().contains(FIRST[3]);
    for (_, death, overdose) in &records {
        let (_, view) = app
            .send(Method::GET, death, Some(&forensic.token), None)
            .await;
        assert!(
            identity_in(&view),
            "the forensic record shows the identity: {view}"
        );
        let (_, view) = app.send(Method::GET, overdose, Some(&er.token), None).await;
        assert!(
            identity_in(&view),
            "the overdose record shows the identity: {view}"
        );
    }
    assert!(
        registry::cases::subjects::shred(
            &app.store,
            &app.keys,
            &app.operator(registry::authz::Action::ShredSubject, &records[0].0)
                .await,
            &records[0].0,
            registry::cases::subjects::ErasureGround::NoLongerNecessary,
            None,
        )
        .await
        .expect("shred")
    );
    let (erased, kept) = (&records[0], &records[1]);
    let (status, view) = app
        .send(Method::GET, &erased.1, Some(&forensic.token), None)
        .await;
    assert_eq!(status, 200, "the death itself stays: {view}");
    assert!(!identity_in(&view), "{view}");
    let (status, view) = app
        .send(Method::GET, &erased.2, Some(&er.token), None)
        .await;
    assert_eq!(status, 200, "the overdose itself stays: {view}");
    assert!(!identity_in(&view), "{view}");
    for (path, user) in [(&kept.1, &forensic), (&kept.2, &er)] {
        let (_, view) = app.send(Method::GET, path, Some(&user.token), None).await;
        assert!(
            identity_in(&view),
            "another person's record is untouched: {view}"
        );
    }
    let deaths = app
        .store
        .export_deaths(&app.keys.current(), 2025, 2025)
        .await
        .expect("deaths");
    assert_eq!(deaths.len(), 2, "both deaths still count");
    assert!(deaths.iter().all(|d| d.known_to_treatment));
}

backend_tests!(no_freeze_while_a_rotation_moves_people);

/// A person's references change when a rotation moves them; the scans of a freeze
/// read at different moments, so a freeze during a rotation could count someone
/// twice or not at all. It is refused instead.
async fn no_freeze_while_a_rotation_moves_people(app: TestApp) {
    let clinic = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let (status, created) = app
        .send(
            Method::POST,
            "/api/v1/episodes",
            Some(&clinic.token),
            Some(&episode(5)),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let analyst = app.user("analyst", None, None).await;
    let mut conn = crate::helpers::raw_connection(&app.database_url).await;
    // As a rotation to version 2 leaves the registry half way, then when it is done.
    for (version, expected) in [(2, 409), (1, 201)] {
        sqlx::query("update subject set pseudonym_version = $1")
            .bind(version)
            .execute(&mut conn)
            .await
            .expect("version");
        let (status, answer) = app
            .send(
                Method::POST,
                "/api/v1/exports/freeze",
                Some(&analyst.token),
                Some(&json!({"year": 2025, "purpose": "data lock"})),
            )
            .await;
        assert_eq!(status, expected, "{answer}");
        if expected == 409 {
            assert_eq!(answer["error"]["code"], "rotation_in_progress", "{answer}");
        }
    }
}
