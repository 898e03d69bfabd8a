//! Cryptography: key material, envelope encryption and field sealing.
//!
//! - `keyfile`: the key file on disk (master key-encryption keys and pseudonym keys,
//!   each versioned); never stored in the database.
//! - `seal`: AES-256-GCM sealing of fields under per-subject data keys, and wrapping of
//!   those data keys under a master key; associated data binds every ciphertext to its
//!   table, column, record id and key version (NIST SP 800-38D, ASVS 11.3).
//! - `keyring`: the loaded keys, derived pseudonym keys and per-version usage counters.
//! - `pseudonym`: keyed pseudonyms (HMAC-SHA-256 under versioned keys derived from the
//!   key file), the only form in which an identity is looked up.
//! - `reference`: the per-domain encrypted references records carry instead of a
//!   subject id, so that no join across agencies is possible without the keys.

pub mod keyfile;
pub mod keyring;
pub mod pseudonym;
pub mod reference;
pub mod seal;
pub mod similarity;

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

pub use keyring::{Keyring, KeyringHandle};
pub use seal::{Aad, DataKey};

/// 256 bits of secret key material, zeroised on drop and never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secret32([u8; 32]);

impl Secret32 {
    /// Wraps raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Fresh random key material from the operating system's RNG.
    pub fn random() -> Result<Self, CryptoError> {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// The key bytes (for handing to a cipher; do not copy them elsewhere).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Secret32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret32([redacted])")
    }
}

/// Fills a buffer from the operating system's random number generator.
pub fn fill_random(buf: &mut [u8]) -> Result<(), CryptoError> {
    use ring::rand::SecureRandom;
    ring::rand::SystemRandom::new()
        .fill(buf)
        .map_err(|_| CryptoError::Rng)
}

/// Why a cryptographic operation failed. Never carries key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The blob is not in a format this build understands.
    #[error("sealed value has an unknown format")]
    UnknownFormat,
    /// The blob names a key version the keyring does not hold (retired or never known).
    #[error("no key of version {0} is available")]
    UnknownKeyVersion(u32),
    /// Authentication failed: wrong key, or the value was moved to another table,
    /// column or record, or was altered.
    #[error("sealed value failed authentication (wrong key, record or column, or tampered)")]
    Authentication,
    /// The operating system's RNG failed.
    #[error("the system random number generator failed")]
    Rng,
    /// The data key has been destroyed (crypto-shredded).
    #[error("the data key has been destroyed")]
    Shredded,
}
