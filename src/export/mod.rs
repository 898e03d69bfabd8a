//! Anonymised aggregate export: the only way data leaves the registry.
//!
//! Tables count distinct persons per cell, are protected by `protect` (primary and
//! secondary suppression, audited by linear programming against this table's margins
//! and every earlier release of the same table in the ledger), and are recorded in
//! the release ledger with their published cells, so the next export is protected
//! against the union of what was released before.

mod count;
pub mod protect;
pub mod tables;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use count::Tally;
use protect::{Flag, Grid, Profile, Protected, protect};
use tables::{Dim, Entrant, Population, TableDef, catalogue};

use crate::crypto::Keyring;
use crate::domain::FieldError;
use crate::store::exports::EntrantFact;
use crate::store::{Store, StoreError};

/// Geography level of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Geography {
    /// One table for Kosovo.
    National,
    /// One table per district.
    District,
    /// One table per municipality.
    Municipality,
}

/// One published cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Cell {
    /// Distinct persons, or absent when suppressed.
    pub value: Option<i64>,
    /// `C` primary suppressed, `D` secondary suppressed, `U` unreliable.
    pub flag: Option<Flag>,
}

/// A protected table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TableOut {
    /// Table id.
    pub id: String,
    /// Title.
    pub title: String,
    /// `national`, or the district / municipality slug.
    pub unit: String,
    /// Row labels; the last is `total`.
    pub rows: Vec<String>,
    /// Column labels; the last is `total`.
    pub cols: Vec<String>,
    /// `rows × cols` cells, margins included.
    pub cells: Vec<Vec<Cell>>,
}

/// The feasible interval of one suppressed cell, as an attacker would compute it
/// from everything published.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CertificateEntry {
    /// Table id.
    pub table: String,
    /// Geographic unit.
    pub unit: String,
    /// Row label.
    pub row: String,
    /// Column label.
    pub col: String,
    /// Flag.
    pub flag: Flag,
    /// Lowest feasible value.
    pub lo: f64,
    /// Highest feasible value (absent when unbounded).
    pub hi: Option<f64>,
}

/// Mean ages by primary drug group (TDI table 11).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StatsRow {
    /// Primary drug group.
    pub group: String,
    /// Persons (suppressed below the threshold).
    pub persons: Option<i64>,
    /// Mean age at entry.
    pub mean_age_at_entry: Option<f64>,
    /// Standard deviation of age at entry.
    pub sd_age_at_entry: Option<f64>,
    /// Mean age at first use.
    pub mean_age_first_use: Option<f64>,
    /// Standard deviation of age at first use.
    pub sd_age_first_use: Option<f64>,
    /// Mean years between first use and entry.
    pub mean_lag: Option<f64>,
    /// `C` when suppressed, `U` when from fewer than 20 persons.
    pub flag: Option<Flag>,
}

/// Everything an export publishes (hashed into the ledger; identical data and
/// request give byte-identical content).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ExportContent {
    /// Protection profile.
    pub profile: Profile,
    /// First year.
    pub year_from: i64,
    /// Last year.
    pub year_to: i64,
    /// Geography level.
    pub geography: Geography,
    /// Protected count tables.
    pub tables: Vec<TableOut>,
    /// TDI table 11 (mean ages), when requested.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub table_11: Vec<StatsRow>,
    /// Audit certificate: every suppressed cell's feasible interval.
    pub certificate: Vec<CertificateEntry>,
}

/// What to export.
#[derive(Debug, Clone)]
pub struct Request {
    /// Table definitions (built-in or custom).
    pub tables: Vec<TableDef>,
    /// Whether TDI table 11 is included.
    pub table_11: bool,
    /// Years.
    pub years: (i64, i64),
    /// Geography.
    pub geography: Geography,
    /// Profile.
    pub profile: Profile,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A bad request; every problem listed.
    #[error("invalid export request")]
    Invalid(Vec<FieldError>),
    /// A table cannot be protected; nothing is published.
    #[error("refused: {0}")]
    Refused(String),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolves table ids (`tdi` = the whole TDI set, with table 11).
pub fn resolve(ids: &[String]) -> Result<(Vec<TableDef>, bool), Vec<FieldError>> {
    let all = catalogue();
    let mut out = Vec::new();
    let mut table_11 = false;
    let mut errors = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        match id.as_str() {
            "tdi" => {
                out.extend(all.iter().filter(|t| tables::is_tdi(t)).cloned());
                table_11 = true;
            }
            "tdi-11" => table_11 = true,
            _ => match all.iter().find(|t| &t.id == id) {
                Some(t) => out.push(t.clone()),
                None => errors.push(FieldError::new(
                    format!("tables[{i}]"),
                    "is not a table id; see GET /api/v1/exports/tables",
                )),
            },
        }
    }
    if ids.is_empty() {
        errors.push(FieldError::new("tables", "name at least one table"));
    }
    let mut seen = HashSet::new();
    out.retain(|t| seen.insert(t.id.clone()));
    if errors.is_empty() {
        Ok((out, table_11))
    } else {
        Err(errors)
    }
}

/// Builds a custom cross-tabulation definition over up to three allowed dimensions.
pub fn custom(dims: &[Dim]) -> Result<(TableDef, Vec<Dim>), Vec<FieldError>> {
    let mut errors = Vec::new();
    if dims.is_empty() || dims.len() > 3 {
        errors.push(FieldError::new(
            "dimensions",
            "give between 1 and 3 dimensions",
        ));
    }
    for (i, d) in dims.iter().enumerate() {
        if !tables::CUSTOM_DIMS.contains(d) {
            errors.push(FieldError::new(
                format!("dimensions[{i}]"),
                "is not allowed in a custom table",
            ));
        }
    }
    let unique: HashSet<_> = dims.iter().map(|d| format!("{d:?}")).collect();
    if unique.len() != dims.len() {
        errors.push(FieldError::new("dimensions", "must not repeat a dimension"));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let names: Vec<String> = dims
        .iter()
        .map(|d| {
            serde_json::to_value(d)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .collect();
    let last = dims[dims.len() - 1];
    Ok((
        TableDef {
            id: format!("custom-{}", names.join("-")),
            title: format!("Custom: {}", names.join(" × ")),
            population: Population::AllEntrants,
            rows: dims[0],
            cols: last,
        },
        dims[..dims.len() - 1].to_vec(),
    ))
}

fn row_labels(
    row_dims: &[Dim],
    years: (i64, i64),
    municipalities: &[(String, String)],
) -> Vec<String> {
    let mut labels = vec![String::new()];
    for d in row_dims {
        let cats = d.categories(years, municipalities);
        labels = labels
            .iter()
            .flat_map(|prefix| {
                cats.iter().map(move |c| {
                    if prefix.is_empty() {
                        c.clone()
                    } else {
                        format!("{prefix} / {c}")
                    }
                })
            })
            .collect();
    }
    labels
}

/// Per-cell key for deterministic rounding: a hash of where the cell is, never of
/// its value, so the same cell always rounds the same way.
fn cell_key(table_key: &str, cell: usize) -> u64 {
    let digest = Sha256::digest(format!("{table_key}#{cell}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(bytes)
}

fn units(geography: Geography, municipalities: &[(String, String)]) -> Vec<String> {
    match geography {
        Geography::National => vec!["national".into()],
        Geography::District => Dim::District.categories((0, 0), municipalities),
        Geography::Municipality => municipalities.iter().map(|(m, _)| m.clone()).collect(),
    }
}

/// Published cells of earlier releases, by table key.
pub type LedgerCells = BTreeMap<String, Vec<Option<i64>>>;

/// The row dimensions of a table: one for built-in tables, the requested ones for a
/// custom cross-tabulation.
fn table_row_dims(def: &TableDef, custom_row_dims: &[Dim]) -> Vec<Dim> {
    if def.id.starts_with("custom-") && !custom_row_dims.is_empty() {
        custom_row_dims.to_vec()
    } else {
        vec![def.rows]
    }
}

fn is_entrant_population(p: Population) -> bool {
    matches!(
        p,
        Population::AllEntrants | Population::FirstTreated | Population::PreviouslyTreated
    )
}

/// Builds and protects every table of a request against earlier releases.
pub async fn build(
    store: &Store,
    keyring: &Arc<Keyring>,
    request: &Request,
    custom_row_dims: &[Dim],
    earlier: &[LedgerCells],
) -> Result<(ExportContent, LedgerCells), ExportError> {
    let municipalities: Vec<(String, String)> = store
        .municipalities()
        .await?
        .into_iter()
        .map(|m| (m.slug, m.district))
        .collect();
    let unit_names = units(request.geography, &municipalities);
    let row_dims: Vec<Vec<Dim>> = request
        .tables
        .iter()
        .map(|def| table_row_dims(def, custom_row_dims))
        .collect();
    let mut tally = Tally::new(
        &request.tables,
        &row_dims,
        request.years,
        &municipalities,
        request.geography,
        &unit_names,
    );
    let needs =
        |pred: &dyn Fn(Population) -> bool| request.tables.iter().any(|t| pred(t.population));
    let mut ages = Ages::default();
    if needs(&is_entrant_population) || request.table_11 {
        let needs_sealed = row_dims
            .iter()
            .flatten()
            .chain(request.tables.iter().map(|t| &t.cols))
            .any(|d| d.sealed());
        (tally, ages) = count_entrants(
            store,
            keyring,
            request.years,
            needs_sealed,
            tally,
            &municipalities,
        )
        .await?;
    }
    let (from, to) = request.years;
    let prevalence = if needs(&|p| p == Population::Prevalence) {
        store.export_prevalence(from, to).await?
    } else {
        Vec::new()
    };
    let deaths = if needs(&|p| {
        matches!(
            p,
            Population::DeathsB | Population::DeathsD | Population::DeathsBOrD
        )
    }) {
        store.export_deaths(from, to).await?
    } else {
        Vec::new()
    };
    let overdoses = if needs(&|p| p == Population::Overdoses) {
        store.export_overdoses(from, to).await?
    } else {
        Vec::new()
    };
    let request = request.clone();
    let earlier = earlier.to_vec();
    // Counting the smaller populations and linear programming are CPU work: off the
    // async executor.
    tokio::task::spawn_blocking(move || {
        let mut prevalence = prevalence;
        prevalence.sort_by_key(|f| f.person);
        let mut group = Vec::new();
        let mut facts = prevalence.into_iter().peekable();
        while let Some(fact) = facts.next() {
            let person = fact.person;
            let entrant = Entrant { fact, sealed: None };
            group.extend(tally.code(&entrant, count::bit(Population::Prevalence)));
            if facts.peek().is_none_or(|next| next.person != person) {
                tally.add_person(&group);
                group.clear();
            }
        }
        for death in &deaths {
            let mut populations = 0;
            if death.selection_b {
                populations |= count::bit(Population::DeathsB);
            }
            if death.selection_d {
                populations |= count::bit(Population::DeathsD);
            }
            if death.selection_b || death.selection_d {
                populations |= count::bit(Population::DeathsBOrD);
            }
            let coded: Vec<_> = tally.code(death, populations).into_iter().collect();
            tally.add_person(&coded);
        }
        for overdose in &overdoses {
            let coded: Vec<_> = tally
                .code(overdose, count::bit(Population::Overdoses))
                .into_iter()
                .collect();
            tally.add_person(&coded);
        }
        protect_all(
            tally.into_grids(),
            &ages,
            &request,
            &row_dims,
            &municipalities,
            &unit_names,
            &earlier,
        )
    })
    .await
    .map_err(|e| ExportError::Refused(format!("export task failed: {e}")))?
}

/// Counts the entrants in as many partitions of the people as there are cores (up
/// to four), each a scan streamed into its own tally on a blocking thread, then adds
/// the partitions together. A person lies in one partition, so counts stay distinct.
async fn count_entrants(
    store: &Store,
    keyring: &Arc<Keyring>,
    years: (i64, i64),
    needs_sealed: bool,
    tally: Tally,
    municipalities: &[(String, String)],
) -> Result<(Tally, Ages), ExportError> {
    let districts: Arc<std::collections::HashMap<String, String>> =
        Arc::new(municipalities.iter().cloned().collect());
    // Each partition holds a pooled connection for its whole scan; leave one for the
    // service's other requests, or a small pool would time out waiting.
    let connections = store.max_connections().saturating_sub(1).max(1) as usize;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parts = cores.min(4).min(connections) as i64;
    let partitions = (0..parts).map(|part| {
        count_partition(
            store,
            keyring,
            years,
            needs_sealed,
            tally.clone(),
            (part, parts),
            Arc::clone(&districts),
        )
    });
    let mut results = futures_util::future::try_join_all(partitions).await?;
    let (mut total, mut ages) = results.remove(0);
    for (t, a) in results {
        total.merge(t);
        ages.merge(a);
    }
    Ok((total, ages))
}

/// One partition: a stream of entrants fed a batch at a time to a blocking thread,
/// so neither the executor nor memory carries the whole year.
async fn count_partition(
    store: &Store,
    keyring: &Arc<Keyring>,
    years: (i64, i64),
    needs_sealed: bool,
    tally: Tally,
    partition: (i64, i64),
    districts: Arc<std::collections::HashMap<String, String>>,
) -> Result<(Tally, Ages), ExportError> {
    use futures_util::TryStreamExt;
    const BATCH: usize = 1024;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<EntrantFact>>(4);
    let keyring = Arc::clone(keyring);
    let consumer = tokio::task::spawn_blocking(move || {
        let mut tally = tally;
        let mut ages = Ages::default();
        let mut group = Vec::new();
        let mut current = None;
        while let Some(batch) = receiver.blocking_recv() {
            for fact in batch {
                if current != Some(fact.person) {
                    tally.add_person(&group);
                    group.clear();
                    ages.next_person();
                    current = Some(fact.person);
                }
                let sealed =
                    fact.sealed
                        .as_ref()
                        .and_then(|(registry_id, wrapped, episode_id, blob)| {
                            crate::episodes::open_sealed(
                                &keyring,
                                registry_id,
                                wrapped,
                                episode_id,
                                blob,
                            )
                            .ok()
                        });
                let entrant = Entrant { fact, sealed };
                ages.add(&entrant.fact);
                let populations = count::bit(Population::AllEntrants)
                    | match entrant.fact.plain.treatment_status.as_str() {
                        "1" => count::bit(Population::FirstTreated),
                        "2" => count::bit(Population::PreviouslyTreated),
                        _ => 0,
                    };
                group.extend(tally.code(&entrant, populations));
            }
        }
        tally.add_person(&group);
        (tally, ages)
    });
    let stream = store.export_entrants(years.0, years.1, needs_sealed, partition, districts);
    futures_util::pin_mut!(stream);
    let mut batch = Vec::with_capacity(BATCH);
    let mut failure = None;
    loop {
        match stream.try_next().await {
            Ok(Some(fact)) => {
                batch.push(fact);
                if batch.len() == BATCH && sender.send(std::mem::take(&mut batch)).await.is_err() {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    if !batch.is_empty() {
        let _ = sender.send(batch).await;
    }
    drop(sender);
    let counted = consumer
        .await
        .map_err(|e| ExportError::Refused(format!("export task failed: {e}")))?;
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(counted),
    }
}

/// Count, sum and sum of squares of whole years: exact in integers, so the mean and
/// standard deviation do not depend on the order people were added in (partitions
/// of the scan are merged in any order).
#[derive(Default, Clone, Copy)]
struct Moments {
    n: i64,
    sum: i64,
    squares: i64,
}

impl Moments {
    fn add(&mut self, value: i64) {
        self.n += 1;
        self.sum += value;
        self.squares += value * value;
    }

    fn merge(&mut self, other: Moments) {
        self.n += other.n;
        self.sum += other.sum;
        self.squares += other.squares;
    }

    /// Mean and population standard deviation, each rounded to one decimal.
    fn mean_sd(&self) -> Option<(f64, f64)> {
        if self.n == 0 {
            return None;
        }
        let n = self.n as f64;
        let mean = self.sum as f64 / n;
        // n²·variance = n·Σx² − (Σx)², computed exactly.
        let scaled = (i128::from(self.n) * i128::from(self.squares)
            - i128::from(self.sum) * i128::from(self.sum))
        .max(0);
        let sd = (scaled as f64).sqrt() / n;
        Some(((mean * 10.0).round() / 10.0, (sd * 10.0).round() / 10.0))
    }
}

/// Table 11's moments for one primary drug group.
#[derive(Default, Clone, Copy)]
struct GroupAges {
    entry: Moments,
    first_use: Moments,
    lag: Moments,
}

/// Ages at entry and at first use for table 11: each person once per drug group.
#[derive(Default)]
struct Ages {
    by_group: BTreeMap<String, GroupAges>,
    seen: Vec<String>,
}

impl Ages {
    fn next_person(&mut self) {
        self.seen.clear();
    }

    fn add(&mut self, fact: &EntrantFact) {
        let group = crate::domain::codes::substance_group(&fact.plain.primary_drug);
        if self.seen.iter().any(|g| g == group) {
            return;
        }
        self.seen.push(group.to_owned());
        let ages = self.by_group.entry(group.to_owned()).or_default();
        let at_entry = i64::from(fact.plain.age_at_start);
        ages.entry.add(at_entry);
        if let Some(first) = fact.plain.age_first_use.map(i64::from) {
            ages.first_use.add(first);
            ages.lag.add(at_entry - first);
        }
    }

    fn merge(&mut self, other: Ages) {
        for (group, m) in other.by_group {
            let mine = self.by_group.entry(group).or_default();
            mine.entry.merge(m.entry);
            mine.first_use.merge(m.first_use);
            mine.lag.merge(m.lag);
        }
    }
}

fn protect_all(
    grids: Vec<Vec<Grid>>,
    ages: &Ages,
    request: &Request,
    row_dims: &[Vec<Dim>],
    municipalities: &[(String, String)],
    unit_names: &[String],
    earlier: &[LedgerCells],
) -> Result<(ExportContent, LedgerCells), ExportError> {
    let mut tables_out = Vec::new();
    let mut certificate = Vec::new();
    let mut published: LedgerCells = BTreeMap::new();
    for (t, def) in request.tables.iter().enumerate() {
        let rows = row_labels(&row_dims[t], request.years, municipalities);
        let cols = def.cols.categories(request.years, municipalities);
        for (u, unit) in unit_names.iter().enumerate() {
            let grid = &grids[u][t];
            let key = format!(
                "{}|{}-{}|{}",
                def.id, request.years.0, request.years.1, unit
            );
            let previous: Vec<Vec<Option<i64>>> = if request.profile == Profile::Round5 {
                Vec::new()
            } else {
                earlier
                    .iter()
                    .filter_map(|release| release.get(&key).cloned())
                    .collect()
            };
            let protected = protect(
                grid,
                request.profile,
                |cell| cell_key(&key, cell),
                &previous,
            )
            .map_err(|e| ExportError::Refused(format!("{}: {e}", def.id)))?;
            let (table, entries) = render(def, unit, &rows, &cols, grid, &protected);
            certificate.extend(entries);
            published.insert(key, protected.published.clone());
            tables_out.push(table);
        }
    }
    let table_11 = if request.table_11 {
        stats_table(ages, request.profile)
    } else {
        Vec::new()
    };
    Ok((
        ExportContent {
            profile: request.profile,
            year_from: request.years.0,
            year_to: request.years.1,
            geography: request.geography,
            tables: tables_out,
            table_11,
            certificate,
        },
        published,
    ))
}

fn render(
    def: &TableDef,
    unit: &str,
    rows: &[String],
    cols: &[String],
    grid: &Grid,
    protected: &Protected,
) -> (TableOut, Vec<CertificateEntry>) {
    let mut row_labels = rows.to_vec();
    row_labels.push("total".into());
    let mut col_labels = cols.to_vec();
    col_labels.push("total".into());
    let cells = (0..=grid.rows)
        .map(|r| {
            (0..=grid.cols)
                .map(|c| {
                    let i = grid.at(r, c);
                    Cell {
                        value: protected.published[i],
                        flag: protected.flags[i],
                    }
                })
                .collect()
        })
        .collect();
    let certificate = protected
        .intervals
        .iter()
        .map(|(i, lo, hi)| CertificateEntry {
            table: def.id.clone(),
            unit: unit.to_owned(),
            row: row_labels[i / (grid.cols + 1)].clone(),
            col: col_labels[i % (grid.cols + 1)].clone(),
            flag: protected.flags[*i].unwrap_or(Flag::D),
            lo: (lo * 1000.0).round() / 1000.0,
            hi: hi.map(|h| (h * 1000.0).round() / 1000.0),
        })
        .collect();
    (
        TableOut {
            id: def.id.clone(),
            title: def.title.clone(),
            unit: unit.to_owned(),
            rows: row_labels,
            cols: col_labels,
            cells,
        },
        certificate,
    )
}

/// TDI table 11: mean and standard deviation of age at entry and at first use, and
/// the mean lag, by primary drug group. Groups under the threshold are suppressed;
/// statistics from fewer than 20 persons are flagged unreliable.
fn stats_table(ages: &Ages, profile: Profile) -> Vec<StatsRow> {
    ages.by_group
        .iter()
        .map(|(group, m)| {
            let group = group.clone();
            let n = m.entry.n;
            if n < profile.threshold() {
                return StatsRow {
                    group,
                    persons: None,
                    mean_age_at_entry: None,
                    sd_age_at_entry: None,
                    mean_age_first_use: None,
                    sd_age_first_use: None,
                    mean_lag: None,
                    flag: Some(Flag::C),
                };
            }
            let e = m.entry.mean_sd();
            let f = m.first_use.mean_sd();
            StatsRow {
                group,
                persons: Some(n),
                mean_age_at_entry: e.map(|x| x.0),
                sd_age_at_entry: e.map(|x| x.1),
                mean_age_first_use: f.map(|x| x.0),
                sd_age_first_use: f.map(|x| x.1),
                mean_lag: m.lag.mean_sd().map(|x| x.0),
                flag: (n < 20).then_some(Flag::U),
            }
        })
        .collect()
}

/// CSV of the count tables: `table,unit,row,column,value,flag`.
pub fn to_csv(content: &ExportContent) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record(["table", "unit", "row", "column", "value", "flag"]);
    for t in &content.tables {
        for (r, row) in t.cells.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let value = cell.value.map(|v| v.to_string()).unwrap_or_default();
                let flag = cell.flag.map(|f| format!("{f:?}")).unwrap_or_default();
                let _ =
                    writer.write_record([&t.id, &t.unit, &t.rows[r], &t.cols[c], &value, &flag]);
            }
        }
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// SHA-256 of the content's canonical JSON.
pub fn content_hash(content: &ExportContent) -> String {
    hex::encode(Sha256::digest(
        serde_json::to_vec(content).unwrap_or_default(),
    ))
}

/// Serialises exports within this process so each one sees the releases before it
/// in the ledger (several instances: see the README's note on exports).
static EXPORT_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Who asks and why (recorded in the ledger and the audit log).
#[derive(Debug, Clone)]
pub struct Requester {
    /// User id.
    pub user_id: String,
    /// Role.
    pub role: String,
    /// Declared purpose.
    pub purpose: String,
    /// The deciding policy rule(s).
    pub rules: String,
}

/// A recorded release.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Release {
    /// Ledger entry.
    pub release: crate::store::exports::LedgerEntry,
    /// What was published.
    pub content: ExportContent,
}

/// Builds, protects, records in the ledger (with its audit event) and returns a release.
pub async fn release(
    store: &Store,
    keyring: &Arc<Keyring>,
    request: &Request,
    custom_row_dims: &[Dim],
    spec: &str,
    who: &Requester,
) -> Result<Release, ExportError> {
    let _guard = EXPORT_LOCK.lock().await;
    let earlier: Vec<LedgerCells> = store
        .releases()
        .await?
        .iter()
        .filter_map(|r| serde_json::from_str(&r.cells).ok())
        .collect();
    let (content, published) = build(store, keyring, request, custom_row_dims, &earlier).await?;
    let release_id = uuid::Uuid::new_v4().to_string();
    let entry = crate::store::exports::LedgerEntry {
        release_id: release_id.clone(),
        requester: who.user_id.clone(),
        purpose: who.purpose.clone(),
        spec: spec.to_owned(),
        profile: request.profile.as_str().to_owned(),
        snapshot: store.audit_head().await?.0,
        output_hash: content_hash(&content),
        created_at: crate::store::now_rfc3339(),
    };
    let event = crate::audit::AuditEvent {
        object: Some(release_id),
        rule: Some(who.rules.clone()),
        purpose: Some(who.purpose.clone()),
        detail: Some(format!(
            "tables={} profile={}",
            content.tables.len(),
            request.profile.as_str()
        )),
        ..crate::audit::AuditEvent::new(
            &who.user_id,
            &who.role,
            "run_export",
            crate::audit::Outcome::Success,
        )
    };
    let cells =
        serde_json::to_string(&published).map_err(|e| ExportError::Refused(e.to_string()))?;
    store.record_release(&entry, &cells, &event).await?;
    Ok(Release {
        release: entry,
        content,
    })
}
