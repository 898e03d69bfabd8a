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
    serde_path_to_error::deserialize(document).map_err(|err| {
        let path = error_path(&err);
        json_error(err.into_inner(), path)
    })
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
        assert!(f[0].problem.contains("integer"), "{}", f[0].problem);
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
        assert!(
            f[0].problem.contains("missing field `number`"),
            "{}",
            f[0].problem
        );
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
