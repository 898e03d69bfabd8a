//! Subjects: pseudonyms, coarse attributes, wrapped data keys and sealed identity.
//!
//! Linking rule (deterministic cascade, reference/linkage.md): a record links to an
//! existing subject when its personal-number pseudonym matches, else when its
//! attribute pseudonym matches a subject that does not hold a *different* personal
//! number; otherwise a new subject is created. The rule used is recorded.

use crate::store::db::{self, Conn, Row};

use super::db::Arg;
use super::writer::Staged;
use super::{LockKey, Store, StoreError, lock_keys, now_rfc3339};
use crate::crypto::Keyring;
use crate::identity::subject::{PreparedSubject, Probe};

/// Today's date, `YYYY-MM-DD` (UTC).
fn today() -> String {
    now_rfc3339().chars().take(10).collect()
}

pub use crate::identity::subject::{NewSubject, SubjectLookup};

/// How a record was linked to its subject.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    utoipa::ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum LinkRule {
    /// The personal-number pseudonym matched.
    PersonalNumber,
    /// The full-attribute pseudonym matched.
    Attributes,
    /// The similarity encodings matched (fuzzy linkage, `crate::linkage`).
    Similarity,
    /// No match: a new subject was created.
    New,
}

impl LinkRule {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The subject a record was linked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linked {
    /// Internal row id (never shown outside the service).
    pub subject_id: i64,
    /// Public registry id.
    pub registry_id: String,
    /// The rule that linked it.
    pub rule: LinkRule,
    /// Pseudonym-key version of the subject, read under its row lock: the version of
    /// every reference to it (identity/reference.rs).
    pub version: u32,
    /// Review items queued for a registrar when the subject was created beside
    /// possible earlier selves (their ids, for the audit log).
    pub reviews: Vec<String>,
}

impl Linked {
    /// The reference to this subject that a record of `domain` stores.
    pub fn reference(
        &self,
        keyring: &crate::crypto::Keyring,
        domain: crate::crypto::reference::RecordDomain,
    ) -> Result<crate::crypto::reference::SubjectRef, crate::crypto::CryptoError> {
        keyring.subject_ref(domain, self.subject_id, self.version)
    }
}

/// A live subject's pseudonyms and similarity encoding under a new key version.
#[derive(Debug, Clone)]
pub struct Moved {
    /// The pseudonyms.
    pub lookup: SubjectLookup,
    /// The sealed encoding.
    pub encoding_sealed: Vec<u8>,
    /// The buckets.
    pub buckets: Vec<i64>,
}

/// The sealed parts of a subject, for opening its identity.
#[derive(Debug, Clone)]
pub struct SealedSubject {
    /// Internal row id.
    pub subject_id: i64,
    /// Public registry id.
    pub registry_id: String,
    /// Wrapped data key (`None` once shredded).
    pub data_key_wrapped: Option<Vec<u8>>,
    /// Sealed identity (`None` once shredded).
    pub identity_sealed: Option<Vec<u8>>,
    /// Pseudonym-key version of the stored pseudonyms.
    pub pseudonym_version: u32,
    /// TDI sex code.
    pub sex: String,
    /// Birth year.
    pub birth_year: i64,
    /// When it was shredded, if it was.
    pub shredded_at: Option<String>,
}

fn sealed_from_row(row: &Row) -> Result<SealedSubject, sqlx::Error> {
    Ok(SealedSubject {
        subject_id: row.try_get("id")?,
        registry_id: row.id("registry_id")?,
        data_key_wrapped: row.try_get("data_key_wrapped")?,
        identity_sealed: row.try_get("identity_sealed")?,
        pseudonym_version: u32::try_from(row.try_get::<i64, _>("pseudonym_version")?).unwrap_or(0),
        sex: row.try_get("sex")?,
        birth_year: row.try_get("birth_year")?,
        shredded_at: row.opt_stamp("shredded_at")?,
    })
}

/// Subjects matching a fixed condition (never user input), in id order.
pub(crate) async fn sealed_where(
    store: &Store,
    condition: &str,
    limit: i64,
) -> Result<Vec<SealedSubject>, StoreError> {
    let rows = db::query(&format!(
        "select {SEALED_COLUMNS} from subject where {condition} order by id limit $1"
    ))
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    Ok(rows.iter().map(sealed_from_row).collect::<Result<_, _>>()?)
}

const SEALED_COLUMNS: &str = "id, registry_id, data_key_wrapped, identity_sealed, \
     pseudonym_version, sex, birth_year, shredded_at";

/// Tables whose rows carry their own data key (the table name is also the AAD table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyedTable {
    /// Drug-related deaths.
    Death,
    /// Overdoses.
    Overdose,
}

impl KeyedTable {
    /// Every such table.
    pub const ALL: [Self; 2] = [Self::Death, Self::Overdose];

    /// Table name and public-id column (fixed strings, never user input).
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            Self::Death => ("death", "death_id"),
            Self::Overdose => ("overdose", "overdose_id"),
        }
    }
}

/// Rows per key version, for `registry keys status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionCount {
    /// `master` or `pseudonym`.
    pub kind: String,
    /// Key version.
    pub version: i64,
    /// Rows on it.
    pub rows: i64,
}

/// Finds or creates the subject for an identity, inside the caller's transaction:
/// the exact cascade first, then the similarity matcher; a new subject gets its
/// encoding and buckets, and its possible earlier selves go to the review queue.
pub async fn link_or_create(
    conn: &mut Conn,
    keyring: &Keyring,
    prepared: &PreparedSubject,
) -> Result<Linked, StoreError> {
    let (lookups, new) = (&prepared.lookups, &prepared.new);
    // Concurrent registrations of one identity (through any service instance) wait
    // here for each other, so the second sees the subject the first created; those
    // that share a bucket wait too, so a slip of the same person does as well.
    lock_keys(
        conn,
        lookups
            .iter()
            .chain(std::iter::once(&new.lookup))
            .flat_map(pseudonym_locks)
            .chain(super::linkage::bucket_locks(&prepared.probes)),
    )
    .await?;
    let has_pn = new.lookup.pn.is_some();
    // The same person may arrive under other attributes (a name spelled differently,
    // with or without the personal number): the row lock makes every change to this
    // subject's records — the six-month rule reads them first — wait for the one
    // before. A subject erased meanwhile is not linked to.
    let found = match find_link(conn, lookups, has_pn, Some(&new.lookup)).await? {
        Some(linked) => lock_subject(conn, linked).await?,
        None => None,
    };
    if let Some(linked) = found {
        return Ok(linked);
    }
    let matched = super::linkage::match_identity(conn, keyring, &prepared.probes).await?;
    if let Some(candidate) = &matched.link {
        let linked = linked_by_similarity(conn, candidate).await?;
        if let Some(linked) = lock_subject(conn, linked).await? {
            return Ok(linked);
        }
    }
    let subject_id = insert_subject(conn, new).await?;
    super::linkage::insert(conn, subject_id, &new.encoding_sealed, &new.buckets).await?;
    let reviews = super::linkage::queue_reviews(conn, subject_id, &matched.review).await?;
    Ok(Linked {
        subject_id,
        registry_id: new.registry_id.clone(),
        rule: LinkRule::New,
        version: new.lookup.version,
        reviews,
    })
}

/// Creates the subject for an identity without looking for an earlier self: only for
/// loading a population whose persons are distinct by construction (the
/// national-scale benchmark fills a registry to a million people this way). Every
/// path that records a real person goes through [`link_or_create`].
#[doc(hidden)]
pub async fn create_distinct(
    conn: &mut Conn,
    prepared: &PreparedSubject,
) -> Result<Linked, StoreError> {
    let new = &prepared.new;
    let subject_id = insert_subject(conn, new).await?;
    super::linkage::insert(conn, subject_id, &new.encoding_sealed, &new.buckets).await?;
    Ok(Linked {
        subject_id,
        registry_id: new.registry_id.clone(),
        rule: LinkRule::New,
        version: new.lookup.version,
        reviews: Vec::new(),
    })
}

async fn insert_subject(conn: &mut Conn, new: &NewSubject) -> Result<i64, StoreError> {
    Ok(db::query_scalar(
        "insert into subject (registry_id, pn_pseudonym, attr_pseudonym, \
         pseudonym_version, sex, birth_year, birth_year_only, data_key_wrapped, \
         master_key_version, identity_sealed, created_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) returning id",
    )
    .bind(db::uuid(&new.registry_id))
    .bind(new.lookup.pn.map(|p| p.to_vec()))
    .bind(new.lookup.attr.to_vec())
    .bind(i64::from(new.lookup.version))
    .bind(&new.sex)
    .bind(new.birth_year)
    .bind(new.birth_year_only)
    .bind(&new.data_key_wrapped)
    .bind(i64::from(new.master_key_version))
    .bind(&new.identity_sealed)
    // The day only: the exact time would match the creating record's own
    // `created_at`, tying the registry id to it in a dump.
    .bind(db::day(&today()))
    .fetch_one(&mut *conn)
    .await?)
}

async fn registry_id_of(conn: &mut Conn, subject_id: i64) -> Result<String, StoreError> {
    let row = db::query("select registry_id from subject where id = $1")
        .bind(subject_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.id("registry_id")?)
}

/// The advisory locks of one lookup's pseudonyms.
fn pseudonym_locks(lookup: &SubjectLookup) -> impl Iterator<Item = LockKey> + '_ {
    std::iter::once(&lookup.attr)
        .chain(lookup.pn.as_ref())
        .map(|p| LockKey::of("pseudonym", &[p.as_ref()]))
}

/// Holds the subject's row until the transaction ends (PostgreSQL; SQLite write
/// transactions run one at a time anyway) and reads its pseudonym version under the
/// lock: a rotation that moved the subject meanwhile has moved its references too.
async fn lock_subject(conn: &mut Conn, linked: Linked) -> Result<Option<Linked>, StoreError> {
    let lock = super::for_update(conn);
    current_version(conn, linked, lock).await
}

/// Re-reads a linked subject's pseudonym version, holding its row when `lock` is
/// `" for update"`. A subject a registrar merged into another speaks for it: the
/// record links to the subject it joined.
/// `None` when the subject was shredded after the lookup matched it: nothing may
/// link to an erased person.
async fn current_version(
    conn: &mut Conn,
    linked: Linked,
    lock: &str,
) -> Result<Option<Linked>, StoreError> {
    let sql = format!(
        "select pseudonym_version, merged_into from subject \
         where id = $1 and shredded_at is null{lock}"
    );
    let Some(row) = db::query(&sql)
        .bind(linked.subject_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    if let Some(holder) = row.try_get::<Option<i64>, _>("merged_into")? {
        // Merges are flat (a merge moves the subjects merged into the one merged),
        // so this is one step.
        let registry_id = registry_id_of(conn, holder).await?;
        let holder = Linked {
            subject_id: holder,
            registry_id,
            ..linked
        };
        return Box::pin(current_version(conn, holder, lock)).await;
    }
    let version: i64 = row.try_get("pseudonym_version")?;
    Ok(Some(Linked {
        version: u32::try_from(version).map_err(|_| StoreError::Unresolvable)?,
        ..linked
    }))
}

/// The subject with this personal number (its pseudonyms under every key
/// version), or the subject it was merged into.
pub async fn find_by_number(
    conn: &mut Conn,
    numbers: &[(u32, crate::crypto::pseudonym::Pseudonym)],
) -> Result<Option<Linked>, StoreError> {
    for (version, pn) in numbers {
        let row = db::query(
            "select id, registry_id from subject \
             where pn_pseudonym = $1 and pseudonym_version = $2 and shredded_at is null",
        )
        .bind(pn.to_vec())
        .bind(i64::from(*version))
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = row {
            let linked = Linked {
                subject_id: row.try_get("id")?,
                registry_id: row.id("registry_id")?,
                rule: LinkRule::PersonalNumber,
                version: *version,
                reviews: Vec::new(),
            };
            return current_version(conn, linked, "").await;
        }
    }
    Ok(None)
}

/// One subject of a person as a registrar's merges made them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// Internal id.
    pub subject_id: i64,
    /// Public id.
    pub registry_id: String,
    /// Its own pseudonym-key version (a rotation moves subjects one by one).
    pub version: u32,
    /// Erased.
    pub shredded: bool,
}

/// A person: the subject `holder` and every subject merged into it (merges are
/// flat), in id order.
pub async fn merge_group(conn: &mut Conn, holder: i64) -> Result<Vec<GroupMember>, StoreError> {
    let rows = db::query(
        "select id, registry_id, pseudonym_version, \
         cast(case when shredded_at is null then 0 else 1 end as bigint) as shredded \
         from subject where id = $1 or merged_into = $1 order by id",
    )
    .bind(holder)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(GroupMember {
                subject_id: r.try_get("id")?,
                registry_id: r.id("registry_id")?,
                version: u32::try_from(r.try_get::<i64, _>("pseudonym_version")?)
                    .map_err(|_| StoreError::Unresolvable)?,
                shredded: r.try_get::<i64, _>("shredded")? != 0,
            })
        })
        .collect()
}

/// Crypto-shreds a subject inside the caller's transaction: destroys its wrapped
/// data key, sealed identity and pseudonyms; the coarse statistical attributes stay.
/// An already shredded subject is left as it is and reported so.
pub async fn shred_in(conn: &mut Conn, registry_id: &str) -> Result<Shredded, StoreError> {
    // The row lock keeps a rotation from moving the subject (and its references)
    // between reading its version and erasing the records that name it.
    let lock = super::for_update(conn);
    let row = db::query(&format!(
        "select id, pseudonym_version, shredded_at from subject where registry_id = $1{lock}"
    ))
    .bind(db::uuid(registry_id))
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    let (id, version): (i64, i64) = (row.try_get("id")?, row.try_get("pseudonym_version")?);
    let already: Option<String> = row.opt_stamp("shredded_at")?;
    if already.is_none() {
        db::query(
            "update subject set data_key_wrapped = null, master_key_version = null, \
             identity_sealed = null, pn_pseudonym = null, attr_pseudonym = null, \
             shredded_at = $1 where id = $2",
        )
        .bind(db::stamp(&now_rfc3339()))
        .bind(id)
        .execute(&mut *conn)
        .await?;
        super::linkage::forget(conn, id).await?;
    }
    let version = u32::try_from(version).map_err(|_| StoreError::Unresolvable)?;
    Ok(Shredded {
        subject_id: id,
        version,
        just_now: already.is_none(),
    })
}

/// A shredded subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shredded {
    /// Internal id.
    pub subject_id: i64,
    /// Pseudonym-key version of its references.
    pub version: u32,
    /// Whether this call shredded it (false: it already was).
    pub just_now: bool,
}

/// Finds the existing subject of an identity and holds its row (records naming a
/// person without creating one: deaths, overdoses): the exact cascade, then the
/// similarity matcher's automatic links (a pair it would leave to a registrar
/// names no one).
pub async fn find_and_lock(
    conn: &mut Conn,
    keyring: &Keyring,
    lookups: &[SubjectLookup],
    probes: &[Probe],
    has_pn: bool,
) -> Result<Option<Linked>, StoreError> {
    // The same locks as a registration and a rotation take: the lookups then see
    // the subject under one version, not half way through a move.
    lock_keys(
        conn,
        lookups
            .iter()
            .flat_map(pseudonym_locks)
            .chain(super::linkage::bucket_locks(probes)),
    )
    .await?;
    match find_any(conn, keyring, lookups, probes, has_pn).await? {
        Some(linked) => lock_subject(conn, linked).await,
        None => Ok(None),
    }
}

/// Finds the existing subject of an identity without creating or changing anything.
pub async fn find_existing(
    conn: &mut Conn,
    keyring: &Keyring,
    lookups: &[SubjectLookup],
    probes: &[Probe],
    has_pn: bool,
) -> Result<Option<Linked>, StoreError> {
    match find_any(conn, keyring, lookups, probes, has_pn).await? {
        // The version now, not the one the lookup matched: a rotation may have
        // moved the subject (and its references) in between.
        Some(linked) => current_version(conn, linked, "").await,
        None => Ok(None),
    }
}

/// The exact cascade, then an automatic link of the similarity matcher.
async fn find_any(
    conn: &mut Conn,
    keyring: &Keyring,
    lookups: &[SubjectLookup],
    probes: &[Probe],
    has_pn: bool,
) -> Result<Option<Linked>, StoreError> {
    if let Some(linked) = find_link(conn, lookups, has_pn, None).await? {
        return Ok(Some(linked));
    }
    let matched = super::linkage::match_identity(conn, keyring, probes).await?;
    match &matched.link {
        Some(candidate) => Ok(Some(linked_by_similarity(conn, candidate).await?)),
        None => Ok(None),
    }
}

/// The subject the matcher linked to; its key version is read under its row lock
/// next (`lock_subject`, `current_version`), so 0 stands until then.
async fn linked_by_similarity(
    conn: &mut Conn,
    candidate: &super::linkage::Candidate,
) -> Result<Linked, StoreError> {
    Ok(Linked {
        subject_id: candidate.subject_id,
        registry_id: registry_id_of(conn, candidate.subject_id).await?,
        rule: LinkRule::Similarity,
        version: 0,
        reviews: Vec::new(),
    })
}

/// The cascade. With `enrich`, a subject linked by attributes that lacks a personal
/// number gains the incoming one (under the same key version).
async fn find_link(
    conn: &mut Conn,
    lookups: &[SubjectLookup],
    has_pn: bool,
    enrich: Option<&SubjectLookup>,
) -> Result<Option<Linked>, StoreError> {
    // One query for every pseudonym of the identity (a statement is a round trip to
    // the database's thread or server); the rules are then applied in their order.
    if lookups.is_empty() {
        return Ok(None);
    }
    let conditions: Vec<String> = (0..lookups.len())
        .map(|i| {
            let (attr, pn, version) = (3 * i + 1, 3 * i + 2, 3 * i + 3);
            format!(
                "((attr_pseudonym = ${attr} or pn_pseudonym = ${pn}) and pseudonym_version = ${version})"
            )
        })
        .collect();
    let sql = format!(
        "select id, registry_id, attr_pseudonym, pn_pseudonym, pseudonym_version from subject \
         where {} order by id",
        conditions.join(" or ")
    );
    let mut query = db::query(&sql);
    for lookup in lookups {
        query = query
            .bind(lookup.attr.to_vec())
            .bind(lookup.pn.map(|p| p.to_vec()))
            .bind(i64::from(lookup.version));
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let mut candidates = Vec::with_capacity(rows.len());
    for row in &rows {
        let version: i64 = row.try_get("pseudonym_version")?;
        candidates.push((
            row.try_get::<i64, _>("id")?,
            row.id("registry_id")?,
            row.try_get::<Vec<u8>, _>("attr_pseudonym")?,
            row.try_get::<Option<Vec<u8>>, _>("pn_pseudonym")?,
            u32::try_from(version).unwrap_or_default(),
        ));
    }
    // The personal number first, under every key version.
    for lookup in lookups {
        let Some(pn) = lookup.pn else { continue };
        let found = candidates.iter().find(|(_, _, _, stored_pn, version)| {
            *version == lookup.version && stored_pn.as_deref() == Some(pn.as_ref())
        });
        if let Some((subject_id, registry_id, ..)) = found {
            return Ok(Some(Linked {
                subject_id: *subject_id,
                registry_id: registry_id.clone(),
                rule: LinkRule::PersonalNumber,
                version: lookup.version,
                reviews: Vec::new(),
            }));
        }
    }
    for lookup in lookups {
        let matching = candidates.iter().filter(|(_, _, attr, _, version)| {
            *version == lookup.version && attr.as_slice() == lookup.attr.as_ref()
        });
        for (subject_id, registry_id, _, stored_pn, _) in matching {
            // Two different personal numbers mean two different people, whatever
            // their names and birth dates say.
            if has_pn && stored_pn.is_some() {
                continue;
            }
            if let Some(incoming) = enrich.filter(|e| e.pn.is_some() && e.version == lookup.version)
            {
                // The subject gains the personal number it was missing.
                db::query("update subject set pn_pseudonym = $1 where id = $2")
                    .bind(incoming.pn.map(|p| p.to_vec()))
                    .bind(subject_id)
                    .execute(&mut *conn)
                    .await?;
            }
            return Ok(Some(Linked {
                subject_id: *subject_id,
                registry_id: registry_id.clone(),
                rule: LinkRule::Attributes,
                version: lookup.version,
                reviews: Vec::new(),
            }));
        }
    }
    Ok(None)
}

impl Store {
    /// Links an identity to its subject (or creates one) in its own transaction.
    pub async fn link_or_create_subject(
        &self,
        keyring: std::sync::Arc<Keyring>,
        prepared: &PreparedSubject,
    ) -> Result<Linked, StoreError> {
        let job = (keyring, prepared.clone());
        self.write_with(job, |conn, (keyring, prepared)| {
            Box::pin(async move {
                let linked = link_or_create(conn, keyring, prepared).await?;
                Ok::<_, StoreError>(Staged::unaudited(linked))
            })
        })
        .await
    }

    /// The sealed parts of a subject by its public id.
    pub async fn sealed_subject(&self, registry_id: &str) -> Result<SealedSubject, StoreError> {
        let row = db::query(&format!(
            "select {SEALED_COLUMNS} from subject where registry_id = $1"
        ))
        .bind(db::uuid(registry_id))
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(sealed_from_row(&row)?)
    }

    /// Live subjects whose data key is wrapped under a master version other than
    /// `active`, oldest first (a batch of a master-key rotation).
    pub async fn subjects_to_rewrap(
        &self,
        active: u32,
        limit: i64,
    ) -> Result<Vec<SealedSubject>, StoreError> {
        let rows = db::query(&format!(
            "select {SEALED_COLUMNS} from subject where master_key_version <> $1 \
             order by id limit $2"
        ))
        .bind(i64::from(active))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(sealed_from_row).collect::<Result<_, _>>()?)
    }

    /// Replaces subjects' wrapped data keys in one transaction, each unless it changed
    /// meanwhile (a later batch picks those up again); returns how many were replaced.
    pub async fn rewrap_subjects(&self, rows: &[Rewrap]) -> Result<u64, StoreError> {
        // One transaction per batch: a commit per row made rotating a million keys
        // take minutes.
        self.write_with(rows.to_vec(), |conn, rows| {
            Box::pin(async move {
                let mut moved = 0;
                for row in rows {
                    let done = db::query(
                        "update subject set data_key_wrapped = $1, master_key_version = $2 \
                         where id = $3 and data_key_wrapped = $4",
                    )
                    .bind(&row.new_wrapped)
                    .bind(i64::from(row.new_version))
                    .bind(row.subject_id)
                    .bind(&row.old_wrapped)
                    .execute(&mut *conn)
                    .await?;
                    moved += done.rows_affected();
                }
                Ok::<_, StoreError>(Staged::unaudited(moved))
            })
        })
        .await
    }

    /// Records with their own data key (deaths, overdoses) wrapped under a master
    /// version other than `active`: `(internal id, public id, wrapped key)`.
    pub async fn records_to_rewrap(
        &self,
        table: KeyedTable,
        active: u32,
        limit: i64,
    ) -> Result<Vec<(i64, String, Vec<u8>)>, StoreError> {
        let (name, id_column) = table.names();
        let rows = db::query(&format!(
            "select id, {id_column} as public_id, data_key_wrapped from {name} \
             where master_key_version <> $1 order by id limit $2"
        ))
        .bind(i64::from(active))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.id("public_id")?,
                    r.try_get("data_key_wrapped")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Replaces a record's wrapped key unless it changed meanwhile.
    pub async fn rewrap_record(
        &self,
        table: KeyedTable,
        id: i64,
        old: &[u8],
        new: &[u8],
        version: u32,
    ) -> Result<bool, StoreError> {
        let (name, _) = table.names();
        let done = self
            .write_statement(
                format!(
                    "update {name} set data_key_wrapped = $1, master_key_version = $2 \
                     where id = $3 and data_key_wrapped = $4"
                ),
                vec![
                    Arg::Bytes(Some(new.to_vec())),
                    Arg::Int(Some(i64::from(version))),
                    Arg::Int(Some(id)),
                    Arg::Bytes(Some(old.to_vec())),
                ],
            )
            .await?;
        Ok(done == 1)
    }

    /// Subjects whose pseudonyms (live ones) or references (all) use a version
    /// other than `active`.
    pub async fn subjects_to_repseudonymise(
        &self,
        active: u32,
        limit: i64,
    ) -> Result<Vec<SealedSubject>, StoreError> {
        sealed_where(self, &format!("pseudonym_version <> {active}"), limit).await
    }

    /// Moves a subject to pseudonym-key version `new`, unless the row changed
    /// version meanwhile: its recomputed pseudonyms (`None` for a shredded subject,
    /// which has none) and the references of all its records, in one transaction.
    pub async fn repseudonymise_subject(
        &self,
        keyring: std::sync::Arc<crate::crypto::Keyring>,
        subject_id: i64,
        (old, new): (u32, u32),
        moved: Option<&Moved>,
    ) -> Result<bool, StoreError> {
        // A registration of this person holding the new version's locks (every
        // service has loaded the new key before rotation starts) finishes first, and
        // one arriving later finds the row under the new version; one holding the
        // subject's row lock finishes before this update, and the references it
        // wrote under the old version move below.
        let job = (keyring, subject_id, (old, new), moved.cloned());
        self.write_with(job, |conn, (keyring, subject_id, (old, new), moved)| {
            Box::pin(async move {
                let (subject_id, old, new, moved) = (*subject_id, *old, *new, moved.as_ref());
                let done = match moved {
                    Some(Moved {
                        lookup,
                        encoding_sealed,
                        buckets,
                    }) => {
                        lock_keys(conn, pseudonym_locks(lookup)).await?;
                        let done = db::query(
                            "update subject set pn_pseudonym = $1, attr_pseudonym = $2, \
                             pseudonym_version = $3 \
                             where id = $4 and pseudonym_version = $5 and shredded_at is null",
                        )
                        .bind(lookup.pn.map(|p| p.to_vec()))
                        .bind(lookup.attr.to_vec())
                        .bind(i64::from(new))
                        .bind(subject_id)
                        .bind(i64::from(old))
                        .execute(&mut *conn)
                        .await?;
                        if done.rows_affected() == 1 {
                            super::linkage::replace(conn, subject_id, encoding_sealed, buckets)
                                .await?;
                        }
                        done
                    }
                    None => {
                        db::query(
                            "update subject set pseudonym_version = $1 \
                             where id = $2 and pseudonym_version = $3 and shredded_at is not null",
                        )
                        .bind(i64::from(new))
                        .bind(subject_id)
                        .bind(i64::from(old))
                        .execute(&mut *conn)
                        .await?
                    }
                };
                if done.rows_affected() != 1 {
                    return Ok(Staged::unaudited(false));
                }
                super::refs::rekey(conn, keyring, subject_id, old, new).await?;
                Ok(Staged::unaudited(true))
            })
        })
        .await
    }

    /// How many records of each table name a subject (for the access report).
    /// Every record held about a subject and about each subject a registrar
    /// merged into it (one person), for the access report.
    pub async fn subject_records(
        &self,
        keyring: &crate::crypto::Keyring,
        subject: &SealedSubject,
    ) -> Result<Vec<super::refs::HeldRecord>, StoreError> {
        let mut conn = self.connection().await?;
        let mut out = Vec::new();
        for member in merge_group(&mut conn, subject.subject_id).await? {
            out.extend(
                super::refs::held_records(&mut conn, keyring, member.subject_id, member.version)
                    .await?,
            );
        }
        Ok(out)
    }

    /// Rows per master-key version (subjects' data keys and users' TOTP secrets;
    /// one version may appear twice) and live subjects per pseudonym-key version.
    pub async fn key_version_counts(&self) -> Result<Vec<VersionCount>, StoreError> {
        let rows = db::query(
            "select 'master' as kind, master_key_version as version, count(*) as rows \
             from subject where master_key_version is not null group by master_key_version \
             union all \
             select 'master' as kind, totp_master_version as version, count(*) as rows \
             from app_user where totp_sealed is not null group by totp_master_version \
             union all \
             select 'master' as kind, master_key_version as version, count(*) as rows \
             from death group by master_key_version \
             union all \
             select 'master' as kind, master_key_version as version, count(*) as rows \
             from overdose group by master_key_version \
             union all \
             select 'pseudonym' as kind, pseudonym_version as version, count(*) as rows \
             from subject group by pseudonym_version \
             order by kind, version",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(VersionCount {
                    kind: r.try_get("kind")?,
                    version: r.try_get("version")?,
                    rows: r.try_get("rows")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Count of subjects, and of those shredded.
    pub async fn subject_counts(&self) -> Result<(i64, i64), StoreError> {
        let row =
            db::query("select count(*) as total, count(shredded_at) as shredded from subject")
                .fetch_one(self.pool())
                .await?;
        Ok((row.try_get("total")?, row.try_get("shredded")?))
    }

    /// Registered key-check values: `(kind, version, check value, retired?)`.
    pub async fn key_checks(&self) -> Result<Vec<(String, i64, String, bool)>, StoreError> {
        let rows = db::query(
            "select kind, version, check_value, retired_at from key_check order by kind, version",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let retired: Option<String> = r.opt_stamp("retired_at")?;
                Ok((
                    r.try_get("kind")?,
                    r.try_get("version")?,
                    r.try_get("check_value")?,
                    retired.is_some(),
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Records the key-check value of a key version seen for the first time.
    pub async fn register_key_check(
        &self,
        kind: &str,
        version: u32,
        check_value: &str,
    ) -> Result<(), StoreError> {
        self.write_statement(
            "insert into key_check (kind, version, check_value, registered_at) \
             values ($1, $2, $3, $4) on conflict (kind, version) do nothing"
                .into(),
            vec![
                Arg::Text(Some(kind.into())),
                Arg::Int(Some(i64::from(version))),
                Arg::Text(Some(check_value.into())),
                db::stamp(&now_rfc3339()),
            ],
        )
        .await?;
        Ok(())
    }

    /// Marks a key version retired in the database.
    pub async fn retire_key_check(&self, kind: &str, version: u32) -> Result<(), StoreError> {
        self.write_statement(
            "update key_check set retired_at = $1 where kind = $2 and version = $3 \
             and retired_at is null"
                .into(),
            vec![
                db::stamp(&now_rfc3339()),
                Arg::Text(Some(kind.into())),
                Arg::Int(Some(i64::from(version))),
            ],
        )
        .await?;
        Ok(())
    }
}

/// A subject's data key re-wrapped under a new master-key version.
#[derive(Debug, Clone)]
pub struct Rewrap {
    /// Internal subject id.
    pub subject_id: i64,
    /// The wrapped key as read (compare-and-set).
    pub old_wrapped: Vec<u8>,
    /// The key wrapped under the new version.
    pub new_wrapped: Vec<u8>,
    /// The new version.
    pub new_version: u32,
}
