//! The identity as fuzzy linkage compares it: names folded further than the exact
//! pseudonyms fold them, so that the spellings Albanian and Serbian (and ASCII-only
//! systems) use for one sound meet before they are encoded.

use super::normalize::{BirthDate, NormalisedIdentity, Sex, fold_name};
use super::subject::IdentityInput;
use crate::crypto::similarity::{Birth, LinkIdentity};

/// The comparison form of a name: [`fold_name`], then one spelling per sound.
///
/// Albanian `xh`, `x`, `zh`, `sh`, `ç`, `q`, `gj`, `dh`, `th`, `y` and Serbian `dž`,
/// `ž`, `š`, `č`, `ć`, `đ` (already folded to `dz z s c c dj`) meet as `dz z s c c
/// dj d t i`, so "Xhavit Çeku" and "Džavit Ćeku" compare as the same name; a doubled
/// letter (`ll`, `rr`, `tt`) counts once. The result is only `a`–`z` and single
/// spaces. It is never used for the exact pseudonyms, whose rules stay as they are.
#[must_use]
pub fn similarity_form(name: &str) -> String {
    let folded = fold_name(name);
    let bytes = folded.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        let next = bytes.get(i + 1).copied();
        let (piece, used) = match (c, next) {
            (b'x', Some(b'h')) => ("dz", 2),
            (b'x', _) => ("dz", 1),
            (b'z' | b's' | b'c', Some(b'h')) => (&folded[i..=i], 2),
            (b'g', Some(b'j')) => ("dj", 2),
            (b'd' | b't', Some(b'h')) => (&folded[i..=i], 2),
            (b'q', _) => ("c", 1),
            (b'y', _) => ("i", 1),
            (b'w', _) => ("v", 1),
            _ => (&folded[i..=i], 1),
        };
        // A doubled letter counts once (`ll`, `rr`, and `cc` from `çç`).
        if !(piece.len() == 1 && out.ends_with(piece) && piece != " ") {
            out.push_str(piece);
        }
        i += used;
    }
    out
}

/// The linkage form of a validated identity: names by field, as submitted.
pub fn link_identity(input: &IdentityInput, identity: &NormalisedIdentity) -> LinkIdentity {
    LinkIdentity {
        given: similarity_form(&input.first_name),
        family: similarity_form(&input.last_name),
        birth: Some(birth(identity.birth)),
        sex: sex_code(identity.sex),
        personal_number: identity
            .personal_number
            .as_ref()
            .map(|pn| pn.as_str().to_owned()),
    }
}

fn birth(date: BirthDate) -> Birth {
    match date {
        BirthDate::Full(date) => Birth::Full {
            year: crate::clock::year(date),
            month: u8::from(date.month()),
            day: date.day(),
        },
        BirthDate::YearOnly { year } => Birth::Year(year),
    }
}

fn sex_code(sex: Sex) -> Option<u8> {
    match sex.code() {
        "1" => Some(1),
        "2" => Some(2),
        _ => None,
    }
}

/// A birth date as an external extract writes it: `YYYY-MM-DD`, `YYYYMMDD`, `YYYY`;
/// anything else (blank, impossible) is not known.
pub fn loose_birth(text: &str) -> Option<Birth> {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let number = |range: std::ops::Range<usize>| digits.get(range)?.parse::<u16>().ok();
    let year = number(0..4).filter(|y| (1800..=2200).contains(y))?;
    match digits.len() {
        4 => Some(Birth::Year(year)),
        8 => {
            let (month, day) = (number(4..6)?, number(6..8)?);
            let date = crate::clock::parse_iso_date(&format!("{year:04}-{month:02}-{day:02}"));
            match date {
                Ok(_) => Some(Birth::Full {
                    year,
                    month: u8::try_from(month).ok()?,
                    day: u8::try_from(day).ok()?,
                }),
                Err(_) => Some(Birth::Year(year)),
            }
        }
        _ => None,
    }
}

/// Sex as an external extract writes it: `1`/`m`/`male`, `2`/`f`/`female`; else not
/// known.
pub fn loose_sex(text: &str) -> Option<u8> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "m" | "male" | "mashkull" | "muski" => Some(1),
        "2" | "f" | "female" | "femer" | "zenski" => Some(2),
        _ => None,
    }
}

/// A personal number as an extract writes it, when it is ten digits.
pub fn loose_personal_number(text: &str) -> Option<String> {
    super::normalize::PersonalNumber::parse(text)
        .ok()
        .map(|pn| pn.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn albanian_and_serbian_spellings_meet() {
        for (a, b) in [
            ("Xhavit Çeku", "Džavit Ćeku"),
            ("Xhavit Çeku", "Џавит Ћеку"),
            ("Zhaneta", "Žaneta"),
            ("Shpëtim", "Špetim"),
            ("Gjergj", "Đerđ"),
            ("Qamil", "Ćamil"),
            ("Ylli", "Ili"),
            ("Dhurata", "Durata"),
            ("Agimi", "Aggimi"),
        ] {
            assert_eq!(similarity_form(a), similarity_form(b), "{a} / {b}");
        }
        assert_eq!(similarity_form("Xhavit Çeku"), "dzavit ceku");
        assert_ne!(similarity_form("Arben"), similarity_form("Arbena"));
    }

    #[test]
    fn extract_dates_and_codes_read_loosely() {
        assert_eq!(
            loose_birth("19910412"),
            Some(Birth::Full {
                year: 1991,
                month: 4,
                day: 12
            })
        );
        assert_eq!(loose_birth("1991-04-12"), loose_birth("19910412"));
        assert_eq!(loose_birth("1991"), Some(Birth::Year(1991)));
        assert_eq!(loose_birth("19910231"), Some(Birth::Year(1991)));
        assert_eq!(loose_birth(""), None);
        assert_eq!(loose_birth("abc"), None);
        assert_eq!(
            (loose_sex("F"), loose_sex("1"), loose_sex("")),
            (Some(2), Some(1), None)
        );
        assert_eq!(
            loose_personal_number("12 345 678 90").as_deref(),
            Some("1234567890")
        );
        assert_eq!(loose_personal_number("123"), None);
    }
}
