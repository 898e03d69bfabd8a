//! Treatment episodes and social-work contacts.

use std::sync::LazyLock;

use crate::store::db::{self, Conn, Row};

use super::refs::{RecordSubject, resolve};
use super::subjects::Linked;
use super::users::FacilityInfo;
use super::{Store, StoreError, now_rfc3339};
use crate::crypto::Keyring;
use crate::crypto::reference::{RecordDomain, SubjectRef};
use crate::domain::episode::PlainEpisode;
use crate::domain::items::Cell;

/// An episode row to insert.
#[derive(Debug, Clone)]
pub struct NewEpisode<'a> {
    /// Public id.
    pub episode_id: &'a str,
    /// The person, as a treatment-domain reference.
    pub subject_ref: SubjectRef,
    /// Facility code.
    pub facility: &'a str,
    /// TDI centre type of the facility.
    pub centre_type: &'a str,
    /// How the person was linked.
    pub link_rule: &'a str,
    /// Statistical columns.
    pub plain: &'a PlainEpisode,
    /// Sealed columns.
    pub sealed: &'a [u8],
    /// User id of the clinician.
    pub created_by: &'a str,
    /// Client-supplied idempotency key.
    pub idempotency_key: Option<&'a str>,
}

/// A stored episode with its subject's public id and wrapped data key.
#[derive(Debug, Clone)]
pub struct EpisodeRow {
    /// Internal id.
    pub id: i64,
    /// Public id.
    pub episode_id: String,
    /// Internal subject id.
    pub subject_id: i64,
    /// Subject's registry id.
    pub registry_id: String,
    /// Subject's wrapped data key (`None` once shredded).
    pub data_key_wrapped: Option<Vec<u8>>,
    /// Facility code.
    pub facility: String,
    /// TDI centre type.
    pub centre_type: String,
    /// Link rule.
    pub link_rule: String,
    /// `open` or `closed`.
    pub status: String,
    /// Statistical columns.
    pub plain: PlainEpisode,
    /// Sealed columns.
    pub sealed: Vec<u8>,
    /// End year and quarter, once closed.
    pub end: Option<(i64, i64)>,
    /// End reason, once closed.
    pub end_reason: Option<String>,
    /// Sealed end date, once closed.
    pub end_sealed: Option<Vec<u8>>,
    /// Who registered it.
    pub created_by: String,
    /// When.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// The clear columns of an episode (`PlainEpisode::COLUMNS`) as `<prefix>name, …`.
pub(crate) fn plain_column_list(prefix: &str) -> String {
    PlainEpisode::COLUMNS
        .iter()
        .map(|(name, _)| format!("{prefix}{name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads the statistical columns of an episode row.
pub(crate) fn plain_from_any(row: &Row) -> Result<PlainEpisode, sqlx::Error> {
    let cells = PlainEpisode::COLUMNS
        .iter()
        .map(|&(name, numeric)| {
            Ok(if numeric {
                Cell::Number(row.try_get(name)?)
            } else {
                Cell::Text(row.try_get(name)?)
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    PlainEpisode::from_cells(cells)
        .ok_or_else(|| sqlx::Error::Decode("an episode row has a bad column".into()))
}

/// Binds an episode's statistical columns, in `PlainEpisode::COLUMNS` order.
fn bind_plain<'q>(mut query: db::Query<'q>, plain: &PlainEpisode) -> db::Query<'q> {
    for cell in plain.cells() {
        query = match cell {
            Cell::Text(text) => query.bind(text),
            Cell::Number(number) => query.bind(number),
        };
    }
    query
}

/// Listed rows with their subjects, found through their references (one subject
/// query for the page), each built by `build`.
async fn with_subjects<T>(
    conn: &mut Conn,
    keyring: &Keyring,
    domain: RecordDomain,
    rows: &[Row],
    build: fn(&Row, &RecordSubject) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, StoreError> {
    let refs = rows
        .iter()
        .map(|r| r.try_get::<Vec<u8>, _>("subject_ref"))
        .collect::<Result<Vec<_>, _>>()?;
    let subjects = resolve(conn, keyring, domain, refs.iter().map(Vec::as_slice)).await?;
    rows.iter()
        .zip(&refs)
        .map(|(row, reference)| {
            let subject = subjects.get(reference).ok_or(StoreError::Unresolvable)?;
            Ok(build(row, subject)?)
        })
        .collect()
}

fn episode_from_row(row: &Row, subject: &RecordSubject) -> Result<EpisodeRow, sqlx::Error> {
    let end_year: Option<i64> = row.try_get("end_year")?;
    let end_quarter: Option<i64> = row.try_get("end_quarter")?;
    Ok(EpisodeRow {
        id: row.try_get("id")?,
        episode_id: row.id("episode_id")?,
        subject_id: subject.subject_id,
        registry_id: subject.registry_id.clone(),
        data_key_wrapped: subject.data_key_wrapped.clone(),
        facility: row.try_get("facility")?,
        centre_type: row.try_get("centre_type")?,
        link_rule: row.try_get("link_rule")?,
        status: row.try_get("status")?,
        plain: plain_from_any(row)?,
        sealed: row.try_get("sealed")?,
        end: end_year.zip(end_quarter),
        end_reason: row.try_get("end_reason")?,
        end_sealed: row.try_get("end_sealed")?,
        created_by: row.try_get("created_by")?,
        created_at: row.stamp("created_at")?,
        updated_at: row.stamp("updated_at")?,
    })
}

/// The select of an episode row (`{EPISODE_SELECT} where …`).
static EPISODE_SELECT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select e.id, e.episode_id, e.subject_ref, e.facility, e.centre_type, e.link_rule, \
         e.status, {}, e.sealed, e.end_year, e.end_quarter, e.end_reason, e.end_sealed, \
         e.created_by, e.created_at, e.updated_at from episode e",
        plain_column_list("e.")
    )
});

/// `$from, $from+1, …` for `count` parameters.
fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

static INSERT_EPISODE: LazyLock<String> = LazyLock::new(|| {
    let n = PlainEpisode::COLUMNS.len();
    format!(
        "insert into episode (episode_id, subject_ref, facility, centre_type, link_rule, status, \
         {}, sealed, created_by, created_at, updated_at, idempotency_key) values \
         ($1, $2, $3, $4, $5, 'open', {}, ${}, ${}, ${}, ${}, ${}) returning id",
        plain_column_list(""),
        placeholders(6, n),
        n + 6,
        n + 7,
        n + 8,
        n + 8,
        n + 9
    )
});

static UPDATE_EPISODE: LazyLock<String> = LazyLock::new(|| {
    let n = PlainEpisode::COLUMNS.len();
    let set = PlainEpisode::COLUMNS
        .iter()
        .enumerate()
        .map(|(i, (name, _))| format!("{name} = ${}", i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "update episode set {set}, sealed = ${}, updated_at = ${} where id = ${}",
        n + 1,
        n + 2,
        n + 3
    )
});

/// Inserts an episode within the caller's transaction; returns its internal id.
pub async fn insert_episode(conn: &mut Conn, e: &NewEpisode<'_>) -> Result<i64, StoreError> {
    let query = db::query(&INSERT_EPISODE)
        .bind(db::uuid(e.episode_id))
        .bind(e.subject_ref.to_vec())
        .bind(e.facility)
        .bind(e.centre_type)
        .bind(e.link_rule);
    let id: i64 = bind_plain(query, e.plain)
        .bind(e.sealed)
        .bind(e.created_by)
        .bind(db::stamp(&now_rfc3339()))
        .bind(e.idempotency_key)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    Ok(id)
}

/// Replaces an episode's statistical and sealed columns (a correction).
pub async fn update_episode(
    conn: &mut Conn,
    id: i64,
    p: &PlainEpisode,
    sealed: &[u8],
) -> Result<(), StoreError> {
    bind_plain(db::query(&UPDATE_EPISODE), p)
        .bind(sealed)
        .bind(db::stamp(&now_rfc3339()))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// When an episode last changed, read under its row lock within the caller's
/// transaction (as the episode's own reads render it).
pub async fn episode_changed_at(conn: &mut Conn, id: i64) -> Result<String, StoreError> {
    let sql = format!(
        "select updated_at from episode where id = $1{}",
        super::for_update(conn)
    );
    let row = db::query(&sql).bind(id).fetch_one(&mut *conn).await?;
    Ok(row.stamp("updated_at")?)
}

/// Closes an episode.
pub async fn close_episode(
    conn: &mut Conn,
    id: i64,
    end: (u16, u8),
    reason: &str,
    end_sealed: &[u8],
) -> Result<(), StoreError> {
    db::query(
        "update episode set status = 'closed', end_year = $1, end_quarter = $2, end_reason = $3, \
         end_sealed = $4, updated_at = $5 where id = $6",
    )
    .bind(i64::from(end.0))
    .bind(i64::from(end.1))
    .bind(reason)
    .bind(end_sealed)
    .bind(db::stamp(&now_rfc3339()))
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records a change in the history (previous values sealed).
pub async fn insert_history(
    conn: &mut Conn,
    history_id: &str,
    episode: i64,
    changed_by: &str,
    change: &str,
    fields: &str,
    previous_sealed: &[u8],
) -> Result<(), StoreError> {
    db::query(
        "insert into episode_history (history_id, episode_id, changed_by, changed_at, change, \
         fields, previous_sealed) values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(db::uuid(history_id))
    .bind(episode)
    .bind(changed_by)
    .bind(db::stamp(&now_rfc3339()))
    .bind(change)
    .bind(fields)
    .bind(previous_sealed)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The episode a user created with an idempotency key, if any.
pub async fn episode_by_idempotency(
    conn: &mut Conn,
    keyring: &Keyring,
    created_by: &str,
    key: &str,
) -> Result<Option<EpisodeRow>, StoreError> {
    let row = db::query(&format!(
        "{} where e.created_by = $1 and e.idempotency_key = $2",
        *EPISODE_SELECT
    ))
    .bind(created_by)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    let rows: Vec<Row> = row.into_iter().collect();
    Ok(with_subjects(
        conn,
        keyring,
        RecordDomain::Treatment,
        &rows,
        episode_from_row,
    )
    .await?
    .pop())
}

/// Every episode of a subject, oldest first. The caller knows the subject and has
/// read its wrapped data key (`subject_data_key`): the rows are found by its
/// reference, so none is decrypted or looked up again.
pub async fn subject_episodes(
    conn: &mut Conn,
    keyring: &Keyring,
    subject: &Linked,
    data_key_wrapped: Option<&[u8]>,
) -> Result<Vec<EpisodeRow>, StoreError> {
    let reference = super::refs::reference(
        keyring,
        RecordDomain::Treatment,
        subject.subject_id,
        subject.version,
    )?;
    let rows = db::query(&format!(
        "{} where e.subject_ref = $1 order by e.id",
        *EPISODE_SELECT
    ))
    .bind(&reference)
    .fetch_all(&mut *conn)
    .await?;
    let known = RecordSubject {
        subject_id: subject.subject_id,
        registry_id: subject.registry_id.clone(),
        data_key_wrapped: data_key_wrapped.map(<[u8]>::to_vec),
    };
    Ok(rows
        .iter()
        .map(|row| episode_from_row(row, &known))
        .collect::<Result<_, _>>()?)
}

/// The episodes of a person: the subject's own and those of every subject a
/// registrar merged into it (a look-up finds the subject merged into).
pub async fn person_episodes(
    conn: &mut Conn,
    keyring: &Keyring,
    subject: &Linked,
) -> Result<Vec<EpisodeRow>, StoreError> {
    let group = super::subjects::merge_group(conn, subject.subject_id).await?;
    let mut out = Vec::new();
    // An erased subject merged into the person has nothing left to open.
    for member in group
        .into_iter()
        .filter(|m| m.subject_id == subject.subject_id || !m.shredded)
    {
        let member = Linked {
            subject_id: member.subject_id,
            registry_id: member.registry_id,
            version: member.version,
            ..subject.clone()
        };
        let wrapped = subject_data_key(conn, member.subject_id).await?;
        out.extend(subject_episodes(conn, keyring, &member, wrapped.as_deref()).await?);
    }
    Ok(out)
}

/// The wrapped data key of a subject.
pub async fn subject_data_key(
    conn: &mut Conn,
    subject_id: i64,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(
        db::query_scalar("select data_key_wrapped from subject where id = $1")
            .bind(subject_id)
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// Filters for listing a facility's episodes.
#[derive(Debug, Clone, Default)]
pub struct EpisodeFilter {
    /// Start year.
    pub year: Option<i64>,
    /// `open` or `closed`.
    pub status: Option<String>,
    /// Primary drug code.
    pub primary_drug: Option<String>,
    /// Only episodes with internal id below this (keyset paging, newest first).
    pub before_id: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// One social-work contact to insert.
#[derive(Debug, Clone)]
pub struct NewContact<'a> {
    /// Public id.
    pub contact_id: &'a str,
    /// The person, as a social-work-domain reference.
    pub subject_ref: SubjectRef,
    /// Municipality of the Centre for Social Work.
    pub municipality: &'a str,
    /// Link rule.
    pub link_rule: &'a str,
    /// Year and quarter of the contact.
    pub when: (u16, u8),
    /// Service type.
    pub service_type: &'a str,
    /// Referred to treatment.
    pub referral_to_treatment: bool,
    /// Housing support given.
    pub housing_support: bool,
    /// Employment support given.
    pub employment_support: bool,
    /// Sealed exact date and notes.
    pub sealed: &'a [u8],
    /// Social worker's user id.
    pub created_by: &'a str,
}

/// A stored social-work contact.
#[derive(Debug, Clone)]
pub struct ContactRow {
    /// Public id.
    pub contact_id: String,
    /// Subject's registry id.
    pub registry_id: String,
    /// Wrapped data key of the subject.
    pub data_key_wrapped: Option<Vec<u8>>,
    /// Municipality.
    pub municipality: String,
    /// Year of contact.
    pub contact_year: i64,
    /// Quarter of contact.
    pub contact_quarter: i64,
    /// Service type.
    pub service_type: String,
    /// Referred to treatment.
    pub referral_to_treatment: bool,
    /// Housing support.
    pub housing_support: bool,
    /// Employment support.
    pub employment_support: bool,
    /// Sealed exact date and notes.
    pub sealed: Vec<u8>,
    /// Who recorded it.
    pub created_by: String,
    /// When.
    pub created_at: String,
}

fn contact_from_row(row: &Row, subject: &RecordSubject) -> Result<ContactRow, sqlx::Error> {
    Ok(ContactRow {
        contact_id: row.id("contact_id")?,
        registry_id: subject.registry_id.clone(),
        data_key_wrapped: subject.data_key_wrapped.clone(),
        municipality: row.try_get("municipality")?,
        contact_year: row.try_get("contact_year")?,
        contact_quarter: row.try_get("contact_quarter")?,
        service_type: row.try_get("service_type")?,
        referral_to_treatment: row.try_get::<bool, _>("referral_to_treatment")?,
        housing_support: row.try_get::<bool, _>("housing_support")?,
        employment_support: row.try_get::<bool, _>("employment_support")?,
        sealed: row.try_get("sealed")?,
        created_by: row.try_get("created_by")?,
        created_at: row.stamp("created_at")?,
    })
}

const CONTACT_SELECT: &str = "select c.contact_id, c.subject_ref, c.municipality, c.contact_year, c.contact_quarter, c.service_type, c.referral_to_treatment, \
     c.housing_support, c.employment_support, c.sealed, c.created_by, c.created_at \
     from social_contact c";

/// Inserts a social-work contact within the caller's transaction.
pub async fn insert_contact(conn: &mut Conn, c: &NewContact<'_>) -> Result<(), StoreError> {
    db::query(
        "insert into social_contact (contact_id, subject_ref, municipality, link_rule, \
         contact_year, contact_quarter, service_type, referral_to_treatment, housing_support, \
         employment_support, sealed, created_by, created_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(db::uuid(c.contact_id))
    .bind(c.subject_ref.to_vec())
    .bind(c.municipality)
    .bind(c.link_rule)
    .bind(i64::from(c.when.0))
    .bind(i64::from(c.when.1))
    .bind(c.service_type)
    .bind(c.referral_to_treatment)
    .bind(c.housing_support)
    .bind(c.employment_support)
    .bind(c.sealed)
    .bind(c.created_by)
    .bind(db::stamp(&now_rfc3339()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One person counted once per year: their first episode of the year (by quarter,
/// then registration order), as the TDI protocol's counting rule asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrantRow {
    /// The person's treatment-domain reference.
    pub subject_ref: Vec<u8>,
    /// Internal id of the counted episode.
    pub episode: i64,
    /// Its statistical columns.
    pub plain: PlainEpisode,
    /// Centre type of the facility.
    pub centre_type: String,
}

impl Store {
    /// One episode by public id.
    pub async fn episode(
        &self,
        keyring: &Keyring,
        episode_id: &str,
    ) -> Result<Option<EpisodeRow>, StoreError> {
        let mut conn = self.connection().await?;
        let row = db::query(&format!("{} where e.episode_id = $1", *EPISODE_SELECT))
            .bind(db::uuid(episode_id))
            .fetch_optional(&mut conn)
            .await?;
        let rows: Vec<Row> = row.into_iter().collect();
        Ok(with_subjects(
            &mut conn,
            keyring,
            RecordDomain::Treatment,
            &rows,
            episode_from_row,
        )
        .await?
        .pop())
    }

    /// A facility's episodes, newest first, filtered and paged.
    pub async fn facility_episodes(
        &self,
        keyring: &Keyring,
        facility: &str,
        f: &EpisodeFilter,
    ) -> Result<Vec<EpisodeRow>, StoreError> {
        let mut conn = self.connection().await?;
        let rows = db::query(&format!(
            "{} where e.facility = $1 and ($2 is null or e.start_year = $2) \
             and ($3 is null or e.status = $3) and ($4 is null or e.primary_drug = $4) \
             and ($5 is null or e.id < $5) order by e.id desc limit $6",
            *EPISODE_SELECT
        ))
        .bind(facility)
        .bind(f.year)
        .bind(f.status.as_deref())
        .bind(f.primary_drug.as_deref())
        .bind(f.before_id)
        .bind(f.limit)
        .fetch_all(&mut conn)
        .await?;
        with_subjects(
            &mut conn,
            keyring,
            RecordDomain::Treatment,
            &rows,
            episode_from_row,
        )
        .await
    }

    /// TDI entrants of a year: each person once, with their first episode of the year.
    pub async fn tdi_entrants(&self, year: i64) -> Result<Vec<EntrantRow>, StoreError> {
        let rows = db::query(
            "select * from (select e.*, row_number() over \
             (partition by e.subject_ref order by e.start_quarter, e.id) as nth \
             from episode e where e.start_year = $1) first_of_year where nth = 1 order by id",
        )
        .bind(year)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EntrantRow {
                    subject_ref: r.try_get("subject_ref")?,
                    episode: r.try_get("id")?,
                    plain: plain_from_any(r)?,
                    centre_type: r.try_get("centre_type")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// An episode's history: `(changed_by, changed_at, change, fields)`, oldest first.
    pub async fn episode_history(
        &self,
        episode: i64,
    ) -> Result<Vec<(String, String, String, String)>, StoreError> {
        let rows = db::query(
            "select changed_by, changed_at, change, fields from episode_history \
             where episode_id = $1 order by id",
        )
        .bind(episode)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("changed_by")?,
                    r.stamp("changed_at")?,
                    r.try_get("change")?,
                    r.try_get("fields")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// One social-work contact by public id.
    pub async fn contact(
        &self,
        keyring: &Keyring,
        contact_id: &str,
    ) -> Result<Option<ContactRow>, StoreError> {
        let mut conn = self.connection().await?;
        let row = db::query(&format!("{CONTACT_SELECT} where c.contact_id = $1"))
            .bind(db::uuid(contact_id))
            .fetch_optional(&mut conn)
            .await?;
        let rows: Vec<Row> = row.into_iter().collect();
        Ok(with_subjects(
            &mut conn,
            keyring,
            RecordDomain::SocialWork,
            &rows,
            contact_from_row,
        )
        .await?
        .pop())
    }

    /// A centre's contacts, newest first.
    pub async fn municipality_contacts(
        &self,
        keyring: &Keyring,
        municipality: &str,
        limit: i64,
    ) -> Result<Vec<ContactRow>, StoreError> {
        let mut conn = self.connection().await?;
        let rows = db::query(&format!(
            "{CONTACT_SELECT} where c.municipality = $1 order by c.id desc limit $2"
        ))
        .bind(municipality)
        .bind(limit)
        .fetch_all(&mut conn)
        .await?;
        with_subjects(
            &mut conn,
            keyring,
            RecordDomain::SocialWork,
            &rows,
            contact_from_row,
        )
        .await
    }

    /// A facility's centre type and standing.
    pub async fn facility_info(&self, code: &str) -> Result<Option<FacilityInfo>, StoreError> {
        let row = db::query(
            "select centre_type, active, emergency_capable from facility where code = $1",
        )
        .bind(code)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(FacilityInfo {
                centre_type: r.try_get("centre_type")?,
                active: r.try_get::<bool, _>("active")?,
                emergency_capable: r.try_get::<bool, _>("emergency_capable")?,
            })
        })
        .transpose()
        .map_err(|e: sqlx::Error| StoreError::from(e))
    }

    /// Slugs of all municipalities.
    pub async fn municipality_slugs(&self) -> Result<Vec<String>, StoreError> {
        if let Some(slugs) = self.slugs.get() {
            return Ok(slugs.clone());
        }
        let slugs: Vec<String> = db::query_scalar("select slug from municipality order by slug")
            .fetch_all(self.pool())
            .await?;
        // Municipalities are seeded before the service starts and never change while
        // it runs; an empty list (not yet seeded) is not remembered.
        if !slugs.is_empty() {
            let _ = self.slugs.set(slugs.clone());
        }
        Ok(slugs)
    }
}
