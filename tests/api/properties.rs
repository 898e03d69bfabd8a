//! Property tests: arbitrary input never panics the parsers and validators (identity
//! normalisation, ICD-10 codes, the backlog CSV reader, every JSON input type) and
//! never gives a 5xx through the API.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::helpers::TestApp;

const TODAY: time::Date = time::macros::date!(2026 - 12 - 01);

/// Any JSON value, a few levels deep, with strings that include Albanian, Serbian
/// Cyrillic, control-free punctuation and very long text.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-zA-ZëçËÇčćšžđЂж0-9 .,'/:-]{0,40}".prop_map(Value::String),
        "\\PC{0,300}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,20}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    // No regression files are written into the source tree; a failure prints its
    // minimal input.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(256)
    })]

    #[test]
    fn identity_validation_never_panics(
        pn in proptest::option::of("\\PC{0,20}"),
        first in "\\PC{0,60}",
        last in "\\PC{0,60}",
        birth in prop_oneof!["\\PC{0,12}", "[0-9]{4}-[0-9]{2}-[0-9]{2}", "[0-9]{4}"],
        sex in "\\PC{0,3}",
    ) {
        let input = registry::identity::subject::IdentityInput {
            personal_number: pn,
            first_name: first.clone(),
            last_name: last.clone(),
            birth_date: birth,
            sex,
        };
        let _ = registry::identity::subject::validate(&input, TODAY, "identity.");
        let _ = registry::identity::normalize::normalise_full_name(&first, &last);
        let folded = registry::identity::normalize::fold_name(&first);
        prop_assert_eq!(registry::identity::normalize::fold_name(&first), folded, "deterministic");
    }

    #[test]
    fn icd10_parsing_never_panics_and_names_its_field(
        code in prop_oneof!["\\PC{0,12}", "[A-Z][0-9]{2}(\\.[0-9]{0,3})?", "[a-z][0-9x]{1,4}"],
    ) {
        if let Err(e) = registry::domain::drd::Icd10::parse(&code, "underlying_cause") {
            prop_assert_eq!(e.field, "underlying_cause");
            // A code of a few characters could occur in the message by chance, and the
            // fixed examples (`e.g. F11.2, …`) hold codes of their own (`F11.` is in
            // `F11.2`): only the rest of the message must not hold the input.
            let own_words = e.problem.split("e.g.").next().unwrap_or_default();
            prop_assert!(code.chars().count() < 4 || !own_words.contains(code.as_str()), "no echo: {}", e.problem);
        }
    }

    #[test]
    fn backlog_reader_never_panics(
        lines in prop::collection::vec("[^\\r\\n]{0,200}", 0..8),
        quoted in "\\PC{0,80}",
    ) {
        let mut text = registry::cases::import::columns().join(",");
        for line in &lines {
            text.push('\n');
            text.push_str(line);
        }
        text.push_str(&format!("\n\"{}\",,", quoted.replace('"', "\"\"")));
        let rows = registry::cases::import::read_rows(&text).expect("the header is right");
        for row in rows.into_iter().flatten() {
            let _ = registry::domain::episode::validate(&row.input, TODAY, &["prishtine", "prizren"]);
        }
        let _ = registry::cases::import::read_rows(&lines.join("\n"));
    }

    #[test]
    fn json_inputs_never_panic(value in any_json(), bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        use registry::http::json::parse_json;
        let text = value.to_string();
        for body in [text.as_bytes(), bytes.as_slice()] {
            if let Ok(input) = parse_json::<registry::domain::episode::EpisodeInput>(body) {
                let _ = registry::domain::episode::validate(&input, TODAY, &["prishtine"]);
            }
            let _ = parse_json::<registry::identity::subject::IdentityInput>(body);
            let _ = parse_json::<Value>(body);
        }
    }
}

backend_tests!(arbitrary_bodies_never_give_a_5xx);

/// Arbitrary JSON, and valid registrations with one field replaced by arbitrary JSON,
/// posted to every write route that takes a body, as every role.
async fn arbitrary_bodies_never_give_a_5xx(app: TestApp) {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let (_, doc) = app.get_json("/api/v1/openapi.json").await;
    let mut routes = Vec::new();
    for (path, methods) in doc["paths"].as_object().expect("paths") {
        for method in methods.as_object().expect("methods").keys() {
            if ["post", "put", "patch"].contains(&method.as_str()) && !path.contains('{') {
                routes.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    let users: Vec<_> = app.every_role().await.into_iter().map(|(_, u)| u).collect();
    let mut runner = TestRunner::deterministic();
    let strategy = any_json();
    let valid = crate::episodes::episode("Arta", "Berisha", "1990-01-01", "2025-01-01");
    let fields: Vec<String> = valid.as_object().expect("object").keys().cloned().collect();
    let mut sent = 0;
    for case in 0..48 {
        let value = strategy.new_tree(&mut runner).expect("value").current();
        for (i, (method, path)) in routes.iter().enumerate() {
            let user = &users[(case + i) % users.len()];
            let response = app
                .client
                .request(
                    method.parse().expect("method"),
                    app.url(&format!("/api/v1{path}")),
                )
                .bearer_auth(&user.token)
                .json(&value)
                .send()
                .await
                .expect("sent");
            sent += 1;
            assert!(
                !response.status().is_server_error(),
                "{method} {path}: {} for {value}",
                response.status()
            );
        }
        let mut mutated = valid.clone();
        mutated[&fields[case % fields.len()]] = value.clone();
        let (status, body) = app
            .send(
                reqwest::Method::POST,
                "/api/v1/episodes",
                Some(&users[0].token),
                Some(&mutated),
            )
            .await;
        sent += 1;
        assert!(!status.is_server_error(), "{status} {body} for {mutated}");
    }
    println!("{sent} arbitrary bodies, no 5xx");
}
