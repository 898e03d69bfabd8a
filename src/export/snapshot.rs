//! Frozen years: immutable, versioned statistical snapshots of one calendar year.
//!
//! A snapshot holds one row per person and population (TDI entrants, persons in
//! treatment, deaths, overdoses) with category codes only and a record key `rk` for
//! the cell-key method. There is no subject id, pseudonym, registry id or sealed value
//! in a row, so a snapshot cannot be joined back to the live tables, and shredding a
//! person later changes no count. Every output reads snapshots, never live tables.
//!
//! In memory a snapshot is columnar: per population, each field's distinct values
//! are interned and every row holds a small index per field (a million entrants take
//! some 60 MB), so a table is one pass over a few integer columns.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::Keyring;
use crate::store::exports::{DeathFact, EntrantFact, OverdoseFact};

/// The populations a snapshot holds.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Population {
    /// TDI entrants of the year: each person's first episode of the year.
    Entrants,
    /// Persons in treatment at any time in the year.
    InTreatment,
    /// Deaths of the year (drug-related or not, with the Selection B / D flags).
    Deaths,
    /// Overdoses of the year (each record one event).
    Overdoses,
}

impl Population {
    /// Every population, in storage order.
    pub const ALL: [Population; 4] = [
        Self::Entrants,
        Self::InTreatment,
        Self::Deaths,
        Self::Overdoses,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        name.parse().ok()
    }

    /// The fields of this population's rows, in storage order.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Self::Entrants | Self::InTreatment => EPISODE_FIELDS,
            Self::Deaths => DEATH_FIELDS,
            Self::Overdoses => OVERDOSE_FIELDS,
        }
    }
}

/// Fields of an entrant or in-treatment row (multi-valued fields hold codes joined by `,`).
const EPISODE_FIELDS: &[&str] = &[
    "year",
    "quarter",
    "sex",
    "age_band",
    "municipality",
    "district",
    "centre_type",
    "treatment_status",
    "referral_source",
    "living_with",
    "living_with_children",
    "living_where",
    "education",
    "labour_status",
    "primary_drug",
    "route",
    "frequency",
    "age_at_start",
    "age_first_use",
    "secondary_drugs",
    "any_drug",
    "polydrug",
    "ost_status",
    "years_since_first_ost",
    "injecting",
    "years_since_first_injection",
    "sharing",
    "hiv_testing",
    "hcv_testing",
];

const DEATH_FIELDS: &[&str] = &[
    "year",
    "quarter",
    "sex",
    "age_band",
    "municipality",
    "district",
    "manner",
    "definition",
    "substances",
    "known_to_treatment",
    "left_treatment_12m",
];

const OVERDOSE_FIELDS: &[&str] = &[
    "year",
    "quarter",
    "sex",
    "age_band",
    "municipality",
    "district",
    "source",
    "outcome",
    "substances",
];

/// What the status lists about one version of a year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SnapshotInfo {
    /// Snapshot id (random; names the snapshot in releases).
    pub snapshot_id: String,
    /// Data year.
    pub year: i64,
    /// Version of the year (1, 2, …).
    pub version: i64,
    /// When it was frozen (UTC).
    pub created_at: String,
    /// Who froze it (user id, or `cli`).
    pub created_by: String,
    /// Rows per population.
    pub rows: BTreeMap<Population, i64>,
    /// Person rows that differ from the previous version (rows added plus rows
    /// removed, compared by their codes); absent for version 1.
    pub changed_rows: Option<i64>,
}

/// One field of a population, interned.
#[derive(Debug, Clone, Default)]
pub struct Column {
    /// The distinct values, by index.
    pub labels: Vec<String>,
    /// Each row's value index.
    pub index: Vec<u16>,
    lookup: HashMap<String, u16>,
}

impl Column {
    fn push(&mut self, value: &str) -> Result<(), String> {
        let i = match self.lookup.get(value) {
            Some(i) => *i,
            None => {
                let next = u16::try_from(self.labels.len())
                    .map_err(|_| "a snapshot field has more than 65,536 distinct values")?;
                self.lookup.insert(value.to_owned(), next);
                self.labels.push(value.to_owned());
                next
            }
        };
        self.index.push(i);
        Ok(())
    }
}

/// The rows of one population, columnar.
#[derive(Debug, Clone, Default)]
pub struct Part {
    /// Field names, in storage order.
    pub fields: Vec<String>,
    /// One column per field.
    pub columns: Vec<Column>,
    /// Record keys, one per row, as fractions of 2³².
    pub rk: Vec<u32>,
}

impl Part {
    fn new(fields: &[String]) -> Self {
        Self {
            fields: fields.to_vec(),
            columns: vec![Column::default(); fields.len()],
            rk: Vec::new(),
        }
    }

    /// Number of rows (persons).
    pub fn len(&self) -> usize {
        self.rk.len()
    }

    /// Whether the population is empty.
    pub fn is_empty(&self) -> bool {
        self.rk.is_empty()
    }

    /// The column of a field.
    pub fn column(&self, field: &str) -> Option<&Column> {
        self.fields
            .iter()
            .position(|f| f == field)
            .map(|i| &self.columns[i])
    }

    /// Appends a row from its stored codes (fields joined by `|`).
    fn push_codes(&mut self, rk: u32, codes: &str) -> Result<(), String> {
        let values: Vec<&str> = codes.split('|').collect();
        if values.len() != self.columns.len() {
            return Err(format!(
                "a snapshot row has {} fields, its layout {}",
                values.len(),
                self.columns.len()
            ));
        }
        for (column, value) in self.columns.iter_mut().zip(values) {
            column.push(value)?;
        }
        self.rk.push(rk);
        Ok(())
    }

    /// The stored codes of row `i`.
    pub fn codes(&self, i: usize) -> String {
        self.columns
            .iter()
            .map(|c| c.labels[usize::from(c.index[i])].as_str())
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// A snapshot in memory.
#[derive(Debug, Clone)]
pub struct Frozen {
    /// Its header.
    pub info: SnapshotInfo,
    /// Rows by population.
    pub parts: BTreeMap<Population, Part>,
}

impl Frozen {
    /// The rows of a population (empty when it has none).
    pub fn part(&self, population: Population) -> &Part {
        static EMPTY: std::sync::OnceLock<Part> = std::sync::OnceLock::new();
        self.parts
            .get(&population)
            .unwrap_or_else(|| EMPTY.get_or_init(Part::default))
    }
}

/// Builds a snapshot's rows population by population.
pub struct Builder {
    parts: BTreeMap<Population, Part>,
}

impl Builder {
    /// An empty builder with the current layout.
    pub fn new() -> Self {
        Self::with_layout(&layout())
    }

    /// An empty builder for a stored layout.
    pub fn with_layout(layout: &BTreeMap<Population, Vec<String>>) -> Self {
        Self {
            parts: layout.iter().map(|(p, f)| (*p, Part::new(f))).collect(),
        }
    }

    /// Adds a stored row.
    pub fn push(&mut self, population: Population, rk: u32, codes: &str) -> Result<(), String> {
        self.parts
            .get_mut(&population)
            .ok_or_else(|| format!("population {} is not in the layout", population.as_str()))?
            .push_codes(rk, codes)
    }

    /// The finished snapshot; its header's row counts are those of the rows given.
    pub fn finish(self, mut info: SnapshotInfo) -> Frozen {
        let mut parts = self.parts;
        for part in parts.values_mut() {
            for column in &mut part.columns {
                column.lookup = HashMap::new();
            }
        }
        info.rows = parts
            .iter()
            .map(|(p, part)| (*p, part.len() as i64))
            .collect();
        Frozen { info, parts }
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

/// The current layout: every population's field list.
pub fn layout() -> BTreeMap<Population, Vec<String>> {
    Population::ALL
        .into_iter()
        .map(|p| (p, p.fields().iter().map(|f| (*f).to_owned()).collect()))
        .collect()
}

/// A number that may be missing: empty when not known (never "99", which would
/// read as a value when banded).
fn opt(value: Option<u16>) -> String {
    value.map_or_else(String::new, |v| v.to_string())
}

fn joined(codes: &[String]) -> String {
    codes.join(",")
}

/// The codes of an entrant or in-treatment row.
pub fn episode_codes(
    fact: &EntrantFact,
    sealed: Option<&crate::domain::episode::SealedEpisode>,
) -> String {
    let p = &fact.plain;
    let mut any: Vec<String> = std::iter::once(p.primary_drug.clone())
        .chain(p.secondary_drugs.iter().cloned())
        .collect();
    any.sort();
    any.dedup();
    let unknown = "99".to_owned();
    let sealed_or = |f: fn(&crate::domain::episode::SealedEpisode) -> &String| {
        sealed.map_or_else(|| unknown.clone(), |s| f(s).clone())
    };
    let years_since_injection = sealed
        .and_then(|s| s.age_first_injection)
        .map(|a| p.age_at_start.saturating_sub(a));
    let years_since_ost = p.ost_first_year.map(|y| p.start_year.saturating_sub(y));
    [
        fact.year.to_string(),
        p.start_quarter.to_string(),
        p.sex.clone(),
        p.age_band.clone(),
        p.municipality.clone(),
        fact.district.clone(),
        fact.centre_type.clone(),
        p.treatment_status.clone(),
        p.referral_source.clone(),
        p.living_with.clone(),
        p.living_with_children.clone(),
        p.living_where.clone(),
        p.education.clone(),
        p.labour_status.clone(),
        p.primary_drug.clone(),
        p.route.clone(),
        p.frequency.clone(),
        p.age_at_start.to_string(),
        opt(p.age_first_use),
        joined(&p.secondary_drugs),
        joined(&any),
        p.polydrug.clone(),
        p.ost_status.clone(),
        opt(years_since_ost),
        sealed_or(|s| &s.injecting),
        opt(years_since_injection),
        sealed_or(|s| &s.sharing),
        sealed_or(|s| &s.hiv_testing),
        sealed_or(|s| &s.hcv_testing),
    ]
    .join("|")
}

/// The codes of a death row.
pub fn death_codes(d: &DeathFact) -> String {
    let definition = match (d.selection_b, d.selection_d) {
        (true, true) => "B_and_D",
        (true, false) => "B_only",
        (false, true) => "D_only",
        (false, false) => "neither",
    };
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    [
        d.year.to_string(),
        d.quarter.to_string(),
        d.sex.clone(),
        d.age_band.clone(),
        d.municipality.clone(),
        d.district.clone(),
        d.manner.clone(),
        definition.to_owned(),
        joined(&d.substances),
        yes_no(d.known_to_treatment),
        yes_no(d.left_treatment_12m),
    ]
    .join("|")
}

/// The codes of an overdose row.
pub fn overdose_codes(o: &OverdoseFact) -> String {
    [
        o.year.to_string(),
        o.quarter.to_string(),
        o.sex.clone(),
        o.age_band.clone(),
        o.municipality.clone(),
        o.district.clone(),
        o.source.clone(),
        o.outcome.clone(),
        joined(&o.substances),
    ]
    .join("|")
}

/// A person's record key in one snapshot: the first 32 bits of an HMAC, under the
/// record-key domain of the pseudonym key, of the snapshot id, the population and
/// the internal person number. Fresh for every snapshot (the id is random), never
/// computable without the key file, and not stored with anything that names the person.
pub fn record_key(
    keyring: &Keyring,
    snapshot_id: &str,
    population: Population,
    person: i64,
) -> Result<u32, String> {
    let input = format!("{snapshot_id}|{}|{person}", population.as_str());
    let tag = keyring
        .active_pseudonym(
            crate::crypto::pseudonym::Domain::RecordKey,
            input.as_bytes(),
        )
        .ok_or("no active pseudonym key to derive record keys from; nothing was frozen")?;
    Ok(u32::from_be_bytes([tag[0], tag[1], tag[2], tag[3]]))
}

/// Rows added and removed between two snapshots of one year, per population,
/// compared by their codes (a corrected person is one row removed and one added).
pub fn differences(old: &Frozen, new: &Frozen) -> BTreeMap<Population, (i64, i64)> {
    use std::hash::{Hash, Hasher};
    // Rows are compared by a 64-bit hash of their codes (a national year holds a few
    // million rows; a collision among them has a chance of about 10⁻⁷).
    let mut balance: HashMap<(Population, u64), i64> = HashMap::new();
    for (sign, snapshot) in [(1_i64, new), (-1, old)] {
        for (population, part) in &snapshot.parts {
            for i in 0..part.len() {
                let mut hasher = std::hash::DefaultHasher::new();
                part.codes(i).hash(&mut hasher);
                *balance.entry((*population, hasher.finish())).or_default() += sign;
            }
        }
    }
    let mut out: BTreeMap<Population, (i64, i64)> = BTreeMap::new();
    for ((population, _), v) in balance {
        let entry = out.entry(population).or_default();
        if v > 0 {
            entry.0 += v;
        } else {
            entry.1 -= v;
        }
    }
    out
}

/// Person rows that differ (added plus removed, every population): the status figure.
pub fn changed_rows(old: &Frozen, new: &Frozen) -> i64 {
    differences(old, new).values().map(|(a, r)| a + r).sum()
}

/// Persons whose statutory figures changed: entrants and deaths (the populations the
/// statutory set shows), each population counting the larger of rows added and
/// removed, so a corrected person counts once.
pub fn changed_statutory_persons(old: &Frozen, new: &Frozen) -> i64 {
    differences(old, new)
        .iter()
        .filter(|(p, _)| matches!(p, Population::Entrants | Population::Deaths))
        .map(|(_, (a, r))| (*a).max(*r))
        .sum()
}

/// Process-wide cache of decoded snapshots (they never change once written).
#[derive(Default)]
pub struct Cache {
    entries: std::sync::Mutex<Vec<Arc<Frozen>>>,
}

/// Decoded snapshots kept in memory at once (a national year is some 100 MB).
const CACHED: usize = 2;

impl Cache {
    /// The cached snapshot with this id.
    pub fn get(&self, snapshot_id: &str) -> Option<Arc<Frozen>> {
        let entries = self.entries.lock().ok()?;
        entries
            .iter()
            .find(|f| f.info.snapshot_id == snapshot_id)
            .cloned()
    }

    /// Keeps a snapshot, dropping the oldest beyond the limit.
    pub fn put(&self, frozen: Arc<Frozen>) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|f| f.info.snapshot_id != frozen.info.snapshot_id);
            entries.push(frozen);
            if entries.len() > CACHED {
                entries.remove(0);
            }
        }
    }
}
