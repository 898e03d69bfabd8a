//! Key lifecycle: opening the key file at start-up (and creating it on a brand-new
//! database), master-key and pseudonym-key rotation in resumable batches, retirement
//! of old versions, and a status report.

use std::path::Path;
use std::time::Duration;

use crate::audit::{AuditEvent, Outcome};
use crate::clock::today_utc;
use crate::crypto::keyfile::{KeyFile, KeyFileError, KeyKind};
use crate::crypto::{Aad, CryptoError, KeyringHandle};
use crate::identity::subject::{
    DATA_KEY_AAD_COLUMN, IDENTITY_AAD_COLUMN, IDENTITY_AAD_TABLE, IdentityInput, lookups, validate,
};
use crate::store::subjects::{KeyedTable, Moved, Rewrap};
use crate::store::{Store, StoreError};

/// How often a running service checks its key file for a rotation.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The key file is missing, unreadable or invalid.
    #[error(transparent)]
    File(#[from] KeyFileError),
    /// The key file does not belong to this database.
    #[error(
        "the key file does not match this database: {0}. Restore the key file that belongs \
         to this database (REGISTRY_KEY_FILE); new keys would make existing data unreadable"
    )]
    Mismatch(String),
    /// The database holds data, so a missing key file cannot simply be recreated.
    #[error(
        "key file {0} not found, but this database already holds data sealed under keys. \
         Restore the key file (REGISTRY_KEY_FILE); the service never creates new keys for old data"
    )]
    MissingForExistingData(String),
    /// A storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A cryptographic failure on one row.
    #[error("subject {registry_id}: {source}")]
    Row {
        /// The subject's public id.
        registry_id: String,
        /// The cause.
        #[source]
        source: CryptoError,
    },
    /// A request that cannot be carried out.
    #[error("{0}")]
    Refused(String),
}

/// Records a key operation in the audit log (never key material).
async fn audit_key_operation(store: &Store, action: &str, detail: String) -> Result<(), KeysError> {
    let event = AuditEvent {
        detail: Some(detail),
        purpose: Some("key_management".into()),
        rule: Some("cli".into()),
        ..AuditEvent::new("cli", "operator", action, Outcome::Success)
    };
    store.audit(&event).await?;
    Ok(())
}

/// Creates a new key file (`registry init`).
pub fn init(path: &Path) -> Result<(), KeysError> {
    KeyFile::generate()?.create(path)?;
    Ok(())
}

/// Opens the key file for a database, checking they belong together.
///
/// When the key file is missing and the database holds no keyed data yet (first
/// run), a new key file is created; otherwise start-up is refused.
pub async fn open(path: &Path, store: &Store) -> Result<(KeyringHandle, bool), KeysError> {
    let mut created = false;
    if !path.exists() {
        let (subjects, _) = store.subject_counts().await?;
        if subjects > 0 || !store.key_checks().await?.is_empty() {
            return Err(KeysError::MissingForExistingData(
                path.display().to_string(),
            ));
        }
        init(path)?;
        created = true;
    }
    let handle = KeyringHandle::load(path)?;
    register_and_verify(&handle, store).await?;
    let converted = store.upgrade_references(handle.current()).await?;
    if converted > 0 {
        // People erased before erasure reached deaths and overdoses: reach them now.
        let erased = crate::cases::deaths::erase_identities_of_erased(store, handle.current())
            .await
            .map_err(|e| KeysError::Refused(format!("upgrade: {e}")))?;
        store.compact_after_upgrade().await?;
        tracing::info!(
            records = converted,
            identities_removed = erased,
            "record links of the older schema converted to per-agency references"
        );
    }
    let encoded = encode_unencoded(store, &handle).await?;
    if encoded > 0 {
        tracing::info!(
            subjects = encoded,
            "similarity encodings computed for fuzzy linkage"
        );
    }
    if created {
        audit_key_operation(store, "create_keys", "master=1 pseudonym=1".into()).await?;
    }
    Ok((handle, created))
}

/// Compares the key file's check values with those the database recorded, and
/// records versions seen for the first time.
pub async fn register_and_verify(handle: &KeyringHandle, store: &Store) -> Result<(), KeysError> {
    let keyring = handle.current();
    let checks = keyring.check_values();
    for (kind, version, value, retired) in store.key_checks().await? {
        if retired {
            continue;
        }
        // The database allows only these two names (a check constraint).
        let kind_enum: KeyKind = kind.parse().unwrap_or(KeyKind::Pseudonym);
        let version = u32::try_from(version).unwrap_or(0);
        match checks.get(&(kind_enum, version)) {
            Some(held) if *held == value => {}
            Some(_) => {
                return Err(KeysError::Mismatch(format!(
                    "{kind} key version {version} differs"
                )));
            }
            None => {
                return Err(KeysError::Mismatch(format!(
                    "the database uses {kind} key version {version}, which the key file lacks"
                )));
            }
        }
    }
    for ((kind, version), value) in checks {
        store
            .register_key_check(kind.as_str(), *version, value)
            .await?;
    }
    Ok(())
}

/// Progress of a rotation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// The version rows were moved to.
    pub target_version: u32,
    /// Whether this run created that version (false when resuming).
    pub created_version: bool,
    /// Rows moved to it.
    pub rows_moved: u64,
    /// Rows skipped because they changed while being processed (picked up again).
    pub rows_retried: u64,
}

/// Starts or resumes a rotation: a new version is added only when no rows remain on
/// older versions, so re-running an interrupted rotation finishes it.
fn target_version(
    path: &Path,
    kind: KeyKind,
    rows_on_other_versions: i64,
) -> Result<(u32, bool), KeysError> {
    let mut file = KeyFile::load(path)?;
    if rows_on_other_versions > 0 {
        return Ok((file.set(kind).active, false));
    }
    let version = file.add_version(kind)?;
    file.replace(path)?;
    Ok((version, true))
}

async fn rows_not_on(store: &Store, kind: KeyKind, version: u32) -> Result<i64, KeysError> {
    Ok(store
        .key_version_counts()
        .await?
        .into_iter()
        .filter(|c| c.kind == kind.as_str() && c.version != i64::from(version))
        .map(|c| c.rows)
        .sum())
}

/// Re-wraps every subject's data key under a new master-key version, in batches.
///
/// Safe while the service runs: after adding the version it waits `settle` (longer
/// than the services' `RELOAD_INTERVAL`) so every instance can open rows under it;
/// each row is updated only if unchanged since it was read; and a final sweep after
/// another `settle` catches subjects created under the old version meanwhile. `progress` is called after each batch with the rows moved so far.
pub async fn rotate_master(
    store: &Store,
    path: &Path,
    batch: i64,
    settle: Duration,
    mut progress: impl FnMut(u64),
) -> Result<RotationReport, KeysError> {
    let active = KeyFile::load(path)?.master.active;
    let pending = rows_not_on(store, KeyKind::Master, active).await?;
    let (target, created) = target_version(path, KeyKind::Master, pending)?;
    let handle = KeyringHandle::load(path)?;
    register_and_verify(&handle, store).await?;
    let mut report = RotationReport {
        target_version: target,
        created_version: created,
        ..RotationReport::default()
    };
    for pass in 0..2 {
        if pass == 1 || created {
            // Give running services time to load the new version before rows move
            // to it (pass 0), and to stop using the old one before the final sweep.
            tokio::time::sleep(settle).await;
        }
        loop {
            let rows = store.subjects_to_rewrap(target, batch).await?;
            if rows.is_empty() {
                break;
            }
            let keyring = handle.current();
            let mut rewraps = Vec::with_capacity(rows.len());
            for row in rows {
                let Some(old) = row.data_key_wrapped else {
                    continue;
                };
                let aad = Aad {
                    table: IDENTITY_AAD_TABLE,
                    column: DATA_KEY_AAD_COLUMN,
                    record_id: &row.registry_id,
                };
                let data_key = keyring
                    .unwrap(&aad, &old)
                    .map_err(|source| KeysError::Row {
                        registry_id: row.registry_id.clone(),
                        source,
                    })?;
                let (version, wrapped) =
                    handle
                        .wrap(&data_key, &aad)
                        .map_err(|source| KeysError::Row {
                            registry_id: row.registry_id.clone(),
                            source,
                        })?;
                rewraps.push(Rewrap {
                    subject_id: row.subject_id,
                    old_wrapped: old,
                    new_wrapped: wrapped,
                    new_version: version,
                });
            }
            let moved = store.rewrap_subjects(&rewraps).await?;
            report.rows_moved += moved;
            report.rows_retried += rewraps.len() as u64 - moved;
            progress(report.rows_moved);
        }
        reseal_totp_secrets(store, &handle, target, batch, &mut report).await?;
        rewrap_records(store, &handle, target, batch, &mut report).await?;
    }
    audit_key_operation(
        store,
        "rotate_master_key",
        format!("version={target} moved={}", report.rows_moved),
    )
    .await?;
    Ok(report)
}

/// Re-wraps the own data keys of deaths and overdoses under `target`.
async fn rewrap_records(
    store: &Store,
    handle: &KeyringHandle,
    target: u32,
    batch: i64,
    report: &mut RotationReport,
) -> Result<(), KeysError> {
    for table in KeyedTable::ALL {
        loop {
            let rows = store.records_to_rewrap(table, target, batch).await?;
            if rows.is_empty() {
                break;
            }
            let keyring = handle.current();
            for (id, public_id, old) in rows {
                let aad = Aad {
                    table: table.names().0,
                    column: "data_key",
                    record_id: &public_id,
                };
                let row_err = |source| KeysError::Row {
                    registry_id: public_id.clone(),
                    source,
                };
                let key = keyring.unwrap(&aad, &old).map_err(row_err)?;
                let (version, wrapped) = handle.wrap(&key, &aad).map_err(row_err)?;
                if store
                    .rewrap_record(table, id, &old, &wrapped, version)
                    .await?
                {
                    report.rows_moved += 1;
                } else {
                    report.rows_retried += 1;
                }
            }
        }
    }
    Ok(())
}

/// Re-seals users' TOTP secrets (sealed directly under the master key) with `target`.
async fn reseal_totp_secrets(
    store: &Store,
    handle: &KeyringHandle,
    target: u32,
    batch: i64,
    report: &mut RotationReport,
) -> Result<(), KeysError> {
    loop {
        let rows = store.totp_to_reseal(target, batch).await?;
        if rows.is_empty() {
            return Ok(());
        }
        let keyring = handle.current();
        for (id, user_id, old) in rows {
            let aad = Aad {
                table: "app_user",
                column: "totp_secret",
                record_id: &user_id,
            };
            let row_err = |source| KeysError::Row {
                registry_id: user_id.clone(),
                source,
            };
            let secret =
                zeroize::Zeroizing::new(keyring.open_with_master(&aad, &old).map_err(row_err)?);
            let (version, sealed) = keyring.seal_with_master(&aad, &secret).map_err(row_err)?;
            if store.reseal_totp(id, &old, &sealed, version).await? {
                report.rows_moved += 1;
            } else {
                report.rows_retried += 1;
            }
        }
    }
}

/// Recomputes every subject's pseudonyms under a new pseudonym-key version from its
/// sealed identity, and the references its records carry, in batches. Linking and
/// reading keep working throughout: lookups and references use every available
/// version.
pub async fn rotate_pseudonym(
    store: &Store,
    path: &Path,
    batch: i64,
    settle: Duration,
    mut progress: impl FnMut(u64),
) -> Result<RotationReport, KeysError> {
    let active = KeyFile::load(path)?.pseudonym.active;
    let pending = rows_not_on(store, KeyKind::Pseudonym, active).await?;
    let (target, created) = target_version(path, KeyKind::Pseudonym, pending)?;
    let handle = KeyringHandle::load(path)?;
    register_and_verify(&handle, store).await?;
    let mut report = RotationReport {
        target_version: target,
        created_version: created,
        ..RotationReport::default()
    };
    let today = today_utc();
    for pass in 0..2 {
        if pass == 1 || created {
            // Give running services time to load the new version before rows move
            // to it (pass 0), and to stop using the old one before the final sweep.
            tokio::time::sleep(settle).await;
        }
        loop {
            let rows = store.subjects_to_repseudonymise(target, batch).await?;
            if rows.is_empty() {
                break;
            }
            let keyring = handle.current();
            for row in rows {
                // A shredded subject has no identity left to re-pseudonymise, but its
                // records still name it (they stay in the counts): their references move.
                let lookup = if row.shredded_at.is_some() {
                    None
                } else {
                    let input = open_identity_row(&keyring, &row)?;
                    let identity = validate(&input, today, "").map_err(|_| {
                        KeysError::Refused(format!(
                            "subject {}: sealed identity no longer validates",
                            row.registry_id
                        ))
                    })?;
                    let Some(lookup) = lookups(&keyring, &identity)
                        .into_iter()
                        .find(|l| l.version == target)
                    else {
                        return Err(KeysError::Refused(format!(
                            "pseudonym key version {target} is not available"
                        )));
                    };
                    let (encoding_sealed, buckets) =
                        similarity_of(&keyring, target, &row.registry_id, &input, &identity)?;
                    Some(Moved {
                        lookup,
                        encoding_sealed,
                        buckets,
                    })
                };
                if store
                    .repseudonymise_subject(
                        std::sync::Arc::clone(&keyring),
                        row.subject_id,
                        (row.pseudonym_version, target),
                        lookup.as_ref(),
                    )
                    .await?
                {
                    report.rows_moved += 1;
                } else {
                    report.rows_retried += 1;
                }
            }
            progress(report.rows_moved);
        }
    }
    audit_key_operation(
        store,
        "rotate_pseudonym_key",
        format!("version={target} moved={}", report.rows_moved),
    )
    .await?;
    Ok(report)
}

/// A subject's sealed similarity encoding and buckets under pseudonym-key `version`.
fn similarity_of(
    keyring: &crate::crypto::Keyring,
    version: u32,
    registry_id: &str,
    input: &IdentityInput,
    identity: &crate::identity::normalize::NormalisedIdentity,
) -> Result<(Vec<u8>, Vec<i64>), KeysError> {
    let keys = keyring.similarity_version(version).ok_or_else(|| {
        KeysError::Refused(format!("pseudonym key version {version} is not available"))
    })?;
    let linkable = crate::identity::similar::link_identity(input, identity);
    let sealed = keys
        .seal(&keys.encode(&linkable), registry_id)
        .map_err(|e| KeysError::Refused(format!("subject {registry_id}: {e}")))?;
    Ok((sealed, keys.buckets(&linkable).stored))
}

/// Gives every live subject created before fuzzy linkage, or stored under an older
/// blocking scheme, its similarity encoding and buckets under its own key version;
/// returns how many. Runs at start-up with
/// the key file, as the reference upgrade does.
async fn encode_unencoded(store: &Store, handle: &KeyringHandle) -> Result<u64, KeysError> {
    let (keyring, today) = (handle.current(), today_utc());
    let (mut done, mut after) = (0, 0);
    loop {
        let rows = store.subjects_to_encode(after, 1_000).await?;
        let Some(last) = rows.last() else {
            return Ok(done);
        };
        after = last.subject_id;
        for row in rows {
            // A subject whose identity cannot be opened or no longer validates
            // cannot be matched by similarity; the exact pseudonyms still find it,
            // and start-up goes on (the operator sees the warning).
            let encoded = open_identity_row(&keyring, &row).and_then(|input| {
                let identity = validate(&input, today, "").map_err(|_| {
                    KeysError::Refused("sealed identity no longer validates".into())
                })?;
                similarity_of(
                    &keyring,
                    row.pseudonym_version,
                    &row.registry_id,
                    &input,
                    &identity,
                )
            });
            match encoded {
                Ok((sealed, buckets)) => {
                    store.set_encoding(row.subject_id, sealed, buckets).await?;
                    done += 1;
                }
                Err(error) => tracing::warn!(
                    registry_id = %row.registry_id,
                    %error,
                    "subject left without a similarity encoding"
                ),
            }
        }
    }
}

/// Opens a subject's sealed identity with the keyring.
pub fn open_identity_row(
    keyring: &crate::crypto::Keyring,
    row: &crate::store::subjects::SealedSubject,
) -> Result<IdentityInput, KeysError> {
    let row_err = |source| KeysError::Row {
        registry_id: row.registry_id.clone(),
        source,
    };
    let (Some(wrapped), Some(sealed)) = (&row.data_key_wrapped, &row.identity_sealed) else {
        return Err(row_err(CryptoError::Shredded));
    };
    let data_key = keyring
        .unwrap(
            &Aad {
                table: IDENTITY_AAD_TABLE,
                column: DATA_KEY_AAD_COLUMN,
                record_id: &row.registry_id,
            },
            wrapped,
        )
        .map_err(row_err)?;
    let plain = zeroize::Zeroizing::new(
        data_key
            .open(
                &Aad {
                    table: IDENTITY_AAD_TABLE,
                    column: IDENTITY_AAD_COLUMN,
                    record_id: &row.registry_id,
                },
                sealed,
            )
            .map_err(row_err)?,
    );
    serde_json::from_slice(&plain).map_err(|_| row_err(CryptoError::UnknownFormat))
}

/// Retires a key version: refused while it is active or rows still use it.
pub async fn retire(
    store: &Store,
    path: &Path,
    kind: KeyKind,
    version: u32,
) -> Result<(), KeysError> {
    let mut file = KeyFile::load(path)?;
    if file.set(kind).active == version {
        return Err(KeysError::Refused(format!(
            "{} key version {version} is the active version; rotate to a new version first",
            kind.as_str()
        )));
    }
    let rows: i64 = store
        .key_version_counts()
        .await?
        .into_iter()
        .filter(|c| c.kind == kind.as_str() && c.version == i64::from(version))
        .map(|c| c.rows)
        .sum();
    if rows > 0 {
        return Err(KeysError::Refused(format!(
            "{rows} subjects still use {} key version {version}; finish the rotation first",
            kind.as_str()
        )));
    }
    file.retire(kind, version)?;
    file.replace(path)?;
    store.retire_key_check(kind.as_str(), version).await?;
    audit_key_operation(
        store,
        "retire_key",
        format!("{} version={version}", kind.as_str()),
    )
    .await
}

/// One line of `registry keys status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionStatus {
    /// Key kind.
    pub kind: KeyKind,
    /// Version number.
    pub version: u32,
    /// `active`, `available` or `retired`.
    pub state: &'static str,
    /// Subjects on this version (live ones, and shredded ones whose records still
    /// carry references under it).
    pub rows: i64,
}

/// Every key version with its state and the rows that use it.
pub async fn status(store: &Store, path: &Path) -> Result<Vec<VersionStatus>, KeysError> {
    let file = KeyFile::load(path)?;
    let counts = store.key_version_counts().await?;
    let mut out = Vec::new();
    for kind in [KeyKind::Master, KeyKind::Pseudonym] {
        let set = file.set(kind);
        for (version, key) in &set.versions {
            let state = if *version == set.active {
                "active"
            } else if key.secret.is_some() {
                "available"
            } else {
                "retired"
            };
            let rows = counts
                .iter()
                .filter(|c| c.kind == kind.as_str() && c.version == i64::from(*version))
                .map(|c| c.rows)
                .sum();
            out.push(VersionStatus {
                kind,
                version: *version,
                state,
                rows,
            });
        }
    }
    Ok(out)
}
