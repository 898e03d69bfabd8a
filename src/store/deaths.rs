//! Deaths, overdoses and new-substance signals.

use crate::store::db::{self, Conn, Row};

use super::{Store, StoreError, now_rfc3339};

/// The statistical (clear) columns of a death, recomputed on every change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeathStats {
    /// Year of death.
    pub year: i64,
    /// Quarter of death.
    pub quarter: i64,
    /// Municipality of death.
    pub municipality: String,
    /// Place type.
    pub place_type: String,
    /// Sex code.
    pub sex: String,
    /// Age band.
    pub age_band: String,
    /// Manner (forensic).
    pub manner: Option<String>,
    /// Autopsy done (forensic).
    pub autopsy_done: Option<bool>,
    /// Toxicology done (forensic).
    pub toxicology_done: Option<bool>,
    /// ICD-10 underlying cause.
    pub underlying_cause: Option<String>,
    /// ICD-10 multiple causes, comma-separated.
    pub multiple_causes: String,
    /// Police-suspected substance codes, comma-separated.
    pub suspected_substances: String,
    /// Cause-relevant TDI substance codes, comma-separated.
    pub substance_codes: String,
    /// Selection B and its rule.
    pub selection_b: (bool, String),
    /// Selection D and its rule.
    pub selection_d: (bool, String),
}

/// A stored death.
#[derive(Debug, Clone)]
pub struct DeathRow {
    /// Internal id.
    pub id: i64,
    /// Public id.
    pub death_id: String,
    /// The person, as a mortality-domain reference (aggregates only; never shown).
    pub subject_ref: Option<Vec<u8>>,
    /// Police user who notified it.
    pub reporter: Option<String>,
    /// Has a police notification.
    pub has_notification: bool,
    /// Has a forensic record.
    pub has_forensic: bool,
    /// Forensic completion.
    pub forensic_complete: bool,
    /// Statistical columns.
    pub stats: DeathStats,
    /// Linked overdose presentation.
    pub overdose_id: Option<String>,
    /// The record's wrapped data key.
    pub data_key_wrapped: Vec<u8>,
    /// Sealed police part.
    pub police_sealed: Option<Vec<u8>>,
    /// Sealed forensic part.
    pub forensic_sealed: Option<Vec<u8>>,
    /// Created.
    pub created_at: String,
    /// Updated.
    pub updated_at: String,
}

fn opt_bool(row: &Row, col: &str) -> Result<Option<bool>, sqlx::Error> {
    let present: Option<i64> = match row.try_get::<Option<bool>, _>(col) {
        Ok(v) => return Ok(v),
        Err(_) => row.try_get(col)?,
    };
    Ok(present.map(|v| v != 0))
}

fn death_from_row(row: &Row) -> Result<DeathRow, sqlx::Error> {
    Ok(DeathRow {
        id: row.try_get("id")?,
        death_id: row.id("death_id")?,
        subject_ref: row.try_get("subject_ref")?,
        reporter: row.try_get("reporter")?,
        has_notification: row.try_get::<bool, _>("has_notification")?,
        has_forensic: row.try_get::<bool, _>("has_forensic")?,
        forensic_complete: row.try_get::<bool, _>("forensic_complete")?,
        stats: DeathStats {
            year: row.try_get("death_year")?,
            quarter: row.try_get("death_quarter")?,
            municipality: row.try_get("municipality")?,
            place_type: row.try_get("place_type")?,
            sex: row.try_get("sex")?,
            age_band: row.try_get("age_band")?,
            manner: row.try_get("manner")?,
            autopsy_done: opt_bool(row, "autopsy_done")?,
            toxicology_done: opt_bool(row, "toxicology_done")?,
            underlying_cause: row.try_get("underlying_cause")?,
            multiple_causes: row.try_get("multiple_causes")?,
            suspected_substances: row.try_get("suspected_substances")?,
            substance_codes: row.try_get("substance_codes")?,
            selection_b: (
                row.try_get::<bool, _>("selection_b")?,
                row.try_get("selection_b_rule")?,
            ),
            selection_d: (
                row.try_get::<bool, _>("selection_d")?,
                row.try_get("selection_d_rule")?,
            ),
        },
        overdose_id: row.opt_id("overdose_id")?,
        data_key_wrapped: row.try_get("data_key_wrapped")?,
        police_sealed: row.try_get("police_sealed")?,
        forensic_sealed: row.try_get("forensic_sealed")?,
        created_at: row.stamp("created_at")?,
        updated_at: row.stamp("updated_at")?,
    })
}

/// A new death row.
#[derive(Debug, Clone)]
pub struct NewDeath<'a> {
    /// Public id.
    pub death_id: &'a str,
    /// The person, as a mortality-domain reference.
    pub subject_ref: Option<Vec<u8>>,
    /// Police reporter.
    pub reporter: Option<&'a str>,
    /// Statistical columns.
    pub stats: &'a DeathStats,
    /// Forensic completion.
    pub forensic_complete: bool,
    /// Linked overdose.
    pub overdose_id: Option<&'a str>,
    /// Wrapped data key and its master version.
    pub key: (&'a [u8], u32),
    /// Sealed police part.
    pub police_sealed: Option<&'a [u8]>,
    /// Sealed forensic part.
    pub forensic_sealed: Option<&'a [u8]>,
}

/// Inserts a death within the caller's transaction.
pub async fn insert_death(conn: &mut Conn, d: &NewDeath<'_>) -> Result<(), StoreError> {
    let s = d.stats;
    let now = now_rfc3339();
    db::query(
        "insert into death (death_id, subject_ref, reporter, has_notification, has_forensic, \
         forensic_complete, death_year, death_quarter, municipality, place_type, sex, age_band, \
         manner, autopsy_done, toxicology_done, underlying_cause, multiple_causes, \
         suspected_substances, substance_codes, selection_b, selection_b_rule, selection_d, \
         selection_d_rule, overdose_id, data_key_wrapped, master_key_version, police_sealed, \
         forensic_sealed, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
         $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, \
         $27, $28, $29, $29)",
    )
    .bind(db::uuid(d.death_id))
    .bind(d.subject_ref.as_deref())
    .bind(d.reporter)
    .bind(d.police_sealed.is_some())
    .bind(d.forensic_sealed.is_some())
    .bind(d.forensic_complete)
    .bind(s.year)
    .bind(s.quarter)
    .bind(&s.municipality)
    .bind(&s.place_type)
    .bind(&s.sex)
    .bind(&s.age_band)
    .bind(s.manner.as_deref())
    .bind(s.autopsy_done)
    .bind(s.toxicology_done)
    .bind(s.underlying_cause.as_deref())
    .bind(&s.multiple_causes)
    .bind(&s.suspected_substances)
    .bind(&s.substance_codes)
    .bind(s.selection_b.0)
    .bind(&s.selection_b.1)
    .bind(s.selection_d.0)
    .bind(&s.selection_d.1)
    .bind(db::opt_uuid(d.overdose_id))
    .bind(d.key.0)
    .bind(i64::from(d.key.1))
    .bind(d.police_sealed)
    .bind(d.forensic_sealed)
    .bind(db::stamp(&now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Rewrites a death's statistical columns and sealed parts (an amendment, a
/// forensic completion or a merge); classification is recomputed by the caller.
#[expect(
    clippy::too_many_arguments,
    reason = "one argument per column group that changes"
)]
pub async fn update_death(
    conn: &mut Conn,
    id: i64,
    stats: &DeathStats,
    subject_ref: Option<&[u8]>,
    forensic_complete: bool,
    overdose_id: Option<&str>,
    police_sealed: Option<&[u8]>,
    forensic_sealed: Option<&[u8]>,
) -> Result<(), StoreError> {
    db::query(
        "update death set subject_ref = coalesce($1, subject_ref), has_notification = $2, has_forensic = $3, \
         forensic_complete = $4, death_year = $5, death_quarter = $6, municipality = $7, \
         place_type = $8, sex = $9, age_band = $10, manner = $11, autopsy_done = $12, \
         toxicology_done = $13, underlying_cause = $14, multiple_causes = $15, \
         suspected_substances = $16, substance_codes = $17, selection_b = $18, \
         selection_b_rule = $19, selection_d = $20, selection_d_rule = $21, overdose_id = $22, \
         police_sealed = $23, forensic_sealed = $24, updated_at = $25 where id = $26",
    )
    .bind(subject_ref)
    .bind(police_sealed.is_some())
    .bind(forensic_sealed.is_some())
    .bind(forensic_complete)
    .bind(stats.year)
    .bind(stats.quarter)
    .bind(&stats.municipality)
    .bind(&stats.place_type)
    .bind(&stats.sex)
    .bind(&stats.age_band)
    .bind(stats.manner.as_deref())
    .bind(stats.autopsy_done)
    .bind(stats.toxicology_done)
    .bind(stats.underlying_cause.as_deref())
    .bind(&stats.multiple_causes)
    .bind(&stats.suspected_substances)
    .bind(&stats.substance_codes)
    .bind(stats.selection_b.0)
    .bind(&stats.selection_b.1)
    .bind(stats.selection_d.0)
    .bind(&stats.selection_d.1)
    .bind(db::opt_uuid(overdose_id))
    .bind(police_sealed)
    .bind(forensic_sealed)
    .bind(db::stamp(&now_rfc3339()))
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Counts a report of a substance not in the code list.
pub async fn signal_substance(conn: &mut Conn, name: &str) -> Result<(), StoreError> {
    db::query(
        "insert into substance_signal (name, first_seen, reports) values ($1, $2, 1) \
         on conflict (name) do update set reports = substance_signal.reports + 1",
    )
    .bind(name)
    .bind(db::stamp(&now_rfc3339()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A new overdose row.
#[derive(Debug, Clone)]
pub struct NewOverdose<'a> {
    /// Public id.
    pub overdose_id: &'a str,
    /// The person, as a mortality-domain reference.
    pub subject_ref: Option<Vec<u8>>,
    /// `clinical` or `police`.
    pub source: &'a str,
    /// Facility (clinical).
    pub facility: Option<&'a str>,
    /// Recording user.
    pub reporter: &'a str,
    /// Year and quarter.
    pub when: (u16, u8),
    /// Municipality.
    pub municipality: &'a str,
    /// Sex code.
    pub sex: &'a str,
    /// Age band.
    pub age_band: &'a str,
    /// Substance codes, comma-separated.
    pub substance_codes: &'a str,
    /// Outcome.
    pub outcome: &'a str,
    /// Wrapped key and version.
    pub key: (&'a [u8], u32),
    /// Sealed details.
    pub sealed: &'a [u8],
}

/// A stored overdose.
#[derive(Debug, Clone)]
pub struct OverdoseRow {
    /// Public id.
    pub overdose_id: String,
    /// `clinical` or `police`.
    pub source: String,
    /// Facility.
    pub facility: Option<String>,
    /// Recording user.
    pub reporter: String,
    /// Year.
    pub event_year: i64,
    /// Quarter.
    pub event_quarter: i64,
    /// Municipality.
    pub municipality: String,
    /// Sex.
    pub sex: String,
    /// Age band.
    pub age_band: String,
    /// Substance codes.
    pub substance_codes: String,
    /// Outcome.
    pub outcome: String,
    /// Linked death.
    pub death_id: Option<String>,
    /// Wrapped key.
    pub data_key_wrapped: Vec<u8>,
    /// Sealed details.
    pub sealed: Vec<u8>,
    /// Created.
    pub created_at: String,
}

fn overdose_from_row(r: &Row) -> Result<OverdoseRow, sqlx::Error> {
    Ok(OverdoseRow {
        overdose_id: r.id("overdose_id")?,
        source: r.try_get("source")?,
        facility: r.try_get("facility")?,
        reporter: r.try_get("reporter")?,
        event_year: r.try_get("event_year")?,
        event_quarter: r.try_get("event_quarter")?,
        municipality: r.try_get("municipality")?,
        sex: r.try_get("sex")?,
        age_band: r.try_get("age_band")?,
        substance_codes: r.try_get("substance_codes")?,
        outcome: r.try_get("outcome")?,
        death_id: r.opt_id("death_id")?,
        data_key_wrapped: r.try_get("data_key_wrapped")?,
        sealed: r.try_get("sealed")?,
        created_at: r.stamp("created_at")?,
    })
}

const OVERDOSE_COLUMNS: &str = "overdose_id, source, facility, reporter, event_year, \
     event_quarter, municipality, sex, age_band, substance_codes, outcome, death_id, \
     data_key_wrapped, sealed, created_at";

/// Inserts an overdose within the caller's transaction.
pub async fn insert_overdose(conn: &mut Conn, o: &NewOverdose<'_>) -> Result<(), StoreError> {
    db::query(
        "insert into overdose (overdose_id, subject_ref, source, facility, reporter, event_year, \
         event_quarter, municipality, sex, age_band, substance_codes, outcome, data_key_wrapped, \
         master_key_version, sealed, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
         $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(db::uuid(o.overdose_id))
    .bind(o.subject_ref.as_deref())
    .bind(o.source)
    .bind(o.facility)
    .bind(o.reporter)
    .bind(i64::from(o.when.0))
    .bind(i64::from(o.when.1))
    .bind(o.municipality)
    .bind(o.sex)
    .bind(o.age_band)
    .bind(o.substance_codes)
    .bind(o.outcome)
    .bind(o.key.0)
    .bind(i64::from(o.key.1))
    .bind(o.sealed)
    .bind(db::stamp(&now_rfc3339()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Links an overdose presentation to the death that followed it.
pub async fn link_overdose(
    conn: &mut Conn,
    overdose_id: &str,
    death_id: &str,
) -> Result<bool, StoreError> {
    let done = db::query("update overdose set death_id = $1 where overdose_id = $2")
        .bind(db::uuid(death_id))
        .bind(db::uuid(overdose_id))
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A death by public id, inside a transaction.
pub async fn death_in(conn: &mut Conn, death_id: &str) -> Result<Option<DeathRow>, StoreError> {
    // Held until the transaction ends on PostgreSQL: an amendment rewrites the row
    // from what it read here.
    let lock = super::for_update(conn);
    let row = db::query(&format!("select * from death where death_id = $1{lock}"))
        .bind(db::uuid(death_id))
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.as_ref().map(death_from_row).transpose()?)
}

/// The deaths and overdoses that name one person (a mortality-domain reference),
/// their rows held until the transaction ends on PostgreSQL.
pub async fn records_naming(
    conn: &mut Conn,
    reference: &[u8],
) -> Result<(Vec<DeathRow>, Vec<OverdoseRow>), StoreError> {
    let lock = super::for_update(conn);
    let deaths = db::query(&format!("select * from death where subject_ref = $1{lock}"))
        .bind(reference)
        .fetch_all(&mut *conn)
        .await?;
    let overdoses = db::query(&format!(
        "select {OVERDOSE_COLUMNS} from overdose where subject_ref = $1{lock}"
    ))
    .bind(reference)
    .fetch_all(&mut *conn)
    .await?;
    Ok((
        deaths
            .iter()
            .map(death_from_row)
            .collect::<Result<_, _>>()?,
        overdoses
            .iter()
            .map(overdose_from_row)
            .collect::<Result<_, _>>()?,
    ))
}

/// Replaces the sealed parts of a death (same presence as before: the flags stay).
pub async fn reseal_death(
    conn: &mut Conn,
    id: i64,
    police_sealed: Option<&[u8]>,
    forensic_sealed: Option<&[u8]>,
) -> Result<(), StoreError> {
    // updated_at stays: set now, it would match the erasure's time in the subject
    // row and the audit log, a join through a dump.
    db::query("update death set police_sealed = $1, forensic_sealed = $2 where id = $3")
        .bind(police_sealed)
        .bind(forensic_sealed)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Replaces the sealed details of an overdose.
pub async fn reseal_overdose(
    conn: &mut Conn,
    overdose_id: &str,
    sealed: &[u8],
) -> Result<(), StoreError> {
    db::query("update overdose set sealed = $1 where overdose_id = $2")
        .bind(sealed)
        .bind(db::uuid(overdose_id))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Store {
    /// A death by public id.
    pub async fn death(&self, death_id: &str) -> Result<Option<DeathRow>, StoreError> {
        let mut conn = self.connection().await?;
        death_in(&mut conn, death_id).await
    }

    /// Deaths, newest first.
    pub async fn deaths(&self, limit: i64) -> Result<Vec<DeathRow>, StoreError> {
        let rows = db::query("select * from death order by id desc limit $1")
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(death_from_row).collect::<Result<_, _>>()?)
    }

    /// The death notifications one police officer reported, newest first.
    pub async fn notifications_of(
        &self,
        reporter: &str,
        limit: i64,
    ) -> Result<Vec<DeathRow>, StoreError> {
        let rows = db::query(
            "select * from death where reporter = $1 and has_notification \
             order by id desc limit $2",
        )
        .bind(reporter)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(death_from_row).collect::<Result<_, _>>()?)
    }

    /// Deaths in a year (for aggregates and tests).
    pub async fn deaths_in_year(&self, year: i64) -> Result<Vec<DeathRow>, StoreError> {
        let rows = db::query("select * from death where death_year = $1 order by id")
            .bind(year)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(death_from_row).collect::<Result<_, _>>()?)
    }

    /// An overdose by public id.
    pub async fn overdose(&self, overdose_id: &str) -> Result<Option<OverdoseRow>, StoreError> {
        let row = db::query(&format!(
            "select {OVERDOSE_COLUMNS} from overdose where overdose_id = $1"
        ))
        .bind(db::uuid(overdose_id))
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(overdose_from_row).transpose()?)
    }

    /// A facility's overdoses, newest first.
    pub async fn facility_overdoses(
        &self,
        facility: &str,
        limit: i64,
    ) -> Result<Vec<OverdoseRow>, StoreError> {
        let rows = db::query(&format!(
            "select {OVERDOSE_COLUMNS} from overdose where facility = $1 order by id desc limit $2"
        ))
        .bind(facility)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(overdose_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// New-substance signals: `(name, first seen, reports)`, most reported first.
    pub async fn substance_signals(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = db::query(
            "select name, first_seen, reports from substance_signal order by reports desc, name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("name")?,
                    r.stamp("first_seen")?,
                    r.try_get("reports")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
