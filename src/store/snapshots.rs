//! Frozen statistical snapshots: headers and rows (codes and record keys only),
//! stored in chunks of up to a thousand person rows.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::store::db::{self, Conn, Row};
use futures_util::TryStreamExt;

use super::writer::Staged;
use super::{Store, StoreError};
use crate::export::snapshot::{Builder, Frozen, Population, SnapshotInfo};

/// Person rows per stored chunk (one line each).
const CHUNK: usize = 1000;

fn info_from_row(r: &Row) -> Result<(i64, SnapshotInfo, String), StoreError> {
    let counts: String = r.try_get("row_counts")?;
    let rows: BTreeMap<Population, i64> = serde_json::from_str(&counts)
        .map_err(|e| StoreError::Config(format!("a snapshot header is not readable: {e}")))?;
    Ok((
        r.try_get("id")?,
        SnapshotInfo {
            snapshot_id: r.id("snapshot_id")?,
            year: r.try_get("year")?,
            version: r.try_get("version")?,
            created_at: r.stamp("created_at")?,
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
        let rows = db::query(&format!("{HEADER} order by year, version"))
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
                db::query(&format!("{HEADER} where year = $1 and version = $2"))
                    .bind(year)
                    .bind(v)
                    .fetch_optional(self.pool())
                    .await?
            }
            None => {
                db::query(&format!(
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
        let mut chunks = db::query(
            "select population, rows, data from stat_chunk where snapshot = $1 \
             order by population, chunk",
        )
        .bind(id)
        .fetch(self.pool());
        let unreadable = |what: &str| StoreError::Config(format!("a snapshot chunk {what}"));
        while let Some(r) = chunks.try_next().await? {
            let population: String = r.try_get("population")?;
            let rows: i64 = r.try_get("rows")?;
            let data: String = r.try_get("data")?;
            let population =
                Population::parse(&population).ok_or_else(|| unreadable("names no population"))?;
            let mut read = 0;
            for line in data.lines() {
                let (rk, codes) = line
                    .split_once('|')
                    .ok_or_else(|| unreadable("has a line without a record key"))?;
                let rk: u32 = rk.parse().map_err(|_| unreadable("has a bad record key"))?;
                builder
                    .push(population, rk, codes)
                    .map_err(StoreError::Config)?;
                read += 1;
            }
            if read != rows {
                return Err(unreadable("holds another number of rows than it says"));
            }
        }
        Ok(Some(builder.finish(info)))
    }

    /// Writes a new snapshot (header, rows and the audit event) in one transaction.
    pub async fn insert_snapshot(
        &self,
        frozen: Arc<Frozen>,
        event: crate::audit::AuditEvent,
    ) -> Result<(), StoreError> {
        self.write_with((frozen, event), |conn, (frozen, event)| {
            Box::pin(async move {
                insert_snapshot_in(conn, frozen).await?;
                Ok(Staged {
                    value: (),
                    events: vec![event.clone()],
                })
            })
        })
        .await
    }
}

/// The rows of a new snapshot, in the caller's transaction.
async fn insert_snapshot_in(conn: &mut Conn, frozen: &Frozen) -> Result<(), StoreError> {
    let info = &frozen.info;
    let layout: BTreeMap<Population, &Vec<String>> = frozen
        .parts
        .iter()
        .map(|(p, part)| (*p, &part.fields))
        .collect();
    let layout = serde_json::to_string(&layout).unwrap_or_default();
    let counts = serde_json::to_string(&info.rows).unwrap_or_default();
    let id: i64 = db::query(
        "insert into stat_snapshot (snapshot_id, year, version, layout, row_counts, \
         changed_rows, created_by, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8) \
         returning id",
    )
    .bind(db::uuid(&info.snapshot_id))
    .bind(info.year)
    .bind(info.version)
    .bind(&layout)
    .bind(&counts)
    .bind(info.changed_rows)
    .bind(&info.created_by)
    .bind(db::stamp(&info.created_at))
    .fetch_one(&mut *conn)
    .await?
    .try_get("id")?;
    for (population, part) in &frozen.parts {
        // Stored in record-key order, not in the order the live tables were read
        // (by subject or record id), so a row's position says nothing about whom
        // it came from.
        let mut order: Vec<usize> = (0..part.len()).collect();
        order.sort_by_key(|&i| part.rk[i]);
        for (chunk, start) in (0..part.len()).step_by(CHUNK).enumerate() {
            let end = (start + CHUNK).min(part.len());
            let mut data = String::with_capacity((end - start) * 96);
            for &i in &order[start..end] {
                data.push_str(&part.rk[i].to_string());
                data.push('|');
                data.push_str(&part.codes(i));
                data.push('\n');
            }
            db::query(
                "insert into stat_chunk (snapshot, population, chunk, rows, data) \
                 values ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(population.as_str())
            .bind(chunk as i64)
            .bind((end - start) as i64)
            .bind(data)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}
