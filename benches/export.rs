//! Full protected TDI table set at national scale, against the raw GROUP BY floor.
//!
//! `cargo bench --bench export` loads a synthetic registry into a temporary SQLite
//! database through the registry's own linkage, sealing and store code, then times
//! (1) the protected, audited TDI set (every table, all/first/previous versions,
//! table 11) and (2) the same counts as plain SQL GROUP BYs. Sizes (episodes) come
//! from `BENCH_EXPORT_SIZES` (default `100000`; add `1000000` for the national
//! target). Under `cargo test` it runs once on 300 episodes as a smoke test.

use std::time::Instant;

use registry::config::Settings;
use registry::domain::episode::{EpisodeInput, validate};
use registry::export::protect::Profile;
use registry::export::{Geography, Request, build, resolve};
use registry::identity::subject::{IdentityInput, prepare};
use registry::store::episodes::{NewEpisode, insert_episode};
use registry::store::subjects::link_or_create;

/// xorshift64*: a tiny deterministic generator (the data only needs to be varied).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const NAMES: &[&str] = &[
    "Arben", "Besnik", "Dritan", "Fatos", "Gent", "Ilir", "Luan", "Valon", "Dragan", "Milos",
    "Arta", "Drita", "Vjosa", "Jelena",
];
const SURNAMES: &[&str] = &[
    "Krasniqi",
    "Gashi",
    "Berisha",
    "Morina",
    "Hoxha",
    "Shala",
    "Bytyqi",
    "Kelmendi",
    "Jovanovic",
    "Petrovic",
];
const MUNICIPALITIES: &[&str] = &[
    "prishtine",
    "prizren",
    "peje",
    "gjakove",
    "ferizaj",
    "gjilan",
    "mitrovice-jug",
    "podujeve",
];
const FACILITIES: &[(&str, &str)] = &[
    ("uckk-psychiatry", "2"),
    ("hosp-prizren", "2"),
    ("ost-prishtine", "1"),
    ("ngo-lowthreshold-prishtine", "5"),
];
const DRUGS: &[&str] = &[
    "1.1", "1.1", "1.1", "7.1", "7.1", "2.1", "2.1", "3.1", "4.2",
];

fn episode(rng: &mut Rng, person: u64, year: i64) -> EpisodeInput {
    let drug = rng.pick(DRUGS);
    let injects = drug.starts_with('1') && rng.next() % 2 == 0;
    let birth_year = 1965 + (person % 40) as i64;
    EpisodeInput {
        identity: IdentityInput {
            personal_number: None,
            first_name: format!(
                "{}{}",
                NAMES[(person % NAMES.len() as u64) as usize],
                letters(person)
            ),
            last_name: SURNAMES[(person / 7 % SURNAMES.len() as u64) as usize].into(),
            birth_date: format!("{birth_year}-0{}-1{}", 1 + person % 9, person % 10),
            sex: if person % 5 == 0 {
                "2".into()
            } else {
                "1".into()
            },
        },
        municipality: rng.pick(MUNICIPALITIES).into(),
        treatment_start_date: format!("{year}-0{}-15", 1 + rng.next() % 9),
        treatment_status: rng.pick(&["1", "2", "2", "99"]).into(),
        referral_source: rng.pick(&["1", "2", "3", "4", "6", "6", "7"]).into(),
        living_with: rng.pick(&["1", "2", "3", "4"]).into(),
        living_with_children: rng.pick(&["1", "2"]).into(),
        living_where: rng.pick(&["1", "1", "2"]).into(),
        labour_status: rng.pick(&["1", "2", "4", "4", "5"]).into(),
        education: rng.pick(&["2", "3", "3", "4"]).into(),
        primary_drug: drug.into(),
        route: if injects {
            "1".into()
        } else {
            rng.pick(&["2", "3", "4"]).into()
        },
        frequency: rng.pick(&["1", "2", "3", "4"]).into(),
        age_first_use: Some(15 + (rng.next() % 8) as u16),
        secondary_drugs: if drug == "8" {
            Vec::new()
        } else {
            vec!["8".into()]
        },
        polydrug: rng.pick(&["1", "2"]).into(),
        ost_status: "1".into(),
        ost_first_year: None,
        injecting: if injects { "2.3".into() } else { "1".into() },
        age_first_injection: None,
        sharing: "1".into(),
        hiv_testing: rng.pick(&["1", "2.2"]).into(),
        hcv_testing: rng.pick(&["1", "2.2"]).into(),
        notes: None,
    }
}

fn letters(mut n: u64) -> String {
    let mut s = String::new();
    for _ in 0..4 {
        s.push(char::from(b'a' + (n % 26) as u8));
        n /= 26;
    }
    s
}

async fn run(episodes: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [(
        "REGISTRY_DATA_DIR".to_owned(),
        dir.path().display().to_string(),
    )]
    .into_iter()
    .collect();
    let settings = Settings::load(None, &env).expect("settings");
    let store = registry::server::prepare_store(&settings)
        .await
        .expect("store");
    let keys = registry::server::prepare_keys(&settings, &store)
        .await
        .expect("keys");
    let municipalities: Vec<String> = store.municipality_slugs().await.expect("municipalities");
    let slugs: Vec<&str> = municipalities.iter().map(String::as_str).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let persons = (episodes * 2 / 3).max(1);
    let started = Instant::now();
    let mut tx = store.begin_write().await.expect("tx");
    for i in 0..episodes {
        let person = if i < persons { i } else { rng.next() % persons };
        let year = 2024 + (i % 2) as i64;
        let input = episode(&mut rng, person, year);
        let Ok(valid) = validate(&input, (2026, 11, 24), &slugs) else {
            continue;
        };
        let prepared = prepare(&keys, &input.identity, &valid.identity).expect("prepared");
        let linked = link_or_create(&mut tx, &prepared.lookups, &prepared.new)
            .await
            .expect("linked");
        let (facility, centre) = FACILITIES[(person % FACILITIES.len() as u64) as usize];
        let episode_id = uuid::Uuid::new_v4().to_string();
        let sealed = serde_json::to_vec(&valid.sealed).expect("json");
        let sealed = prepared
            .data_key
            .seal(
                &registry::crypto::Aad {
                    table: "episode",
                    column: "sealed",
                    record_id: &episode_id,
                },
                &sealed,
            )
            .expect("sealed");
        insert_episode(
            &mut tx,
            &NewEpisode {
                episode_id: &episode_id,
                subject_id: linked.subject_id,
                facility,
                centre_type: centre,
                link_rule: "new",
                plain: &valid.plain,
                sealed: &sealed,
                created_by: "bench",
                idempotency_key: None,
            },
        )
        .await
        .expect("episode");
        if i % 20_000 == 19_999 {
            tx.commit().await.expect("commit");
            tx = store.begin_write().await.expect("tx");
        }
    }
    tx.commit().await.expect("commit");
    let load = started.elapsed();

    let (tables, table_11) = resolve(&["tdi".to_owned()]).expect("tdi set");
    let request = Request {
        tables,
        table_11,
        years: (2025, 2025),
        geography: Geography::National,
        profile: Profile::K5,
    };
    let started = Instant::now();
    let (content, _) = build(&store, &keys.current(), &request, &[], &[])
        .await
        .expect("protected");
    let protected = started.elapsed();

    let started = Instant::now();
    let mut cells = 0usize;
    for def in &request.tables {
        let (Some(r), Some(c)) = (column(def.rows), column(def.cols)) else {
            continue;
        };
        let status = match def.id.rsplit('-').next() {
            Some("first") => " and treatment_status = '1'",
            Some("prev") => " and treatment_status = '2'",
            _ => "",
        };
        let rows = registry_raw(&store, &format!(
            "select {r} as a, {c} as b, count(distinct subject_id) as n from episode where start_year = 2025{status} group by {r}, {c}"
        ))
        .await;
        cells += rows;
    }
    let floor = started.elapsed();
    let suppressed = content.certificate.len();
    println!(
        "export bench: {episodes} episodes (load {:.1}s) | protected TDI set: {} tables, {suppressed} suppressed cells, {:.3}s | raw GROUP BY floor ({cells} groups over the tables on clear columns): {:.3}s | ratio {:.1}x | target < 5 s at 1M: {}",
        load.as_secs_f64(),
        content.tables.len(),
        protected.as_secs_f64(),
        floor.as_secs_f64(),
        protected.as_secs_f64() / floor.as_secs_f64().max(1e-9),
        if episodes >= 1_000_000 {
            if protected.as_secs_f64() < 5.0 {
                "met"
            } else {
                "MISSED"
            }
        } else {
            "n/a at this size"
        }
    );
}

/// The SQL column of a dimension stored in clear (sealed and derived ones have none).
fn column(dim: registry::export::tables::Dim) -> Option<&'static str> {
    use registry::export::tables::Dim::*;
    Some(match dim {
        Sex => "sex",
        AgeBand => "age_band",
        CentreType => "centre_type",
        PrimaryDrug => "primary_drug",
        Route => "route",
        TreatmentStatus => "treatment_status",
        Referral => "referral_source",
        LivingWith => "living_with",
        LivingWithChildren => "living_with_children",
        LivingWhere => "living_where",
        Education => "education",
        Labour => "labour_status",
        Frequency => "frequency",
        Polydrug => "polydrug",
        OstStatus => "ost_status",
        _ => return None,
    })
}

async fn registry_raw(store: &registry::store::Store, sql: &str) -> usize {
    let mut conn = store.connection().await.expect("connection");
    sqlx::query(sql)
        .fetch_all(&mut *conn)
        .await
        .expect("group by")
        .len()
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let sizes: Vec<u64> = if bench {
        std::env::var("BENCH_EXPORT_SIZES")
            .unwrap_or_else(|_| "100000".into())
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect()
    } else {
        vec![300]
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for size in sizes {
        runtime.block_on(run(size));
    }
}
