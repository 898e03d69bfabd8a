//! Loads the versioned reference files in `seeds/` into the database, idempotently.
//!
//! Each file's SHA-256 is recorded in `seed_file`; an unchanged file is skipped, a
//! changed one is upserted row by row in one transaction. Standards (code lists,
//! ICD-10, geography) follow the file; facilities are managed data, so the file only
//! adds facilities that are missing and never overwrites an operator's edits.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::db::{self, Tx};
use super::{Store, StoreError, now_rfc3339};

/// One embedded seed file: its name and its text, compiled into the binary so a
/// deployment cannot run with reference data that differs from the reviewed files.
struct SeedFile {
    name: &'static str,
    text: &'static str,
}

const DISTRICTS: SeedFile = SeedFile {
    name: "districts.csv",
    text: include_str!("../../seeds/districts.csv"),
};
const MUNICIPALITIES: SeedFile = SeedFile {
    name: "municipalities.csv",
    text: include_str!("../../seeds/municipalities.csv"),
};
const TDI_CODES: SeedFile = SeedFile {
    name: "tdi_codes.csv",
    text: include_str!("../../seeds/tdi_codes.csv"),
};
const ICD10: SeedFile = SeedFile {
    name: "icd10.csv",
    text: include_str!("../../seeds/icd10.csv"),
};
const ICD10_WHO: SeedFile = SeedFile {
    name: "icd10_who.csv",
    text: include_str!("../../seeds/icd10_who.csv"),
};
const FACILITIES: SeedFile = SeedFile {
    name: "facilities.csv",
    text: include_str!("../../seeds/facilities.csv"),
};

#[derive(Deserialize)]
struct DistrictRow {
    slug: String,
    name_sq: String,
    name_sr: String,
}

#[derive(Deserialize)]
struct MunicipalityRow {
    slug: String,
    name_sq: String,
    name_sr: String,
    district: String,
}

#[derive(Deserialize)]
struct CodeRow {
    list: String,
    code: String,
    label: String,
    parent: Option<String>,
}

#[derive(Deserialize)]
struct IcdRow {
    code: String,
    label: String,
    family: String,
}

#[derive(Deserialize)]
struct WhoRow {
    code: String,
    title: String,
}

/// Rows per statement when loading the full ICD-10 list (well under both
/// backends' parameter limits).
const ICD10_BATCH: usize = 500;

#[derive(Deserialize)]
struct FacilityRow {
    code: String,
    name: String,
    municipality: String,
    centre_type: String,
    emergency_capable: bool,
}

/// What one run of the loader did, per file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedReport {
    /// `(file name, rows in file, whether it was (re)loaded)`.
    pub files: Vec<(&'static str, usize, bool)>,
}

fn parse<T: for<'de> Deserialize<'de>>(file: &SeedFile) -> Result<Vec<T>, StoreError> {
    csv::Reader::from_reader(file.text.as_bytes())
        .deserialize()
        .enumerate()
        .map(|(i, row)| {
            row.map_err(|e| StoreError::Seed {
                file: file.name,
                problem: format!("row {}: {e}", i + 2),
            })
        })
        .collect()
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl Store {
    /// Loads every seed file whose content changed since the last load.
    pub async fn load_seeds(&self) -> Result<SeedReport, StoreError> {
        let mut report = SeedReport { files: Vec::new() };

        let rows: Vec<DistrictRow> = parse(&DISTRICTS)?;
        let n = rows.len();
        let loaded = self
            .load_file(&DISTRICTS, n, |tx| {
                Box::pin(async move {
                    for r in &rows {
                        db::query(
                            "insert into district (slug, name_sq, name_sr) values ($1, $2, $3) \
                             on conflict (slug) do update set name_sq = excluded.name_sq, \
                             name_sr = excluded.name_sr",
                        )
                        .bind(&r.slug)
                        .bind(&r.name_sq)
                        .bind(&r.name_sr)
                        .execute(&mut **tx)
                        .await?;
                    }
                    Ok(())
                })
            })
            .await?;
        report.files.push((DISTRICTS.name, n, loaded));

        let rows: Vec<MunicipalityRow> = parse(&MUNICIPALITIES)?;
        let n = rows.len();
        let loaded = self
            .load_file(&MUNICIPALITIES, n, |tx| {
                Box::pin(async move {
                    for r in &rows {
                        db::query(
                            "insert into municipality (slug, name_sq, name_sr, district) \
                             values ($1, $2, $3, $4) on conflict (slug) do update set \
                             name_sq = excluded.name_sq, name_sr = excluded.name_sr, \
                             district = excluded.district",
                        )
                        .bind(&r.slug)
                        .bind(&r.name_sq)
                        .bind(&r.name_sr)
                        .bind(&r.district)
                        .execute(&mut **tx)
                        .await?;
                    }
                    Ok(())
                })
            })
            .await?;
        report.files.push((MUNICIPALITIES.name, n, loaded));

        let rows: Vec<CodeRow> = parse(&TDI_CODES)?;
        // File order is protocol order; group codes first, as sub-codes reference them.
        let mut rows: Vec<(usize, CodeRow)> = rows.into_iter().enumerate().collect();
        rows.sort_by_key(|(_, r)| r.parent.as_deref().is_some_and(|p| !p.is_empty()));
        let n = rows.len();
        let loaded = self
            .load_file(&TDI_CODES, n, |tx| {
                Box::pin(async move {
                    for (position, r) in &rows {
                        let parent = r.parent.as_deref().filter(|p| !p.is_empty());
                        db::query(
                            "insert into code_list_item (list, code, label, parent, position) \
                             values ($1, $2, $3, $4, $5) on conflict (list, code) do update \
                             set label = excluded.label, parent = excluded.parent, \
                             position = excluded.position",
                        )
                        .bind(&r.list)
                        .bind(&r.code)
                        .bind(&r.label)
                        .bind(parent)
                        .bind(i64::try_from(*position).unwrap_or(i64::MAX))
                        .execute(&mut **tx)
                        .await?;
                    }
                    Ok(())
                })
            })
            .await?;
        report.files.push((TDI_CODES.name, n, loaded));

        let rows: Vec<IcdRow> = parse(&ICD10)?;
        let n = rows.len();
        let loaded = self
            .load_file(&ICD10, n, |tx| {
                Box::pin(async move {
                    for r in &rows {
                        db::query(
                            "insert into icd10_code (code, label, family) values ($1, $2, $3) \
                             on conflict (code) do update set label = excluded.label, \
                             family = excluded.family",
                        )
                        .bind(&r.code)
                        .bind(&r.label)
                        .bind(&r.family)
                        .execute(&mut **tx)
                        .await?;
                    }
                    Ok(())
                })
            })
            .await?;
        report.files.push((ICD10.name, n, loaded));

        // Every other WHO code, so that a death of any cause can be recorded; the
        // drug-related-death list above keeps its labels and families.
        let rows: Vec<WhoRow> = parse(&ICD10_WHO)?;
        let n = rows.len();
        let loaded = self
            .load_file(&ICD10_WHO, n, |tx| {
                Box::pin(async move {
                    for chunk in rows.chunks(ICD10_BATCH) {
                        let values: Vec<String> = (0..chunk.len())
                            .map(|i| format!("(${}, ${}, 'other')", 2 * i + 1, 2 * i + 2))
                            .collect();
                        let sql = format!(
                            "insert into icd10_code (code, label, family) values {} \
                             on conflict (code) do nothing",
                            values.join(", ")
                        );
                        let mut query = db::query(&sql);
                        for r in chunk {
                            query = query.bind(&r.code).bind(&r.title);
                        }
                        query.execute(&mut **tx).await?;
                    }
                    Ok(())
                })
            })
            .await?;
        report.files.push((ICD10_WHO.name, n, loaded));

        let rows: Vec<FacilityRow> = parse(&FACILITIES)?;
        let n = rows.len();
        let loaded = self
            .load_file(&FACILITIES, n, |tx| {
                Box::pin(async move {
                    for r in &rows {
                        db::query(
                            "insert into facility (code, name, municipality, centre_type, \
                             emergency_capable) values ($1, $2, $3, $4, $5) \
                             on conflict (code) do nothing",
                        )
                        .bind(&r.code)
                        .bind(&r.name)
                        .bind(&r.municipality)
                        .bind(&r.centre_type)
                        .bind(r.emergency_capable)
                        .execute(&mut **tx)
                        .await?;
                    }
                    Ok(())
                })
            })
            .await?;
        report.files.push((FACILITIES.name, n, loaded));

        Ok(report)
    }

    /// Runs `upsert` in a transaction when the file's hash differs from the recorded
    /// one, then records the new hash. Returns whether the file was loaded.
    async fn load_file<F>(
        &self,
        file: &SeedFile,
        rows: usize,
        upsert: F,
    ) -> Result<bool, StoreError>
    where
        F: for<'t> FnOnce(
            &'t mut Tx,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send + 't>,
        >,
    {
        let hash = sha256_hex(file.text);
        let mut tx = self.pool().begin(None).await?;
        let recorded: Option<String> =
            db::query_scalar("select sha256 from seed_file where name = $1")
                .bind(file.name)
                .fetch_optional(&mut *tx)
                .await?;
        if recorded.as_deref() == Some(hash.as_str()) {
            tx.rollback().await?;
            return Ok(false);
        }
        upsert(&mut tx).await?;
        db::query(
            "insert into seed_file (name, sha256, row_count, loaded_at) values ($1, $2, $3, $4) \
             on conflict (name) do update set sha256 = excluded.sha256, \
             row_count = excluded.row_count, loaded_at = excluded.loaded_at",
        )
        .bind(file.name)
        .bind(&hash)
        .bind(i64::try_from(rows).unwrap_or(i64::MAX))
        .bind(db::stamp(&now_rfc3339()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
