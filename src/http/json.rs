//! `ApiJson<T>`: the JSON body extractor every handler uses.
//!
//! Unlike the framework's extractor it names the failing field (via
//! `serde_path_to_error`), answers 422 for wrong shapes and 400 with the parser's
//! line and column for broken JSON, and never echoes submitted values, which may
//! be personal data (ASVS 14.2.1).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::error::{ApiError, FieldError};

/// A JSON request body (extractor) or response body (responder).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        UnreadJson::from_request(req, state)
            .await?
            .parse()
            .map(ApiJson)
    }
}

/// A JSON request body read but not yet parsed, for handlers that must authorise the
/// caller before saying anything about the body: a role that may not use a route gets
/// 403 whatever it sends, and learns nothing of the route's input rules.
#[derive(Debug)]
pub struct UnreadJson {
    is_json: bool,
    bytes: Bytes,
}

impl UnreadJson {
    /// A body known to be JSON (the browser pages build theirs from a form).
    pub fn from_json(bytes: Vec<u8>) -> Self {
        Self {
            is_json: true,
            bytes: Bytes::from(bytes),
        }
    }

    /// Parses the body (415 unless it was sent as JSON).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if !self.is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json(&self.bytes)
    }
}

impl<S: Send + Sync> FromRequest<S> for UnreadJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = is_json(&req);
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest {
                    code: "unreadable_body",
                    message: "the request body could not be read".into(),
                }
            }
        })?;
        Ok(Self { is_json, bytes })
    }
}

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Parses a JSON document into `T`, mapping errors to field-specific API errors.
/// Every string in it, keys included, is checked for forbidden characters first, so
/// no handler ever sees a NUL or a bidirectional override.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let document: serde_json::Value = serde_path_to_error::deserialize(&mut de)
        .map_err(|err| json_error(err.into_inner(), String::new()))?;
    // Trailing characters after the document are a syntax error too.
    de.end().map_err(|err| json_error(err, String::new()))?;
    let mut errors = Vec::new();
    check_strings(&document, "", &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    shape(document, bytes.len()).map_err(ApiError::Invalid)
}

/// Most shape problems reported for one body, and most reads spent finding them
/// (each reads the document again, in place: no copy of it is made). A body larger
/// than [`SHAPE_SEARCH_BYTES`] gets its first problem only, so a large hostile body
/// costs one read, as before.
const MAX_SHAPE_PROBLEMS: usize = 30;
const MAX_SHAPE_ATTEMPTS: usize = 120;
const SHAPE_SEARCH_BYTES: usize = 64 * 1024;

/// What a missing field is told.
const MISSING: &str = "is required";

/// Stand-ins tried, in order, for a missing or mistyped value so that the search
/// can go on to the next problem.
fn stand_ins() -> [serde_json::Value; 6] {
    use serde_json::json;
    [
        json!(null),
        json!(""),
        json!(0),
        json!(false),
        json!([]),
        json!({}),
    ]
}

/// Deserialises `document` into `T`, or reports every field whose shape is wrong
/// at once: missing, of the wrong type, or not known. After each problem the
/// document is repaired where it was found (the unknown field dropped, a stand-in
/// put where a value is missing or of the wrong type) and read again. The fields
/// inside a missing object are not reported: the object is.
fn shape<T: DeserializeOwned>(
    mut document: serde_json::Value,
    body_bytes: usize,
) -> Result<T, Vec<FieldError>> {
    let budget = if body_bytes > SHAPE_SEARCH_BYTES {
        1
    } else {
        MAX_SHAPE_ATTEMPTS
    };
    let mut problems: Vec<FieldError> = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    let mut attempts = 0;
    let mut last = match attempt::<T>(&document, &mut attempts) {
        Ok(value) => return Ok(value),
        Err(found) => found,
    };
    while problems.len() < MAX_SHAPE_PROBLEMS {
        let inside_missing = missing.iter().any(|m| {
            last.field
                .strip_prefix(m.as_str())
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        });
        if !inside_missing {
            problems.push(last.problem());
        }
        if last.words == MISSING {
            missing.push(last.field.clone());
        }
        if attempts >= budget {
            break;
        }
        let next = match &last.repair {
            Repair::Drop(key) => {
                if let Some(serde_json::Value::Object(map)) = slot(&mut document, &last.object) {
                    map.remove(key);
                }
                Some(attempt::<T>(&document, &mut attempts))
            }
            Repair::Replace(at) => step_over(&mut document, at, &last, &mut attempts, budget),
        };
        match next {
            // Repaired, but the other problems were all reported: still refused.
            Some(Ok(_)) | None => break,
            Some(Err(found)) => last = found,
        }
    }
    problems.dedup_by(|a, b| a.field == b.field);
    Err(problems)
}

/// Puts the first stand-in that moves the reader past `last`'s field at `at`: one
/// of the values the message says are expected (an enumeration's), or a value of
/// each JSON type. Each trial is made in place and undone when it does not help.
fn step_over<T: DeserializeOwned>(
    document: &mut serde_json::Value,
    at: &[serde_path_to_error::Segment],
    last: &ShapeProblem,
    attempts: &mut usize,
    budget: usize,
) -> Option<Result<T, Box<ShapeProblem>>> {
    let mut candidates: Vec<serde_json::Value> = last
        .expected
        .iter()
        .cloned()
        .map(serde_json::Value::String)
        .chain(stand_ins())
        .collect();
    let mut tried = 0;
    while tried < candidates.len() && *attempts < budget {
        let stand_in = candidates[tried].clone();
        tried += 1;
        let previous = put(document, at, stand_in)?;
        let outcome = attempt::<T>(document, attempts);
        match &outcome {
            Err(e) if e.field == last.field => {
                // A missing enumeration says what it expects only once a value of
                // the right type is there.
                if let Some(expected) = &e.expected {
                    let value = serde_json::Value::String(expected.clone());
                    if !candidates.contains(&value) {
                        candidates.insert(tried, value);
                    }
                }
                restore(document, at, previous);
            }
            _ => return Some(outcome),
        }
    }
    None
}

/// A shape problem: where, what, and how to step over it.
struct ShapeProblem {
    /// The field as the API spells it (`identity.first_name`, `secondary_drugs[2]`).
    field: String,
    /// In plain words, without the submitted value.
    words: String,
    /// The object holding the field.
    object: Vec<serde_path_to_error::Segment>,
    repair: Repair,
    /// The first value the message lists as expected, if it lists any.
    expected: Option<String>,
}

enum Repair {
    /// An unknown field: drop it (its name, anything the client typed, is not
    /// repeated).
    Drop(String),
    /// A missing or mistyped value: put a stand-in at this path.
    Replace(Vec<serde_path_to_error::Segment>),
}

impl ShapeProblem {
    fn problem(&self) -> FieldError {
        FieldError::new(self.field.clone(), self.words.clone())
    }
}

fn attempt<T: DeserializeOwned>(
    document: &serde_json::Value,
    attempts: &mut usize,
) -> Result<T, Box<ShapeProblem>> {
    *attempts += 1;
    serde_path_to_error::deserialize(document).map_err(|err| Box::new(shape_problem(&err)))
}

/// What a deserialisation error says, and how to step over it.
fn shape_problem(err: &serde_path_to_error::Error<serde_json::Error>) -> ShapeProblem {
    let segments: Vec<_> = err.path().iter().cloned().collect();
    let message = err.inner().to_string();
    let expected = message
        .split_once("expected ")
        .and_then(|(_, rest)| rest.split('`').nth(1))
        .map(str::to_owned);
    if let Some(missing) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        let mut at = segments.clone();
        at.push(serde_path_to_error::Segment::Map {
            key: missing.to_owned(),
        });
        return ShapeProblem {
            field: spell(&at),
            words: MISSING.into(),
            object: segments,
            repair: Repair::Replace(at),
            expected: None,
        };
    }
    if message.starts_with("unknown field") {
        let (object, key) = match segments.split_last() {
            Some((serde_path_to_error::Segment::Map { key }, object)) => {
                (object.to_vec(), key.clone())
            }
            _ => (segments.clone(), String::new()),
        };
        let field = if object.is_empty() {
            "body".into()
        } else {
            spell(&object)
        };
        return ShapeProblem {
            field,
            words: without_values(&message),
            object,
            repair: Repair::Drop(key),
            expected: None,
        };
    }
    let field = if segments.is_empty() {
        "body".into()
    } else {
        spell(&segments)
    };
    let object = segments
        .split_last()
        .map(|(_, o)| o.to_vec())
        .unwrap_or_default();
    ShapeProblem {
        field,
        words: plain_words(&without_values(&message)),
        object,
        repair: Repair::Replace(segments),
        expected,
    }
}

/// A path as the API spells field names.
fn spell(segments: &[serde_path_to_error::Segment]) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } if plain_name(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            // A key that is not a field name is not repeated.
            Segment::Map { .. } | Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    if out.is_empty() { "body".into() } else { out }
}

/// The value at a path, if the document has it.
fn slot<'a>(
    document: &'a mut serde_json::Value,
    segments: &[serde_path_to_error::Segment],
) -> Option<&'a mut serde_json::Value> {
    use serde_path_to_error::Segment;
    let mut here = document;
    for segment in segments {
        here = match segment {
            Segment::Seq { index } => here.get_mut(*index)?,
            Segment::Map { key } => here.get_mut(key.as_str())?,
            Segment::Enum { .. } | Segment::Unknown => return None,
        };
    }
    Some(here)
}

/// Puts `value` at a path (adding the last key to its object when missing) and
/// returns what was there (`Some(None)`: nothing); `None` when the path does not
/// lead anywhere.
fn put(
    document: &mut serde_json::Value,
    segments: &[serde_path_to_error::Segment],
    value: serde_json::Value,
) -> Option<Option<serde_json::Value>> {
    use serde_path_to_error::Segment;
    let Some((last, object)) = segments.split_last() else {
        return Some(Some(std::mem::replace(document, value)));
    };
    match (slot(document, object), last) {
        (Some(serde_json::Value::Object(map)), Segment::Map { key }) => {
            Some(map.insert(key.clone(), value))
        }
        (Some(serde_json::Value::Array(items)), Segment::Seq { index }) if *index < items.len() => {
            Some(Some(std::mem::replace(&mut items[*index], value)))
        }
        _ => None,
    }
}

/// Undoes a [`put`].
fn restore(
    document: &mut serde_json::Value,
    segments: &[serde_path_to_error::Segment],
    previous: Option<serde_json::Value>,
) {
    use serde_path_to_error::Segment;
    match (previous, segments.split_last()) {
        (Some(value), _) => {
            put(document, segments, value);
        }
        (None, Some((Segment::Map { key }, object))) => {
            if let Some(serde_json::Value::Object(map)) = slot(document, object) {
                map.remove(key);
            }
        }
        (None, _) => {}
    }
}

/// serde's Rust terms (`expected u16`, `a sequence`) in the words of the API.
fn plain_words(message: &str) -> String {
    let mut out = message.to_owned();
    for (rust, plain) in [
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u64", "expected a whole number of 0 or more"),
        ("expected i32", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected a list"),
        ("expected a map", "expected an object"),
        ("sequence given", "list given"),
        ("map given", "object given"),
        ("unit given", "null given"),
        ("integer given", "number given"),
        ("floating given", "number with a fraction given"),
    ] {
        out = out.replace(rust, plain);
    }
    if let Some(i) = out.find("expected struct ") {
        out.replace_range(i.., "expected an object");
    }
    if let Some(i) = out.find("expected a string") {
        out.replace_range(i.., "expected text");
    }
    out
}

/// Whether a submitted key looks like one of the API's field names (lower-case
/// ASCII, digits, underscores), and so may be named in an error.
fn plain_name(key: &str) -> bool {
    (1..=40).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Every string (and key) with a forbidden character, by its path.
fn check_strings(value: &serde_json::Value, path: &str, errors: &mut Vec<FieldError>) {
    use serde_json::Value;
    let field = |path: &str| {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path.to_owned()
        }
    };
    match value {
        Value::String(text) => {
            if let Some(problem) = crate::field::forbidden_characters(text) {
                errors.push(FieldError::new(field(path), problem));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_strings(item, &format!("{path}[{i}]"), errors);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                if let Some(problem) = crate::field::forbidden_characters(key) {
                    // The key is not repeated: name the object that has it.
                    errors.push(FieldError::new(
                        field(path),
                        format!("a field name {problem}"),
                    ));
                    continue;
                }
                // A key that is not a plain field name (a name typed as a key, say)
                // is not repeated either: problems below it name its object.
                let child = if !plain_name(key) {
                    path.to_owned()
                } else if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                check_strings(item, &child, errors);
            }
        }
        _ => {}
    }
}

fn json_error(inner: serde_json::Error, path: String) -> ApiError {
    match inner.classify() {
        serde_json::error::Category::Data => ApiError::Invalid(vec![FieldError {
            field: if path.is_empty() || path == "." {
                "body".into()
            } else {
                path
            },
            problem: without_values(&inner.to_string()),
        }]),
        _ => ApiError::BadRequest {
            code: "malformed_json",
            message: format!(
                "the body is not valid JSON: {} (line {}, column {})",
                syntax_problem(&inner),
                inner.line(),
                inner.column()
            ),
        },
    }
}

/// Parses a query string into `T` the same way as a body: 422 naming the parameter
/// and what was expected, never the submitted value.
pub fn parse_query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    let pairs = form_urlencoded::parse(raw.unwrap_or_default().as_bytes());
    use crate::field::forbidden_in_line;
    let errors: Vec<FieldError> = pairs
        .filter_map(|(key, value)| match forbidden_in_line(&key) {
            // The name is not repeated.
            Some(problem) => Some(FieldError::new(
                "query",
                format!("a parameter name {problem}"),
            )),
            None => forbidden_in_line(&value).map(|problem| {
                let field = if plain_name(&key) {
                    key.into_owned()
                } else {
                    "query".into()
                };
                FieldError::new(field, problem)
            }),
        })
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let de = serde_urlencoded::Deserializer::new(pairs);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = error_path(&err);
        let problem = without_values(&err.into_inner().to_string());
        ApiError::Invalid(vec![FieldError {
            field: if path.is_empty() {
                "query".into()
            } else {
                path
            },
            problem,
        }])
    })
}

/// The path of a deserialisation error; for an unknown field (whose path ends with
/// the submitted name) the object that has it.
fn error_path<E: std::fmt::Display>(err: &serde_path_to_error::Error<E>) -> String {
    let path = err.path().to_string();
    if !err.inner().to_string().starts_with("unknown field") {
        return path;
    }
    match err.path().iter().next_back() {
        Some(last) => path
            .strip_suffix(&last.to_string())
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_owned(),
        None => path,
    }
}

fn syntax_problem(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// serde's messages quote the offending value (`invalid type: string "Ardita"`);
/// keep the kind of value and what was expected, drop the value itself.
fn without_values(message: &str) -> String {
    let message = match message.find(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    // `unknown variant `Çështjeqyrja`, expected one of ...`: the list of what is
    // allowed stays, the submitted name goes (a key or a code can be personal data).
    for prefix in ["unknown variant", "unknown field"] {
        if message.starts_with(prefix) {
            return match message.find(", expected ") {
                Some(i) => format!("{prefix}, {}", &message[i + 2..]),
                None => format!("{prefix}; none is allowed here"),
            };
        }
    }
    for prefix in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let expected = rest.find(", expected ").map(|i| &rest[i + 2..]);
            let kind = rest.split([' ', ',']).next().unwrap_or("value");
            return match expected {
                Some(expected) => format!("{}{kind} given, {expected}", prefix),
                None => format!("{prefix}{kind}"),
            };
        }
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist only to be parsed")]
    struct Person {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist only to be parsed")]
    struct Inner {
        number: String,
    }

    fn fields(err: ApiError) -> Vec<FieldError> {
        match err {
            ApiError::Invalid(f) => f,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn syntax_error_reports_position() {
        let err = parse_json::<Person>(b"{\"name\": \"x\",\n  oops}").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 2"), "{text}");
        assert!(text.contains("column 3"), "{text}");
    }

    #[test]
    fn wrong_type_names_nested_field_without_value() {
        let err =
            parse_json::<Person>(br#"{"name":"x","inner":{"number":1234567890}}"#).unwrap_err();
        let f = fields(err);
        assert_eq!(f[0].field, "inner.number");
        assert!(!f[0].problem.contains("1234567890"), "{}", f[0].problem);
        assert_eq!(f[0].problem, "invalid type: number given, expected text");
    }

    #[test]
    fn string_values_are_not_echoed() {
        let err = parse_json::<Inner>(br#"{"number":["Ardita"]}"#).unwrap_err();
        let f = fields(err);
        assert!(!f[0].problem.contains("Ardita"));
        let err = parse_json::<Person>(br#"{"name":"Ardita","inner":"Gashi"}"#).unwrap_err();
        let f = fields(err);
        assert_eq!(f[0].field, "inner");
        assert!(!f[0].problem.contains("Gashi"), "{}", f[0].problem);
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        let f = fields(
            parse_json::<Person>(
                r#"{"name":"x","inner":{"number":"1","Çështjeqyrja":1}}"#.as_bytes(),
            )
            .unwrap_err(),
        );
        assert_eq!(f[0].field, "inner");
        assert_eq!(f[0].problem, "unknown field, expected `number`");
        let f = fields(parse_json::<Inner>(br#"{}"#).unwrap_err());
        assert_eq!(
            (f[0].field.as_str(), f[0].problem.as_str()),
            ("number", "is required")
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist only to be parsed")]
    struct Form {
        route: String,
        age: u16,
        kind: Kind,
        drugs: Vec<String>,
        inner: Inner,
        #[serde(default)]
        note: Option<String>,
    }

    #[test]
    fn every_shape_problem_is_reported_at_once_in_plain_words() {
        let f = fields(
            parse_json::<Form>(
                br#"{"age": "nineteen", "kind": "three", "drugs": "1.1", "inner": {"number": 7}, "note": 5, "extra": 1}"#,
            )
            .unwrap_err(),
        );
        let mut named: Vec<&str> = f.iter().map(|e| e.field.as_str()).collect();
        named.sort_unstable();
        assert_eq!(
            named,
            [
                "age",
                "body",
                "drugs",
                "inner.number",
                "kind",
                "note",
                "route"
            ],
            "{f:?}"
        );
        let problem = |field: &str| {
            f.iter()
                .find(|e| e.field == field)
                .map(|e| e.problem.as_str())
                .unwrap_or_default()
        };
        assert_eq!(problem("route"), "is required");
        assert_eq!(
            problem("age"),
            "invalid type: string given, expected a whole number from 0 to 65535"
        );
        assert_eq!(
            problem("drugs"),
            "invalid type: string given, expected a list"
        );
        assert_eq!(
            problem("inner.number"),
            "invalid type: number given, expected text"
        );
        for e in &f {
            for rust in ["u16", "sequence", "missing field", "nineteen", "three"] {
                assert!(!e.problem.contains(rust), "{e:?}");
            }
        }
    }

    #[test]
    fn a_missing_object_is_reported_not_its_fields_and_enumerations_are_stepped_over() {
        let f = fields(
            parse_json::<Form>(br#"{"route": "1", "age": 1, "drugs": [], "note": 5}"#).unwrap_err(),
        );
        let mut named: Vec<&str> = f.iter().map(|e| e.field.as_str()).collect();
        named.sort_unstable();
        assert_eq!(named, ["inner", "kind", "note"], "{f:?}");
    }

    #[test]
    fn a_large_body_gets_its_first_problem_only() {
        let note = "x".repeat(SHAPE_SEARCH_BYTES);
        let body = format!(r#"{{"note": "{note}", "age": "old"}}"#);
        let f = fields(parse_json::<Form>(body.as_bytes()).unwrap_err());
        assert_eq!(f.len(), 1, "{f:?}");
    }

    #[test]
    fn a_hostile_body_costs_a_bounded_number_of_attempts() {
        // Thousands of wrong fields: at most MAX_SHAPE_PROBLEMS reported.
        let items: Vec<String> = (0..5000).map(|i| format!("{i}")).collect();
        let body = format!(r#"{{"drugs": [{}]}}"#, items.join(","));
        let f = fields(parse_json::<Form>(body.as_bytes()).unwrap_err());
        assert!(f.len() <= MAX_SHAPE_PROBLEMS + 1, "{}", f.len());
    }

    #[derive(Debug, Deserialize)]
    enum Kind {
        #[serde(rename = "one")]
        One,
        #[serde(rename = "two")]
        Two,
    }

    #[derive(Debug, Deserialize)]
    #[expect(dead_code, reason = "fields exist only to be parsed")]
    struct WithKind {
        kind: Kind,
    }

    #[test]
    fn unknown_variants_are_not_echoed() {
        let f =
            fields(parse_json::<WithKind>(r#"{"kind":"Çështjeqyrja"}"#.as_bytes()).unwrap_err());
        assert_eq!(f[0].field, "kind");
        assert_eq!(f[0].problem, "unknown variant, expected `one` or `two`");
    }

    #[test]
    fn trailing_garbage_is_a_syntax_error() {
        let err = parse_json::<Inner>(br#"{"number":"1"} x"#).unwrap_err();
        assert!(matches!(
            err,
            ApiError::BadRequest {
                code: "malformed_json",
                ..
            }
        ));
    }
}
