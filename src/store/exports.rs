//! Data for aggregate exports, and the release ledger.

use crate::store::db::{self, Row};

use std::collections::HashMap;
use std::sync::LazyLock;

use super::{Store, StoreError};
use crate::crypto::Keyring;
use crate::crypto::reference::RecordDomain;
use crate::domain::episode::PlainEpisode;
use crate::domain::items::Cell;

/// Registry id and wrapped data key of every live subject, by internal id: what
/// opening entrants' sealed items needs (records name subjects only by reference).
pub type SubjectKeys = HashMap<i64, (String, Vec<u8>)>;

/// The range of references a partition of the people reads: `[lower, upper)` by the
/// first byte of the reference (references are uniformly distributed).
fn reference_range(part: i64, parts: i64) -> (Vec<u8>, Vec<u8>) {
    let parts = parts.clamp(1, 256);
    let part = part.clamp(0, parts - 1);
    let bound = |k: i64| k * 256 / parts;
    let lower = vec![u8::try_from(bound(part)).unwrap_or(0)];
    // Every 16-byte reference sorts before 17 bytes of 0xff.
    let upper = u8::try_from(bound(part + 1)).map_or_else(|_| vec![0xff; 17], |b| vec![b]);
    (lower, upper)
}

/// The person a treatment reference names.
fn treated_person(keyring: &Keyring, r: &Row) -> Result<i64, StoreError> {
    let reference: Vec<u8> = r.try_get("subject_ref")?;
    keyring
        .subject_of(RecordDomain::Treatment, &reference)
        .map(|(id, _)| id)
        .ok_or(StoreError::Unresolvable)
}

/// One TDI entrant of one year (a person's first episode of that year).
#[derive(Debug, Clone)]
pub struct EntrantFact {
    /// Internal subject id (the person; never leaves the process).
    pub person: i64,
    /// Year the person is counted in.
    pub year: i64,
    /// Statistical columns.
    pub plain: PlainEpisode,
    /// Centre type of the facility.
    pub centre_type: String,
    /// District of residence.
    pub district: String,
    /// Subject registry id, wrapped data key, episode id and sealed blob, to open the
    /// sealed items (injecting, sharing, testing); `None` for persons in treatment
    /// and when the person was erased.
    pub sealed: Option<(String, Vec<u8>, String, Vec<u8>)>,
}

/// One death, for DRD tables.
#[derive(Debug, Clone)]
pub struct DeathFact {
    /// The death (each death is one person).
    pub person: i64,
    /// Year of death.
    pub year: i64,
    /// Quarter.
    pub quarter: i64,
    /// Sex.
    pub sex: String,
    /// Age band.
    pub age_band: String,
    /// Municipality.
    pub municipality: String,
    /// District.
    pub district: String,
    /// Manner.
    pub manner: String,
    /// Selection B.
    pub selection_b: bool,
    /// Selection D.
    pub selection_d: bool,
    /// Cause-relevant substance codes.
    pub substances: Vec<String>,
    /// Linked to a person with an earlier treatment episode.
    pub known_to_treatment: bool,
    /// The person left treatment (or a prison health unit) in the four quarters
    /// before the quarter of death.
    pub left_treatment_12m: bool,
}

/// One overdose.
#[derive(Debug, Clone)]
pub struct OverdoseFact {
    /// The record (identity is optional, so each record counts as one person).
    pub person: i64,
    /// Year.
    pub year: i64,
    /// Quarter.
    pub quarter: i64,
    /// Sex.
    pub sex: String,
    /// Age band.
    pub age_band: String,
    /// Municipality.
    pub municipality: String,
    /// District.
    pub district: String,
    /// `clinical` or `police`.
    pub source: String,
    /// Outcome.
    pub outcome: String,
    /// Substance codes.
    pub substances: Vec<String>,
}

/// The statistical columns of an episode (`PlainEpisode::COLUMNS`, then the centre
/// type) as one text line, `|`-separated. Bulk reads fetch this one column instead
/// of two dozen: a driver's cost is per column and per row, and a year holds a
/// million rows.
static PLAIN_LINE: LazyLock<String> = LazyLock::new(|| {
    PlainEpisode::COLUMNS
        .iter()
        .map(|&(name, numeric)| {
            if numeric {
                format!("coalesce(cast(e.{name} as text), '')")
            } else {
                format!("e.{name}")
            }
        })
        .chain(std::iter::once("e.centre_type".to_owned()))
        .collect::<Vec<_>>()
        .join(" || '|' || ")
});

static ENTRANTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select e.subject_ref, e.start_year, {} as line, m.district, e.episode_id, e.sealed \
         from episode e join municipality m on m.slug = e.municipality \
         where e.start_year = $1 and e.subject_ref >= $2 and e.subject_ref < $3 \
         order by e.subject_ref, e.start_quarter, e.id",
        *PLAIN_LINE
    )
});

static PREVALENCE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select f.subject_ref, f.line, m.district from (select e.subject_ref, e.municipality, \
         {} as line, row_number() over (partition by e.subject_ref order by e.start_year desc, \
         e.id desc) as nth from episode e where e.start_year <= $1 \
         and (e.end_year is null or e.end_year >= $1) \
         and e.subject_ref >= $2 and e.subject_ref < $3) f \
         join municipality m on m.slug = f.municipality where f.nth = 1",
        *PLAIN_LINE
    )
});

/// Parses a `PLAIN_LINE` into the episode's statistical columns and its centre type.
fn plain_from_line(line: &str) -> Result<(PlainEpisode, String), sqlx::Error> {
    let bad = || sqlx::Error::Decode("an episode line has a bad field".into());
    let mut fields = line.split('|');
    let cells = PlainEpisode::COLUMNS
        .iter()
        .map(|&(_, numeric)| {
            let field = fields.next().ok_or_else(bad)?;
            Ok(match (numeric, field) {
                (false, text) => Cell::Text(text.to_owned()),
                (true, "") => Cell::Number(None),
                (true, number) => Cell::Number(Some(number.parse().map_err(|_| bad())?)),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let centre_type = fields.next().ok_or_else(bad)?.to_owned();
    if fields.next().is_some() {
        return Err(bad());
    }
    let plain = PlainEpisode::from_cells(cells).ok_or_else(bad)?;
    Ok((plain, centre_type))
}

fn entrant_from_row(
    r: &Row,
    person: i64,
    subjects: &SubjectKeys,
) -> Result<EntrantFact, sqlx::Error> {
    let (plain, centre_type) = plain_from_line(&r.try_get::<String, _>("line")?)?;
    let sealed = match subjects.get(&person) {
        Some((registry_id, wrapped)) => Some((
            registry_id.clone(),
            wrapped.clone(),
            r.id("episode_id")?,
            r.try_get("sealed")?,
        )),
        None => None,
    };
    Ok(EntrantFact {
        person,
        year: r.try_get("start_year")?,
        district: r.try_get("district")?,
        plain,
        centre_type,
        sealed,
    })
}

fn death_fact(r: &Row, known: bool, left_recently: bool) -> Result<DeathFact, sqlx::Error> {
    Ok(DeathFact {
        person: r.try_get("id")?,
        year: r.try_get("death_year")?,
        quarter: r.try_get("death_quarter")?,
        sex: r.try_get("sex")?,
        age_band: r.try_get("age_band")?,
        municipality: r.try_get("municipality")?,
        district: r.try_get("district")?,
        manner: r
            .try_get::<Option<String>, _>("manner")?
            .unwrap_or_else(|| "99".into()),
        selection_b: r.try_get::<bool, _>("selection_b")?,
        selection_d: r.try_get::<bool, _>("selection_d")?,
        substances: split(&r.try_get::<String, _>("substance_codes")?),
        known_to_treatment: known,
        left_treatment_12m: left_recently,
    })
}

fn split(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A release's ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct LedgerEntry {
    /// Release id.
    pub release_id: String,
    /// `statutory` or `flexible`.
    pub kind: String,
    /// First data year.
    pub year_from: i64,
    /// Last data year.
    pub year_to: i64,
    /// The snapshots read: `year:version:snapshot_id`, comma-separated.
    pub snapshots: String,
    /// The request (canonical JSON).
    pub request: String,
    /// Declared purpose.
    pub purpose: String,
    /// Requesting user id (`cli` for the command line).
    pub requester: String,
    /// SHA-256 of the delivered output.
    pub output_hash: String,
    /// When (UTC).
    pub created_at: String,
}

impl Store {
    /// TDI entrants of `year` — each person's first episode of the year (by quarter,
    /// then registration order), with what opening its sealed items needs — streamed
    /// in person order; the first row of each person is kept here. `(part, parts)`
    /// selects a range of the people's references, so several scans can run side by
    /// side.
    pub fn export_entrants<'a>(
        &'a self,
        keyring: &'a Keyring,
        subjects: &'a SubjectKeys,
        year: i64,
        (part, parts): (i64, i64),
    ) -> impl futures_util::Stream<Item = Result<EntrantFact, StoreError>> + Send + 'a {
        use futures_util::StreamExt;
        let (lower, upper) = reference_range(part, parts);
        let mut last: Option<i64> = None;
        db::query(&ENTRANTS)
            .bind(year)
            .bind(lower)
            .bind(upper)
            .fetch(self.pool())
            .filter_map(move |row| {
                let out = match row.map_err(StoreError::from) {
                    Err(e) => Some(Err(e)),
                    Ok(r) => match treated_person(keyring, &r) {
                        Err(e) => Some(Err(e)),
                        Ok(person) if last == Some(person) => None,
                        Ok(person) => {
                            last = Some(person);
                            Some(entrant_from_row(&r, person, subjects).map_err(StoreError::from))
                        }
                    },
                };
                std::future::ready(out)
            })
    }

    /// Registry id and wrapped data key of every live subject. Streamed: a national
    /// registry holds a million, and the driver's rows are far larger than the map's
    /// entries.
    pub async fn subject_keys(&self) -> Result<SubjectKeys, StoreError> {
        use futures_util::TryStreamExt;
        let mut rows = db::query(
            "select id, registry_id, data_key_wrapped from subject \
             where data_key_wrapped is not null",
        )
        .fetch(self.pool());
        let mut keys = SubjectKeys::new();
        while let Some(r) = rows.try_next().await? {
            keys.insert(
                r.try_get("id")?,
                (r.id("registry_id")?, r.try_get("data_key_wrapped")?),
            );
        }
        Ok(keys)
    }

    /// Persons in treatment at any time in `year` (prevalence): one fact per person
    /// with their latest-starting episode's attributes, streamed in person order.
    /// `(part, parts)` selects a range of the people's references.
    pub fn export_prevalence<'a>(
        &'a self,
        keyring: &'a Keyring,
        year: i64,
        (part, parts): (i64, i64),
    ) -> impl futures_util::Stream<Item = Result<EntrantFact, StoreError>> + Send + 'a {
        use futures_util::StreamExt;
        let (lower, upper) = reference_range(part, parts);
        // One reference per person and domain (all of a subject's references move
        // together in a rotation), so partitioning by it is partitioning by person.
        db::query(&PREVALENCE)
            .bind(year)
            .bind(lower)
            .bind(upper)
            .fetch(self.pool())
            .map(move |row| {
                let r = row?;
                let (plain, centre_type) = plain_from_line(&r.try_get::<String, _>("line")?)?;
                Ok(EntrantFact {
                    person: treated_person(keyring, &r)?,
                    year,
                    plain,
                    centre_type,
                    district: r.try_get("district")?,
                    sealed: None,
                })
            })
    }

    /// Deaths in the years `from..=to`. Whether the person was known to treatment
    /// is found through the keys: the death's mortality reference names the subject,
    /// whose treatment references (its own and those of every subject a registrar
    /// merged with it) find the episodes.
    pub async fn export_deaths(
        &self,
        keyring: &Keyring,
        from: i64,
        to: i64,
    ) -> Result<Vec<DeathFact>, StoreError> {
        let mut conn = self.connection().await?;
        let rows = db::query(
            "select d.*, m.district from death d join municipality m on m.slug = d.municipality \
             where d.death_year between $1 and $2 order by d.id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut conn)
        .await?;
        let merged = self.merged_subjects().await?;
        let holder = |subject: i64| merged.get(&subject).copied().unwrap_or(subject);
        let mut facts = Vec::with_capacity(rows.len());
        for r in &rows {
            let (year, quarter): (i64, i64) =
                (r.try_get("death_year")?, r.try_get("death_quarter")?);
            let mut known = false;
            let mut left_recently = false;
            if let Some(reference) = r.try_get::<Option<Vec<u8>>, _>("subject_ref")? {
                let (subject, _) = keyring
                    .subject_of(RecordDomain::Mortality, &reference)
                    .ok_or(StoreError::Unresolvable)?;
                let group = super::subjects::merge_group(&mut conn, holder(subject)).await?;
                let mut episodes = Vec::new();
                for member in &group {
                    let treatment = super::refs::reference(
                        keyring,
                        RecordDomain::Treatment,
                        member.subject_id,
                        member.version,
                    )?;
                    episodes.extend(
                        db::query(
                            "select start_year, end_year, end_quarter from episode \
                             where subject_ref = $1",
                        )
                        .bind(&treatment)
                        .fetch_all(&mut conn)
                        .await?,
                    );
                }
                for e in &episodes {
                    known |= e.try_get::<i64, _>("start_year")? <= year;
                    let end: Option<(i64, i64)> = e
                        .try_get::<Option<i64>, _>("end_year")?
                        .zip(e.try_get::<Option<i64>, _>("end_quarter")?);
                    left_recently |= end.is_some_and(|(y, q)| {
                        (0..=4).contains(&((year * 4 + quarter) - (y * 4 + q)))
                    });
                }
            }
            facts.push(death_fact(r, known, left_recently)?);
        }
        Ok(facts)
    }

    /// Overdoses in the years `from..=to`.
    pub async fn export_overdoses(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<OverdoseFact>, StoreError> {
        let rows = db::query(
            "select o.*, m.district from overdose o join municipality m on m.slug = o.municipality \
             where o.event_year between $1 and $2 order by o.id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OverdoseFact {
                    person: r.try_get("id")?,
                    year: r.try_get("event_year")?,
                    quarter: r.try_get("event_quarter")?,
                    sex: r.try_get("sex")?,
                    age_band: r.try_get("age_band")?,
                    municipality: r.try_get("municipality")?,
                    district: r.try_get("district")?,
                    source: r.try_get("source")?,
                    outcome: r.try_get("outcome")?,
                    substances: split(&r.try_get::<String, _>("substance_codes")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The ledger, newest first.
    pub async fn ledger(&self, limit: i64) -> Result<Vec<LedgerEntry>, StoreError> {
        let rows = db::query(
            "select release_id, kind, year_from, year_to, snapshots, request, purpose, requester, \
             output_hash, created_at from release_ledger order by id desc limit $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LedgerEntry {
                    release_id: r.id("release_id")?,
                    kind: r.try_get("kind")?,
                    year_from: r.try_get("year_from")?,
                    year_to: r.try_get("year_to")?,
                    snapshots: r.try_get("snapshots")?,
                    request: r.try_get("request")?,
                    purpose: r.try_get("purpose")?,
                    requester: r.try_get("requester")?,
                    output_hash: r.try_get("output_hash")?,
                    created_at: r.stamp("created_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Every snapshot version of `year` already released statutorily.
    pub async fn statutory_versions(&self, year: i64) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<String> = db::query_scalar(
            "select snapshots from release_ledger where kind = 'statutory' and year_from = $1",
        )
        .bind(year)
        .fetch_all(self.pool())
        .await?;
        let mut versions: Vec<i64> = rows
            .iter()
            .filter_map(|s| s.split(':').nth(1).and_then(|v| v.parse::<i64>().ok()))
            .collect();
        versions.sort_unstable();
        versions.dedup();
        Ok(versions)
    }

    /// Records a release and its audit event in one transaction.
    pub async fn record_release(
        &self,
        entry: &LedgerEntry,
        event: &crate::audit::AuditEvent,
    ) -> Result<(), StoreError> {
        self.write_with((entry.clone(), event.clone()), |conn, (entry, event)| {
            Box::pin(async move {
                db::query(
                    "insert into release_ledger (release_id, kind, year_from, year_to, \
                     snapshots, request, purpose, requester, output_hash, created_at) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(db::uuid(&entry.release_id))
                .bind(&entry.kind)
                .bind(entry.year_from)
                .bind(entry.year_to)
                .bind(&entry.snapshots)
                .bind(&entry.request)
                .bind(&entry.purpose)
                .bind(&entry.requester)
                .bind(&entry.output_hash)
                .bind(db::stamp(&entry.created_at))
                .execute(&mut *conn)
                .await?;
                Ok::<_, StoreError>(super::writer::Staged {
                    value: (),
                    events: vec![event.clone()],
                })
            })
        })
        .await
    }
}
