//! The wall clock, in the one text format every stored timestamp uses. It sits at
//! the bottom of the layers so that crypto (key-file dates), audit and the store
//! share it without importing one another.

/// The current UTC time as RFC 3339 text.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    // Microseconds: what PostgreSQL's `timestamptz` keeps, so a moment read back
    // is the text that was written.
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
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
