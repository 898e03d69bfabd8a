//! The table catalogue: EMCDDA TDI standard tables (8-29, all / first-treated /
//! previously-treated), DRD breakdowns, overdose tables and treatment prevalence,
//! plus the dimensions custom cross-tabulations may use.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::count::{Axis, Category, Filter};
use super::snapshot::Population as Stored;
use crate::domain::codes;

/// A dimension a table is broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
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
    Dim::LivingWith,
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
fn band(value: &str, edges: &[(u16, u16, &str)]) -> String {
    value
        .parse::<u16>()
        .ok()
        .and_then(|v| edges.iter().find(|(lo, hi, _)| (*lo..=*hi).contains(&v)))
        .map_or_else(|| "99".to_owned(), |(_, _, l)| (*l).to_owned())
}

/// Manners of death as the death record codes them (`99` not recorded).
pub const MANNERS: &[&str] = &[
    "natural",
    "accident",
    "suicide",
    "homicide",
    "undetermined",
    "pending",
    "99",
];

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
            Self::AgeFirstUse => list(codes::AGE_BAND),
            Self::YearsSinceFirstInjection | Self::YearsSinceFirstOst => bands(YEAR_BANDS),
            Self::Polydrug => list(codes::POLYDRUG),
            Self::HivTesting => list(codes::HIV_TESTING),
            Self::HcvTesting => list(codes::HCV_TESTING),
            Self::Sharing => list(codes::SHARING),
            Self::OstStatus => list(codes::OST_STATUS),
            Self::Definition => list(&["B_and_D", "B_only", "D_only", "neither"]),
            Self::Manner => list(MANNERS),
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

    /// The name, as requests spell it.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The snapshot field the dimension reads.
    fn field(self) -> &'static str {
        match self {
            Self::Year => "year",
            Self::Quarter => "quarter",
            Self::Sex => "sex",
            Self::AgeBand => "age_band",
            Self::District => "district",
            Self::Municipality => "municipality",
            Self::CentreType => "centre_type",
            Self::PrimaryDrug | Self::PrimaryDrugGroup => "primary_drug",
            Self::Route => "route",
            Self::Injecting => "injecting",
            Self::TreatmentStatus => "treatment_status",
            Self::Referral => "referral_source",
            Self::LivingWith => "living_with",
            Self::LivingWithChildren => "living_with_children",
            Self::LivingWhere => "living_where",
            Self::Education => "education",
            Self::Labour => "labour_status",
            Self::Frequency => "frequency",
            Self::AgeFirstUse => "age_first_use",
            Self::AnyDrug => "any_drug",
            Self::SecondaryDrug => "secondary_drugs",
            Self::YearsSinceFirstInjection => "years_since_first_injection",
            Self::Polydrug => "polydrug",
            Self::HivTesting => "hiv_testing",
            Self::HcvTesting => "hcv_testing",
            Self::Sharing => "sharing",
            Self::OstStatus => "ost_status",
            Self::YearsSinceFirstOst => "years_since_first_ost",
            Self::Definition => "definition",
            Self::Manner => "manner",
            Self::Substance => "substances",
            Self::KnownToTreatment => "known_to_treatment",
            Self::LeftTreatment12m => "left_treatment_12m",
            Self::Outcome => "outcome",
            Self::Source => "source",
        }
    }

    /// The categories a stored value falls in (codes of `categories`).
    fn classify(self, value: &str) -> Vec<String> {
        let groups = |v: &str| {
            let mut out: Vec<String> = v
                .split(',')
                .filter(|c| !c.is_empty())
                .map(|c| codes::substance_group(c).to_owned())
                .collect();
            out.sort();
            out.dedup();
            out
        };
        match self {
            Self::PrimaryDrugGroup => vec![codes::substance_group(value).to_owned()],
            Self::AnyDrug => value
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
            Self::SecondaryDrug | Self::Substance => groups(value),
            Self::AgeFirstUse => vec![
                value
                    .parse::<u16>()
                    .ok()
                    .filter(|v| *v != 99)
                    .map_or("99", codes::age_band)
                    .to_owned(),
            ],
            Self::YearsSinceFirstInjection | Self::YearsSinceFirstOst => {
                vec![band(value, YEAR_BANDS)]
            }
            _ => vec![value.to_owned()],
        }
    }

    /// The axis of this dimension over a snapshot of `year`.
    pub fn axis(self, year: i64, municipalities: &[(String, String)]) -> Axis {
        let codes = self.categories((year, year), municipalities);
        let categories = codes
            .iter()
            .map(|c| Category {
                code: c.clone(),
                label: c.clone(),
            })
            .collect();
        Axis {
            field: self.field(),
            categories,
            classify: Box::new(move |v| {
                self.classify(v)
                    .iter()
                    .filter_map(|c| codes.iter().position(|x| x == c))
                    .collect()
            }),
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

impl Population {
    /// The snapshot population it reads and the filter that selects its persons.
    pub fn source(self) -> (Stored, Filter) {
        let only = |field: &'static str, wanted: &'static [&'static str]| -> Filter {
            vec![(field, Box::new(move |v: &str| wanted.contains(&v)))]
        };
        match self {
            Self::AllEntrants => (Stored::Entrants, Vec::new()),
            Self::FirstTreated => (Stored::Entrants, only("treatment_status", &["1"])),
            Self::PreviouslyTreated => (Stored::Entrants, only("treatment_status", &["2"])),
            Self::Prevalence => (Stored::InTreatment, Vec::new()),
            Self::DeathsB => (Stored::Deaths, only("definition", &["B_and_D", "B_only"])),
            Self::DeathsD => (Stored::Deaths, only("definition", &["B_and_D", "D_only"])),
            Self::DeathsBOrD => (
                Stored::Deaths,
                only("definition", &["B_and_D", "B_only", "D_only"]),
            ),
            Self::Overdoses => (Stored::Overdoses, Vec::new()),
        }
    }

    /// Whether its tables count deaths or overdoses (the stronger profile applies).
    pub fn is_mortality(self) -> bool {
        matches!(
            self,
            Self::DeathsB | Self::DeathsD | Self::DeathsBOrD | Self::Overdoses
        )
    }
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
