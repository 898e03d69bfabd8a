//! The reference from an agency's record to its person: one keyed value per agency
//! domain, so a database dump alone cannot join a death to a treatment history.
//!
//! A reference is one AES-256 block: the subject's internal id, the pseudonym-key
//! version and a domain tag, encrypted under a key derived (HKDF) from that version
//! of the pseudonym key for that domain only. One block is a keyed permutation, so
//! a reference is
//! - deterministic: all records of one person in one domain carry the same value,
//!   which lookups, listings by person and counting rules use in SQL;
//! - different in every domain: treatment, social-work and mortality references of
//!   one person share nothing without the key;
//! - reversible with the key only: the service finds the person of a record (and its
//!   data key) by decrypting; a wrong key or a forged value fails the tag check
//!   (2^-64).
//!
//! An HMAC would give the first two but not the third: finding the person of a
//! listed record would then need a table from reference to person, which is the
//! join this removes.

use aes_gcm::aes::Aes256;
use aes_gcm::aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use ring::hkdf;

use super::Secret32;

/// The agencies whose records are kept apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordDomain {
    /// Treatment episodes (health).
    Treatment,
    /// Social-work contacts.
    SocialWork,
    /// Drug-related deaths and overdoses (forensic medicine, police, emergency care).
    Mortality,
}

impl RecordDomain {
    /// Every domain.
    pub const ALL: [Self; 3] = [Self::Treatment, Self::SocialWork, Self::Mortality];

    fn index(self) -> usize {
        match self {
            Self::Treatment => 0,
            Self::SocialWork => 1,
            Self::Mortality => 2,
        }
    }

    fn label(self) -> &'static [u8] {
        match self {
            Self::Treatment => b"record-ref/treatment",
            Self::SocialWork => b"record-ref/social-work",
            Self::Mortality => b"record-ref/mortality",
        }
    }

    /// Tag inside the block: decrypting with another domain's key cannot pass.
    fn tag(self) -> [u8; 4] {
        match self {
            Self::Treatment => *b"TRT1",
            Self::SocialWork => *b"SOC1",
            Self::Mortality => *b"MRT1",
        }
    }

    /// The record tables of the domain (fixed names, never user input).
    pub fn tables(self) -> &'static [&'static str] {
        match self {
            Self::Treatment => &["episode"],
            Self::SocialWork => &["social_contact"],
            Self::Mortality => &["death", "overdose"],
        }
    }
}

/// A stored reference.
pub type SubjectRef = [u8; 16];

/// The reference ciphers of one pseudonym-key version.
pub struct ReferenceKeys {
    version: u32,
    ciphers: [Aes256; 3],
}

impl std::fmt::Debug for ReferenceKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReferenceKeys {{ version: {}, .. }}", self.version)
    }
}

struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

impl ReferenceKeys {
    /// Derives the per-domain keys of one pseudonym-key version.
    pub fn derive(prk: &hkdf::Prk, version: u32) -> Self {
        let version_bytes = version.to_be_bytes();
        let cipher = |domain: RecordDomain| {
            let mut key = zeroize::Zeroizing::new([0u8; 32]);
            let info = [domain.label(), b"|v", &version_bytes];
            // expand/fill fail only for lengths over 255 blocks; 32 bytes is one.
            if let Ok(okm) = prk.expand(&info, Len32) {
                let _ = okm.fill(key.as_mut());
            }
            Aes256::new(key.as_ref().into())
        };
        Self {
            version,
            ciphers: RecordDomain::ALL.map(cipher),
        }
    }

    /// The reference of a subject in a domain.
    pub fn encode(&self, domain: RecordDomain, subject_id: i64) -> SubjectRef {
        let mut block = [0u8; 16];
        block[..8].copy_from_slice(&subject_id.to_be_bytes());
        block[8..12].copy_from_slice(&self.version.to_be_bytes());
        block[12..].copy_from_slice(&domain.tag());
        self.ciphers[domain.index()].encrypt_block((&mut block).into());
        block
    }

    /// The subject a reference names, when it was made with these keys for `domain`.
    pub fn decode(&self, domain: RecordDomain, reference: &[u8]) -> Option<i64> {
        let mut block: [u8; 16] = reference.try_into().ok()?;
        self.ciphers[domain.index()].decrypt_block((&mut block).into());
        let tag_ok = block[8..12] == self.version.to_be_bytes() && block[12..] == domain.tag();
        tag_ok.then(|| {
            let mut id = [0u8; 8];
            id.copy_from_slice(&block[..8]);
            i64::from_be_bytes(id)
        })
    }
}

/// Derives the HKDF pseudo-random key of a pseudonym secret (shared with
/// `pseudonym::PseudonymKeys`, whose labels differ).
pub fn extract(secret: &Secret32, salt: &[u8]) -> hkdf::Prk {
    hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(secret.expose())
}

/// The HMAC-SHA256 key of one domain (`label`) and key version, expanded from `prk`
/// (info `label|v` + version). HKDF's expand fails only for more than 255 blocks and
/// one HMAC key is one block, so the fallback to `secret` itself is never taken.
pub fn hmac_key(prk: &hkdf::Prk, label: &[u8], version: u32, secret: &Secret32) -> ring::hmac::Key {
    let version_bytes = version.to_be_bytes();
    let info = [label, b"|v", &version_bytes];
    match prk.expand(&info, ring::hmac::HMAC_SHA256) {
        Ok(okm) => ring::hmac::Key::from(okm),
        Err(ring::error::Unspecified) => {
            ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.expose())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &Secret32, version: u32) -> ReferenceKeys {
        ReferenceKeys::derive(&extract(secret, b"test"), version)
    }

    #[test]
    fn a_reference_decodes_only_in_its_domain_and_version() {
        let secret = Secret32::random().expect("secret");
        let v1 = keys(&secret, 1);
        let v2 = keys(&secret, 2);
        for id in [1_i64, 2, 4096, i64::MAX] {
            let refs = RecordDomain::ALL.map(|d| v1.encode(d, id));
            assert_ne!(refs[0], refs[1]);
            assert_ne!(refs[1], refs[2]);
            assert_ne!(refs[0], refs[2]);
            for (domain, r) in RecordDomain::ALL.into_iter().zip(refs) {
                assert_eq!(v1.decode(domain, &r), Some(id));
                assert_eq!(v2.decode(domain, &r), None, "another version's key");
                for other in RecordDomain::ALL.into_iter().filter(|d| *d != domain) {
                    assert_eq!(v1.decode(other, &r), None, "another domain's key");
                }
            }
            assert_ne!(
                v1.encode(RecordDomain::Treatment, id),
                v2.encode(RecordDomain::Treatment, id)
            );
        }
        let stranger = keys(&Secret32::random().expect("secret"), 1);
        let r = v1.encode(RecordDomain::Mortality, 7);
        assert_eq!(stranger.decode(RecordDomain::Mortality, &r), None);
        assert_eq!(v1.decode(RecordDomain::Mortality, &r[..15]), None);
        let mut forged = r;
        forged[3] ^= 1;
        assert_eq!(v1.decode(RecordDomain::Mortality, &forged), None);
    }

    #[test]
    fn references_of_consecutive_ids_look_unrelated() {
        let v1 = keys(&Secret32::random().expect("secret"), 1);
        let a = v1.encode(RecordDomain::Treatment, 1);
        let b = v1.encode(RecordDomain::Treatment, 2);
        let same_bits: u32 = a.iter().zip(b).map(|(x, y)| (!(x ^ y)).count_ones()).sum();
        // 128 bits, each equal with probability 1/2: 64 ± 5.7.
        assert!((30..=98).contains(&same_bits), "{same_bits} equal bits");
    }
}
