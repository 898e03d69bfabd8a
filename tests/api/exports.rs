//! Aggregate outputs from frozen years: the freeze and its rules, the exact
//! statutory workbook (read back cell for cell), cell-key consistency and
//! perturbation, determinism, immutability after the freeze, and bad requests.

use calamine::Reader;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser};

backend_tests!(
    catalogue_lists_tables_and_public_ptables,
    freeze_rules_answer_clear_errors,
    golden_year_fills_the_workbook_cell_for_cell,
    flexible_tables_are_consistent_and_never_show_small_counts,
    releases_of_a_version_do_not_move_after_the_freeze,
    new_version_gets_fresh_noise_and_statutory_reissue_needs_changes,
    snapshot_rows_hold_no_identifier,
    every_release_shows_one_lone_person_the_same_way,
    bad_requests_name_the_field,
    other_roles_get_403_whatever_they_send,
);

/// The last full year: the youngest that may be frozen.
fn year() -> i64 {
    registry::export::current_year() - 1
}

fn date(month_day: &str) -> String {
    format!("{}-{month_day}", year())
}

/// One synthetic entrant, with what the golden test expects of it.
#[derive(Clone)]
struct Person {
    first: &'static str,
    dob: &'static str,
    sex: &'static str,
    status: &'static str,
    facility: &'static str,
    centre: &'static str,
    drug: &'static str,
    secondary: &'static [&'static str],
    age_first_use: u16,
}

const PEOPLE: &[Person] = &[
    Person {
        first: "Agim",
        dob: "1990-01-01",
        sex: "1",
        status: "1",
        facility: "uckk-psychiatry",
        centre: "2",
        drug: "1.1",
        secondary: &["7.1", "8"],
        age_first_use: 19,
    },
    Person {
        first: "Besa",
        dob: "1985-05-05",
        sex: "2",
        status: "2",
        facility: "ost-gjilan",
        centre: "1",
        drug: "1.1",
        secondary: &["2.1"],
        age_first_use: 20,
    },
    Person {
        first: "Drin",
        dob: "2000-02-02",
        sex: "1",
        status: "1",
        facility: "ost-gjilan",
        centre: "1",
        drug: "7.1",
        secondary: &["8"],
        age_first_use: 16,
    },
    Person {
        first: "Era",
        dob: "1995-07-07",
        sex: "2",
        status: "2",
        facility: "uckk-psychiatry",
        centre: "2",
        drug: "2.1",
        secondary: &[],
        age_first_use: 22,
    },
    Person {
        first: "Fatos",
        dob: "1980-09-09",
        sex: "1",
        status: "2",
        facility: "prison-dubrave",
        centre: "3",
        drug: "1.2",
        secondary: &["4.2", "1.1"],
        age_first_use: 25,
    },
    Person {
        first: "Gresa",
        dob: "1999-11-11",
        sex: "2",
        status: "1",
        facility: "ost-gjilan",
        centre: "1",
        drug: "7.1",
        secondary: &[],
        age_first_use: 15,
    },
];

fn body(p: &Person, start: &str) -> Value {
    let mut b = crate::episodes::episode(p.first, "Golden", p.dob, start);
    b["identity"]["sex"] = json!(p.sex);
    b["treatment_status"] = json!(p.status);
    b["primary_drug"] = json!(p.drug);
    b["secondary_drugs"] = json!(p.secondary);
    b["age_first_use"] = json!(p.age_first_use);
    if !p.drug.starts_with('1') {
        b["route"] = json!("2");
        b["injecting"] = json!("1");
        b["age_first_injection"] = Value::Null;
        b["sharing"] = json!("99");
        b["ost_status"] = json!("1");
        b["ost_first_year"] = Value::Null;
    }
    if p.status == "1" {
        // A first treatment: never in substitution treatment before.
        b["ost_status"] = json!("1");
        b["ost_first_year"] = Value::Null;
    }
    b
}

/// A completed forensic record of a heroin poisoning in the year (Selection B and D).
fn death_body(first: &str, dob: &str) -> Value {
    json!({
        "identity": {"first_name": first, "last_name": "Golden", "birth_date": dob, "sex": "1"},
        "date_of_death": date("06-14"), "municipality": "prizren", "place_type": "home",
        "underlying_cause": "X42", "multiple_causes": ["T40.1"], "manner": "accident",
        "autopsy_done": true, "toxicology_done": true,
        "substances": [{"code": "1.1", "cause_relevant": true}], "final_status": true
    })
}

async fn record_death(app: &TestApp, forensic: &TestUser, first: &str, dob: &str) {
    let death = death_body(first, dob);
    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/deaths",
            Some(&forensic.token),
            Some(&death),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn register(app: &TestApp, doc: &TestUser, body: &Value) -> Value {
    let (status, created) = app
        .send(
            Method::POST,
            "/api/v1/episodes",
            Some(&doc.token),
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created
}

/// Registers the golden population (one person twice in the year, at two facilities).
async fn golden(app: &TestApp) -> Vec<Value> {
    let mut out = Vec::new();
    for p in PEOPLE {
        let doc = app.user("clinician", Some(p.facility), None).await;
        out.push(register(app, &doc, &body(p, &date("03-03"))).await);
    }
    // Agim again in the autumn elsewhere: still one entrant, counted at his first episode.
    let doc = app.user("clinician", Some("prison-dubrave"), None).await;
    let mut again = PEOPLE[0].clone();
    again.facility = "prison-dubrave";
    register(app, &doc, &body(&again, &date("10-10"))).await;
    out
}

async fn freeze(app: &TestApp, analyst: &TestUser) -> Value {
    let (status, info) = app
        .send(
            Method::POST,
            "/api/v1/exports/freeze",
            Some(&analyst.token),
            Some(&json!({"year": year(), "purpose": "data lock"})),
        )
        .await;
    assert_eq!(status, 201, "{info}");
    info
}

async fn raw(app: &TestApp, analyst: &TestUser, path: &str, request: &Value) -> (u16, Vec<u8>) {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(&analyst.token)
        .json(request)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.bytes().await.expect("body").to_vec())
}

async fn statutory(
    app: &TestApp,
    analyst: &TestUser,
    format: &str,
    version: Option<i64>,
) -> (u16, Vec<u8>) {
    let mut request = json!({"year": year(), "format": format, "purpose": "EMCDDA reporting"});
    if let Some(v) = version {
        request["version"] = json!(v);
    }
    raw(app, analyst, "/api/v1/exports/statutory", &request).await
}

async fn flexible(app: &TestApp, analyst: &TestUser, request: &Value) -> Value {
    let (status, bytes) = raw(app, analyst, "/api/v1/exports", request).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    serde_json::from_slice(&bytes).expect("json")
}

async fn custom(app: &TestApp, analyst: &TestUser, request: &Value) -> Value {
    let (status, bytes) = raw(app, analyst, "/api/v1/exports/custom", request).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    serde_json::from_slice(&bytes).expect("json")
}

fn cell(table: &Value, row: &str, col: &str) -> u64 {
    let r = table["rows"]
        .as_array()
        .and_then(|rows| rows.iter().position(|x| x == row))
        .expect("row");
    let c = table["cols"]
        .as_array()
        .and_then(|cols| cols.iter().position(|x| x == col))
        .expect("col");
    table["cells"][r][c].as_u64().expect("count")
}

async fn catalogue_lists_tables_and_public_ptables(app: TestApp) {
    let analyst = app.user("analyst", None, None).await;
    let (status, body) = app
        .send(
            Method::GET,
            "/api/v1/exports/tables",
            Some(&analyst.token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let statutory: Vec<&str> = body["statutory_tables"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for id in ["8.1.1", "11.1.9", "25.1.6", "29.1.2", "drd-total"] {
        assert!(statutory.contains(&id), "{id} missing");
    }
    let profiles = body["profiles"].as_array().expect("profiles");
    assert_eq!(profiles[0][0], "ckm");
    assert_eq!(profiles[0][1]["params"], json!({"d": 3, "v": 2.0, "js": 2}));
    assert_eq!(profiles[1][1]["params"], json!({"d": 4, "v": 3.0, "js": 4}));
    // The ptable of a true 1 under ckm-deaths: 0 or 5, with 0.8 / 0.2.
    assert_eq!(
        profiles[1][1]["rows"][1]["noise"],
        json!([[-1, 0.8], [4, 0.2]])
    );
    let doc = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let (status, _) = app
        .send(
            Method::GET,
            "/api/v1/exports/tables",
            Some(&doc.token),
            None,
        )
        .await;
    assert_eq!(status, 403);
}

async fn freeze_rules_answer_clear_errors(app: TestApp) {
    let analyst = app.user("analyst", None, None).await;
    // A year not frozen: 409 saying to freeze it first; nothing from live data.
    let (status, bytes) = statutory(&app, &analyst, "json", None).await;
    assert_eq!(status, 409);
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("not frozen") && text.contains("freeze it first"),
        "{text}"
    );
    let (status, bytes) = raw(
        &app,
        &analyst,
        "/api/v1/exports",
        &json!({"tables": ["tdi-10-all"], "year": year(), "purpose": "p1 test"}),
    )
    .await;
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&bytes));
    // The current year can never be frozen.
    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/exports/freeze",
            Some(&analyst.token),
            Some(&json!({"year": registry::export::current_year(), "purpose": "too early"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["fields"][0]["field"], "year", "{body}");
    // Three versions, then a clear 409.
    for version in 1..=3 {
        let info = freeze(&app, &analyst).await;
        assert_eq!(info["version"], version);
    }
    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/exports/freeze",
            Some(&analyst.token),
            Some(&json!({"year": year(), "purpose": "a fourth"})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("limit")),
        "{body}"
    );
    let (status, list) = app
        .send(
            Method::GET,
            "/api/v1/exports/freeze",
            Some(&analyst.token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(3));
    assert_eq!(list[0]["changes"], "first_version");
    assert_eq!(list[1]["changes"], "none");
    // Exact counts that are never published are not shown to the analyst.
    assert!(list[0].get("rows").is_none() && list[0].get("changed_rows").is_none());
    // Only the analyst freezes or releases.
    for role in ["clinician", "auditor", "admin", "forensic"] {
        let other = match role {
            "clinician" => app.user(role, Some("uckk-psychiatry"), None).await,
            _ => app.user(role, None, None).await,
        };
        let (status, _) = app
            .send(
                Method::POST,
                "/api/v1/exports/freeze",
                Some(&other.token),
                Some(&json!({"year": year() - 1, "purpose": "curious"})),
            )
            .await;
        assert_eq!(status, 403, "{role}");
        let (status, _) = statutory(&app, &other, "json", None).await;
        assert_eq!(status, 403, "{role}");
    }
}

/// The workbook's data cell of a table (found by its title in column A).
fn workbook_cell(
    range: &calamine::Range<calamine::Data>,
    table: &str,
    row: usize,
    col: usize,
) -> f64 {
    let anchor = (0..range.height())
        .find(|r| {
            range
                .get((*r, 0))
                .is_some_and(|c| c.to_string().trim_start().starts_with(&format!("{table} ")))
        })
        .unwrap_or_else(|| panic!("table {table} not in the workbook"));
    match range.get((anchor + 2 + row, 1 + col)) {
        Some(calamine::Data::Float(x)) => *x,
        Some(calamine::Data::Int(x)) => *x as f64,
        other => panic!("table {table} ({row}, {col}) holds {other:?}"),
    }
}

fn group(code: &str) -> &str {
    code.split('.').next().unwrap_or(code)
}

async fn golden_year_fills_the_workbook_cell_for_cell(app: TestApp) {
    golden(&app).await;
    let forensic = app.user("forensic", None, None).await;
    // Three deaths in the year: heroin poisonings (Selection B and D).
    for (first, dob) in [
        ("Hana", "1991-01-01"),
        ("Ilir", "1984-04-04"),
        ("Jeta", "1979-09-09"),
    ] {
        record_death(&app, &forensic, first, dob).await;
    }
    let analyst = app.user("analyst", None, None).await;
    freeze(&app, &analyst).await;
    let (status, xlsx) = statutory(&app, &analyst, "xlsx", None).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&xlsx));
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).expect("an xlsx workbook");
    let sheets = book.sheet_names().to_vec();
    assert_eq!(
        sheets.len(),
        2,
        "the template's sheet and the DRD sheet: {sheets:?}"
    );
    let range = book.worksheet_range(&sheets[0]).expect("sheet");
    // 8.1.1 / 8.1.2: treatment status (1, 2, 99, all) by centre type (1..6, 99, total).
    let statuses = ["1", "2", "99"];
    let centres = ["1", "2", "3", "4", "5", "6", "99"];
    for (table, sex) in [("8.1.1", None), ("8.1.2", Some("1")), ("8.1.3", Some("2"))] {
        let people: Vec<&Person> = PEOPLE
            .iter()
            .filter(|p| sex.is_none_or(|s| p.sex == s))
            .collect();
        for r in 0..=statuses.len() {
            for c in 0..=centres.len() {
                let want = people
                    .iter()
                    .filter(|p| r == statuses.len() || p.status == statuses[r])
                    .filter(|p| c == centres.len() || p.centre == centres[c])
                    .count() as f64;
                assert_eq!(
                    workbook_cell(&range, table, r, c),
                    want,
                    "{table} ({r}, {c})"
                );
            }
        }
    }
    // 10.1.1: drug rows with group totals, by sex.
    let drug_rows = [
        "1", "1.1", "1.2", "1.3", "1.4", "1.5", "2", "2.1", "2.2", "2.3", "3", "3.1", "3.2", "3.3",
        "3.4", "3.5", "4", "4.1", "4.2", "4.3", "4.4", "5", "5.1", "5.2", "5.3", "6", "7", "7.1",
        "7.2", "7.3", "9", "99",
    ];
    let sexes = ["1", "2", "99"];
    for (r, row) in drug_rows.iter().chain(["total"].iter()).enumerate() {
        for (c, sex) in sexes.iter().chain(["total"].iter()).enumerate() {
            let want = PEOPLE
                .iter()
                .filter(|p| *row == "total" || p.drug == *row || group(p.drug) == *row)
                .filter(|p| *sex == "total" || p.sex == *sex)
                .count() as f64;
            assert_eq!(
                workbook_cell(&range, "10.1.1", r, c),
                want,
                "10.1.1 {row} × {sex}"
            );
        }
    }
    // 11.1.1: mean age at entry and at first use of heroin users, with their number.
    let heroin: Vec<&Person> = PEOPLE.iter().filter(|p| p.drug == "1.1").collect();
    let y = year() as f64;
    let ages: Vec<f64> = heroin
        .iter()
        .map(|p| {
            let born: f64 = p.dob[..4].parse().expect("year");
            let birthday_passed = &p.dob[5..] <= "03-03";
            y - born - if birthday_passed { 0.0 } else { 1.0 }
        })
        .collect();
    let mean = (ages.iter().sum::<f64>() / ages.len() as f64 * 10.0).round() / 10.0;
    assert_eq!(
        workbook_cell(&range, "11.1.1", 1, 0),
        mean,
        "mean age at entry, heroin"
    );
    assert_eq!(workbook_cell(&range, "11.1.1", 1, 2), heroin.len() as f64);
    let first_use = heroin
        .iter()
        .map(|p| f64::from(p.age_first_use))
        .sum::<f64>()
        / heroin.len() as f64;
    assert_eq!(
        workbook_cell(&range, "11.1.1", 1, 3),
        (first_use * 10.0).round() / 10.0
    );
    assert_eq!(
        workbook_cell(&range, "11.1.1", 32, 2),
        PEOPLE.len() as f64,
        "total row"
    );
    // 25.1.1: primary opioids; rows = second secondary drug, columns = first.
    // Agim: cannabis then alcohol; Besa: cocaine, no second; Fatos: hypnotics then heroin.
    let categories = [
        "heroin",
        "other_opioids",
        "cocaine",
        "crack",
        "amphetamines",
        "cannabis",
        "other_stimulants",
        "hypnotics",
        "alcohol",
        "other",
        "none",
        "99",
    ];
    let at = |c: &str| categories.iter().position(|x| *x == c).expect("category");
    assert_eq!(
        workbook_cell(&range, "25.1.1", at("alcohol"), at("cannabis")),
        1.0
    );
    assert_eq!(
        workbook_cell(&range, "25.1.1", at("none"), at("cocaine")),
        1.0
    );
    assert_eq!(
        workbook_cell(&range, "25.1.1", at("heroin"), at("hypnotics")),
        1.0
    );
    assert_eq!(
        workbook_cell(&range, "25.1.1", 12, 12),
        3.0,
        "three primary opioid users"
    );
    assert_eq!(
        workbook_cell(&range, "25.1.1", at("heroin"), at("cannabis")),
        0.0
    );
    // 29.1.1: primary drug by OST status. A first treatment has never had
    // substitution treatment before (a consistency rule).
    assert_eq!(
        workbook_cell(&range, "29.1.1", 1, 0),
        1.0,
        "Agim, heroin, first treatment: never in OST"
    );
    assert_eq!(
        workbook_cell(&range, "29.1.1", 1, 2),
        1.0,
        "Besa, heroin, previously treated: in OST now"
    );
    // The DRD sheet: three deaths, all in Selection B and in Selection D.
    let drd = book.worksheet_range(&sheets[1]).expect("DRD sheet");
    let text: Vec<String> = drd
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect();
    let total = text
        .iter()
        .position(|l| l.starts_with("Deaths by case definition"))
        .expect("DRD total table");
    assert_eq!(
        text[total + 2],
        "All deaths|3|3|3",
        "{:?}",
        &text[total..total + 3]
    );
    // The same tables as labelled JSON: table 11 is there, and DRD counts are exact.
    let (status, json) = statutory(&app, &analyst, "json", None).await;
    assert_eq!(status, 200);
    let content: Value = serde_json::from_slice(&json).expect("json");
    let tables = content["tables"].as_array().expect("tables");
    let t11 = tables
        .iter()
        .find(|t| t["id"] == "11.1.1")
        .expect("table 11 in JSON");
    assert_eq!(t11["rows"][1]["code"], "1.1");
    assert!(
        t11["rows"][1]["label"]
            .as_str()
            .is_some_and(|l| l.contains("heroin"))
    );
    assert!(
        !t11["unreliable"].as_array().expect("flags").is_empty(),
        "fewer than 20 persons are flagged"
    );
    let drd_total = content["drd"]
        .as_array()
        .and_then(|d| d.iter().find(|t| t["id"] == "drd-total"))
        .expect("drd");
    assert_eq!(drd_total["cells"][0], json!([3, 3, 3]));
    // And as CSV, table 11 included, labels beside the codes.
    let (status, csv) = statutory(&app, &analyst, "csv", None).await;
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv).expect("utf-8");
    assert!(csv.starts_with(
        "year,snapshot_version,table,title,row_code,row_label,column_code,column_label,value,flag\n"
    ));
    assert!(
        csv.lines()
            .any(|l| l.contains(",11.1.1,") && l.contains("mean_age_at_entry")),
        "table 11 in CSV"
    );
    // Every statutory release is in the ledger and the audit log.
    let (_, ledger) = app
        .send(
            Method::GET,
            "/api/v1/exports/releases",
            Some(&analyst.token),
            None,
        )
        .await;
    assert_eq!(ledger.as_array().map(Vec::len), Some(3));
    assert!(
        ledger.as_array().expect("ledger").iter().all(
            |e| e["kind"] == "statutory" && e["output_hash"].as_str().map(str::len) == Some(64)
        )
    );
    let events: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where action = 'run_statutory_export'",
    )
    .fetch_one(&sqlx::AnyPool::connect(&app.database_url).await.expect("db"))
    .await
    .expect("count");
    assert_eq!(events, 3);
}

/// A population large enough that the tables have cells of every size.
async fn population(app: &TestApp) {
    let facilities = [
        "uckk-psychiatry",
        "ost-gjilan",
        "hosp-prizren",
        "prison-dubrave",
    ];
    let mut docs = Vec::new();
    for f in facilities {
        docs.push(app.user("clinician", Some(f), None).await);
    }
    let municipalities = ["prishtine", "prizren", "gjilan", "peje", "ferizaj"];
    let drugs = ["1.1", "1.1", "7.1", "2.1", "1.2"];
    for i in 0..60_usize {
        // Names fuzzy linkage keeps apart (the birth dates repeat).
        let (first, last, _) = crate::helpers::distinct_person(i);
        let p = Person {
            first: Box::leak(first.into_boxed_str()),
            dob: ["1990-01-01", "1985-05-05", "2000-02-02", "1978-08-08"][i % 4],
            sex: if i % 3 == 0 { "2" } else { "1" },
            status: if i % 2 == 0 { "1" } else { "2" },
            facility: facilities[i % 4],
            centre: "",
            drug: drugs[i % 5],
            secondary: &[],
            age_first_use: 16 + (i % 5) as u16,
        };
        let mut b = body(&p, &date("04-04"));
        b["identity"]["last_name"] = json!(last);
        b["municipality"] = json!(municipalities[i % 5]);
        register(app, &docs[i % 4], &b).await;
    }
}

async fn flexible_tables_are_consistent_and_never_show_small_counts(app: TestApp) {
    population(&app).await;
    let analyst = app.user("analyst", None, None).await;
    freeze(&app, &analyst).await;
    let request = json!({"tables": ["tdi-10-all", "tdi-9-all", "tdi-12-all"], "year": year(), "purpose": "consistency"});
    let a = flexible(&app, &analyst, &request).await;
    let tables = a["tables"].as_array().expect("tables");
    // One set of persons, one value: the grand total of three tables.
    let totals: Vec<u64> = tables.iter().map(|t| cell(t, "total", "total")).collect();
    assert!(totals.iter().all(|t| *t == totals[0]), "{totals:?}");
    assert!(totals[0].abs_diff(60) <= 3, "noise within D: {totals:?}");
    // The heroin row total of tdi-9 and tdi-10, the cannabis row total of tdi-10 and tdi-12.
    assert_eq!(
        cell(&tables[0], "1.1", "total"),
        cell(&tables[1], "1.1", "total")
    );
    assert_eq!(
        cell(&tables[0], "7.1", "total"),
        cell(&tables[2], "7.1", "total")
    );
    // Same request twice: same value (byte-identical bodies).
    let (_, first) = raw(&app, &analyst, "/api/v1/exports", &request).await;
    let (_, second) = raw(&app, &analyst, "/api/v1/exports", &request).await;
    assert_eq!(first, second, "byte-identical");
    // Same unit at two geography levels: municipality × sex at national level and
    // within the district tables give one value for each shared cell.
    let national = custom(
        &app,
        &analyst,
        &json!({"dimensions": ["municipality", "sex"], "year": year(), "purpose": "geo test"}),
    )
    .await;
    let districts = custom(&app, &analyst, &json!({"dimensions": ["municipality", "sex"], "year": year(), "geography": "district", "purpose": "geo test"})).await;
    let national = &national["tables"][0];
    let prizren = districts["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["unit"] == "prizren")
        .expect("district");
    for sex in ["1", "2", "total"] {
        assert_eq!(
            cell(national, "prizren", sex),
            cell(prizren, "prizren", sex),
            "prizren × {sex}"
        );
    }
    // No published cell is in 1..js, in any table at any level.
    let municipal = flexible(&app, &analyst, &json!({"tables": ["tdi"], "year": year(), "geography": "municipality", "by_sex": true, "purpose": "small cells"})).await;
    let mut zeros_kept = 0;
    for t in municipal["tables"].as_array().expect("tables") {
        for v in t["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .flat_map(|r| r.as_array().expect("row"))
        {
            let v = v.as_u64().expect("count");
            assert!(v == 0 || v > 2, "{} {}: {v} published", t["id"], t["unit"]);
            zeros_kept += u64::from(v == 0);
        }
    }
    assert!(zeros_kept > 0);
    assert!(
        municipal["note"]
            .as_str()
            .is_some_and(|n| n.contains("need not add up"))
    );
    // Death tables are released with ckm-deaths (nothing in 1..4), and never weaker.
    let forensic = app.user("forensic", None, None).await;
    record_death(&app, &forensic, "Lone", "1990-01-01").await;
    let analyst2 = app.user("analyst", None, None).await;
    freeze(&app, &analyst2).await;
    let deaths = flexible(&app, &analyst2, &json!({"tables": ["drd-b-sex-age"], "year": year(), "geography": "municipality", "purpose": "deaths"})).await;
    for t in deaths["tables"].as_array().expect("tables") {
        assert_eq!(t["profile"], "ckm-deaths");
        for v in t["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .flat_map(|r| r.as_array().expect("row"))
        {
            let v = v.as_u64().expect("count");
            assert!(v == 0 || v > 4, "a lone death shows as {v}");
        }
    }
    // The profile is fixed per population: neither weaker nor a second view.
    let (status, bytes) = raw(&app, &analyst2, "/api/v1/exports", &json!({"tables": ["tdi-10-all"], "year": year(), "profile": "ckm-deaths", "purpose": "second view"})).await;
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&bytes));
    let (status, bytes) = raw(&app, &analyst2, "/api/v1/exports", &json!({"tables": ["drd-b-sex-age"], "year": year(), "profile": "ckm", "purpose": "weaker"})).await;
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&bytes));
    let body: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(body["error"]["fields"][0]["field"], "profile");
}

async fn releases_of_a_version_do_not_move_after_the_freeze(app: TestApp) {
    let created = golden(&app).await;
    population(&app).await;
    let analyst = app.user("analyst", None, None).await;
    freeze(&app, &analyst).await;
    let flex =
        json!({"tables": ["tdi"], "year": year(), "geography": "district", "purpose": "before"});
    let (_, statutory_before) = statutory(&app, &analyst, "json", None).await;
    let (_, flexible_before) = raw(&app, &analyst, "/api/v1/exports", &flex).await;
    // Live changes after the freeze: a registration, a correction, a closing, a shredding.
    let doc = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let mut late = body(&PEOPLE[3], &date("12-01"));
    late["identity"]["first_name"] = json!("Late");
    register(&app, &doc, &late).await;
    let era = created[3]["episode_id"].as_str().expect("id");
    let (status, b) = app
        .send(
            Method::PATCH,
            &format!("/api/v1/episodes/{era}"),
            Some(&doc.token),
            Some(&json!({"primary_drug": "2.2"})),
        )
        .await;
    assert_eq!(status, 204, "{b}");
    let agim = created[0]["episode_id"].as_str().expect("id");
    let (status, b) = app
        .send(
            Method::POST,
            &format!("/api/v1/episodes/{agim}/close"),
            Some(&doc.token),
            Some(&json!({"end_date": date("05-05"), "end_reason": "completed"})),
        )
        .await;
    assert_eq!(status, 204, "{b}");
    let besa = created[1]["registry_id"].as_str().expect("registry id");
    assert!(
        registry::cases::subjects::shred(
            &app.store,
            &app.keys,
            &app.operator(registry::authz::Action::ShredSubject, besa)
                .await,
            besa,
            registry::cases::subjects::ErasureGround::NoLongerNecessary,
            None,
        )
        .await
        .expect("shred")
    );
    // Not one byte of either release of that version moves.
    let (_, statutory_after) = statutory(&app, &analyst, "json", None).await;
    let (_, flexible_after) = raw(&app, &analyst, "/api/v1/exports", &flex).await;
    assert_eq!(statutory_before, statutory_after);
    assert_eq!(flexible_before, flexible_after);
    // A fresh process (the command line) gives the same bytes too, and two fresh
    // processes give one custom table.
    let cli = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_registry"))
            .args(args)
            .env("REGISTRY_DATABASE_URL", &app.database_url)
            .env("REGISTRY_KEY_FILE", &app.key_file)
            .env("REGISTRY_DATA_DIR", app.dir.path())
            .output()
            .expect("registry runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    };
    let out = app.dir.path().join("statutory.json");
    let y = year().to_string();
    let path = out.to_string_lossy().into_owned();
    cli(&["export", "statutory", "--year", &y, "--out", &path]);
    assert_eq!(std::fs::read(&out).expect("written"), statutory_after);
    let table = [
        "export",
        "table",
        "--year",
        &y,
        "--dims",
        "municipality,sex,age_band",
        "--geography",
        "district",
    ];
    let once = cli(&table);
    assert!(once.len() > 1000, "a table was printed");
    assert_eq!(once, cli(&table));
}

async fn new_version_gets_fresh_noise_and_statutory_reissue_needs_changes(app: TestApp) {
    population(&app).await;
    let analyst = app.user("analyst", None, None).await;
    freeze(&app, &analyst).await;
    let (status, first) = statutory(&app, &analyst, "csv", None).await;
    assert_eq!(status, 200);
    let doc = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let late = |people: std::ops::Range<usize>| {
        let (app, doc) = (&app, &doc);
        async move {
            for n in people {
                let (first, last, _) = crate::helpers::distinct_person(n);
                let mut b = body(&PEOPLE[0], &date("12-01"));
                b["identity"]["first_name"] = json!(first);
                b["identity"]["last_name"] = json!(last);
                register(app, doc, &b).await;
            }
        }
    };
    // Ten late registrations (after the 60 of the population): a second version
    // far enough from the first.
    late(60..70).await;
    let info = freeze(&app, &analyst).await;
    assert_eq!(info["version"], 2);
    assert_eq!(info["changes"], "some");
    let v2 = app
        .store
        .snapshot_info(year(), Some(2))
        .await
        .expect("status")
        .expect("v2");
    assert_eq!(
        v2.changed_rows,
        Some(20),
        "ten entrants and ten persons in treatment added"
    );
    let (status, second) = statutory(&app, &analyst, "csv", None).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&second));
    // The first version can be released again, byte for byte.
    let (status, again) = statutory(&app, &analyst, "csv", Some(1)).await;
    assert_eq!(status, 200);
    assert_eq!(first, again);
    // Three more: version 3 is 13 persons from version 1 but 3 from version 2, which
    // was released too, so it is refused (comparing against the last release alone,
    // version 1, would let it through).
    late(70..73).await;
    assert_eq!(freeze(&app, &analyst).await["version"], 3);
    let (status, bytes) = statutory(&app, &analyst, "csv", None).await;
    assert_eq!(status, 409);
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("fewer than 10 persons") && text.contains("every version released"),
        "{text}"
    );
    // The new version's record keys are fresh: every non-empty cell has a new cell key.
    let v1 = app
        .store
        .load_snapshot(year(), Some(1))
        .await
        .expect("load")
        .expect("v1");
    let v2 = app
        .store
        .load_snapshot(year(), Some(2))
        .await
        .expect("load")
        .expect("v2");
    use registry::export::snapshot::Population;
    let axis = || registry::export::tables::Dim::Sex.axis(year(), &[]);
    let rows = [registry::export::tables::Dim::PrimaryDrugGroup.axis(year(), &[])];
    let g1 = registry::export::count::count_national(
        v1.part(Population::Entrants),
        &Vec::new(),
        &rows,
        &axis(),
    );
    let g2 = registry::export::count::count_national(
        v2.part(Population::Entrants),
        &Vec::new(),
        &rows,
        &axis(),
    );
    let mut compared = 0;
    for i in 0..g1.counts.len() {
        if g1.counts[i] > 0 {
            assert_ne!(g1.keys[i], g2.keys[i], "cell {i} kept its key");
            compared += 1;
        }
    }
    assert!(compared > 5);
}

/// An attacker who collects every release an analyst can get of one set of persons —
/// a lone entrant in Dragash — through different tables, dimensions, geography levels
/// and repeated requests gets one value, never the true 1: averaging the views or
/// comparing them gives nothing beyond the published value.
async fn every_release_shows_one_lone_person_the_same_way(app: TestApp) {
    population(&app).await;
    let doc = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let mut lone = body(&PEOPLE[0], &date("05-05"));
    lone["identity"]["first_name"] = json!("Lonely");
    lone["municipality"] = json!("dragash");
    register(&app, &doc, &lone).await;
    let analyst = app.user("analyst", None, None).await;
    freeze(&app, &analyst).await;
    let mut views: Vec<(String, u64)> = Vec::new();
    for (dims, geography) in [
        (json!(["municipality", "sex"]), "national"),
        (json!(["municipality", "sex"]), "district"),
        (json!(["municipality", "sex"]), "municipality"),
        (json!(["municipality", "age_band"]), "national"),
        (json!(["municipality", "treatment_status"]), "district"),
        (json!(["municipality", "sex", "age_band"]), "national"),
    ] {
        for purpose in ["first look", "second look"] {
            let released = custom(&app, &analyst, &json!({"dimensions": dims, "year": year(), "geography": geography, "purpose": purpose})).await;
            // The table of the unit that holds Dragash at this level.
            let unit = match geography {
                "national" => "national",
                "district" => "prizren",
                _ => "dragash",
            };
            for table in released["tables"].as_array().expect("tables") {
                if table["unit"] != unit {
                    continue;
                }
                let rows = table["rows"].as_array().expect("rows");
                let view = format!("{dims} {geography} {}", table["unit"]);
                if rows.iter().any(|r| r == "dragash") {
                    views.push((view.clone(), cell(table, "dragash", "total")));
                    // The lone person is a man: "Dragash × men" is the same set of persons.
                    if dims[1] == "sex" {
                        views.push((format!("{view}, men"), cell(table, "dragash", "1")));
                    }
                }
                if rows.iter().any(|r| r == "dragash / 1") {
                    views.push((format!("{view}, men"), cell(table, "dragash / 1", "total")));
                }
            }
        }
    }
    for id in ["tdi-10-all", "tdi-9-all", "tdi-12-all"] {
        let released = flexible(&app, &analyst, &json!({"tables": [id], "year": year(), "geography": "municipality", "purpose": "by unit"})).await;
        let table = released["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .find(|t| t["unit"] == "dragash")
            .expect("dragash");
        views.push((format!("{id} in dragash"), cell(table, "total", "total")));
    }
    assert!(views.len() >= 14, "{views:?}");
    let value = views[0].1;
    assert!(value == 0 || value >= 3, "a lone person shows as {value}");
    for (view, v) in &views {
        assert_eq!(*v, value, "{view} differs: {views:?}");
    }
}

async fn snapshot_rows_hold_no_identifier(app: TestApp) {
    let created = golden(&app).await;
    let analyst = app.user("analyst", None, None).await;
    freeze(&app, &analyst).await;
    let pool = sqlx::AnyPool::connect(&app.database_url).await.expect("db");
    let columns: Vec<String> = match app.database_url.starts_with("sqlite") {
        true => sqlx::query_scalar("select name from pragma_table_info('stat_chunk') order by cid"),
        false => sqlx::query_scalar("select column_name::text from information_schema.columns where table_name = 'stat_chunk' order by ordinal_position"),
    }
    .fetch_all(&pool)
    .await
    .expect("columns");
    assert_eq!(columns, ["snapshot", "population", "chunk", "rows", "data"]);
    let chunks: Vec<String> = sqlx::query_scalar("select data from stat_chunk")
        .fetch_all(&pool)
        .await
        .expect("chunks");
    let rows: Vec<(i64, String)> = chunks
        .iter()
        .flat_map(|c| c.lines())
        .map(|line| {
            let (rk, codes) = line.split_once('|').expect("rk|codes");
            (rk.parse().expect("record key"), codes.to_owned())
        })
        .collect();
    // Snapshots cannot be changed, even by someone holding the database.
    for statement in [
        "update stat_chunk set data = ''",
        "delete from stat_chunk",
        "update stat_snapshot set year = 1999",
        "delete from stat_snapshot",
    ] {
        assert!(
            sqlx::query(statement).execute(&pool).await.is_err(),
            "{statement} was allowed"
        );
    }
    assert!(rows.len() >= PEOPLE.len() * 2);
    // Every identifier the live tables hold, in every spelling a row could carry.
    let mut secrets: Vec<String> = Vec::new();
    for c in &created {
        secrets.push(c["registry_id"].as_str().expect("id").to_owned());
        secrets.push(c["episode_id"].as_str().expect("id").to_owned());
    }
    let subject_ids: Vec<i64> = sqlx::query_scalar("select id from subject")
        .fetch_all(&pool)
        .await
        .expect("ids");
    let pseudonyms: Vec<Vec<u8>> =
        sqlx::query_scalar("select attr_pseudonym from subject where attr_pseudonym is not null")
            .fetch_all(&pool)
            .await
            .expect("pseudonyms");
    assert!(!pseudonyms.is_empty());
    secrets.extend(pseudonyms.iter().map(hex::encode));
    for p in PEOPLE {
        secrets.push(p.first.to_owned());
        secrets.push(p.dob.to_owned());
    }
    for (rk, codes) in &rows {
        assert!(
            !subject_ids.contains(rk) || *rk > 1_000_000,
            "a record key equals a subject id"
        );
        assert!(
            codes
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "|,.-_".contains(ch)),
            "only codes in a row: {codes}"
        );
        for field in codes.split(['|', ',']) {
            assert!(field.len() <= 12, "a field too long for a code: {field}");
            assert!(
                !secrets.iter().any(|s| s == field),
                "an identifier in a snapshot row"
            );
        }
    }
}

async fn bad_requests_name_the_field(app: TestApp) {
    let analyst = app.user("analyst", None, None).await;
    golden(&app).await;
    freeze(&app, &analyst).await;
    let cases: &[(&str, Value, u16, &str)] = &[
        (
            "/api/v1/exports",
            json!({"tables": ["tdi-99"], "year": year(), "purpose": "bad"}),
            422,
            "tables[0]",
        ),
        (
            "/api/v1/exports",
            json!({"tables": ["tdi-10-all"], "year": 1700, "purpose": "bad"}),
            422,
            "year",
        ),
        (
            "/api/v1/exports",
            json!({"tables": ["tdi-10-all"], "year": year(), "purpose": "x"}),
            422,
            "purpose",
        ),
        (
            "/api/v1/exports/custom",
            json!({"dimensions": ["sex"], "year": year(), "purpose": "bad"}),
            422,
            "dimensions",
        ),
        (
            "/api/v1/exports/custom",
            json!({"dimensions": ["sex", "manner"], "year": year(), "purpose": "bad"}),
            422,
            "dimensions[1]",
        ),
        (
            "/api/v1/exports/statutory",
            json!({"year": year(), "version": 7, "purpose": "bad"}),
            422,
            "version",
        ),
        (
            "/api/v1/exports/statutory",
            json!({"year": year() - 1, "purpose": "bad"}),
            409,
            "",
        ),
        (
            "/api/v1/exports",
            json!({"tables": ["tdi-10-all"], "year": year(), "format": "xlsx", "purpose": "bad"}),
            422,
            "format",
        ),
    ];
    for (path, request, want, field) in cases {
        let (status, bytes) = raw(&app, &analyst, path, request).await;
        let body: Value = serde_json::from_slice(&bytes).expect("json error");
        assert_eq!(status, *want, "{request}: {body}");
        if !field.is_empty() {
            let fields: Vec<&str> = body["error"]["fields"]
                .as_array()
                .expect("fields")
                .iter()
                .filter_map(|f| f["field"].as_str())
                .collect();
            assert!(fields.contains(field), "{request}: {body}");
        }
    }
    // Unknown profile, dimension and geography names are refused, naming the field.
    for (request, field) in [
        (
            json!({"tables": ["tdi-10-all"], "year": year(), "profile": "none-at-all", "purpose": "bad"}),
            "profile",
        ),
        (
            json!({"dimensions": ["sex", "shoe_size"], "year": year(), "purpose": "bad"}),
            "dimensions[1]",
        ),
        (
            json!({"tables": ["tdi-10-all"], "year": year(), "geography": "street", "purpose": "bad"}),
            "geography",
        ),
    ] {
        let path = if request.get("dimensions").is_some() {
            "/api/v1/exports/custom"
        } else {
            "/api/v1/exports"
        };
        let (status, bytes) = raw(&app, &analyst, path, &request).await;
        let body: Value = serde_json::from_slice(&bytes).expect("json error");
        assert_eq!(status, 422, "{request}: {body}");
        let fields: Vec<&str> = body["error"]["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .filter_map(|f| f["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "{request}: {body}");
    }
}

/// The role is checked before the body: a non-analyst gets 403 on every output route
/// for a valid body, a malformed one, a wrong type or no JSON at all, and so learns
/// nothing of the routes' input rules.
async fn other_roles_get_403_whatever_they_send(app: TestApp) {
    let valid =
        json!({"year": year() - 1, "purpose": "curiosity", "dimensions": ["sex", "age_band"]});
    let bodies: [(&str, &[u8]); 4] = [
        (
            "application/json",
            b"{\"year\": \"nineteen\", \"extra\": [1]}",
        ),
        ("application/json", b"{not json"),
        ("text/plain", b"hello"),
        ("application/json", b""),
    ];
    for role in [
        "clinician",
        "social_worker",
        "police",
        "forensic",
        "auditor",
        "admin",
    ] {
        let user = match role {
            "clinician" => app.user(role, Some("uckk-psychiatry"), None).await,
            "social_worker" => app.user(role, None, Some("prishtine")).await,
            _ => app.user(role, None, None).await,
        };
        for route in [
            "/exports",
            "/exports/custom",
            "/exports/statutory",
            "/exports/freeze",
        ] {
            let (status, body) = app
                .send(
                    Method::POST,
                    &format!("/api/v1{route}"),
                    Some(&user.token),
                    Some(&valid),
                )
                .await;
            assert_eq!(status, 403, "{role} {route}: {body}");
            for (content_type, bytes) in bodies {
                let response = app
                    .client
                    .post(app.url(&format!("/api/v1{route}")))
                    .bearer_auth(&user.token)
                    .header("content-type", content_type)
                    .body(bytes.to_vec())
                    .send()
                    .await
                    .expect("sent");
                assert_eq!(response.status(), 403, "{role} {route} {content_type}");
            }
        }
    }
}
