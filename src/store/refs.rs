//! Finding the person of an agency's record, and the records of a person, through
//! the per-domain references (identity/reference.rs). No SQL joins a record to its
//! subject: the service decrypts the reference, then reads the subject by id.

use std::collections::HashMap;
use std::sync::Arc;

use crate::store::db::{self, Conn};

use super::{Store, StoreError};
use crate::crypto::Keyring;
use crate::crypto::reference::RecordDomain;

/// The subject a record names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSubject {
    /// Internal row id (never shown outside the service).
    pub subject_id: i64,
    /// Public registry id.
    pub registry_id: String,
    /// Wrapped data key (`None` once shredded).
    pub data_key_wrapped: Option<Vec<u8>>,
}

/// A subject's reference in `domain` under pseudonym-key `version`, as stored; a
/// version the key file does not hold leaves it unresolvable.
pub fn reference(
    keyring: &Keyring,
    domain: RecordDomain,
    subject_id: i64,
    version: u32,
) -> Result<Vec<u8>, StoreError> {
    keyring
        .subject_ref(domain, subject_id, version)
        .map(|r| r.to_vec())
        .map_err(|_| StoreError::Unresolvable)
}

/// Subjects read per query (well under both backends' parameter limits).
const CHUNK: usize = 500;

/// The subjects of stored references, keyed by the reference as stored. A reference
/// no available key decodes is an error: rotation re-keys every reference before a
/// pseudonym-key version may be retired.
pub async fn resolve<'r>(
    conn: &mut Conn,
    keyring: &Keyring,
    domain: RecordDomain,
    refs: impl IntoIterator<Item = &'r [u8]>,
) -> Result<HashMap<Vec<u8>, RecordSubject>, StoreError> {
    let mut ids: HashMap<i64, Vec<Vec<u8>>> = HashMap::new();
    let mut distinct = std::collections::HashSet::new();
    for r in refs {
        if !distinct.insert(r) {
            continue;
        }
        let (id, _) = keyring
            .subject_of(domain, r)
            .ok_or(StoreError::Unresolvable)?;
        ids.entry(id).or_default().push(r.to_vec());
    }
    let wanted: Vec<i64> = ids.keys().copied().collect();
    let mut out = HashMap::with_capacity(wanted.len());
    for chunk in wanted.chunks(CHUNK) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "select id, registry_id, data_key_wrapped from subject where id in ({})",
            placeholders.join(", ")
        );
        let mut query = db::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let subject = RecordSubject {
                subject_id: row.try_get("id")?,
                registry_id: row.id("registry_id")?,
                data_key_wrapped: row.try_get("data_key_wrapped")?,
            };
            for r in ids.get(&subject.subject_id).into_iter().flatten() {
                out.insert(r.clone(), subject.clone());
            }
        }
    }
    if out.len() < distinct.len() {
        return Err(StoreError::Unresolvable);
    }
    Ok(out)
}

/// One record held about a person (the access report): what it is, when, and
/// who holds it. Nothing of its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRecord {
    /// `treatment_episode`, `social_contact`, `death` or `overdose`.
    pub kind: &'static str,
    /// Its public id.
    pub id: String,
    /// Year and quarter of the event (treatment start, contact, death, overdose).
    pub year: i64,
    /// Quarter of that year.
    pub quarter: i64,
    /// The facility (a code) or, for municipal and national records, the
    /// municipality (a slug) it was recorded for.
    pub held_by: String,
    /// When it was recorded (UTC).
    pub recorded_at: String,
}

/// What the access report calls each table's records, and the columns it lists.
fn held_columns(table: &str) -> Option<(&'static str, &'static str, &'static str, &'static str)> {
    match table {
        "episode" => Some(("treatment_episode", "episode_id", "start", "facility")),
        "social_contact" => Some(("social_contact", "contact_id", "contact", "municipality")),
        "death" => Some(("death", "death_id", "death", "municipality")),
        "overdose" => Some((
            "overdose",
            "overdose_id",
            "event",
            "coalesce(facility, municipality)",
        )),
        _ => None,
    }
}

/// Every record each domain holds of one subject, oldest event first within each
/// kind (the access report).
pub async fn held_records(
    conn: &mut Conn,
    keyring: &Keyring,
    subject_id: i64,
    version: u32,
) -> Result<Vec<HeldRecord>, StoreError> {
    let mut out = Vec::new();
    for domain in RecordDomain::ALL {
        let reference = reference(keyring, domain, subject_id, version)?;
        for table in domain.tables() {
            let Some((kind, id, event, holder)) = held_columns(table) else {
                continue;
            };
            let rows = db::query(&format!(
                "select {id} as id, {event}_year as year, {event}_quarter as quarter, \
                 {holder} as held_by, created_at from {table} where subject_ref = $1 \
                 order by {event}_year, {event}_quarter, {table}.id"
            ))
            .bind(&reference)
            .fetch_all(&mut *conn)
            .await?;
            for row in &rows {
                out.push(HeldRecord {
                    kind,
                    id: row.id("id")?,
                    year: row.try_get("year")?,
                    quarter: row.try_get("quarter")?,
                    held_by: row.try_get("held_by")?,
                    recorded_at: row.stamp("created_at")?,
                });
            }
        }
    }
    Ok(out)
}

/// Moves every reference of one subject from `old` to `new` keys (a pseudonym-key
/// rotation), inside the caller's transaction.
pub async fn rekey(
    conn: &mut Conn,
    keyring: &Keyring,
    subject_id: i64,
    old: u32,
    new: u32,
) -> Result<(), StoreError> {
    for domain in RecordDomain::ALL {
        let from = reference(keyring, domain, subject_id, old)?;
        let to = reference(keyring, domain, subject_id, new)?;
        for table in domain.tables() {
            db::query(&format!(
                "update {table} set subject_ref = $1 where subject_ref = $2"
            ))
            .bind(&to)
            .bind(&from)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Rows converted per transaction by the upgrade.
const UPGRADE_BATCH: i64 = 5_000;

impl Store {
    /// Subjects whose pseudonym version is not `version`: non-zero while a
    /// rotation to `version` moves people (or to another version, started since).
    pub async fn subjects_not_on(&self, version: u32) -> Result<i64, StoreError> {
        Ok(
            db::query_scalar("select count(*) from subject where pseudonym_version <> $1")
                .bind(i64::from(version))
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// Internal id and pseudonym version of every erased subject.
    pub async fn shredded_subjects(&self) -> Result<Vec<(i64, u32)>, StoreError> {
        let rows = db::query(
            "select id, pseudonym_version from subject where shredded_at is not null order by id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let version: i64 = r.try_get("pseudonym_version")?;
                Ok((
                    r.try_get("id")?,
                    u32::try_from(version).map_err(|_| StoreError::Unresolvable)?,
                ))
            })
            .collect()
    }

    /// Rewrites the record tables and reclaims free space, so the clear links an
    /// upgrade removed do not linger in free pages (SQLite), dead tuples
    /// (PostgreSQL) or the write-ahead log.
    pub async fn compact_after_upgrade(&self) -> Result<(), StoreError> {
        let statements: &[&str] = match self.backend() {
            super::Backend::Sqlite => &[
                "pragma wal_checkpoint(truncate)",
                "vacuum",
                "pragma wal_checkpoint(truncate)",
            ],
            super::Backend::Postgres => &[
                "vacuum full episode, episode_history, social_contact, death, overdose, \
                 reference_upgrade, subject",
            ],
        };
        for sql in statements {
            db::query(sql).execute(self.pool()).await?;
        }
        Ok(())
    }

    /// Converts the links an older schema kept in clear (moved to `reference_upgrade`
    /// by the migration) into references, with the key file; returns how many. Runs
    /// at every start and does nothing once the table is empty.
    pub async fn upgrade_references(&self, keyring: Arc<Keyring>) -> Result<u64, StoreError> {
        let mut converted = 0;
        loop {
            let batch = self
                .write_with(Arc::clone(&keyring), |conn, keyring| {
                    Box::pin(async move {
                        let done = upgrade_batch(conn, keyring).await?;
                        Ok::<_, StoreError>(super::writer::Staged::unaudited(done))
                    })
                })
                .await?;
            if batch == 0 {
                return Ok(converted);
            }
            converted += batch;
        }
    }
}

/// Converts one batch of the links an older schema kept in clear; how many.
async fn upgrade_batch(conn: &mut Conn, keyring: &Keyring) -> Result<u64, StoreError> {
    let rows = db::query(
        "select u.record_table, u.row_id, u.subject_id, s.pseudonym_version, \
             s.shredded_at from reference_upgrade u join subject s on s.id = u.subject_id \
             order by u.record_table, u.row_id limit $1",
    )
    .bind(UPGRADE_BATCH)
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        let table: String = row.try_get("record_table")?;
        let row_id: i64 = row.try_get("row_id")?;
        let subject_id: i64 = row.try_get("subject_id")?;
        let mut version = u32::try_from(row.try_get::<i64, _>("pseudonym_version")?)
            .map_err(|_| StoreError::Unresolvable)?;
        let shredded = row.opt_stamp("shredded_at")?.is_some();
        if shredded && version != keyring.active_pseudonym_version() {
            // Rotations before references existed left erased subjects on their
            // version, which may since be retired: they move to the active one
            // (nothing else of theirs uses a pseudonym).
            version = keyring.active_pseudonym_version();
            let moved = db::query(
                "update subject set pseudonym_version = $1 \
                     where id = $2 and shredded_at is not null",
            )
            .bind(i64::from(version))
            .bind(subject_id)
            .execute(&mut *conn)
            .await?;
            if moved.rows_affected() != 1 {
                return Err(StoreError::Unresolvable);
            }
        }
        let (domain, table) = match table.as_str() {
            "episode" => (RecordDomain::Treatment, "episode"),
            "social_contact" => (RecordDomain::SocialWork, "social_contact"),
            "death" => (RecordDomain::Mortality, "death"),
            _ => (RecordDomain::Mortality, "overdose"),
        };
        let reference = reference(keyring, domain, subject_id, version)?;
        db::query(&format!(
            "update {table} set subject_ref = $1 where id = $2"
        ))
        .bind(&reference)
        .bind(row_id)
        .execute(&mut *conn)
        .await?;
        db::query("delete from reference_upgrade where record_table = $1 and row_id = $2")
            .bind(table)
            .bind(row_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(rows.len() as u64)
}
