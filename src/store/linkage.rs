//! Fuzzy linkage in the store (issue 16): a subject's sealed similarity encoding and
//! blocking buckets, the candidates an identity's buckets find, and the review queue.
//! The matcher's rules are in `crate::linkage`; nothing here compares anything.

use super::db::{self, Conn};
use super::{LockKey, StoreError, now_rfc3339};
use crate::crypto::Keyring;
use crate::crypto::similarity::{BLOCKING_SCHEME, Similarity, compare, sealed_version};
use crate::identity::subject::Probe;
use crate::linkage::{Decision, Levels, Model, Verdict};

/// Candidates read for one identity at most, those sharing most buckets first: a
/// few hundred, however common the name (BENCHMARKS.md).
const MAX_CANDIDATES: i64 = 200;
/// Review items queued for one new subject at most (its best candidates).
const MAX_REVIEWS: usize = 5;

/// The advisory locks of the buckets an identity looks in: concurrent
/// registrations that could be one person run one after another, so the second
/// sees the first's subject and its encoding. Two records that would find each
/// other always look in a common bucket: the selective keys are looked in by both,
/// and where one is stored under a broad key the other looks in (a name with the
/// year, the names alone), both look in the narrow key the year-only or date-less
/// one is stored under. So the broad buckets, which every namesake shares, are
/// never locked by ordinary registrations.
pub(crate) fn bucket_locks(probes: &[Probe]) -> impl Iterator<Item = LockKey> + '_ {
    probes
        .iter()
        .flat_map(|p| p.buckets.probed.iter())
        .map(|b| LockKey::of("bucket", &[&b.to_be_bytes()]))
}

/// Replaces a subject's sealed encoding and buckets (a backfill, or a rotation's
/// new version).
pub(crate) async fn replace(
    conn: &mut Conn,
    subject_id: i64,
    sealed: &[u8],
    buckets: &[i64],
) -> Result<(), StoreError> {
    db::query("delete from subject_encoding where subject_id = $1")
        .bind(subject_id)
        .execute(&mut *conn)
        .await?;
    insert(conn, subject_id, sealed, buckets).await
}

/// Removes an erased subject's encoding and buckets, and withdraws its open
/// review items: nothing may link to an erased person.
pub(crate) async fn forget(conn: &mut Conn, subject_id: i64) -> Result<(), StoreError> {
    for sql in [
        "delete from subject_encoding where subject_id = $1",
        "delete from subject_bucket where subject_id = $1",
    ] {
        db::query(sql).bind(subject_id).execute(&mut *conn).await?;
    }
    db::query(
        "update link_review set status = 'withdrawn', decided_at = $2 \
         where status = 'open' and (subject_id = $1 or candidate_id = $1)",
    )
    .bind(subject_id)
    .bind(db::stamp(&now_rfc3339()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Stores a new subject's sealed encoding and buckets.
pub(crate) async fn insert(
    conn: &mut Conn,
    subject_id: i64,
    sealed: &[u8],
    buckets: &[i64],
) -> Result<(), StoreError> {
    db::query("insert into subject_encoding (subject_id, sealed, blocking) values ($1, $2, $3)")
        .bind(subject_id)
        .bind(sealed)
        .bind(BLOCKING_SCHEME)
        .execute(&mut *conn)
        .await?;
    replace_buckets(conn, subject_id, buckets).await
}

/// Replaces a subject's buckets.
async fn replace_buckets(
    conn: &mut Conn,
    subject_id: i64,
    buckets: &[i64],
) -> Result<(), StoreError> {
    db::query("delete from subject_bucket where subject_id = $1")
        .bind(subject_id)
        .execute(&mut *conn)
        .await?;
    if buckets.is_empty() {
        return Ok(());
    }
    let values: Vec<String> = (0..buckets.len())
        .map(|i| format!("(${}, $1)", i + 2))
        .collect();
    let sql = format!(
        "insert into subject_bucket (bucket, subject_id) values {}",
        values.join(", ")
    );
    let mut query = db::query(&sql).bind(subject_id);
    for b in buckets {
        query = query.bind(*b);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// One existing subject the matcher weighed.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The subject that holds the record's person: the candidate itself, or the
    /// subject it was merged into.
    pub subject_id: i64,
    /// How the identity compares with the candidate's encoding.
    pub similarity: Similarity,
    /// What the matcher says.
    pub verdict: Verdict,
}

/// What the matcher says about an identity against the stored subjects: the
/// subject to link to, if one is certain enough, and the candidates for review.
#[derive(Debug, Clone, Default)]
pub struct Matched {
    /// The subject to link to.
    pub link: Option<Candidate>,
    /// Candidates a registrar should look at (best first, at most five).
    pub review: Vec<Candidate>,
}

/// Finds the candidates sharing a bucket with the identity and lets the matcher
/// decide.
pub(crate) async fn match_identity(
    conn: &mut Conn,
    keyring: &Keyring,
    probes: &[Probe],
) -> Result<Matched, StoreError> {
    Ok(Matched::of(weigh_candidates(conn, keyring, probes).await?))
}

impl Matched {
    /// What the registry does with an identity's weighed candidates: link to the
    /// most probable one that links; if none does, queue the (at most
    /// [`MAX_REVIEWS`]) likeliest of those left to review. Public for the
    /// benchmarks, which decide in memory as the service does.
    pub fn of(weighed: Vec<Candidate>) -> Self {
        let link = weighed
            .iter()
            .filter(|c| c.verdict.decision == Decision::Link)
            .max_by(|a, b| a.verdict.probability.total_cmp(&b.verdict.probability))
            .cloned();
        let mut review = Vec::new();
        if link.is_none() {
            review = weighed
                .into_iter()
                .filter(|c| c.verdict.decision == Decision::Review)
                .collect();
            review.sort_by(|a, b| b.verdict.alone.total_cmp(&a.verdict.alone));
            review.truncate(MAX_REVIEWS);
        }
        Matched { link, review }
    }
}

/// Every subject sharing a bucket with the identity under any live key version
/// (at most `MAX_CANDIDATES`), its encoding opened and weighed, most probable
/// first. A merged subject speaks for the subject it joined; erased subjects have
/// no encoding. Public for the scale benchmark, which checks whether a slipped
/// repeat's own subject is among them (blocking recall).
pub async fn weigh_candidates(
    conn: &mut Conn,
    keyring: &Keyring,
    probes: &[Probe],
) -> Result<Vec<Candidate>, StoreError> {
    let buckets: Vec<i64> = {
        let mut all: Vec<i64> = probes
            .iter()
            .flat_map(|p| p.buckets.probed.iter().copied())
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    };
    if buckets.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=buckets.len()).map(|i| format!("${i}")).collect();
    // The subjects sharing most buckets first: in the largest blocks of common
    // names the cap keeps those closest to the identity.
    let sql = format!(
        "select s.id, s.registry_id, s.merged_into, e.sealed, \
         (select max(id) from subject) as population from \
         (select subject_id, count(*) as shared from subject_bucket \
          where bucket in ({}) group by subject_id \
          order by shared desc, subject_id limit {MAX_CANDIDATES}) b \
         join subject s on s.id = b.subject_id \
         join subject_encoding e on e.subject_id = s.id \
         where s.shredded_at is null \
         order by b.shared desc, s.id",
        placeholders.join(", ")
    );
    let mut query = db::query(&sql);
    for b in &buckets {
        query = query.bind(*b);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    // One comparison per holding subject, the closest of its rows: the record is
    // weighed against subjects, not against the registrations merged into one.
    let model = Model::registry();
    let mut closest: Vec<(i64, Similarity, f64)> = Vec::with_capacity(rows.len());
    // The registry's size for the prior: the highest subject id, an upper bound
    // (merged and erased subjects and unused ids count), so it errs stricter.
    let population = match rows.first() {
        Some(row) => u64::try_from(row.try_get::<i64, _>("population")?).unwrap_or(0),
        None => 0,
    };
    for row in &rows {
        let sealed: Vec<u8> = row.try_get("sealed")?;
        let registry_id = row.id("registry_id")?;
        let version = sealed_version(&sealed).map_err(|_| StoreError::Unresolvable)?;
        let (Some(keys), Some(probe)) = (
            keyring.similarity_version(version),
            probes.iter().find(|p| p.version == version),
        ) else {
            // A version the key file no longer holds: rotation re-encodes every
            // subject before a version may be retired, so this is a subject
            // half-way through one; it is found under its new version.
            continue;
        };
        let encoding = keys
            .open(&sealed, &registry_id)
            .map_err(|_| StoreError::Unresolvable)?;
        let id: i64 = row.try_get("id")?;
        let merged_into: Option<i64> = row.try_get("merged_into")?;
        let holder = merged_into.unwrap_or(id);
        let similarity = compare(&probe.encoding, &encoding);
        let weight = model.weight(&Levels::of(&similarity));
        match closest.iter_mut().find(|(h, ..)| *h == holder) {
            Some(c) if c.2 >= weight => {}
            Some(c) => *c = (holder, similarity, weight),
            None => closest.push((holder, similarity, weight)),
        }
    }
    let similarities: Vec<Similarity> = closest.iter().map(|(_, s, _)| *s).collect();
    let verdicts = model.decide_among(&similarities, population);
    let mut best: Vec<Candidate> = closest
        .into_iter()
        .zip(verdicts)
        .map(|((subject_id, similarity, _), verdict)| Candidate {
            subject_id,
            similarity,
            verdict,
        })
        .collect();
    best.sort_by(|a, b| b.verdict.probability.total_cmp(&a.verdict.probability));
    Ok(best)
}

/// Queues a new subject and its possible earlier selves for a registrar; returns
/// the review ids.
pub(crate) async fn queue_reviews(
    conn: &mut Conn,
    subject_id: i64,
    candidates: &[Candidate],
) -> Result<Vec<String>, StoreError> {
    let mut ids = Vec::with_capacity(candidates.len());
    for c in candidates {
        let review_id = uuid::Uuid::new_v4().to_string();
        let s = &c.similarity;
        db::query(
            "insert into link_review (review_id, subject_id, candidate_id, probability, given, \
             family, names_swapped, birth, sex_agrees, personal_number, status, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'open', $11)",
        )
        .bind(db::uuid(&review_id))
        .bind(subject_id)
        .bind(c.subject_id)
        .bind(c.verdict.deciding().clamp(0.0, 1.0))
        .bind(s.given)
        .bind(s.family)
        .bind(s.names_swapped)
        .bind(<&str>::from(s.birth))
        .bind(s.sex)
        .bind(<&str>::from(s.number))
        .bind(db::stamp(&now_rfc3339()))
        .execute(&mut *conn)
        .await?;
        ids.push(review_id);
    }
    Ok(ids)
}

impl super::Store {
    /// Live subjects without a similarity encoding (created before fuzzy linkage)
    /// or stored under an older blocking scheme, after row `after`, at most
    /// `limit`, for the start-up backfill.
    pub async fn subjects_to_encode(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<super::subjects::SealedSubject>, StoreError> {
        super::subjects::sealed_where(
            self,
            &format!(
                "id > {after} and shredded_at is null \
                 and id not in (select subject_id from subject_encoding \
                 where blocking = {BLOCKING_SCHEME})"
            ),
            limit,
        )
        .await
    }

    /// Stores a subject's encoding and buckets unless it was erased meanwhile.
    pub async fn set_encoding(
        &self,
        subject_id: i64,
        sealed: Vec<u8>,
        buckets: Vec<i64>,
    ) -> Result<(), StoreError> {
        self.write_with(
            (subject_id, sealed, buckets),
            |conn, (id, sealed, buckets)| {
                Box::pin(async move {
                    let live: Option<i64> = db::query_scalar(
                        "select id from subject where id = $1 and shredded_at is null",
                    )
                    .bind(*id)
                    .fetch_optional(&mut *conn)
                    .await?;
                    if live.is_some() {
                        replace(conn, *id, sealed, buckets).await?;
                    }
                    Ok::<_, StoreError>(super::writer::Staged::unaudited(()))
                })
            },
        )
        .await
    }
}

/// One open review item: the two subjects and how they compare (no values).
#[derive(Debug, Clone)]
pub struct ReviewRow {
    /// Public id of the item.
    pub review_id: String,
    /// When it was queued.
    pub created_at: String,
    /// The matcher's probability that the two are one person.
    pub probability: f64,
    /// Dice of the given names.
    pub given: Option<f64>,
    /// Dice of the family names.
    pub family: Option<f64>,
    /// Whether the names agreed better swapped.
    pub names_swapped: bool,
    /// How the birth dates agree.
    pub birth: String,
    /// Whether the sexes agree.
    pub sex_agrees: Option<bool>,
    /// How the personal numbers agree.
    pub personal_number: String,
    /// The subject created beside a possible earlier self.
    pub subject: String,
    /// The earlier subject.
    pub candidate: String,
}

/// A registrar's decision on a review item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewDecision {
    /// One person: the newer subject is merged into the earlier one.
    Link,
    /// Two people.
    Distinct,
}

/// Why a subject cannot be merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeRefusal {
    /// The item was decided already (or withdrawn by an erasure).
    Decided,
    /// One of the two was erased, or already merged into another.
    NotLinkable,
}

impl super::Store {
    /// The oldest open review items, at most `limit`.
    pub async fn open_reviews(&self, limit: i64) -> Result<Vec<ReviewRow>, StoreError> {
        let rows = db::query(
            "select r.review_id, r.created_at, r.probability, r.given, r.family, \
             r.names_swapped, r.birth, r.sex_agrees, r.personal_number, \
             s.registry_id as subject, c.registry_id as candidate \
             from link_review r join subject s on s.id = r.subject_id \
             join subject c on c.id = r.candidate_id \
             where r.status = 'open' order by r.id limit $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReviewRow {
                    review_id: r.id("review_id")?,
                    created_at: r.stamp("created_at")?,
                    probability: r.try_get("probability")?,
                    given: r.try_get("given")?,
                    family: r.try_get("family")?,
                    names_swapped: r.try_get("names_swapped")?,
                    birth: r.try_get("birth")?,
                    sex_agrees: r.try_get("sex_agrees")?,
                    personal_number: r.try_get("personal_number")?,
                    subject: r.id("subject")?,
                    candidate: r.id("candidate")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Records a registrar's decision on an open item, audited with `event`; a
    /// link merges the newer subject into the earlier one. `Err(Ok(refusal))`
    /// when the item cannot be decided so.
    pub async fn decide_review(
        &self,
        review_id: &str,
        decision: ReviewDecision,
        reason: &'static str,
        event: crate::audit::AuditEvent,
    ) -> Result<Result<(), MergeRefusal>, StoreError> {
        let job = (review_id.to_owned(), decision, reason, event);
        self.write_with(job, |conn, (review_id, decision, reason, event)| {
            Box::pin(async move {
                let lock = super::for_update(conn);
                let row = db::query(&format!(
                    "select id, subject_id, candidate_id, status from link_review \
                     where review_id = $1{lock}"
                ))
                .bind(db::uuid(review_id))
                .fetch_optional(&mut *conn)
                .await?
                .ok_or(StoreError::NotFound)?;
                let status: String = row.try_get("status")?;
                if status != "open" {
                    return Ok(super::writer::Staged::unaudited(Err(MergeRefusal::Decided)));
                }
                let (id, subject, candidate): (i64, i64, i64) = (
                    row.try_get("id")?,
                    row.try_get("subject_id")?,
                    row.try_get("candidate_id")?,
                );
                if *decision == ReviewDecision::Link {
                    if let Err(refusal) = merge(conn, subject, candidate).await? {
                        return Ok(super::writer::Staged::unaudited(Err(refusal)));
                    }
                }
                let status = match decision {
                    ReviewDecision::Link => "linked",
                    ReviewDecision::Distinct => "distinct",
                };
                db::query(
                    "update link_review set status = $1, decided_by = $2, decided_at = $3, \
                     reason = $4 where id = $5",
                )
                .bind(status)
                .bind(&event.actor)
                .bind(db::stamp(&now_rfc3339()))
                .bind(*reason)
                .bind(id)
                .execute(&mut *conn)
                .await?;
                Ok(super::writer::Staged {
                    value: Ok(()),
                    events: vec![event.clone()],
                })
            })
        })
        .await
    }
}

/// Merges `subject` into `into`: both must be live and not merged already; every
/// subject merged into `subject` follows it. Records stay where they are: a merged
/// subject speaks for the one it joined (linkage finds the holder).
async fn merge(
    conn: &mut Conn,
    subject: i64,
    into: i64,
) -> Result<Result<(), MergeRefusal>, StoreError> {
    let lock = super::for_update(conn);
    let live: Vec<i64> = db::query_scalar(&format!(
        "select id from subject where id in ($1, $2) and shredded_at is null \
         and merged_into is null{lock}"
    ))
    .bind(subject)
    .bind(into)
    .fetch_all(&mut *conn)
    .await?;
    if live.len() != 2 {
        return Ok(Err(MergeRefusal::NotLinkable));
    }
    db::query("update subject set merged_into = $1 where id = $2 or merged_into = $2")
        .bind(into)
        .bind(subject)
        .execute(&mut *conn)
        .await?;
    // Other open items between the two are settled by this decision.
    db::query(
        "update link_review set status = 'linked', decided_at = $3 where status = 'open' \
         and ((subject_id = $1 and candidate_id = $2) or (subject_id = $2 and candidate_id = $1))",
    )
    .bind(subject)
    .bind(into)
    .bind(db::stamp(&now_rfc3339()))
    .execute(&mut *conn)
    .await?;
    Ok(Ok(()))
}

impl super::Store {
    /// Undoes a merge: the subject `registry_id` stands for itself again, with
    /// every record it kept; audited with `event`. `Ok(false)` when it was not
    /// merged into another.
    pub async fn split_subject(
        &self,
        registry_id: &str,
        event: crate::audit::AuditEvent,
    ) -> Result<bool, StoreError> {
        let job = (registry_id.to_owned(), event);
        self.write_with(job, |conn, (registry_id, event)| {
            Box::pin(async move {
                let lock = super::for_update(conn);
                let merged: Option<Option<i64>> = db::query_scalar(&format!(
                    "select merged_into from subject where registry_id = $1 \
                     and shredded_at is null{lock}"
                ))
                .bind(db::uuid(registry_id))
                .fetch_optional(&mut *conn)
                .await?;
                match merged.ok_or(StoreError::NotFound)? {
                    None => Ok(super::writer::Staged::unaudited(false)),
                    Some(_) => {
                        db::query("update subject set merged_into = null where registry_id = $1")
                            .bind(db::uuid(registry_id))
                            .execute(&mut *conn)
                            .await?;
                        Ok(super::writer::Staged {
                            value: true,
                            events: vec![event.clone()],
                        })
                    }
                }
            })
        })
        .await
    }
}

impl super::Store {
    /// Every subject merged into another, with the subject it joined (the freeze
    /// counts each group as one person).
    pub async fn merged_subjects(&self) -> Result<std::collections::HashMap<i64, i64>, StoreError> {
        let rows = db::query("select id, merged_into from subject where merged_into is not null")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("merged_into")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
