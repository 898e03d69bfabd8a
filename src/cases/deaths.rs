//! Drug-related deaths (Action Plan 1.5.3) and overdoses (3.1.5).
//!
//! A police notification and a forensic record of the same death are one row: the
//! forensic record completes the notification it names (or the one of the same
//! known person and date), so the death is counted once. Selection B and D are
//! recomputed on every change. A known person is linked through the pseudonym for
//! aggregates only: no response to police or forensic users shows the link.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::audit::AuditEvent;
use crate::authz::{Action, FieldGroup, Resource, ResourceKind};
use crate::cases::access::{AccessError, Caller, Gate, Permit};
use crate::crypto::reference::RecordDomain;
use crate::crypto::{Aad, CryptoError, DataKey, Keyring};
use crate::domain::death::{
    Basics, ForensicInput, NotificationInput, OverdoseInput, PoliceOverdoseInput, ValidForensic,
};
use crate::domain::drd::classify;
use crate::identity::normalize::NormalisedIdentity;
use crate::identity::subject::{IdentityInput, lookups};
use crate::store::deaths::{
    DeathRow, DeathStats, NewDeath, NewOverdose, death_in, insert_death, insert_overdose,
    link_overdose, signal_substance, update_death,
};
use crate::store::subjects::find_and_lock;
use crate::store::writer::Staged;
use crate::store::{Store, StoreError};

/// Why a death or overdose operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DeathError {
    /// Invalid input; every problem listed.
    #[error("invalid record")]
    Invalid(Vec<crate::field::FieldError>),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Cryptographic failure.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The permit does not cover this record.
    #[error("not permitted")]
    NotPermitted,
    /// The policies refused (`hidden`: answer as if the record did not exist).
    #[error("access denied")]
    Denied {
        /// Whether the refusal must look like "not found".
        hidden: bool,
    },
}

impl From<AccessError> for DeathError {
    fn from(err: AccessError) -> Self {
        match err {
            AccessError::Denied { hidden } => Self::Denied { hidden },
            AccessError::Store(e) => Self::Store(e),
        }
    }
}

/// The decision on a new record, then what its validation needs: the permit, the
/// known municipality slugs and today's date.
async fn admit(
    store: &Store,
    gate: &Gate,
    caller: &Caller,
    action: Action,
    resource: &Resource,
) -> Result<(Permit, Vec<String>, crate::clock::Date), DeathError> {
    let permit = gate.allow(caller, action, resource).await?;
    let slugs = store.municipality_slugs().await?;
    Ok((permit, slugs, crate::clock::today_utc()))
}

/// Notifies a suspected drug-related death (police) — the one entry point the API
/// and the demo share: the decision point, validation and the write. Returns the
/// death's id.
pub async fn notify(
    store: &Store,
    keys: &impl super::KeySource,
    gate: &Gate,
    caller: &Caller,
    input: NotificationInput,
) -> Result<String, DeathError> {
    let resource = Resource {
        reporter: Some(caller.principal.user_id.clone()),
        ..Resource::national(ResourceKind::DeathNotification, "")
    };
    let (permit, slugs, today) = admit(
        store,
        gate,
        caller,
        Action::CreateDeathNotification,
        &resource,
    )
    .await?;
    let slugs: Vec<&str> = slugs.iter().map(String::as_str).collect();
    let basics = crate::domain::death::validate_notification(&input, today, &slugs)
        .map_err(DeathError::Invalid)?;
    let event = permit.write_event(None);
    notify_allowed(
        store,
        keys,
        input,
        basics,
        caller.principal.user_id.clone(),
        event,
    )
    .await
}

/// Creates a forensic death record, or completes the police notification named in
/// `notification_id` (forensic medicine) — the one entry point the API and the
/// demo share. Returns the death's id.
pub async fn create(
    store: &Store,
    keys: &impl super::KeySource,
    gate: &Gate,
    caller: &Caller,
    input: ForensicInput,
) -> Result<String, DeathError> {
    let resource = Resource::national(ResourceKind::DeathRecord, "");
    let (permit, slugs, today) =
        admit(store, gate, caller, Action::CreateDeathRecord, &resource).await?;
    let slugs: Vec<&str> = slugs.iter().map(String::as_str).collect();
    let valid = crate::domain::death::validate_forensic(&input, today, &slugs)
        .map_err(DeathError::Invalid)?;
    let event = permit.write_event(None);
    record(store, keys, input, valid, Target::New, event).await
}

/// Records a non-fatal overdose — the one entry point the API and the demo share:
/// a clinical report from the caller's emergency department, or a police report
/// (smaller set; clinicians use the clinical one). Returns the overdose's id.
pub async fn record_overdose(
    store: &Store,
    keys: &impl super::KeySource,
    gate: &Gate,
    caller: &Caller,
    report: OverdoseSealed,
) -> Result<String, DeathError> {
    let who = &caller.principal;
    let resource = Resource {
        facility: who.facility.clone(),
        reporter: Some(who.user_id.clone()),
        emergency_capable: matches!(report, OverdoseSealed::Clinical(_))
            && caller
                .facility
                .as_ref()
                .is_some_and(|f| f.active && f.emergency_capable),
        ..Resource::national(ResourceKind::Overdose, "")
    };
    let (permit, slugs, today) =
        admit(store, gate, caller, Action::CreateOverdose, &resource).await?;
    let facility = match (&report, &who.facility) {
        (OverdoseSealed::Clinical(_), Some(facility)) => Some(facility.clone()),
        (OverdoseSealed::Police(_), None) => None,
        // A clinical report needs a facility; a clinician reports the clinical set.
        _ => return Err(DeathError::NotPermitted),
    };
    let slugs: Vec<&str> = slugs.iter().map(String::as_str).collect();
    let basics = match &report {
        OverdoseSealed::Clinical(input) => {
            crate::domain::death::validate_overdose(input, today, &slugs)
        }
        OverdoseSealed::Police(input) => {
            crate::domain::death::validate_police_overdose(input, today, &slugs)
        }
    }
    .map_err(DeathError::Invalid)?;
    let event = permit.write_event(None);
    record_overdose_allowed(
        store,
        keys,
        report,
        basics,
        facility,
        who.user_id.clone(),
        event,
    )
    .await
}

/// The sealed police part of a death.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoliceSealed {
    /// Date of death or finding.
    pub date_of_death: String,
    /// Found alone.
    pub found_alone: Option<bool>,
    /// Paraphernalia at the scene.
    pub paraphernalia: Option<bool>,
    /// Witnessed.
    pub witnessed: Option<bool>,
    /// Free text.
    pub circumstances: Option<String>,
    /// Identity as the police gave it.
    pub identity: Option<IdentityInput>,
}

/// The sealed forensic part of a death.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForensicSealed {
    /// Date of death.
    pub date_of_death: String,
    /// Identity of the deceased.
    pub identity: Option<IdentityInput>,
    /// Substances with matrix and concentration.
    pub substances: Vec<crate::domain::death::SubstanceInput>,
    /// Free text.
    pub circumstances: Option<String>,
    /// Residence, nationality, route, drug use, recent release, OST at death
    /// (absent in records sealed before these were recorded).
    #[serde(default)]
    pub background: crate::domain::death::DeathBackground,
}

fn key_aad<'a>(table: &'static str, id: &'a str) -> Aad<'a> {
    Aad {
        table,
        column: "data_key",
        record_id: id,
    }
}

fn seal<T: Serialize>(
    key: &DataKey,
    table: &'static str,
    column: &'static str,
    id: &str,
    value: &T,
) -> Result<Vec<u8>, DeathError> {
    let plain =
        zeroize::Zeroizing::new(serde_json::to_vec(value).map_err(|_| CryptoError::UnknownFormat)?);
    Ok(key.seal(
        &Aad {
            table,
            column,
            record_id: id,
        },
        &plain,
    )?)
}

fn open<T: for<'de> Deserialize<'de>>(
    key: &DataKey,
    table: &'static str,
    column: &'static str,
    id: &str,
    blob: &[u8],
) -> Result<T, DeathError> {
    let plain = zeroize::Zeroizing::new(key.open(
        &Aad {
            table,
            column,
            record_id: id,
        },
        blob,
    )?);
    serde_json::from_slice(&plain).map_err(|_| DeathError::Crypto(CryptoError::UnknownFormat))
}

/// The data key of a death row.
pub fn death_key(keyring: &Keyring, row: &DeathRow) -> Result<DataKey, DeathError> {
    Ok(keyring.unwrap(&key_aad("death", &row.death_id), &row.data_key_wrapped)?)
}

/// Opens what `permit` allows of a death: the police part when police
/// circumstances or identity may be read, the forensic part when findings or
/// identity may be read; the identity inside either only when identity may be read.
pub fn open_death(
    keys: &impl super::KeySource,
    permit: &Permit,
    row: &DeathRow,
) -> Result<(Option<PoliceSealed>, Option<ForensicSealed>), DeathError> {
    let keyring = super::keyring(keys);
    let keyring: &Keyring = &keyring;
    if !permit.covers(&row.death_id) {
        return Err(DeathError::NotPermitted);
    }
    let identity = permit.may_read(FieldGroup::Identity);
    let police_ok = identity || permit.may_read(FieldGroup::PoliceCircumstances);
    let forensic_ok = identity || permit.may_read(FieldGroup::ForensicFindings);
    if !(police_ok || forensic_ok) {
        return Ok((None, None));
    }
    let key = death_key(keyring, row)?;
    let mut police: Option<PoliceSealed> = match (&row.police_sealed, police_ok) {
        (Some(blob), true) => Some(open(&key, "death", "police_sealed", &row.death_id, blob)?),
        _ => None,
    };
    let mut forensic: Option<ForensicSealed> = match (&row.forensic_sealed, forensic_ok) {
        (Some(blob), true) => Some(open(&key, "death", "forensic_sealed", &row.death_id, blob)?),
        _ => None,
    };
    if !identity {
        if let Some(p) = police.as_mut() {
            p.identity = None;
        }
        if let Some(f) = forensic.as_mut() {
            f.identity = None;
        }
    }
    Ok((police, forensic))
}

/// Opens a death's sealed parts with its data key.
fn open_parts(
    key: &DataKey,
    row: &DeathRow,
) -> Result<(Option<PoliceSealed>, Option<ForensicSealed>), DeathError> {
    let police = row
        .police_sealed
        .as_ref()
        .map(|b| open(key, "death", "police_sealed", &row.death_id, b))
        .transpose()?;
    let forensic = row
        .forensic_sealed
        .as_ref()
        .map(|b| open(key, "death", "forensic_sealed", &row.death_id, b))
        .transpose()?;
    Ok((police, forensic))
}

/// The mortality-domain reference of the known person an identity names, if any
/// (exactly, or by an automatic link of the similarity matcher).
async fn known_subject(
    conn: &mut crate::store::db::Conn,
    keyring: &Keyring,
    input: Option<&IdentityInput>,
    identity: Option<&NormalisedIdentity>,
) -> Result<Option<Vec<u8>>, StoreError> {
    let (Some(input), Some(identity)) = (input, identity) else {
        return Ok(None);
    };
    let found = find_and_lock(
        conn,
        keyring,
        &lookups(keyring, identity),
        &crate::identity::subject::probes(keyring, input, identity),
        identity.personal_number.is_some(),
    )
    .await?;
    found
        .map(|linked| {
            crate::store::refs::reference(
                keyring,
                RecordDomain::Mortality,
                linked.subject_id,
                linked.version,
            )
        })
        .transpose()
}

fn police_stats(input: &NotificationInput, basics: &Basics) -> DeathStats {
    let c = classify(None, &[], None, false, &[]);
    DeathStats {
        year: i64::from(basics.when.0),
        quarter: i64::from(basics.when.1),
        municipality: input.municipality.clone(),
        place_type: input.place_type.clone(),
        sex: basics.sex.clone(),
        age_band: basics.age_band.clone(),
        suspected_substances: input.suspected_substances.join(","),
        selection_b: (c.selection_b, c.selection_b_rule),
        selection_d: (c.selection_d, c.selection_d_rule),
        ..DeathStats::default()
    }
}

fn police_sealed(input: &NotificationInput) -> PoliceSealed {
    PoliceSealed {
        date_of_death: input.date_of_death.clone(),
        found_alone: input.found_alone,
        paraphernalia: input.paraphernalia,
        witnessed: input.witnessed,
        circumstances: input.circumstances.clone(),
        identity: input.identity.clone(),
    }
}

/// Records a police notification; returns the death id.
async fn notify_allowed(
    store: &Store,
    keys: &impl super::KeySource,
    input: NotificationInput,
    basics: Basics,
    reporter: String,
    event: AuditEvent,
) -> Result<String, DeathError> {
    let keys = &super::handle(keys);
    let keys = Arc::clone(keys);
    store
        .write(move |conn| {
            let (input, basics, reporter, event, keys) = (
                input.clone(),
                basics.clone(),
                reporter.clone(),
                event.clone(),
                keys.clone(),
            );
            Box::pin(async move {
                let death_id = uuid::Uuid::new_v4().to_string();
                let key = DataKey::generate(1)?;
                let (version, wrapped) = keys.wrap(&key, &key_aad("death", &death_id))?;
                let sealed = seal(
                    &key,
                    "death",
                    "police_sealed",
                    &death_id,
                    &police_sealed(&input),
                )?;
                let stats = police_stats(&input, &basics);
                let subject = known_subject(
                    &mut *conn,
                    &keys.current(),
                    input.identity.as_ref(),
                    basics.identity.as_ref(),
                )
                .await?;
                insert_death(
                    &mut *conn,
                    &NewDeath {
                        death_id: &death_id,
                        subject_ref: subject,
                        reporter: Some(&reporter),
                        stats: &stats,
                        forensic_complete: false,
                        overdose_id: None,
                        key: (&wrapped, version),
                        police_sealed: Some(&sealed),
                        forensic_sealed: None,
                    },
                )
                .await?;
                Ok::<_, DeathError>(super::recorded(death_id.clone(), death_id, event))
            })
        })
        .await
}

/// Amends a police notification (only before forensic completion; checked by policy).
pub async fn amend(
    store: &Store,
    keys: &impl super::KeySource,
    row: DeathRow,
    input: NotificationInput,
    basics: Basics,
    event: AuditEvent,
) -> Result<(), DeathError> {
    let keys = &super::handle(keys);
    let keys = Arc::clone(keys);
    store
        .write(move |conn| {
            let (row, input, basics, event, keys) = (
                row.clone(),
                input.clone(),
                basics.clone(),
                event.clone(),
                keys.clone(),
            );
            Box::pin(async move {
                let keyring = keys.current();
                // The row as it is now, held: the one the caller checked may have changed
                // since (a forensic record, an erasure, a rotation of its reference).
                let row = death_in(&mut *conn, &row.death_id)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let key = death_key(&keyring, &row)?;
                let sealed = seal(
                    &key,
                    "death",
                    "police_sealed",
                    &row.death_id,
                    &police_sealed(&input),
                )?;
                // A forensic record's statistics win; the police part only fills a bare notification.
                let stats = if row.has_forensic {
                    row.stats.clone()
                } else {
                    police_stats(&input, &basics)
                };
                // A new match replaces the stored reference; none keeps it.
                let subject = known_subject(
                    &mut *conn,
                    &keyring,
                    input.identity.as_ref(),
                    basics.identity.as_ref(),
                )
                .await?;
                update_death(
                    &mut *conn,
                    row.id,
                    &stats,
                    subject.as_deref(),
                    row.forensic_complete,
                    row.overdose_id.as_deref(),
                    Some(&sealed),
                    row.forensic_sealed.as_deref(),
                )
                .await?;
                Ok::<_, DeathError>(super::recorded(row.death_id.clone(), (), event))
            })
        })
        .await
}

fn forensic_stats(input: &ForensicInput, valid: &ValidForensic) -> DeathStats {
    let c = classify(
        valid.underlying.as_ref(),
        &valid.multiple,
        Some(valid.manner),
        input.toxicology_done,
        &valid.substances,
    );
    let relevant: Vec<&str> = input
        .substances
        .iter()
        .filter(|s| s.cause_relevant)
        .filter_map(|s| s.code.as_deref())
        .collect();
    DeathStats {
        year: i64::from(valid.basics.when.0),
        quarter: i64::from(valid.basics.when.1),
        municipality: input.municipality.clone(),
        place_type: input.place_type.clone(),
        sex: valid.basics.sex.clone(),
        age_band: valid.basics.age_band.clone(),
        manner: Some(valid.manner.as_str().to_owned()),
        autopsy_done: Some(input.autopsy_done),
        toxicology_done: Some(input.toxicology_done),
        underlying_cause: valid.underlying.as_ref().map(|c| c.as_str().to_owned()),
        multiple_causes: valid
            .multiple
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(","),
        suspected_substances: String::new(),
        substance_codes: relevant.join(","),
        selection_b: (c.selection_b, c.selection_b_rule),
        selection_d: (c.selection_d, c.selection_d_rule),
    }
}

/// Which row a forensic write goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Create a new death row.
    New,
    /// Complete or update this death row.
    Existing(String),
}

/// Creates or completes a forensic death record. With `Target::New` and a
/// `notification_id` in the input, the notification is completed (merged).
pub async fn record(
    store: &Store,
    keys: &impl super::KeySource,
    input: ForensicInput,
    valid: ValidForensic,
    target: Target,
    event: AuditEvent,
) -> Result<String, DeathError> {
    let keys = &super::handle(keys);
    let keys = Arc::clone(keys);
    store
        .write(move |conn| {
            let (input, valid, target, event, keys) = (
                input.clone(),
                valid.clone(),
                target.clone(),
                event.clone(),
                keys.clone(),
            );
            Box::pin(async move {
                let keyring = keys.current();
                let mut stats = forensic_stats(&input, &valid);
                let sealed_value = ForensicSealed {
                    date_of_death: input.date_of_death.clone(),
                    identity: input.identity.clone(),
                    substances: input.substances.clone(),
                    circumstances: input.circumstances.clone(),
                    background: input.background.clone(),
                };
                let subject = known_subject(
                    &mut *conn,
                    &keyring,
                    input.identity.as_ref(),
                    valid.basics.identity.as_ref(),
                )
                .await?;
                let existing_id = match (&target, &input.notification_id) {
                    (Target::Existing(id), _) => Some(id.clone()),
                    (Target::New, Some(id)) => Some(id.clone()),
                    (Target::New, None) => None,
                };
                let existing = match &existing_id {
                    Some(id) => Some(death_in(&mut *conn, id).await?.ok_or_else(|| {
                        DeathError::Invalid(vec![crate::field::FieldError::new(
                            "notification_id",
                            "is not a known death notification",
                        )])
                    })?),
                    None => None,
                };
                if matches!(target, Target::New)
                    && existing.as_ref().is_some_and(|e| e.has_forensic)
                {
                    return Err(DeathError::Invalid(vec![crate::field::FieldError::new(
                        "notification_id",
                        "already has a forensic record; update that record instead",
                    )]));
                }
                let death_id = match existing {
                    Some(row) => {
                        // What the police reported stays theirs.
                        stats.suspected_substances = row.stats.suspected_substances.clone();
                        let key = death_key(&keyring, &row)?;
                        let sealed = seal(
                            &key,
                            "death",
                            "forensic_sealed",
                            &row.death_id,
                            &sealed_value,
                        )?;
                        let overdose = input.overdose_id.as_deref().or(row.overdose_id.as_deref());
                        update_death(
                            &mut *conn,
                            row.id,
                            &stats,
                            subject.as_deref(),
                            input.final_status,
                            overdose,
                            row.police_sealed.as_deref(),
                            Some(&sealed),
                        )
                        .await?;
                        row.death_id
                    }
                    None => {
                        let death_id = uuid::Uuid::new_v4().to_string();
                        let key = DataKey::generate(1)?;
                        let (version, wrapped) = keys.wrap(&key, &key_aad("death", &death_id))?;
                        let sealed =
                            seal(&key, "death", "forensic_sealed", &death_id, &sealed_value)?;
                        insert_death(
                            &mut *conn,
                            &NewDeath {
                                death_id: &death_id,
                                subject_ref: subject,
                                reporter: None,
                                stats: &stats,
                                forensic_complete: input.final_status,
                                overdose_id: input.overdose_id.as_deref(),
                                key: (&wrapped, version),
                                police_sealed: None,
                                forensic_sealed: Some(&sealed),
                            },
                        )
                        .await?;
                        death_id
                    }
                };
                if let Some(overdose) = &input.overdose_id {
                    if !link_overdose(&mut *conn, overdose, &death_id).await? {
                        return Err(DeathError::Invalid(vec![crate::field::FieldError::new(
                            "overdose_id",
                            "is not a known overdose presentation",
                        )]));
                    }
                }
                for name in valid
                    .substances
                    .iter()
                    .filter_map(|s| s.nps_name.as_deref())
                {
                    signal_substance(&mut *conn, &name.to_lowercase()).await?;
                }
                Ok::<_, DeathError>(super::recorded(death_id.clone(), death_id, event))
            })
        })
        .await
}

/// The sealed details of an overdose.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OverdoseSealed {
    /// From an emergency department.
    Clinical(OverdoseInput),
    /// From police.
    Police(PoliceOverdoseInput),
}

impl OverdoseSealed {
    /// The identity as submitted, when there is one (police report none).
    fn identity(&self) -> Option<&IdentityInput> {
        match self {
            OverdoseSealed::Clinical(input) => input.identity.as_ref(),
            OverdoseSealed::Police(_) => None,
        }
    }

    /// What is kept in clear for counting: municipality, the substance codes
    /// (sorted, comma-separated), the outcome, and the NPS names for the early-warning list.
    fn clear_parts(&self) -> (String, String, String, Vec<String>) {
        match self {
            OverdoseSealed::Clinical(input) => {
                let mut codes = input.substances_confirmed.clone();
                codes.extend(input.substances_reported.iter().cloned());
                codes.sort();
                codes.dedup();
                (
                    input.municipality.clone(),
                    codes.join(","),
                    input.outcome.clone(),
                    input.nps_names.clone(),
                )
            }
            OverdoseSealed::Police(input) => (
                input.municipality.clone(),
                input.substances_suspected.join(","),
                input.outcome.clone(),
                input.nps_names.clone(),
            ),
        }
    }
}

/// Records an overdose (clinical when `facility` is given, else police); returns its id.
async fn record_overdose_allowed(
    store: &Store,
    keys: &impl super::KeySource,
    sealed_value: OverdoseSealed,
    basics: Basics,
    facility: Option<String>,
    reporter: String,
    event: AuditEvent,
) -> Result<String, DeathError> {
    let keys = &super::handle(keys);
    let (municipality, codes, outcome, nps) = sealed_value.clear_parts();
    let keys = Arc::clone(keys);
    store
        .write(move |conn| {
            let (
                sealed_value,
                basics,
                facility,
                reporter,
                event,
                keys,
                municipality,
                codes,
                outcome,
                nps,
            ) = (
                sealed_value.clone(),
                basics.clone(),
                facility.clone(),
                reporter.clone(),
                event.clone(),
                keys.clone(),
                municipality.clone(),
                codes.clone(),
                outcome.clone(),
                nps.clone(),
            );
            Box::pin(async move {
                let overdose_id = uuid::Uuid::new_v4().to_string();
                let key = DataKey::generate(1)?;
                let (version, wrapped) = keys.wrap(&key, &key_aad("overdose", &overdose_id))?;
                let sealed = seal(&key, "overdose", "sealed", &overdose_id, &sealed_value)?;
                let subject = known_subject(
                    &mut *conn,
                    &keys.current(),
                    sealed_value.identity(),
                    basics.identity.as_ref(),
                )
                .await?;
                insert_overdose(
                    &mut *conn,
                    &NewOverdose {
                        overdose_id: &overdose_id,
                        subject_ref: subject,
                        source: if facility.is_some() {
                            "clinical"
                        } else {
                            "police"
                        },
                        facility: facility.as_deref(),
                        reporter: &reporter,
                        when: basics.when,
                        municipality: &municipality,
                        sex: &basics.sex,
                        age_band: &basics.age_band,
                        substance_codes: &codes,
                        outcome: &outcome,
                        key: (&wrapped, version),
                        sealed: &sealed,
                    },
                )
                .await?;
                for name in &nps {
                    signal_substance(&mut *conn, &name.trim().to_lowercase()).await?;
                }
                Ok::<_, DeathError>(super::recorded(overdose_id.clone(), overdose_id, event))
            })
        })
        .await
}

/// Opens an overdose's sealed details when `permit` allows their field group (police
/// circumstances for a police record, clinical for an emergency department's), as
/// JSON; the identity in them only when identity may be read too.
pub fn open_overdose(
    keys: &impl super::KeySource,
    permit: &Permit,
    row: &crate::store::deaths::OverdoseRow,
) -> Result<Option<serde_json::Value>, DeathError> {
    let keyring = super::keyring(keys);
    let keyring: &Keyring = &keyring;
    if !permit.covers(&row.overdose_id) {
        return Err(DeathError::NotPermitted);
    }
    let group = if row.source == "police" {
        FieldGroup::PoliceCircumstances
    } else {
        FieldGroup::Clinical
    };
    if !permit.may_read(group) {
        return Ok(None);
    }
    let key = keyring.unwrap(
        &key_aad("overdose", &row.overdose_id),
        &row.data_key_wrapped,
    )?;
    let sealed: OverdoseSealed = open(&key, "overdose", "sealed", &row.overdose_id, &row.sealed)?;
    let mut details = serde_json::to_value(sealed).ok();
    // Identity is its own field group: the details never carry it unless the role
    // may also read identity.
    if let Some(serde_json::Value::Object(map)) = details
        .as_mut()
        .filter(|_| !permit.may_read(FieldGroup::Identity))
    {
        map.remove("identity");
    }
    Ok(details)
}

/// Removes the identity from every death and overdose record that names a person
/// being erased, re-sealing each part under the record's own key: those records do
/// not use the person's data key, so destroying it does not reach them. Statistics
/// and the reference stay, as they do for the person's other records. Returns how
/// many records changed.
pub async fn erase_identities(
    conn: &mut crate::store::db::Conn,
    keyring: &Keyring,
    reference: &[u8],
) -> Result<u64, DeathError> {
    let (deaths, overdoses) = crate::store::deaths::records_naming(conn, reference).await?;
    let mut changed = 0;
    for row in deaths {
        let key = death_key(keyring, &row)?;
        let (police, forensic) = open_parts(&key, &row)?;
        let police = police
            .map(|p| PoliceSealed {
                identity: None,
                ..p
            })
            .map(|p| seal(&key, "death", "police_sealed", &row.death_id, &p))
            .transpose()?;
        let forensic = forensic
            .map(|f| ForensicSealed {
                identity: None,
                ..f
            })
            .map(|f| seal(&key, "death", "forensic_sealed", &row.death_id, &f))
            .transpose()?;
        crate::store::deaths::reseal_death(conn, row.id, police.as_deref(), forensic.as_deref())
            .await?;
        changed += 1;
    }
    for row in overdoses {
        let key = keyring.unwrap(
            &key_aad("overdose", &row.overdose_id),
            &row.data_key_wrapped,
        )?;
        let OverdoseSealed::Clinical(details) =
            open(&key, "overdose", "sealed", &row.overdose_id, &row.sealed)?
        else {
            // Police overdose reports carry no identity.
            continue;
        };
        let erased = OverdoseSealed::Clinical(OverdoseInput {
            identity: None,
            ..details
        });
        let sealed = seal(&key, "overdose", "sealed", &row.overdose_id, &erased)?;
        crate::store::deaths::reseal_overdose(conn, &row.overdose_id, &sealed).await?;
        changed += 1;
    }
    Ok(changed)
}

/// `erase_identities` for every person erased so far, in one transaction (the
/// upgrade that introduced it runs this once).
pub async fn erase_identities_of_erased(
    store: &Store,
    keyring: Arc<Keyring>,
) -> Result<u64, DeathError> {
    let references = store
        .shredded_subjects()
        .await?
        .into_iter()
        .map(|(subject, version)| keyring.subject_ref(RecordDomain::Mortality, subject, version))
        .collect::<Result<Vec<_>, _>>()?;
    let job = (references, keyring);
    store
        .write_with(job, |conn, (references, keyring)| {
            Box::pin(async move {
                let mut changed = 0;
                for reference in references {
                    changed += erase_identities(conn, keyring, reference).await?;
                }
                Ok(Staged {
                    value: changed,
                    events: Vec::new(),
                })
            })
        })
        .await
}
