//! The keys a running process holds: master keys by version, derived pseudonym keys
//! by version, and counters of encryptions per master-key version.
//!
//! `KeyringHandle` lets the service pick up a rotated key file without a restart:
//! a background task reloads it when its modification time changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use ring::hmac;

use super::keyfile::{KeyFile, KeyFileError, KeyKind};
use super::similarity::SimilarityKeys;
use super::{Aad, CryptoError, DataKey, Secret32};
use crate::crypto::pseudonym::{Domain, Pseudonym, PseudonymKeys};
use crate::crypto::reference::{RecordDomain, SubjectRef};

/// Encryptions under one key before the service warns (NIST SP 800-38D §8.3 allows
/// 2^32 with random nonces; warn well before).
const ENCRYPTION_WARNING: u64 = 1 << 30;

/// Loaded key material.
#[derive(Debug)]
pub struct Keyring {
    master: BTreeMap<u32, Secret32>,
    active_master: u32,
    pseudonym: BTreeMap<u32, PseudonymKeys>,
    active_pseudonym: u32,
    check: BTreeMap<(KeyKind, u32), String>,
    audit_signer: Option<ring::signature::Ed25519KeyPair>,
}

impl Keyring {
    /// Builds the keyring from a key file's available (non-retired) versions.
    pub fn from_file(file: &KeyFile) -> Self {
        let mut check = BTreeMap::new();
        let master: BTreeMap<u32, Secret32> = file
            .master
            .available()
            .map(|(v, s)| {
                check.insert((KeyKind::Master, v), check_value(s));
                (v, s.clone())
            })
            .collect();
        let pseudonym = file
            .pseudonym
            .available()
            .map(|(v, s)| {
                check.insert((KeyKind::Pseudonym, v), check_value(s));
                (v, PseudonymKeys::derive(s, v))
            })
            .collect();
        Self {
            master,
            active_master: file.master.active,
            pseudonym,
            active_pseudonym: file.pseudonym.active,
            check,
            audit_signer: ring::signature::Ed25519KeyPair::from_pkcs8(&file.audit_signing_key).ok(),
        }
    }

    /// The master-key version used for new wraps.
    pub fn active_master_version(&self) -> u32 {
        self.active_master
    }

    /// The pseudonym-key version used for new pseudonyms.
    pub fn active_pseudonym_version(&self) -> u32 {
        self.active_pseudonym
    }

    /// Wraps a data key under the active master key.
    pub fn wrap(&self, key: &DataKey, aad: &Aad<'_>) -> Result<(u32, Vec<u8>), CryptoError> {
        let master = self
            .master
            .get(&self.active_master)
            .ok_or(CryptoError::UnknownKeyVersion(self.active_master))?;
        Ok((
            self.active_master,
            key.wrap(master, self.active_master, aad)?,
        ))
    }

    /// Unwraps a data key with whichever master version the blob names.
    pub fn unwrap(&self, aad: &Aad<'_>, blob: &[u8]) -> Result<DataKey, CryptoError> {
        let version = super::seal::blob_key_version(blob)?;
        let master = self
            .master
            .get(&version)
            .ok_or(CryptoError::UnknownKeyVersion(version))?;
        DataKey::unwrap(master, aad, blob)
    }

    /// Pseudonyms of `input` under every available version, active first.
    /// Lookups use all of them so linking keeps working during a rotation.
    pub fn pseudonyms(&self, domain: Domain, input: &[u8]) -> Vec<(u32, Pseudonym)> {
        let mut out = Vec::with_capacity(self.pseudonym.len());
        if let Some(active) = self.pseudonym.get(&self.active_pseudonym) {
            out.push((self.active_pseudonym, active.pseudonym(domain, input)));
        }
        for (version, keys) in &self.pseudonym {
            if *version != self.active_pseudonym {
                out.push((*version, keys.pseudonym(domain, input)));
            }
        }
        out
    }

    /// The similarity keys of every available version, active first.
    pub fn similarity_keys(&self) -> Vec<&SimilarityKeys> {
        let active = self.pseudonym.get(&self.active_pseudonym);
        active
            .into_iter()
            .chain(
                self.pseudonym
                    .iter()
                    .filter(|(v, _)| **v != self.active_pseudonym)
                    .map(|(_, k)| k),
            )
            .map(|k| &k.similarity)
            .collect()
    }

    /// The similarity keys of one version, when the key file holds it.
    pub fn similarity_version(&self, version: u32) -> Option<&SimilarityKeys> {
        self.pseudonym.get(&version).map(|k| &k.similarity)
    }

    /// The pseudonym of `input` under the active version.
    pub fn active_pseudonym(&self, domain: Domain, input: &[u8]) -> Option<Pseudonym> {
        self.pseudonym
            .get(&self.active_pseudonym)
            .map(|k| k.pseudonym(domain, input))
    }

    /// The reference of a subject in an agency's domain under pseudonym-key
    /// `version` (the subject's own: all its references move with its pseudonyms).
    pub fn subject_ref(
        &self,
        domain: RecordDomain,
        subject_id: i64,
        version: u32,
    ) -> Result<SubjectRef, CryptoError> {
        self.pseudonym
            .get(&version)
            .map(|k| k.references.encode(domain, subject_id))
            .ok_or(CryptoError::UnknownKeyVersion(version))
    }

    /// The subject and key version a record's reference names, trying every
    /// available version; `None` for a value no available key made for `domain`.
    pub fn subject_of(&self, domain: RecordDomain, reference: &[u8]) -> Option<(i64, u32)> {
        self.pseudonym
            .iter()
            .find_map(|(v, k)| k.references.decode(domain, reference).map(|id| (id, *v)))
    }

    /// The Ed25519 key that signs audit checkpoints.
    pub fn audit_signer(&self) -> Option<&ring::signature::Ed25519KeyPair> {
        self.audit_signer.as_ref()
    }

    /// Seals a small service secret (e.g. a user's TOTP secret) directly under the
    /// active master key; returns the master version used.
    pub fn seal_with_master(
        &self,
        aad: &Aad<'_>,
        plaintext: &[u8],
    ) -> Result<(u32, Vec<u8>), CryptoError> {
        let master = self
            .master
            .get(&self.active_master)
            .ok_or(CryptoError::UnknownKeyVersion(self.active_master))?;
        Ok((
            self.active_master,
            super::seal::seal_with(master, self.active_master, aad, plaintext)?,
        ))
    }

    /// Opens a value sealed with `seal_with_master`, under whichever version it names.
    pub fn open_with_master(&self, aad: &Aad<'_>, blob: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let version = super::seal::blob_key_version(blob)?;
        let master = self
            .master
            .get(&version)
            .ok_or(CryptoError::UnknownKeyVersion(version))?;
        super::seal::open_with(master, aad, blob)
    }

    /// A key-check value per available version: an HMAC of a constant, which lets
    /// start-up notice a key file that does not belong to the database without
    /// revealing anything about the key.
    pub fn check_values(&self) -> &BTreeMap<(KeyKind, u32), String> {
        &self.check
    }
}

fn check_value(secret: &Secret32) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose());
    hex::encode(&hmac::sign(&key, b"kosovo-drug-registry/key-check/v1").as_ref()[..16])
}

/// A keyring that follows its key file, plus usage counters that survive reloads.
#[derive(Debug)]
pub struct KeyringHandle {
    path: PathBuf,
    current: RwLock<Arc<Keyring>>,
    loaded_mtime: Mutex<Option<SystemTime>>,
    wraps: Mutex<BTreeMap<u32, Arc<AtomicU64>>>,
}

impl KeyringHandle {
    /// Loads the key file at `path`.
    pub fn load(path: &Path) -> Result<Self, KeyFileError> {
        let file = KeyFile::load(path)?;
        Ok(Self {
            path: path.to_owned(),
            current: RwLock::new(Arc::new(Keyring::from_file(&file))),
            loaded_mtime: Mutex::new(mtime(path)),
            wraps: Mutex::new(BTreeMap::new()),
        })
    }

    /// The keyring in force now.
    pub fn current(&self) -> Arc<Keyring> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reloads the key file if it changed on disk; returns whether it did.
    pub fn reload_if_changed(&self) -> Result<bool, KeyFileError> {
        let now = mtime(&self.path);
        let mut loaded = self
            .loaded_mtime
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now == *loaded {
            return Ok(false);
        }
        let file = KeyFile::load(&self.path)?;
        let keyring = Arc::new(Keyring::from_file(&file));
        match self.current.write() {
            Ok(mut guard) => *guard = keyring,
            Err(poisoned) => *poisoned.into_inner() = keyring,
        }
        *loaded = now;
        Ok(true)
    }

    /// Wraps a data key under the active master key and counts the encryption.
    pub fn wrap(&self, key: &DataKey, aad: &Aad<'_>) -> Result<(u32, Vec<u8>), CryptoError> {
        let (version, blob) = self.current().wrap(key, aad)?;
        let counter = {
            let mut wraps = self
                .wraps
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(wraps.entry(version).or_default())
        };
        let count = counter.fetch_add(1, Ordering::Relaxed) + 1;
        if count == ENCRYPTION_WARNING {
            tracing::warn!(
                key.kind = "master",
                key.version = version,
                "master key has done 2^30 encryptions in this process; rotate it"
            );
        }
        Ok((version, blob))
    }

    /// Encryptions under each master-key version by this process since start.
    pub fn wrap_counts(&self) -> BTreeMap<u32, u64> {
        self.wraps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(v, c)| (*v, c.load(Ordering::Relaxed)))
            .collect()
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
