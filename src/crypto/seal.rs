//! Sealing fields and wrapping data keys with AES-256-GCM.
//!
//! Blob layout (self-describing, so keys can rotate under stored data):
//!
//! ```text
//! byte 0      format version (1)
//! bytes 1..5  key version, big-endian u32
//! bytes 5..17 96-bit nonce from the OS RNG
//! bytes 17..  ciphertext followed by the 128-bit tag
//! ```
//!
//! The associated data is built from the table, column, record id and key version,
//! each length-prefixed, so a blob copied to another row or column fails to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use super::{CryptoError, Secret32, fill_random};

const FORMAT_V1: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + 12;
const TAG_LEN: usize = 16;
const AAD_DOMAIN: &[u8] = b"kosovo-drug-registry/seal/v1";

/// Where a sealed value lives; bound into the ciphertext as associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aad<'a> {
    /// Table name, e.g. `subject`.
    pub table: &'a str,
    /// Column name, e.g. `identity`.
    pub column: &'a str,
    /// The row's stable id (its public registry id).
    pub record_id: &'a str,
}

impl Aad<'_> {
    fn encode(&self, key_version: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        for part in [
            AAD_DOMAIN,
            self.table.as_bytes(),
            self.column.as_bytes(),
            self.record_id.as_bytes(),
        ] {
            out.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(part);
        }
        out.extend_from_slice(&key_version.to_be_bytes());
        out
    }
}

/// A per-subject data key with its version.
#[derive(Debug, Clone)]
pub struct DataKey {
    /// Version of this subject's data key (bumped if the subject is re-keyed).
    pub version: u32,
    key: Secret32,
}

impl DataKey {
    /// A fresh random 256-bit data key.
    pub fn generate(version: u32) -> Result<Self, CryptoError> {
        Ok(Self {
            version,
            key: Secret32::random()?,
        })
    }

    /// Seals a field value.
    pub fn seal(&self, aad: &Aad<'_>, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        seal_with(&self.key, self.version, aad, plaintext)
    }

    /// Opens a sealed field value; fails if it belongs to another record or column.
    pub fn open(&self, aad: &Aad<'_>, blob: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let version = blob_key_version(blob)?;
        if version != self.version {
            return Err(CryptoError::UnknownKeyVersion(version));
        }
        open_with(&self.key, aad, blob)
    }

    /// Wraps (encrypts) this data key under a master key of the given version.
    pub fn wrap(
        &self,
        master: &Secret32,
        master_version: u32,
        aad: &Aad<'_>,
    ) -> Result<Vec<u8>, CryptoError> {
        let mut plain = Vec::with_capacity(36);
        plain.extend_from_slice(&self.version.to_be_bytes());
        plain.extend_from_slice(self.key.expose());
        let blob = seal_with(master, master_version, aad, &plain);
        zeroize::Zeroize::zeroize(&mut plain);
        blob
    }

    /// Unwraps a data key with the master key whose version the blob names.
    pub fn unwrap(master: &Secret32, aad: &Aad<'_>, blob: &[u8]) -> Result<Self, CryptoError> {
        let mut plain = open_with(master, aad, blob)?;
        if plain.len() != 36 {
            zeroize::Zeroize::zeroize(&mut plain);
            return Err(CryptoError::UnknownFormat);
        }
        let mut version = [0u8; 4];
        version.copy_from_slice(&plain[..4]);
        let mut key = [0u8; 32];
        key.copy_from_slice(&plain[4..]);
        zeroize::Zeroize::zeroize(&mut plain);
        Ok(Self {
            version: u32::from_be_bytes(version),
            key: Secret32::from_bytes(key),
        })
    }
}

/// The key version a blob was sealed under (read from its header).
pub fn blob_key_version(blob: &[u8]) -> Result<u32, CryptoError> {
    if blob.len() < HEADER_LEN + TAG_LEN || blob[0] != FORMAT_V1 {
        return Err(CryptoError::UnknownFormat);
    }
    let mut version = [0u8; 4];
    version.copy_from_slice(&blob[1..5]);
    Ok(u32::from_be_bytes(version))
}

pub(crate) fn seal_with(
    key: &Secret32,
    key_version: u32,
    aad: &Aad<'_>,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256Gcm::new(key.expose().into());
    let mut nonce = [0u8; 12];
    fill_random(&mut nonce)?;
    let associated = aad.encode(key_version);
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &associated,
            },
        )
        .map_err(|_| CryptoError::Authentication)?;
    let mut blob = Vec::with_capacity(HEADER_LEN + ciphertext.len());
    blob.push(FORMAT_V1);
    blob.extend_from_slice(&key_version.to_be_bytes());
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&ciphertext);
    Ok(blob)
}

pub(crate) fn open_with(
    key: &Secret32,
    aad: &Aad<'_>,
    blob: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let key_version = blob_key_version(blob)?;
    let cipher = Aes256Gcm::new(key.expose().into());
    let associated = aad.encode(key_version);
    cipher
        .decrypt(
            Nonce::from_slice(&blob[5..HEADER_LEN]),
            Payload {
                msg: &blob[HEADER_LEN..],
                aad: &associated,
            },
        )
        .map_err(|_| CryptoError::Authentication)
}

/// The nonce of a blob (for tests that check nonce uniqueness).
pub fn blob_nonce(blob: &[u8]) -> Option<&[u8]> {
    blob.get(5..HEADER_LEN)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    const AAD: Aad<'static> = Aad {
        table: "subject",
        column: "identity",
        record_id: "r-1",
    };

    #[test]
    fn sealed_value_opens_only_in_its_own_row_and_column() {
        let key = DataKey::generate(1).expect("key");
        let blob = key.seal(&AAD, b"Ardita Gashi").expect("sealed");
        assert_eq!(key.open(&AAD, &blob).expect("opens"), b"Ardita Gashi");

        let other_row = Aad {
            record_id: "r-2",
            ..AAD
        };
        assert_eq!(
            key.open(&other_row, &blob),
            Err(CryptoError::Authentication)
        );
        let other_column = Aad {
            column: "notes",
            ..AAD
        };
        assert_eq!(
            key.open(&other_column, &blob),
            Err(CryptoError::Authentication)
        );
        let other_table = Aad {
            table: "episode",
            ..AAD
        };
        assert_eq!(
            key.open(&other_table, &blob),
            Err(CryptoError::Authentication)
        );
        let other_key = DataKey::generate(1).expect("key");
        assert_eq!(
            other_key.open(&AAD, &blob),
            Err(CryptoError::Authentication)
        );
    }

    #[test]
    fn tampered_or_truncated_blobs_fail() {
        let key = DataKey::generate(1).expect("key");
        let mut blob = key.seal(&AAD, b"x").expect("sealed");
        let last = blob.len() - 1;
        blob[last] ^= 1;
        assert_eq!(key.open(&AAD, &blob), Err(CryptoError::Authentication));
        assert_eq!(key.open(&AAD, &blob[..10]), Err(CryptoError::UnknownFormat));
        let mut relabelled = key.seal(&AAD, b"x").expect("sealed");
        relabelled[4] = 9; // claims another key version
        assert_eq!(
            key.open(&AAD, &relabelled),
            Err(CryptoError::UnknownKeyVersion(9))
        );
    }

    #[test]
    fn key_version_is_bound_into_the_associated_data() {
        let key = DataKey::generate(1).expect("key");
        let blob = key.seal(&AAD, b"x").expect("sealed");
        // Same key bytes presented as version 2: header and AAD disagree.
        let mut as_v2 = blob.clone();
        as_v2[1..5].copy_from_slice(&2u32.to_be_bytes());
        let v2 = DataKey {
            version: 2,
            key: key.key.clone(),
        };
        assert_eq!(v2.open(&AAD, &as_v2), Err(CryptoError::Authentication));
    }

    #[test]
    fn data_keys_wrap_and_unwrap_under_the_master_key() {
        let master = Secret32::random().expect("master");
        let key = DataKey::generate(3).expect("key");
        let aad = Aad {
            table: "subject",
            column: "data_key",
            record_id: "r-1",
        };
        let wrapped = key.wrap(&master, 7, &aad).expect("wrapped");
        assert_eq!(blob_key_version(&wrapped), Ok(7));
        let back = DataKey::unwrap(&master, &aad, &wrapped).expect("unwrapped");
        assert_eq!(back.version, 3);
        let blob = key.seal(&AAD, b"value").expect("sealed");
        assert_eq!(back.open(&AAD, &blob).expect("opens"), b"value");

        let other_master = Secret32::random().expect("master");
        assert!(DataKey::unwrap(&other_master, &aad, &wrapped).is_err());
        let other_subject = Aad {
            record_id: "r-2",
            ..aad
        };
        assert!(DataKey::unwrap(&master, &other_subject, &wrapped).is_err());
    }

    #[test]
    fn one_hundred_thousand_seals_use_distinct_nonces() {
        let key = DataKey::generate(1).expect("key");
        let mut seen = HashSet::with_capacity(100_000);
        for _ in 0..100_000 {
            let blob = key.seal(&AAD, b"").expect("sealed");
            let nonce = blob_nonce(&blob).expect("nonce").to_vec();
            assert!(seen.insert(nonce), "nonce repeated");
        }
        assert_eq!(seen.len(), 100_000);
    }

    #[test]
    fn debug_output_never_shows_key_bytes() {
        let key = DataKey::generate(1).expect("key");
        let text = format!("{key:?}");
        assert!(text.contains("redacted"), "{text}");
    }
}
