//! Drug-related deaths (DRD): the WHO ICD-10 cause-of-death codes the registry accepts
//! and the two EMCDDA case definitions, Selection B (general mortality register,
//! underlying cause of death) and Selection D (forensic or police special register,
//! toxicology).
//!
//! Facts: `shared/reference/drd.md` (EMCDDA DRD standard protocol 3.2, WHO ICD-10).
//! Every rule below carries a `//` comment naming the part of drd.md it comes from;
//! where a rule is a registry decision that drd.md does not state, the comment says so.
//!
//! Classification is deterministic and does not depend on the order of the input
//! lists: the same record always gets the same rule strings, so published counts can
//! be recomputed from stored records.
//!
//! No I/O: the seed lists `seeds/icd10.csv` and `seeds/tdi_codes.csv` (the files the
//! database loads) are embedded at compile time and parsed at first use.
//!
//! Privacy: error messages name the field and say what is expected; they never echo a
//! submitted value.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::field::FieldError;

/// Longest text `Icd10::parse` looks at, in characters; anything longer is rejected
/// as malformed without further work (the longest ICD-10-CM code has 8).
const MAX_ICD10_INPUT_CHARS: usize = 16;
/// Longest accepted `Substance::nps_name`, in characters (Unicode scalar values).
pub const MAX_NPS_NAME_CHARS: usize = 200;

// ---------------------------------------------------------------------------
// Seed lists
// ---------------------------------------------------------------------------

/// `code,label,family`: the ICD-10 codes the death registry accepts.
const ICD10_SEED: &str = include_str!("../../seeds/icd10.csv");
/// `code,title`: every WHO ICD-10 (2019) category and four-character code.
const ICD10_WHO_SEED: &str = include_str!("../../seeds/icd10_who.csv");
/// `list,code,label,parent`: the TDI code lists; list `substance` is used here.
const TDI_SEED: &str = include_str!("../../seeds/tdi_codes.csv");

/// Accepted ICD-10 code → its `family` column (labels are not kept). The family is
/// needed by Selection D's underlying-cause check.
static ICD10_FAMILIES: LazyLock<HashMap<&'static str, &'static str>> =
    LazyLock::new(|| icd10_seed_rows(ICD10_SEED).collect());

/// Every WHO ICD-10 code a record may carry (the first column; titles may hold
/// quoted commas, codes never do).
static ICD10_WHO: LazyLock<std::collections::HashSet<&'static str>> = LazyLock::new(|| {
    ICD10_WHO_SEED
        .lines()
        .skip(1)
        .filter_map(|line| line.split(',').next())
        .filter(|code| !code.is_empty())
        .collect()
});

/// TDI substance codes (list `substance`), in seed order. The order ranks the
/// qualifying substances when Selection D names one in its rule string.
static TDI_SUBSTANCES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| tdi_substance_codes(TDI_SEED).collect());

/// `(code, family)` of every data row. The label may hold quoted commas; the code
/// (first column) and the family (last column) never do, which a test checks.
fn icd10_seed_rows(text: &'static str) -> impl Iterator<Item = (&'static str, &'static str)> {
    text.lines()
        .skip(1)
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .filter_map(|line| {
            let code = line.split(',').next()?.trim();
            let family = line.rsplit(',').next()?.trim();
            Some((code, family))
        })
}

/// Codes of list `substance`, in file order. List and code never hold commas.
fn tdi_substance_codes(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines().filter_map(|line| {
        let mut fields = line.split(',');
        if fields.next()?.trim() != "substance" {
            return None;
        }
        fields.next().map(str::trim)
    })
}

// ---------------------------------------------------------------------------
// ICD-10 codes
// ---------------------------------------------------------------------------

/// A WHO ICD-10 code as accepted by the death registry.
///
/// Always normalised (`F11.2`, `T40.1`, `X42`) and always one of the codes in
/// `seeds/icd10.csv`. Serialises as the plain string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(transparent)]
pub struct Icd10(String);

/// The shape of a candidate code after trimming and upper-casing.
enum Icd10Shape {
    /// A WHO ICD-10 code, normalised: category, or category, point and one digit.
    Who(String),
    /// Category followed by two to four more characters: a US ICD-10-CM code.
    ClinicalModification,
    /// Anything else.
    Malformed,
}

/// Classifies the shape of an upper-cased, trimmed candidate.
fn icd10_shape(text: &str) -> Icd10Shape {
    let bytes = text.as_bytes();
    // drd.md "ICD-10 codes used": WHO codes look like `F11.2`, `T40.1`, `X42`: a
    // letter and two digits (the category), optionally a point and one digit.
    let category_ok = bytes.len() >= 3
        && bytes[0].is_ascii_uppercase()
        && bytes[1].is_ascii_digit()
        && bytes[2].is_ascii_digit();
    if !category_ok {
        return Icd10Shape::Malformed;
    }
    let category = &text[..3];
    let rest = &text[3..];
    if rest.is_empty() {
        return Icd10Shape::Who(category.to_owned());
    }
    let subdivision = rest.strip_prefix('.').unwrap_or(rest);
    let sub = subdivision.as_bytes();
    // The fourth character may come without the point ("F112" → "F11.2").
    if sub.len() == 1 && sub[0].is_ascii_digit() {
        return Icd10Shape::Who(format!("{category}.{subdivision}"));
    }
    // drd.md "ICD-10 codes used": US ICD-10-CM codes (`F11.20`, `T40.1X1A`) are a
    // different system and must be rejected or mapped explicitly. The registry rejects
    // them: CM codes add a 5th to 7th character after the category's subdivision.
    if (2..=4).contains(&sub.len()) && sub.iter().all(u8::is_ascii_alphanumeric) {
        return Icd10Shape::ClinicalModification;
    }
    Icd10Shape::Malformed
}

impl Icd10 {
    /// Parses and normalises (trim, upper-case; accepts "F112" → "F11.2",
    /// "T401" → "T40.1", "X42"), checks it is in the seed list, and rejects US
    /// ICD-10-CM style codes (e.g. "F11.20", "T40.1X1A") with a message saying WHO
    /// ICD-10 at 4 characters is required. Errors name `field` and never echo `text`.
    pub fn parse(text: &str, field: &str) -> Result<Icd10, FieldError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(FieldError::new(
                field,
                "is required: a WHO ICD-10 code such as F11.2, T40.1 or X42",
            ));
        }
        let malformed = || {
            FieldError::new(
                field,
                "is not a WHO ICD-10 code: expected a letter, two digits and optionally \
                 a point and one digit (e.g. F11.2, T40.1, X42)",
            )
        };
        if text.chars().count() > MAX_ICD10_INPUT_CHARS {
            return Err(malformed());
        }
        let code = match icd10_shape(&text.to_ascii_uppercase()) {
            Icd10Shape::Who(code) => code,
            Icd10Shape::ClinicalModification => {
                return Err(FieldError::new(
                    field,
                    "looks like a US ICD-10-CM code, which the registry does not accept: \
                     give the WHO ICD-10 code at 4 characters at most (a letter, two \
                     digits, optionally a point and one digit, e.g. F11.2, T40.1, X42)",
                ));
            }
            Icd10Shape::Malformed => return Err(malformed()),
        };
        if !ICD10_WHO.contains(code.as_str()) {
            return Err(FieldError::new(
                field,
                "is not a code of WHO ICD-10 (2019): check the letter and digits, or give \
                 the three-character category",
            ));
        }
        Ok(Icd10(code))
    }

    /// The normalised code, e.g. `F11.2`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The three-character category, e.g. `F11` for `F11.2`.
    fn category(&self) -> &str {
        &self.0[..3]
    }

    /// The intent an external cause's code records (ICD-10 chapter XX): V01-X59
    /// accident, X60-X84 intentional self-harm, X85-Y09 assault, Y10-Y34 event of
    /// undetermined intent. `None` for every other code.
    pub fn intent(&self) -> Option<Manner> {
        let letter = self.0.as_bytes().first()?;
        let number: u16 = self.0.get(1..3)?.parse().ok()?;
        match (letter, number) {
            (b'V' | b'W', _) | (b'X', 0..=59) => Some(Manner::Accident),
            (b'X', 60..=84) => Some(Manner::Suicide),
            (b'X', 85..=99) | (b'Y', 0..=9) => Some(Manner::Homicide),
            (b'Y', 10..=34) => Some(Manner::Undetermined),
            _ => None,
        }
    }

    /// The code's `family` in the drug-related-death list (`None` for the other
    /// causes of death).
    fn family(&self) -> Option<&'static str> {
        ICD10_FAMILIES.get(self.0.as_str()).copied()
    }
}

impl fmt::Display for Icd10 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------
// Manner of death
// ---------------------------------------------------------------------------

/// Manner (intent) of death as the forensic register records it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::Display,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "snake_case")]
pub enum Manner {
    /// Disease or old age: not an external cause.
    Natural,
    Accident,
    Suicide,
    Homicide,
    Undetermined,
    /// Still under investigation; Selection D waits for it.
    Pending,
}

impl Manner {
    /// Every manner, in declaration order.
    pub const ALL: [Manner; 6] = [
        Manner::Natural,
        Manner::Accident,
        Manner::Suicide,
        Manner::Homicide,
        Manner::Undetermined,
        Manner::Pending,
    ];

    /// The wire name: `natural`, `accident`, `suicide`, `homicide`, `undetermined`,
    /// `pending`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A text that is not one of the manner names. Does not carry the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("manner must be one of natural, accident, suicide, homicide, undetermined, pending")]
pub struct UnknownManner;

impl FromStr for Manner {
    type Err = UnknownManner;

    /// Accepts the wire names, ignoring surrounding whitespace and ASCII case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        Manner::ALL
            .into_iter()
            .find(|manner| manner.as_str().eq_ignore_ascii_case(text))
            .ok_or(UnknownManner)
    }
}

// ---------------------------------------------------------------------------
// Substances found by toxicology
// ---------------------------------------------------------------------------

/// One substance detected by toxicology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substance {
    /// A TDI substance code from the seed list (list `substance`, e.g. `1.1`, `2.1`,
    /// `4.2`, `8`). Exactly one of `code` and `nps_name` is set.
    pub code: Option<String>,
    /// A free name for a new psychoactive substance not in the list.
    pub nps_name: Option<String>,
    /// Whether the substance contributed to the death (as opposed to merely present).
    pub cause_relevant: bool,
}

/// How a substance counts for Selection D.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubstanceKind {
    /// An illicit drug that makes a death a Selection D case when cause-relevant.
    Qualifying,
    /// A medicine (hypnotics and sedatives).
    Medicine,
    /// Alcohol.
    Alcohol,
    /// Anything else (inhalants, other, not known, a code not in the list).
    Other,
}

/// Kind of a TDI substance group (the part of the code before the point).
fn group_kind(group: &str) -> SubstanceKind {
    match group {
        // drd.md "Selection D", qualifying substances: opioids incl. heroin/morphine,
        // methadone, buprenorphine, fentanyls (TDI 1; 1.1 heroin, 1.2 methadone,
        // 1.3 buprenorphine, 1.4 fentanyls, 1.5 other opioids).
        "1" => SubstanceKind::Qualifying,
        // drd.md "Selection D": cocaine (TDI 2; 2.1 powder, 2.2 crack, 2.3 other).
        "2" => SubstanceKind::Qualifying,
        // drd.md "Selection D": amphetamine-type stimulants incl. MDMA (TDI 3;
        // 3.1 amphetamines, 3.2 methamphetamine, 3.3 MDMA, 3.4 synthetic cathinones,
        // 3.5 other stimulants).
        "3" => SubstanceKind::Qualifying,
        // drd.md "Selection D": hallucinogens (TDI 5; 5.1 LSD, 5.3 other). 5.2 ketamine
        // counts as qualifying too: a registry decision (drd.md marks the list "check")
        // — ketamine is also an anaesthetic, but in drug-related deaths it is almost
        // always non-medical use, and TDI files it under hallucinogens.
        "5" => SubstanceKind::Qualifying,
        // drd.md "Selection D": cannabis (TDI 7; 7.1 herbal or resin, 7.2 synthetic
        // cannabinoids, 7.3 other).
        "7" => SubstanceKind::Qualifying,
        // drd.md "Selection D": not when only medicines are involved. TDI 4 hypnotics
        // and sedatives (4.1 barbiturates, 4.2 benzodiazepines, 4.3 GHB/GBL, 4.4 other)
        // are the medicines; GHB/GBL is counted with them because TDI files it there.
        "4" => SubstanceKind::Medicine,
        // drd.md "Selection D": not when only alcohol is involved (TDI 8).
        "8" => SubstanceKind::Alcohol,
        // TDI 6 volatile inhalants, 9 other substances, 99 not known: not among the
        // qualifying substances of drd.md "Selection D".
        _ => SubstanceKind::Other,
    }
}

impl Substance {
    /// Checks the invariants: exactly one of `code` and `nps_name`; `code` in the TDI
    /// substance list; `nps_name` not blank and at most `MAX_NPS_NAME_CHARS` long.
    /// Errors name `field` (or `field.code`, `field.nps_name`) and never echo a value.
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        match (&self.code, &self.nps_name) {
            (Some(_), Some(_)) => Err(FieldError::new(
                field,
                "give either code (a TDI substance code) or nps_name (a new psychoactive \
                 substance not in the list), not both",
            )),
            (None, None) => Err(FieldError::new(
                field,
                "needs code (a TDI substance code) or nps_name (a new psychoactive \
                 substance not in the list)",
            )),
            (Some(code), None) => {
                if TDI_SUBSTANCES.contains(&code.trim()) {
                    Ok(())
                } else {
                    Err(FieldError::new(
                        format!("{field}.code"),
                        "is not a TDI substance code (list substance, e.g. 1.1 heroin, \
                         2.1 powder cocaine, 4.2 benzodiazepines, 8 alcohol)",
                    ))
                }
            }
            (None, Some(name)) => {
                let chars = name.trim().chars().count();
                if chars == 0 {
                    Err(FieldError::new(
                        format!("{field}.nps_name"),
                        "must not be blank",
                    ))
                } else if chars > MAX_NPS_NAME_CHARS {
                    Err(FieldError::new(
                        format!("{field}.nps_name"),
                        format!("must be at most {MAX_NPS_NAME_CHARS} characters"),
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The substance's kind, its rank (TDI seed order; new psychoactive substances
    /// after every listed code) and the label used in a rule string (the TDI code, or
    /// `NPS` — never the free name). A substance that breaks the `validate` invariants
    /// still gets a deterministic answer: `code` wins over `nps_name`, an unknown code
    /// counts as `Other`.
    fn assess(&self) -> (SubstanceKind, usize, &str) {
        let listed = TDI_SUBSTANCES.as_slice();
        match (&self.code, &self.nps_name) {
            (Some(code), _) => {
                let code = code.trim();
                match listed.iter().position(|listed| *listed == code) {
                    Some(rank) => {
                        let group = code.split('.').next().unwrap_or(code);
                        (group_kind(group), rank, code)
                    }
                    None => (SubstanceKind::Other, usize::MAX, code),
                }
            }
            // Brief (drd.md has no NPS rule): any new psychoactive substance qualifies.
            (None, Some(name)) if !name.trim().is_empty() => {
                (SubstanceKind::Qualifying, listed.len(), "NPS")
            }
            (None, _) => (SubstanceKind::Other, usize::MAX, ""),
        }
    }
}

// ---------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------

/// A death's status under the two EMCDDA case definitions, with the rule that decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Classification {
    /// Whether the death is a Selection B case (general mortality register).
    pub selection_b: bool,
    /// Rule id that matched, or why excluded, e.g. "B1:underlying-F11",
    /// "B2:X42+T40.1", "B3:Y14+T43.6", "not-B:underlying-F10",
    /// "not-B:X42-without-T40/T43.6", "not-B:no-underlying-cause".
    pub selection_b_rule: String,
    /// Whether the death is a Selection D case (forensic or police special register).
    pub selection_d: bool,
    /// e.g. "D:cause-relevant-1.1", "D:cause-relevant-NPS", "not-D:medicines-only",
    /// "not-D:alcohol-only", "not-D:medicines-and-alcohol-only", "not-D:no-toxicology",
    /// "not-D:no-cause-relevant-substance", "not-D:no-qualifying-substance",
    /// "not-D:manner-pending", "not-D:natural-or-external-not-poisoning".
    pub selection_d_rule: String,
}

// drd.md "Selection B" 1: underlying cause F11, F12, F14, F15, F16 or F19, any fourth
// character (whether some are excluded is marked "check"; codes are kept at 4
// characters so a variant can be recomputed) or the bare category. F10 alcohol, F13
// sedatives/hypnotics, F17 tobacco and F18 volatile solvents are not B: they fall
// through to "not-B:underlying-F10" etc.
const B1_CATEGORIES: &[&str] = &["F11", "F12", "F14", "F15", "F16", "F19"];
// drd.md "Selection B" 2: underlying X41, X42, X61, X62, Y11 or Y12 and a multiple
// cause among T40.0-T40.9 or T43.6.
const B2_CATEGORIES: &[&str] = &["X41", "X42", "X61", "X62", "Y11", "Y12"];
// drd.md "Selection B" 3: underlying X44, X64 or Y14 only with T40.0-T40.9 or T43.6.
const B3_CATEGORIES: &[&str] = &["X44", "X64", "Y14"];

/// Families (column `family` of seeds/icd10.csv) whose codes, as underlying cause,
/// are a drug poisoning or a drug disorder, so Selection D may apply.
// drd.md "Selection D" and "Deaths caused indirectly (AIDS, accidents, violence) are
// outside both": F10-F19 (F1x), X40-X44 (poisoning_accident), X60-X64
// (poisoning_self), Y10-Y14 (poisoning_undetermined), X85 (assault_drugs).
// Registry decision: T40.x (T_narcotic) and T43.6 (T_psychostimulant) count too. They
// are poisonings by exactly the drugs of the B rules; WHO rules do not allow a
// chapter XIX T code as underlying cause, but when a certificate carries one anyway
// the death is still a drug poisoning and must not be dropped from D for a coding
// error. The remaining seed codes (T_other: T42, T43 except T43.6, T51 — poisoning
// by medicines or alcohol as underlying cause) and any family not listed here (the
// seed holds no natural or external non-poisoning codes today, e.g. V01-V99 road
// accidents; a family a future seed adds lands here by default) exclude D.
const D_UNDERLYING_FAMILIES: &[&str] = &[
    "F1x",
    "poisoning_accident",
    "poisoning_self",
    "poisoning_undetermined",
    "assault_drugs",
    "T_narcotic",
    "T_psychostimulant",
];

/// Classifies a death under Selection B (from the ICD-10 underlying and multiple
/// causes) and Selection D (from manner, toxicology and the substances found, with
/// the underlying cause as a check). Deterministic and independent of the order of
/// `multiple` and `substances`.
pub fn classify(
    underlying: Option<&Icd10>,
    multiple: &[Icd10],
    manner: Option<Manner>,
    toxicology_done: bool,
    substances: &[Substance],
) -> Classification {
    let (selection_b, selection_b_rule) = selection_b(underlying, multiple);
    let (selection_d, selection_d_rule) =
        selection_d(underlying, manner, toxicology_done, substances);
    Classification {
        selection_b,
        selection_b_rule,
        selection_d,
        selection_d_rule,
    }
}

/// The lowest multiple cause among T40.0-T40.9 and T43.6, if any.
fn qualifying_t_code(multiple: &[Icd10]) -> Option<&str> {
    multiple
        .iter()
        .map(Icd10::as_str)
        // drd.md "Selection B" 2 and 3: T40.0-T40.9 or T43.6. The bare category T40
        // (every one of its subdivisions is in the range) counts too; the bare T43
        // does not (most of its subdivisions are not T43.6).
        .filter(|code| code.starts_with("T40") || *code == "T43.6")
        .min()
}

fn selection_b(underlying: Option<&Icd10>, multiple: &[Icd10]) -> (bool, String) {
    // drd.md "Selection B" works on the underlying cause of death: none, no B.
    let Some(underlying) = underlying else {
        return (false, "not-B:no-underlying-cause".to_owned());
    };
    let category = underlying.category();
    // drd.md "Selection B" 1.
    if B1_CATEGORIES.contains(&category) {
        return (true, format!("B1:underlying-{category}"));
    }
    // drd.md "Selection B" 2 and 3 (same condition, rule ids kept apart).
    let rule = if B2_CATEGORIES.contains(&category) {
        "B2"
    } else if B3_CATEGORIES.contains(&category) {
        "B3"
    } else {
        // drd.md "Selection B" lists no other underlying cause: F10, F13, F17, F18,
        // X40, X43, X60, X63, Y10, Y13, X85 and T codes as underlying are not B.
        return (false, format!("not-B:underlying-{category}"));
    };
    match qualifying_t_code(multiple) {
        Some(t_code) => (true, format!("{rule}:{category}+{t_code}")),
        None => (false, format!("not-B:{category}-without-T40/T43.6")),
    }
}

fn selection_d(
    underlying: Option<&Icd10>,
    manner: Option<Manner>,
    toxicology_done: bool,
    substances: &[Substance],
) -> (bool, String) {
    let not_d = |rule: &str| (false, format!("not-D:{rule}"));
    // The checks run in this fixed order; the first that fails names the rule.
    //
    // drd.md "Selection D": whatever the manner (accident, suicide, homicide,
    // undetermined) — so an unrecorded manner (None) does not exclude either; but
    // while the manner is pending the case is open and is not counted yet (brief).
    if manner == Some(Manner::Pending) {
        return not_d("manner-pending");
    }
    // A natural death is not a poisoning, whatever toxicology found.
    if manner == Some(Manner::Natural) {
        return not_d("manner-natural");
    }
    // drd.md "Selection D" is the forensic register's definition by the substances
    // found: without toxicology there is nothing to decide on.
    if !toxicology_done {
        return not_d("no-toxicology");
    }
    // drd.md "Deaths caused indirectly (AIDS, accidents, violence) are outside both":
    // an underlying cause that is not a drug poisoning or drug disorder excludes D
    // whatever toxicology found (e.g. a road accident with heroin present).
    if let Some(underlying) = underlying {
        let poisoning = underlying
            .family()
            .is_some_and(|family| D_UNDERLYING_FAMILIES.contains(&family));
        if !poisoning {
            return not_d("natural-or-external-not-poisoning");
        }
    }
    let mut any_relevant = false;
    let (mut medicine, mut alcohol, mut other) = (false, false, false);
    // The qualifying substance named in the rule: lowest TDI seed rank, so the rule
    // does not depend on the order of `substances` (opioids first).
    let mut named: Option<(usize, &str)> = None;
    // drd.md "Selection D": deaths from poisoning, so only cause-relevant substances
    // count; a qualifying substance merely present does not make D (brief).
    for substance in substances.iter().filter(|s| s.cause_relevant) {
        any_relevant = true;
        let (kind, rank, label) = substance.assess();
        match kind {
            SubstanceKind::Qualifying => {
                if named.is_none_or(|(best, _)| rank < best) {
                    named = Some((rank, label));
                }
            }
            SubstanceKind::Medicine => medicine = true,
            SubstanceKind::Alcohol => alcohol = true,
            SubstanceKind::Other => other = true,
        }
    }
    if let Some((_, label)) = named {
        return (true, format!("D:cause-relevant-{label}"));
    }
    if !any_relevant {
        return not_d("no-cause-relevant-substance");
    }
    // drd.md "Selection D": not when only medicines or only alcohol are involved.
    match (medicine, alcohol, other) {
        (true, false, false) => not_d("medicines-only"),
        (false, true, false) => not_d("alcohol-only"),
        (true, true, false) => not_d("medicines-and-alcohol-only"),
        // Inhalants, other or unknown substances (with or without medicines/alcohol):
        // none of drd.md's qualifying substances is cause-relevant.
        _ => not_d("no-qualifying-substance"),
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn icd(code: &str) -> Icd10 {
        Icd10::parse(code, "test").unwrap_or_else(|e| panic!("{code}: {}", e.problem))
    }

    fn icds(codes: &[&str]) -> Vec<Icd10> {
        codes.iter().map(|c| icd(c)).collect()
    }

    fn tdi(code: &str, cause_relevant: bool) -> Substance {
        Substance {
            code: Some(code.to_owned()),
            nps_name: None,
            cause_relevant,
        }
    }

    fn nps(name: &str, cause_relevant: bool) -> Substance {
        Substance {
            code: None,
            nps_name: Some(name.to_owned()),
            cause_relevant,
        }
    }

    /// Selection B only: `(selection_b, rule)`.
    fn b(underlying: Option<&str>, multiple: &[&str]) -> (bool, String) {
        let underlying = underlying.map(icd);
        let c = classify(underlying.as_ref(), &icds(multiple), None, false, &[]);
        (c.selection_b, c.selection_b_rule)
    }

    /// Selection D only: `(selection_d, rule)`.
    fn d(
        underlying: Option<&Icd10>,
        manner: Option<Manner>,
        toxicology_done: bool,
        substances: &[Substance],
    ) -> (bool, String) {
        let c = classify(underlying, &[], manner, toxicology_done, substances);
        (c.selection_d, c.selection_d_rule)
    }

    const FAMILIES: &[&str] = &[
        "F1x",
        "poisoning_accident",
        "poisoning_self",
        "poisoning_undetermined",
        "assault_drugs",
        "T_narcotic",
        "T_psychostimulant",
        "T_other",
    ];

    // --- seeds -----------------------------------------------------------------

    #[test]
    fn icd10_seed_is_well_formed_and_every_code_parses_to_itself() {
        assert_eq!(
            ICD10_SEED.lines().next().map(str::trim),
            Some("code,label,family")
        );
        let rows: Vec<_> = icd10_seed_rows(ICD10_SEED).collect();
        assert_eq!(
            rows.len(),
            ICD10_FAMILIES.len(),
            "duplicate codes in the seed"
        );
        assert!(
            rows.len() >= 100,
            "seed looks truncated: {} rows",
            rows.len()
        );
        for (code, family) in rows {
            assert!(!code.contains('"') && !family.contains('"'), "{code}");
            assert!(
                FAMILIES.contains(&family),
                "{code}: unknown family {family}"
            );
            assert_eq!(icd(code).as_str(), code);
            assert_eq!(icd(code).family(), Some(family));
        }
    }

    #[test]
    fn tdi_substances_each_have_the_expected_kind() {
        use SubstanceKind::{Alcohol, Medicine, Other, Qualifying};
        // Exhaustive over the seed's list `substance`, in seed order.
        let expected: &[(&str, SubstanceKind)] = &[
            ("1", Qualifying),
            ("1.1", Qualifying),
            ("1.2", Qualifying),
            ("1.3", Qualifying),
            ("1.4", Qualifying),
            ("1.5", Qualifying),
            ("2", Qualifying),
            ("2.1", Qualifying),
            ("2.2", Qualifying),
            ("2.3", Qualifying),
            ("3", Qualifying),
            ("3.1", Qualifying),
            ("3.2", Qualifying),
            ("3.3", Qualifying),
            ("3.4", Qualifying),
            ("3.5", Qualifying),
            ("4", Medicine),
            ("4.1", Medicine),
            ("4.2", Medicine),
            ("4.3", Medicine),
            ("4.4", Medicine),
            ("5", Qualifying),
            ("5.1", Qualifying),
            ("5.2", Qualifying),
            ("5.3", Qualifying),
            ("6", Other),
            ("7", Qualifying),
            ("7.1", Qualifying),
            ("7.2", Qualifying),
            ("7.3", Qualifying),
            ("8", Alcohol),
            ("9", Other),
            ("99", Other),
        ];
        let codes: Vec<&str> = expected.iter().map(|(code, _)| *code).collect();
        assert_eq!(TDI_SUBSTANCES.as_slice(), codes.as_slice());
        for (code, kind) in expected {
            assert_eq!(tdi(code, true).assess().0, *kind, "{code}");
        }
    }

    // --- Icd10::parse ----------------------------------------------------------

    #[test]
    fn icd10_parse_accepts_and_normalises() {
        let cases = [
            ("f11.2", "F11.2"),
            ("F112", "F11.2"),
            ("T401", "T40.1"),
            ("t43.6", "T43.6"),
            ("X42", "X42"),
            ("  x42\t", "X42"),
            ("F11", "F11"),
            ("y14", "Y14"),
            ("t51.0", "T51.0"),
        ];
        for (input, expected) in cases {
            let code = Icd10::parse(input, "underlying_cause").expect(input);
            assert_eq!(code.as_str(), expected, "{input:?}");
            assert_eq!(code.to_string(), expected);
        }
    }

    #[test]
    fn icd10_parse_rejects_without_echoing_the_input() {
        // (input, a phrase the message must contain)
        let cases = [
            ("F11.20", "ICD-10-CM"),
            ("T40.1X1A", "ICD-10-CM"),
            ("f1120", "ICD-10-CM"),
            ("T40.1X", "ICD-10-CM"),
            ("U99.9", "not a code of WHO ICD-10"),
            ("X42.0", "not a code of WHO ICD-10"),
            ("K99", "not a code of WHO ICD-10"),
            ("", "is required"),
            ("   ", "is required"),
            ("F12.", "not a WHO ICD-10 code"),
            ("12.5", "not a WHO ICD-10 code"),
            ("F1.2", "not a WHO ICD-10 code"),
            ("F11.X", "not a WHO ICD-10 code"),
            ("F11.2.1", "not a WHO ICD-10 code"),
            ("F11 .2", "not a WHO ICD-10 code"),
            ("heroin", "not a WHO ICD-10 code"),
            ("F11.2345678901234", "not a WHO ICD-10 code"),
            ("Ｆ11.2", "not a WHO ICD-10 code"),
        ];
        for (input, phrase) in cases {
            let err = Icd10::parse(input, "multiple_causes.2").expect_err(input);
            assert_eq!(err.field, "multiple_causes.2");
            assert!(err.problem.contains(phrase), "{input:?}: {}", err.problem);
            let trimmed = input.trim();
            if !trimmed.is_empty() {
                for form in [trimmed.to_owned(), trimmed.to_ascii_uppercase()] {
                    assert!(!err.problem.contains(&form), "{input:?} echoed");
                }
            }
        }
        let err = Icd10::parse("F11.20", "f").unwrap_err();
        assert!(err.problem.contains("WHO ICD-10") && err.problem.contains("4 characters"));
        let long = "F".repeat(10_000);
        assert!(
            !Icd10::parse(&long, "f")
                .unwrap_err()
                .problem
                .contains("FFFF")
        );
    }

    #[test]
    fn icd10_serialises_as_a_string() {
        assert_eq!(serde_json::to_string(&icd("F112")).unwrap(), "\"F11.2\"");
    }

    // --- Selection B -------------------------------------------------------------

    #[test]
    fn selection_b_rule_1_every_f1x_code_in_the_seed() {
        // Exhaustive over the seed's F10-F19 codes (bare category and .0-.9).
        let mut seen = 0;
        for (code, family) in icd10_seed_rows(ICD10_SEED) {
            if family != "F1x" {
                continue;
            }
            seen += 1;
            let category = &code[..3];
            let expected = B1_CATEGORIES.contains(&category);
            let rule = if expected {
                format!("B1:underlying-{category}")
            } else {
                format!("not-B:underlying-{category}")
            };
            assert_eq!(b(Some(code), &[]), (expected, rule), "{code}");
            // Multiple causes change nothing for rule 1.
            assert_eq!(b(Some(code), &["T40.1"]).0, expected, "{code}");
        }
        assert_eq!(seen, 110);
    }

    #[test]
    fn selection_b_rule_1_named_cases() {
        let cases = [
            ("F11.0", true, "B1:underlying-F11"),
            ("F11.2", true, "B1:underlying-F11"),
            ("F11", true, "B1:underlying-F11"),
            ("F12.1", true, "B1:underlying-F12"),
            ("F14.0", true, "B1:underlying-F14"),
            ("F15.2", true, "B1:underlying-F15"),
            ("F16.0", true, "B1:underlying-F16"),
            ("F19.9", true, "B1:underlying-F19"),
            ("F10.2", false, "not-B:underlying-F10"),
            ("F13.0", false, "not-B:underlying-F13"),
            ("F17.2", false, "not-B:underlying-F17"),
            ("F18.0", false, "not-B:underlying-F18"),
        ];
        for (code, expected, rule) in cases {
            assert_eq!(b(Some(code), &[]), (expected, rule.to_owned()), "{code}");
        }
    }

    #[test]
    fn selection_b_rules_2_and_3_need_t40_or_t43_6() {
        // (multiple causes, qualifying T code if any)
        let multiples: &[(&[&str], Option<&str>)] = &[
            (&["T40.1"], Some("T40.1")),
            (&["T43.6"], Some("T43.6")),
            (&["T40.4"], Some("T40.4")),
            (&["T42.4"], None),
            (&[], None),
            (&["T42.4", "T51.0", "T43.0"], None),
            (&["T43"], None),
            (&["T40"], Some("T40")),
            (&["T42.4", "T40.3"], Some("T40.3")),
            (&["F11.2", "X42"], None),
        ];
        let underlying = [
            ("X41", "B2"),
            ("X42", "B2"),
            ("X61", "B2"),
            ("X62", "B2"),
            ("Y11", "B2"),
            ("Y12", "B2"),
            ("X44", "B3"),
            ("X64", "B3"),
            ("Y14", "B3"),
        ];
        for (under, rule_id) in underlying {
            for (multiple, t_code) in multiples {
                let expected = match t_code {
                    Some(t) => (true, format!("{rule_id}:{under}+{t}")),
                    None => (false, format!("not-B:{under}-without-T40/T43.6")),
                };
                assert_eq!(b(Some(under), multiple), expected, "{under} {multiple:?}");
            }
            // Every T40 subdivision qualifies.
            for digit in 0..=9 {
                let t = format!("T40.{digit}");
                assert!(b(Some(under), &[t.as_str()]).0, "{under}+{t}");
            }
        }
    }

    #[test]
    fn selection_b_named_examples() {
        let cases: &[(Option<&str>, &[&str], bool, &str)] = &[
            (Some("X42"), &["T40.1"], true, "B2:X42+T40.1"),
            (Some("Y14"), &["T43.6"], true, "B3:Y14+T43.6"),
            (Some("X44"), &["T40.4"], true, "B3:X44+T40.4"),
            (
                Some("X42"),
                &["T42.4"],
                false,
                "not-B:X42-without-T40/T43.6",
            ),
            (Some("Y14"), &[], false, "not-B:Y14-without-T40/T43.6"),
            (None, &["T40.1"], false, "not-B:no-underlying-cause"),
        ];
        for (under, multiple, expected, rule) in cases {
            assert_eq!(b(*under, multiple), (*expected, (*rule).to_owned()));
        }
    }

    #[test]
    fn selection_b_rule_4_other_underlying_causes_are_never_b() {
        let never = [
            "X40", "X43", "X60", "X63", "Y10", "Y13", "X85", "T40", "T40.1", "T40.4", "T43.6",
            "T42.4", "T51.0",
        ];
        for code in never {
            let category = &code[..3];
            for multiple in [&[][..], &["T40.1"], &["T43.6", "T40.4"]] {
                assert_eq!(
                    b(Some(code), multiple),
                    (false, format!("not-B:underlying-{category}")),
                    "{code} {multiple:?}"
                );
            }
        }
    }

    #[test]
    fn selection_b_every_seed_code_as_underlying_with_a_qualifying_t_code() {
        // Exhaustive: B iff rule 1, 2 or 3 names the category.
        for (code, _) in icd10_seed_rows(ICD10_SEED) {
            let category = &code[..3];
            let expected = B1_CATEGORIES.contains(&category)
                || B2_CATEGORIES.contains(&category)
                || B3_CATEGORIES.contains(&category);
            assert_eq!(b(Some(code), &["T40.1"]).0, expected, "{code}");
        }
    }

    #[test]
    fn selection_b_does_not_depend_on_the_order_of_multiple_causes() {
        let forward = b(Some("X42"), &["T43.6", "T42.4", "T40.4", "T40.1"]);
        let backward = b(Some("X42"), &["T40.1", "T40.4", "T42.4", "T43.6"]);
        assert_eq!(forward, (true, "B2:X42+T40.1".to_owned()));
        assert_eq!(forward, backward);
    }

    // --- Selection D -------------------------------------------------------------

    #[test]
    fn selection_d_cases() {
        let x42 = icd("X42");
        let f11 = icd("F11.0");
        let x85 = icd("X85");
        let t_narcotic = icd("T40.1");
        let t_other = icd("T42.4");
        let alcohol_tox = icd("T51.0");
        // A cause outside the drug-related-death list: a road accident.
        let road_accident = icd("V89.2");
        let accident = Some(Manner::Accident);
        let heroin = tdi("1.1", true);
        let benzo = tdi("4.2", true);
        let alcohol = tdi("8", true);
        type Case<'a> = (
            &'a str,
            Option<&'a Icd10>,
            Option<Manner>,
            bool,
            Vec<Substance>,
            bool,
            &'a str,
        );
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("heroin", Some(&x42), accident, true, vec![heroin.clone()], true, "D:cause-relevant-1.1"),
            ("heroin, manner pending", Some(&x42), Some(Manner::Pending), true, vec![heroin.clone()], false, "not-D:manner-pending"),
            ("heroin, pending, no toxicology", Some(&x42), Some(Manner::Pending), false, vec![heroin.clone()], false, "not-D:manner-pending"),
            ("benzodiazepines only", Some(&x42), accident, true, vec![benzo.clone()], false, "not-D:medicines-only"),
            ("barbiturates and GHB", Some(&x42), accident, true, vec![tdi("4.1", true), tdi("4.3", true)], false, "not-D:medicines-only"),
            ("alcohol only", Some(&x42), accident, true, vec![alcohol.clone()], false, "not-D:alcohol-only"),
            ("benzodiazepines and alcohol", Some(&x42), accident, true, vec![benzo.clone(), alcohol.clone()], false, "not-D:medicines-and-alcohol-only"),
            ("heroin present, benzodiazepine cause-relevant", Some(&x42), accident, true, vec![tdi("1.1", false), benzo.clone()], false, "not-D:medicines-only"),
            ("heroin present only", Some(&x42), accident, true, vec![tdi("1.1", false)], false, "not-D:no-cause-relevant-substance"),
            ("nothing found", Some(&x42), accident, true, vec![], false, "not-D:no-cause-relevant-substance"),
            ("methadone", Some(&x42), Some(Manner::Suicide), true, vec![tdi("1.2", true)], true, "D:cause-relevant-1.2"),
            ("NPS", Some(&x42), accident, true, vec![nps("isotonitazene", true)], true, "D:cause-relevant-NPS"),
            ("NPS present only", Some(&x42), accident, true, vec![nps("isotonitazene", false), benzo.clone()], false, "not-D:medicines-only"),
            ("cannabis", Some(&x42), accident, true, vec![tdi("7.1", true)], true, "D:cause-relevant-7.1"),
            ("ketamine", Some(&x42), accident, true, vec![tdi("5.2", true)], true, "D:cause-relevant-5.2"),
            ("heroin with benzodiazepines and alcohol", Some(&x42), accident, true, vec![alcohol.clone(), benzo.clone(), heroin.clone()], true, "D:cause-relevant-1.1"),
            ("no toxicology", Some(&x42), accident, false, vec![heroin.clone()], false, "not-D:no-toxicology"),
            ("inhalants only", Some(&x42), accident, true, vec![tdi("6", true)], false, "not-D:no-qualifying-substance"),
            ("benzodiazepines and unknown", Some(&x42), accident, true, vec![benzo.clone(), tdi("99", true)], false, "not-D:no-qualifying-substance"),
            ("code not in the list", Some(&x42), accident, true, vec![tdi("42", true)], false, "not-D:no-qualifying-substance"),
            ("underlying F11", Some(&f11), Some(Manner::Undetermined), true, vec![heroin.clone()], true, "D:cause-relevant-1.1"),
            ("underlying not recorded", None, accident, true, vec![heroin.clone()], true, "D:cause-relevant-1.1"),
            ("manner not recorded", Some(&x42), None, true, vec![heroin.clone()], true, "D:cause-relevant-1.1"),
            ("assault by drugs (X85), homicide", Some(&x85), Some(Manner::Homicide), true, vec![tdi("2.1", true)], true, "D:cause-relevant-2.1"),
            ("T40.1 miscoded as underlying (T_narcotic), heroin", Some(&t_narcotic), accident, true, vec![heroin.clone()], true, "D:cause-relevant-1.1"),
            ("road accident, heroin", Some(&road_accident), accident, true, vec![heroin.clone()], false, "not-D:natural-or-external-not-poisoning"),
            ("benzodiazepine poisoning (T_other), heroin", Some(&t_other), accident, true, vec![heroin.clone()], false, "not-D:natural-or-external-not-poisoning"),
            ("alcohol poisoning (T_other), heroin", Some(&alcohol_tox), accident, true, vec![heroin.clone()], false, "not-D:natural-or-external-not-poisoning"),
            ("road accident, no toxicology", Some(&road_accident), accident, false, vec![heroin.clone()], false, "not-D:no-toxicology"),
        ];
        for (name, underlying, manner, toxicology, substances, expected, rule) in cases {
            assert_eq!(
                d(underlying, manner, toxicology, &substances),
                (expected, rule.to_owned()),
                "{name}"
            );
        }
    }

    #[test]
    fn selection_d_whatever_the_manner_except_pending_or_natural() {
        let x42 = icd("X42");
        let heroin = [tdi("1.1", true)];
        for manner in Manner::ALL.into_iter().map(Some).chain([None]) {
            let expected = manner != Some(Manner::Pending) && manner != Some(Manner::Natural);
            assert_eq!(
                d(Some(&x42), manner, true, &heroin).0,
                expected,
                "{manner:?}"
            );
        }
    }

    #[test]
    fn selection_d_every_tdi_substance_alone() {
        let x42 = icd("X42");
        for code in TDI_SUBSTANCES.iter() {
            let group = code.split('.').next().unwrap();
            let expected = match group {
                "1" | "2" | "3" | "5" | "7" => (true, format!("D:cause-relevant-{code}")),
                "4" => (false, "not-D:medicines-only".to_owned()),
                "8" => (false, "not-D:alcohol-only".to_owned()),
                "6" | "9" | "99" => (false, "not-D:no-qualifying-substance".to_owned()),
                _ => panic!("substance group {group} not covered by this test"),
            };
            let accident = Some(Manner::Accident);
            assert_eq!(
                d(Some(&x42), accident, true, &[tdi(code, true)]),
                expected,
                "{code}"
            );
            // Merely present never makes D.
            assert_eq!(
                d(Some(&x42), accident, true, &[tdi(code, false)]),
                (false, "not-D:no-cause-relevant-substance".to_owned()),
                "{code} present"
            );
        }
    }

    #[test]
    fn selection_d_every_seed_code_as_underlying() {
        let heroin = [tdi("1.1", true)];
        for (code, family) in icd10_seed_rows(ICD10_SEED) {
            let expected = if family == "T_other" {
                (false, "not-D:natural-or-external-not-poisoning".to_owned())
            } else {
                (true, "D:cause-relevant-1.1".to_owned())
            };
            let underlying = icd(code);
            let got = d(Some(&underlying), Some(Manner::Accident), true, &heroin);
            assert_eq!(got, expected, "{code} ({family})");
        }
    }

    #[test]
    fn selection_d_does_not_depend_on_the_order_of_substances() {
        let x42 = icd("X42");
        let accident = Some(Manner::Accident);
        let mut substances = vec![
            nps("isotonitazene", true),
            tdi("7.1", true),
            tdi("2.1", true),
            tdi("4.2", true),
            tdi("1.4", true),
            tdi("1.1", false),
        ];
        let forward = d(Some(&x42), accident, true, &substances);
        substances.reverse();
        assert_eq!(forward, (true, "D:cause-relevant-1.4".to_owned()));
        assert_eq!(d(Some(&x42), accident, true, &substances), forward);
        // Listed codes rank before new psychoactive substances.
        let pair = [nps("isotonitazene", true), tdi("7.3", true)];
        assert_eq!(
            d(Some(&x42), accident, true, &pair).1,
            "D:cause-relevant-7.3"
        );
    }

    #[test]
    fn selection_d_invalid_substances_get_a_deterministic_answer() {
        let x42 = icd("X42");
        let accident = Some(Manner::Accident);
        let both = Substance {
            code: Some("4.2".to_owned()),
            nps_name: Some("isotonitazene".to_owned()),
            cause_relevant: true,
        };
        let neither = Substance {
            code: None,
            nps_name: None,
            cause_relevant: true,
        };
        let cases = [
            (both, (false, "not-D:medicines-only")),
            (neither, (false, "not-D:no-qualifying-substance")),
            (nps("  ", true), (false, "not-D:no-qualifying-substance")),
            (tdi(" 1.1 ", true), (true, "D:cause-relevant-1.1")),
        ];
        for (substance, (expected, rule)) in cases {
            let got = d(Some(&x42), accident, true, std::slice::from_ref(&substance));
            assert_eq!(got, (expected, rule.to_owned()), "{substance:?}");
        }
    }

    #[test]
    fn classify_combines_both_selections() {
        let c = classify(
            Some(&icd("X42")),
            &icds(&["T40.1", "T42.4"]),
            Some(Manner::Accident),
            true,
            &[tdi("1.1", true), tdi("4.2", true)],
        );
        assert_eq!(
            c,
            Classification {
                selection_b: true,
                selection_b_rule: "B2:X42+T40.1".to_owned(),
                selection_d: true,
                selection_d_rule: "D:cause-relevant-1.1".to_owned(),
            }
        );
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["selection_b_rule"], "B2:X42+T40.1");
        assert_eq!(json["selection_d"], true);
    }

    // --- Manner and Substance::validate ------------------------------------------

    #[test]
    fn every_who_code_is_accepted_and_external_causes_carry_their_intent() {
        for (code, intent) in [
            ("R99", None),
            ("I21.9", None),
            ("F11.2", None),
            ("V89.2", Some(Manner::Accident)),
            ("X42", Some(Manner::Accident)),
            ("X62", Some(Manner::Suicide)),
            ("X85", Some(Manner::Homicide)),
            ("Y12", Some(Manner::Undetermined)),
        ] {
            let parsed = Icd10::parse(code, "underlying_cause").expect(code);
            assert_eq!(parsed.intent(), intent, "{code}");
        }
        // A natural death is neither B nor D.
        let c = classify(
            Some(&icd("I21.9")),
            &[],
            Some(Manner::Natural),
            true,
            &[tdi("1.1", true)],
        );
        assert!(!c.selection_b && !c.selection_d, "{c:?}");
    }

    #[test]
    fn manner_parses_and_prints() {
        let names = [
            "natural",
            "accident",
            "suicide",
            "homicide",
            "undetermined",
            "pending",
        ];
        for (manner, name) in Manner::ALL.into_iter().zip(names) {
            assert_eq!(manner.as_str(), name);
            assert_eq!(name.parse::<Manner>(), Ok(manner));
            assert_eq!(
                format!(" {} ", name.to_uppercase()).parse::<Manner>(),
                Ok(manner)
            );
            assert_eq!(
                serde_json::to_string(&manner).unwrap(),
                format!("\"{name}\"")
            );
        }
        for bad in ["", "nature", "accidental", "suicide!", "sui cide"] {
            assert_eq!(bad.parse::<Manner>(), Err(UnknownManner), "{bad:?}");
        }
        assert_eq!(
            UnknownManner.to_string(),
            "manner must be one of natural, accident, suicide, homicide, undetermined, pending"
        );
    }

    #[test]
    fn substance_validate() {
        let long = "x".repeat(MAX_NPS_NAME_CHARS + 1);
        let cases = [
            (tdi("1.1", true), None),
            (tdi("8", false), None),
            (tdi("99", true), None),
            (nps("isotonitazene", true), None),
            (nps(&"x".repeat(MAX_NPS_NAME_CHARS), true), None),
            (tdi("1.6", true), Some("substances.0.code")),
            (tdi("", true), Some("substances.0.code")),
            (nps(" ", true), Some("substances.0.nps_name")),
            (nps(&long, true), Some("substances.0.nps_name")),
            (
                Substance {
                    code: Some("1.1".to_owned()),
                    nps_name: Some("isotonitazene".to_owned()),
                    cause_relevant: true,
                },
                Some("substances.0"),
            ),
            (
                Substance {
                    code: None,
                    nps_name: None,
                    cause_relevant: false,
                },
                Some("substances.0"),
            ),
        ];
        for (substance, error_field) in cases {
            let got = substance.validate("substances.0");
            match error_field {
                None => assert_eq!(got, Ok(()), "{substance:?}"),
                Some(field) => {
                    let err = got.expect_err("must be rejected");
                    assert_eq!(err.field, field, "{substance:?}");
                    assert!(!err.problem.contains("isotonitazene"));
                    assert!(!err.problem.contains("1.6"));
                }
            }
        }
    }
}
