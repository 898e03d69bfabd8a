//! The table catalogue: EMCDDA TDI standard tables (8-29, all / first-treated /
//! previously-treated), DRD breakdowns, overdose tables and treatment prevalence,
//! plus the dimensions custom cross-tabulations may use.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::codes;
use crate::domain::episode::SealedEpisode;
use crate::store::exports::{DeathFact, EntrantFact, OverdoseFact};

/// A dimension a table is broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dim {
    /// Calendar year.
    Year,
    /// Quarter of the year.
    Quarter,
    /// Sex.
    Sex,
    /// TDI reporting age band.
    AgeBand,
    /// District.
    District,
    /// Municipality.
    Municipality,
    /// TDI centre type (facility type).
    CentreType,
    /// Primary drug (TDI substance code).
    PrimaryDrug,
    /// Primary drug group (1 opioids … 9 other).
    PrimaryDrugGroup,
    /// Route of administration.
    Route,
    /// Injecting status (sealed item).
    Injecting,
    /// Ever previously treated (first-treatment status).
    TreatmentStatus,
    /// Source of referral.
    Referral,
    /// Living with whom.
    LivingWith,
    /// Living with children.
    LivingWithChildren,
    /// Living where.
    LivingWhere,
    /// Education.
    Education,
    /// Labour status.
    Labour,
    /// Frequency of use.
    Frequency,
    /// Age at first use of the primary drug, banded.
    AgeFirstUse,
    /// Any drug used (primary or secondary; one person in several rows).
    AnyDrug,
    /// Secondary drug group (one person in several columns).
    SecondaryDrug,
    /// Years since first injection, banded (sealed item).
    YearsSinceFirstInjection,
    /// Polydrug problem.
    Polydrug,
    /// HIV testing (sealed item).
    HivTesting,
    /// HCV testing (sealed item).
    HcvTesting,
    /// Needle/syringe sharing (sealed item).
    Sharing,
    /// OST status.
    OstStatus,
    /// Years since first OST, banded.
    YearsSinceFirstOst,
    /// DRD case definition (B, D, both, neither).
    Definition,
    /// Manner of death.
    Manner,
    /// Cause-relevant substance group in a death or overdose (one person in several rows).
    Substance,
    /// Death among a person known to treatment.
    KnownToTreatment,
    /// Death within twelve months (four quarters) of leaving treatment or a prison
    /// health unit.
    LeftTreatment12m,
    /// Overdose outcome.
    Outcome,
    /// Overdose source (clinical or police).
    Source,
}

/// Dimensions a custom cross-tabulation may use.
pub const CUSTOM_DIMS: &[Dim] = &[
    Dim::Year,
    Dim::Quarter,
    Dim::Sex,
    Dim::AgeBand,
    Dim::District,
    Dim::Municipality,
    Dim::CentreType,
    Dim::PrimaryDrugGroup,
    Dim::Route,
    Dim::Injecting,
    Dim::TreatmentStatus,
    Dim::Referral,
];

fn list(codes: &[&str]) -> Vec<String> {
    codes.iter().map(|c| (*c).to_owned()).collect()
}

fn bands(edges: &[(u16, u16, &str)]) -> Vec<String> {
    let mut out: Vec<String> = edges.iter().map(|(_, _, l)| (*l).to_owned()).collect();
    out.push("99".into());
    out
}

const YEAR_BANDS: &[(u16, u16, &str)] = &[
    (0, 1, "lt2"),
    (2, 4, "2-4"),
    (5, 9, "5-9"),
    (10, 19, "10-19"),
    (20, 200, "ge20"),
];
const AGE_FIRST_BANDS: &[(u16, u16, &str)] = &[
    (0, 14, "lt15"),
    (15, 19, "15-19"),
    (20, 24, "20-24"),
    (25, 29, "25-29"),
    (30, 200, "ge30"),
];

fn band(value: Option<u16>, edges: &[(u16, u16, &str)]) -> String {
    value
        .and_then(|v| edges.iter().find(|(lo, hi, _)| (*lo..=*hi).contains(&v)))
        .map_or_else(|| "99".to_owned(), |(_, _, l)| (*l).to_owned())
}

fn group(code: &str) -> String {
    codes::substance_group(code).to_owned()
}

const GROUPS: &[&str] = &["1", "2", "3", "4", "5", "6", "7", "8", "9", "99"];

impl Dim {
    /// The categories, in publication order (fixed, so a table's shape reveals nothing).
    pub fn categories(self, years: (i64, i64), municipalities: &[(String, String)]) -> Vec<String> {
        match self {
            Self::Year => (years.0..=years.1).map(|y| y.to_string()).collect(),
            Self::Quarter => list(&["1", "2", "3", "4"]),
            Self::Sex => list(codes::SEX),
            Self::AgeBand => list(codes::AGE_BAND),
            Self::District => {
                let mut d: Vec<String> = municipalities.iter().map(|(_, d)| d.clone()).collect();
                d.sort();
                d.dedup();
                d
            }
            Self::Municipality => municipalities.iter().map(|(m, _)| m.clone()).collect(),
            Self::CentreType => list(codes::CENTRE_TYPE),
            Self::PrimaryDrug | Self::AnyDrug => list(codes::SUBSTANCE),
            Self::PrimaryDrugGroup | Self::SecondaryDrug | Self::Substance => list(GROUPS),
            Self::Route => list(codes::ROUTE),
            Self::Injecting => list(codes::INJECTING),
            Self::TreatmentStatus => list(codes::TREATMENT_STATUS),
            Self::Referral => list(codes::REFERRAL_SOURCE),
            Self::LivingWith => list(codes::LIVING_WITH),
            Self::LivingWithChildren => list(codes::LIVING_WITH_CHILDREN),
            Self::LivingWhere => list(codes::LIVING_WHERE),
            Self::Education => list(codes::EDUCATION),
            Self::Labour => list(codes::LABOUR_STATUS),
            Self::Frequency => list(codes::FREQUENCY),
            Self::AgeFirstUse => bands(AGE_FIRST_BANDS),
            Self::YearsSinceFirstInjection | Self::YearsSinceFirstOst => bands(YEAR_BANDS),
            Self::Polydrug => list(codes::POLYDRUG),
            Self::HivTesting => list(codes::HIV_TESTING),
            Self::HcvTesting => list(codes::HCV_TESTING),
            Self::Sharing => list(codes::SHARING),
            Self::OstStatus => list(codes::OST_STATUS),
            Self::Definition => list(&["B_and_D", "B_only", "D_only", "neither"]),
            Self::Manner => list(&[
                "accident",
                "suicide",
                "homicide",
                "undetermined",
                "pending",
                "99",
            ]),
            Self::KnownToTreatment | Self::LeftTreatment12m => list(&["yes", "no"]),
            Self::Outcome => {
                let mut o = list(crate::domain::death::CLINICAL_OUTCOMES);
                o.extend(list(crate::domain::death::POLICE_OUTCOMES));
                o.dedup();
                o.sort();
                o.dedup();
                o
            }
            Self::Source => list(&["clinical", "police"]),
        }
    }

    /// Whether one person can fall in several categories.
    pub fn multi_valued(self) -> bool {
        matches!(self, Self::AnyDrug | Self::SecondaryDrug | Self::Substance)
    }

    /// Whether the dimension needs sealed items.
    pub fn sealed(self) -> bool {
        matches!(
            self,
            Self::Injecting
                | Self::YearsSinceFirstInjection
                | Self::HivTesting
                | Self::HcvTesting
                | Self::Sharing
        )
    }
}

/// A record a table counts: a person with attributes.
pub trait Fact {
    /// The person it counts (distinct persons per cell).
    fn person(&self) -> i64;
    /// Its category(ies) on a dimension; empty when the dimension does not apply.
    fn values(&self, dim: Dim) -> Vec<String>;
    /// Municipality (for geography).
    fn municipality(&self) -> &str;
    /// District (for geography).
    fn district(&self) -> &str;
}

/// An entrant with its sealed items opened (when a table needs them).
pub struct Entrant {
    /// The fact.
    pub fact: EntrantFact,
    /// Opened sealed items.
    pub sealed: Option<SealedEpisode>,
}

impl Fact for Entrant {
    fn person(&self) -> i64 {
        self.fact.person
    }

    fn municipality(&self) -> &str {
        &self.fact.plain.municipality
    }

    fn district(&self) -> &str {
        &self.fact.district
    }

    fn values(&self, dim: Dim) -> Vec<String> {
        let p = &self.fact.plain;
        let s = self.sealed.as_ref();
        let one = |v: &str| vec![v.to_owned()];
        match dim {
            Dim::Year => one(&self.fact.year.to_string()),
            Dim::Quarter => one(&p.start_quarter.to_string()),
            Dim::Sex => one(&p.sex),
            Dim::AgeBand => one(&p.age_band),
            Dim::District => one(&self.fact.district),
            Dim::Municipality => one(&p.municipality),
            Dim::CentreType => one(&self.fact.centre_type),
            Dim::PrimaryDrug => one(&p.primary_drug),
            Dim::PrimaryDrugGroup => vec![group(&p.primary_drug)],
            Dim::Route => one(&p.route),
            Dim::TreatmentStatus => one(&p.treatment_status),
            Dim::Referral => one(&p.referral_source),
            Dim::LivingWith => one(&p.living_with),
            Dim::LivingWithChildren => one(&p.living_with_children),
            Dim::LivingWhere => one(&p.living_where),
            Dim::Education => one(&p.education),
            Dim::Labour => one(&p.labour_status),
            Dim::Frequency => one(&p.frequency),
            Dim::AgeFirstUse => vec![band(p.age_first_use, AGE_FIRST_BANDS)],
            Dim::AnyDrug => {
                let mut v = vec![p.primary_drug.clone()];
                v.extend(p.secondary_drugs.iter().cloned());
                v.sort();
                v.dedup();
                v
            }
            Dim::SecondaryDrug => {
                let mut v: Vec<String> = p.secondary_drugs.iter().map(|c| group(c)).collect();
                v.sort();
                v.dedup();
                v
            }
            Dim::Polydrug => one(&p.polydrug),
            Dim::OstStatus => one(&p.ost_status),
            Dim::YearsSinceFirstOst => vec![band(
                p.ost_first_year.map(|y| p.start_year.saturating_sub(y)),
                YEAR_BANDS,
            )],
            Dim::Injecting => s.map_or_else(|| one("99"), |s| one(&s.injecting)),
            Dim::HivTesting => s.map_or_else(|| one("99"), |s| one(&s.hiv_testing)),
            Dim::HcvTesting => s.map_or_else(|| one("99"), |s| one(&s.hcv_testing)),
            Dim::Sharing => s.map_or_else(|| one("99"), |s| one(&s.sharing)),
            Dim::YearsSinceFirstInjection => vec![band(
                s.and_then(|s| s.age_first_injection)
                    .map(|a| p.age_at_start.saturating_sub(a)),
                YEAR_BANDS,
            )],
            _ => Vec::new(),
        }
    }
}

impl Fact for DeathFact {
    fn person(&self) -> i64 {
        self.person
    }

    fn municipality(&self) -> &str {
        &self.municipality
    }

    fn district(&self) -> &str {
        &self.district
    }

    fn values(&self, dim: Dim) -> Vec<String> {
        let one = |v: &str| vec![v.to_owned()];
        match dim {
            Dim::Year => one(&self.year.to_string()),
            Dim::Quarter => one(&self.quarter.to_string()),
            Dim::Sex => one(&self.sex),
            Dim::AgeBand => one(&self.age_band),
            Dim::District => one(&self.district),
            Dim::Municipality => one(&self.municipality),
            Dim::Manner => one(&self.manner),
            Dim::Definition => one(match (self.selection_b, self.selection_d) {
                (true, true) => "B_and_D",
                (true, false) => "B_only",
                (false, true) => "D_only",
                (false, false) => "neither",
            }),
            Dim::Substance => {
                let mut v: Vec<String> = self.substances.iter().map(|c| group(c)).collect();
                v.sort();
                v.dedup();
                v
            }
            Dim::KnownToTreatment => one(if self.known_to_treatment { "yes" } else { "no" }),
            Dim::LeftTreatment12m => one(if self.left_treatment_12m { "yes" } else { "no" }),
            _ => Vec::new(),
        }
    }
}

impl Fact for OverdoseFact {
    fn person(&self) -> i64 {
        self.person
    }

    fn municipality(&self) -> &str {
        &self.municipality
    }

    fn district(&self) -> &str {
        &self.district
    }

    fn values(&self, dim: Dim) -> Vec<String> {
        let one = |v: &str| vec![v.to_owned()];
        match dim {
            Dim::Year => one(&self.year.to_string()),
            Dim::Quarter => one(&self.quarter.to_string()),
            Dim::Sex => one(&self.sex),
            Dim::AgeBand => one(&self.age_band),
            Dim::District => one(&self.district),
            Dim::Municipality => one(&self.municipality),
            Dim::Outcome => one(&self.outcome),
            Dim::Source => one(&self.source),
            Dim::Substance => {
                let mut v: Vec<String> = self.substances.iter().map(|c| group(c)).collect();
                v.sort();
                v.dedup();
                v
            }
            _ => Vec::new(),
        }
    }
}

/// Which records a table counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Population {
    /// All TDI entrants.
    AllEntrants,
    /// Entrants never treated before.
    FirstTreated,
    /// Entrants treated before.
    PreviouslyTreated,
    /// All persons in treatment in the year.
    Prevalence,
    /// Deaths in Selection B.
    DeathsB,
    /// Deaths in Selection D.
    DeathsD,
    /// Deaths in Selection B or D.
    DeathsBOrD,
    /// Overdoses.
    Overdoses,
}

/// A table definition.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TableDef {
    /// Stable id, e.g. `tdi-10-first`.
    pub id: String,
    /// Title.
    pub title: String,
    /// What it counts.
    pub population: Population,
    /// Row dimension.
    pub rows: Dim,
    /// Column dimension.
    pub cols: Dim,
}

fn def(id: &str, title: &str, population: Population, rows: Dim, cols: Dim) -> TableDef {
    TableDef {
        id: id.into(),
        title: title.into(),
        population,
        rows,
        cols,
    }
}

/// The built-in catalogue.
pub fn catalogue() -> Vec<TableDef> {
    use Dim::*;
    let mut out = vec![
        def(
            "tdi-8",
            "TDI 8: centre type by treatment status",
            Population::AllEntrants,
            CentreType,
            TreatmentStatus,
        ),
        def(
            "tdi-24",
            "TDI 24: polydrug problem by treatment status",
            Population::AllEntrants,
            Polydrug,
            TreatmentStatus,
        ),
    ];
    let versioned: &[(&str, &str, Dim, Dim)] = &[
        ("9", "primary drug by centre type", PrimaryDrug, CentreType),
        ("10", "primary drug by sex", PrimaryDrug, Sex),
        ("12", "primary drug by age band", PrimaryDrug, AgeBand),
        (
            "13",
            "primary drug group by source of referral",
            PrimaryDrugGroup,
            Referral,
        ),
        (
            "14",
            "primary drug group by living with whom",
            PrimaryDrugGroup,
            LivingWith,
        ),
        (
            "15",
            "primary drug group by living with children",
            PrimaryDrugGroup,
            LivingWithChildren,
        ),
        (
            "16",
            "primary drug group by living where",
            PrimaryDrugGroup,
            LivingWhere,
        ),
        (
            "17",
            "primary drug group by education",
            PrimaryDrugGroup,
            Education,
        ),
        (
            "18",
            "primary drug group by labour status",
            PrimaryDrugGroup,
            Labour,
        ),
        ("19", "primary drug by route", PrimaryDrug, Route),
        ("20", "primary drug by frequency", PrimaryDrug, Frequency),
        (
            "21",
            "primary drug group by age at first use",
            PrimaryDrugGroup,
            AgeFirstUse,
        ),
        (
            "22",
            "any drug by injecting status (persons may appear in several rows)",
            AnyDrug,
            Injecting,
        ),
        (
            "23",
            "age at entry by years since first injection",
            AgeBand,
            YearsSinceFirstInjection,
        ),
        (
            "25",
            "primary drug group by secondary drug group (persons may appear in several columns)",
            PrimaryDrugGroup,
            SecondaryDrug,
        ),
        (
            "26",
            "HIV testing by injecting status",
            HivTesting,
            Injecting,
        ),
        (
            "27",
            "HCV testing by injecting status",
            HcvTesting,
            Injecting,
        ),
        (
            "28",
            "needle/syringe sharing by injecting status",
            Sharing,
            Injecting,
        ),
        ("29", "primary drug by OST status", PrimaryDrug, OstStatus),
        (
            "29.2",
            "primary drug group by years since first OST",
            PrimaryDrugGroup,
            YearsSinceFirstOst,
        ),
    ];
    for (number, title, rows, cols) in versioned {
        for (suffix, label, population) in [
            ("all", "all entrants", Population::AllEntrants),
            ("first", "first-treated entrants", Population::FirstTreated),
            (
                "prev",
                "previously treated entrants",
                Population::PreviouslyTreated,
            ),
        ] {
            out.push(def(
                &format!("tdi-{number}-{suffix}"),
                &format!("TDI {number}: {title} ({label})"),
                population,
                *rows,
                *cols,
            ));
        }
    }
    out.extend([
        def(
            "drd-definition-year",
            "Drug-related deaths by definition and year",
            Population::DeathsBOrD,
            Definition,
            Year,
        ),
        def(
            "drd-b-sex-age",
            "Selection B deaths by sex and age band",
            Population::DeathsB,
            AgeBand,
            Sex,
        ),
        def(
            "drd-d-sex-age",
            "Selection D deaths by sex and age band",
            Population::DeathsD,
            AgeBand,
            Sex,
        ),
        def(
            "drd-d-substance",
            "Selection D deaths by substance group (deaths may appear in several rows)",
            Population::DeathsD,
            Substance,
            Sex,
        ),
        def(
            "drd-manner",
            "Drug-related deaths by manner and sex",
            Population::DeathsBOrD,
            Manner,
            Sex,
        ),
        def(
            "drd-district",
            "Drug-related deaths by district and definition",
            Population::DeathsBOrD,
            District,
            Definition,
        ),
        def(
            "drd-municipality",
            "Drug-related deaths by municipality and year",
            Population::DeathsBOrD,
            Municipality,
            Year,
        ),
        def(
            "drd-known-to-treatment",
            "Drug-related deaths among people known to treatment",
            Population::DeathsBOrD,
            KnownToTreatment,
            Definition,
        ),
        def(
            "drd-after-treatment",
            "Drug-related deaths within 12 months of leaving treatment or a prison health unit",
            Population::DeathsBOrD,
            LeftTreatment12m,
            Definition,
        ),
        def(
            "od-sex-age",
            "Non-fatal overdoses by sex and age band",
            Population::Overdoses,
            AgeBand,
            Sex,
        ),
        def(
            "od-outcome",
            "Overdoses by outcome and source",
            Population::Overdoses,
            Outcome,
            Source,
        ),
        def(
            "od-substance",
            "Overdoses by substance group (records may appear in several rows)",
            Population::Overdoses,
            Substance,
            Sex,
        ),
        def(
            "prevalence-sex-age",
            "Persons in treatment in the year by sex and age band",
            Population::Prevalence,
            AgeBand,
            Sex,
        ),
        def(
            "prevalence-drug",
            "Persons in treatment in the year by primary drug group and centre type",
            Population::Prevalence,
            PrimaryDrugGroup,
            CentreType,
        ),
    ]);
    out
}

/// Whether a table belongs to the TDI set.
pub fn is_tdi(table: &TableDef) -> bool {
    table.id.starts_with("tdi-")
}
