//! A TDI 3.0 treatment episode as a clinician submits it, its validation (every
//! problem at once) and its split into statistical columns stored in clear and
//! sensitive fields stored sealed under the subject's data key.
//!
//! Privacy: the input holds personal and health data. `Debug` of every type here that
//! carries such data is redacted, and no error message contains a submitted value:
//! messages name the field and say what is expected.
//!
//! No I/O: the caller passes today's date and the known municipality slugs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::codes;
use super::items::{Cell, Column, Correctable, FromCsv, episode_items};
use crate::clock::{self, Date, DateProblem};
use crate::field::FieldError;
use crate::identity::normalize::{BirthDate, NormalisedIdentity};
use crate::identity::subject::{self, IdentityInput};

/// Most secondary drugs an episode may list (TDI 3.0).
pub const MAX_SECONDARY_DRUGS: usize = 4;
/// Longest accepted `notes`, in characters (Unicode scalar values).
pub const MAX_NOTES_CHARS: usize = 2000;
/// Earliest accepted year of treatment start.
pub const MIN_START_YEAR: u16 = 1990;
/// Highest accepted age at first use / first injection, in years.
pub const MAX_AGE_FIRST: u16 = 100;
/// Secondary-drug entries checked one by one; a longer list is already rejected for
/// its length, and checking every entry of a huge list would only amplify the
/// response.
const MAX_SECONDARY_CHECKED: usize = 16;

/// Substance code of alcohol (allowed only as a secondary drug).
const ALCOHOL: &str = "8";
/// Route code "inject".
const ROUTE_INJECT: &str = "1";
/// Injecting code "never".
const INJECTING_NEVER: &str = "1";
/// OST status code "never".
const OST_NEVER: &str = "1";
/// Treatment status code "never previously treated".
const NEVER_TREATED: &str = "1";
/// The TDI "not known" code (and, for an age, the CSV's and the API's "not known").
const NOT_KNOWN: &str = "99";
/// An age of 99 means "not known", as in the TDI CSV layout.
const AGE_NOT_KNOWN: u16 = 99;
/// OST status codes "ever, not currently" and "currently".
const OST_EVER: &[&str] = &["2", "3"];

// ---------------------------------------------------------------------------
// The item table
// ---------------------------------------------------------------------------

// One row per item the clinician submits, in TDI order. Adding a TDI item is a row
// here (with its code list in `seeds/tdi_codes.csv` and `codes.rs`, and, for a
// clear item, a migration adding its column); everything else — the input,
// correction, clear and sealed structs, validation in table order, the store's
// columns and binds, the backlog CSV columns — is derived (see `items.rs`).
episode_items! {
    /// TDI municipality of residence: a municipality slug (e.g. `prishtine`).
    municipality: text(known_municipality), clear;
    /// TDI date of treatment start, `YYYY-MM-DD` (not in the future, not before 1990,
    /// not before the date of birth).
    treatment_start_date: text(start_date), sealed;
    /// TDI ever previously treated (list `treatment_status`): `1` never previously
    /// treated, `2` previously treated, `99` not known.
    treatment_status: code("treatment_status"), clear;
    /// TDI source of referral (list `referral_source`): `1` court/probation/police,
    /// `2` general practitioner, `3` other drug centre, `4` other
    /// health/medical/social service, `5` educational services, `6`
    /// self/family/friends, `7` other, `99` not known.
    referral_source: code("referral_source"), clear;
    /// TDI living status, with whom (list `living_with`): `1` alone, `2` family of
    /// origin, `3` partner and/or children, `4` friends/others, `5` detention, `6`
    /// institution/shelter, `7` other, `99` not known.
    living_with: code("living_with"), clear;
    /// TDI living with children (list `living_with_children`): `1` no, `2` yes, `99`
    /// not known.
    living_with_children: code("living_with_children"), clear;
    /// TDI living status, where (list `living_where`): `1` stable, `2`
    /// unstable/homeless, `3` detention, `4` other, `99` not known.
    living_where: code("living_where"), clear;
    /// TDI labour status (list `labour_status`): `1` occasionally employed, `2`
    /// regularly employed, `3` student, `4` unemployed, `5`
    /// benefits/pensioner/house-maker/disabled, `6` other, `99` not known.
    labour_status: code("labour_status"), clear;
    /// TDI highest educational level completed (list `education`): `1` none or
    /// primary not completed, `2` primary, `3` secondary, `4` higher, `99` not known.
    education: code("education"), clear;
    /// TDI primary drug, the drug causing the most problems (list `substance`, e.g.
    /// `1.1` heroin, `2.1` powder cocaine, `7.1` herbal cannabis or resin). Alcohol
    /// (`8`) is not accepted as the primary drug.
    primary_drug: code("substance") + not_alcohol, clear;
    /// TDI usual route of administration of the primary drug (list `route`): `1`
    /// inject, `2` smoke/inhale, `3` eat/drink, `4` sniff, `5` other, `99` not known.
    route: code("route"), clear;
    /// TDI frequency of use of the primary drug in the last 30 days (list
    /// `frequency`): `1` daily, `2` 4-6 days/week, `3` 2-3 days/week, `4` once a
    /// week or less, `5` not used, `99` not known.
    frequency: code("frequency"), clear;
    /// TDI age at first use of the primary drug, in years (0-100, at most the age at
    /// treatment start). Leave out, or give 99, when not known.
    age_first_use: number(age_until_start), clear;
    /// TDI secondary drugs: up to 4 codes of the list `substance` (alcohol `8`
    /// allowed), none equal to the primary drug, no repeats, not a group beside one
    /// of its own subcodes (`1` with `1.1`), not `99` beside known drugs. Order:
    /// clinical relevance, then injected, then frequency, then list order.
    secondary_drugs: list(secondary_drugs), clear;
    /// TDI polydrug problem (list `polydrug`): `1` yes, `2` no, `99` not known.
    polydrug: code("polydrug"), clear;
    /// TDI opioid substitution treatment (list `ost_status`): `1` never, `2` ever,
    /// not currently, `3` currently, `99` not known. OST is treatment: not `2` or
    /// `3` when `treatment_status` is `1` (never treated before).
    ost_status: code("ost_status") + ost_means_treated, clear;
    /// TDI year of first opioid substitution treatment: required when `ost_status`
    /// is `2` or `3`, left out when it is `1` or `treatment_status` is `1`; not
    /// before the year of birth and not after the year of treatment start.
    ost_first_year: number(ost_first_year), clear;
    /// TDI injecting, any drug (list `injecting`): `1` never, `2` ever (timing
    /// unknown), `2.1` not in last 12 months, `2.2` last 12 months but not last 30
    /// days, `2.3` last 30 days, `3` refused, `99` not known. Must not be `1` when
    /// `route` is `1` (inject).
    injecting: code("injecting") + injected_means_ever, sealed;
    /// TDI age at first injection, in years (0-100, at most the age at treatment
    /// start). Leave out, or give 99, when not known; left out when `injecting` is
    /// `1` (never).
    age_first_injection: number(injection_age), sealed;
    /// TDI needle/syringe sharing (list `sharing`): `1` never, `2` ever, `2.1` not in
    /// last 12 months, `2.2` last 12 months but not last 30 days, `2.3` last 30 days,
    /// `3` refused, `99` not known; `99` when `injecting` is `1` (never): sharing is
    /// asked only of people who have injected.
    sharing: code("sharing") + sharing_needs_injecting, sealed;
    /// TDI HIV testing (list `hiv_testing`): `1` never, `2` ever, `2.1` not in last
    /// 12 months, `2.2` in last 12 months, `3` refused, `99` not known.
    hiv_testing: code("hiv_testing"), sealed;
    /// TDI HCV testing (list `hcv_testing`): `1` never, `2` ever, `2.1` not in last
    /// 12 months, `2.2` in last 12 months, `3` refused, `99` not known.
    hcv_testing: code("hcv_testing"), sealed;
    /// Free-text clinical notes (not a TDI item), at most 2000 characters. Stored
    /// sealed; blank is the same as absent.
    notes: note(notes), sealed;
}

impl std::fmt::Debug for EpisodeInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EpisodeInput { .. }")
    }
}

impl std::fmt::Debug for EpisodeCorrection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EpisodeCorrection { .. }")
    }
}

impl std::fmt::Debug for SealedEpisode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedEpisode { .. }")
    }
}

// ---------------------------------------------------------------------------
// Validated episode
// ---------------------------------------------------------------------------

/// A validated episode, split the way it is stored. `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct ValidEpisode {
    /// The normalised identity, for linking to a subject.
    pub identity: NormalisedIdentity,
    /// Statistical columns, stored in clear.
    pub plain: PlainEpisode,
    /// Sensitive fields, stored encrypted under the subject's data key.
    pub sealed: SealedEpisode,
}

impl std::fmt::Debug for ValidEpisode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ValidEpisode { .. }")
    }
}

/// The clear columns computed at validation rather than submitted.
struct Derived {
    start_year: u16,
    start_quarter: u8,
    sex: String,
    birth_year: u16,
    age_at_start: u16,
    age_band: String,
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

/// What the item checks and rules see besides their own value: worked out once,
/// silently, before the items are checked in table order (each item reports only
/// its own problems, so every problem is reported once, in table order).
struct Context<'a> {
    today: Date,
    municipalities: &'a [&'a str],
    birth: Option<BirthDate>,
    start: Option<Date>,
    age_at_start: Option<u16>,
    primary_drug: Option<&'static str>,
    route: Option<&'static str>,
    ost_status: Option<&'static str>,
    treatment_status: Option<&'static str>,
    injecting: Option<&'static str>,
}

/// Validates an episode, reporting every problem at once.
///
/// `municipalities` are the known municipality slugs. Field names in errors are
/// spelled as in the JSON (`identity.birth_date`, `secondary_drugs[2]`); messages
/// never contain a submitted value. Codes may carry surrounding whitespace, which
/// is dropped.
///
/// # Errors
///
/// Every [`FieldError`] found: identity, then every item in table order (its code
/// list, dates, ages, secondary drugs, notes and the consistency rules between them).
pub fn validate(
    input: &EpisodeInput,
    today: Date,
    municipalities: &[&str],
) -> Result<ValidEpisode, Vec<FieldError>> {
    let mut errors = Vec::new();
    let identity = subject::validate(&input.identity, today, "identity.")
        .map_err(|errs| errors.extend(errs))
        .ok();
    // The birth date on its own, so that the age checks still run when only another
    // identity field (a name, the personal number) is wrong. Its own errors are
    // already reported by the identity validation.
    let birth = identity
        .as_ref()
        .map(|i| i.birth)
        .or_else(|| BirthDate::parse(&input.identity.birth_date, today).ok());
    let start = start_date_problem(&input.treatment_start_date, today, birth).ok();
    let ctx = Context {
        today,
        municipalities,
        birth,
        start,
        age_at_start: birth.zip(start).map(|(b, s)| age_at(b, s)),
        primary_drug: code_of("substance", &input.primary_drug),
        route: code_of("route", &input.route),
        ost_status: code_of("ost_status", &input.ost_status),
        treatment_status: code_of("treatment_status", &input.treatment_status),
        // Judged against only when it passes its own rule (so a contradiction is
        // reported once, on `injecting`).
        injecting: code_of("injecting", &input.injecting)
            .filter(|code| injected_means_ever_with(code_of("route", &input.route), code).is_ok()),
    };
    let items = check_items(input, &ctx, &mut errors);
    let (Some(identity), Some(items), Some(start), Some(age_at_start), true) =
        (identity, items, start, ctx.age_at_start, errors.is_empty())
    else {
        return Err(errors);
    };
    let derived = Derived {
        start_year: clock::year(start),
        start_quarter: clock::quarter(start),
        sex: identity.sex.code().to_owned(),
        birth_year: identity.birth.year(),
        age_at_start,
        age_band: codes::age_band(age_at_start).to_owned(),
    };
    let (plain, sealed) = split(items, derived);
    Ok(ValidEpisode {
        identity,
        plain,
        sealed,
    })
}

/// The code of the TDI list `list` that `value` is (ignoring surrounding space).
fn code_of(list: &str, value: &str) -> Option<&'static str> {
    let value = value.trim();
    codes::list(list)?.iter().copied().find(|c| *c == value)
}

/// Checks `value` against the TDI list `list`; returns the list's own code.
fn check_code(
    errors: &mut Vec<FieldError>,
    field: &str,
    list: &'static str,
    value: &str,
) -> Option<&'static str> {
    if let Some(code) = code_of(list, value) {
        return Some(code);
    }
    let codes = codes::list(list).unwrap_or_default();
    let expected = format!("a code of the {list} list: {}", codes.join(", "));
    errors.push(FieldError::new(
        field,
        if value.trim().is_empty() {
            format!("is required: {expected}")
        } else {
            format!("must be {expected}")
        },
    ));
    None
}

/// Rule of `primary_drug`.
fn not_alcohol(_: &Context<'_>, code: &str) -> Result<(), &'static str> {
    if code == ALCOHOL {
        return Err(
            "must not be alcohol (8): alcohol is recorded only as a secondary drug; \
             give the other drug causing the most problems",
        );
    }
    Ok(())
}

/// Rule of `injecting`.
fn injected_means_ever(ctx: &Context<'_>, code: &str) -> Result<(), &'static str> {
    injected_means_ever_with(ctx.route, code)
}

fn injected_means_ever_with(route: Option<&str>, code: &str) -> Result<(), &'static str> {
    if route == Some(ROUTE_INJECT) && code == INJECTING_NEVER {
        return Err(
            "must not be 1 (never) when route is 1 (inject): a primary drug that is \
             injected means the person has injected",
        );
    }
    Ok(())
}

/// Rule of `ost_status`.
fn ost_means_treated(ctx: &Context<'_>, code: &str) -> Result<(), &'static str> {
    if ctx.treatment_status == Some(NEVER_TREATED) && OST_EVER.contains(&code) {
        return Err(
            "must not be 2 (ever) or 3 (currently) when treatment_status is 1 (never \
             treated before): opioid substitution is treatment",
        );
    }
    Ok(())
}

/// Rule of `sharing`.
fn sharing_needs_injecting(ctx: &Context<'_>, code: &str) -> Result<(), &'static str> {
    if ctx.injecting == Some(INJECTING_NEVER) && code != NOT_KNOWN {
        return Err(
            "must be 99 when injecting is 1 (never): sharing is asked only of people \
             who have injected",
        );
    }
    Ok(())
}

fn known_municipality(
    ctx: &Context<'_>,
    errors: &mut Vec<FieldError>,
    field: &'static str,
    value: &str,
) -> Option<String> {
    let value = value.trim();
    if let Some(slug) = ctx.municipalities.iter().find(|m| **m == value) {
        return Some((*slug).to_owned());
    }
    errors.push(FieldError::new(
        field,
        if value.is_empty() {
            "is required: the slug of the municipality of residence (e.g. prishtine)"
        } else {
            "must be the slug of a Kosovo municipality known to the registry (e.g. prishtine)"
        },
    ));
    None
}

/// The treatment start date, or what is wrong with it.
fn start_date_problem(
    value: &str,
    today: Date,
    birth: Option<BirthDate>,
) -> Result<Date, &'static str> {
    let value = value.trim();
    if value.is_empty() {
        return Err("is required: a date YYYY-MM-DD");
    }
    let date = clock::parse_iso_date(value).map_err(|problem| match problem {
        DateProblem::BadFormat => "must be a date YYYY-MM-DD",
        DateProblem::NotADate => "is not a valid calendar date (YYYY-MM-DD)",
    })?;
    let before_birth = match birth {
        Some(BirthDate::Full(birth)) => date < birth,
        Some(BirthDate::YearOnly { year }) => clock::year(date) < year,
        None => false,
    };
    if date > today {
        Err("must not be in the future")
    } else if clock::year(date) < MIN_START_YEAR {
        Err("must not be before 1990-01-01")
    } else if before_birth {
        Err("must not be before the date of birth")
    } else {
        Ok(date)
    }
}

fn start_date(
    ctx: &Context<'_>,
    errors: &mut Vec<FieldError>,
    field: &'static str,
    value: &str,
) -> Option<String> {
    match start_date_problem(value, ctx.today, ctx.birth) {
        Ok(date) => Some(iso(date)),
        Err(problem) => {
            errors.push(FieldError::new(field, problem));
            None
        }
    }
}

/// A date as `YYYY-MM-DD`.
fn iso(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Age in completed years on `date` (which is not before the birth date).
fn age_at(birth: BirthDate, date: Date) -> u16 {
    match birth {
        BirthDate::Full(birth) => {
            let years = clock::year(date).saturating_sub(clock::year(birth));
            if (date.month(), date.day()) < (birth.month(), birth.day()) {
                years.saturating_sub(1)
            } else {
                years
            }
        }
        BirthDate::YearOnly { year } => clock::year(date).saturating_sub(year),
    }
}

/// An age at a first event: at most 100 and at most the age at treatment start.
fn age_until_start(
    ctx: &Context<'_>,
    errors: &mut Vec<FieldError>,
    field: &'static str,
    value: &Option<u16>,
) -> Option<Option<u16>> {
    let problem = match *value {
        None | Some(AGE_NOT_KNOWN) => return Some(None),
        Some(age) if age > MAX_AGE_FIRST => {
            format!("must be an age in years from 0 to {MAX_AGE_FIRST} (leave out when not known)")
        }
        Some(age) if ctx.age_at_start.is_some_and(|at_start| age > at_start) => {
            "must not be greater than the age at treatment start".to_owned()
        }
        Some(_) => return Some(*value),
    };
    errors.push(FieldError::new(field, problem));
    None
}

/// `age_first_injection`: an age at a first event, left out for someone who has
/// never injected.
fn injection_age(
    ctx: &Context<'_>,
    errors: &mut Vec<FieldError>,
    field: &'static str,
    value: &Option<u16>,
) -> Option<Option<u16>> {
    let age = age_until_start(ctx, errors, field, value)?;
    if age.is_some() && ctx.injecting == Some(INJECTING_NEVER) {
        errors.push(FieldError::new(
            field,
            "must be left out when injecting is 1 (never)",
        ));
        return None;
    }
    Some(age)
}

fn secondary_drugs(
    ctx: &Context<'_>,
    errors: &mut Vec<FieldError>,
    field: &'static str,
    drugs: &[String],
) -> Option<Vec<String>> {
    let before = errors.len();
    if drugs.len() > MAX_SECONDARY_DRUGS {
        errors.push(FieldError::new(
            field,
            format!("must list at most {MAX_SECONDARY_DRUGS} substances"),
        ));
    }
    let mut seen: Vec<&'static str> = Vec::new();
    let mut not_known_at = None;
    for (i, drug) in drugs.iter().enumerate().take(MAX_SECONDARY_CHECKED) {
        let field = format!("{field}[{i}]");
        let Some(code) = check_code(errors, &field, "substance", drug) else {
            continue;
        };
        let group = |c: &str| c.split('.').next().unwrap_or(c).to_owned();
        let nested = |a: &str, b: &str| a != b && (group(a) == b || group(b) == a);
        if Some(code) == ctx.primary_drug {
            errors.push(FieldError::new(field, "must differ from the primary drug"));
        } else if seen.contains(&code) {
            errors.push(FieldError::new(
                field,
                "must not repeat an earlier secondary drug",
            ));
        } else if seen.iter().any(|earlier| nested(earlier, code)) {
            errors.push(FieldError::new(
                field,
                "must not be a drug group beside one of its own subcodes (e.g. 1 with 1.1): give the subcode only",
            ));
        }
        if code == NOT_KNOWN {
            not_known_at.get_or_insert(i);
        }
        seen.push(code);
    }
    let known = seen.iter().filter(|c| **c != NOT_KNOWN).count();
    if let Some(i) = not_known_at.filter(|_| known > 0) {
        errors.push(FieldError::new(
            format!("{field}[{i}]"),
            "must not be 99 (not known) beside known secondary drugs",
        ));
    }
    (errors.len() == before).then(|| seen.into_iter().map(str::to_owned).collect())
}

fn ost_first_year(
    ctx: &Context<'_>,
    errors: &mut Vec<FieldError>,
    field: &'static str,
    value: &Option<u16>,
) -> Option<Option<u16>> {
    let never_treated = ctx.treatment_status == Some(NEVER_TREATED);
    let problem = match (*value, ctx.ost_status) {
        // `ost_status` reports the contradiction with a first treatment.
        (None, Some(status)) if OST_EVER.contains(&status) && never_treated => {
            return Some(None);
        }
        (None, Some(status)) if OST_EVER.contains(&status) => {
            "is required when ost_status is 2 (ever, not currently) or 3 (currently)"
        }
        (None, _) => return Some(None),
        (Some(_), Some(OST_NEVER)) => "must be left out when ost_status is 1 (never)",
        (Some(_), Some(status)) if never_treated && !OST_EVER.contains(&status) => {
            "must be left out when treatment_status is 1 (never treated before)"
        }
        (Some(year), _) => {
            if ctx.birth.is_some_and(|b| year < b.year()) {
                "must not be before the year of birth"
            } else if ctx.start.is_some_and(|s| year > clock::year(s)) {
                "must not be after the year of treatment start"
            } else if year > clock::year(ctx.today) {
                "must not be in the future"
            } else if year < crate::identity::normalize::MIN_BIRTH_YEAR {
                "must be a year from 1900 on"
            } else {
                return Some(*value);
            }
        }
    };
    errors.push(FieldError::new(field, problem));
    None
}

fn notes(
    _: &Context<'_>,
    errors: &mut Vec<FieldError>,
    field: &'static str,
    value: &Option<String>,
) -> Option<Option<String>> {
    let notes = value.as_deref().filter(|n| !n.trim().is_empty());
    if notes.is_some_and(|n| n.chars().nth(MAX_NOTES_CHARS).is_some()) {
        errors.push(FieldError::new(
            field,
            format!("must be at most {MAX_NOTES_CHARS} characters"),
        ));
        return None;
    }
    Some(notes.map(str::to_owned))
}

// ---------------------------------------------------------------------------
// Corrections
// ---------------------------------------------------------------------------

/// Applies a correction: returns the corrected input and the names of the fields
/// whose value changed, in table order (as the JSON spells them). A value equal to
/// the current one (ignoring surrounding whitespace; blank notes equal absent notes)
/// is not a change. Setting `ost_status` to `1` (never) without a year clears
/// `ost_first_year`. The result is not validated: pass it to [`validate`].
#[must_use]
pub fn apply(
    current: &EpisodeInput,
    correction: &EpisodeCorrection,
) -> (EpisodeInput, Vec<&'static str>) {
    let mut next = current.clone();
    let mut changed = apply_items(&mut next, correction);
    let set_to =
        |given: &Option<String>, code: &str| given.as_deref().is_some_and(|s| s.trim() == code);
    // A correction that makes a number meaningless clears it, unless it gives
    // the number too (which validation then refuses).
    let ost_year_void = set_to(&correction.ost_status, OST_NEVER)
        || set_to(&correction.treatment_status, NEVER_TREATED);
    if ost_year_void && correction.ost_first_year.is_none() && next.ost_first_year.take().is_some()
    {
        changed.push("ost_first_year");
    }
    if set_to(&correction.injecting, INJECTING_NEVER)
        && correction.age_first_injection.is_none()
        && next.age_first_injection.take().is_some()
    {
        changed.push("age_first_injection");
    }
    changed.sort_by_key(|name| EpisodeInput::ITEMS.iter().position(|item| item == name));
    (next, changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: Date = time::macros::date!(2026 - 11 - 24);
    const MUNICIPALITIES: &[&str] = &["prishtine", "prizren", "peje", "gjakove"];

    /// A complete valid episode: born 1990-04-07, treatment start 2026-05-20 (age 36).
    fn valid() -> EpisodeInput {
        EpisodeInput {
            identity: IdentityInput {
                personal_number: Some("1234567890".into()),
                first_name: "Ardita".into(),
                last_name: "Gashi".into(),
                birth_date: "1990-04-07".into(),
                sex: "2".into(),
            },
            municipality: "prishtine".into(),
            treatment_start_date: "2026-05-20".into(),
            treatment_status: "2".into(),
            referral_source: "6".into(),
            living_with: "2".into(),
            living_with_children: "1".into(),
            living_where: "1".into(),
            labour_status: "4".into(),
            education: "3".into(),
            primary_drug: "1.1".into(),
            route: "1".into(),
            frequency: "1".into(),
            age_first_use: Some(19),
            secondary_drugs: vec!["2.1".into(), "8".into()],
            polydrug: "1".into(),
            ost_status: "3".into(),
            ost_first_year: Some(2020),
            injecting: "2.3".into(),
            age_first_injection: Some(22),
            sharing: "2.2".into(),
            hiv_testing: "2.2".into(),
            hcv_testing: "2.1".into(),
            notes: Some("Referred by family after an overdose.".into()),
        }
    }

    fn run(input: &EpisodeInput) -> Result<ValidEpisode, Vec<FieldError>> {
        validate(input, TODAY, MUNICIPALITIES)
    }

    fn ok(input: &EpisodeInput) -> ValidEpisode {
        match run(input) {
            Ok(v) => v,
            Err(errors) => panic!("expected valid, got {errors:?}"),
        }
    }

    fn err(input: &EpisodeInput) -> Vec<FieldError> {
        match run(input) {
            Ok(_) => panic!("expected errors"),
            Err(errors) => errors,
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_tdi_consistency_rules_between_items_are_enforced() {
        // Never injected, with an age at first injection and a sharing answer.
        let mut never = valid();
        never.route = "2".into();
        never.injecting = "1".into();
        assert_eq!(
            fields(&err(&never)),
            ["age_first_injection", "sharing"],
            "{:?}",
            err(&never)
        );
        never.age_first_injection = None;
        never.sharing = "99".into();
        ok(&never);
        // Never treated before, yet in substitution treatment or with its year.
        let mut first = valid();
        first.treatment_status = "1".into();
        assert_eq!(fields(&err(&first)), ["ost_status"]);
        first.ost_status = "99".into();
        assert_eq!(fields(&err(&first)), ["ost_first_year"]);
        first.ost_first_year = None;
        ok(&first);
        // A group beside its own subcode; "not known" beside known drugs.
        let mut drugs = valid();
        drugs.secondary_drugs = strs(&["2", "2.1"]);
        assert_eq!(fields(&err(&drugs)), ["secondary_drugs[1]"]);
        drugs.secondary_drugs = strs(&["99", "8"]);
        assert_eq!(fields(&err(&drugs)), ["secondary_drugs[0]"]);
        drugs.secondary_drugs = strs(&["xx", "8", "99"]);
        assert_eq!(
            fields(&err(&drugs)),
            ["secondary_drugs[0]", "secondary_drugs[2]"],
            "each problem under its own position"
        );
        drugs.secondary_drugs = strs(&["99"]);
        ok(&drugs);
        // An age of 99 is "not known", as in the CSV.
        let mut unknown = valid();
        unknown.age_first_use = Some(99);
        unknown.age_first_injection = Some(99);
        let v = ok(&unknown);
        assert_eq!(v.plain.age_first_use, None);
    }

    #[test]
    fn a_complete_valid_episode_is_split_into_plain_and_sealed() {
        let v = ok(&valid());
        assert_eq!(v.identity.birth.year(), 1990);
        assert_eq!(
            v.plain,
            PlainEpisode {
                start_year: 2026,
                start_quarter: 2,
                sex: "2".into(),
                birth_year: 1990,
                age_at_start: 36,
                age_band: "35-39".into(),
                municipality: "prishtine".into(),
                treatment_status: "2".into(),
                referral_source: "6".into(),
                living_with: "2".into(),
                living_with_children: "1".into(),
                living_where: "1".into(),
                labour_status: "4".into(),
                education: "3".into(),
                primary_drug: "1.1".into(),
                route: "1".into(),
                frequency: "1".into(),
                age_first_use: Some(19),
                secondary_drugs: strs(&["2.1", "8"]),
                polydrug: "1".into(),
                ost_status: "3".into(),
                ost_first_year: Some(2020),
            }
        );
        assert_eq!(
            v.sealed,
            SealedEpisode {
                treatment_start_date: "2026-05-20".into(),
                injecting: "2.3".into(),
                age_first_injection: Some(22),
                sharing: "2.2".into(),
                hiv_testing: "2.2".into(),
                hcv_testing: "2.1".into(),
                notes: Some("Referred by family after an overdose.".into()),
            }
        );
    }

    #[test]
    fn the_table_derives_columns_cells_and_the_input_back() {
        let v = ok(&valid());
        // Every clear column once, in the order the cells come.
        let names: Vec<&str> = PlainEpisode::COLUMNS.iter().map(|(n, _)| *n).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert_eq!(v.plain.cells().len(), names.len());
        for ((name, numeric), cell) in PlainEpisode::COLUMNS.iter().zip(v.plain.cells()) {
            assert_eq!(*numeric, matches!(cell, Cell::Number(_)), "{name}");
        }
        assert_eq!(
            PlainEpisode::from_cells(v.plain.cells()),
            Some(v.plain.clone())
        );
        assert_eq!(
            PlainEpisode::from_cells(v.plain.cells().into_iter().skip(1)),
            None
        );
        // A stored episode gives back the input it was registered from.
        let back = EpisodeInput::from_parts(valid().identity, &v.plain, &v.sealed);
        assert_eq!(
            serde_json::to_value(&back).expect("json"),
            serde_json::to_value(valid()).expect("json")
        );
        // The items are every input field but the identity, in the JSON's order.
        let json = serde_json::to_value(valid()).expect("json");
        let fields: Vec<&str> = json
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "identity")
            .collect();
        assert_eq!(fields, EpisodeInput::ITEMS);
    }

    #[test]
    fn age_quarter_and_band_at_start() {
        // (birth date, start date, age, band, quarter)
        let cases = [
            ("1990-04-07", "2026-04-06", 35, "35-39", 2),
            ("1990-04-07", "2026-04-07", 36, "35-39", 2),
            ("1990", "2026-01-01", 36, "35-39", 1),
            ("1990", "2026-11-24", 36, "35-39", 4),
            ("2012-09-30", "2026-09-29", 13, "lt15", 3),
            ("2011-09-30", "2026-09-30", 15, "15-19", 3),
            ("1961-12-31", "2026-10-01", 64, "60-64", 4),
            ("1961-01-01", "2026-03-31", 65, "ge65", 1),
            ("2004-02-29", "2025-02-28", 20, "20-24", 1),
            ("2004-02-29", "2025-03-01", 21, "20-24", 1),
        ];
        for (birth, start, age, band, q) in cases {
            let mut input = valid();
            input.identity.birth_date = birth.into();
            input.treatment_start_date = start.into();
            input.age_first_use = None;
            input.age_first_injection = None;
            input.ost_status = "99".into();
            input.ost_first_year = None;
            let v = ok(&input);
            assert_eq!(v.plain.age_at_start, age, "{birth} {start}");
            assert_eq!(v.plain.age_band, band, "{birth} {start}");
            assert_eq!(v.plain.start_quarter, q, "{birth} {start}");
            assert_eq!(v.plain.birth_year.to_string(), birth[..4], "{birth}");
        }
    }

    type Setter = fn(&mut EpisodeInput, &str);
    type Mutate = fn(&mut EpisodeInput);

    /// Every coded field: (JSON field, TDI list, setter). Setters adjust other fields
    /// where a code would otherwise break a consistency rule.
    fn coded_fields() -> Vec<(&'static str, &'static str, Setter)> {
        vec![
            ("identity.sex", "sex", |e, c| e.identity.sex = c.into()),
            ("treatment_status", "treatment_status", |e, c| {
                e.treatment_status = c.into();
                if c.trim() == NEVER_TREATED {
                    // A first treatment: never in substitution treatment before.
                    e.ost_status = OST_NEVER.into();
                    e.ost_first_year = None;
                }
            }),
            ("referral_source", "referral_source", |e, c| {
                e.referral_source = c.into();
            }),
            ("living_with", "living_with", |e, c| {
                e.living_with = c.into()
            }),
            ("living_with_children", "living_with_children", |e, c| {
                e.living_with_children = c.into();
            }),
            ("living_where", "living_where", |e, c| {
                e.living_where = c.into()
            }),
            ("labour_status", "labour_status", |e, c| {
                e.labour_status = c.into();
            }),
            ("education", "education", |e, c| e.education = c.into()),
            ("primary_drug", "substance", |e, c| {
                e.primary_drug = c.into();
                e.secondary_drugs.clear();
            }),
            ("route", "route", |e, c| e.route = c.into()),
            ("frequency", "frequency", |e, c| e.frequency = c.into()),
            ("secondary_drugs[0]", "substance", |e, c| {
                e.primary_drug = if c.trim() == "1.1" { "2.1" } else { "1.1" }.into();
                e.secondary_drugs = vec![c.into()];
            }),
            ("polydrug", "polydrug", |e, c| e.polydrug = c.into()),
            ("ost_status", "ost_status", |e, c| {
                e.ost_status = c.into();
                e.ost_first_year = (c.trim() != "1").then_some(2020);
            }),
            ("injecting", "injecting", |e, c| {
                e.injecting = c.into();
                e.route = "2".into();
                if c.trim() == INJECTING_NEVER {
                    e.age_first_injection = None;
                    e.sharing = NOT_KNOWN.into();
                }
            }),
            ("sharing", "sharing", |e, c| e.sharing = c.into()),
            ("hiv_testing", "hiv_testing", |e, c| {
                e.hiv_testing = c.into()
            }),
            ("hcv_testing", "hcv_testing", |e, c| {
                e.hcv_testing = c.into()
            }),
        ]
    }

    #[test]
    fn every_list_accepts_its_codes_and_rejects_others() {
        let covered: Vec<&str> = coded_fields().iter().map(|(_, l, _)| *l).collect();
        for (list, _) in codes::LISTS {
            // centre_type comes from the facility, age_band is derived.
            if !["centre_type", "age_band"].contains(list) {
                assert!(covered.contains(list), "list {list} not exercised");
            }
        }
        for (field, list, set) in coded_fields() {
            let codes = codes::list(list).expect("list");
            for code in codes {
                if field == "primary_drug" && *code == ALCOHOL {
                    continue; // alcohol as primary drug: see its own test
                }
                let mut input = valid();
                set(&mut input, code);
                if let Err(errors) = run(&input) {
                    panic!("{field} = {code} rejected: {errors:?}");
                }
                // Surrounding whitespace is tolerated and dropped.
                let mut padded = valid();
                set(&mut padded, &format!(" {code} "));
                assert!(run(&padded).is_ok(), "{field} = ' {code} '");
            }
            for bad in ["0", "100", "9.9", "1.", "01", "x"] {
                let mut input = valid();
                set(&mut input, bad);
                let errors = err(&input);
                assert_eq!(fields(&errors), [field], "{field} = {bad}: {errors:?}");
            }
            let mut blank = valid();
            set(&mut blank, " ");
            assert_eq!(fields(&err(&blank)), [field], "{field} blank");
        }
    }

    #[test]
    fn code_errors_list_the_expected_codes() {
        let mut input = valid();
        input.route = "6".into();
        input.hiv_testing = String::new();
        assert_eq!(
            err(&input),
            [
                FieldError::new(
                    "route",
                    "must be a code of the route list: 1, 2, 3, 4, 5, 99"
                ),
                FieldError::new(
                    "hiv_testing",
                    "is required: a code of the hiv_testing list: 1, 2, 2.1, 2.2, 3, 99"
                ),
            ]
        );
    }

    #[test]
    fn codes_are_stored_trimmed() {
        let mut input = valid();
        input.primary_drug = " 1.1\t".into();
        input.secondary_drugs = vec![" 2.1".into()];
        input.municipality = " prizren ".into();
        input.treatment_start_date = " 2026-05-20 ".into();
        input.injecting = "2.3 ".into();
        let v = ok(&input);
        assert_eq!(v.plain.primary_drug, "1.1");
        assert_eq!(v.plain.secondary_drugs, strs(&["2.1"]));
        assert_eq!(v.plain.municipality, "prizren");
        assert_eq!(v.sealed.treatment_start_date, "2026-05-20");
        assert_eq!(v.sealed.injecting, "2.3");
    }

    #[test]
    fn each_rule_broken_alone_reports_only_its_field() {
        let cases: Vec<(&str, Mutate, &str)> = vec![
            (
                "unknown municipality",
                |e| e.municipality = "atlantis".into(),
                "municipality",
            ),
            (
                "blank municipality",
                |e| e.municipality = String::new(),
                "municipality",
            ),
            (
                "start in the future",
                |e| e.treatment_start_date = "2026-11-25".into(),
                "treatment_start_date",
            ),
            (
                "start before 1990",
                |e| {
                    e.identity.birth_date = "1970".into();
                    e.treatment_start_date = "1989-12-31".into();
                    e.ost_first_year = None;
                    e.ost_status = "1".into();
                },
                "treatment_start_date",
            ),
            (
                "start before birth",
                |e| e.treatment_start_date = "1990-04-06".into(),
                "treatment_start_date",
            ),
            (
                "start in a year before a year-only birth",
                |e| {
                    e.identity.birth_date = "2000".into();
                    e.treatment_start_date = "1999-12-31".into();
                },
                "treatment_start_date",
            ),
            (
                "start not a calendar date",
                |e| e.treatment_start_date = "2026-02-29".into(),
                "treatment_start_date",
            ),
            (
                "start in another format",
                |e| e.treatment_start_date = "20.05.2026".into(),
                "treatment_start_date",
            ),
            (
                "start year only",
                |e| e.treatment_start_date = "2026".into(),
                "treatment_start_date",
            ),
            (
                "start blank",
                |e| e.treatment_start_date = String::new(),
                "treatment_start_date",
            ),
            (
                "first use over 100",
                |e| e.age_first_use = Some(101),
                "age_first_use",
            ),
            (
                "first use after start",
                |e| e.age_first_use = Some(37),
                "age_first_use",
            ),
            (
                "first use after start, year-only birth",
                |e| {
                    e.identity.birth_date = "1990".into();
                    e.age_first_use = Some(37);
                },
                "age_first_use",
            ),
            (
                "first injection over 100",
                |e| e.age_first_injection = Some(101),
                "age_first_injection",
            ),
            (
                "first injection after start",
                |e| e.age_first_injection = Some(37),
                "age_first_injection",
            ),
            (
                "route inject, injecting never",
                |e| e.injecting = "1".into(),
                "injecting",
            ),
            (
                "OST ever without year",
                |e| {
                    e.ost_status = "2".into();
                    e.ost_first_year = None;
                },
                "ost_first_year",
            ),
            (
                "OST current without year",
                |e| e.ost_first_year = None,
                "ost_first_year",
            ),
            (
                "OST never with a year",
                |e| e.ost_status = "1".into(),
                "ost_first_year",
            ),
            (
                "OST before birth year",
                |e| e.ost_first_year = Some(1989),
                "ost_first_year",
            ),
            (
                "OST after start year",
                |e| e.ost_first_year = Some(2027),
                "ost_first_year",
            ),
            (
                "five secondary drugs",
                |e| e.secondary_drugs = strs(&["2.1", "3.1", "4.2", "7.1", "8"]),
                "secondary_drugs",
            ),
            (
                "secondary not a code",
                |e| e.secondary_drugs = strs(&["2.1", "10"]),
                "secondary_drugs[1]",
            ),
            (
                "secondary blank",
                |e| e.secondary_drugs = strs(&["2.1", "8", ""]),
                "secondary_drugs[2]",
            ),
            (
                "secondary equals primary",
                |e| e.secondary_drugs = strs(&["1.1", "8"]),
                "secondary_drugs[0]",
            ),
            (
                "secondary repeated",
                |e| e.secondary_drugs = strs(&["2.1", "8", "2.1"]),
                "secondary_drugs[2]",
            ),
            (
                "secondary repeated with padding",
                |e| e.secondary_drugs = strs(&["8", " 8"]),
                "secondary_drugs[1]",
            ),
            (
                "alcohol as primary drug",
                |e| {
                    e.primary_drug = "8".into();
                    e.secondary_drugs = strs(&["1.1"]);
                },
                "primary_drug",
            ),
            (
                "notes too long",
                |e| e.notes = Some("a".repeat(2001)),
                "notes",
            ),
            (
                "notes too long, multibyte",
                |e| e.notes = Some("ë".repeat(2001)),
                "notes",
            ),
            (
                "bad first name",
                |e| e.identity.first_name = "123".into(),
                "identity.first_name",
            ),
            (
                "bad personal number",
                |e| e.identity.personal_number = Some("12345".into()),
                "identity.personal_number",
            ),
            (
                "birth in the future",
                |e| e.identity.birth_date = "2027".into(),
                "identity.birth_date",
            ),
        ];
        for (name, break_it, field) in cases {
            let mut input = valid();
            break_it(&mut input);
            let errors = err(&input);
            assert_eq!(fields(&errors), [field], "{name}: {errors:?}");
        }
    }

    #[test]
    fn rule_messages_say_what_is_expected() {
        let cases: Vec<(Mutate, &str)> = vec![
            (
                |e| e.treatment_start_date = "2026-11-25".into(),
                "must not be in the future",
            ),
            (
                |e| e.treatment_start_date = "1990-04-06".into(),
                "must not be before the date of birth",
            ),
            (
                |e| e.age_first_use = Some(37),
                "must not be greater than the age at treatment start",
            ),
            (
                |e| e.age_first_injection = Some(101),
                "must be an age in years from 0 to 100 (leave out when not known)",
            ),
            (
                |e| e.ost_first_year = None,
                "is required when ost_status is 2 (ever, not currently) or 3 (currently)",
            ),
            (
                |e| e.ost_status = "1".into(),
                "must be left out when ost_status is 1 (never)",
            ),
            (
                |e| e.secondary_drugs = strs(&["1.1"]),
                "must differ from the primary drug",
            ),
            (
                |e| e.notes = Some("a".repeat(2001)),
                "must be at most 2000 characters",
            ),
        ];
        for (break_it, problem) in cases {
            let mut input = valid();
            break_it(&mut input);
            let errors = err(&input);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].problem, problem);
        }
        let mut alcohol = valid();
        alcohol.primary_drug = "8".into();
        alcohol.secondary_drugs.clear();
        let errors = err(&alcohol);
        assert!(
            errors[0].problem.contains("only as a secondary drug"),
            "{errors:?}"
        );
    }

    #[test]
    fn boundary_values_are_accepted() {
        let cases: Vec<(&str, Mutate)> = vec![
            ("first use at the age at start", |e| {
                e.age_first_use = Some(36)
            }),
            ("first use at 0", |e| e.age_first_use = Some(0)),
            ("first use not known", |e| e.age_first_use = None),
            ("first injection at the age at start", |e| {
                e.age_first_injection = Some(36)
            }),
            ("first injection not known", |e| {
                e.age_first_injection = None
            }),
            // Only the two ages against the start age are checked, not against each other.
            ("first injection before first use", |e| {
                e.age_first_injection = Some(15)
            }),
            ("start on the birthday", |e| {
                e.identity.birth_date = "2010-05-20".into();
                e.treatment_start_date = "2010-05-20".into();
                e.age_first_use = None;
                e.age_first_injection = None;
                e.ost_first_year = Some(2010);
            }),
            ("start in the year of a year-only birth", |e| {
                e.identity.birth_date = "2010".into();
                e.treatment_start_date = "2010-01-01".into();
                e.age_first_use = Some(0);
                e.age_first_injection = None;
                e.ost_first_year = Some(2010);
            }),
            ("start today", |e| {
                e.treatment_start_date = "2026-11-24".into()
            }),
            ("start on 1990-01-01", |e| {
                e.identity.birth_date = "1970".into();
                e.treatment_start_date = "1990-01-01".into();
                e.age_first_injection = Some(20);
                e.ost_status = "99".into();
                e.ost_first_year = None;
            }),
            ("OST first year in the birth year", |e| {
                e.ost_first_year = Some(1990)
            }),
            ("OST first year in the start year", |e| {
                e.ost_first_year = Some(2026)
            }),
            ("OST not known without year", |e| {
                e.ost_status = "99".into();
                e.ost_first_year = None;
            }),
            ("OST not known with year", |e| e.ost_status = "99".into()),
            ("OST never without year", |e| {
                e.ost_status = "1".into();
                e.ost_first_year = None;
            }),
            ("no secondary drugs", |e| e.secondary_drugs.clear()),
            ("four secondary drugs", |e| {
                e.secondary_drugs = strs(&["2.1", "3.1", "4.2", "8"])
            }),
            ("secondary drugs of the primary's group", |e| {
                e.secondary_drugs = strs(&["1.3", "1.2"])
            }),
            ("route smoke, injecting never", |e| {
                e.route = "2".into();
                e.injecting = "1".into();
                e.age_first_injection = None;
                e.sharing = "99".into();
            }),
            ("route not known, injecting never", |e| {
                e.route = "99".into();
                e.injecting = "1".into();
                e.age_first_injection = None;
                e.sharing = "99".into();
            }),
            ("notes of 2000 characters", |e| {
                e.notes = Some("ë".repeat(2000))
            }),
            ("no notes", |e| e.notes = None),
            ("identity without personal number", |e| {
                e.identity.personal_number = None
            }),
        ];
        for (name, adjust) in cases {
            let mut input = valid();
            adjust(&mut input);
            if let Err(errors) = run(&input) {
                panic!("{name}: {errors:?}");
            }
        }
    }

    #[test]
    fn blank_notes_are_stored_as_none() {
        let mut input = valid();
        input.notes = Some("  \n ".into());
        assert_eq!(ok(&input).sealed.notes, None);
    }

    #[test]
    fn a_badly_broken_episode_reports_every_field_at_once() {
        let broken = EpisodeInput {
            identity: IdentityInput {
                personal_number: Some("12".into()),
                first_name: String::new(),
                last_name: "9".into(),
                birth_date: "1990-02-30".into(),
                sex: "M".into(),
            },
            municipality: "nowhere".into(),
            treatment_start_date: "2030-01-01".into(),
            treatment_status: "3".into(),
            referral_source: "8".into(),
            living_with: "0".into(),
            living_with_children: "yes".into(),
            living_where: "5".into(),
            labour_status: "7".into(),
            education: "5".into(),
            primary_drug: "8".into(),
            route: "6".into(),
            frequency: "0".into(),
            age_first_use: Some(150),
            secondary_drugs: strs(&["8", "x", "2.1", "2.1", "3.1"]),
            polydrug: "0".into(),
            ost_status: "1".into(),
            ost_first_year: Some(2019),
            injecting: "4".into(),
            age_first_injection: Some(101),
            sharing: "2.4".into(),
            hiv_testing: "2.3".into(),
            hcv_testing: "4".into(),
            notes: Some("n".repeat(2001)),
        };
        let errors = err(&broken);
        let mut got = fields(&errors);
        got.sort_unstable();
        let mut want = vec![
            "identity.personal_number",
            "identity.first_name",
            "identity.last_name",
            "identity.birth_date",
            "identity.sex",
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
            "secondary_drugs[0]",
            "secondary_drugs[1]",
            "secondary_drugs[3]",
            "polydrug",
            "ost_first_year",
            "injecting",
            "age_first_injection",
            "sharing",
            "hiv_testing",
            "hcv_testing",
            "notes",
        ];
        want.sort_unstable();
        assert_eq!(got, want, "{errors:?}");
    }

    #[test]
    fn both_codes_and_rules_are_reported_together() {
        let mut input = valid();
        input.identity.first_name = "42".into(); // identity fails, birth date is fine
        input.age_first_use = Some(40); // still checked against the age at start
        input.injecting = "1".into();
        input.ost_first_year = None;
        input.notes = Some("x".repeat(2001));
        let errors = err(&input);
        assert_eq!(
            fields(&errors),
            [
                "identity.first_name",
                "age_first_use",
                "ost_first_year",
                "injecting",
                "notes"
            ]
        );
    }

    #[test]
    fn long_secondary_lists_are_bounded() {
        let mut input = valid();
        input.secondary_drugs = vec!["zz".into(); 10_000];
        let errors = err(&input);
        assert_eq!(errors.len(), 1 + MAX_SECONDARY_CHECKED);
        assert_eq!(errors[0].field, "secondary_drugs");
    }

    #[test]
    fn error_messages_never_contain_submitted_values() {
        // Distinctive values that no fixed message could contain by chance.
        let leaky = EpisodeInput {
            identity: IdentityInput {
                personal_number: Some("98765X4321".into()),
                first_name: "4242".into(),
                last_name: "Zzyzxq".into(),
                birth_date: "1987-03-14".into(),
                sex: "77".into(),
            },
            municipality: "secretville".into(),
            treatment_start_date: "2031-07-19".into(),
            treatment_status: "qtreat".into(),
            referral_source: "qrefer".into(),
            living_with: "qwith".into(),
            living_with_children: "qchild".into(),
            living_where: "qwhere".into(),
            labour_status: "qlabour".into(),
            education: "qedu".into(),
            primary_drug: "qprimary".into(),
            route: "qroute".into(),
            frequency: "qfreq".into(),
            age_first_use: Some(117),
            secondary_drugs: strs(&["qsecond"]),
            polydrug: "qpoly".into(),
            ost_status: "qost".into(),
            ost_first_year: Some(1873),
            injecting: "qinject".into(),
            age_first_injection: Some(173),
            sharing: "qshare".into(),
            hiv_testing: "qhiv".into(),
            hcv_testing: "qhcv".into(),
            notes: Some(format!("secret note {}", "s".repeat(2000))),
        };
        // Rule violations on otherwise valid codes, with a known birth date.
        let mut rules = valid();
        rules.identity.birth_date = "1987-03-14".into();
        rules.treatment_start_date = "2024-08-23".into(); // age 37
        rules.age_first_use = Some(58);
        rules.age_first_injection = Some(59);
        rules.ost_first_year = Some(1983);
        rules.secondary_drugs = strs(&["1.1", "7.2", "7.2"]);
        let mut before_birth = valid();
        before_birth.identity.birth_date = "1987-03-14".into();
        before_birth.treatment_start_date = "1987-03-13".into();

        let secrets = [
            "98765X4321",
            "4242",
            "Zzyzxq",
            "1987",
            "03-14",
            "77",
            "secretville",
            "2031",
            "07-19",
            "qtreat",
            "qrefer",
            "qwith",
            "qchild",
            "qwhere",
            "qlabour",
            "qedu",
            "qprimary",
            "qroute",
            "qfreq",
            "117",
            "qsecond",
            "qpoly",
            "qost",
            "1873",
            "173",
            "qinject",
            "qshare",
            "qhiv",
            "qhcv",
            "secret note",
            "2024",
            "08-23",
            "58",
            "59",
            "1983",
            "37",
            "03-13",
        ];
        for input in [&leaky, &rules, &before_birth] {
            let errors = err(input);
            assert!(errors.len() > 3 || input.treatment_start_date == "1987-03-13");
            for e in &errors {
                for secret in secrets {
                    assert!(!e.problem.contains(secret), "{e:?} contains {secret}");
                }
            }
        }
    }

    #[test]
    fn debug_output_is_redacted() {
        let input = valid();
        assert_eq!(format!("{input:?}"), "EpisodeInput { .. }");
        let v = ok(&input);
        assert_eq!(format!("{v:?}"), "ValidEpisode { .. }");
        assert_eq!(format!("{:?}", v.sealed), "SealedEpisode { .. }");
        let correction = EpisodeCorrection {
            notes: Some("private".into()),
            ..EpisodeCorrection::default()
        };
        assert_eq!(format!("{correction:?}"), "EpisodeCorrection { .. }");
    }

    #[test]
    fn json_field_names_and_unknown_fields() {
        let json = serde_json::to_value(valid()).expect("serialise");
        let back: EpisodeInput = serde_json::from_value(json.clone()).expect("round trip");
        assert_eq!(run(&back).ok(), run(&valid()).ok());
        // Optional items may be left out.
        let mut minimal = json.clone();
        for key in [
            "age_first_use",
            "secondary_drugs",
            "ost_first_year",
            "age_first_injection",
            "notes",
        ] {
            minimal.as_object_mut().expect("object").remove(key);
        }
        let minimal: EpisodeInput = serde_json::from_value(minimal).expect("defaults");
        assert!(minimal.secondary_drugs.is_empty() && minimal.notes.is_none());
        // Unknown fields are refused (a misspelt item must not be dropped silently).
        let mut extra = json;
        extra
            .as_object_mut()
            .expect("object")
            .insert("centre".into(), "1".into());
        assert!(serde_json::from_value::<EpisodeInput>(extra).is_err());
        assert!(serde_json::from_str::<EpisodeCorrection>(r#"{"rout":"2"}"#).is_err());
        let c: EpisodeCorrection = serde_json::from_str(r#"{"route":"2"}"#).expect("correction");
        assert_eq!(c.route.as_deref(), Some("2"));
        assert!(c.primary_drug.is_none() && c.age_first_use.is_none());
    }

    #[test]
    fn openapi_schemas_document_every_field() {
        use utoipa::PartialSchema;
        let input = serde_json::to_value(EpisodeInput::schema()).expect("schema");
        let json = serde_json::to_value(valid()).expect("json");
        let keys = json.as_object().expect("object").keys();
        for key in keys {
            let description = input["properties"][key]["description"].as_str();
            assert!(
                description.is_some_and(|d| d.contains("TDI") || d.contains("not a TDI item")),
                "{key}: {description:?}"
            );
        }
        let correction = serde_json::to_value(EpisodeCorrection::schema()).expect("schema");
        let properties = correction["properties"].as_object().expect("properties");
        assert_eq!(properties.len(), 23);
        assert!(
            properties
                .keys()
                .all(|k| json.get(k).is_some() && k != "identity")
        );
        assert!(properties.values().all(|p| p["description"].is_string()));
        for schema in [PlainEpisode::schema(), SealedEpisode::schema()] {
            let schema = serde_json::to_value(schema).expect("schema");
            let properties = schema["properties"].as_object().expect("properties");
            assert!(properties.values().all(|p| p["description"].is_string()));
        }
    }

    #[test]
    fn apply_reports_changed_fields() {
        let current = valid();
        let cases: Vec<(&str, EpisodeCorrection, Vec<&str>)> = vec![
            ("empty", EpisodeCorrection::default(), vec![]),
            (
                "same values",
                EpisodeCorrection {
                    route: Some(" 1 ".into()),
                    age_first_use: Some(19),
                    secondary_drugs: Some(strs(&["2.1", "8"])),
                    notes: Some("Referred by family after an overdose.".into()),
                    ..EpisodeCorrection::default()
                },
                vec![],
            ),
            (
                "several",
                EpisodeCorrection {
                    hcv_testing: Some("2.2".into()),
                    municipality: Some("peje".into()),
                    age_first_use: Some(18),
                    secondary_drugs: Some(strs(&["8", "2.1"])),
                    treatment_start_date: Some("2026-05-21".into()),
                    injecting: Some("2.3".into()), // unchanged
                    ..EpisodeCorrection::default()
                },
                vec![
                    "municipality",
                    "treatment_start_date",
                    "age_first_use",
                    "secondary_drugs",
                    "hcv_testing",
                ],
            ),
            (
                "every field",
                EpisodeCorrection {
                    municipality: Some("prizren".into()),
                    treatment_start_date: Some("2026-06-01".into()),
                    treatment_status: Some("99".into()),
                    referral_source: Some("1".into()),
                    living_with: Some("1".into()),
                    living_with_children: Some("2".into()),
                    living_where: Some("2".into()),
                    labour_status: Some("1".into()),
                    education: Some("4".into()),
                    primary_drug: Some("2.1".into()),
                    route: Some("4".into()),
                    frequency: Some("2".into()),
                    age_first_use: Some(20),
                    secondary_drugs: Some(vec![]),
                    polydrug: Some("2".into()),
                    ost_status: Some("2".into()),
                    ost_first_year: Some(2021),
                    injecting: Some("2.1".into()),
                    age_first_injection: Some(23),
                    sharing: Some("1".into()),
                    hiv_testing: Some("1".into()),
                    hcv_testing: Some("1".into()),
                    notes: Some("Corrected.".into()),
                },
                vec![
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
                ],
            ),
            (
                "OST set to never clears the year",
                EpisodeCorrection {
                    ost_status: Some("1".into()),
                    ..EpisodeCorrection::default()
                },
                vec!["ost_status", "ost_first_year"],
            ),
            (
                "99 clears a number back to not known",
                EpisodeCorrection {
                    age_first_use: Some(99),
                    ..EpisodeCorrection::default()
                },
                vec!["age_first_use"],
            ),
            (
                "never injected clears the age at first injection",
                EpisodeCorrection {
                    injecting: Some("1".into()),
                    route: Some("2".into()),
                    sharing: Some("99".into()),
                    ..EpisodeCorrection::default()
                },
                vec!["route", "injecting", "age_first_injection", "sharing"],
            ),
            (
                "blank notes clear them",
                EpisodeCorrection {
                    notes: Some(" ".into()),
                    ..EpisodeCorrection::default()
                },
                vec!["notes"],
            ),
        ];
        for (name, correction, want) in cases {
            let (next, changed) = apply(&current, &correction);
            assert_eq!(changed, want, "{name}");
            // The corrected episode is valid again and carries the new values.
            let v = match run(&next) {
                Ok(v) => v,
                Err(errors) => panic!("{name}: {errors:?}"),
            };
            if changed.is_empty() {
                assert_eq!(run(&next).ok(), run(&current).ok(), "{name}");
            }
            if let Some(m) = &correction.municipality {
                assert_eq!(&v.plain.municipality, m, "{name}");
            }
            if let Some(d) = &correction.secondary_drugs {
                assert_eq!(&v.plain.secondary_drugs, d, "{name}");
            }
        }
        // Specific values after the OST and notes corrections.
        let never = EpisodeCorrection {
            ost_status: Some("1".into()),
            ..EpisodeCorrection::default()
        };
        assert_eq!(apply(&current, &never).0.ost_first_year, None);
        let blank = EpisodeCorrection {
            notes: Some(String::new()),
            ..EpisodeCorrection::default()
        };
        assert_eq!(apply(&current, &blank).0.notes, None);
        // Identity is never touched.
        let (next, _) = apply(&current, &never);
        assert_eq!(
            serde_json::to_value(&next.identity).ok(),
            serde_json::to_value(&current.identity).ok()
        );
    }

    #[test]
    fn apply_can_produce_an_invalid_episode_for_validate_to_catch() {
        let correction = EpisodeCorrection {
            route: Some("1".into()),
            injecting: Some("1".into()),
            ost_status: Some("2".into()),
            ..EpisodeCorrection::default()
        };
        let mut current = valid();
        current.route = "2".into();
        let (next, changed) = apply(&current, &correction);
        assert_eq!(
            changed,
            ["route", "ost_status", "injecting", "age_first_injection"]
        );
        assert_eq!(fields(&err(&next)), ["injecting"]);
        // OST never with an explicit year is kept, and rejected by validate.
        let both = EpisodeCorrection {
            ost_status: Some("1".into()),
            ost_first_year: Some(2021),
            ..EpisodeCorrection::default()
        };
        let (next, changed) = apply(&valid(), &both);
        assert_eq!(changed, ["ost_status", "ost_first_year"]);
        assert_eq!(fields(&err(&next)), ["ost_first_year"]);
    }
}
