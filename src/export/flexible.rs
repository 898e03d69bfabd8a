//! Flexible release: every table other than the statutory national set — built-in
//! tables at any geography and custom cross-tabulations — counted from a frozen
//! snapshot and perturbed by the cell-key method.
//!
//! Each cell's published value is `n + v`, with `v` looked up in the profile's
//! perturbation table by the cell key (the fraction of the sum of the record keys of
//! the cell's persons). The same persons give the same value in any table, geography
//! or request; every cell, margins included, is perturbed on its own, so totals need
//! not add up. Counts only: no means, rates or percentages.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::count::{Axis, count};
use super::ptable::{PTable, Params};
use super::snapshot::Cache;
use super::tables::{CUSTOM_DIMS, Dim, Population, TableDef, catalogue};
use super::{ExportError, Format, Geography, Output, Requester, Rules};
use crate::field::FieldError;
use crate::store::Store;

/// A cell-key profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub enum Profile {
    /// Default for treatment tables (D 3, V 2, js 2 unless configured stronger).
    #[serde(rename = "ckm")]
    Ckm,
    /// Deaths and overdoses (D 4, V 3, js 4 unless configured stronger).
    #[serde(rename = "ckm-deaths")]
    CkmDeaths,
}

impl Profile {
    /// Its parameters under the rules in force.
    pub fn params(self, rules: &Rules) -> Params {
        match self {
            Self::Ckm => rules.ckm,
            Self::CkmDeaths => rules.ckm_deaths,
        }
    }

    /// The profile a population is released with (fixed: see `content`).
    pub fn required(population: Population) -> Self {
        if population.is_mortality() {
            Self::CkmDeaths
        } else {
            Self::Ckm
        }
    }
}

/// One perturbed table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FlexTable {
    /// Table id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Data year.
    pub year: i64,
    /// Snapshot version it came from.
    pub snapshot_version: i64,
    /// `national`, or the district / municipality slug.
    pub unit: String,
    /// The profile applied.
    pub profile: Profile,
    /// Row labels; the last is `total`.
    pub rows: Vec<String>,
    /// Column labels; the last is `total`.
    pub cols: Vec<String>,
    /// Perturbed counts, `rows × cols`.
    pub cells: Vec<Vec<u64>>,
}

/// What a flexible release publishes.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FlexContent {
    /// How to read the numbers.
    pub note: String,
    /// Geography level.
    pub geography: Geography,
    /// The perturbation parameters of each profile used.
    pub profiles: Vec<(Profile, Params)>,
    /// One table per requested table, year and unit.
    pub tables: Vec<FlexTable>,
}

/// What to release.
#[derive(Debug, Clone)]
pub struct FlexRequest {
    /// Table definitions with their row dimensions.
    pub tables: Vec<(TableDef, Vec<Dim>)>,
    /// Years (one table per year).
    pub years: (i64, i64),
    /// Geography.
    pub geography: Geography,
    /// Requested profile (at least the one each table requires).
    pub profile: Option<Profile>,
    /// Break every table down by sex as well.
    pub by_sex: bool,
}

/// Resolves built-in table ids (`tdi` = every TDI table).
pub fn resolve(ids: &[String]) -> Result<Vec<(TableDef, Vec<Dim>)>, Vec<FieldError>> {
    let all = catalogue();
    let mut out: Vec<TableDef> = Vec::new();
    let mut errors = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        if id == "tdi" {
            out.extend(all.iter().filter(|t| super::tables::is_tdi(t)).cloned());
        } else if let Some(t) = all.iter().find(|t| &t.id == id) {
            out.push(t.clone());
        } else {
            errors.push(FieldError::new(
                format!("tables[{i}]"),
                "is not a table id; see GET /api/v1/exports/tables",
            ));
        }
    }
    if ids.is_empty() {
        errors.push(FieldError::new("tables", "name at least one table"));
    }
    let mut seen = HashSet::new();
    out.retain(|t| seen.insert(t.id.clone()));
    if errors.is_empty() {
        Ok(out
            .into_iter()
            .map(|t| {
                let rows = vec![t.rows];
                (t, rows)
            })
            .collect())
    } else {
        Err(errors)
    }
}

/// A custom cross-tabulation over two or three allowed dimensions (the last across).
pub fn custom(dims: &[Dim]) -> Result<(TableDef, Vec<Dim>), Vec<FieldError>> {
    let mut errors = Vec::new();
    if dims.len() < 2 || dims.len() > 3 {
        errors.push(FieldError::new(
            "dimensions",
            "give 2 or 3 dimensions (the last across)",
        ));
    }
    for (i, d) in dims.iter().enumerate() {
        if !CUSTOM_DIMS.contains(d) {
            errors.push(FieldError::new(
                format!("dimensions[{i}]"),
                "is not allowed in a custom table",
            ));
        }
    }
    let unique: HashSet<_> = dims.iter().collect();
    if unique.len() != dims.len() {
        errors.push(FieldError::new("dimensions", "must not repeat a dimension"));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let names: Vec<String> = dims.iter().map(|d| d.name()).collect();
    let last = dims[dims.len() - 1];
    let rows = dims[..dims.len() - 1].to_vec();
    Ok((
        TableDef {
            id: format!("custom-{}", names.join("-")),
            title: format!("Custom: {}", names.join(" × ")),
            population: Population::AllEntrants,
            rows: dims[0],
            cols: last,
        },
        rows,
    ))
}

fn row_labels(axes: &[Axis]) -> Vec<String> {
    let mut labels = vec![String::new()];
    for axis in axes {
        labels = labels
            .iter()
            .flat_map(|prefix| {
                axis.categories.iter().map(move |c| {
                    if prefix.is_empty() {
                        c.code.clone()
                    } else {
                        format!("{prefix} / {}", c.code)
                    }
                })
            })
            .collect();
    }
    if axes.is_empty() { Vec::new() } else { labels }
}

fn with_total(mut labels: Vec<String>) -> Vec<String> {
    labels.push("total".into());
    labels
}

/// Builds every table of a request from the latest snapshot version of each year.
pub async fn content(
    store: &Store,
    cache: &Cache,
    request: &FlexRequest,
    rules: &Rules,
) -> Result<(FlexContent, Vec<super::snapshot::SnapshotInfo>), ExportError> {
    let mut municipalities: Vec<(String, String)> = store
        .municipalities()
        .await?
        .into_iter()
        .map(|m| (m.slug, m.district))
        .collect();
    // Sorted here, not by the database: collations differ between the backends.
    municipalities.sort();
    let mut errors = Vec::new();
    let mut profiles = Vec::new();
    for (i, (def, _)) in request.tables.iter().enumerate() {
        // The profile is fixed per population: two profiles over one cell key would
        // give two noisy values of the same count, which together narrow it down.
        let required = Profile::required(def.population);
        if request.profile.is_some_and(|p| p != required) {
            errors.push(FieldError::new(
                "profile",
                format!(
                    "table {} (tables[{i}]) is released with {}; the profile is fixed per \
                     population, because two profiles over the same cell would narrow its count",
                    def.id,
                    if required == Profile::Ckm {
                        "ckm"
                    } else {
                        "ckm-deaths"
                    }
                ),
            ));
        }
        profiles.push(required);
    }
    if !errors.is_empty() {
        return Err(ExportError::Invalid(errors));
    }
    let mut used = profiles.clone();
    used.sort();
    used.dedup();
    let ptables: Arc<Vec<(Profile, PTable)>> = Arc::new(
        used.iter()
            .map(|p| PTable::new(p.params(rules)).map(|t| (*p, t)))
            .collect::<Result<_, _>>()
            .map_err(ExportError::Internal)?,
    );
    let (request_shared, profiles, municipalities) = (
        Arc::new(request.clone()),
        Arc::new(profiles),
        Arc::new(municipalities),
    );
    // One year at a time, so a range never holds more than one national snapshot
    // beyond the cache.
    let mut tables = Vec::new();
    let mut infos = Vec::new();
    for year in request.years.0..=request.years.1 {
        super::check_year(year)?;
        let snapshot = super::load(store, cache, year, None).await?;
        infos.push(snapshot.info.clone());
        let (request, profiles, municipalities, ptables) = (
            Arc::clone(&request_shared),
            Arc::clone(&profiles),
            Arc::clone(&municipalities),
            Arc::clone(&ptables),
        );
        tables.extend(
            tokio::task::spawn_blocking(move || {
                perturb_year(&snapshot, &request, &profiles, &municipalities, &ptables)
            })
            .await
            .map_err(|e| ExportError::Internal(format!("export task failed: {e}")))?,
        );
    }
    let content = FlexContent {
        note: "Counts of persons from frozen snapshots, each cell perturbed on its own by the \
               cell-key method: totals need not add up, and small counts are never shown \
               (they become 0 or a value above the profile's js). One table per year; no \
               counts of persons across years."
            .into(),
        geography: request.geography,
        profiles: used.iter().map(|p| (*p, p.params(rules))).collect(),
        tables,
    };
    Ok((content, infos))
}

/// The perturbed tables of one year's snapshot (`ptables` holds every profile used).
fn perturb_year(
    frozen: &super::snapshot::Frozen,
    request: &FlexRequest,
    profiles: &[Profile],
    municipalities: &[(String, String)],
    ptables: &[(Profile, PTable)],
) -> Vec<FlexTable> {
    let year = frozen.info.year;
    let units: Option<Axis> = match request.geography {
        Geography::National => None,
        Geography::District => Some(Dim::District.axis(year, municipalities)),
        Geography::Municipality => Some(Dim::Municipality.axis(year, municipalities)),
    };
    let unit_names: Vec<String> = units.as_ref().map_or_else(
        || vec!["national".to_owned()],
        |u| u.categories.iter().map(|c| c.code.clone()).collect(),
    );
    let mut out = Vec::new();
    for ((def, row_dims), profile) in request.tables.iter().zip(profiles) {
        let Some((_, table)) = ptables.iter().find(|(p, _)| p == profile) else {
            continue;
        };
        let (population, filter) = def.population.source();
        let mut dims = row_dims.clone();
        if request.by_sex && !dims.contains(&Dim::Sex) && def.cols != Dim::Sex {
            dims.push(Dim::Sex);
        }
        let rows: Vec<Axis> = dims.iter().map(|d| d.axis(year, municipalities)).collect();
        let col = def.cols.axis(year, municipalities);
        let grids = count(
            frozen.part(population),
            &filter,
            &rows,
            &col,
            units.as_ref(),
        );
        let row_names = with_total(row_labels(&rows));
        let col_names = with_total(col.categories.iter().map(|c| c.code.clone()).collect());
        for (grid, unit) in grids.iter().zip(&unit_names) {
            let cells = (0..=grid.rows)
                .map(|r| {
                    (0..=grid.cols)
                        .map(|c| {
                            let i = grid.at(r, c);
                            table.perturb(grid.counts[i], grid.cell_key(i))
                        })
                        .collect()
                })
                .collect();
            out.push(FlexTable {
                id: def.id.clone(),
                title: def.title.clone(),
                year,
                snapshot_version: frozen.info.version,
                unit: unit.clone(),
                profile: *profile,
                rows: row_names.clone(),
                cols: col_names.clone(),
                cells,
            });
        }
    }
    out
}

/// CSV of flexible tables: `table,year,snapshot_version,unit,row,column,value`.
pub fn to_csv(content: &FlexContent) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record([
        "table",
        "year",
        "snapshot_version",
        "unit",
        "row",
        "column",
        "value",
    ]);
    for t in &content.tables {
        let year = t.year.to_string();
        let version = t.snapshot_version.to_string();
        for (row, values) in t.rows.iter().zip(&t.cells) {
            for (col, value) in t.cols.iter().zip(values) {
                let _ = writer.write_record([
                    &t.id,
                    &year,
                    &version,
                    &t.unit,
                    row,
                    col,
                    &value.to_string(),
                ]);
            }
        }
    }
    writer.into_inner().unwrap_or_default()
}

/// A flexible release: counted, perturbed, recorded in the ledger with its audit event.
pub async fn release(
    store: &Store,
    cache: &Cache,
    request: &FlexRequest,
    spec: String,
    format: Format,
    who: &Requester,
    rules: &Rules,
) -> Result<Output, ExportError> {
    if format == Format::Xlsx {
        return Err(ExportError::field(
            "format",
            "must be json or csv (the workbook is the statutory release)",
        ));
    }
    let (content, infos) = content(store, cache, request, rules).await?;
    let bytes = match format {
        Format::Csv => to_csv(&content),
        _ => serde_json::to_vec(&content).map_err(|e| ExportError::Internal(e.to_string()))?,
    };
    let refs: Vec<&super::snapshot::SnapshotInfo> = infos.iter().collect();
    let release = super::record(store, "flexible", request.years, &refs, spec, who, &bytes).await?;
    Ok(Output {
        bytes,
        format,
        release,
    })
}
