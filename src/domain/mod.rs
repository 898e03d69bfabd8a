//! Typed records and their validation. No I/O here.

pub mod codes;
pub mod death;
pub mod drd;
pub mod episode;
pub mod items;
pub mod social;

use crate::field::FieldError;

/// A record's date (of death, of an overdose, of a contact): exactly `YYYY-MM-DD`,
/// not in the future, not before 1990. `None`, with the problem pushed, otherwise.
pub(crate) fn record_date(
    text: &str,
    field: &str,
    today: crate::clock::Date,
    errors: &mut Vec<FieldError>,
) -> Option<crate::clock::Date> {
    let problem = match crate::clock::parse_iso_date(text) {
        Err(_) => "must be a date YYYY-MM-DD",
        Ok(date) if date > today => "must not be in the future",
        Ok(date) if date.year() < 1990 => "must be in 1990 or later",
        Ok(date) => return Some(date),
    };
    errors.push(FieldError::new(field, problem));
    None
}
