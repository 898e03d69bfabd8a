//! Bulk registration of a facility's backlog from CSV in the TDI layout: one row per
//! episode, identity columns first, secondary drugs separated by `;`. Every row goes
//! through the same validation and registration as the API; failures are reported
//! per row and field, and do not stop the other rows.

use crate::cases::access::Caller;
use crate::cases::access::Gate;
use crate::cases::episodes::{EpisodeError, register};
use crate::domain::episode::EpisodeInput;
use crate::field::FieldError;
use crate::identity::subject::IdentityInput;
use crate::store::Store;

/// The identity columns that open the CSV header; the episode's items follow in
/// table order (`EpisodeInput::ITEMS`).
const IDENTITY_COLUMNS: &[&str] = &[
    "personal_number",
    "first_name",
    "last_name",
    "birth_date",
    "sex",
];

/// The CSV header, in order.
pub fn columns() -> Vec<&'static str> {
    IDENTITY_COLUMNS
        .iter()
        .chain(EpisodeInput::ITEMS)
        .copied()
        .collect()
}

/// The input of one row, or the problems that stop it (no value echoed).
fn to_input(record: &csv::StringRecord, columns: &[&str]) -> Result<EpisodeInput, Vec<FieldError>> {
    let cell = |name: &str| {
        columns
            .iter()
            .position(|c| *c == name)
            .and_then(|i| record.get(i))
            .unwrap_or_default()
            .to_owned()
    };
    let personal_number = cell("personal_number");
    let identity = IdentityInput {
        personal_number: (!personal_number.trim().is_empty()).then_some(personal_number),
        first_name: cell("first_name"),
        last_name: cell("last_name"),
        birth_date: cell("birth_date"),
        sex: cell("sex"),
    };
    let mut errors = Vec::new();
    let input = EpisodeInput::from_csv(identity, cell, &mut errors);
    if errors.is_empty() {
        Ok(input)
    } else {
        Err(errors)
    }
}

/// One row that was not registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Line number in the file (the header is line 1).
    pub line: usize,
    /// What was wrong, by field.
    pub problems: Vec<FieldError>,
}

/// The outcome of an import.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Rows registered.
    pub registered: usize,
    /// Rows linked to a person the registry already knew.
    pub known_before: usize,
    /// Rows refused, with their problems.
    pub errors: Vec<RowError>,
}

/// Reads the backlog CSV: the header must be exactly the column list; each row
/// becomes an episode input or the problems that stop it, without its content.
pub fn read_rows(
    csv_text: &str,
) -> Result<Vec<Result<EpisodeInput, Vec<FieldError>>>, EpisodeError> {
    let columns = columns();
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header_ok = reader
        .headers()
        .map(|h| h.iter().eq(columns.iter().copied()))
        .unwrap_or(false);
    if !header_ok {
        return Err(EpisodeError::Invalid(vec![FieldError::new(
            "header",
            format!("the first line must be exactly: {}", columns.join(",")),
        )]));
    }
    Ok(reader
        .records()
        .map(|record| match record {
            Ok(record) => to_input(&record, &columns),
            Err(e) => Err(vec![FieldError::new(
                "row",
                format!("cannot be read: {}", e.kind_name()),
            )]),
        })
        .collect())
}

/// Imports every row through the registration use case, as the clinician `who`
/// (the decision point and the audit log see each row as that clinician's
/// registration); `progress` is called after each one with (done, total).
pub async fn import(
    store: &Store,
    keys: &impl super::KeySource,
    gate: &Gate,
    who: &Caller,
    csv_text: &str,
    mut progress: impl FnMut(usize, usize),
) -> Result<ImportReport, EpisodeError> {
    let rows = read_rows(csv_text)?;
    let total = rows.len();
    let mut report = ImportReport::default();
    for (i, input) in rows.into_iter().enumerate() {
        let line = i + 2;
        let outcome = match input {
            Err(problems) => Err(problems),
            Ok(input) => match register(store, keys, gate, who, &input, None).await {
                Ok(done) => Ok(done.known_before),
                Err(EpisodeError::Invalid(problems)) => Err(problems),
                Err(EpisodeError::Continues(id)) => Err(vec![FieldError::new(
                    "treatment_start_date",
                    format!("continues episode {id} (open, or ended less than six months before)"),
                )]),
                Err(other) => return Err(other),
            },
        };
        match outcome {
            Ok(known) => {
                report.registered += 1;
                report.known_before += usize::from(known);
            }
            Err(problems) => report.errors.push(RowError { line, problems }),
        }
        progress(i + 1, total);
    }
    Ok(report)
}

/// Error kind of a CSV problem, without the row's content (it is personal data).
trait KindName {
    fn kind_name(&self) -> &'static str;
}

impl KindName for csv::Error {
    fn kind_name(&self) -> &'static str {
        match self.kind() {
            csv::ErrorKind::UnequalLengths { .. } => "wrong number of columns",
            csv::ErrorKind::Utf8 { .. } => "not UTF-8",
            _ => "malformed CSV",
        }
    }
}
