//! Forms: the submitted fields, their conversion to the API's JSON input, and the
//! problems shown beside the fields in the page's language.
//!
//! A form is turned into the same JSON document an API client would send and read
//! by the same parser, so a browser gets exactly the API's checks. The problems
//! come back in English from the shared validation ([`FieldError`]); this module
//! gives each its Fluent message by the rule it states, never by the value.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::i18n::Tr;
use crate::field::FieldError;

/// The fields of a submitted `application/x-www-form-urlencoded` form.
#[derive(Debug, Default)]
pub struct FormData {
    pairs: Vec<(String, String)>,
}

impl FormData {
    /// The fields of a query string (a search sent with `GET`).
    pub fn from_query(query: &str) -> Self {
        Self {
            pairs: form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        }
    }

    /// The first value of `name`, or `""`.
    pub fn one(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// A yes-or-no answer as the API takes it; `None` when not answered.
    pub fn answer(&self, name: &str) -> Option<Value> {
        match self.one(name) {
            "yes" => Some(Value::Bool(true)),
            "no" => Some(Value::Bool(false)),
            _ => None,
        }
    }

    /// The same form with `name` set to `value` alone.
    pub fn with(&self, name: &str, value: &str) -> Self {
        let mut pairs: Vec<(String, String)> = self
            .pairs
            .iter()
            .filter(|(n, _)| n != name)
            .cloned()
            .collect();
        pairs.push((name.to_owned(), value.to_owned()));
        Self { pairs }
    }

    /// The same form with one more value of `name`.
    pub fn and(mut self, name: &str, value: &str) -> Self {
        self.pairs.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Every non-empty value of `name`, in the order sent.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(n, v)| n == name && !v.trim().is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The form as the API's JSON: dotted names become nested objects, `numbers`
    /// become numbers when they read as one (otherwise they stay text, which the
    /// parser reports as "expected a whole number" under the field's name), `lists`
    /// become lists. An empty number, list or `optional` field is left out; any
    /// other empty field is sent empty, so that the API's validation names it with
    /// every other problem at once. `csrf` and `form_id` are not part of it.
    pub fn to_json(&self, numbers: &[&str], lists: &[&str], optional: &[&str]) -> Value {
        let mut root = Map::new();
        for (name, value) in &self.pairs {
            let name_is = |set: &[&str]| set.contains(&name.as_str());
            let may_go = name_is(numbers) || name_is(lists) || name_is(optional);
            if matches!(name.as_str(), "csrf" | "form_id") || (value.trim().is_empty() && may_go) {
                continue;
            }
            let value = if lists.contains(&name.as_str()) {
                Value::Array(self.all(name).into_iter().map(Value::from).collect())
            } else if numbers.contains(&name.as_str()) {
                value
                    .trim()
                    .parse::<u64>()
                    .map_or_else(|_| Value::from(value.as_str()), Value::from)
            } else {
                Value::from(value.as_str())
            };
            let mut object = &mut root;
            let mut parts = name.split('.').peekable();
            while let Some(part) = parts.next() {
                if parts.peek().is_none() {
                    object.entry(part).or_insert(value);
                    break;
                }
                let child = object
                    .entry(part)
                    .or_insert_with(|| Value::Object(Map::new()));
                let Value::Object(child) = child else { break };
                object = child;
            }
        }
        Value::Object(root)
    }
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the form as application/x-www-form-urlencoded",
            )
                .into_response());
        }
        // Bounded by the service's body limit, like every API body.
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            pairs: form_urlencoded::parse(&body).into_owned().collect(),
        })
    }
}

/// The problems of one submitted form, translated, by field.
#[derive(Debug, Default, Clone)]
pub struct Problems {
    /// `(field, its label, the problem)`.
    list: Vec<(String, String, String)>,
}

/// A problem in the summary at the top of a form: a link to its field.
pub struct ProblemLink {
    /// `#` and the field's element id.
    pub href: String,
    /// The field's label and the problem.
    pub text: String,
}

/// The label of a field by its name (`identity.first_name` → `field-identity-first-name`).
pub fn label(tr: &Tr, field: &str) -> String {
    let base = field.split('[').next().unwrap_or(field);
    tr.t(&format!("field-{}", base.replace(['.', '_'], "-")))
}

impl Problems {
    /// One problem.
    pub fn one(tr: &Tr, field: &str, message: String) -> Self {
        Self {
            list: vec![(field.to_owned(), label(tr, field), message)],
        }
    }

    /// The API's field problems in the page's language.
    pub fn from_fields(tr: &Tr, fields: &[FieldError]) -> Self {
        Self {
            list: fields
                .iter()
                .map(|f| {
                    (
                        f.field.clone(),
                        label(tr, &f.field),
                        translate(tr, &f.problem),
                    )
                })
                .collect(),
        }
    }

    /// The problems of `field` itself, not of its items.
    pub fn only(&self, field: &str) -> String {
        self.list
            .iter()
            .filter(|(f, _, _)| f == field)
            .map(|(_, _, m)| m.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The summary: each problem with its field's label, linked to the field.
    pub fn links(&self) -> Vec<ProblemLink> {
        self.list
            .iter()
            .map(|(field, label, message)| ProblemLink {
                href: format!("#{}", input_id(field)),
                text: format!("{label}: {message}"),
            })
            .collect()
    }

    /// The problems of `field` (a list's items, `secondary_drugs[1]`, and an item's
    /// parts, `substances[0].code`, count as the list's or item's), joined.
    pub fn of(&self, field: &str) -> String {
        self.list
            .iter()
            .filter(|(f, _, _)| {
                f == field
                    || f.strip_prefix(field)
                        .is_some_and(|r| r.starts_with('[') || r.starts_with('.'))
            })
            .map(|(_, _, m)| m.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The element id of a field's input (`identity.first_name` → `f-identity-first_name`).
pub fn input_id(field: &str) -> String {
    let base = field.split('[').next().unwrap_or(field);
    format!("f-{}", base.replace('.', "-"))
}

/// The rules the shared validation states, by the words that state them, and the
/// Fluent message of each (those with a number take it as `n`). More specific
/// rules come before the general ones whose words they contain.
const RULES: &[(&str, &str)] = &[
    ("is required when ost_status", "problem-required-with-ost"),
    ("is required", "problem-required"),
    ("must be a code of", "problem-not-in-list"),
    ("must be one of", "problem-not-in-list"),
    ("must be TDI code", "problem-not-in-list"),
    (
        "must be the slug of a Kosovo municipality",
        "problem-municipality",
    ),
    (
        "must be a date and time YYYY-MM-DDTHH:MM",
        "problem-date-time",
    ),
    ("must be a date YYYY-MM-DD", "problem-date"),
    ("must be YYYY-MM-DD or YYYY", "problem-birth-date"),
    ("is not a valid calendar date", "problem-calendar-date"),
    ("must not be in the future", "problem-future"),
    ("must not be before 1990-01-01", "problem-before-1990"),
    (
        "must not be before the date of birth",
        "problem-before-birth",
    ),
    (
        "must not be before the treatment start date",
        "problem-end-before-start",
    ),
    (
        "must not be before the year of birth",
        "problem-before-birth-year",
    ),
    (
        "must not be after the year of treatment start",
        "problem-after-start-year",
    ),
    ("must be a year from 1990", "problem-year-1990"),
    ("must be a year from", "problem-year"),
    ("must be an age in years", "problem-age"),
    (
        "must not be greater than the age at treatment start",
        "problem-age-after-start",
    ),
    (
        "must be left out when injecting is 1",
        "problem-never-injected",
    ),
    ("must be left out when ost_status is 1", "problem-ost-never"),
    (
        "must be left out when treatment_status is 1",
        "problem-first-treatment-year",
    ),
    ("must list at most", "problem-too-many-drugs"),
    (
        "must differ from the primary drug",
        "problem-secondary-is-primary",
    ),
    (
        "must not repeat an earlier secondary drug",
        "problem-secondary-repeated",
    ),
    (
        "must not be a drug group beside",
        "problem-group-with-subcode",
    ),
    (
        "must not be 99 (not known) beside",
        "problem-unknown-beside-known",
    ),
    ("must not be alcohol", "problem-alcohol-primary"),
    (
        "must not be 2 (ever) or 3 (currently) when treatment_status is 1",
        "problem-ost-first-treatment",
    ),
    (
        "must not be 1 (never) when route is 1",
        "problem-injected-route",
    ),
    (
        "must be 99 when injecting is 1",
        "problem-sharing-never-injected",
    ),
    ("must be exactly 10 digits", "problem-personal-number"),
    ("must contain only digits", "problem-personal-number"),
    ("must not be all zeros", "problem-personal-number"),
    ("must contain at least one letter", "problem-letters"),
    ("contains a control character", "problem-control-character"),
    (
        "contains a bidirectional control character",
        "problem-control-character",
    ),
    ("contains a tab or line break", "problem-line-break"),
    ("expected a whole number", "problem-whole-number"),
    ("must be at most one year", "problem-stay-year"),
    ("must be at least", "problem-at-least-characters"),
    ("must be at most", "problem-at-most-characters"),
    ("is a commonly used password", "problem-common-password"),
    (
        "must not repeat a single character",
        "problem-repeated-character",
    ),
    ("must not contain the username", "problem-contains-username"),
    ("is not your current password", "problem-current-password"),
    (
        "must be a municipality slug, abroad or 99",
        "problem-municipality",
    ),
    ("is not a known municipality", "problem-municipality"),
    ("must be an ISO 3166-1 alpha-2 code", "problem-nationality"),
    ("must be 1 (male), 2 (female) or 99", "problem-not-in-list"),
    ("must be between 0 and 120", "problem-age-120"),
    ("must be a TDI substance code", "problem-not-in-list"),
    ("is not a TDI substance code", "problem-not-in-list"),
    ("must hold at most 20 codes", "problem-too-many-causes"),
    (
        "must not repeat an earlier multiple cause",
        "problem-cause-repeated",
    ),
    (
        "does not match the intent the underlying cause",
        "problem-manner-intent",
    ),
    ("must be 2-100 characters", "problem-length-2-100"),
    ("must be 2-200 characters", "problem-length-2-200"),
    ("must be 2-60 characters of a-z", "problem-facility-code"),
    (
        "give exactly one of code and nps_name",
        "problem-code-or-nps",
    ),
    ("give either code", "problem-code-or-nps"),
    (
        "needs code (a TDI substance code) or nps_name",
        "problem-code-or-nps",
    ),
    ("toxicology_done must be true", "problem-toxicology-done"),
    ("is not a WHO ICD-10 code", "problem-icd10"),
    ("looks like a US ICD-10-CM code", "problem-icd10-cm"),
    ("is not a code of WHO ICD-10", "problem-icd10"),
    ("must not be blank", "problem-required"),
    (
        "is not a known death notification",
        "problem-unknown-record",
    ),
    (
        "is not a known overdose presentation",
        "problem-unknown-record",
    ),
    ("must be 3-64 characters of a-z", "problem-username"),
    (
        "only clinicians have a facility",
        "problem-facility-clinicians",
    ),
    ("is not a known facility code", "problem-not-in-list"),
    (
        "only social workers have a municipality",
        "problem-municipality-social",
    ),
    ("is required for a social worker", "problem-required"),
    ("must be an RFC 3339 time", "problem-time"),
    ("state the purpose in", "problem-purpose"),
    ("give 2 or 3 dimensions", "problem-dimensions"),
    ("must not repeat a dimension", "problem-dimension-repeated"),
    ("is not allowed in a custom table", "problem-not-in-list"),
];

/// The Fluent message for a problem the shared validation reported, with its
/// number (a limit, never a submitted value) when it states one.
pub fn translate(tr: &Tr, problem: &str) -> String {
    let Some((_, key)) = RULES.iter().find(|(words, _)| problem.contains(words)) else {
        tracing::warn!("a problem without a translation reached a page");
        return tr.t("problem-invalid");
    };
    match last_number(problem) {
        Some(n) if NUMBERED.contains(key) => {
            tr.count(key, "n", i64::try_from(n).unwrap_or(i64::MAX))
        }
        _ => tr.t(key),
    }
}

/// Every message a problem can be given.
#[cfg(test)]
pub(crate) fn message_ids() -> impl Iterator<Item = &'static str> {
    RULES.iter().map(|(_, key)| *key).chain(["problem-invalid"])
}

/// The messages that state a limit.
const NUMBERED: &[&str] = &[
    "problem-age",
    "problem-too-many-drugs",
    "problem-at-least-characters",
    "problem-at-most-characters",
];

/// The last number a rule states: its limit ("an age in years from 0 to 100").
fn last_number(text: &str) -> Option<u64> {
    text.split(|c: char| !c.is_ascii_digit())
        .rfind(|part| !part.is_empty())?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::Lang;

    /// Every problem the episode, identity and close rules can state for a
    /// clinician's form has its own message (none falls back to "not accepted").
    #[test]
    fn every_problem_of_the_clinical_forms_has_a_message() {
        use crate::domain::episode::{EpisodeInput, validate};
        let today = time::macros::date!(2026 - 11 - 24);
        let base = EpisodeInput {
            identity: crate::identity::subject::IdentityInput {
                personal_number: Some("1234567890".into()),
                first_name: "Ardita".into(),
                last_name: "Gashi".into(),
                birth_date: "1990-04-07".into(),
                sex: "2".into(),
            },
            municipality: "prishtine".into(),
            treatment_start_date: "2026-05-20".into(),
            treatment_status: "2".into(),
            referral_source: "6".into(),
            living_with: "2".into(),
            living_with_children: "1".into(),
            living_where: "1".into(),
            labour_status: "4".into(),
            education: "3".into(),
            primary_drug: "1.1".into(),
            route: "1".into(),
            frequency: "1".into(),
            age_first_use: Some(19),
            secondary_drugs: vec!["2.1".into(), "8".into()],
            polydrug: "1".into(),
            ost_status: "3".into(),
            ost_first_year: Some(2020),
            injecting: "2.3".into(),
            age_first_injection: Some(22),
            sharing: "2.2".into(),
            hiv_testing: "2.2".into(),
            hcv_testing: "2.1".into(),
            notes: None,
        };
        assert!(validate(&base, today, &["prishtine"]).is_ok());
        let mut problems: Vec<String> = Vec::new();
        let mut check = |edit: &dyn Fn(&mut EpisodeInput)| {
            let mut input = base.clone();
            edit(&mut input);
            if let Err(errors) = validate(&input, today, &["prishtine"]) {
                problems.extend(errors.into_iter().map(|e| e.problem));
            }
        };
        check(&|e| e.identity.first_name = String::new());
        check(&|e| {
            e.identity.first_name = String::new();
            e.identity.last_name = String::new();
        });
        check(&|e| e.identity.first_name = "123".into());
        check(&|e| e.identity.first_name = "a\u{202e}".into());
        check(&|e| e.identity.personal_number = Some("123".into()));
        check(&|e| e.identity.personal_number = Some("12345A7890".into()));
        check(&|e| e.identity.personal_number = Some("0000000000".into()));
        check(&|e| e.identity.birth_date = "1990-02-30".into());
        check(&|e| e.identity.birth_date = "x".into());
        check(&|e| e.identity.birth_date = "2999-01-01".into());
        check(&|e| e.identity.sex = "7".into());
        check(&|e| e.municipality = "atlantis".into());
        check(&|e| e.municipality = String::new());
        check(&|e| e.treatment_start_date = "1989-01-01".into());
        check(&|e| e.treatment_start_date = "2999-01-01".into());
        check(&|e| e.treatment_start_date = "soon".into());
        check(&|e| e.treatment_status = "5".into());
        check(&|e| e.treatment_status = String::new());
        check(&|e| e.primary_drug = "8".into());
        check(&|e| e.age_first_use = Some(150));
        check(&|e| {
            e.secondary_drugs = vec![e.primary_drug.clone()];
        });
        check(&|e| e.secondary_drugs = vec!["2.1".into(), "2.1".into()]);
        check(&|e| e.secondary_drugs = vec!["2".into(), "2.1".into()]);
        check(&|e| e.secondary_drugs = vec!["99".into(), "2.1".into()]);
        check(&|e| {
            e.secondary_drugs = vec![
                "2.1".into(),
                "3.1".into(),
                "4.2".into(),
                "5.1".into(),
                "6".into(),
            ]
        });
        check(&|e| {
            e.ost_status = "2".into();
            e.ost_first_year = None;
        });
        check(&|e| {
            e.ost_status = "1".into();
            e.ost_first_year = Some(2010);
        });
        check(&|e| {
            e.treatment_status = "1".into();
            e.ost_status = "3".into();
        });
        check(&|e| {
            e.ost_status = "2".into();
            e.ost_first_year = Some(1800);
        });
        check(&|e| {
            e.route = "1".into();
            e.injecting = "1".into();
        });
        check(&|e| {
            e.injecting = "1".into();
            e.route = "2".into();
            e.sharing = "2".into();
            e.age_first_injection = Some(20);
        });
        check(&|e| e.notes = Some("x".repeat(3000)));
        problems.push("is not your current password".into());
        assert!(problems.len() > 25, "{} problems", problems.len());
        for problem in &problems {
            assert!(
                RULES.iter().any(|(words, _)| problem.contains(words)),
                "no message for: {problem}"
            );
        }
        let tr = Tr { lang: Lang::Sq };
        assert_eq!(
            translate(&tr, "must be at most 2000 characters"),
            tr.count("problem-at-most-characters", "n", 2000)
        );
        let age = translate(
            &tr,
            "must be an age in years from 0 to 100 (leave out when not known)",
        );
        assert_eq!(age, tr.count("problem-age", "n", 100));
    }

    #[test]
    fn a_form_becomes_the_api_document() {
        let form = FormData {
            pairs: [
                ("csrf", "x"),
                ("identity.first_name", "Arta"),
                ("identity.sex", "2"),
                ("identity.last_name", " "),
                ("age_first_use", "17"),
                ("age_first_injection", "seventeen"),
                ("secondary_drugs", "2.1"),
                ("secondary_drugs", ""),
                ("secondary_drugs", "7.1"),
                ("notes", ""),
            ]
            .into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect(),
        };
        let json = form.to_json(
            &["age_first_use", "age_first_injection"],
            &["secondary_drugs"],
            &["notes"],
        );
        assert_eq!(
            json,
            serde_json::json!({
                "identity": {"first_name": "Arta", "sex": "2", "last_name": " "},
                "age_first_use": 17,
                "age_first_injection": "seventeen",
                "secondary_drugs": ["2.1", "7.1"],
            })
        );
    }
}
