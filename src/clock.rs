//! The wall clock, in the one text format every stored timestamp uses. It sits at
//! the bottom of the layers so that crypto (key-file dates), audit and the store
//! share it without importing one another.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// The one text form of a moment: RFC 3339 in UTC with exactly six fractional
/// digits. Fixed width, so texts sort in time order (trimmed fractions do not:
/// `…05.5Z` sorts before `…05Z`); microseconds, which PostgreSQL's `timestamptz`
/// keeps exactly, so a moment read back is the text that was written.
const STAMP: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
);

/// A moment in the stored text form (see `STAMP`).
pub fn stamp(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC)
        .format(STAMP)
        .unwrap_or_default()
}

/// The current UTC time in the stored text form.
pub fn now_rfc3339() -> String {
    stamp(OffsetDateTime::now_utc())
}

/// RFC 3339 text (any offset, any precision) in the stored form, for comparing with
/// stored moments; `None` when it is not RFC 3339.
pub fn normalize_stamp(text: &str) -> Option<String> {
    OffsetDateTime::parse(text, &Rfc3339).ok().map(stamp)
}

/// A calendar date: every date the registry handles (today, dates of birth, of
/// treatment start, of death, of contact) is one of these.
pub use time::Date;

/// Today's date in UTC.
pub fn today_utc() -> Date {
    time::OffsetDateTime::now_utc().date()
}

/// The year of a date as the registry stores it (years are 0-9999 once parsed).
#[must_use]
pub fn year(date: Date) -> u16 {
    u16::try_from(date.year()).unwrap_or(0)
}

/// The quarter (1-4) of a date.
#[must_use]
pub fn quarter(date: Date) -> u8 {
    (u8::from(date.month()) - 1) / 3 + 1
}

/// Why a text is not a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateProblem {
    /// Not exactly `YYYY-MM-DD` in ASCII digits.
    BadFormat,
    /// The right shape, but no such calendar day (`1999-02-29`, `1990-13-01`).
    NotADate,
}

/// Parses exactly `YYYY-MM-DD` (ten ASCII bytes, no sign, no surrounding space)
/// into a real calendar date. Slice patterns pin the shape without any indexing
/// that could panic on hostile input.
pub fn parse_iso_date(text: &str) -> Result<Date, DateProblem> {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *text.as_bytes() else {
        return Err(DateProblem::BadFormat);
    };
    let (Some(year), Some(month), Some(day)) = (
        digits(&[y0, y1, y2, y3]),
        digits(&[m0, m1]),
        digits(&[d0, d1]),
    ) else {
        return Err(DateProblem::BadFormat);
    };
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok());
    let day = u8::try_from(day).ok();
    month
        .zip(day)
        .and_then(|(m, d)| Date::from_calendar_date(i32::from(year), m, d).ok())
        .ok_or(DateProblem::NotADate)
}

/// The value of a short run of ASCII digits; `None` on anything else.
pub fn digits(bytes: &[u8]) -> Option<u16> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0u16, |acc, &b| {
        b.is_ascii_digit()
            .then(|| acc.checked_mul(10)?.checked_add(u16::from(b - b'0')))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored moments sort in time order as text, keep microseconds and read the
    /// same whatever offset or precision they were given in.
    #[test]
    fn moments_have_one_sortable_text_form() {
        let at = |text: &str| OffsetDateTime::parse(text, &Rfc3339).expect("RFC 3339");
        let moments = [
            "2026-12-05T10:00:00Z",
            "2026-12-05T10:00:00.000001Z",
            "2026-12-05T10:00:00.12Z",
            "2026-12-05T10:00:00.123Z",
            "2026-12-05T10:00:00.5Z",
            "2026-12-05T10:00:01Z",
        ];
        let texts: Vec<String> = moments.iter().map(|m| stamp(at(m))).collect();
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts, sorted, "text order is time order");
        assert_eq!(texts[0], "2026-12-05T10:00:00.000000Z");
        assert_eq!(texts[2], "2026-12-05T10:00:00.120000Z");
        assert_eq!(
            normalize_stamp("2026-12-05T11:00:00.5+01:00").as_deref(),
            Some("2026-12-05T10:00:00.500000Z")
        );
        assert_eq!(normalize_stamp("yesterday"), None);
        let now = now_rfc3339();
        assert_eq!(now.len(), "2026-12-05T10:00:00.000000Z".len(), "{now}");
        assert_eq!(normalize_stamp(&now), Some(now));
    }

    #[test]
    fn only_real_iso_dates_parse() {
        let d = parse_iso_date("2000-02-29").expect("leap day");
        assert_eq!((year(d), u8::from(d.month()), d.day()), (2000, 2, 29));
        assert_eq!(quarter(d), 1);
        for bad in ["1999-02-29", "1990-13-01", "1990-00-10", "1990-01-00"] {
            assert_eq!(parse_iso_date(bad), Err(DateProblem::NotADate), "{bad}");
        }
        for bad in [
            "",
            "1990",
            "+990-01-01",
            "1990-1-01",
            " 1990-01-01",
            "1990/01/01",
            "١٩٩٠-01-01",
        ] {
            assert_eq!(parse_iso_date(bad), Err(DateProblem::BadFormat), "{bad}");
        }
    }

    #[test]
    fn quarters_follow_the_months() {
        let q = |m: u8| {
            quarter(
                Date::from_calendar_date(2026, time::Month::try_from(m).expect("month"), 1)
                    .expect("date"),
            )
        };
        assert_eq!(
            (1..=12).map(q).collect::<Vec<_>>(),
            [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
        );
    }
}
