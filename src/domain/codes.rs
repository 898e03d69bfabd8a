//! The EMCDDA Treatment Demand Indicator (TDI 3.0) code lists.
//!
//! Each constant holds the valid codes of one list, named after the list in
//! `seeds/tdi_codes.csv` and in the same order as that file. The seed file is what the
//! database loads and is authoritative; a unit test compares every constant with it,
//! so the two cannot drift. Code `99` means "not known" in every list.

/// Centre type: 1 outpatient, 2 inpatient, 3 prison unit, 4 general practitioner,
/// 5 low-threshold agency, 6 other, 99 not known.
pub const CENTRE_TYPE: &[&str] = &["1", "2", "3", "4", "5", "6", "99"];

/// Ever previously treated: 1 never previously treated, 2 previously treated,
/// 99 not known.
pub const TREATMENT_STATUS: &[&str] = &["1", "2", "99"];

/// Source of referral: 1 court/probation/police, 2 general practitioner, 3 other drug
/// centre, 4 other health/medical/social service, 5 educational services,
/// 6 self/family/friends, 7 other, 99 not known.
pub const REFERRAL_SOURCE: &[&str] = &["1", "2", "3", "4", "5", "6", "7", "99"];

/// Sex: 1 male, 2 female, 99 not known.
pub const SEX: &[&str] = &["1", "2", "99"];

/// Living status, with whom: 1 alone, 2 family of origin, 3 partner and/or children,
/// 4 friends/others, 5 detention, 6 institution/shelter, 7 other, 99 not known.
pub const LIVING_WITH: &[&str] = &["1", "2", "3", "4", "5", "6", "7", "99"];

/// Living with children: 1 no, 2 yes, 99 not known.
pub const LIVING_WITH_CHILDREN: &[&str] = &["1", "2", "99"];

/// Living status, where: 1 stable, 2 unstable/homeless, 3 detention, 4 other,
/// 99 not known.
pub const LIVING_WHERE: &[&str] = &["1", "2", "3", "4", "99"];

/// Labour status: 1 occasionally employed, 2 regularly employed, 3 student,
/// 4 unemployed, 5 benefits/pensioner/house-maker/disabled, 6 other, 99 not known.
pub const LABOUR_STATUS: &[&str] = &["1", "2", "3", "4", "5", "6", "99"];

/// Highest educational level completed: 1 none or primary not completed, 2 primary,
/// 3 secondary, 4 higher, 99 not known.
pub const EDUCATION: &[&str] = &["1", "2", "3", "4", "99"];

/// Usual route of administration of the primary drug: 1 inject, 2 smoke/inhale,
/// 3 eat/drink, 4 sniff, 5 other, 99 not known.
pub const ROUTE: &[&str] = &["1", "2", "3", "4", "5", "99"];

/// Frequency of use of the primary drug in the last 30 days: 1 daily,
/// 2 4-6 days/week, 3 2-3 days/week, 4 once a week or less, 5 not used, 99 not known.
pub const FREQUENCY: &[&str] = &["1", "2", "3", "4", "5", "99"];

/// Polydrug problem: 1 yes, 2 no, 99 not known (numeric codes are a registry
/// convention).
pub const POLYDRUG: &[&str] = &["1", "2", "99"];

/// Opioid substitution treatment: 1 never, 2 ever but not currently, 3 currently,
/// 99 not known (numeric codes are a registry convention).
pub const OST_STATUS: &[&str] = &["1", "2", "3", "99"];

/// Injecting (any drug): 1 never, 2 ever (timing unknown), 2.1 not in last 12 months,
/// 2.2 last 12 months but not last 30 days, 2.3 last 30 days, 3 refused, 99 not known.
pub const INJECTING: &[&str] = &["1", "2", "2.1", "2.2", "2.3", "3", "99"];

/// Needle/syringe sharing: 1 never, 2 ever, 2.1 not in last 12 months, 2.2 last
/// 12 months but not last 30 days, 2.3 last 30 days, 3 refused, 99 not known.
pub const SHARING: &[&str] = &["1", "2", "2.1", "2.2", "2.3", "3", "99"];

/// HIV testing: 1 never, 2 ever, 2.1 not in last 12 months, 2.2 in last 12 months,
/// 3 refused, 99 not known.
pub const HIV_TESTING: &[&str] = &["1", "2", "2.1", "2.2", "3", "99"];

/// HCV testing: as HIV testing.
pub const HCV_TESTING: &[&str] = &["1", "2", "2.1", "2.2", "3", "99"];

/// Substances (primary and secondary drugs). Group codes (`1` opioids, `2` cocaine,
/// `3` stimulants, `4` hypnotics and sedatives, `5` hallucinogens, `6` volatile
/// inhalants, `7` cannabis, `8` alcohol, `9` other substances) and their subcodes
/// (`1.1` heroin, …); `8` alcohol is allowed only as a secondary drug.
pub const SUBSTANCE: &[&str] = &[
    "1", "1.1", "1.2", "1.3", "1.4", "1.5", "2", "2.1", "2.2", "2.3", "3", "3.1", "3.2", "3.3",
    "3.4", "3.5", "4", "4.1", "4.2", "4.3", "4.4", "5", "5.1", "5.2", "5.3", "6", "7", "7.1",
    "7.2", "7.3", "8", "9", "99",
];

/// TDI reporting age bands (age at treatment start), plus `99` not known.
pub const AGE_BAND: &[&str] = &[
    "lt15", "15-19", "20-24", "25-29", "30-34", "35-39", "40-44", "45-49", "50-54", "55-59",
    "60-64", "ge65", "99",
];

/// Every list by its seed-file name, in seed-file order.
pub const LISTS: &[(&str, &[&str])] = &[
    ("centre_type", CENTRE_TYPE),
    ("treatment_status", TREATMENT_STATUS),
    ("referral_source", REFERRAL_SOURCE),
    ("sex", SEX),
    ("living_with", LIVING_WITH),
    ("living_with_children", LIVING_WITH_CHILDREN),
    ("living_where", LIVING_WHERE),
    ("labour_status", LABOUR_STATUS),
    ("education", EDUCATION),
    ("route", ROUTE),
    ("frequency", FREQUENCY),
    ("polydrug", POLYDRUG),
    ("ost_status", OST_STATUS),
    ("injecting", INJECTING),
    ("sharing", SHARING),
    ("hiv_testing", HIV_TESTING),
    ("hcv_testing", HCV_TESTING),
    ("substance", SUBSTANCE),
    ("age_band", AGE_BAND),
];

/// The codes of the list called `name` (as in `seeds/tdi_codes.csv`), if there is one.
#[must_use]
pub fn list(name: &str) -> Option<&'static [&'static str]> {
    LISTS
        .iter()
        .find(|(list, _)| *list == name)
        .map(|(_, codes)| *codes)
}

/// The TDI reporting age band of an age in completed years: `"lt15"`, `"15-19"`, …,
/// `"60-64"`, `"ge65"`. (The band `"99"` is for an unknown age and is never returned.)
#[must_use]
pub fn age_band(age: u16) -> &'static str {
    match age {
        0..=14 => "lt15",
        15..=19 => "15-19",
        20..=24 => "20-24",
        25..=29 => "25-29",
        30..=34 => "30-34",
        35..=39 => "35-39",
        40..=44 => "40-44",
        45..=49 => "45-49",
        50..=54 => "50-54",
        55..=59 => "55-59",
        60..=64 => "60-64",
        _ => "ge65",
    }
}

/// The group of a substance code: the part before the first dot (`"1.1"` -> `"1"`,
/// `"7"` -> `"7"`, `"99"` -> `"99"`). The code is not checked against the list.
#[must_use]
pub fn substance_group(code: &str) -> &str {
    code.split_once('.').map_or(code, |(group, _)| group)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../seeds/tdi_codes.csv");

    /// `(list, codes in file order)` for every list in the seed file, in file order.
    fn seed_lists() -> Vec<(String, Vec<String>)> {
        let mut reader = csv::Reader::from_reader(SEED.as_bytes());
        let headers = reader.headers().expect("seed header").clone();
        assert_eq!(
            headers.iter().collect::<Vec<_>>(),
            ["list", "code", "label", "parent"]
        );
        let mut lists: Vec<(String, Vec<String>)> = Vec::new();
        for record in reader.records() {
            let record = record.expect("seed row");
            let (list, code) = (&record[0], &record[1]);
            match lists.last_mut() {
                Some((name, codes)) if name == list => codes.push(code.to_owned()),
                _ => {
                    assert!(
                        lists.iter().all(|(name, _)| name != list),
                        "list {list} is not contiguous in the seed file"
                    );
                    lists.push((list.to_owned(), vec![code.to_owned()]));
                }
            }
        }
        lists
    }

    #[test]
    fn every_constant_equals_the_seed_file() {
        let seed = seed_lists();
        let seed_names: Vec<&str> = seed.iter().map(|(n, _)| n.as_str()).collect();
        let const_names: Vec<&str> = LISTS.iter().map(|(n, _)| *n).collect();
        assert_eq!(const_names, seed_names, "lists and their order");
        for (name, codes) in &seed {
            let constant = list(name).unwrap_or_else(|| panic!("no constant for {name}"));
            assert_eq!(constant, codes.as_slice(), "list {name}");
        }
        // The named constants are the ones in LISTS (guards against a typo in LISTS).
        let named: [(&str, &[&str]); 19] = [
            ("centre_type", CENTRE_TYPE),
            ("treatment_status", TREATMENT_STATUS),
            ("referral_source", REFERRAL_SOURCE),
            ("sex", SEX),
            ("living_with", LIVING_WITH),
            ("living_with_children", LIVING_WITH_CHILDREN),
            ("living_where", LIVING_WHERE),
            ("labour_status", LABOUR_STATUS),
            ("education", EDUCATION),
            ("route", ROUTE),
            ("frequency", FREQUENCY),
            ("polydrug", POLYDRUG),
            ("ost_status", OST_STATUS),
            ("injecting", INJECTING),
            ("sharing", SHARING),
            ("hiv_testing", HIV_TESTING),
            ("hcv_testing", HCV_TESTING),
            ("substance", SUBSTANCE),
            ("age_band", AGE_BAND),
        ];
        for (name, constant) in named {
            let (_, codes) = seed.iter().find(|(n, _)| n == name).expect("seed list");
            assert_eq!(constant, codes.as_slice(), "constant for {name}");
        }
    }

    #[test]
    fn unknown_list_is_none() {
        assert_eq!(list("route"), Some(ROUTE));
        assert_eq!(list("Route"), None);
        assert_eq!(list(""), None);
    }

    #[test]
    fn age_bands_cover_every_age() {
        let cases = [
            (0, "lt15"),
            (14, "lt15"),
            (15, "15-19"),
            (19, "15-19"),
            (20, "20-24"),
            (24, "20-24"),
            (25, "25-29"),
            (34, "30-34"),
            (35, "35-39"),
            (44, "40-44"),
            (45, "45-49"),
            (54, "50-54"),
            (55, "55-59"),
            (60, "60-64"),
            (64, "60-64"),
            (65, "ge65"),
            (130, "ge65"),
            (u16::MAX, "ge65"),
        ];
        for (age, band) in cases {
            assert_eq!(age_band(age), band, "age {age}");
        }
        for age in 0..=200 {
            assert!(AGE_BAND.contains(&age_band(age)), "age {age}");
        }
    }

    #[test]
    fn substance_groups() {
        let cases = [
            ("1.1", "1"),
            ("1", "1"),
            ("2.3", "2"),
            ("7.1", "7"),
            ("7", "7"),
            ("8", "8"),
            ("99", "99"),
        ];
        for (code, group) in cases {
            assert_eq!(substance_group(code), group, "{code}");
        }
        // Every subcode's group is itself a substance code (the seed's parent column).
        for code in SUBSTANCE {
            assert!(SUBSTANCE.contains(&substance_group(code)), "{code}");
        }
    }

    #[test]
    fn seed_parents_match_substance_group() {
        let mut reader = csv::Reader::from_reader(SEED.as_bytes());
        for record in reader.records() {
            let record = record.expect("seed row");
            let (code, parent) = (&record[1], &record[3]);
            if !parent.is_empty() {
                assert_eq!(substance_group(code), parent, "{code}");
            }
        }
    }
}
