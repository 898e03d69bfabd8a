//! The statutory national release: exact counts for every table of the EMCDDA TDI
//! reporting workbook (8.1.1 – 29.1.2, with the template's own rows and columns) and
//! the standard drug-related-death breakdowns, from one snapshot version.
//!
//! Each workbook table is described once below (which persons, which axis down,
//! which across); row and column labels come from the template itself
//! (`workbook.rs`), and the fill checks that the template has exactly the rows and
//! columns the description expects.

use serde::Serialize;
use utoipa::ToSchema;

use super::count::{Axis, Category, Filter, Grid, Moments, count_national};
use super::snapshot::Part;
use crate::domain::codes;

/// One value of a statutory table.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Value {
    /// A count of persons.
    Count(u64),
    /// A statistic (mean, standard deviation); absent without data.
    Stat(Option<f64>),
}

/// One statutory table, labelled.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StatTable {
    /// Table number in the workbook (`8.1.1`) or DRD table id (`drd-sex`).
    pub id: String,
    /// Title.
    pub title: String,
    /// Row codes and labels; the last row is the total (code `total`).
    pub rows: Vec<Label>,
    /// Column codes and labels.
    pub cols: Vec<Label>,
    /// `rows × cols` values.
    pub cells: Vec<Vec<Value>>,
    /// Statistics computed from fewer than 20 persons (row, column) — unreliable.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreliable: Vec<(usize, usize)>,
}

/// A code with its label in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Label {
    /// Code.
    pub code: String,
    /// Label.
    pub label: String,
}

/// The axes the workbook tables use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Primary drug: every substance code and its group's total row (32 rows).
    Drugs,
    /// Primary drug including alcohol (25.1.6, 33 rows).
    DrugsWithAlcohol,
    /// Any drug, primary or secondary (22).
    AnyDrug,
    /// Secondary drugs, any position, including alcohol (25.1.6 columns).
    SecondaryDrugs,
    /// Primary drug group (9 rows).
    Groups,
    /// Treatment status.
    Status,
    /// Centre type.
    Centre,
    /// Sex.
    Sex,
    /// Age band at entry.
    AgeBand,
    /// Age at first use, in the same bands.
    AgeFirstUse,
    /// Source of referral.
    Referral,
    /// Living with whom.
    LivingWith,
    /// Living with children.
    Children,
    /// Living where.
    LivingWhere,
    /// Education.
    Education,
    /// Labour status.
    Labour,
    /// Route.
    Route,
    /// Frequency.
    Frequency,
    /// Injecting.
    Injecting,
    /// Years since first injection (1, 2-4, 5-9, 10+).
    YearsSinceInjection,
    /// Polydrug problem.
    Polydrug,
    /// First secondary drug, in the 12 categories of tables 25.1.1-5.
    FirstSecondary,
    /// Second secondary drug, likewise.
    SecondSecondary,
    /// HIV testing.
    Hiv,
    /// HCV testing.
    Hcv,
    /// Needle / syringe sharing.
    Sharing,
    /// OST status.
    Ost,
    /// The drug rows of 29.1.2.
    OstDrugs,
    /// Years since first OST (<1, 1 … 10, 11-15, >15).
    YearsSinceOst,
}

fn cats(codes: &[&str]) -> Vec<Category> {
    codes
        .iter()
        .map(|c| Category {
            code: (*c).to_owned(),
            label: (*c).to_owned(),
        })
        .collect()
}

/// Substance rows of the workbook: every code with its group's total row first.
const DRUG_ROWS: &[&str] = &[
    "1", "1.1", "1.2", "1.3", "1.4", "1.5", "2", "2.1", "2.2", "2.3", "3", "3.1", "3.2", "3.3",
    "3.4", "3.5", "4", "4.1", "4.2", "4.3", "4.4", "5", "5.1", "5.2", "5.3", "6", "7", "7.1",
    "7.2", "7.3", "9", "99",
];
const DRUG_ROWS_WITH_ALCOHOL: &[&str] = &[
    "1", "1.1", "1.2", "1.3", "1.4", "1.5", "2", "2.1", "2.2", "2.3", "3", "3.1", "3.2", "3.3",
    "3.4", "3.5", "4", "4.1", "4.2", "4.3", "4.4", "5", "5.1", "5.2", "5.3", "6", "7", "7.1",
    "7.2", "7.3", "8", "9", "99",
];
const GROUP_ROWS: &[&str] = &["1", "2", "3", "4", "5", "6", "7", "9", "99"];
const SECONDARY_12: &[&str] = &[
    "heroin",
    "other_opioids",
    "cocaine",
    "crack",
    "amphetamines",
    "cannabis",
    "other_stimulants",
    "hypnotics",
    "alcohol",
    "other",
    "none",
    "99",
];
const INJECTION_YEARS: &[&str] = &["le1", "2-4", "5-9", "ge10", "99"];
const OST_YEARS: &[&str] = &[
    "lt1", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11-15", "gt15", "99",
];
const OST_DRUGS: &[&str] = &[
    "heroin",
    "other_opioids",
    "cocaine",
    "stimulants",
    "other",
    "99",
];

/// Drug rows a substance code falls in: its own row and its group's total row.
fn drug_rows(rows: &'static [&'static str]) -> impl Fn(&str) -> Vec<usize> + Send + Sync {
    move |code: &str| {
        let group = codes::substance_group(code);
        let mut out: Vec<usize> = rows.iter().position(|r| *r == group).into_iter().collect();
        if group != code
            && let Some(i) = rows.iter().position(|r| *r == code)
        {
            out.push(i);
        }
        out
    }
}

fn split_codes(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').filter(|c| !c.is_empty())
}

fn secondary_category(code: &str) -> &'static str {
    match code {
        "1.1" => "heroin",
        "2.2" => "crack",
        "8" => "alcohol",
        "99" => "99",
        "3.1" | "3.2" => "amphetamines",
        _ => match codes::substance_group(code) {
            "1" => "other_opioids",
            "2" => "cocaine",
            "3" => "other_stimulants",
            "4" => "hypnotics",
            "7" => "cannabis",
            _ => "other",
        },
    }
}

/// The category of the secondary drug at `position` (0 first, 1 second) in 25.1.1-5.
fn secondary_at(value: &str, position: usize) -> &'static str {
    let list: Vec<&str> = split_codes(value).collect();
    match list.get(position) {
        Some(code) => secondary_category(code),
        None if list.contains(&"99") => "99",
        None => "none",
    }
}

fn numeric_band(value: &str, band: fn(u16) -> &'static str) -> &'static str {
    value.parse::<u16>().map_or("99", band)
}

fn injection_band(years: u16) -> &'static str {
    match years {
        0..=1 => "le1",
        2..=4 => "2-4",
        5..=9 => "5-9",
        _ => "ge10",
    }
}

fn ost_band(years: u16) -> &'static str {
    const SINGLE: [&str; 10] = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"];
    match years {
        0 => "lt1",
        1..=10 => SINGLE[usize::from(years - 1)],
        11..=15 => "11-15",
        _ => "gt15",
    }
}

fn ost_drug(code: &str) -> &'static str {
    match (code, codes::substance_group(code)) {
        ("1.1", _) => "heroin",
        (_, "1") => "other_opioids",
        (_, "2") => "cocaine",
        (_, "3") => "stimulants",
        (_, "99") => "99",
        _ => "other",
    }
}

fn mapped(
    field: &'static str,
    categories: &'static [&'static str],
    map: fn(&str) -> &'static str,
) -> Axis {
    Axis {
        field,
        categories: cats(categories),
        classify: Box::new(move |v| {
            let code = map(v);
            categories
                .iter()
                .position(|c| *c == code)
                .into_iter()
                .collect()
        }),
    }
}

impl Kind {
    /// The axis over an entrant snapshot.
    pub fn axis(self) -> Axis {
        match self {
            Self::Drugs => Axis {
                field: "primary_drug",
                categories: cats(DRUG_ROWS),
                classify: Box::new(drug_rows(DRUG_ROWS)),
            },
            Self::DrugsWithAlcohol => Axis {
                field: "primary_drug",
                categories: cats(DRUG_ROWS_WITH_ALCOHOL),
                classify: Box::new(drug_rows(DRUG_ROWS_WITH_ALCOHOL)),
            },
            Self::AnyDrug | Self::SecondaryDrugs => {
                let (field, rows) = if self == Self::AnyDrug {
                    ("any_drug", DRUG_ROWS)
                } else {
                    ("secondary_drugs", DRUG_ROWS_WITH_ALCOHOL)
                };
                let one = drug_rows(rows);
                Axis {
                    field,
                    categories: cats(rows),
                    classify: Box::new(move |v| {
                        let mut out: Vec<usize> = split_codes(v).flat_map(&one).collect();
                        out.sort_unstable();
                        out.dedup();
                        out
                    }),
                }
            }
            Self::Groups => mapped(
                "primary_drug",
                GROUP_ROWS,
                |c| match codes::substance_group(c) {
                    "1" => "1",
                    "2" => "2",
                    "3" => "3",
                    "4" => "4",
                    "5" => "5",
                    "6" => "6",
                    "7" => "7",
                    "9" => "9",
                    _ => "99",
                },
            ),
            Self::Status => Axis::codes("treatment_status", cats(codes::TREATMENT_STATUS)),
            Self::Centre => Axis::codes("centre_type", cats(codes::CENTRE_TYPE)),
            Self::Sex => Axis::codes("sex", cats(codes::SEX)),
            Self::AgeBand => Axis::codes("age_band", cats(codes::AGE_BAND)),
            Self::AgeFirstUse => mapped("age_first_use", codes::AGE_BAND, |v| {
                numeric_band(v, codes::age_band)
            }),
            Self::Referral => Axis::codes("referral_source", cats(codes::REFERRAL_SOURCE)),
            Self::LivingWith => Axis::codes("living_with", cats(codes::LIVING_WITH)),
            Self::Children => {
                Axis::codes("living_with_children", cats(codes::LIVING_WITH_CHILDREN))
            }
            Self::LivingWhere => Axis::codes("living_where", cats(codes::LIVING_WHERE)),
            Self::Education => Axis::codes("education", cats(codes::EDUCATION)),
            Self::Labour => Axis::codes("labour_status", cats(codes::LABOUR_STATUS)),
            Self::Route => Axis::codes("route", cats(codes::ROUTE)),
            Self::Frequency => Axis::codes("frequency", cats(codes::FREQUENCY)),
            Self::Injecting => Axis::codes("injecting", cats(codes::INJECTING)),
            Self::YearsSinceInjection => {
                mapped("years_since_first_injection", INJECTION_YEARS, |v| {
                    numeric_band(v, injection_band)
                })
            }
            Self::Polydrug => Axis::codes("polydrug", cats(codes::POLYDRUG)),
            Self::FirstSecondary => mapped("secondary_drugs", SECONDARY_12, |v| secondary_at(v, 0)),
            Self::SecondSecondary => {
                mapped("secondary_drugs", SECONDARY_12, |v| secondary_at(v, 1))
            }
            Self::Hiv => Axis::codes("hiv_testing", cats(codes::HIV_TESTING)),
            Self::Hcv => Axis::codes("hcv_testing", cats(codes::HCV_TESTING)),
            Self::Sharing => Axis::codes("sharing", cats(codes::SHARING)),
            Self::Ost => Axis::codes("ost_status", cats(codes::OST_STATUS)),
            Self::OstDrugs => mapped("primary_drug", OST_DRUGS, ost_drug),
            Self::YearsSinceOst => mapped("years_since_first_ost", OST_YEARS, |v| {
                numeric_band(v, ost_band)
            }),
        }
    }
}

/// Which entrants a workbook table counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// All entrants.
    All,
    /// Never previously treated.
    First,
    /// Previously treated.
    Previous,
    /// All entrants, men.
    Males,
    /// All entrants, women.
    Females,
    /// Never previously treated, men.
    FirstMales,
    /// Previously treated, men.
    PreviousMales,
    /// Never previously treated, women.
    FirstFemales,
    /// Previously treated, women.
    PreviousFemales,
    /// Ever injectors (injecting 2, 2.1, 2.2, 2.3), by treatment status.
    Injectors(Option<&'static str>),
    /// Persons ever in OST.
    EverOst,
    /// Entrants whose primary drug falls in one of the groups.
    PrimaryGroups(&'static [&'static str]),
}

fn keep(field: &'static str, wanted: &'static [&'static str]) -> super::count::Condition {
    (field, Box::new(move |v: &str| wanted.contains(&v)))
}

impl Who {
    fn filter(self) -> Filter {
        let status = |s: &'static [&'static str]| keep("treatment_status", s);
        let sex = |s: &'static [&'static str]| keep("sex", s);
        match self {
            Self::All => Vec::new(),
            Self::First => vec![status(&["1"])],
            Self::Previous => vec![status(&["2"])],
            Self::Males => vec![sex(&["1"])],
            Self::Females => vec![sex(&["2"])],
            Self::FirstMales => vec![status(&["1"]), sex(&["1"])],
            Self::PreviousMales => vec![status(&["2"]), sex(&["1"])],
            Self::FirstFemales => vec![status(&["1"]), sex(&["2"])],
            Self::PreviousFemales => vec![status(&["2"]), sex(&["2"])],
            Self::Injectors(s) => {
                let mut f = vec![keep("injecting", &["2", "2.1", "2.2", "2.3"])];
                match s {
                    Some("1") => f.push(status(&["1"])),
                    Some(_) => f.push(status(&["2"])),
                    None => {}
                }
                f
            }
            Self::EverOst => vec![keep("ost_status", &["2", "3"])],
            Self::PrimaryGroups(groups) => vec![(
                "primary_drug",
                Box::new(move |v: &str| groups.contains(&codes::substance_group(v))),
            )],
        }
    }
}

/// What a workbook table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// Persons, `rows` down and `cols` across.
    Counts(Kind, Kind),
    /// Table 11: mean ages by primary drug.
    Ages,
}

/// One table of the workbook.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Its number in the template (`9.1.2`).
    pub section: &'static str,
    /// Which entrants.
    pub who: Who,
    /// What it holds.
    pub content: Content,
}

/// Every table of the EMCDDA TDI workbook, 8.1.1 to 29.1.2.
pub fn workbook_specs() -> Vec<Spec> {
    use Content::{Ages, Counts};
    use Kind::*;
    let spec = |section, who, content| Spec {
        section,
        who,
        content,
    };
    let mut out = vec![
        spec("8.1.1", Who::All, Counts(Status, Centre)),
        spec("8.1.2", Who::Males, Counts(Status, Centre)),
        spec("8.1.3", Who::Females, Counts(Status, Centre)),
    ];
    let by_status: &[(&str, Kind, Kind)] = &[
        ("9", Drugs, Centre),
        ("10", Drugs, Sex),
        ("12", Drugs, AgeBand),
        ("13", Groups, Referral),
        ("16", Groups, LivingWhere),
        ("17", Groups, Education),
        ("18", Groups, Labour),
        ("19", Drugs, Route),
        ("20", Drugs, Frequency),
        ("21", Drugs, AgeFirstUse),
        ("22", AnyDrug, Injecting),
    ];
    let statuses = [Who::All, Who::First, Who::Previous];
    let sexes = [Who::All, Who::Males, Who::Females];
    let sections: &'static [[&str; 3]] = &[
        ["9.1.1", "9.1.2", "9.1.3"],
        ["10.1.1", "10.1.2", "10.1.3"],
        ["12.1.1", "12.1.2", "12.1.3"],
        ["13.1.1", "13.1.2", "13.1.3"],
        ["16.1.1", "16.1.2", "16.1.3"],
        ["17.1.1", "17.1.2", "17.1.3"],
        ["18.1.1", "18.1.2", "18.1.3"],
        ["19.1.1", "19.1.2", "19.1.3"],
        ["20.1.1", "20.1.2", "20.1.3"],
        ["21.1.1", "21.1.2", "21.1.3"],
        ["22.1.1", "22.1.2", "22.1.3"],
    ];
    for ((_, rows, cols), names) in by_status.iter().zip(sections) {
        for (who, section) in statuses.iter().zip(names) {
            out.push(spec(section, *who, Counts(*rows, *cols)));
        }
    }
    for (names, cols) in [
        (["14.1.1", "14.1.2", "14.1.3"], LivingWith),
        (["15.1.1", "15.1.2", "15.1.3"], Children),
    ] {
        for (who, section) in sexes.iter().zip(names) {
            out.push(spec(section, *who, Counts(Groups, cols)));
        }
    }
    let ages = [
        ("11.1.1", Who::All),
        ("11.1.2", Who::First),
        ("11.1.3", Who::Previous),
        ("11.1.4", Who::Males),
        ("11.1.5", Who::FirstMales),
        ("11.1.6", Who::PreviousMales),
        ("11.1.7", Who::Females),
        ("11.1.8", Who::FirstFemales),
        ("11.1.9", Who::PreviousFemales),
    ];
    out.extend(ages.iter().map(|(s, w)| spec(s, *w, Ages)));
    out.extend([
        spec(
            "23.1.1",
            Who::Injectors(None),
            Counts(AgeBand, YearsSinceInjection),
        ),
        spec(
            "23.1.2",
            Who::Injectors(Some("1")),
            Counts(AgeBand, YearsSinceInjection),
        ),
        spec(
            "23.1.3",
            Who::Injectors(Some("2")),
            Counts(AgeBand, YearsSinceInjection),
        ),
        spec("24.1.1", Who::All, Counts(Status, Polydrug)),
        spec(
            "25.1.1",
            Who::PrimaryGroups(&["1"]),
            Counts(SecondSecondary, FirstSecondary),
        ),
        spec(
            "25.1.2",
            Who::PrimaryGroups(&["2"]),
            Counts(SecondSecondary, FirstSecondary),
        ),
        spec(
            "25.1.3",
            Who::PrimaryGroups(&["3"]),
            Counts(SecondSecondary, FirstSecondary),
        ),
        spec(
            "25.1.4",
            Who::PrimaryGroups(&["7"]),
            Counts(SecondSecondary, FirstSecondary),
        ),
        spec(
            "25.1.5",
            Who::PrimaryGroups(&["4", "5", "6", "9"]),
            Counts(SecondSecondary, FirstSecondary),
        ),
        spec("25.1.6", Who::All, Counts(DrugsWithAlcohol, SecondaryDrugs)),
    ]);
    for (names, rows) in [
        (["26.1.1", "26.1.2", "26.1.3"], Hiv),
        (["27.1.1", "27.1.2", "27.1.3"], Hcv),
    ] {
        for (who, section) in statuses.iter().zip(names) {
            out.push(spec(section, *who, Counts(rows, Injecting)));
        }
    }
    out.extend([
        spec("28.1.1", Who::All, Counts(Sharing, Injecting)),
        spec("29.1.1", Who::All, Counts(Drugs, Ost)),
        spec("29.1.2", Who::EverOst, Counts(OstDrugs, YearsSinceOst)),
    ]);
    out
}

/// Columns of table 11, in the template's order.
pub const AGE_COLUMNS: &[&str] = &[
    "mean_age_at_entry",
    "sd_age_at_entry",
    "n_age_at_entry",
    "mean_age_first_use",
    "sd_age_first_use",
    "n_age_first_use",
    "mean_lag",
    "sd_lag",
    "n_lag",
];

/// A computed workbook table: values by template position (rows × cols, totals last).
#[derive(Debug, Clone, PartialEq)]
pub struct Computed {
    /// The table's spec.
    pub section: &'static str,
    /// Row codes (the last `total`).
    pub row_codes: Vec<String>,
    /// Column codes (the last `total` for count tables).
    pub col_codes: Vec<String>,
    /// Values, row-major.
    pub cells: Vec<Vec<Value>>,
    /// Unreliable statistics (fewer than 20 persons).
    pub unreliable: Vec<(usize, usize)>,
}

fn with_total(categories: &[Category]) -> Vec<String> {
    categories
        .iter()
        .map(|c| c.code.clone())
        .chain(std::iter::once("total".to_owned()))
        .collect()
}

fn grid_values(grid: &Grid) -> Vec<Vec<Value>> {
    (0..=grid.rows)
        .map(|r| {
            (0..=grid.cols)
                .map(|c| Value::Count(grid.counts[grid.at(r, c)]))
                .collect()
        })
        .collect()
}

/// Computes one workbook table from the entrants of a snapshot.
pub fn compute(spec: &Spec, entrants: &Part) -> Computed {
    let filter = spec.who.filter();
    match spec.content {
        Content::Counts(rows, cols) => {
            let (rows, cols) = (rows.axis(), cols.axis());
            let grid = count_national(entrants, &filter, std::slice::from_ref(&rows), &cols);
            Computed {
                section: spec.section,
                row_codes: with_total(&rows.categories),
                col_codes: with_total(&cols.categories),
                cells: grid_values(&grid),
                unreliable: Vec::new(),
            }
        }
        Content::Ages => ages(spec.section, entrants, &filter),
    }
}

/// Table 11: mean and standard deviation of the age at entry, of the age at first
/// use and of the lag between them, with the number of persons with valid values,
/// per drug row (each person in their drug's row and its group's total row).
fn ages(section: &'static str, entrants: &Part, filter: &Filter) -> Computed {
    let axis = Kind::Drugs.axis();
    let n_rows = axis.categories.len() + 1;
    let mut moments = vec![[Moments::default(); 3]; n_rows];
    let column = |f: &str| entrants.column(f);
    if let (Some(drug), Some(entry), Some(first)) = (
        column("primary_drug"),
        column("age_at_start"),
        column("age_first_use"),
    ) {
        let kept: Vec<(&[u16], Vec<bool>)> = filter
            .iter()
            .filter_map(|(f, keep)| {
                let c = entrants.column(f)?;
                Some((
                    c.index.as_slice(),
                    c.labels.iter().map(|l| keep(l)).collect(),
                ))
            })
            .collect();
        let rows_of: Vec<Vec<usize>> = drug.labels.iter().map(|l| (axis.classify)(l)).collect();
        // Stored ages are whole years; "99" is the TDI code for not known.
        let number = |c: &super::snapshot::Column, i: usize| -> Option<i64> {
            c.labels[usize::from(c.index[i])]
                .parse::<i64>()
                .ok()
                .filter(|v| *v != 99)
        };
        for i in 0..entrants.len() {
            if kept.len() != filter.len() || !kept.iter().all(|(index, k)| k[usize::from(index[i])])
            {
                continue;
            }
            let at_entry = number(entry, i);
            let at_first = number(first, i);
            let rows = rows_of[usize::from(drug.index[i])]
                .iter()
                .copied()
                .chain([n_rows - 1]);
            for r in rows {
                if let Some(e) = at_entry {
                    moments[r][0].add(e);
                }
                if let Some(f) = at_first {
                    moments[r][1].add(f);
                    if let Some(e) = at_entry {
                        moments[r][2].add(e - f);
                    }
                }
            }
        }
    }
    let mut unreliable = Vec::new();
    let cells = moments
        .iter()
        .enumerate()
        .map(|(r, m)| {
            let mut row = Vec::new();
            for (k, moment) in m.iter().enumerate() {
                let stats = moment.mean_sd();
                if moment.n > 0 && moment.n < 20 {
                    unreliable.push((r, k * 3));
                    unreliable.push((r, k * 3 + 1));
                }
                row.push(Value::Stat(stats.map(|s| s.0)));
                row.push(Value::Stat(stats.map(|s| s.1)));
                row.push(Value::Count(u64::try_from(moment.n).unwrap_or(0)));
            }
            row
        })
        .collect();
    Computed {
        section,
        row_codes: with_total(&axis.categories),
        col_codes: AGE_COLUMNS.iter().map(|c| (*c).to_owned()).collect(),
        cells,
        unreliable,
    }
}

/// The drug-related-death breakdowns (reference/drd.md): deaths by Selection B and
/// Selection D (a death in both counts in both columns; "all deaths" counts every
/// completed death record, drug-related or not).
pub fn drd_tables(deaths: &Part) -> Vec<StatTable> {
    let definition = || Axis {
        field: "definition",
        categories: vec![
            Category {
                code: "B".into(),
                label: "Selection B".into(),
            },
            Category {
                code: "D".into(),
                label: "Selection D".into(),
            },
        ],
        classify: Box::new(|v| match v {
            "B_and_D" => vec![0, 1],
            "B_only" => vec![0],
            "D_only" => vec![1],
            _ => Vec::new(),
        }),
    };
    let labelled = |codes: &[&str], labels: &[&str]| -> Vec<Category> {
        codes
            .iter()
            .zip(labels)
            .map(|(c, l)| Category {
                code: (*c).to_owned(),
                label: (*l).to_owned(),
            })
            .collect()
    };
    let total_row = |t: &str| Category {
        code: "total".into(),
        label: t.into(),
    };
    let tables: Vec<(&str, &str, Axis)> = vec![
        (
            "drd-total",
            "Deaths by case definition",
            Axis {
                field: "year",
                categories: Vec::new(),
                classify: Box::new(|_| Vec::new()),
            },
        ),
        (
            "drd-sex",
            "Deaths by sex and case definition",
            Axis::codes(
                "sex",
                labelled(codes::SEX, &["Males", "Females", "Not known / missing"]),
            ),
        ),
        (
            "drd-age",
            "Deaths by age band and case definition",
            Axis::codes(
                "age_band",
                labelled(
                    codes::AGE_BAND,
                    &[
                        "<15",
                        "15-19",
                        "20-24",
                        "25-29",
                        "30-34",
                        "35-39",
                        "40-44",
                        "45-49",
                        "50-54",
                        "55-59",
                        "60-64",
                        ">=65",
                        "Not known / missing",
                    ],
                ),
            ),
        ),
        (
            "drd-substance",
            "Deaths by substance group involved and case definition (a death may appear in several rows)",
            {
                // The flexible tables' substance-group dimension, labelled in words.
                let mut axis = super::tables::Dim::Substance.axis(0, &[]);
                let words = [
                    "Opioids",
                    "Cocaine",
                    "Stimulants other than cocaine",
                    "Hypnotics and sedatives",
                    "Hallucinogens",
                    "Volatile inhalants",
                    "Cannabis",
                    "Alcohol",
                    "Other substances",
                    "Not known / missing",
                ];
                for (category, word) in axis.categories.iter_mut().zip(words) {
                    category.label = word.to_owned();
                }
                axis
            },
        ),
        (
            "drd-manner",
            "Deaths by manner and case definition",
            Axis::codes(
                "manner",
                labelled(
                    super::tables::MANNERS,
                    &[
                        "Natural",
                        "Accident",
                        "Suicide",
                        "Homicide",
                        "Undetermined intent",
                        "Pending investigation",
                        "Not known / missing",
                    ],
                ),
            ),
        ),
        (
            "drd-known-to-treatment",
            "Deaths among persons known to treatment, by case definition",
            Axis::codes(
                "known_to_treatment",
                labelled(
                    &["yes", "no"],
                    &["Known to treatment", "Not known to treatment"],
                ),
            ),
        ),
        (
            "drd-after-treatment",
            "Deaths within 12 months of leaving treatment or a prison health unit, by case definition",
            Axis::codes(
                "left_treatment_12m",
                labelled(
                    &["yes", "no"],
                    &["Within 12 months", "Not within 12 months"],
                ),
            ),
        ),
    ];
    tables
        .into_iter()
        .map(|(id, title, rows)| {
            let cols = definition();
            let grid = count_national(deaths, &Vec::new(), std::slice::from_ref(&rows), &cols);
            let label = |c: &Category| Label {
                code: c.code.clone(),
                label: c.label.clone(),
            };
            let mut row_labels: Vec<Label> = rows.categories.iter().map(label).collect();
            row_labels.push(label(&total_row("All deaths")));
            let mut col_labels: Vec<Label> = cols.categories.iter().map(label).collect();
            col_labels.push(label(&total_row("All deaths")));
            StatTable {
                id: id.to_owned(),
                title: title.to_owned(),
                rows: row_labels,
                cols: col_labels,
                cells: grid_values(&grid),
                unreliable: Vec::new(),
            }
        })
        .collect()
}
