//! Bulk registration of a facility's backlog from CSV in the TDI layout: one row per
//! episode, identity columns first, secondary drugs separated by `;`. Every row goes
//! through the same validation and registration as the API; failures are reported
//! per row and field, and do not stop the other rows.

use serde::Deserialize;

use crate::cases::access::Gate;
use crate::cases::episodes::{EpisodeError, Registrar, register};
use crate::domain::FieldError;
use crate::domain::episode::EpisodeInput;
use crate::identity::subject::IdentityInput;
use crate::store::Store;

/// The CSV header, in order.
pub const COLUMNS: &[&str] = &[
    "personal_number",
    "first_name",
    "last_name",
    "birth_date",
    "sex",
    "municipality",
    "treatment_start_date",
    "treatment_status",
    "referral_source",
    "living_with",
    "living_with_children",
    "living_where",
    "labour_status",
    "education",
    "primary_drug",
    "route",
    "frequency",
    "age_first_use",
    "secondary_drugs",
    "polydrug",
    "ost_status",
    "ost_first_year",
    "injecting",
    "age_first_injection",
    "sharing",
    "hiv_testing",
    "hcv_testing",
    "notes",
];

#[derive(Deserialize)]
struct Row {
    personal_number: String,
    first_name: String,
    last_name: String,
    birth_date: String,
    sex: String,
    municipality: String,
    treatment_start_date: String,
    treatment_status: String,
    referral_source: String,
    living_with: String,
    living_with_children: String,
    living_where: String,
    labour_status: String,
    education: String,
    primary_drug: String,
    route: String,
    frequency: String,
    age_first_use: String,
    secondary_drugs: String,
    polydrug: String,
    ost_status: String,
    ost_first_year: String,
    injecting: String,
    age_first_injection: String,
    sharing: String,
    hiv_testing: String,
    hcv_testing: String,
    notes: String,
}

fn number(text: &str, field: &str, errors: &mut Vec<FieldError>) -> Option<u16> {
    let text = text.trim();
    if text.is_empty() || text == "99" {
        return None;
    }
    text.parse()
        .map_err(|_| {
            errors.push(FieldError::new(
                field,
                "must be a whole number of years, or empty when not known",
            ))
        })
        .ok()
}

fn to_input(row: Row) -> Result<EpisodeInput, Vec<FieldError>> {
    let mut errors = Vec::new();
    let age_first_use = number(&row.age_first_use, "age_first_use", &mut errors);
    let ost_first_year = number(&row.ost_first_year, "ost_first_year", &mut errors);
    let age_first_injection = number(&row.age_first_injection, "age_first_injection", &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let optional = |s: String| (!s.trim().is_empty()).then_some(s);
    Ok(EpisodeInput {
        identity: IdentityInput {
            personal_number: optional(row.personal_number),
            first_name: row.first_name,
            last_name: row.last_name,
            birth_date: row.birth_date,
            sex: row.sex,
        },
        municipality: row.municipality,
        treatment_start_date: row.treatment_start_date,
        treatment_status: row.treatment_status,
        referral_source: row.referral_source,
        living_with: row.living_with,
        living_with_children: row.living_with_children,
        living_where: row.living_where,
        labour_status: row.labour_status,
        education: row.education,
        primary_drug: row.primary_drug,
        route: row.route,
        frequency: row.frequency,
        age_first_use,
        secondary_drugs: row
            .secondary_drugs
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        polydrug: row.polydrug,
        ost_status: row.ost_status,
        ost_first_year,
        injecting: row.injecting,
        age_first_injection,
        sharing: row.sharing,
        hiv_testing: row.hiv_testing,
        hcv_testing: row.hcv_testing,
        notes: optional(row.notes),
    })
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
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header_ok = reader
        .headers()
        .map(|h| h.iter().eq(COLUMNS.iter().copied()))
        .unwrap_or(false);
    if !header_ok {
        return Err(EpisodeError::Invalid(vec![FieldError::new(
            "header",
            format!("the first line must be exactly: {}", COLUMNS.join(",")),
        )]));
    }
    Ok(reader
        .deserialize::<Row>()
        .map(|row| match row {
            Ok(row) => to_input(row),
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
    who: &Registrar,
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
