//! Normalisation of identifying attributes before pseudonymisation.
//!
//! Every pseudonym in the registry is a keyed MAC over a *canonical* string, so
//! two records of the same person only link if their attributes normalise to
//! byte-identical strings. This module turns the raw attributes that arrive
//! from treatment centres (personal number, first/last name, date of birth,
//! sex) into those canonical strings.
//!
//! Kosovo-specific rules:
//!
//! * Names arrive in Albanian (`ë`, `ç`), Serbian Latin (`č ć š ž đ dž lj nj`)
//!   and Serbian Cyrillic. Cyrillic is transliterated to Serbian Latin first,
//!   then everything is folded to ASCII lowercase, so `Đorđević`,
//!   `Djordjevic`, `Ђорђевић` and `DJORDJEVIC` all become `djordjevic`.
//! * Paperwork often writes the surname first. The name key therefore ignores
//!   which field a token came from (see [`normalise_full_name`]).
//! * Double names (`Mary-Jane`, `Ana Maria`) become separate tokens.
//!
//! Privacy: every value handled here is personal data. No error message and no
//! `Debug` output of this module contains an input value; errors only name the
//! field and the rule that was broken.
//!
//! The module uses no Unicode library on purpose: it sits in front of the pseudonym
//! MAC and must be deterministic across builds and platforms, so it avoids Unicode
//! normalisation tables whose behaviour could shift with a dependency update (dates
//! are checked against the proleptic Gregorian calendar of `time`, which cannot).

use std::fmt;

use crate::clock::{self, Date, DateProblem, digits as parse_digits, parse_iso_date};

/// Maximum accepted length of one name field, in Unicode scalar values.
///
/// Longer inputs are almost certainly data-entry errors (a whole address
/// pasted into the name field) and are refused rather than truncated, because
/// truncation would silently create a different identity.
pub const MAX_NAME_CHARS: usize = 100;

/// Earliest accepted year of birth.
pub const MIN_BIRTH_YEAR: u16 = 1900;

/// Version tag prefixed to every key string.
///
/// If the normalisation rules ever change, the tag changes too, so keys built
/// under the old rules can never be confused with keys built under the new.
pub const KEY_VERSION: &str = "v1";

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why an identifying attribute was rejected.
///
/// Each variant carries the name of the offending field and, where relevant,
/// a fixed human-readable description of the rule that was broken. The
/// description is deliberately `&'static str` rather than `String`: that makes
/// it impossible to `format!` the (personal) input value into an error, so
/// errors can be logged and returned to clients safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityError {
    /// The field was empty or contained only whitespace.
    Missing {
        /// Name of the field, e.g. `"first_name"`.
        field: &'static str,
    },
    /// The field was present but broke a validation rule.
    Invalid {
        /// Name of the field, e.g. `"personal_number"`.
        field: &'static str,
        /// Which rule was broken, e.g. `"must be exactly 10 digits"`.
        problem: &'static str,
    },
}

impl IdentityError {
    /// Name of the field this error refers to.
    #[must_use]
    pub fn field(&self) -> &'static str {
        match self {
            IdentityError::Missing { field } | IdentityError::Invalid { field, .. } => field,
        }
    }
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityError::Missing { field } => write!(f, "{field}: is required"),
            IdentityError::Invalid { field, problem } => write!(f, "{field}: {problem}"),
        }
    }
}

impl std::error::Error for IdentityError {}

// Field names used in errors. Kept as constants so API error responses and
// tests agree on the spelling.
const F_PERSONAL_NUMBER: &str = "personal_number";
const F_FIRST_NAME: &str = "first_name";
const F_LAST_NAME: &str = "last_name";
const F_BIRTH_DATE: &str = "birth_date";
const F_SEX: &str = "sex";

// ---------------------------------------------------------------------------
// Personal number
// ---------------------------------------------------------------------------

/// A syntactically valid Kosovo personal number (*numri personal*): exactly
/// ten ASCII digits.
///
/// No check digit is verified: the checksum scheme is not publicly specified,
/// and guessing one would reject genuine numbers. Only the shape is checked.
///
/// `Debug` is redacted (`PersonalNumber(**********)`) and there is no
/// `Display`, so the number cannot end up in logs by accident; use
/// [`PersonalNumber::as_str`] where the digits are genuinely needed (the
/// pseudonym MAC).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonalNumber(String);

impl PersonalNumber {
    /// Parses a personal number.
    ///
    /// Surrounding whitespace is trimmed and inner whitespace removed (numbers
    /// are often typed in groups, `12 345 678 90`). Anything else — letters,
    /// hyphens, fewer or more than ten digits, all zeros — is rejected.
    ///
    /// # Errors
    ///
    /// [`IdentityError::Missing`] for blank input, otherwise
    /// [`IdentityError::Invalid`] with field `personal_number`.
    pub fn parse(input: &str) -> Result<PersonalNumber, IdentityError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(IdentityError::Missing {
                field: F_PERSONAL_NUMBER,
            });
        }
        // Cheap guard before allocating: ten digits plus generous spacing can
        // never be this long, so huge inputs are refused without copying.
        if trimmed.len() > 64 {
            return Err(IdentityError::Invalid {
                field: F_PERSONAL_NUMBER,
                problem: "must be exactly 10 digits",
            });
        }
        let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
        if !compact.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdentityError::Invalid {
                field: F_PERSONAL_NUMBER,
                problem: "must contain only digits",
            });
        }
        if compact.len() != 10 {
            return Err(IdentityError::Invalid {
                field: F_PERSONAL_NUMBER,
                problem: "must be exactly 10 digits",
            });
        }
        // "0000000000" is a common placeholder for "unknown" in source
        // systems; accepting it would link every unknown person together.
        if compact.bytes().all(|b| b == b'0') {
            return Err(IdentityError::Invalid {
                field: F_PERSONAL_NUMBER,
                problem: "must not be all zeros",
            });
        }
        Ok(PersonalNumber(compact))
    }

    /// What the personal-number pseudonym is computed over.
    #[must_use]
    pub fn lookup_key(&self) -> String {
        format!("{KEY_VERSION}|pn={}", self.as_str())
    }

    /// The ten digits, without spaces.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PersonalNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the digits: a personal number is a direct identifier.
        f.write_str("PersonalNumber(**********)")
    }
}

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

/// Transliterates Serbian Cyrillic to Serbian Latin (Vuk Karadžić ↔
/// Gaj correspondence); every other character passes through unchanged.
///
/// Uppercase digraph letters become title-case digraphs (`Љ` → `Lj`,
/// `Џ` → `Dž`), which is what Serbian Latin orthography uses at the start of a
/// word. Case does not matter for [`fold_name`], which lowercases anyway.
///
/// Because this runs before folding, names typed with a stray Cyrillic
/// look-alike letter (`А` instead of `A`, a keyboard-layout slip) still fold
/// to the same string as the all-Latin spelling.
#[must_use]
pub fn transliterate_serbian_cyrillic(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        match cyrillic_to_latin(c) {
            Some(latin) => out.push_str(latin),
            None => out.push(c),
        }
    }
    out
}

// The 30 letters of the Serbian Cyrillic alphabet, upper and lower case.
// Non-Serbian Cyrillic letters (Russian `Я`, Macedonian `Ќ`, …) are left
// untouched and are later dropped by `fold_name`; we do not guess a
// transliteration for alphabets the registry does not expect.
fn cyrillic_to_latin(c: char) -> Option<&'static str> {
    let s = match c {
        'А' => "A",
        'Б' => "B",
        'В' => "V",
        'Г' => "G",
        'Д' => "D",
        'Ђ' => "Đ",
        'Е' => "E",
        'Ж' => "Ž",
        'З' => "Z",
        'И' => "I",
        'Ј' => "J",
        'К' => "K",
        'Л' => "L",
        'Љ' => "Lj",
        'М' => "M",
        'Н' => "N",
        'Њ' => "Nj",
        'О' => "O",
        'П' => "P",
        'Р' => "R",
        'С' => "S",
        'Т' => "T",
        'Ћ' => "Ć",
        'У' => "U",
        'Ф' => "F",
        'Х' => "H",
        'Ц' => "C",
        'Ч' => "Č",
        'Џ' => "Dž",
        'Ш' => "Š",
        'а' => "a",
        'б' => "b",
        'в' => "v",
        'г' => "g",
        'д' => "d",
        'ђ' => "đ",
        'е' => "e",
        'ж' => "ž",
        'з' => "z",
        'и' => "i",
        'ј' => "j",
        'к' => "k",
        'л' => "l",
        'љ' => "lj",
        'м' => "m",
        'н' => "n",
        'њ' => "nj",
        'о' => "o",
        'п' => "p",
        'р' => "r",
        'с' => "s",
        'т' => "t",
        'ћ' => "ć",
        'у' => "u",
        'ф' => "f",
        'х' => "h",
        'ц' => "c",
        'ч' => "č",
        'џ' => "dž",
        'ш' => "š",
        _ => return None,
    };
    Some(s)
}

// Folds one *lowercase* non-ASCII Latin letter to ASCII. Returns `None` for
// anything that is not a known letter; the caller drops it.
fn fold_latin_lower(c: char) -> Option<&'static str> {
    let s = match c {
        // Albanian `ë` and `ç` are the letters most often lost or added when a
        // name passes through an ASCII-only system; Serbian `č ć š ž` likewise.
        // Each output letter has a single arm, so the full set that folds to
        // it is visible in one place.
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'ç' | 'č' | 'ć' | 'ĉ' | 'ċ' => "c",
        'ď' => "d",
        // `đ` becomes "dj" because that is the conventional ASCII spelling
        // ("Djordjevic"), so both spellings meet. `ð` (Icelandic eth) and `ɖ`
        // (African D) are frequent typing substitutes for `đ`/`Đ`.
        'đ' | 'ð' | 'ɖ' => "dj",
        // Single-code-point digraphs (U+01C4..U+01CC), lowercased already.
        // `dž` written as two letters folds to "dz" through `ž` → `z`.
        'ǆ' => "dz",
        'ǉ' => "lj",
        'ǌ' => "nj",
        'ë' | 'é' | 'è' | 'ê' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'ğ' => "g",
        'í' | 'ì' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
        'ł' | 'ľ' | 'ĺ' => "l",
        'ñ' | 'ń' | 'ň' => "n",
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' | 'ō' | 'ő' => "o",
        'ř' | 'ŕ' => "r",
        'š' | 'ś' | 'ş' | 'ș' => "s",
        'ß' => "ss",
        'ť' | 'ţ' | 'ț' => "t",
        'ú' | 'ù' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
        'ý' | 'ÿ' => "y",
        'ž' | 'ź' | 'ż' => "z",
        _ => return None,
    };
    Some(s)
}

// Characters that separate name parts. Typographic variants are included
// because names are often pasted from word processors.
fn is_name_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '\u{2010}' // hyphen
                | '\u{2011}' // non-breaking hyphen
                | '\u{2012}' // figure dash
                | '\u{2013}' // en dash
                | '\u{2014}' // em dash
                | '\'' // apostrophe
                | '\u{2018}' // left single quotation mark
                | '\u{2019}' // right single quotation mark (typographic apostrophe)
                | '\u{02BC}' // modifier letter apostrophe
                | '`'
                | '\u{00B4}' // acute accent used as apostrophe
                | '.'
        )
}

/// Folds a name to its canonical comparison form.
///
/// Steps, in order:
///
/// 1. Serbian Cyrillic is transliterated to Serbian Latin
///    ([`transliterate_serbian_cyrillic`]).
/// 2. Letters are folded to ASCII lowercase: `ë`→`e`, `ç č ć`→`c`, `š`→`s`,
///    `ž`→`z`, `đ`→`dj` (so `dž`→`dz`, while `lj`, `nj`, `dj`, `dz` stay as
///    they are), and common Latin diacritics lose their accent.
/// 3. Hyphens, apostrophes, dots and runs of whitespace become one space;
///    leading and trailing spaces are removed.
/// 4. Everything else (digits, other punctuation, combining marks, letters of
///    unsupported scripts) is dropped.
///
/// The result contains only `a`–`z` and single spaces, and may be empty.
/// Folding is idempotent: `fold_name(&fold_name(x)) == fold_name(x)`.
///
/// Trade-off: folding deliberately merges spellings that differ only in
/// diacritics (`Ćosić` = `Čosić` = `Cosic`). That loses a little
/// discriminating power but matches how the same name is actually written
/// across Albanian, Serbian and ASCII-only systems.
#[must_use]
pub fn fold_name(input: &str) -> String {
    let latin = transliterate_serbian_cyrillic(input);
    let mut out = String::with_capacity(latin.len());
    // A separator only produces a space once a later letter arrives, which
    // collapses runs of separators and trims both ends in one pass.
    let mut pending_space = false;
    for c in latin.chars() {
        if is_name_separator(c) {
            pending_space = true;
            continue;
        }
        // `to_lowercase` handles the uppercase forms of every letter in the
        // table (`Ë`, `Đ`, `Ǆ`, …) without listing them twice. It can yield
        // several chars (`İ` → `i` + combining dot); the extras are dropped.
        for lower in c.to_lowercase() {
            // ASCII letters are their own canonical form; encoding into a
            // stack buffer avoids a per-char allocation.
            let mut buf = [0u8; 4];
            let piece: Option<&str> = if lower.is_ascii_lowercase() {
                Some(lower.encode_utf8(&mut buf))
            } else {
                fold_latin_lower(lower)
            };
            if let Some(piece) = piece {
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                pending_space = false;
                out.push_str(piece);
            }
        }
    }
    out
}

/// A full name in canonical, order-independent form.
///
/// `tokens` holds the folded name parts of first and last name together,
/// sorted alphabetically (duplicates kept). `Debug` is redacted because the
/// tokens are personal data.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NormalisedName {
    /// Folded name parts (only `a`–`z`), sorted alphabetically.
    pub tokens: Vec<String>,
}

impl NormalisedName {
    /// The canonical name key: all tokens sorted and joined by single spaces,
    /// e.g. `"ardita gashi"`.
    ///
    /// The tokens are re-folded and re-sorted here, so the result is
    /// guaranteed to contain only `a`–`z` and single spaces even if the
    /// struct was built by hand rather than by [`normalise_full_name`]. That
    /// guarantee is what keeps [`NormalisedIdentity::attribute_key`]
    /// unambiguous.
    #[must_use]
    pub fn canonical(&self) -> String {
        let mut parts: Vec<String> = self
            .tokens
            .iter()
            .flat_map(|t| {
                fold_name(t)
                    .split(' ')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        parts.sort();
        parts.join(" ")
    }
}

impl fmt::Debug for NormalisedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names are personal data: show only how many tokens there are.
        write!(
            f,
            "NormalisedName {{ tokens: <{} redacted> }}",
            self.tokens.len()
        )
    }
}

// Validates one raw name field and returns its folded tokens.
fn name_tokens(input: &str, field: &'static str) -> Result<Vec<String>, IdentityError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(IdentityError::Missing { field });
    }
    // A char is at most 4 bytes, so more than 4 * MAX bytes is certainly too
    // long; checking bytes first avoids walking huge inputs.
    if trimmed.len() > 4 * MAX_NAME_CHARS || trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(IdentityError::Invalid {
            field,
            problem: "must be at most 100 characters",
        });
    }
    let folded = fold_name(trimmed);
    if folded.is_empty() {
        return Err(IdentityError::Invalid {
            field,
            problem: "must contain at least one letter",
        });
    }
    Ok(folded.split(' ').map(str::to_owned).collect())
}

/// Normalises a first and last name into an order-independent name key.
///
/// **Name-order rule (explicit):** the canonical key is *all* tokens of the
/// folded first and last name, sorted alphabetically and joined by single
/// spaces. Which field a token came from is discarded.
///
/// Why: in Kosovo paperwork the surname is often written first, or the two
/// fields are swapped on data entry, so `("Ardita", "Gashi")` and
/// `("Gashi", "Ardita")` must produce the same key. Sorting also makes
/// double names robust to being split differently across the fields
/// (`"Ana Maria" + "Krasniqi"` = `"Ana" + "Maria Krasniqi"`).
///
/// Trade-off: two different people called "Ardita Gashi" and "Gashi Ardita"
/// (first/last genuinely reversed) get the same name key. That is rare, and
/// the attribute key also contains date of birth and sex, which still keep
/// such people apart in almost all cases; the residual risk is accepted in
/// exchange for not splitting one person into two records.
///
/// Errors are field-specific (`first_name` / `last_name`): a field that contains
/// no letters after folding (e.g. `"123"`) or is longer than [`MAX_NAME_CHARS`]
/// characters is rejected. One blank field is a partial identity and is accepted;
/// both blank are not.
///
/// # Errors
///
/// [`IdentityError::Missing`] or [`IdentityError::Invalid`] with field
/// `first_name` or `last_name` (the first field checked is `first_name`).
pub fn normalise_full_name(first: &str, last: &str) -> Result<NormalisedName, IdentityError> {
    // A partial identity (one name not known) is accepted: it links with what it
    // has (issue 16). Both missing is not an identity.
    let blank = |s: &str| s.trim().is_empty();
    if blank(first) && blank(last) {
        return Err(IdentityError::Missing {
            field: F_FIRST_NAME,
        });
    }
    let mut tokens = if blank(first) {
        Vec::new()
    } else {
        name_tokens(first, F_FIRST_NAME)?
    };
    if !blank(last) {
        tokens.extend(name_tokens(last, F_LAST_NAME)?);
    }
    tokens.sort();
    Ok(NormalisedName { tokens })
}

// ---------------------------------------------------------------------------
// Sex
// ---------------------------------------------------------------------------

/// Sex as coded in the EMCDDA Treatment Demand Indicator (TDI) protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    /// TDI code `1`.
    Male,
    /// TDI code `2`.
    Female,
    /// TDI code `99` (not known / not recorded).
    Unknown,
}

impl Sex {
    /// Parses a TDI sex code: `"1"`, `"2"` or `"99"`.
    ///
    /// Surrounding whitespace is ignored (CSV exports pad fields); anything
    /// else, including `"01"`, `"M"` or `"0"`, is rejected so that a mapping
    /// mistake in a source system surfaces instead of becoming "unknown".
    ///
    /// # Errors
    ///
    /// [`IdentityError::Missing`] for blank input, otherwise
    /// [`IdentityError::Invalid`] with field `sex`.
    pub fn parse(code: &str) -> Result<Sex, IdentityError> {
        match code.trim() {
            "1" => Ok(Sex::Male),
            "2" => Ok(Sex::Female),
            "99" => Ok(Sex::Unknown),
            "" => Err(IdentityError::Missing { field: F_SEX }),
            _ => Err(IdentityError::Invalid {
                field: F_SEX,
                problem: "must be TDI code 1, 2 or 99",
            }),
        }
    }

    /// The TDI code: `"1"`, `"2"` or `"99"`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Sex::Male => "1",
            Sex::Female => "2",
            Sex::Unknown => "99",
        }
    }
}

// ---------------------------------------------------------------------------
// Date of birth
// ---------------------------------------------------------------------------

/// A date of birth, either complete or known only to the year.
///
/// Year-only dates are kept distinct from full dates (never padded to
/// `YYYY-01-01`), because padding would make a guessed date look exact and
/// link it to someone genuinely born on 1 January. `Debug` is redacted.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum BirthDate {
    /// A complete, valid calendar date, its year at least [`MIN_BIRTH_YEAR`].
    Full(Date),
    /// Only the year is known.
    YearOnly {
        /// Four-digit year, at least [`MIN_BIRTH_YEAR`].
        year: u16,
    },
}

impl BirthDate {
    /// Parses `"YYYY-MM-DD"` (a real calendar date, leap years included) or
    /// `"YYYY"` (year only).
    ///
    /// `today` is passed in rather than read from
    /// the clock so that parsing is deterministic and testable. Dates after
    /// `today` and years before [`MIN_BIRTH_YEAR`] are rejected. Surrounding
    /// whitespace is ignored; no other format is accepted.
    ///
    /// # Errors
    ///
    /// [`IdentityError::Missing`] for blank input, otherwise
    /// [`IdentityError::Invalid`] with field `birth_date` for a bad format, an
    /// impossible date, a year before 1900 or a date after `today`.
    pub fn parse(input: &str, today: Date) -> Result<BirthDate, IdentityError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(IdentityError::Missing {
                field: F_BIRTH_DATE,
            });
        }
        let bad_format = IdentityError::Invalid {
            field: F_BIRTH_DATE,
            problem: "must be YYYY-MM-DD or YYYY",
        };
        // Slice patterns pin the exact shape (4 bytes, or 4-2-2 with dashes)
        // without any indexing that could panic; digits are checked by
        // `parse_digits`, which also rejects non-ASCII bytes.
        // Four ASCII digits are a year; anything else must be a full date.
        let date = match s.as_bytes() {
            [y0, y1, y2, y3] => {
                let year = parse_digits(&[*y0, *y1, *y2, *y3]).ok_or(bad_format)?;
                BirthDate::YearOnly { year }
            }
            _ => match parse_iso_date(s) {
                Ok(date) => BirthDate::Full(date),
                Err(DateProblem::BadFormat) => return Err(bad_format),
                Err(DateProblem::NotADate) => {
                    return Err(IdentityError::Invalid {
                        field: F_BIRTH_DATE,
                        problem: "is not a valid calendar date",
                    });
                }
            },
        };
        if date.year() < MIN_BIRTH_YEAR {
            return Err(IdentityError::Invalid {
                field: F_BIRTH_DATE,
                problem: "year must be 1900 or later",
            });
        }
        let in_future = match date {
            BirthDate::Full(date) => date > today,
            BirthDate::YearOnly { year } => year > clock::year(today),
        };
        if in_future {
            return Err(IdentityError::Invalid {
                field: F_BIRTH_DATE,
                problem: "must not be in the future",
            });
        }
        Ok(date)
    }

    /// The year of birth (present in both forms).
    #[must_use]
    pub fn year(&self) -> u16 {
        match self {
            BirthDate::Full(date) => clock::year(*date),
            BirthDate::YearOnly { year } => *year,
        }
    }

    /// Whether only the year is known.
    #[must_use]
    pub fn is_year_only(&self) -> bool {
        matches!(self, BirthDate::YearOnly { .. })
    }

    /// Canonical text form: `"1990-04-07"` for a full date, `"1990"` for a
    /// year-only date. The two forms can never be equal, so a year-only
    /// record never exactly matches a full-date record.
    #[must_use]
    pub fn canonical(&self) -> String {
        match self {
            BirthDate::Full(date) => format!(
                "{:04}-{:02}-{:02}",
                date.year(),
                u8::from(date.month()),
                date.day()
            ),
            BirthDate::YearOnly { year } => format!("{year:04}"),
        }
    }
}

impl fmt::Debug for BirthDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A date of birth is personal data; reveal only its precision.
        match self {
            BirthDate::Full(_) => f.write_str("BirthDate::Full { .. }"),
            BirthDate::YearOnly { .. } => f.write_str("BirthDate::YearOnly { .. }"),
        }
    }
}

// ---------------------------------------------------------------------------
// Whole identity
// ---------------------------------------------------------------------------

/// All identifying attributes of one person, normalised.
///
/// This is the input to pseudonymisation: [`attribute_key`] and
/// [`personal_number_key`] produce the strings that get keyed-hashed. `Debug` prints
/// only `NormalisedIdentity { .. }`.
///
/// [`attribute_key`]: NormalisedIdentity::attribute_key
/// [`personal_number_key`]: NormalisedIdentity::personal_number_key
#[derive(Clone, PartialEq, Eq)]
pub struct NormalisedIdentity {
    /// Kosovo personal number, if the client has (and disclosed) one.
    pub personal_number: Option<PersonalNumber>,
    /// Order-independent normalised full name.
    pub name: NormalisedName,
    /// Date of birth (full or year only).
    pub birth: BirthDate,
    /// TDI sex code.
    pub sex: Sex,
}

impl NormalisedIdentity {
    /// Validates and normalises raw attributes in one step.
    ///
    /// `personal_number` of `None`, or `Some` of a blank string (an empty CSV
    /// column), means "no personal number". The first failing field is
    /// reported.
    ///
    /// # Errors
    ///
    /// The first [`IdentityError`] from [`PersonalNumber::parse`],
    /// [`normalise_full_name`], [`BirthDate::parse`] or [`Sex::parse`], in
    /// that order.
    pub fn from_raw(
        personal_number: Option<&str>,
        first_name: &str,
        last_name: &str,
        birth_date: &str,
        sex_code: &str,
        today: Date,
    ) -> Result<NormalisedIdentity, IdentityError> {
        let personal_number = match personal_number {
            Some(pn) if !pn.trim().is_empty() => Some(PersonalNumber::parse(pn)?),
            _ => None,
        };
        Ok(NormalisedIdentity {
            personal_number,
            name: normalise_full_name(first_name, last_name)?,
            birth: BirthDate::parse(birth_date, today)?,
            sex: Sex::parse(sex_code)?,
        })
    }

    /// Canonical encoding of the full attribute set, input to the attribute
    /// pseudonym: `v1|name=<canonical name>|dob=<canonical date>|sex=<code>`,
    /// e.g. `v1|name=ardita gashi|dob=1990-04-07|sex=2`.
    ///
    /// Unambiguous because no component can contain `|` or `=`: the name is
    /// only `a`–`z` and spaces, the date only digits and `-`, the sex code only
    /// digits. The fixed field order and the version prefix make the encoding
    /// injective for a given rule version.
    #[must_use]
    pub fn attribute_key(&self) -> String {
        format!(
            "{KEY_VERSION}|name={}|dob={}|sex={}",
            self.name.canonical(),
            self.birth.canonical(),
            self.sex.code()
        )
    }

    /// Canonical encoding of the personal number, input to the
    /// personal-number pseudonym: `v1|pn=<10 digits>`. `None` when the
    /// identity has no personal number.
    #[must_use]
    pub fn personal_number_key(&self) -> Option<String> {
        self.personal_number
            .as_ref()
            .map(PersonalNumber::lookup_key)
    }
}

impl fmt::Debug for NormalisedIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every field is personal data; print nothing of it.
        f.write_str("NormalisedIdentity { .. }")
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: Date = time::macros::date!(2025 - 06 - 15);

    fn key(first: &str, last: &str) -> String {
        match normalise_full_name(first, last) {
            Ok(n) => n.canonical(),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    // --- fold_name -------------------------------------------------------

    #[test]
    fn djordjevic_all_spellings_fold_equal() {
        for s in [
            "Đorđević",
            "Djordjevic",
            "Ђорђевић",
            "DJORDJEVIC",
            "djordjević",
            "ĐORĐEVIĆ",
            "ЂОРЂЕВИЋ",
        ] {
            assert_eq!(fold_name(s), "djordjevic", "input {s}");
        }
    }

    #[test]
    fn albanian_letters_fold() {
        assert_eq!(fold_name("Çeku"), fold_name("Ceku"));
        assert_eq!(fold_name("Çeku"), "ceku");
        assert_eq!(fold_name("Hoxhë"), fold_name("Hoxhe"));
        assert_eq!(fold_name("HOXHË"), "hoxhe");
        assert_eq!(fold_name("Bërisha"), "berisha");
    }

    #[test]
    fn serbian_latin_letters_fold() {
        assert_eq!(fold_name("Šćepanović"), fold_name("Scepanovic"));
        assert_eq!(fold_name("Šćepanović"), "scepanovic");
        assert_eq!(fold_name("Žarko Čolić"), "zarko colic");
    }

    #[test]
    fn cyrillic_digraphs_transliterate() {
        assert_eq!(fold_name("Љиљана"), fold_name("Ljiljana"));
        assert_eq!(fold_name("Љиљана"), "ljiljana");
        assert_eq!(fold_name("Њего"), fold_name("Njego"));
        assert_eq!(fold_name("Њего"), "njego");
        assert_eq!(fold_name("Џиновић"), fold_name("Dzinovic"));
        assert_eq!(fold_name("Џиновић"), "dzinovic");
        assert_eq!(fold_name("ЉИЉАНА"), "ljiljana");
    }

    #[test]
    fn transliteration_keeps_serbian_latin_letters() {
        assert_eq!(transliterate_serbian_cyrillic("Ђорђевић"), "Đorđević");
        assert_eq!(transliterate_serbian_cyrillic("Џиновић"), "Džinović");
        assert_eq!(transliterate_serbian_cyrillic("Gashi"), "Gashi");
    }

    #[test]
    fn dz_with_caron_becomes_dz_and_plain_dz_stays() {
        assert_eq!(fold_name("Džemail"), "dzemail");
        assert_eq!(fold_name("DŽEMAIL"), "dzemail");
        assert_eq!(fold_name("Dzemail"), "dzemail");
        // Single-code-point digraph letters.
        assert_eq!(fold_name("ǅemail"), "dzemail");
        assert_eq!(fold_name("ǈubica ǋegoš"), "ljubica njegos");
    }

    #[test]
    fn lj_nj_stay_digraphs() {
        assert_eq!(fold_name("Ljubica"), "ljubica");
        assert_eq!(fold_name("Njegoš"), "njegos");
    }

    #[test]
    fn eth_substitute_treated_as_dj() {
        assert_eq!(fold_name("ÐorÐević"), "djordjevic");
    }

    #[test]
    fn common_latin_diacritics_fold() {
        assert_eq!(
            fold_name("ÁÀÂÄÃÅ éèêë íìîï óòôöõ úùûü ýñ"),
            "aaaaaa eeee iiii ooooo uuuu yn"
        );
        assert_eq!(fold_name("José Núñez"), "jose nunez");
    }

    #[test]
    fn combining_marks_are_dropped() {
        // Decomposed (NFD) input: base letter followed by a combining mark.
        assert_eq!(fold_name("Hoxhe\u{0308}"), "hoxhe");
        assert_eq!(
            fold_name("S\u{030C}c\u{0301}epanovic\u{0301}"),
            "scepanovic"
        );
    }

    #[test]
    fn separators_collapse_and_trim() {
        assert_eq!(fold_name("Mary-Jane  O'Neil"), "mary jane o neil");
        assert_eq!(fold_name("  --St. John--  "), "st john");
        assert_eq!(fold_name("Anna\t\n Maria"), "anna maria");
        assert_eq!(fold_name("O’Neil"), "o neil");
    }

    #[test]
    fn digits_and_other_punctuation_dropped() {
        assert_eq!(fold_name("Gashi2"), "gashi");
        assert_eq!(fold_name("Ga(shi)!"), "gashi");
        assert_eq!(fold_name("123"), "");
        assert_eq!(fold_name("   "), "");
    }

    #[test]
    fn fold_output_is_only_lowercase_ascii_and_single_spaces() {
        let inputs = [
            "Đorđević-Ђорђевић  O'Neil 42 ß ø İstanbul Я 漢字 ",
            "  ..  ",
            "Ǆ Ǉ Ǌ ǅ ǈ ǋ",
        ];
        for s in inputs {
            let f = fold_name(s);
            assert!(
                f.bytes().all(|b| b.is_ascii_lowercase() || b == b' '),
                "{f:?}"
            );
            assert!(!f.contains("  "), "{f:?}");
            assert_eq!(f, f.trim(), "{f:?}");
            assert_eq!(fold_name(&f), f, "not idempotent for {f:?}");
        }
    }

    #[test]
    fn krasniqi_differs_from_krasniq() {
        assert_ne!(fold_name("Krasniqi"), fold_name("Krasniq"));
        assert_ne!(key("Arben", "Krasniqi"), key("Arben", "Krasniq"));
    }

    // --- normalise_full_name ---------------------------------------------

    #[test]
    fn swapped_first_and_last_name_normalise_equal() {
        assert_eq!(key("Ardita", "Gashi"), key("Gashi", "Ardita"));
        assert_eq!(key("Ardita", "Gashi"), "ardita gashi");
        assert_eq!(
            normalise_full_name("Gashi", "Ardita").ok(),
            normalise_full_name("Ardita", "Gashi").ok()
        );
    }

    #[test]
    fn double_names_split_into_tokens() {
        let n = normalise_full_name("Mary-Jane", "O'Neil").ok();
        let tokens = n.map(|n| n.tokens);
        assert_eq!(
            tokens,
            Some(vec![
                "jane".to_owned(),
                "mary".to_owned(),
                "neil".to_owned(),
                "o".to_owned()
            ])
        );
        assert_eq!(key("Mary-Jane  ", "O'Neil"), "jane mary neil o");
        // Double name split differently across fields still matches.
        assert_eq!(key("Ana Maria", "Krasniqi"), key("Ana", "Maria Krasniqi"));
    }

    #[test]
    fn cross_script_full_names_match() {
        assert_eq!(key("Љиљана", "Ђорђевић"), key("Djordjevic", "LJILJANA"));
    }

    #[test]
    fn empty_or_letterless_names_rejected_per_field() {
        assert_eq!(
            normalise_full_name("123", "Gashi"),
            Err(IdentityError::Invalid {
                field: "first_name",
                problem: "must contain at least one letter"
            })
        );
        assert_eq!(
            normalise_full_name("  ", " "),
            Err(IdentityError::Missing {
                field: "first_name"
            })
        );
        // One name not known: a partial identity, accepted.
        assert_eq!(key("Ardita", "  "), "ardita");
        assert_eq!(key("", "Gashi"), "gashi");
        assert_eq!(
            normalise_full_name("Ardita", "--.."),
            Err(IdentityError::Invalid {
                field: "last_name",
                problem: "must contain at least one letter"
            })
        );
    }

    #[test]
    fn overlong_names_rejected() {
        let ok = "a".repeat(100);
        let long = "a".repeat(101);
        let long_multibyte = "ë".repeat(101);
        assert!(normalise_full_name(&ok, "Gashi").is_ok());
        assert_eq!(
            normalise_full_name(&long, "Gashi").map_err(|e| e.field()),
            Err("first_name")
        );
        assert_eq!(
            normalise_full_name("Ardita", &long_multibyte).map_err(|e| e.field()),
            Err("last_name")
        );
        assert!(normalise_full_name("Ardita", &"x".repeat(1_000_000)).is_err());
    }

    #[test]
    fn canonical_is_robust_to_hand_built_tokens() {
        let n = NormalisedName {
            tokens: vec!["Gashi|x=1".to_owned(), "Ardita Beqa".to_owned()],
        };
        assert_eq!(n.canonical(), "ardita beqa gashix");
    }

    // --- personal number -------------------------------------------------

    #[test]
    fn personal_number_valid() {
        let pn = PersonalNumber::parse("1234567890");
        assert_eq!(pn.as_ref().map(PersonalNumber::as_str), Ok("1234567890"));
        let spaced = PersonalNumber::parse("  12 345 678 90 ");
        assert_eq!(
            spaced.as_ref().map(PersonalNumber::as_str),
            Ok("1234567890")
        );
        assert_eq!(pn, spaced);
        assert!(PersonalNumber::parse("0000000001").is_ok());
    }

    #[test]
    fn personal_number_invalid() {
        let cases = [
            ("123456789", "must be exactly 10 digits"),
            ("12345678901", "must be exactly 10 digits"),
            ("12345A7890", "must contain only digits"),
            ("12345-67890", "must contain only digits"),
            ("１２３４５６７８９０", "must contain only digits"), // full-width digits
            ("0000000000", "must not be all zeros"),
            ("00000 00000", "must not be all zeros"),
        ];
        for (input, problem) in cases {
            assert_eq!(
                PersonalNumber::parse(input),
                Err(IdentityError::Invalid {
                    field: "personal_number",
                    problem
                }),
                "case {problem}"
            );
        }
        assert_eq!(
            PersonalNumber::parse("   "),
            Err(IdentityError::Missing {
                field: "personal_number"
            })
        );
        assert!(PersonalNumber::parse(&"1".repeat(10_000)).is_err());
    }

    #[test]
    fn personal_number_debug_is_redacted() {
        let pn = PersonalNumber::parse("1234567890").ok();
        let dbg = format!("{pn:?}");
        assert_eq!(dbg, "Some(PersonalNumber(**********))");
        assert!(!dbg.contains("1234"));
    }

    // --- sex -------------------------------------------------------------

    #[test]
    fn sex_codes() {
        assert_eq!(Sex::parse("1"), Ok(Sex::Male));
        assert_eq!(Sex::parse("2"), Ok(Sex::Female));
        assert_eq!(Sex::parse(" 99 "), Ok(Sex::Unknown));
        for s in [Sex::Male, Sex::Female, Sex::Unknown] {
            assert_eq!(Sex::parse(s.code()), Ok(s));
        }
        for bad in ["0", "3", "01", "9", "M", "F", "male"] {
            assert_eq!(Sex::parse(bad).map_err(|e| e.field()), Err("sex"), "{bad}");
        }
        assert_eq!(Sex::parse(""), Err(IdentityError::Missing { field: "sex" }));
    }

    // --- birth date ------------------------------------------------------

    #[test]
    fn birth_date_leap_years() {
        let d = BirthDate::parse("2000-02-29", TODAY);
        assert_eq!(d, Ok(BirthDate::Full(time::macros::date!(2000 - 02 - 29))));
        assert!(BirthDate::parse("1996-02-29", TODAY).is_ok());
        let invalid = Err(IdentityError::Invalid {
            field: "birth_date",
            problem: "is not a valid calendar date",
        });
        assert_eq!(BirthDate::parse("1999-02-29", TODAY), invalid);
        assert_eq!(BirthDate::parse("1900-02-29", TODAY), invalid);
        assert_eq!(BirthDate::parse("1990-04-31", TODAY), invalid);
        assert_eq!(BirthDate::parse("1990-13-01", TODAY), invalid);
        assert_eq!(BirthDate::parse("1990-00-10", TODAY), invalid);
        assert_eq!(BirthDate::parse("1990-01-00", TODAY), invalid);
    }

    #[test]
    fn birth_date_year_only() {
        let d = BirthDate::parse("1990", TODAY);
        assert_eq!(d, Ok(BirthDate::YearOnly { year: 1990 }));
        let d = d.ok();
        assert_eq!(d.map(|d| d.is_year_only()), Some(true));
        assert_eq!(d.map(|d| d.year()), Some(1990));
        assert_eq!(d.map(|d| d.canonical()), Some("1990".to_owned()));
        let full = BirthDate::parse(" 1990-04-07 ", TODAY).ok();
        assert_eq!(full.map(|d| d.is_year_only()), Some(false));
        assert_eq!(full.map(|d| d.year()), Some(1990));
        assert_eq!(full.map(|d| d.canonical()), Some("1990-04-07".to_owned()));
    }

    #[test]
    fn birth_date_future_and_too_old_rejected() {
        let future = Err(IdentityError::Invalid {
            field: "birth_date",
            problem: "must not be in the future",
        });
        assert_eq!(BirthDate::parse("2025-06-16", TODAY), future);
        assert_eq!(BirthDate::parse("2026", TODAY), future);
        assert!(BirthDate::parse("2025-06-15", TODAY).is_ok());
        assert!(BirthDate::parse("2025", TODAY).is_ok());
        let old = Err(IdentityError::Invalid {
            field: "birth_date",
            problem: "year must be 1900 or later",
        });
        assert_eq!(BirthDate::parse("1899-12-31", TODAY), old);
        assert_eq!(BirthDate::parse("1899", TODAY), old);
        assert!(BirthDate::parse("1900-01-01", TODAY).is_ok());
    }

    #[test]
    fn birth_date_bad_formats_rejected() {
        for bad in [
            "07.04.1990",
            "1990/04/07",
            "1990-4-7",
            "90",
            "19900",
            "1990-04-07T00:00",
            "+990-04-07",
            "199a",
            "१९९०", // Devanagari digits
        ] {
            assert_eq!(
                BirthDate::parse(bad, TODAY),
                Err(IdentityError::Invalid {
                    field: "birth_date",
                    problem: "must be YYYY-MM-DD or YYYY"
                }),
                "{bad}"
            );
        }
        assert_eq!(
            BirthDate::parse(" ", TODAY),
            Err(IdentityError::Missing {
                field: "birth_date"
            })
        );
    }

    // --- errors never echo input -----------------------------------------

    #[test]
    fn error_messages_do_not_contain_input() {
        let cases: Vec<(&str, Result<(), IdentityError>)> = vec![
            ("12345", PersonalNumber::parse("12345").map(drop)),
            ("98765X4321", PersonalNumber::parse("98765X4321").map(drop)),
            (
                "1999-02-29",
                BirthDate::parse("1999-02-29", TODAY).map(drop),
            ),
            (
                "2031-01-01",
                BirthDate::parse("2031-01-01", TODAY).map(drop),
            ),
            (
                "31/12/1980",
                BirthDate::parse("31/12/1980", TODAY).map(drop),
            ),
            ("1850", BirthDate::parse("1850", TODAY).map(drop)),
            ("77", Sex::parse("77").map(drop)),
            ("4242", normalise_full_name("4242", "Gashi").map(drop)),
            (
                "Zzyzxqwerty",
                normalise_full_name("Ardita", &format!("Zzyzxqwerty{}", "a".repeat(100))).map(drop),
            ),
        ];
        for (input, result) in cases {
            let err = match result {
                Err(e) => e,
                Ok(()) => panic!("expected an error"),
            };
            let shown = err.to_string();
            let debug = format!("{err:?}");
            assert!(!shown.contains(input), "Display leaks input: {shown}");
            assert!(!debug.contains(input), "Debug leaks input: {debug}");
        }
    }

    #[test]
    fn error_display_names_field_and_problem() {
        let e = IdentityError::Invalid {
            field: "personal_number",
            problem: "must be exactly 10 digits",
        };
        assert_eq!(e.to_string(), "personal_number: must be exactly 10 digits");
        assert_eq!(
            IdentityError::Missing { field: "sex" }.to_string(),
            "sex: is required"
        );
        let boxed: Box<dyn std::error::Error> = Box::new(e);
        assert!(boxed.to_string().starts_with("personal_number"));
    }

    // --- whole identity --------------------------------------------------

    fn identity(pn: Option<&str>, first: &str, last: &str) -> NormalisedIdentity {
        match NormalisedIdentity::from_raw(pn, first, last, "1990-04-07", "2", TODAY) {
            Ok(id) => id,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    #[test]
    fn attribute_key_format_and_order_independence() {
        let a = identity(Some("12 345 678 90"), "Ardita", "Gashi");
        let b = identity(None, "GASHI", "Ardita");
        assert_eq!(
            a.attribute_key(),
            "v1|name=ardita gashi|dob=1990-04-07|sex=2"
        );
        assert_eq!(a.attribute_key(), b.attribute_key());
        assert_eq!(a.personal_number_key(), Some("v1|pn=1234567890".to_owned()));
        assert_eq!(b.personal_number_key(), None);
        let blank = identity(Some("   "), "Ardita", "Gashi");
        assert_eq!(blank.personal_number_key(), None);
    }

    #[test]
    fn attribute_key_separates_dob_sex_and_precision() {
        let base = identity(None, "Ardita", "Gashi");
        let mut other = base.clone();
        other.sex = Sex::Unknown;
        assert_ne!(base.attribute_key(), other.attribute_key());
        let mut year_only = base.clone();
        year_only.birth = BirthDate::YearOnly { year: 1990 };
        assert_ne!(base.attribute_key(), year_only.attribute_key());
        assert_eq!(
            year_only.attribute_key(),
            "v1|name=ardita gashi|dob=1990|sex=2"
        );
    }

    #[test]
    fn from_raw_reports_failing_field() {
        let r = NormalisedIdentity::from_raw(Some("123"), "A", "B", "1990", "1", TODAY);
        assert_eq!(r.map_err(|e| e.field()), Err("personal_number"));
        let r = NormalisedIdentity::from_raw(None, "A", "B", "1990", "3", TODAY);
        assert_eq!(r.map_err(|e| e.field()), Err("sex"));
        let r = NormalisedIdentity::from_raw(None, "A", "B", "2999", "1", TODAY);
        assert_eq!(r.map_err(|e| e.field()), Err("birth_date"));
    }

    #[test]
    fn debug_output_is_redacted() {
        let id = identity(Some("1234567890"), "Ardita", "Gashi");
        assert_eq!(format!("{id:?}"), "NormalisedIdentity { .. }");
        let name_dbg = format!("{:?}", id.name);
        assert!(!name_dbg.contains("ardita") && !name_dbg.contains("gashi"));
        let birth_dbg = format!("{:?}", id.birth);
        assert!(!birth_dbg.contains("1990"));
        assert_eq!(birth_dbg, "BirthDate::Full { .. }");
    }
}
