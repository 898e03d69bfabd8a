//! Anonymised aggregate outputs: the only way data leaves the registry
//! (`../shared/OUTPUT-SAFETY.md`).
//!
//! - `snapshot`: a past year is frozen into an immutable, versioned snapshot of
//!   category codes and record keys. Outputs read snapshots only, never live tables.
//! - `statutory`: exact national counts for the EMCDDA workbook and the DRD
//!   breakdowns, filled into the official template (`workbook`).
//! - `flexible`: every other table (sub-national, custom cross-tabulations), each cell
//!   perturbed by the cell-key method with a maximum-entropy table (`ptable`).
//!
//! Every release is recorded in the ledger with its audit event; the same request on
//! the same snapshot version gives byte-identical output.

pub mod count;
pub mod flexible;
pub mod ptable;
pub mod snapshot;
pub mod statutory;
pub mod tables;
pub mod workbook;

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::crypto::Keyring;
use crate::field::FieldError;
use crate::store::exports::LedgerEntry;
use crate::store::{Store, StoreError};
use snapshot::{Builder, Cache, Frozen, Population, SnapshotInfo};

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

/// The rules outputs follow (configuration, with documented bounds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// Versions a year may be frozen in (default 3).
    pub max_versions: i64,
    /// Person rows that must have changed before a newer version is released
    /// statutorily (default 10).
    pub statutory_min_changed: i64,
    /// Cell-key parameters of the `ckm` profile (default D 3, V 2, js 2).
    pub ckm: ptable::Params,
    /// Cell-key parameters of the `ckm-deaths` profile (default D 4, V 3, js 4).
    pub ckm_deaths: ptable::Params,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            max_versions: 3,
            statutory_min_changed: 10,
            ckm: ptable::Params {
                d: 3,
                v: 2.0,
                js: 2,
            },
            ckm_deaths: ptable::Params {
                d: 4,
                v: 3.0,
                js: 4,
            },
        }
    }
}

/// Why an output failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A bad request; every problem listed.
    #[error("invalid export request")]
    Invalid(Vec<FieldError>),
    /// The request conflicts with the state of the snapshots or the ledger: a code
    /// saying which rule, and the message.
    #[error("{1}")]
    Conflict(&'static str, String),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The output could not be made (a fault, not the caller's).
    #[error("{0}")]
    Internal(String),
}

impl ExportError {
    fn field(field: &str, problem: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, problem)])
    }
}

/// Who asks and why (recorded in the ledger and the audit log).
#[derive(Debug, Clone)]
pub struct Requester {
    /// User id (`cli` for the command line).
    pub user_id: String,
    /// Role.
    pub role: String,
    /// Declared purpose.
    pub purpose: String,
    /// The deciding policy rule(s).
    pub rules: String,
}

/// The year now (UTC): it can never be frozen or released.
pub fn current_year() -> i64 {
    i64::from(time::OffsetDateTime::now_utc().year())
}

fn check_year(year: i64) -> Result<(), ExportError> {
    if !(1990..=2200).contains(&year) {
        return Err(ExportError::field("year", "must be a year from 1990"));
    }
    if year >= current_year() {
        return Err(ExportError::field(
            "year",
            "is the current or a future year; only a past year can be frozen and released",
        ));
    }
    Ok(())
}

/// Serialises statutory releases within the process (the re-issue rule reads the ledger).
static STATUTORY_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Serialises freezes within the process (the unique (year, version) constraint
/// guards several instances).
static FREEZE_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Opens an entrant's sealed TDI items from (registry id, wrapped data key, episode
/// id, sealed part); `None` when they cannot be opened (counted as not known). The
/// use case that freezes supplies it: opening sealed data is not this module's.
pub type OpenSealed<'a> =
    dyn Fn(&str, &[u8], &str, &[u8]) -> Option<crate::domain::episode::SealedEpisode> + Sync + 'a;

/// Freezes `year`: builds a new snapshot version from the live records, writes it
/// with its audit event, and returns its header.
pub async fn freeze(
    store: &Store,
    keyring: &Arc<Keyring>,
    open: &OpenSealed<'_>,
    cache: &Cache,
    year: i64,
    who: &Requester,
    rules: &Rules,
) -> Result<SnapshotInfo, ExportError> {
    check_year(year)?;
    let _guard = FREEZE_LOCK.lock().await;
    let previous = store.snapshot_info(year, None).await?;
    let version = previous.as_ref().map_or(1, |p| p.version + 1);
    if version > rules.max_versions {
        return Err(ExportError::Conflict(
            "version_limit",
            format!(
                "year {year} already has {} snapshot versions, the configured limit \
             (REGISTRY_SNAPSHOT_MAX_VERSIONS); each version bounds what can be averaged \
             across releases, so no further version is made",
                rules.max_versions
            ),
        ));
    }
    let snapshot_id = uuid::Uuid::new_v4().to_string();
    let started = std::time::Instant::now();
    let builder = gather(store, keyring, open, year, &snapshot_id).await?;
    let gathered = started.elapsed();
    let mut frozen = builder.finish(SnapshotInfo {
        snapshot_id,
        year,
        version,
        created_at: crate::store::now_rfc3339(),
        created_by: who.user_id.clone(),
        rows: Default::default(),
        changed_rows: None,
    });
    if let Some(previous) = &previous {
        let old = load(store, cache, year, Some(previous.version)).await?;
        frozen.info.changed_rows = Some(snapshot::changed_rows(&old, &frozen));
    }
    let info = frozen.info.clone();
    let event = crate::audit::AuditEvent {
        object: Some(info.snapshot_id.clone()),
        rule: Some(who.rules.clone()),
        purpose: Some(who.purpose.clone()),
        detail: Some(format!("year={year} version={version}")),
        ..crate::audit::AuditEvent::new(
            &who.user_id,
            &who.role,
            "freeze_year",
            crate::audit::Outcome::Success,
        )
    };
    let compared = started.elapsed();
    let frozen = Arc::new(frozen);
    match store.insert_snapshot(Arc::clone(&frozen), event).await {
        Ok(()) => {
            tracing::info!(
                year,
                version,
                rows = info.rows.values().sum::<i64>(),
                gather_ms = gathered.as_millis() as u64,
                compare_ms = (compared - gathered).as_millis() as u64,
                write_ms = (started.elapsed() - compared).as_millis() as u64,
                "year frozen"
            );
        }
        Err(StoreError::Conflict(crate::store::Unique::SnapshotVersion)) => {
            return Err(ExportError::Conflict(
                "frozen_concurrently",
                format!(
                    "year {year} was frozen by another request at the same moment; \
                 see the freeze status"
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    cache.put(frozen);
    Ok(info)
}

/// Reads the live records of `year` into snapshot rows. Entrants and persons in
/// treatment are read in partitions of the people side by side (the SQLite driver
/// hands every row between threads, so parallel scans overlap that latency); rows go
/// into the builder a batch at a time. Row order does not matter: every count and
/// cell key is a sum.
async fn gather(
    store: &Store,
    keyring: &Arc<Keyring>,
    open: &OpenSealed<'_>,
    year: i64,
    snapshot_id: &str,
) -> Result<Builder, ExportError> {
    use futures_util::TryStreamExt;
    type Row = (Population, u32, String);
    // Each scan holds a pooled connection; leave one for the service's other requests.
    let connections = store.max_connections().saturating_sub(1).max(2) as i64;
    let parts = (connections / 2).clamp(1, 4);
    let row = |population, person, codes| -> Result<Row, ExportError> {
        let rk = snapshot::record_key(keyring, snapshot_id, population, person)
            .map_err(ExportError::Internal)?;
        Ok((population, rk, codes))
    };
    let shared = std::sync::Mutex::new(Builder::new());
    let flush = |rows: &mut Vec<Row>| -> Result<(), ExportError> {
        let mut builder = shared
            .lock()
            .map_err(|_| ExportError::Internal("a freeze worker failed".into()))?;
        for (population, rk, codes) in rows.drain(..) {
            builder
                .push(population, rk, &codes)
                .map_err(ExportError::Internal)?;
        }
        Ok(())
    };
    const BATCH: usize = 1024;
    // A person's references change when a pseudonym-key rotation moves them, and the
    // scans below read at different moments: a frozen year must not count someone
    // twice or not at all, so no freeze runs while people are being moved.
    let rotating = || async {
        match store
            .subjects_not_on(keyring.active_pseudonym_version())
            .await
        {
            Ok(0) => Ok(()),
            Ok(_) => Err(ExportError::Conflict(
                "rotation_in_progress",
                "a pseudonym-key rotation is moving people between key versions; freeze \
                 again when `registry keys rotate` has finished"
                    .to_owned(),
            )),
            Err(e) => Err(e.into()),
        }
    };
    rotating().await?;
    let subjects = store.subject_keys().await?;
    // Subjects a registrar merged are one person: their rows are set aside and the
    // group's one row chosen at the end (the first episode of the year for
    // entrants, the latest-starting for persons in treatment), under the record key
    // of the subject they joined.
    let merged = store.merged_subjects().await?;
    let grouped: std::collections::HashSet<i64> =
        merged.iter().flat_map(|(m, h)| [*m, *h]).collect();
    let holder = |person: i64| merged.get(&person).copied().unwrap_or(person);
    type Start = (u16, u8);
    let set_aside: std::sync::Mutex<HashMap<(Population, i64), (Start, Row)>> =
        std::sync::Mutex::new(HashMap::new());
    let keep =
        |population: Population, fact: &crate::store::exports::EntrantFact, codes: String| {
            let start = (fact.plain.start_year, fact.plain.start_quarter);
            let candidate = (start, row(population, holder(fact.person), codes)?);
            let mut aside = set_aside
                .lock()
                .map_err(|_| ExportError::Internal("a freeze worker failed".into()))?;
            let earliest_wins = population == Population::Entrants;
            match aside.entry((population, holder(fact.person))) {
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(candidate);
                }
                std::collections::hash_map::Entry::Occupied(mut slot) => {
                    let better = if earliest_wins {
                        start < slot.get().0
                    } else {
                        start > slot.get().0
                    };
                    if better {
                        slot.insert(candidate);
                    }
                }
            }
            Ok::<_, ExportError>(())
        };
    let entrant_scans = (0..parts).map(|part| {
        let (row, flush, subjects, keep, grouped) = (&row, &flush, &subjects, &keep, &grouped);
        async move {
            let stream = store.export_entrants(keyring, subjects, year, (part, parts));
            futures_util::pin_mut!(stream);
            let mut rows = Vec::with_capacity(BATCH);
            while let Some(fact) = stream.try_next().await? {
                let sealed =
                    fact.sealed
                        .as_ref()
                        .and_then(|(registry_id, wrapped, episode, blob)| {
                            open(registry_id, wrapped, episode, blob)
                        });
                let codes = snapshot::episode_codes(&fact, sealed.as_ref());
                if grouped.contains(&fact.person) {
                    keep(Population::Entrants, &fact, codes)?;
                    continue;
                }
                rows.push(row(Population::Entrants, fact.person, codes)?);
                if rows.len() == BATCH {
                    flush(&mut rows)?;
                }
            }
            flush(&mut rows)
        }
    });
    let treatment_scans = (0..parts).map(|part| {
        let (row, flush, keep, grouped) = (&row, &flush, &keep, &grouped);
        async move {
            let stream = store.export_prevalence(keyring, year, (part, parts));
            futures_util::pin_mut!(stream);
            let mut rows = Vec::with_capacity(BATCH);
            while let Some(fact) = stream.try_next().await? {
                let codes = snapshot::episode_codes(&fact, None);
                if grouped.contains(&fact.person) {
                    keep(Population::InTreatment, &fact, codes)?;
                    continue;
                }
                rows.push(row(Population::InTreatment, fact.person, codes)?);
                if rows.len() == BATCH {
                    flush(&mut rows)?;
                }
            }
            flush(&mut rows)
        }
    });
    let started = std::time::Instant::now();
    let scans: Vec<futures_util::future::BoxFuture<'_, Result<(), ExportError>>> = entrant_scans
        .map(|f| Box::pin(f) as _)
        .chain(treatment_scans.map(|f| Box::pin(f) as _))
        .collect();
    futures_util::future::try_join_all(scans).await?;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        parts,
        "freeze: entrants and persons in treatment read"
    );
    let mut rows: Vec<Row> = set_aside
        .into_inner()
        .map_err(|_| ExportError::Internal("a freeze worker failed".into()))?
        .into_values()
        .map(|(_, row)| row)
        .collect();
    for death in store.export_deaths(keyring, year, year).await? {
        rows.push(row(
            Population::Deaths,
            holder(death.person),
            snapshot::death_codes(&death),
        )?);
    }
    for overdose in store.export_overdoses(year, year).await? {
        let codes = snapshot::overdose_codes(&overdose);
        rows.push(row(Population::Overdoses, overdose.person, codes)?);
    }
    flush(&mut rows)?;
    rotating().await?;
    shared
        .into_inner()
        .map_err(|_| ExportError::Internal("a freeze worker failed".into()))
}

/// A snapshot version in memory (from the cache, or read once).
pub async fn load(
    store: &Store,
    cache: &Cache,
    year: i64,
    version: Option<i64>,
) -> Result<Arc<Frozen>, ExportError> {
    let Some(info) = store.snapshot_info(year, version).await? else {
        return Err(match version {
            Some(v) if store.snapshot_info(year, None).await?.is_some() => ExportError::field(
                "version",
                format!("is not a snapshot version of year {year}: {v} was never frozen"),
            ),
            _ => ExportError::Conflict(
                "not_frozen",
                format!(
                    "year {year} is not frozen; freeze it first (`registry freeze --year {year}` \
                 or POST /api/v1/exports/freeze)"
                ),
            ),
        });
    };
    if let Some(frozen) = cache.get(&info.snapshot_id) {
        return Ok(frozen);
    }
    let frozen = store
        .load_snapshot(year, Some(info.version))
        .await?
        .ok_or_else(|| ExportError::Internal("a snapshot vanished while being read".into()))?;
    let frozen = Arc::new(frozen);
    cache.put(Arc::clone(&frozen));
    Ok(frozen)
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JSON.
    Json,
    /// CSV, one line per cell.
    Csv,
    /// The EMCDDA workbook (statutory release only).
    Xlsx,
}

impl Format {
    /// The MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

/// A delivered output.
#[derive(Debug, Clone)]
pub struct Output {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Their format.
    pub format: Format,
    /// The ledger entry.
    pub release: LedgerEntry,
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Records a release and its audit event.
async fn record(
    store: &Store,
    kind: &str,
    years: (i64, i64),
    snapshots: &[&SnapshotInfo],
    request: String,
    who: &Requester,
    bytes: &[u8],
) -> Result<LedgerEntry, ExportError> {
    let release_id = uuid::Uuid::new_v4().to_string();
    let entry = LedgerEntry {
        release_id: release_id.clone(),
        kind: kind.to_owned(),
        year_from: years.0,
        year_to: years.1,
        snapshots: snapshots
            .iter()
            .map(|s| format!("{}:{}:{}", s.year, s.version, s.snapshot_id))
            .collect::<Vec<_>>()
            .join(","),
        request,
        purpose: who.purpose.clone(),
        requester: who.user_id.clone(),
        output_hash: sha256(bytes),
        created_at: crate::store::now_rfc3339(),
    };
    let versions: Vec<String> = snapshots
        .iter()
        .map(|s| format!("{}v{}", s.year, s.version))
        .collect();
    let event = crate::audit::AuditEvent {
        object: Some(release_id),
        rule: Some(who.rules.clone()),
        purpose: Some(who.purpose.clone()),
        detail: Some(format!("kind={kind} snapshots={}", versions.join(","))),
        ..crate::audit::AuditEvent::new(
            &who.user_id,
            &who.role,
            if kind == "statutory" {
                "run_statutory_export"
            } else {
                "run_export"
            },
            crate::audit::Outcome::Success,
        )
    };
    store.record_release(&entry, &event).await?;
    Ok(entry)
}

/// The statutory content of one snapshot version.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StatutoryContent {
    /// Data year.
    pub year: i64,
    /// Snapshot version.
    pub snapshot_version: i64,
    /// What the numbers are.
    pub note: String,
    /// The EMCDDA workbook tables 8.1.1 – 29.1.2 (table 11 included).
    pub tables: Vec<statutory::StatTable>,
    /// The drug-related-death breakdowns.
    pub drd: Vec<statutory::StatTable>,
}

/// Computes the statutory set of a snapshot.
pub fn statutory_content(frozen: &Frozen) -> Result<StatutoryContent, ExportError> {
    let entrants = frozen.part(Population::Entrants);
    let specs = statutory::workbook_specs();
    // The tables are independent passes over the entrants: split them over the cores.
    let computed: Vec<statutory::Computed> = std::thread::scope(|scope| {
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4);
        let chunk = specs.len().div_ceil(workers);
        let handles: Vec<_> = specs
            .chunks(chunk.max(1))
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|s| statutory::compute(s, entrants))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    if computed.len() != specs.len() {
        return Err(ExportError::Internal("a statutory table failed".into()));
    }
    let tables = computed
        .iter()
        .map(workbook::label)
        .collect::<Result<Vec<_>, _>>()
        .map_err(ExportError::Internal)?;
    Ok(StatutoryContent {
        year: frozen.info.year,
        snapshot_version: frozen.info.version,
        note: "Exact national counts of persons from a frozen snapshot (EMCDDA TDI 3.0 \
               workbook and DRD standard breakdowns). Statistics from fewer than 20 persons \
               are listed as unreliable."
            .into(),
        tables,
        drd: statutory::drd_tables(frozen.part(Population::Deaths)),
    })
}

/// CSV of statutory tables: one line per cell, codes beside the labels.
pub fn statutory_csv(content: &StatutoryContent) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record([
        "year",
        "snapshot_version",
        "table",
        "title",
        "row_code",
        "row_label",
        "column_code",
        "column_label",
        "value",
        "flag",
    ]);
    let year = content.year.to_string();
    let version = content.snapshot_version.to_string();
    for table in content.tables.iter().chain(&content.drd) {
        for (r, (row, values)) in table.rows.iter().zip(&table.cells).enumerate() {
            for (c, (col, value)) in table.cols.iter().zip(values).enumerate() {
                let value = match value {
                    statutory::Value::Count(n) => n.to_string(),
                    statutory::Value::Stat(Some(x)) => format!("{x:.1}"),
                    statutory::Value::Stat(None) => String::new(),
                };
                let flag = if table.unreliable.contains(&(r, c)) {
                    "U"
                } else {
                    ""
                };
                let _ = writer.write_record([
                    &year,
                    &version,
                    &table.id,
                    &table.title,
                    &row.code,
                    &row.label,
                    &col.code,
                    &col.label,
                    &value,
                    flag,
                ]);
            }
        }
    }
    writer.into_inner().unwrap_or_default()
}

/// The statutory national release of `year` (latest version unless `version`).
pub async fn statutory_release(
    store: &Store,
    cache: &Cache,
    year: i64,
    version: Option<i64>,
    format: Format,
    who: &Requester,
    rules: &Rules,
) -> Result<Output, ExportError> {
    check_year(year)?;
    let frozen = load(store, cache, year, version).await?;
    // One statutory release at a time in this process, so two requests cannot both
    // pass the re-issue rule for versions that are too close to each other.
    let _guard = STATUTORY_LOCK.lock().await;
    let released = store.statutory_versions(year).await?;
    if !released.contains(&frozen.info.version) {
        for version in &released {
            let other = load(store, cache, year, Some(*version)).await?;
            let changed = snapshot::changed_statutory_persons(&other, &frozen);
            if changed < rules.statutory_min_changed {
                return Err(ExportError::Conflict(
                    "too_few_changes",
                    format!(
                        "version {} of {year} differs from version {version}, already released \
                     statutorily, in fewer than {} persons; a further version is released only \
                     when at least {} entrants or deaths changed against every version released \
                     before (REGISTRY_STATUTORY_MIN_CHANGED_ROWS), because comparing two exact \
                     releases would show the few persons who changed",
                        frozen.info.version,
                        rules.statutory_min_changed,
                        rules.statutory_min_changed
                    ),
                ));
            }
        }
    }
    let content = {
        let frozen = Arc::clone(&frozen);
        tokio::task::spawn_blocking(move || statutory_content(&frozen))
            .await
            .map_err(|e| ExportError::Internal(format!("statutory task failed: {e}")))??
    };
    let bytes = match format {
        Format::Json => {
            serde_json::to_vec(&content).map_err(|e| ExportError::Internal(e.to_string()))?
        }
        Format::Csv => statutory_csv(&content),
        Format::Xlsx => tokio::task::spawn_blocking(move || {
            workbook::fill(
                content.year,
                content.snapshot_version,
                &content.tables,
                &content.drd,
            )
        })
        .await
        .map_err(|e| ExportError::Internal(format!("workbook task failed: {e}")))?
        .map_err(ExportError::Internal)?,
    };
    let request = serde_json::json!({
        "year": year,
        "version": frozen.info.version,
        "format": format,
    })
    .to_string();
    let release = record(
        store,
        "statutory",
        (year, year),
        &[&frozen.info],
        request,
        who,
        &bytes,
    )
    .await?;
    Ok(Output {
        bytes,
        format,
        release,
    })
}
