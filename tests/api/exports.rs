//! Anonymised aggregate exports: distinct persons, protection, determinism,
//! differencing across releases, and the ledger.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser};

backend_tests!(
    catalogue_lists_tdi_drd_overdose_and_prevalence_tables,
    one_person_with_three_episodes_counts_once,
    same_data_gives_byte_identical_output,
    late_death_cannot_be_found_by_differencing_releases,
    custom_tables_are_limited_and_protected_the_same_way,
);

async fn export(app: &TestApp, analyst: &TestUser, body: &Value) -> (reqwest::StatusCode, Value) {
    app.send(
        Method::POST,
        "/api/v1/exports",
        Some(&analyst.token),
        Some(body),
    )
    .await
}

async fn catalogue_lists_tdi_drd_overdose_and_prevalence_tables(app: TestApp) {
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
    let ids: Vec<&str> = body["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    for id in [
        "tdi-8",
        "tdi-10-all",
        "tdi-10-first",
        "tdi-10-prev",
        "tdi-22-all",
        "tdi-29-prev",
        "drd-b-sex-age",
        "drd-known-to-treatment",
        "od-sex-age",
        "prevalence-sex-age",
    ] {
        assert!(ids.contains(&id), "{id} missing");
    }
    for number in 8..=29 {
        if number == 11 {
            continue; // table 11 is the mean-age table, requested as tdi-11
        }
        assert!(
            ids.iter()
                .any(|id| id.starts_with(&format!("tdi-{number}"))),
            "TDI table {number} missing"
        );
    }
}

async fn register(app: &TestApp, doc: &TestUser, first: &str, start: &str) {
    register_as(app, doc, first, start, "1", "1.1").await;
}

async fn register_as(
    app: &TestApp,
    doc: &TestUser,
    first: &str,
    start: &str,
    sex: &str,
    drug: &str,
) {
    let mut body = crate::episodes::episode(first, "Exportson", "1990-01-01", start);
    body["identity"]["sex"] = json!(sex);
    body["primary_drug"] = json!(drug);
    if drug.starts_with('7') {
        body["secondary_drugs"] = json!(["8"]);
        body["route"] = json!("2");
        body["injecting"] = json!("1");
        body["age_first_injection"] = Value::Null;
        body["ost_status"] = json!("1");
        body["ost_first_year"] = Value::Null;
    }
    let (status, created) = app
        .send(
            Method::POST,
            "/api/v1/episodes",
            Some(&doc.token),
            Some(&body),
        )
        .await;
    assert_eq!(status, 201, "{created}");
}

fn cell(table: &Value, row: &str, col: &str) -> Value {
    let r = table["rows"]
        .as_array()
        .and_then(|rows| rows.iter().position(|x| x == row))
        .expect("row");
    let c = table["cols"]
        .as_array()
        .and_then(|cols| cols.iter().position(|x| x == col))
        .expect("col");
    table["cells"][r][c].clone()
}

async fn one_person_with_three_episodes_counts_once(app: TestApp) {
    let docs = [
        app.user("clinician", Some("uckk-psychiatry"), None).await,
        app.user("clinician", Some("hosp-prizren"), None).await,
        app.user("clinician", Some("hosp-peje"), None).await,
    ];
    for (doc, start) in docs.iter().zip(["2025-01-10", "2025-05-10", "2025-09-10"]) {
        register(&app, doc, "Repeat", start).await;
    }
    // A mixed population, so no line is a group disclosure and nothing is small.
    let names = ["Alpha", "Bravo", "Charlie", "Delta", "Echo"];
    for (sex, drug) in [("1", "1.1"), ("2", "1.1"), ("1", "7.1"), ("2", "7.1")] {
        for name in names {
            let tag = format!(
                "{}{}",
                if sex == "1" { "m" } else { "f" },
                if drug == "1.1" { "h" } else { "c" }
            );
            register_as(
                &app,
                &docs[0],
                &format!("{name}{tag}"),
                "2025-02-02",
                sex,
                drug,
            )
            .await;
        }
    }
    let analyst = app.user("analyst", None, None).await;
    let (status, body) = export(&app, &analyst, &json!({"tables": ["tdi-10-all"], "year_from": 2025, "year_to": 2025, "purpose": "EMCDDA TDI 2025"})).await;
    assert_eq!(status, 200, "{body}");
    let table = &body["content"]["tables"][0];
    // "Repeat" has three episodes in 2025 at three facilities and counts once.
    assert_eq!(
        cell(table, "1.1", "1")["value"],
        6,
        "six persons, eight episodes: {table}"
    );
    assert_eq!(cell(table, "1.1", "2")["value"], 5);
    assert_eq!(cell(table, "7.1", "1")["value"], 5);
    assert_eq!(cell(table, "total", "total")["value"], 21);
    let (_, ledger) = app
        .send(
            Method::GET,
            "/api/v1/exports/releases",
            Some(&analyst.token),
            None,
        )
        .await;
    assert_eq!(ledger[0]["release_id"], body["release"]["release_id"]);
    assert_eq!(ledger[0]["purpose"], "EMCDDA TDI 2025");
    assert_eq!(ledger[0]["output_hash"].as_str().map(str::len), Some(64));
    // Every role other than analyst is refused.
    let doc = &docs[0];
    let (status, _) = export(&app, doc, &json!({"tables": ["tdi-10-all"], "year_from": 2025, "year_to": 2025, "purpose": "curious"})).await;
    assert_eq!(status, 403);
}

async fn same_data_gives_byte_identical_output(app: TestApp) {
    let doc = app.user("clinician", Some("uckk-psychiatry"), None).await;
    for name in ["Ana", "Bea", "Cia", "Dea", "Eva", "Fia", "Gia"] {
        register(&app, &doc, name, "2025-03-03").await;
    }
    let analyst = app.user("analyst", None, None).await;
    let request = json!({"tables": ["tdi"], "year_from": 2025, "year_to": 2025, "purpose": "determinism", "format": "csv"});
    let mut bodies = Vec::new();
    for _ in 0..2 {
        let response = app
            .client
            .post(app.url("/api/v1/exports"))
            .bearer_auth(&analyst.token)
            .json(&request)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200);
        assert!(response.headers().contains_key("x-release-id"));
        bodies.push(response.text().await.expect("csv"));
    }
    assert_eq!(bodies[0], bodies[1], "byte-identical");
    assert!(bodies[0].starts_with("table,unit,row,column,value,flag\n"));
    assert!(bodies[0].lines().count() > 1000, "the whole TDI set");
    let mut json_request = request.clone();
    json_request["format"] = json!("json");
    let (_, a) = export(&app, &analyst, &json_request).await;
    let (_, b) = export(&app, &analyst, &json_request).await;
    assert_eq!(a["content"], b["content"]);
    assert_eq!(a["release"]["output_hash"], b["release"]["output_hash"]);
    assert!(
        a["content"]["table_11"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "table 11 included"
    );
}

async fn death(app: &TestApp, doctor: &TestUser, first: &str, birth: &str, sex: &str) {
    let body = json!({
        "identity": {"first_name": first, "last_name": "Mortality", "birth_date": birth, "sex": sex},
        "date_of_death": "2025-06-14", "municipality": "prizren", "place_type": "home",
        "underlying_cause": "X42", "multiple_causes": ["T40.1"], "manner": "accident",
        "autopsy_done": true, "toxicology_done": true,
        "substances": [{"code": "1.1", "cause_relevant": true}], "final_status": true
    });
    let (status, created) = app
        .send(
            Method::POST,
            "/api/v1/deaths",
            Some(&doctor.token),
            Some(&body),
        )
        .await;
    assert_eq!(status, 201, "{created}");
}

/// Feasible interval of one hidden cell given the published table and earlier
/// published values as lower bounds, solved independently of the engine.
fn interval(table: &Value, earlier: &Value, target: (usize, usize)) -> (f64, Option<f64>) {
    use minilp::{ComparisonOp, OptimizationDirection, Problem};
    let cells = table["cells"].as_array().expect("cells");
    let rows = cells.len();
    let cols = cells[0].as_array().map(Vec::len).unwrap_or(0);
    let solve = |direction| {
        let mut problem = Problem::new(direction);
        let mut vars = std::collections::BTreeMap::new();
        for r in 0..rows {
            for c in 0..cols {
                if cells[r][c]["value"].is_null() {
                    let floor = earlier["cells"][r][c]["value"].as_f64().unwrap_or(0.0);
                    let obj = if (r, c) == target { 1.0 } else { 0.0 };
                    vars.insert((r, c), problem.add_var(obj, (floor, f64::INFINITY)));
                }
            }
        }
        let value = |r: usize, c: usize| cells[r][c]["value"].as_f64().unwrap_or(0.0);
        for r in 0..rows {
            let mut terms = Vec::new();
            let mut rhs = 0.0;
            for c in 0..cols - 1 {
                match vars.get(&(r, c)) {
                    Some(v) => terms.push((*v, 1.0)),
                    None => rhs -= value(r, c),
                }
            }
            match vars.get(&(r, cols - 1)) {
                Some(v) => terms.push((*v, -1.0)),
                None => rhs += value(r, cols - 1),
            }
            if !terms.is_empty() {
                problem.add_constraint(terms.as_slice(), ComparisonOp::Eq, rhs);
            }
        }
        for c in 0..cols {
            let mut terms = Vec::new();
            let mut rhs = 0.0;
            for r in 0..rows - 1 {
                match vars.get(&(r, c)) {
                    Some(v) => terms.push((*v, 1.0)),
                    None => rhs -= value(r, c),
                }
            }
            match vars.get(&(rows - 1, c)) {
                Some(v) => terms.push((*v, -1.0)),
                None => rhs += value(rows - 1, c),
            }
            if !terms.is_empty() {
                problem.add_constraint(terms.as_slice(), ComparisonOp::Eq, rhs);
            }
        }
        problem.solve().ok().map(|s| s.objective())
    };
    (
        solve(OptimizationDirection::Minimize).unwrap_or(0.0),
        solve(OptimizationDirection::Maximize),
    )
}

async fn late_death_cannot_be_found_by_differencing_releases(app: TestApp) {
    let doctor = app.user("forensic", None, None).await;
    let analyst = app.user("analyst", None, None).await;
    // 25-29: 6 men, 5 women; 35-39: 5 men, 6 women. No small cell, no group disclosure.
    let names = ["Ari", "Bes", "Cen", "Dur", "Ermal", "Fis"];
    for (i, name) in names.iter().enumerate() {
        death(&app, &doctor, &format!("{name}m"), "1997-01-01", "1").await;
        death(&app, &doctor, &format!("{name}w"), "1988-01-01", "2").await;
        if i < 5 {
            death(&app, &doctor, &format!("{name}v"), "1997-01-01", "2").await;
            death(&app, &doctor, &format!("{name}n"), "1988-01-01", "1").await;
        }
    }
    let request = json!({"tables": ["drd-b-sex-age"], "year_from": 2025, "year_to": 2025, "purpose": "DRD 2025"});
    let (status, first) = export(&app, &analyst, &request).await;
    assert_eq!(status, 200, "{first}");
    let before = first["content"]["tables"][0].clone();
    assert_eq!(cell(&before, "25-29", "1")["value"], 6);

    // A late registration: one more death in a published cell.
    death(&app, &doctor, "Late", "1997-01-01", "1").await;
    let (status, second) = export(&app, &analyst, &request).await;
    assert_eq!(
        status, 200,
        "the engine protects the difference rather than refusing: {second}"
    );
    let after = second["content"]["tables"][0].clone();
    let cells_before = before["cells"].as_array().expect("cells");
    let cells_after = after["cells"].as_array().expect("cells");
    for (r, row) in cells_after.iter().enumerate() {
        for (c, now) in row.as_array().expect("row").iter().enumerate() {
            if let (Some(a), Some(b)) =
                (now["value"].as_i64(), cells_before[r][c]["value"].as_i64())
            {
                let change = (a - b).abs();
                assert!(
                    change == 0 || change >= 5,
                    "cell ({r},{c}) moved by {change}: the late death is exposed"
                );
            }
            if now["value"].is_null() {
                let (lo, hi) = interval(&after, &before, (r, c));
                assert!(
                    hi.is_none_or(|h| h - lo >= 5.0 - 1e-6),
                    "cell ({r},{c}) pinned to [{lo}, {hi:?}]"
                );
            }
        }
    }
    assert!(
        cell(&after, "25-29", "1")["value"].is_null(),
        "the changed cell is withheld"
    );
    let certificate = second["content"]["certificate"]
        .as_array()
        .expect("certificate");
    assert!(!certificate.is_empty());
    for entry in certificate {
        let (lo, hi) = (entry["lo"].as_f64().unwrap_or(0.0), entry["hi"].as_f64());
        assert!(hi.is_none_or(|h| h - lo >= 5.0 - 1e-6), "{entry}");
    }
}

async fn custom_tables_are_limited_and_protected_the_same_way(app: TestApp) {
    let doc = app.user("clinician", Some("uckk-psychiatry"), None).await;
    for name in ["Una", "Vera", "Wanda"] {
        register(&app, &doc, name, "2025-04-04").await;
    }
    let analyst = app.user("analyst", None, None).await;
    let custom = |dims: Value| json!({"dimensions": dims, "year_from": 2025, "year_to": 2025, "purpose": "planning"});
    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/exports/custom",
            Some(&analyst.token),
            Some(&custom(json!(["district", "sex", "primary_drug_group"]))),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let table = &body["content"]["tables"][0];
    assert!(
        table["rows"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x == "prishtina / 1"))
    );
    // Three persons: every non-zero cell is small and withheld, none shown.
    for row in table["cells"].as_array().expect("cells") {
        for c in row.as_array().expect("row") {
            if let Some(v) = c["value"].as_i64() {
                assert!(v == 0 || v >= 5, "small count published: {c}");
            }
        }
    }
    let (status, _) = app
        .send(
            Method::POST,
            "/api/v1/exports/custom",
            Some(&analyst.token),
            Some(&custom(json!(["year", "sex", "route", "district"]))),
        )
        .await;
    assert_eq!(status, 422, "at most three dimensions");
    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/exports/custom",
            Some(&analyst.token),
            Some(&custom(json!(["sex", "hiv_testing"]))),
        )
        .await;
    assert_eq!(status, 422, "{body}");
}
