//! The synthetic population as records the API would receive, generated from a seed.
//!
//! Each person has their own random stream (the seed with the person's index as the
//! stream number), so person 41 is the same whatever else is generated, and benchmarks
//! can draw any slice of the population.

use rand::Rng;
use rand::SeedableRng;
use rand::distributions::{Distribution, WeightedIndex};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use time::{Date, Duration, Month};

use super::people::{MUNICIPALITIES, Name, Slip, name, personal_number, spelled};
use crate::domain::death::{
    DeathBackground, ForensicInput, NotificationInput, OverdoseInput, PoliceOverdoseInput,
    SubstanceInput,
};
use crate::domain::episode::EpisodeInput;
use crate::domain::social::ContactInput;
use crate::identity::subject::IdentityInput;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// People in treatment over the period.
    pub persons: u64,
    /// Calendar years covered, ending with the last complete year before `today`.
    pub years: u16,
    /// Seed; the same seed gives the same records.
    pub seed: u64,
    /// Today; the period ends on 31 December of the year before.
    pub today: crate::clock::Date,
}

impl Config {
    /// First and last calendar year covered.
    pub fn period(&self) -> (i32, i32) {
        let last = self.today.year() - 1;
        (last - i32::from(self.years.max(1)) + 1, last)
    }
}

/// How one registration's identity is written.
fn identity(person: &Person, slip: Option<Slip>, rng: &mut ChaCha8Rng) -> IdentityInput {
    let (first_name, last_name, birth_date) = spelled(rng, &person.name, person.birth, slip);
    IdentityInput {
        // Not every registration carries the personal number (people without
        // documents, low-threshold services).
        personal_number: rng.gen_bool(0.8).then(|| person.personal_number.clone()),
        first_name,
        last_name,
        birth_date,
        sex: if person.male { "1" } else { "2" }.into(),
    }
}

/// One synthetic person, as they really are (registrations may misspell them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Index in the population.
    pub index: u64,
    /// Name.
    pub name: Name,
    /// Date of birth.
    pub birth: Date,
    /// Sex.
    pub male: bool,
    /// Municipality of residence.
    pub municipality: &'static str,
    /// Personal number.
    pub personal_number: String,
    /// Primary drug (TDI code).
    pub primary_drug: &'static str,
}

/// One record as a user would submit it.
#[derive(Clone)]
pub enum Record {
    /// A treatment episode registered by a clinician of `facility`; closed on the
    /// date with the reason when `end` is given.
    Episode {
        /// Facility code.
        facility: &'static str,
        /// The episode.
        input: Box<EpisodeInput>,
        /// End date and reason.
        end: Option<(String, &'static str)>,
        /// Whether this registration spells the person differently from the first.
        slipped: bool,
    },
    /// A social-work contact by the Centre for Social Work of `municipality`.
    Contact {
        /// Municipality slug.
        municipality: &'static str,
        /// The contact.
        input: Box<ContactInput>,
    },
    /// An emergency presentation at `facility`.
    Overdose {
        /// Facility code (emergency-capable).
        facility: &'static str,
        /// The presentation.
        input: Box<OverdoseInput>,
    },
    /// An overdose attended by police.
    PoliceOverdose(Box<PoliceOverdoseInput>),
    /// A death: police notification first (when given), then the forensic record.
    Death {
        /// Police notification.
        notification: Option<Box<NotificationInput>>,
        /// Forensic record.
        forensic: Box<ForensicInput>,
    },
}

/// `(code, weight)` of primary drugs among people entering treatment.
const PRIMARY_DRUGS: &[(&str, u32)] = &[
    ("1.1", 50),
    ("7.1", 22),
    ("2.1", 10),
    ("4.2", 5),
    ("3.1", 3),
    ("3.3", 2),
    ("1.2", 2),
    ("1.5", 2),
    ("7.2", 2),
    ("9", 2),
];

fn weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> T {
    match WeightedIndex::new(items.iter().map(|(_, w)| *w)) {
        Ok(dist) => items[dist.sample(rng)].0,
        Err(_) => items[0].0,
    }
}

fn date(y: i32, m: u8, d: u8) -> Date {
    Date::from_calendar_date(y, Month::try_from(m).unwrap_or(Month::January), d)
        .unwrap_or(Date::MIN)
}

fn iso(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn between(rng: &mut ChaCha8Rng, from: Date, to: Date) -> Date {
    let days = (to - from).whole_days().max(0);
    from + Duration::days(rng.gen_range(0..=days))
}

fn age_on(birth: Date, on: Date) -> u16 {
    let mut age = on.year() - birth.year();
    if (u8::from(on.month()), on.day()) < (u8::from(birth.month()), birth.day()) {
        age -= 1;
    }
    u16::try_from(age.max(0)).unwrap_or(0)
}

/// The hospital serving each district (emergency-capable; psychiatry in Prishtina).
fn district_hospital(district: &str) -> &'static str {
    match district {
        "prizren" => "hosp-prizren",
        "peja" => "hosp-peje",
        "gjakova" => "hosp-gjakove",
        "mitrovica" => "hosp-mitrovice",
        "gjilan" => "hosp-gjilan",
        "ferizaj" => "hosp-ferizaj",
        _ => "uckk-psychiatry",
    }
}

fn district_ost_unit(district: &str) -> &'static str {
    match district {
        "prizren" | "peja" | "gjakova" => "ost-prizren",
        "gjilan" => "ost-gjilan",
        _ => "ost-prishtine",
    }
}

fn facility_for(rng: &mut ChaCha8Rng, person: &Person, district: &str) -> &'static str {
    let opioid = person.primary_drug.starts_with('1');
    let roll: f64 = rng.gen_range(0.0..1.0);
    if roll < 0.06 {
        return "prison-dubrave";
    }
    if opioid && roll < 0.60 {
        return district_ost_unit(district);
    }
    if district == "prishtina" && roll < 0.72 {
        return if person.municipality == "podujeve" {
            "fmc-podujeve"
        } else {
            "ngo-lowthreshold-prishtine"
        };
    }
    district_hospital(district)
}

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items.choose(rng).copied().unwrap_or("99")
}

fn episode_input(
    rng: &mut ChaCha8Rng,
    person: &Person,
    facility: &str,
    start: Date,
    first: bool,
    slip: Option<Slip>,
) -> EpisodeInput {
    // A slip that swaps day and month of birth can make the registered age one year
    // lower than the true one; ages of first use stay below either.
    let age = age_on(person.birth, start).saturating_sub(1);
    let drug = person.primary_drug;
    let group = drug.split('.').next().unwrap_or("9");
    let route = match group {
        "1" => weighted(rng, &[("1", 35), ("2", 55), ("4", 10)]),
        "2" => weighted(rng, &[("4", 70), ("2", 15), ("1", 15)]),
        "7" => weighted(rng, &[("2", 95), ("3", 5)]),
        "4" => "3",
        "3" => weighted(rng, &[("3", 60), ("4", 35), ("1", 5)]),
        _ => weighted(rng, &[("3", 60), ("2", 40)]),
    };
    let age_first_use = rng.gen_range(13..=age.clamp(14, 25));
    let injecting = if route == "1" {
        "2.3"
    } else if group == "1" {
        weighted(rng, &[("1", 75), ("2.1", 20), ("2.2", 5)])
    } else {
        weighted(rng, &[("1", 95), ("99", 5)])
    };
    let injected = injecting.starts_with('2');
    let age_first_injection = injected.then(|| (age_first_use + rng.gen_range(0..=4)).min(age));
    // Sharing is asked only of people who have injected.
    let sharing = if injected {
        weighted(rng, &[("1", 65), ("2.1", 20), ("2.3", 10), ("3", 5)])
    } else {
        "99"
    };
    let mut secondary: Vec<String> = Vec::new();
    for (code, chance) in [("8", 0.35), ("7.1", 0.30), ("4.2", 0.15), ("2.1", 0.08)] {
        if code != drug && secondary.len() < 4 && rng.gen_bool(chance) {
            secondary.push(code.into());
        }
    }
    let treatment_status = if first {
        weighted(rng, &[("1", 70), ("2", 25), ("99", 5)])
    } else {
        weighted(rng, &[("2", 95), ("1", 5)])
    };
    // Substitution treatment is treatment: never for a first treatment.
    let (ost_status, ost_first_year) = if group == "1" && treatment_status != "1" {
        match weighted(rng, &[("1", 50), ("2", 30), ("3", 20)]) {
            "1" => ("1", None),
            status => {
                let earliest = (person.birth.year() + 18).min(start.year());
                let year = rng.gen_range(earliest..=start.year());
                (status, u16::try_from(year).ok())
            }
        }
    } else {
        ("1", None)
    };
    let referral = if facility == "prison-dubrave" {
        "1"
    } else {
        weighted(
            rng,
            &[
                ("6", 40),
                ("2", 15),
                ("1", 15),
                ("4", 12),
                ("3", 10),
                ("7", 5),
                ("99", 3),
            ],
        )
    };
    let male_or_young = person.male || age < 25;
    EpisodeInput {
        identity: identity(person, slip, rng),
        municipality: person.municipality.into(),
        treatment_start_date: iso(start),
        treatment_status: treatment_status.into(),
        referral_source: referral.into(),
        living_with: if facility == "prison-dubrave" {
            "5".into()
        } else {
            weighted(
                rng,
                &[
                    ("2", 50),
                    ("3", 20),
                    ("1", 18),
                    ("4", 6),
                    ("6", 3),
                    ("99", 3),
                ],
            )
            .into()
        },
        living_with_children: if male_or_young {
            weighted(rng, &[("1", 80), ("2", 17), ("99", 3)])
        } else {
            weighted(rng, &[("1", 50), ("2", 47), ("99", 3)])
        }
        .into(),
        living_where: if facility == "prison-dubrave" {
            "3".into()
        } else {
            weighted(rng, &[("1", 82), ("2", 12), ("4", 3), ("99", 3)]).into()
        },
        labour_status: weighted(
            rng,
            &[
                ("4", 48),
                ("1", 20),
                ("2", 14),
                ("3", 7),
                ("5", 5),
                ("6", 3),
                ("99", 3),
            ],
        )
        .into(),
        education: weighted(rng, &[("3", 52), ("2", 30), ("4", 8), ("1", 6), ("99", 4)]).into(),
        primary_drug: drug.into(),
        route: route.into(),
        frequency: weighted(
            rng,
            &[("1", 55), ("2", 15), ("3", 15), ("4", 12), ("99", 3)],
        )
        .into(),
        age_first_use: Some(age_first_use),
        polydrug: if secondary.is_empty() {
            weighted(rng, &[("2", 90), ("99", 10)])
        } else {
            weighted(rng, &[("1", 60), ("2", 40)])
        }
        .into(),
        secondary_drugs: secondary,
        ost_status: ost_status.into(),
        ost_first_year,
        injecting: injecting.into(),
        age_first_injection,
        sharing: sharing.into(),
        hiv_testing: weighted(rng, &[("2.2", 40), ("2.1", 20), ("1", 35), ("99", 5)]).into(),
        hcv_testing: weighted(rng, &[("2.2", 35), ("2.1", 20), ("1", 40), ("99", 5)]).into(),
        notes: None,
    }
}

/// A slip in a repeat registration: one in eight carries one.
fn slip(rng: &mut ChaCha8Rng, person: &Person) -> Option<Slip> {
    if !rng.gen_bool(0.125) {
        return None;
    }
    let cyrillic = if person.name.serbian { 30 } else { 0 };
    Some(weighted(
        rng,
        &[
            (Slip::SwappedLetters, 30),
            (Slip::NoDiacritics, 30),
            (Slip::Cyrillic, cyrillic),
            (Slip::SwappedDayMonth, 15),
        ],
    ))
}

fn person(index: u64, rng: &mut ChaCha8Rng, first_start: Date) -> Person {
    let (municipality, _, _) = MUNICIPALITIES
        .get(
            WeightedIndex::new(MUNICIPALITIES.iter().map(|(_, _, w)| *w))
                .map(|d| d.sample(rng))
                .unwrap_or(0),
        )
        .copied()
        .unwrap_or(("prishtine", "prishtina", 1));
    let male = rng.gen_bool(0.84);
    // Age at first registration: mostly 20-45, centred on the early thirties.
    let age: i64 =
        (rng.gen_range(0..9) + rng.gen_range(0..9) + rng.gen_range(0..9) + 19).clamp(16, 64);
    let birth = first_start - Duration::days(age * 365 + rng.gen_range(0..365));
    Person {
        index,
        name: name(rng, municipality, male),
        birth,
        male,
        municipality,
        personal_number: personal_number(rng),
        primary_drug: weighted(rng, PRIMARY_DRUGS),
    }
}

fn district(slug: &str) -> &'static str {
    MUNICIPALITIES
        .iter()
        .find(|(s, _, _)| *s == slug)
        .map_or("prishtina", |(_, d, _)| d)
}

/// Person `index` of the population and every record about them, in date order.
pub fn person_records(config: &Config, index: u64) -> (Person, Vec<Record>) {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    rng.set_stream(index);
    let (from, to) = config.period();
    let (period_start, period_end) = (date(from, 1, 1), date(to, 12, 31));
    let first_start = between(&mut rng, period_start, period_end);
    let person = person(index, &mut rng, first_start);
    let district = district(person.municipality);
    let mut records = Vec::new();

    // Treatment episodes: one, and for about a third of people more, at the same or
    // another facility, each after a break of at least seven months.
    let mut start = first_start;
    let mut last_end = None;
    let extra = weighted(&mut rng, &[(0u8, 62), (1, 24), (2, 10), (3, 4)]);
    let mut facility = facility_for(&mut rng, &person, district);
    for n in 0..=extra {
        if n > 0 && rng.gen_bool(0.5) {
            facility = facility_for(&mut rng, &person, district);
        }
        let slip = if n == 0 {
            None
        } else {
            slip(&mut rng, &person)
        };
        let input = episode_input(&mut rng, &person, facility, start, n == 0, slip);
        let end = start + Duration::days(rng.gen_range(30..=240));
        let more = n < extra && end + Duration::days(210) < period_end;
        let closed = end <= period_end && (more || rng.gen_bool(0.5));
        records.push(Record::Episode {
            facility,
            input: Box::new(input),
            end: closed.then(|| {
                (
                    iso(end),
                    weighted(
                        &mut rng,
                        &[
                            ("completed", 40),
                            ("dropped_out", 35),
                            ("referred", 20),
                            ("other", 5),
                        ],
                    ),
                )
            }),
            slipped: slip.is_some(),
        });
        last_end = Some(end);
        if !more {
            break;
        }
        start = between(
            &mut rng,
            end + Duration::days(210),
            (end + Duration::days(720)).min(period_end),
        );
    }

    if rng.gen_bool(0.25) {
        for _ in 0..rng.gen_range(1..=2) {
            let slip = slip(&mut rng, &person);
            records.push(Record::Contact {
                municipality: person.municipality,
                input: Box::new(ContactInput {
                    identity: identity(&person, slip, &mut rng),
                    contact_date: iso(between(&mut rng, first_start, period_end)),
                    service_type: pick(
                        &mut rng,
                        &[
                            "counselling",
                            "financial_assistance",
                            "family_support",
                            "housing",
                            "employment",
                            "referral",
                        ],
                    )
                    .into(),
                    referral_to_treatment: rng.gen_bool(0.4),
                    housing_support: rng.gen_bool(0.15),
                    employment_support: rng.gen_bool(0.2),
                    notes: None,
                }),
            });
        }
    }

    let opioid = person.primary_drug.starts_with('1');
    if rng.gen_bool(if opioid { 0.10 } else { 0.03 }) {
        let when = between(&mut rng, first_start, period_end);
        let identified = rng.gen_bool(0.7);
        let slip = slip(&mut rng, &person);
        records.push(Record::Overdose {
            facility: district_hospital(district),
            input: Box::new(OverdoseInput {
                presented_at: format!(
                    "{}T{:02}:{:02}",
                    iso(when),
                    rng.gen_range(0..24),
                    rng.gen_range(0..60)
                ),
                identity: identified.then(|| identity(&person, slip, &mut rng)),
                sex: (!identified).then(|| if person.male { "1" } else { "2" }.into()),
                age: Some(age_on(person.birth, when)),
                municipality: person.municipality.into(),
                arrival_by_ambulance: rng.gen_bool(0.6),
                substances_reported: vec![person.primary_drug.into()],
                substances_confirmed: if rng.gen_bool(0.5) {
                    vec![person.primary_drug.into()]
                } else {
                    Vec::new()
                },
                nps_names: Vec::new(),
                alcohol: rng.gen_bool(0.3),
                clinical_features: vec!["reduced_consciousness".into()],
                naloxone: opioid && rng.gen_bool(0.7),
                other_treatment: Vec::new(),
                outcome: weighted(
                    &mut rng,
                    &[
                        ("discharged", 60),
                        ("self_discharged", 15),
                        ("ward", 15),
                        ("critical_care", 10),
                    ],
                )
                .into(),
                length_of_stay_hours: Some(rng.gen_range(2..72)),
                intentional_self_harm: Some(rng.gen_bool(0.08)),
            }),
        });
    }

    // Police overdoses without identity: about one for every fifty people.
    if rng.gen_bool(0.02) {
        let when = between(&mut rng, period_start, period_end);
        records.push(Record::PoliceOverdose(Box::new(PoliceOverdoseInput {
            date: iso(when),
            municipality: person.municipality.into(),
            sex: Some(if rng.gen_bool(0.85) { "1" } else { "2" }.into()),
            age: Some(rng.gen_range(18..55)),
            substances_suspected: vec![weighted(&mut rng, PRIMARY_DRUGS).into()],
            nps_names: if rng.gen_bool(0.1) {
                vec![pick(&mut rng, &["isotonitazene", "3-MMC", "MDMB-4en-PINACA"]).into()]
            } else {
                Vec::new()
            },
            naloxone_given: rng.gen_bool(0.3),
            outcome: weighted(
                &mut rng,
                &[
                    ("taken_to_hospital", 70),
                    ("refused_care", 20),
                    ("other", 10),
                ],
            )
            .into(),
        })));
    }

    // Deaths: about one person in seventy over the period, opioid users far more often.
    let dies = rng.gen_bool(if opioid { 0.02 } else { 0.004 });
    if let Some(after) = last_end.filter(|_| dies) {
        let after = after.min(period_end);
        let when = between(&mut rng, after, period_end);
        records.push(death(&mut rng, &person, when));
    }
    (person, records)
}

fn death(rng: &mut ChaCha8Rng, person: &Person, when: Date) -> Record {
    let age = age_on(person.birth, when);
    let drug = person.primary_drug;
    let group = drug.split('.').next().unwrap_or("9");
    // Underlying cause and manner consistent with each other; T-codes name the drug.
    let (underlying, manner) = weighted(
        rng,
        &[
            (("X42", "accident"), 60),
            (("X44", "accident"), 8),
            (("X62", "suicide"), 10),
            (("Y12", "undetermined"), 10),
            (("F11.2", "accident"), 7),
            (("X41", "accident"), 5),
        ],
    );
    let t_code = match group {
        "1" if drug == "1.2" => "T40.3",
        "1" => "T40.1",
        "2" => "T40.5",
        "3" => "T43.6",
        "4" => "T42.4",
        "7" => "T40.7",
        _ => "T40.6",
    };
    let mut multiple = vec![t_code.to_owned()];
    if rng.gen_bool(0.2) && t_code != "T42.4" {
        multiple.push("T42.4".into());
    }
    let identity = identity(person, None, rng);
    let place = weighted(
        rng,
        &[
            ("home", 55),
            ("public_place", 20),
            ("other_private", 15),
            ("hospital", 10),
        ],
    );
    let notification = rng.gen_bool(0.5).then(|| {
        Box::new(NotificationInput {
            date_of_death: iso(when),
            municipality: person.municipality.into(),
            place_type: place.into(),
            found_alone: Some(rng.gen_bool(0.6)),
            paraphernalia: Some(rng.gen_bool(0.5)),
            witnessed: Some(rng.gen_bool(0.2)),
            suspected_substances: vec![drug.into()],
            identity: Some(identity.clone()),
            sex: None,
            age: Some(age),
            circumstances: None,
        })
    });
    let mut substances = vec![SubstanceInput {
        code: Some(drug.into()),
        nps_name: None,
        cause_relevant: true,
        matrix: Some("blood".into()),
        concentration: Some(format!(
            "{}.{:02} mg/L",
            rng.gen_range(0..2),
            rng.gen_range(1..100)
        )),
    }];
    if rng.gen_bool(0.3) {
        substances.push(SubstanceInput {
            code: Some("8".into()),
            nps_name: None,
            cause_relevant: false,
            matrix: Some("blood".into()),
            concentration: Some(format!("0.{:02} g/L", rng.gen_range(10..99))),
        });
    }
    Record::Death {
        notification,
        forensic: Box::new(ForensicInput {
            notification_id: None,
            overdose_id: None,
            identity: Some(identity),
            sex: None,
            age: Some(age),
            date_of_death: iso(when),
            municipality: person.municipality.into(),
            place_type: place.into(),
            underlying_cause: Some(underlying.into()),
            multiple_causes: multiple,
            manner: manner.into(),
            manner_confirmed: false,
            autopsy_done: rng.gen_bool(0.8),
            toxicology_done: true,
            substances,
            final_status: true,
            circumstances: None,
            // Known from the treatment history the synthetic person has.
            background: DeathBackground {
                residence: Some(person.municipality.into()),
                nationality: Some("XK".into()),
                route: None,
                known_drug_user: Some(true),
                recent_release: Some("99".into()),
                in_ost_at_death: None,
            },
        }),
    }
}

/// Every record of the population, person by person.
pub fn records(config: &Config) -> impl Iterator<Item = Record> + '_ {
    (0..config.persons).flat_map(|i| person_records(config, i).1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::death::{
        validate_forensic, validate_notification, validate_overdose, validate_police_overdose,
    };
    use crate::domain::{episode, social};

    const TODAY: crate::clock::Date = time::macros::date!(2026 - 11 - 24);

    fn config(seed: u64, persons: u64) -> Config {
        Config {
            persons,
            years: 3,
            seed,
            today: TODAY,
        }
    }

    fn episodes(records: &[Record]) -> Vec<&EpisodeInput> {
        records
            .iter()
            .filter_map(|r| match r {
                Record::Episode { input, .. } => Some(&**input),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_people_and_records() {
        for index in [0, 17, 999] {
            let (a, ra) = person_records(&config(7, 1000), index);
            let (b, rb) = person_records(&config(7, 1000), index);
            assert_eq!(a, b);
            let json = |r: &[Record]| {
                episodes(r)
                    .iter()
                    .map(|e| serde_json::to_string(e).unwrap_or_default())
                    .collect::<Vec<_>>()
            };
            assert_eq!(json(&ra), json(&rb));
            // The population size does not change who person `index` is.
            assert_eq!(
                person_records(&config(7, 5), index.min(4)).0.index,
                index.min(4)
            );
            assert_eq!(person_records(&config(7, 50_000), index).0, a);
        }
        let differs = (0..20)
            .filter(|&i| person_records(&config(7, 20), i).0 != person_records(&config(8, 20), i).0)
            .count();
        assert!(
            differs >= 19,
            "another seed gives other people ({differs}/20)"
        );
    }

    #[test]
    fn every_generated_record_passes_the_api_validation() {
        let slugs: Vec<&str> = MUNICIPALITIES.iter().map(|(s, _, _)| *s).collect();
        let mut counts = [0usize; 5];
        for record in records(&config(2018, 20_000)) {
            let (kind, errors) = match &record {
                Record::Episode { input, .. } => (0, episode::validate(input, TODAY, &slugs).err()),
                Record::Contact { input, .. } => (1, social::validate(input, TODAY).err()),
                Record::Overdose { input, .. } => {
                    (2, validate_overdose(input, TODAY, &slugs).err())
                }
                Record::PoliceOverdose(input) => {
                    (3, validate_police_overdose(input, TODAY, &slugs).err())
                }
                Record::Death {
                    notification,
                    forensic,
                } => {
                    let n = notification
                        .as_ref()
                        .and_then(|n| validate_notification(n, TODAY, &slugs).err());
                    (
                        4,
                        n.or_else(|| validate_forensic(forensic, TODAY, &slugs).err()),
                    )
                }
            };
            counts[kind] += 1;
            if let Some(errors) = errors {
                let text: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.problem))
                    .collect();
                panic!("record kind {kind} refused: {text:?}");
            }
        }
        assert!(
            counts.iter().all(|&n| n > 0),
            "every kind generated: {counts:?}"
        );
    }

    #[test]
    fn the_population_looks_like_people_in_treatment() {
        let config = config(2018, 4000);
        let mut men = 0;
        let mut age_20_45 = 0;
        let mut drugs: BTreeMap<&str, usize> = BTreeMap::new();
        let mut places: BTreeMap<&str, usize> = BTreeMap::new();
        let (mut repeats, mut slipped, mut cyrillic) = (0, 0, 0);
        for i in 0..config.persons {
            let (person, records) = person_records(&config, i);
            men += usize::from(person.male);
            *drugs.entry(person.primary_drug).or_default() += 1;
            *places.entry(person.municipality).or_default() += 1;
            let eps = episodes(&records);
            let first = date_of(&eps[0].treatment_start_date);
            if (20..=45).contains(&age_on(person.birth, first)) {
                age_20_45 += 1;
            }
            repeats += eps.len() - 1;
            for r in &records {
                if let Record::Episode {
                    slipped: true,
                    input,
                    ..
                } = r
                {
                    slipped += 1;
                    cyrillic += usize::from(
                        input
                            .identity
                            .last_name
                            .chars()
                            .any(|c| ('\u{400}'..='\u{4ff}').contains(&c)),
                    );
                }
            }
        }
        let n = config.persons as usize;
        assert!(
            (n * 78 / 100..=n * 90 / 100).contains(&men),
            "men {men}/{n}"
        );
        assert!(
            age_20_45 > n * 70 / 100,
            "aged 20-45 at first entry: {age_20_45}/{n}"
        );
        let mut ranked: Vec<(&str, usize)> = drugs.into_iter().collect();
        ranked.sort_by_key(|(_, c)| std::cmp::Reverse(*c));
        let top: Vec<&str> = ranked.iter().take(3).map(|(d, _)| *d).collect();
        assert_eq!(top, ["1.1", "7.1", "2.1"], "heroin, cannabis, cocaine lead");
        assert_eq!(
            places.len(),
            MUNICIPALITIES.len(),
            "every municipality appears"
        );
        let biggest = places.iter().max_by_key(|(_, c)| **c).map(|(m, _)| *m);
        assert_eq!(biggest, Some("prishtine"));
        assert!(repeats > n / 4, "repeat episodes {repeats}");
        assert!(
            slipped > repeats / 20 && slipped < repeats / 4,
            "slips {slipped} of {repeats}"
        );
        assert!(cyrillic > 0, "some repeat registrations are in Cyrillic");
    }

    fn date_of(text: &str) -> Date {
        let p: Vec<i32> = text.split('-').filter_map(|x| x.parse().ok()).collect();
        date(
            p[0],
            u8::try_from(p[1]).unwrap_or(1),
            u8::try_from(p[2]).unwrap_or(1),
        )
    }

    use std::collections::BTreeMap;
}
