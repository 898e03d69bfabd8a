//! Treatment episodes (Action Plan 1.5.2): registration with linkage, protocol rules
//! and consistency hints; reading, correcting (with sealed history) and closing; the
//! "in substitution treatment elsewhere?" check.
//!
//! Every write runs in a spawned task so a client that disconnects cannot leave a
//! transaction half-done, and writes its audit event in the same transaction.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::AuditEvent;
use crate::authz::{Action, FieldGroup, Resource, ResourceKind};
use crate::cases::access::{AccessError, Caller, Gate, Permit};
use crate::clock::today_utc;
use crate::crypto::reference::RecordDomain;
use crate::crypto::{Aad, CryptoError, DataKey, Keyring};
use crate::domain::episode::{EpisodeInput, PlainEpisode, SealedEpisode, ValidEpisode, validate};
use crate::field::FieldError;
use crate::identity::subject::{
    DATA_KEY_AAD_COLUMN, IDENTITY_AAD_TABLE, IdentityInput, PreparedSubject, lookups, prepare,
};
use crate::store::db::Conn;
use crate::store::episodes::{
    EpisodeRow, NewEpisode, close_episode, episode_by_idempotency, episode_changed_at,
    insert_episode, insert_history, person_episodes, subject_data_key, update_episode,
};
use crate::store::subjects::{LinkRule, find_existing, link_or_create};
use crate::store::writer::Staged;
use crate::store::{LockKey, Store, StoreError, lock_keys};

/// Why an episode operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EpisodeError {
    /// Invalid input; every problem listed.
    #[error("invalid episode")]
    Invalid(Vec<FieldError>),
    /// The person already has an episode here that this registration would continue.
    #[error("continues episode {0}")]
    Continues(String),
    /// The episode is already closed.
    #[error("episode already closed")]
    AlreadyClosed,
    /// The subject has been erased; its sealed data cannot be read.
    #[error("the person's data has been erased")]
    Erased,
    /// The permit does not cover this record or the field groups the operation
    /// needs.
    #[error("not permitted")]
    NotPermitted,
    /// The decision point refused (`hidden`: answer as if the record did not exist).
    #[error("access denied")]
    Denied {
        /// Whether the refusal must look like "not found".
        hidden: bool,
    },
    /// The caller's facility may not register (deactivated).
    #[error("facility not active")]
    FacilityInactive,
    /// The episode changed after it was read (another correction or the close
    /// won the race): read it again.
    #[error("episode changed meanwhile")]
    Changed,
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Cryptographic failure.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<AccessError> for EpisodeError {
    fn from(err: AccessError) -> Self {
        match err {
            AccessError::Denied { hidden } => Self::Denied { hidden },
            AccessError::Store(e) => Self::Store(e),
        }
    }
}

/// A warning about the registration that does not stop it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Hint {
    /// Stable code.
    pub code: String,
    /// What was noticed.
    pub message: String,
}

/// The answer to a registration.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Registered {
    /// The new episode's id.
    pub episode_id: String,
    /// The person's registry id (never the pseudonym or identity).
    pub registry_id: String,
    /// Whether the registry already knew this person.
    pub known_before: bool,
    /// Which rule linked the person.
    pub link_rule: LinkRule,
    /// "Previously treated" consistency hints.
    pub hints: Vec<Hint>,
    /// True when this answers a retried request (same idempotency key).
    pub replayed: bool,
}

fn episode_aad(episode_id: &str) -> Aad<'_> {
    Aad {
        table: "episode",
        column: "sealed",
        record_id: episode_id,
    }
}

fn end_aad(episode_id: &str) -> Aad<'_> {
    Aad {
        table: "episode",
        column: "end_sealed",
        record_id: episode_id,
    }
}

/// Unwraps a subject's data key.
pub fn subject_key(
    keyring: &Keyring,
    registry_id: &str,
    wrapped: Option<&[u8]>,
) -> Result<DataKey, EpisodeError> {
    let wrapped = wrapped.ok_or(EpisodeError::Erased)?;
    Ok(keyring.unwrap(
        &Aad {
            table: IDENTITY_AAD_TABLE,
            column: DATA_KEY_AAD_COLUMN,
            record_id: registry_id,
        },
        wrapped,
    )?)
}

fn seal_json<T: Serialize>(
    key: &DataKey,
    aad: &Aad<'_>,
    value: &T,
) -> Result<Vec<u8>, EpisodeError> {
    let plain =
        zeroize::Zeroizing::new(serde_json::to_vec(value).map_err(|_| CryptoError::UnknownFormat)?);
    Ok(key.seal(aad, &plain)?)
}

fn open_json<T: for<'de> Deserialize<'de>>(
    key: &DataKey,
    aad: &Aad<'_>,
    blob: &[u8],
) -> Result<T, EpisodeError> {
    let plain = zeroize::Zeroizing::new(key.open(aad, blob)?);
    serde_json::from_slice(&plain).map_err(|_| EpisodeError::Crypto(CryptoError::UnknownFormat))
}

/// The sealed end of an episode.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SealedEnd {
    end_date: String,
}

/// Parses `YYYY-MM-DD` into a date.
fn date(text: &str) -> Option<time::Date> {
    crate::clock::parse_iso_date(text).ok()
}

/// Whether `later` is less than six calendar months after `earlier` (TDI: a return
/// after six months without contact starts a new episode).
fn within_six_months(earlier: time::Date, later: time::Date) -> bool {
    let months = (later.year() - earlier.year()) * 12
        + (i32::from(u8::from(later.month())) - i32::from(u8::from(earlier.month())));
    months < 6 || (months == 6 && later.day() < earlier.day())
}

/// Registers an episode — the one entry point the API, the backlog import and the
/// demo share: the decision point, the facility's standing, validation against the
/// municipality list, then linkage, the six-month rule, sealing and the write with
/// its audit events (the decision's among them). A registration refused after an
/// allowed decision still records that decision.
pub async fn register(
    store: &Store,
    keys: &impl super::KeySource,
    gate: &Gate,
    who: &Caller,
    input: &EpisodeInput,
    idempotency_key: Option<String>,
) -> Result<Registered, EpisodeError> {
    let resource = Resource {
        facility: who.principal.facility.clone(),
        ..Resource::national(ResourceKind::Episode, "")
    };
    let (permit, decision) = gate
        .decide(
            &who.principal,
            Action::CreateEpisode,
            &resource,
            who.purpose.clone(),
        )
        .await?;
    let outcome = register_allowed(
        store,
        keys,
        who,
        &permit,
        decision.clone(),
        input,
        idempotency_key,
    )
    .await;
    if outcome.is_err() {
        if let Some(decision) = decision {
            store.audit(&decision).await?;
        }
    }
    outcome
}

/// The registration once allowed.
async fn register_allowed(
    store: &Store,
    keys: &impl super::KeySource,
    who: &Caller,
    permit: &Permit,
    decision: Option<AuditEvent>,
    input: &EpisodeInput,
    idempotency_key: Option<String>,
) -> Result<Registered, EpisodeError> {
    let (Some(facility), Some(info)) = (&who.principal.facility, &who.facility) else {
        return Err(EpisodeError::Denied { hidden: false });
    };
    if !info.active {
        return Err(EpisodeError::FacilityInactive);
    }
    let slugs = store.municipality_slugs().await?;
    let slugs: Vec<&str> = slugs.iter().map(String::as_str).collect();
    let valid = validate(input, today_utc(), &slugs).map_err(EpisodeError::Invalid)?;
    store_registration(
        store,
        keys,
        input,
        valid,
        Registration {
            user_id: who.principal.user_id.clone(),
            facility: facility.clone(),
            centre_type: info.centre_type.clone(),
            idempotency_key,
            decision,
            event: permit.write_event(None),
        },
    )
    .await
}

/// What a registration writes besides the episode.
#[derive(Debug, Clone)]
struct Registration {
    /// Registering clinician's user id.
    user_id: String,
    /// Their facility.
    facility: String,
    /// The facility's TDI centre type.
    centre_type: String,
    /// Client-supplied idempotency key.
    idempotency_key: Option<String>,
    /// The access decision's audit event (written first).
    decision: Option<AuditEvent>,
    /// The audit event to write with the episode (object filled in here).
    event: AuditEvent,
}

/// Registers an episode: links the person, applies the six-month rule, seals and
/// stores it with its audit events, through the group-commit writer (durable before
/// the answer; nothing kept when it is refused).
async fn store_registration(
    store: &Store,
    keys: &impl super::KeySource,
    input: &EpisodeInput,
    valid: ValidEpisode,
    reg: Registration,
) -> Result<Registered, EpisodeError> {
    let keys = &super::handle(keys);
    let prepared = prepare(keys, &input.identity, &valid.identity)?;
    let job = Arc::new(RegistrationJob {
        prepared,
        sealed: valid.sealed,
        plain: valid.plain,
        reg,
        keyring: keys.current(),
    });
    store
        .write(move |conn| {
            let job = Arc::clone(&job);
            Box::pin(async move { job.run(conn).await })
        })
        .await
}

/// Everything one registration writes, prepared before it reaches the writer (so
/// the hashing and key wrapping happen outside the write lock).
struct RegistrationJob {
    prepared: PreparedSubject,
    sealed: SealedEpisode,
    plain: PlainEpisode,
    reg: Registration,
    keyring: Arc<Keyring>,
}

impl RegistrationJob {
    /// The registration inside the writer's transaction; its events (the decision
    /// that allowed it, then the write) go into the group's chain step.
    async fn run(&self, conn: &mut Conn) -> Result<Staged<Registered>, EpisodeError> {
        let reg = &self.reg;
        let keyring = &self.keyring;
        let decision: Vec<AuditEvent> = reg.decision.iter().cloned().collect();
        if let Some(key) = &reg.idempotency_key {
            // Retries racing with the first attempt wait for it and then replay its
            // answer, instead of all missing it and colliding on the key.
            lock_keys(
                conn,
                [LockKey::of(
                    "idempotency",
                    &[reg.user_id.as_bytes(), key.as_bytes()],
                )],
            )
            .await?;
            if let Some(row) = episode_by_idempotency(conn, keyring, &reg.user_id, key).await? {
                // A replay writes nothing but the decision that allowed it.
                return Ok(Staged {
                    value: Registered {
                        episode_id: row.episode_id,
                        registry_id: row.registry_id,
                        known_before: row.link_rule != "new",
                        link_rule: parse_rule(&row.link_rule),
                        hints: Vec::new(),
                        replayed: true,
                    },
                    events: decision,
                });
            }
        }
        let prepared = &self.prepared;
        let linked = link_or_create(conn, keyring, prepared).await?;
        // A subject created just now has no episodes to look at.
        let (data_key, previous) = if linked.rule == LinkRule::New {
            (prepared.data_key.clone(), Vec::new())
        } else {
            let wrapped = subject_data_key(conn, linked.subject_id).await?;
            // Every episode of the person, those of subjects merged into it too.
            let previous = person_episodes(conn, keyring, &linked).await?;
            (
                subject_key(keyring, &linked.registry_id, wrapped.as_deref())?,
                previous,
            )
        };
        let start = date(&self.sealed.treatment_start_date);
        for earlier in previous.iter().filter(|e| e.facility == reg.facility) {
            let continues = match (&earlier.end_sealed, start) {
                (None, _) => true,
                (Some(blob), Some(start)) => {
                    // Sealed under its own subject's key (a merged subject's has its own).
                    let key = subject_key(
                        keyring,
                        &earlier.registry_id,
                        earlier.data_key_wrapped.as_deref(),
                    )?;
                    let end: SealedEnd = open_json(&key, &end_aad(&earlier.episode_id), blob)?;
                    date(&end.end_date).is_some_and(|end| within_six_months(end, start))
                }
                (Some(_), None) => false,
            };
            if continues {
                return Err(EpisodeError::Continues(earlier.episode_id.clone()));
            }
        }
        let hints = consistency_hints(&self.plain.treatment_status, previous.len());
        let episode_id = uuid::Uuid::new_v4().to_string();
        let sealed = seal_json(&data_key, &episode_aad(&episode_id), &self.sealed)?;
        insert_episode(
            conn,
            &NewEpisode {
                episode_id: &episode_id,
                subject_ref: linked.reference(keyring, RecordDomain::Treatment)?,
                facility: &reg.facility,
                centre_type: &reg.centre_type,
                link_rule: linked.rule.as_str(),
                plain: &self.plain,
                sealed: &sealed,
                created_by: &reg.user_id,
                idempotency_key: reg.idempotency_key.as_deref(),
            },
        )
        .await?;
        let mut events = decision;
        events.push(AuditEvent {
            object: Some(episode_id.clone()),
            ..reg.event.clone()
        });
        events.extend(super::subjects::review_events(&linked, &reg.event));
        Ok(Staged {
            value: Registered {
                episode_id,
                registry_id: linked.registry_id,
                known_before: linked.rule != LinkRule::New,
                link_rule: linked.rule,
                hints,
                replayed: false,
            },
            events,
        })
    }
}

/// "Previously treated" hints: the TDI treatment status against the episodes the
/// registry holds of this person.
fn consistency_hints(treatment_status: &str, earlier: usize) -> Vec<Hint> {
    match (treatment_status, earlier) {
        ("1", 1..) => vec![Hint {
            code: "earlier_episode_exists".into(),
            message: format!(
                "recorded as never treated before, but the registry holds {earlier} earlier episode(s) of this person"
            ),
        }],
        ("2", 0) => vec![Hint {
            code: "no_earlier_episode".into(),
            message: "recorded as previously treated; the registry holds no earlier episode (treatment before the registry or abroad?)".into(),
        }],
        _ => Vec::new(),
    }
}

fn parse_rule(text: &str) -> LinkRule {
    text.parse().unwrap_or(LinkRule::New)
}

/// Opens the sealed items of one episode (for exports that tabulate them).
pub fn open_sealed(
    keyring: &Keyring,
    registry_id: &str,
    wrapped: &[u8],
    episode_id: &str,
    blob: &[u8],
) -> Result<SealedEpisode, EpisodeError> {
    let key = subject_key(keyring, registry_id, Some(wrapped))?;
    open_json(&key, &episode_aad(episode_id), blob)
}

/// The episode as the policies see it: its kind, id and facility.
pub fn resource(row: &EpisodeRow) -> Resource {
    Resource {
        facility: Some(row.facility.clone()),
        ..Resource::national(ResourceKind::Episode, &row.episode_id)
    }
}

/// An episode opened for reading under a permit: the statistical columns, and of the
/// sealed parts only those whose field group the permit allows.
#[derive(Debug)]
pub struct OpenedEpisode {
    /// The row.
    pub row: EpisodeRow,
    /// Sealed TDI values: opened when the permit allows the clinical or the
    /// health-sensitive group (they share one sealed part; the caller shows only
    /// the allowed items).
    pub sealed: Option<SealedEpisode>,
    /// End date, when closed (clinical group).
    pub end_date: Option<String>,
    /// The person's identity as submitted (identity group).
    pub identity: Option<IdentityInput>,
}

impl OpenedEpisode {
    /// The sealed values and identity a correction or closure rewrites: only a
    /// permit that allows every group of the episode opened them all.
    fn whole(&self) -> Result<(&SealedEpisode, &IdentityInput), EpisodeError> {
        match (&self.sealed, &self.identity) {
            (Some(sealed), Some(identity)) => Ok((sealed, identity)),
            _ => Err(EpisodeError::NotPermitted),
        }
    }
}

/// Opens what `permit` allows of an episode: its sealed items, end date and its
/// subject's identity, each only when its field group is allowed.
pub fn open(
    keys: &impl super::KeySource,
    permit: &Permit,
    store_row: EpisodeRow,
    identity_sealed: Option<&[u8]>,
) -> Result<OpenedEpisode, EpisodeError> {
    let keyring = super::keyring(keys);
    let keyring: &Keyring = &keyring;
    if !permit.covers(&store_row.episode_id) {
        return Err(EpisodeError::NotPermitted);
    }
    let clinical = permit.may_read(FieldGroup::Clinical);
    let sensitive = permit.may_read(FieldGroup::HealthSensitive);
    let identity_ok = permit.may_read(FieldGroup::Identity);
    let mut opened = OpenedEpisode {
        row: store_row,
        sealed: None,
        end_date: None,
        identity: None,
    };
    if !(clinical || sensitive || identity_ok) {
        return Ok(opened);
    }
    let row = &opened.row;
    let key = subject_key(keyring, &row.registry_id, row.data_key_wrapped.as_deref())?;
    if clinical || sensitive {
        opened.sealed = Some(open_json(&key, &episode_aad(&row.episode_id), &row.sealed)?);
    }
    if let (true, Some(blob)) = (clinical, &row.end_sealed) {
        opened.end_date =
            Some(open_json::<SealedEnd>(&key, &end_aad(&row.episode_id), blob)?.end_date);
    }
    if identity_ok {
        let identity_blob = identity_sealed.ok_or(EpisodeError::Erased)?;
        opened.identity = Some(open_json(
            &key,
            &Aad {
                table: IDENTITY_AAD_TABLE,
                column: crate::identity::subject::IDENTITY_AAD_COLUMN,
                record_id: &row.registry_id,
            },
            identity_blob,
        )?);
    }
    Ok(opened)
}

/// The full input an opened episode corresponds to (the base for a correction).
pub fn as_input(opened: &OpenedEpisode) -> Result<EpisodeInput, EpisodeError> {
    let (sealed, identity) = opened.whole()?;
    Ok(EpisodeInput::from_parts(
        identity.clone(),
        &opened.row.plain,
        sealed,
    ))
}

/// Previous values kept (sealed) in the history of a correction or closure.
#[derive(Serialize, Deserialize)]
struct Previous {
    plain: PlainEpisode,
    sealed: SealedEpisode,
}

/// Stores a corrected episode and its history entry (previous values sealed).
pub async fn correct(
    store: &Store,
    keys: &impl super::KeySource,
    opened: &OpenedEpisode,
    corrected: ValidEpisode,
    changed: &[&str],
    user_id: &str,
    event: AuditEvent,
) -> Result<(), EpisodeError> {
    let keyring = super::keyring(keys);
    let keyring: &Keyring = &keyring;
    let key = subject_key(
        keyring,
        &opened.row.registry_id,
        opened.row.data_key_wrapped.as_deref(),
    )?;
    let sealed = seal_json(
        &key,
        &episode_aad(&opened.row.episode_id),
        &corrected.sealed,
    )?;
    let history_id = uuid::Uuid::new_v4().to_string();
    let previous = seal_json(
        &key,
        &Aad {
            table: "episode_history",
            column: "previous_sealed",
            record_id: &history_id,
        },
        &Previous {
            plain: opened.row.plain.clone(),
            sealed: opened.whole()?.0.clone(),
        },
    )?;
    let changed = changed.join(",");
    let event = AuditEvent {
        detail: Some(format!("fields={changed}")),
        ..event
    };
    write_change(
        store,
        Change::Correct {
            plain: Box::new(corrected.plain),
            sealed,
        },
        HistoryEntry {
            id: history_id,
            episode: opened.row.id,
            read_at: opened.row.updated_at.clone(),
            user_id: user_id.to_owned(),
            kind: "correct",
            changed,
            previous,
        },
        event,
    )
    .await
}

/// A change to an episode, written with its history entry.
#[derive(Debug, Clone)]
enum Change {
    /// New values (clear columns and the re-sealed part).
    Correct {
        plain: Box<PlainEpisode>,
        sealed: Vec<u8>,
    },
    /// The end: (year, quarter), reason, sealed end date.
    Close {
        ended: (u16, u8),
        reason: String,
        end_sealed: Vec<u8>,
    },
}

/// The history entry kept beside a change: the previous values, sealed.
#[derive(Debug, Clone)]
struct HistoryEntry {
    id: String,
    episode: i64,
    /// When the episode read had last changed: the change is written only if it
    /// still has not.
    read_at: String,
    user_id: String,
    kind: &'static str,
    changed: String,
    previous: Vec<u8>,
}

/// Writes a change, its history entry and its audit event through the writer.
async fn write_change(
    store: &Store,
    change: Change,
    entry: HistoryEntry,
    event: AuditEvent,
) -> Result<(), EpisodeError> {
    store
        .write(move |conn| {
            let (change, entry, event) = (change.clone(), entry.clone(), event.clone());
            Box::pin(async move {
                // Read-modify-write of one row: refused when another change came
                // between the read and this write, which would otherwise be lost.
                if episode_changed_at(conn, entry.episode).await? != entry.read_at {
                    return Err(EpisodeError::Changed);
                }
                match &change {
                    Change::Correct { plain, sealed } => {
                        update_episode(conn, entry.episode, plain, sealed).await?;
                    }
                    Change::Close {
                        ended,
                        reason,
                        end_sealed,
                    } => close_episode(conn, entry.episode, *ended, reason, end_sealed).await?,
                }
                insert_history(
                    conn,
                    &entry.id,
                    entry.episode,
                    &entry.user_id,
                    entry.kind,
                    &entry.changed,
                    &entry.previous,
                )
                .await?;
                Ok::<_, EpisodeError>(Staged {
                    value: (),
                    events: vec![event],
                })
            })
        })
        .await
}

/// Why an episode ended.
pub const END_REASONS: &[&str] = &["completed", "referred", "dropped_out", "died", "other"];

/// Closes an episode with its end date and reason.
pub async fn close(
    store: &Store,
    keys: &impl super::KeySource,
    opened: &OpenedEpisode,
    end_date: &str,
    reason: &str,
    user_id: &str,
    event: AuditEvent,
) -> Result<(), EpisodeError> {
    let keyring = super::keyring(keys);
    let keyring: &Keyring = &keyring;
    let mut errors = Vec::new();
    let today = today_utc();
    let (sealed_now, _) = opened.whole()?;
    match (date(end_date), date(&sealed_now.treatment_start_date)) {
        (None, _) => errors.push(FieldError::new("end_date", "must be a date YYYY-MM-DD")),
        (Some(end), start) => {
            if end > today {
                errors.push(FieldError::new("end_date", "must not be in the future"));
            }
            if start.is_some_and(|s| end < s) {
                errors.push(FieldError::new(
                    "end_date",
                    "must not be before the treatment start date",
                ));
            }
        }
    }
    if !END_REASONS.contains(&reason) {
        errors.push(FieldError::new(
            "end_reason",
            format!("must be one of {}", END_REASONS.join(", ")),
        ));
    }
    if !errors.is_empty() {
        return Err(EpisodeError::Invalid(errors));
    }
    if opened.row.status == "closed" {
        return Err(EpisodeError::AlreadyClosed);
    }
    let end = date(end_date).ok_or_else(|| EpisodeError::Invalid(Vec::new()))?;
    let key = subject_key(
        keyring,
        &opened.row.registry_id,
        opened.row.data_key_wrapped.as_deref(),
    )?;
    let end_sealed = seal_json(
        &key,
        &end_aad(&opened.row.episode_id),
        &SealedEnd {
            end_date: end_date.to_owned(),
        },
    )?;
    let history_id = uuid::Uuid::new_v4().to_string();
    let previous = seal_json(
        &key,
        &Aad {
            table: "episode_history",
            column: "previous_sealed",
            record_id: &history_id,
        },
        &Previous {
            plain: opened.row.plain.clone(),
            sealed: opened.whole()?.0.clone(),
        },
    )?;
    let ended = (crate::clock::year(end), crate::clock::quarter(end));
    write_change(
        store,
        Change::Close {
            ended,
            reason: reason.to_owned(),
            end_sealed,
        },
        HistoryEntry {
            id: history_id,
            episode: opened.row.id,
            read_at: opened.row.updated_at.clone(),
            user_id: user_id.to_owned(),
            kind: "close",
            changed: "end_date,end_reason".into(),
            previous,
        },
        event,
    )
    .await
}

/// The answer to "is this person in substitution treatment at another facility?":
/// yes or no and since which month — nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OstAnswer {
    /// Whether an open episode with current OST exists at another facility.
    pub in_ost_elsewhere: bool,
    /// Month that episode started, `YYYY-MM`, when it does.
    pub since_month: Option<String>,
}

/// Looks the person up without creating a subject and answers the OST question.
/// Returns the answer and, for the audit log, the registry id if the person is known.
pub async fn ost_check(
    store: &Store,
    keys: &impl super::KeySource,
    input: &IdentityInput,
    identity: &crate::identity::normalize::NormalisedIdentity,
    own_facility: &str,
) -> Result<(OstAnswer, Option<String>), EpisodeError> {
    let keyring = super::keyring(keys);
    let mut conn = store.connection().await?;
    let found = find_person(&mut conn, &keyring, input, identity).await?;
    let no = OstAnswer {
        in_ost_elsewhere: false,
        since_month: None,
    };
    let Some(linked) = found else {
        return Ok((no, None));
    };
    let episodes = person_episodes(&mut conn, &keyring, &linked).await?;
    drop(conn);
    let current = episodes
        .iter()
        .filter(|e| e.facility != own_facility && e.status == "open" && e.plain.ost_status == "3")
        .min_by_key(|e| e.id);
    let Some(current) = current else {
        return Ok((no, Some(linked.registry_id)));
    };
    let key = subject_key(
        &keyring,
        &current.registry_id,
        current.data_key_wrapped.as_deref(),
    )?;
    let sealed: SealedEpisode =
        open_json(&key, &episode_aad(&current.episode_id), &current.sealed)?;
    Ok((
        OstAnswer {
            in_ost_elsewhere: true,
            since_month: sealed.treatment_start_date.get(..7).map(str::to_owned),
        },
        Some(linked.registry_id),
    ))
}

/// The person an identity names, if the registry knows them: the exact pseudonyms,
/// then the matcher's automatic links (never a pair it would leave to review).
async fn find_person(
    conn: &mut crate::store::db::Conn,
    keyring: &Keyring,
    input: &IdentityInput,
    identity: &crate::identity::normalize::NormalisedIdentity,
) -> Result<Option<crate::store::subjects::Linked>, StoreError> {
    let lookups = lookups(keyring, identity);
    let probes = crate::identity::subject::probes(keyring, input, identity);
    find_existing(
        conn,
        keyring,
        &lookups,
        &probes,
        identity.personal_number.is_some(),
    )
    .await
}

/// The episodes a facility holds of one person, found by identity with the same
/// look-up as the OST check (the exact pseudonyms, then the matcher's automatic
/// links), newest first, and the person's registry id when the registry knows
/// them. Other facilities' episodes are never returned.
pub async fn find_patient(
    store: &Store,
    keys: &impl super::KeySource,
    query: &crate::identity::subject::PatientQuery,
    facility: &str,
) -> Result<(Vec<EpisodeRow>, Option<String>), EpisodeError> {
    use crate::identity::subject::{PatientQuery, number_pseudonyms};
    let keyring = super::keyring(keys);
    let mut conn = store.connection().await?;
    let found = match query {
        PatientQuery::Number(number) => {
            let numbers = number_pseudonyms(&keyring, number);
            crate::store::subjects::find_by_number(&mut conn, &numbers).await?
        }
        PatientQuery::Identity(input, identity) => {
            find_person(&mut conn, &keyring, input, identity).await?
        }
    };
    let Some(linked) = found else {
        return Ok((Vec::new(), None));
    };
    let mut episodes: Vec<EpisodeRow> = person_episodes(&mut conn, &keyring, &linked)
        .await?
        .into_iter()
        .filter(|e| e.facility == facility)
        .collect();
    episodes.sort_by_key(|e| std::cmp::Reverse(e.id));
    Ok((episodes, Some(linked.registry_id)))
}

/// One episode, its person resolved through the key file (the row's sealed parts
/// stay sealed: [`open`] needs a permit).
pub async fn find(
    store: &Store,
    keys: &impl super::KeySource,
    episode_id: &str,
) -> Result<Option<EpisodeRow>, StoreError> {
    store.episode(&super::keyring(keys), episode_id).await
}

/// A facility's episodes matching a filter, their people resolved through the key
/// file.
pub async fn list(
    store: &Store,
    keys: &impl super::KeySource,
    facility: &str,
    filter: &crate::store::episodes::EpisodeFilter,
) -> Result<Vec<EpisodeRow>, StoreError> {
    store
        .facility_episodes(&super::keyring(keys), facility, filter)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> time::Date {
        date(text).expect("date")
    }

    #[test]
    fn six_month_rule_counts_calendar_months() {
        assert!(within_six_months(d("2025-01-15"), d("2025-07-14")));
        assert!(!within_six_months(d("2025-01-15"), d("2025-07-15")));
        assert!(!within_six_months(d("2024-10-01"), d("2025-06-01")));
        assert!(within_six_months(d("2024-10-01"), d("2025-03-31")));
    }
}
