//! Bulk registration of a facility's backlog from CSV in the TDI layout: one row per
//! episode, identity columns first, secondary drugs separated by `;`, and for an
//! episode that has ended its end date and reason last. Every row goes through the
//! same validation, registration and closing as the API; failures are reported per
//! row and CSV column, and do not stop the other rows.

use crate::cases::access::Caller;
use crate::cases::access::Gate;
use crate::cases::episodes::{END_REASONS, EpisodeError, register};
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

/// The columns that close the header: left empty for an episode still open.
const END_COLUMNS: &[&str] = &["end_date", "end_reason"];

/// The CSV header, in order. (A file without the two end columns, as written
/// before they existed, is read too: every episode in it stays open.)
pub fn columns() -> Vec<&'static str> {
    IDENTITY_COLUMNS
        .iter()
        .chain(EpisodeInput::ITEMS)
        .chain(END_COLUMNS)
        .copied()
        .collect()
}

/// The CSV column a problem of the registration belongs to (`identity.first_name`
/// is `first_name`, `secondary_drugs[1]` is `secondary_drugs`); `row` when none.
fn column_of(field: &str, columns: &[&str]) -> String {
    let name = field.strip_prefix("identity.").unwrap_or(field);
    let name = name.split('[').next().unwrap_or(name);
    let name = name.split('.').next().unwrap_or(name);
    if columns.contains(&name) {
        name.to_owned()
    } else {
        "row".to_owned()
    }
}

fn by_column(problems: Vec<FieldError>, columns: &[&str]) -> Vec<FieldError> {
    problems
        .into_iter()
        .map(|p| FieldError {
            field: column_of(&p.field, columns),
            ..p
        })
        .collect()
}

/// One readable row: the episode, and its end when it has ended.
#[derive(Debug, Clone)]
pub struct ImportRow {
    /// The registration.
    pub input: EpisodeInput,
    /// End date and reason.
    pub end: Option<(String, String)>,
}

/// The end columns of a row, checked before anything is registered so that a row
/// is registered and closed, or neither.
fn to_end(
    end_date: &str,
    end_reason: &str,
    start: &str,
    errors: &mut Vec<FieldError>,
) -> Option<(String, String)> {
    let (end_date, end_reason) = (end_date.trim(), end_reason.trim());
    match (end_date.is_empty(), end_reason.is_empty()) {
        (true, true) => return None,
        (false, true) => errors.push(FieldError::new(
            "end_reason",
            "is required when end_date is given",
        )),
        (true, false) => errors.push(FieldError::new(
            "end_date",
            "is required when end_reason is given",
        )),
        (false, false) => {}
    }
    if !end_reason.is_empty() && !END_REASONS.contains(&end_reason) {
        errors.push(FieldError::new(
            "end_reason",
            format!("must be one of {}", END_REASONS.join(", ")),
        ));
    }
    if !end_date.is_empty() {
        match crate::clock::parse_iso_date(end_date) {
            Err(_) => errors.push(FieldError::new("end_date", "must be a date YYYY-MM-DD")),
            Ok(end) => {
                if end > crate::clock::today_utc() {
                    errors.push(FieldError::new("end_date", "must not be in the future"));
                }
                if crate::clock::parse_iso_date(start.trim()).is_ok_and(|s| end < s) {
                    errors.push(FieldError::new(
                        "end_date",
                        "must not be before treatment_start_date",
                    ));
                }
            }
        }
    }
    Some((end_date.to_owned(), end_reason.to_owned()))
}

/// The input of one row, or the problems that stop it (no value echoed).
fn to_input(record: &csv::StringRecord, columns: &[&str]) -> Result<ImportRow, Vec<FieldError>> {
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
    let end = to_end(
        &cell("end_date"),
        &cell("end_reason"),
        &cell("treatment_start_date"),
        &mut errors,
    );
    let input = EpisodeInput::from_csv(identity, cell, &mut errors);
    if errors.is_empty() {
        Ok(ImportRow { input, end })
    } else {
        Err(by_column(errors, columns))
    }
}

/// Why a header is not the expected one: the first column that differs, by
/// position and expected name (what was found is not repeated).
fn header_problem(found: &csv::StringRecord, expected: &[&str]) -> Option<String> {
    let without_end = &expected[..expected.len() - END_COLUMNS.len()];
    let names = || found.iter().map(str::trim);
    if names().eq(expected.iter().copied()) || names().eq(without_end.iter().copied()) {
        return None;
    }
    let wrong = found.iter().zip(expected).position(|(f, e)| f.trim() != *e);
    Some(match wrong {
        Some(i) => format!(
            "column {} should be {} (the header must be: {})",
            i + 1,
            expected[i],
            expected.join(",")
        ),
        None if found.len() < without_end.len() => format!(
            "has {} columns; column {} should be {} (the header must be: {})",
            found.len(),
            found.len() + 1,
            expected[found.len()],
            expected.join(",")
        ),
        None => format!(
            "has {} columns, {} expected (the header must be: {})",
            found.len(),
            expected.len(),
            expected.join(",")
        ),
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
pub fn read_rows(csv_text: &str) -> Result<Vec<Result<ImportRow, Vec<FieldError>>>, EpisodeError> {
    let columns = columns();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(csv_text.as_bytes());
    let problem = match reader.headers() {
        Ok(found) => header_problem(found, &columns),
        Err(e) => Some(format!("cannot be read: {}", e.kind_name())),
    };
    if let Some(problem) = problem {
        return Err(EpisodeError::Invalid(vec![FieldError::new(
            "header", problem,
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
            Ok(row) => match register(store, keys, gate, who, &row.input, None).await {
                Ok(done) => match &row.end {
                    None => Ok(done.known_before),
                    Some((end_date, reason)) => {
                        match close_registered(
                            store,
                            keys,
                            gate,
                            who,
                            &done.episode_id,
                            end_date,
                            reason,
                        )
                        .await
                        {
                            Ok(()) => Ok(done.known_before),
                            // Registered, not closed: the row says so, with the
                            // episode to close by hand.
                            Err(EpisodeError::Invalid(problems)) => {
                                Err(by_column(problems, &columns())
                                    .into_iter()
                                    .map(|p| FieldError {
                                        problem: format!(
                                            "{} (episode {} was registered but is still open)",
                                            p.problem, done.episode_id
                                        ),
                                        ..p
                                    })
                                    .collect())
                            }
                            Err(other) => return Err(other),
                        }
                    }
                },
                Err(EpisodeError::Invalid(problems)) => Err(by_column(problems, &columns())),
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

/// Closes an episode the import has just registered, as its clinician would
/// through the API: decided (and audited) as an update, then closed with history.
/// The end columns were checked before the row was registered.
async fn close_registered(
    store: &Store,
    keys: &impl super::KeySource,
    gate: &Gate,
    who: &Caller,
    episode_id: &str,
    end_date: &str,
    reason: &str,
) -> Result<(), EpisodeError> {
    use crate::authz::Action;
    use crate::cases::episodes::{close, find, open, resource};
    let row = find(store, keys, episode_id)
        .await?
        .ok_or(EpisodeError::Store(crate::store::StoreError::NotFound))?;
    let (permit, decision) = gate
        .decide(
            &who.principal,
            Action::UpdateEpisode,
            &resource(&row),
            who.purpose.clone(),
        )
        .await?;
    if let Some(event) = &decision {
        store.audit(event).await?;
    }
    let identity = store
        .sealed_subject(&row.registry_id)
        .await?
        .identity_sealed;
    let opened = open(keys, &permit, row, identity.as_deref())?;
    close(
        store,
        keys,
        &opened,
        end_date,
        reason,
        &who.principal.user_id,
        permit.write_event(Some(episode_id)),
    )
    .await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn header(columns: &[&str]) -> Option<String> {
        header_problem(
            &csv::StringRecord::from(columns.to_vec()),
            &super::columns(),
        )
    }

    #[test]
    fn a_bad_header_names_the_column_that_is_wrong() {
        let mut good = columns();
        assert_eq!(header(&good), None);
        // Written before the end columns existed: still read.
        assert_eq!(header(&good[..good.len() - 2]), None);
        good[6] = "beginning";
        let problem = header(&good).expect("refused");
        assert!(
            problem.starts_with("column 7 should be treatment_start_date"),
            "{problem}"
        );
        assert!(
            !problem.contains("beginning"),
            "what was found is not repeated"
        );
        let short = &columns()[..10];
        let problem = header(short).expect("refused");
        assert!(
            problem.starts_with("has 10 columns; column 11 should be"),
            "{problem}"
        );
    }

    #[test]
    fn an_end_is_checked_against_the_start_however_the_start_is_spaced() {
        let mut errors = Vec::new();
        to_end("2025-01-01", "completed", " 2025-02-01 ", &mut errors);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "end_date");
    }

    #[test]
    fn registration_problems_are_named_by_csv_column() {
        let columns = columns();
        assert_eq!(column_of("identity.first_name", &columns), "first_name");
        assert_eq!(column_of("secondary_drugs[1]", &columns), "secondary_drugs");
        assert_eq!(column_of("body", &columns), "row");
    }
}
