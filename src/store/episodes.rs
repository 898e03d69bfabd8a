//! Treatment episodes and social-work contacts.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::refs::{RecordSubject, resolve};
use super::subjects::Linked;
use super::users::FacilityInfo;
use super::{Store, StoreError, get_bool, now_rfc3339};
use crate::crypto::Keyring;
use crate::domain::episode::PlainEpisode;
use crate::identity::reference::{RecordDomain, SubjectRef};

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

fn u16_of(row: &AnyRow, col: &str) -> Result<u16, sqlx::Error> {
    Ok(u16::try_from(row.try_get::<i64, _>(col)?).unwrap_or(0))
}

fn opt_u16(row: &AnyRow, col: &str) -> Result<Option<u16>, sqlx::Error> {
    Ok(row
        .try_get::<Option<i64>, _>(col)?
        .and_then(|v| u16::try_from(v).ok()))
}

/// Reads the statistical columns of an episode row.
pub(crate) fn plain_from_any(row: &AnyRow) -> Result<PlainEpisode, sqlx::Error> {
    let secondary: String = row.try_get("secondary_drugs")?;
    Ok(PlainEpisode {
        start_year: u16_of(row, "start_year")?,
        start_quarter: u8::try_from(row.try_get::<i64, _>("start_quarter")?).unwrap_or(0),
        sex: row.try_get("sex")?,
        birth_year: u16_of(row, "birth_year")?,
        age_at_start: u16_of(row, "age_at_start")?,
        age_band: row.try_get("age_band")?,
        municipality: row.try_get("municipality")?,
        treatment_status: row.try_get("treatment_status")?,
        referral_source: row.try_get("referral_source")?,
        living_with: row.try_get("living_with")?,
        living_with_children: row.try_get("living_with_children")?,
        living_where: row.try_get("living_where")?,
        labour_status: row.try_get("labour_status")?,
        education: row.try_get("education")?,
        primary_drug: row.try_get("primary_drug")?,
        route: row.try_get("route")?,
        frequency: row.try_get("frequency")?,
        age_first_use: opt_u16(row, "age_first_use")?,
        secondary_drugs: secondary
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        polydrug: row.try_get("polydrug")?,
        ost_status: row.try_get("ost_status")?,
        ost_first_year: opt_u16(row, "ost_first_year")?,
    })
}

/// Listed rows with their subjects, found through their references (one subject
/// query for the page), each built by `build`.
async fn with_subjects<T>(
    conn: &mut AnyConnection,
    keyring: &Keyring,
    domain: RecordDomain,
    rows: &[AnyRow],
    build: fn(&AnyRow, &RecordSubject) -> Result<T, sqlx::Error>,
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

fn episode_from_row(row: &AnyRow, subject: &RecordSubject) -> Result<EpisodeRow, sqlx::Error> {
    let end_year: Option<i64> = row.try_get("end_year")?;
    let end_quarter: Option<i64> = row.try_get("end_quarter")?;
    Ok(EpisodeRow {
        id: row.try_get("id")?,
        episode_id: row.try_get("episode_id")?,
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
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const EPISODE_SELECT: &str = "select e.id, e.episode_id, e.subject_ref, e.facility, \
     e.centre_type, e.link_rule, e.status, e.start_year, e.start_quarter, e.sex, e.birth_year, e.age_at_start, e.age_band, e.municipality, \
     e.treatment_status, e.referral_source, e.living_with, e.living_with_children, \
     e.living_where, e.labour_status, e.education, e.primary_drug, e.route, e.frequency, \
     e.age_first_use, e.secondary_drugs, e.polydrug, e.ost_status, e.ost_first_year, e.sealed, \
     e.end_year, e.end_quarter, e.end_reason, e.end_sealed, e.created_by, e.created_at, \
     e.updated_at from episode e";

/// Inserts an episode within the caller's transaction; returns its internal id.
pub async fn insert_episode(
    conn: &mut AnyConnection,
    e: &NewEpisode<'_>,
) -> Result<i64, StoreError> {
    let p = e.plain;
    let now = now_rfc3339();
    let id: i64 = sqlx::query_scalar(
        "insert into episode (episode_id, subject_ref, facility, centre_type, link_rule, status, \
         start_year, start_quarter, sex, birth_year, age_at_start, age_band, municipality, \
         treatment_status, referral_source, living_with, living_with_children, living_where, \
         labour_status, education, primary_drug, route, frequency, age_first_use, \
         secondary_drugs, polydrug, ost_status, ost_first_year, sealed, created_by, created_at, \
         updated_at, idempotency_key) values ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9, $10, \
         $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, \
         $28, $29, $30, $30, $31) returning id",
    )
    .bind(e.episode_id)
    .bind(e.subject_ref.to_vec())
    .bind(e.facility)
    .bind(e.centre_type)
    .bind(e.link_rule)
    .bind(i64::from(p.start_year))
    .bind(i64::from(p.start_quarter))
    .bind(&p.sex)
    .bind(i64::from(p.birth_year))
    .bind(i64::from(p.age_at_start))
    .bind(&p.age_band)
    .bind(&p.municipality)
    .bind(&p.treatment_status)
    .bind(&p.referral_source)
    .bind(&p.living_with)
    .bind(&p.living_with_children)
    .bind(&p.living_where)
    .bind(&p.labour_status)
    .bind(&p.education)
    .bind(&p.primary_drug)
    .bind(&p.route)
    .bind(&p.frequency)
    .bind(p.age_first_use.map(i64::from))
    .bind(p.secondary_drugs.join(","))
    .bind(&p.polydrug)
    .bind(&p.ost_status)
    .bind(p.ost_first_year.map(i64::from))
    .bind(e.sealed)
    .bind(e.created_by)
    .bind(&now)
    .bind(e.idempotency_key)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// Replaces an episode's statistical and sealed columns (a correction).
pub async fn update_episode(
    conn: &mut AnyConnection,
    id: i64,
    p: &PlainEpisode,
    sealed: &[u8],
) -> Result<(), StoreError> {
    sqlx::query(
        "update episode set start_year = $1, start_quarter = $2, sex = $3, birth_year = $4, \
         age_at_start = $5, age_band = $6, municipality = $7, treatment_status = $8, \
         referral_source = $9, living_with = $10, living_with_children = $11, living_where = $12, \
         labour_status = $13, education = $14, primary_drug = $15, route = $16, frequency = $17, \
         age_first_use = $18, secondary_drugs = $19, polydrug = $20, ost_status = $21, \
         ost_first_year = $22, sealed = $23, updated_at = $24 where id = $25",
    )
    .bind(i64::from(p.start_year))
    .bind(i64::from(p.start_quarter))
    .bind(&p.sex)
    .bind(i64::from(p.birth_year))
    .bind(i64::from(p.age_at_start))
    .bind(&p.age_band)
    .bind(&p.municipality)
    .bind(&p.treatment_status)
    .bind(&p.referral_source)
    .bind(&p.living_with)
    .bind(&p.living_with_children)
    .bind(&p.living_where)
    .bind(&p.labour_status)
    .bind(&p.education)
    .bind(&p.primary_drug)
    .bind(&p.route)
    .bind(&p.frequency)
    .bind(p.age_first_use.map(i64::from))
    .bind(p.secondary_drugs.join(","))
    .bind(&p.polydrug)
    .bind(&p.ost_status)
    .bind(p.ost_first_year.map(i64::from))
    .bind(sealed)
    .bind(now_rfc3339())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Closes an episode.
pub async fn close_episode(
    conn: &mut AnyConnection,
    id: i64,
    end: (u16, u8),
    reason: &str,
    end_sealed: &[u8],
) -> Result<(), StoreError> {
    sqlx::query(
        "update episode set status = 'closed', end_year = $1, end_quarter = $2, end_reason = $3, \
         end_sealed = $4, updated_at = $5 where id = $6",
    )
    .bind(i64::from(end.0))
    .bind(i64::from(end.1))
    .bind(reason)
    .bind(end_sealed)
    .bind(now_rfc3339())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records a change in the history (previous values sealed).
pub async fn insert_history(
    conn: &mut AnyConnection,
    history_id: &str,
    episode: i64,
    changed_by: &str,
    change: &str,
    fields: &str,
    previous_sealed: &[u8],
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into episode_history (history_id, episode_id, changed_by, changed_at, change, \
         fields, previous_sealed) values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(history_id)
    .bind(episode)
    .bind(changed_by)
    .bind(now_rfc3339())
    .bind(change)
    .bind(fields)
    .bind(previous_sealed)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The episode a user created with an idempotency key, if any.
pub async fn episode_by_idempotency(
    conn: &mut AnyConnection,
    keyring: &Keyring,
    created_by: &str,
    key: &str,
) -> Result<Option<EpisodeRow>, StoreError> {
    let row = sqlx::query(&format!(
        "{EPISODE_SELECT} where e.created_by = $1 and e.idempotency_key = $2"
    ))
    .bind(created_by)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    let rows: Vec<AnyRow> = row.into_iter().collect();
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
    conn: &mut AnyConnection,
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
    let rows = sqlx::query(&format!(
        "{EPISODE_SELECT} where e.subject_ref = $1 order by e.id"
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

/// The wrapped data key of a subject.
pub async fn subject_data_key(
    conn: &mut AnyConnection,
    subject_id: i64,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(
        sqlx::query_scalar("select data_key_wrapped from subject where id = $1")
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

fn contact_from_row(row: &AnyRow, subject: &RecordSubject) -> Result<ContactRow, sqlx::Error> {
    Ok(ContactRow {
        contact_id: row.try_get("contact_id")?,
        registry_id: subject.registry_id.clone(),
        data_key_wrapped: subject.data_key_wrapped.clone(),
        municipality: row.try_get("municipality")?,
        contact_year: row.try_get("contact_year")?,
        contact_quarter: row.try_get("contact_quarter")?,
        service_type: row.try_get("service_type")?,
        referral_to_treatment: get_bool(row, "referral_to_treatment")?,
        housing_support: get_bool(row, "housing_support")?,
        employment_support: get_bool(row, "employment_support")?,
        sealed: row.try_get("sealed")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

const CONTACT_SELECT: &str = "select c.contact_id, c.subject_ref, c.municipality, c.contact_year, c.contact_quarter, c.service_type, c.referral_to_treatment, \
     c.housing_support, c.employment_support, c.sealed, c.created_by, c.created_at \
     from social_contact c";

/// Inserts a social-work contact within the caller's transaction.
pub async fn insert_contact(
    conn: &mut AnyConnection,
    c: &NewContact<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into social_contact (contact_id, subject_ref, municipality, link_rule, \
         contact_year, contact_quarter, service_type, referral_to_treatment, housing_support, \
         employment_support, sealed, created_by, created_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(c.contact_id)
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
    .bind(now_rfc3339())
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
        let row = sqlx::query(&format!("{EPISODE_SELECT} where e.episode_id = $1"))
            .bind(episode_id)
            .fetch_optional(&mut *conn)
            .await?;
        let rows: Vec<AnyRow> = row.into_iter().collect();
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
        let rows = sqlx::query(&format!(
            "{EPISODE_SELECT} where e.facility = $1 and ($2 is null or e.start_year = $2) \
             and ($3 is null or e.status = $3) and ($4 is null or e.primary_drug = $4) \
             and ($5 is null or e.id < $5) order by e.id desc limit $6"
        ))
        .bind(facility)
        .bind(f.year)
        .bind(f.status.as_deref())
        .bind(f.primary_drug.as_deref())
        .bind(f.before_id)
        .bind(f.limit)
        .fetch_all(&mut *conn)
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
        let rows = sqlx::query(
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
        let rows = sqlx::query(
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
                    r.try_get("changed_at")?,
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
        let row = sqlx::query(&format!("{CONTACT_SELECT} where c.contact_id = $1"))
            .bind(contact_id)
            .fetch_optional(&mut *conn)
            .await?;
        let rows: Vec<AnyRow> = row.into_iter().collect();
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
        let rows = sqlx::query(&format!(
            "{CONTACT_SELECT} where c.municipality = $1 order by c.id desc limit $2"
        ))
        .bind(municipality)
        .bind(limit)
        .fetch_all(&mut *conn)
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
        let row = sqlx::query(
            "select centre_type, active, emergency_capable from facility where code = $1",
        )
        .bind(code)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(FacilityInfo {
                centre_type: r.try_get("centre_type")?,
                active: get_bool(&r, "active")?,
                emergency_capable: get_bool(&r, "emergency_capable")?,
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
        let slugs: Vec<String> = sqlx::query_scalar("select slug from municipality order by slug")
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
