//! National scale: the protected TDI export, audit verification and key rotation.
//!
//! For each size (episodes), a fresh SQLite registry is loaded with the synthetic
//! population (`registry::demo`) through the registry's own validation, pseudonyms,
//! encodings, sealing and store code, in large transactions; each generated person is
//! one subject, created without the matcher (loading speed is not what is measured
//! here; registration speed, matcher included, is `benches/registration.rs`). Then:
//! - the real `registry serve` process answers POST /api/v1/exports for the whole TDI
//!   set of the last year (62 protected tables and table 11), timed end to end, with
//!   the server's peak RSS; against the same counts as plain SQL GROUP BYs;
//! - at the largest size: the audit log is topped up to BENCH_AUDIT_EVENTS events and
//!   `cases::audit::verify_store` (what `registry audit verify` runs) is timed; the registry
//!   is topped up to BENCH_KEYS subjects; one new record against all of them is timed
//!   through the exact cascade and the fuzzy matcher; and a master-key rotation (what `registry
//!   keys rotate --master` runs, without the settle wait for running services)
//!   re-wraps every data key; peak RSS of this process for both.
//!
//! `cargo bench --bench scale`; knobs: BENCH_EPISODES (100000,1000000),
//! BENCH_AUDIT_EVENTS (1000000), BENCH_KEYS (1000000), BENCH_RUNS (3).
//! Under `cargo test` a tiny smoke run.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    Db, Server, env_number, full_run, median, own_peak_rss_mib, reset_own_peak, row, verdict,
};
use registry::audit::{AuditEvent, Outcome};
use registry::clock::today_utc;
use registry::crypto::reference::RecordDomain;
use registry::crypto::{Aad, KeyringHandle};
use registry::demo::{Config, Record, person_records};
use registry::domain::episode::validate;
use registry::export::tables::Dim;
use registry::identity::subject::prepare;
use registry::store::Store;
use registry::store::episodes::{NewEpisode, insert_episode};
use registry::store::subjects::{create_distinct, link_or_create};

const BATCH: u64 = 20_000;

fn plan() -> Config {
    Config {
        persons: u64::MAX,
        years: 2,
        seed: 1_000_000,
        today: today_utc(),
    }
}

/// Loads `target` episodes of the synthetic population, person by person from
/// `*next_person`; returns the seconds it took.
async fn load_episodes(
    store: &Store,
    keys: &Arc<KeyringHandle>,
    target: u64,
    next_person: &mut u64,
) -> f64 {
    let slugs: Vec<&str> = registry::demo::people::MUNICIPALITIES
        .iter()
        .map(|(s, _, _)| *s)
        .collect();
    let centre: BTreeMap<String, String> = store
        .facilities()
        .await
        .expect("facilities")
        .into_iter()
        .map(|f| (f.code, f.centre_type))
        .collect();
    let keyring = keys.current();
    let started = Instant::now();
    let mut tx = store.begin_raw_write().await.expect("tx");
    let mut loaded = 0;
    while loaded < target {
        let (_, records) = person_records(&plan(), *next_person);
        *next_person += 1;
        // The generator's persons are distinct: each gets one subject, created
        // without the matcher (which registrations run; it is timed below).
        let mut subject = None;
        for record in records {
            let Record::Episode {
                facility, input, ..
            } = record
            else {
                continue;
            };
            let valid =
                validate(&input, today_utc(), &slugs).expect("generated episodes are valid");
            if subject.is_none() {
                let prepared = prepare(keys, &input.identity, &valid.identity).expect("prepared");
                // The generator gives a few people one personal number (as a real
                // registry sees); those go through the matcher instead.
                let linked = match create_distinct(&mut tx, &prepared).await {
                    Ok(linked) => linked,
                    Err(_) => link_or_create(&mut tx, &keyring, &prepared)
                        .await
                        .expect("linked"),
                };
                subject = Some((linked, prepared.data_key));
            }
            let Some((linked, key)) = &subject else {
                unreachable!("created above")
            };
            let episode_id = uuid::Uuid::new_v4().to_string();
            let json = serde_json::to_vec(&valid.sealed).expect("json");
            let sealed = key
                .seal(
                    &Aad {
                        table: "episode",
                        column: "sealed",
                        record_id: &episode_id,
                    },
                    &json,
                )
                .expect("sealed");
            insert_episode(
                &mut tx,
                &NewEpisode {
                    episode_id: &episode_id,
                    subject_ref: linked
                        .reference(&keyring, RecordDomain::Treatment)
                        .expect("reference"),
                    facility,
                    centre_type: centre.get(facility).map_or("2", String::as_str),
                    link_rule: "new",
                    plain: &valid.plain,
                    sealed: &sealed,
                    created_by: "bench",
                    idempotency_key: None,
                },
            )
            .await
            .expect("episode");
            loaded += 1;
            if loaded % BATCH == 0 {
                tx.commit().await.expect("commit");
                tx = store.begin_raw_write().await.expect("tx");
            }
        }
    }
    tx.commit().await.expect("commit");
    started.elapsed().as_secs_f64()
}

/// Adds subjects (identity only) until the registry holds `target`.
async fn top_up_subjects(
    store: &Store,
    keys: &Arc<KeyringHandle>,
    target: i64,
    next_person: &mut u64,
) {
    let mut have = store.subject_counts().await.expect("counts").0;
    let mut tx = store.begin_raw_write().await.expect("tx");
    while have < target {
        let (_, records) = person_records(&plan(), *next_person);
        *next_person += 1;
        let Some(Record::Episode { input, .. }) = records.into_iter().next() else {
            continue;
        };
        let valid = registry::identity::subject::validate(&input.identity, today_utc(), "")
            .expect("valid identity");
        let prepared = prepare(keys, &input.identity, &valid).expect("prepared");
        // A person sharing a personal number with one loaded before is skipped.
        if create_distinct(&mut tx, &prepared).await.is_err() {
            continue;
        }
        have += 1;
        if have % BATCH as i64 == 0 {
            tx.commit().await.expect("commit");
            tx = store.begin_raw_write().await.expect("tx");
        }
    }
    tx.commit().await.expect("commit");
}

/// One new record against every subject: the exact cascade, then the fuzzy
/// matcher's blocking, decryption and comparison of the candidates (what a
/// registration, the OST check and a death run before writing), timed one by one
/// for 2,000 identities: half repeat registrations of loaded people with one slip
/// each, half new people. Peak RSS of this process beside it.
///
/// Then, untimed, each answer is checked against the truth the generator knows:
/// a repeat's own subject is found by its first registration's exact identity,
/// so a link to any other subject is false, and so is a new person's link by
/// similarity (a new person linked by the exact pseudonyms shares their whole
/// identity with someone loaded, which no registry could tell apart; counted
/// apart). Blocking recall: whether the repeat's subject was among the
/// candidates weighed at all.
async fn linkage_lookups(store: &Store, keys: &Arc<KeyringHandle>, loaded: u64) {
    use rand::{Rng, SeedableRng};
    use registry::demo::people::{Slip, spelled};
    use registry::identity::subject::{IdentityInput, lookups, probes, validate};
    use registry::store::subjects::{LinkRule, find_existing};
    let subjects = store.subject_counts().await.expect("counts").0;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(16);
    let keyring = keys.current();
    let mut times = Vec::new();
    let mut tally = LookupTally::default();
    reset_own_peak();
    for n in 0..2_000u64 {
        let repeat = n % 2 == 0;
        let index = if repeat {
            rng.gen_range(0..loaded)
        } else {
            loaded + n
        };
        let (person, records) = person_records(&plan(), index);
        let slip = repeat.then(|| Slip::ALL[rng.gen_range(0..Slip::ALL.len())]);
        let slip = slip.filter(|s| *s != Slip::Cyrillic || person.name.serbian);
        let (first_name, last_name, birth_date) =
            spelled(&mut rng, &person.name, person.birth, slip);
        let input = IdentityInput {
            personal_number: None,
            first_name,
            last_name,
            birth_date,
            sex: if person.male { "1" } else { "2" }.into(),
        };
        let Ok(valid) = validate(&input, today_utc(), "") else {
            continue;
        };
        let started = Instant::now();
        let lookups_now = lookups(&keyring, &valid);
        let probes_now = probes(&keyring, &input, &valid);
        let mut conn = store.connection().await.expect("connection");
        let linked = find_existing(&mut conn, &keyring, &lookups_now, &probes_now, false)
            .await
            .expect("looked up");
        times.push(started.elapsed().as_secs_f64() * 1000.0);

        if !repeat {
            match linked.map(|l| l.rule) {
                None => {}
                Some(LinkRule::Similarity) => tally.new_linked_by_similarity += 1,
                Some(_) => tally.same_identity += 1,
            }
            continue;
        }
        // The subject the person was loaded as: their first registration's identity.
        let Some(Record::Episode { input: first, .. }) = records.into_iter().next() else {
            continue;
        };
        let first_valid = validate(&first.identity, today_utc(), "").expect("valid identity");
        let own = find_existing(
            &mut conn,
            &keyring,
            &lookups(&keyring, &first_valid),
            &[],
            first_valid.personal_number.is_some(),
        )
        .await
        .expect("looked up")
        .expect("every loaded person has a subject")
        .subject_id;
        let weighed = registry::store::linkage::weigh_candidates(&mut conn, &keyring, &probes_now)
            .await
            .expect("candidates");
        let entry = tally.by_slip.entry(format!("{slip:?}")).or_default();
        entry.tried += 1;
        tally.repeats += 1;
        // An unslipped repeat is found by its exact pseudonym, before any blocking.
        if slip.is_none() || weighed.iter().any(|c| c.subject_id == own) {
            entry.blocked += 1;
            tally.blocked += 1;
        }
        match linked {
            Some(linked) if linked.subject_id == own => {
                entry.linked += 1;
                tally.linked_right += 1;
            }
            Some(linked) if linked.rule == LinkRule::Similarity => tally.linked_wrong += 1,
            // Their slip made another person's very identity.
            Some(_) => tally.same_identity += 1,
            None => {
                let queued = registry::store::linkage::Matched::of(weighed).review;
                tally.reviewed += u32::from(queued.iter().any(|c| c.subject_id == own));
            }
        }
    }
    eprintln!(
        "slipped repeats by slip (tried, own subject among the candidates, linked to it): {:?}",
        tally.by_slip
    );
    let peak = own_peak_rss_mib();
    times.sort_by(f64::total_cmp);
    let k = format_count(subjects as u64);
    let p99 = common::percentile(&times, 99.0);
    row(
        &format!("One new record against {k} subjects (exact + fuzzy), p50"),
        "ms",
        &[common::percentile(&times, 50.0)],
        "-",
    );
    row(
        &format!("One new record against {k} subjects (exact + fuzzy), p99"),
        "ms",
        &[p99],
        &verdict(p99 < 10.0, "< 10 ms p99"),
    );
    tally.rows(&k);
    row(
        &format!("Peak RSS during the look-ups, {k} subjects"),
        "MiB",
        &[peak],
        "-",
    );
}

/// What 1,000 slipped repeats and 1,000 new people were linked to.
#[derive(Default)]
struct LookupTally {
    repeats: u32,
    /// Repeats whose own subject was among the candidates weighed.
    blocked: u32,
    linked_right: u32,
    /// Repeats left to a registrar with their own subject.
    reviewed: u32,
    /// Repeats linked to another subject by similarity.
    linked_wrong: u32,
    new_linked_by_similarity: u32,
    /// Links by the exact pseudonyms to another person with the very same identity
    /// (a new person, or a repeat whose slip made it), which no registry tells apart.
    same_identity: u32,
    by_slip: BTreeMap<String, SlipTally>,
}

#[derive(Default, Debug)]
struct SlipTally {
    tried: u32,
    blocked: u32,
    linked: u32,
}

impl LookupTally {
    fn rows(&self, k: &str) {
        let count =
            |what: &str, n: u32| row(&format!("{what}, {k} subjects"), "", &[f64::from(n)], "-");
        count(
            &format!(
                "Repeats with one slip whose subject was a candidate (blocking recall), of {}",
                self.repeats
            ),
            self.blocked,
        );
        count(
            &format!(
                "Repeats with one slip linked to their own subject, of {}",
                self.repeats
            ),
            self.linked_right,
        );
        count(
            &format!(
                "Repeats with one slip left to review with their own subject, of {}",
                self.repeats
            ),
            self.reviewed,
        );
        count(
            "Repeats with one slip linked to another subject by similarity (false links)",
            self.linked_wrong,
        );
        count(
            "New people linked by similarity to an existing subject (false links)",
            self.new_linked_by_similarity,
        );
        count(
            "Links by the exact pseudonyms to another person with the very same identity",
            self.same_identity,
        );
        let right = f64::from(self.linked_right);
        let wrong = f64::from(self.linked_wrong + self.new_linked_by_similarity);
        let precision = right / (right + wrong).max(1.0);
        row(
            &format!("Precision of the matcher's automatic links, {k} subjects"),
            "%",
            &[precision * 100.0],
            &verdict(precision >= 0.995, ">= 99.5 %"),
        );
        let all = right / (right + wrong + f64::from(self.same_identity)).max(1.0);
        row(
            &format!("Precision of every automatic link, same identities included, {k} subjects"),
            "%",
            &[all * 100.0],
            "-",
        );
    }
}

/// Appends events until the audit log holds `target`.
async fn top_up_audit(store: &Store, target: i64) {
    let mut have = store.audit_head().await.expect("head").0;
    while have < target {
        let mut tx = store.begin_raw_write().await.expect("tx");
        for _ in 0..BATCH.min((target - have) as u64) {
            let event = AuditEvent {
                object: Some(uuid::Uuid::new_v4().to_string()),
                rule: Some("clinician_reads_own_facility".into()),
                purpose: Some("treatment".into()),
                ..AuditEvent::new("bench-user", "clinician", "read_episode", Outcome::Allowed)
            };
            registry::store::audit::append(&mut tx, store.backend(), &event)
                .await
                .expect("appended");
            have += 1;
        }
        tx.commit().await.expect("commit");
    }
}

/// The SQL column of a dimension stored in clear (sealed and derived ones have none).
fn column(dim: Dim) -> Option<&'static str> {
    Some(match dim {
        Dim::Sex => "sex",
        Dim::AgeBand => "age_band",
        Dim::CentreType => "centre_type",
        Dim::PrimaryDrug => "primary_drug",
        Dim::Route => "route",
        Dim::TreatmentStatus => "treatment_status",
        Dim::Referral => "referral_source",
        Dim::LivingWith => "living_with",
        Dim::LivingWithChildren => "living_with_children",
        Dim::LivingWhere => "living_where",
        Dim::Education => "education",
        Dim::Labour => "labour_status",
        Dim::Frequency => "frequency",
        Dim::Polydrug => "polydrug",
        Dim::OstStatus => "ost_status",
        _ => return None,
    })
}

/// The same TDI counts as plain GROUP BYs over the clear columns (no protection, no
/// first-episode-of-the-year rule, no sealed dimensions): the floor.
async fn raw_group_by(store: &Store, year: i64) -> f64 {
    let tables: Vec<_> = registry::export::tables::catalogue()
        .into_iter()
        .filter(registry::export::tables::is_tdi)
        .collect();
    let mut conn = store.connection().await.expect("connection");
    let started = Instant::now();
    for def in &tables {
        let (Some(r), Some(c)) = (column(def.rows), column(def.cols)) else {
            continue;
        };
        let status = match def.id.rsplit('-').next() {
            Some("first") => " and treatment_status = '1'",
            Some("prev") => " and treatment_status = '2'",
            _ => "",
        };
        registry::store::db::query(&format!(
            "select {r} as a, {c} as b, count(distinct subject_ref) as n from episode \
             where start_year = {year}{status} group by {r}, {c}"
        ))
        .fetch_all(&mut conn)
        .await
        .expect("group by");
    }
    started.elapsed().as_secs_f64()
}

/// Times of the output path over HTTP: freezes of the year, statutory sets, custom
/// municipality × sex × age-band tables, and the server's peak RSS after each phase.
struct OutputRuns {
    freeze: Vec<f64>,
    freeze_peak: f64,
    statutory: Vec<f64>,
    statutory_peak: f64,
    custom: Vec<f64>,
    custom_peak: f64,
    rows: i64,
}

async fn export_runs(db: &Db, runs: usize, year: i64) -> OutputRuns {
    let server = Server::start(db).await;
    let client = reqwest::Client::new();
    let login: serde_json::Value = client
        .post(format!("{}/api/v1/sessions", server.base))
        .json(&serde_json::json!({"username": "bench.analyst", "password": ANALYST_PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login body");
    let token = login["token"].as_str().expect("token").to_owned();
    let post = |path: &str, body: serde_json::Value| {
        client
            .post(format!("{}/api/v1{path}", server.base))
            .bearer_auth(&token)
            .json(&body)
            .timeout(Duration::from_secs(900))
            .send()
    };
    let mut out = OutputRuns {
        freeze: Vec::new(),
        freeze_peak: 0.0,
        statutory: Vec::new(),
        statutory_peak: 0.0,
        custom: Vec::new(),
        custom_peak: 0.0,
        rows: 0,
    };
    // A year may have three versions: at most three freezes.
    for _ in 0..runs.min(3) {
        let started = Instant::now();
        let response = post(
            "/exports/freeze",
            serde_json::json!({"year": year, "purpose": "benchmark"}),
        )
        .await
        .expect("freeze");
        assert_eq!(response.status(), 201, "freeze answered");
        out.freeze.push(started.elapsed().as_secs_f64());
        let info: serde_json::Value = response.json().await.expect("freeze body");
        out.rows = info["entrants"].as_i64().unwrap_or(0);
    }
    out.freeze_peak = server.peak_rss_mib();
    for _ in 0..runs {
        let started = Instant::now();
        let response = post(
            "/exports/statutory",
            serde_json::json!({"year": year, "format": "json", "purpose": "benchmark"}),
        )
        .await
        .expect("statutory");
        assert_eq!(response.status(), 200, "statutory answered");
        response.bytes().await.expect("statutory body");
        out.statutory.push(started.elapsed().as_secs_f64());
    }
    out.statutory_peak = server.peak_rss_mib();
    for _ in 0..runs {
        let started = Instant::now();
        let response = post(
            "/exports/custom",
            serde_json::json!({"dimensions": ["municipality", "sex", "age_band"], "year": year, "purpose": "benchmark"}),
        )
        .await
        .expect("custom");
        assert_eq!(response.status(), 200, "custom answered");
        response.bytes().await.expect("custom body");
        out.custom.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    out.custom_peak = server.peak_rss_mib();
    server.stop();
    out
}

const ANALYST_PASSWORD: &str = "benchmark analyst passphrase";

async fn size(episodes: u64, largest: bool, knobs: &Knobs) {
    let db = Db::new("sqlite").await;
    let (store, keys) = db.open().await;
    let mut next_person = 0;
    let load = load_episodes(&store, &keys, episodes, &mut next_person).await;
    // Linkage at national scale alone (to measure a blocking change without the
    // exports, the audit and the rotations around it).
    if largest && std::env::var("BENCH_LOOKUPS_ONLY").is_ok_and(|v| v == "1") {
        top_up_subjects(&store, &keys, knobs.keys as i64, &mut next_person).await;
        linkage_lookups(&store, &keys, next_person).await;
        return;
    }
    let subjects = store.subject_counts().await.expect("counts").0;
    let permit = registry::cases::access::Gate::new(
        std::sync::Arc::new(registry::authz::Authorizer::new().expect("policies")),
        store.clone(),
    )
    .operator(
        registry::authz::Action::ManageUsers,
        "",
        &[],
        "administration",
    )
    .await
    .expect("operator permit");
    registry::cases::users::create(
        &store,
        &permit,
        registry::cases::users::NewAccount {
            username: "bench.analyst".into(),
            scope: registry::cases::users::Scope {
                role: "analyst".into(),
                ..Default::default()
            },
            password: registry::cases::users::InitialPassword::Final(zeroize::Zeroizing::new(
                ANALYST_PASSWORD.into(),
            )),
        },
    )
    .await
    .expect("analyst");
    store.close().await;
    let year = plan().period().1 as i64;
    let outputs = export_runs(&db, knobs.runs, year).await;
    let (store, keys) = db.open().await;
    let mut floors = Vec::new();
    for _ in 0..knobs.runs {
        floors.push(raw_group_by(&store, year).await);
    }
    let n = format_count(episodes);
    println!(
        "| ({n} episodes of {} people loaded in {load:.0} s; year {year} frozen with {} entrants) | | | |",
        format_count(subjects as u64),
        format_count(outputs.rows as u64)
    );
    let at_1m = |ok: bool, target: &str| {
        if episodes >= 1_000_000 {
            verdict(ok, target)
        } else {
            "-".into()
        }
    };
    row(
        &format!("Freeze of one year over HTTP, {n} episodes"),
        "s",
        &outputs.freeze,
        &at_1m(median(&outputs.freeze) < 30.0, "< 30 s at 1M"),
    );
    row(
        &format!("Statutory set (EMCDDA workbook tables + DRD) over HTTP, {n} episodes"),
        "s",
        &outputs.statutory,
        &at_1m(median(&outputs.statutory) < 1.0, "< 1 s at 1M"),
    );
    row(
        &format!("Custom municipality × sex × age band (cell-key) over HTTP, {n} episodes"),
        "ms",
        &outputs.custom,
        &at_1m(median(&outputs.custom) < 200.0, "< 200 ms at 1M"),
    );
    row(
        &format!("Raw GROUP BY floor of the TDI set on live tables, {n} episodes"),
        "s",
        &floors,
        "-",
    );
    for (phase, peak) in [
        ("freeze", outputs.freeze_peak),
        ("statutory set", outputs.statutory_peak),
        ("custom table", outputs.custom_peak),
    ] {
        row(
            &format!("Server peak RSS after the {phase}, {n} episodes"),
            "MiB",
            &[peak],
            "-",
        );
    }

    if largest {
        top_up_audit(&store, knobs.audit_events as i64).await;
        let mut verify = Vec::new();
        let mut verify_peak: f64 = 0.0;
        for _ in 0..knobs.runs {
            reset_own_peak();
            let started = Instant::now();
            let report = registry::cases::audit::verify_store(&store, &[])
                .await
                .expect("chain intact");
            verify.push(started.elapsed().as_secs_f64());
            verify_peak = verify_peak.max(own_peak_rss_mib());
            assert!(report.events >= knobs.audit_events as i64);
        }
        let events = format_count(knobs.audit_events);
        row(&format!("Audit verify, {events} events"), "s", &verify, "-");
        row(
            &format!("Peak RSS during audit verify, {events} events"),
            "MiB",
            &[verify_peak],
            "-",
        );

        top_up_subjects(&store, &keys, knobs.keys as i64, &mut next_person).await;
        linkage_lookups(&store, &keys, next_person).await;
        let key_file = db.settings().key_file;
        let mut rotation = Vec::new();
        let mut rotation_peak: f64 = 0.0;
        let mut moved = 0;
        for _ in 0..knobs.runs {
            reset_own_peak();
            let started = Instant::now();
            let report = registry::cases::keys::rotate_master(
                &store,
                &key_file,
                1000,
                Duration::ZERO,
                |_| {},
            )
            .await
            .expect("rotated");
            rotation.push(started.elapsed().as_secs_f64());
            rotation_peak = rotation_peak.max(own_peak_rss_mib());
            moved = report.rows_moved;
        }
        let k = format_count(moved);
        row(
            &format!("Master-key rotation, {k} data keys re-wrapped"),
            "s",
            &rotation,
            "-",
        );
        row(
            &format!("Peak RSS during rotation, {k} keys"),
            "MiB",
            &[rotation_peak],
            "-",
        );
    }
    store.close().await;
    db.remove().await;
}

fn format_count(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1000 && n % 1000 == 0 => format!("{}k", n / 1000),
        n => n.to_string(),
    }
}

struct Knobs {
    runs: usize,
    audit_events: u64,
    keys: u64,
}

fn main() {
    let full = full_run();
    let sizes: Vec<u64> = if full {
        std::env::var("BENCH_EPISODES")
            .unwrap_or_else(|_| "100000,1000000".into())
            .split(',')
            .filter_map(|s| s.trim().replace('_', "").parse().ok())
            .collect()
    } else {
        vec![300]
    };
    let knobs = if full {
        Knobs {
            runs: env_number("BENCH_RUNS", 3) as usize,
            audit_events: env_number("BENCH_AUDIT_EVENTS", 1_000_000),
            keys: env_number("BENCH_KEYS", 1_000_000),
        }
    } else {
        Knobs {
            runs: 1,
            audit_events: 500,
            keys: 400,
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    println!("| National scale (SQLite) | median | runs | target |\n|---|---|---|---|");
    let largest = sizes.iter().copied().max().unwrap_or(0);
    for n in sizes {
        runtime.block_on(size(n, n == largest, &knobs));
    }
}
