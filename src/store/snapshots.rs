//! Frozen statistical snapshots: headers and rows (codes and record keys only).

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use sqlx::Row;

use super::{Store, StoreError};
use crate::export::snapshot::{Builder, Frozen, Population, SnapshotInfo};

/// Rows per multi-row insert (4 parameters each, well below every backend's limit).
const BATCH: usize = 250;

fn info_from_row(r: &sqlx::any::AnyRow) -> Result<(i64, SnapshotInfo, String), StoreError> {
    let counts: String = r.try_get("row_counts")?;
    let rows: BTreeMap<Population, i64> = serde_json::from_str(&counts)
        .map_err(|e| StoreError::Config(format!("a snapshot header is not readable: {e}")))?;
    Ok((
        r.try_get("id")?,
        SnapshotInfo {
            snapshot_id: r.try_get("snapshot_id")?,
            year: r.try_get("year")?,
            version: r.try_get("version")?,
            created_at: r.try_get("created_at")?,
            created_by: r.try_get("created_by")?,
            rows,
            changed_rows: r.try_get("changed_rows")?,
        },
        r.try_get("layout")?,
    ))
}

const HEADER: &str = "select id, snapshot_id, year, version, layout, row_counts, changed_rows, \
                      created_by, created_at from stat_snapshot";

impl Store {
    /// Every snapshot header, by year then version.
    pub async fn snapshots(&self) -> Result<Vec<SnapshotInfo>, StoreError> {
        let rows = sqlx::query(&format!("{HEADER} order by year, version"))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| info_from_row(r).map(|(_, info, _)| info))
            .collect()
    }

    /// The header of one version of a year (the latest when `version` is `None`).
    pub async fn snapshot_info(
        &self,
        year: i64,
        version: Option<i64>,
    ) -> Result<Option<SnapshotInfo>, StoreError> {
        Ok(self
            .snapshot_header(year, version)
            .await?
            .map(|(_, info, _)| info))
    }

    async fn snapshot_header(
        &self,
        year: i64,
        version: Option<i64>,
    ) -> Result<Option<(i64, SnapshotInfo, String)>, StoreError> {
        let row = match version {
            Some(v) => {
                sqlx::query(&format!("{HEADER} where year = $1 and version = $2"))
                    .bind(year)
                    .bind(v)
                    .fetch_optional(self.pool())
                    .await?
            }
            None => {
                sqlx::query(&format!(
                    "{HEADER} where year = $1 order by version desc limit 1"
                ))
                .bind(year)
                .fetch_optional(self.pool())
                .await?
            }
        };
        row.as_ref().map(info_from_row).transpose()
    }

    /// Reads a whole snapshot into memory.
    pub async fn load_snapshot(
        &self,
        year: i64,
        version: Option<i64>,
    ) -> Result<Option<Frozen>, StoreError> {
        let Some((id, info, layout)) = self.snapshot_header(year, version).await? else {
            return Ok(None);
        };
        let layout: BTreeMap<Population, Vec<String>> = serde_json::from_str(&layout)
            .map_err(|e| StoreError::Config(format!("a snapshot layout is not readable: {e}")))?;
        let mut builder = Builder::with_layout(&layout);
        let mut rows =
            sqlx::query("select population, rk, codes from stat_row where snapshot = $1")
                .bind(id)
                .fetch(self.pool());
        while let Some(r) = rows.try_next().await? {
            let population: String = r.try_get("population")?;
            let rk: i64 = r.try_get("rk")?;
            let codes: String = r.try_get("codes")?;
            let population = Population::parse(&population)
                .ok_or_else(|| StoreError::Config("a snapshot row names no population".into()))?;
            builder
                .push(population, u32::try_from(rk).unwrap_or_default(), &codes)
                .map_err(StoreError::Config)?;
        }
        Ok(Some(builder.finish(info)))
    }

    /// Writes a new snapshot (header, rows and the audit event) in one transaction.
    pub async fn insert_snapshot(
        &self,
        frozen: &Frozen,
        event: &crate::audit::AuditEvent,
    ) -> Result<(), StoreError> {
        let info = &frozen.info;
        let layout: BTreeMap<Population, &Vec<String>> = frozen
            .parts
            .iter()
            .map(|(p, part)| (*p, &part.fields))
            .collect();
        let layout = serde_json::to_string(&layout).unwrap_or_default();
        let counts = serde_json::to_string(&info.rows).unwrap_or_default();
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query(
            "insert into stat_snapshot (snapshot_id, year, version, layout, row_counts, \
             changed_rows, created_by, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8) \
             returning id",
        )
        .bind(&info.snapshot_id)
        .bind(info.year)
        .bind(info.version)
        .bind(&layout)
        .bind(&counts)
        .bind(info.changed_rows)
        .bind(&info.created_by)
        .bind(&info.created_at)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        for (population, part) in &frozen.parts {
            let mut start = 0;
            while start < part.len() {
                let end = (start + BATCH).min(part.len());
                let placeholders: Vec<String> = (0..end - start)
                    .map(|k| {
                        let b = k * 4;
                        format!("(${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4)
                    })
                    .collect();
                let sql = format!(
                    "insert into stat_row (snapshot, population, rk, codes) values {}",
                    placeholders.join(", ")
                );
                let mut query = sqlx::query(&sql);
                for i in start..end {
                    query = query
                        .bind(id)
                        .bind(population.as_str())
                        .bind(i64::from(part.rk[i]))
                        .bind(part.codes(i));
                }
                query.execute(&mut *tx).await?;
                start = end;
            }
        }
        super::audit::append(&mut tx, self.backend(), event).await?;
        tx.commit().await?;
        Ok(())
    }
}
