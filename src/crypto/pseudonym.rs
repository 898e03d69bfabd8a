//! Keyed pseudonyms: HMAC-SHA256 under keys derived with HKDF from the pseudonym key,
//! one key per domain and version (ENISA 2021; EDPB 01/2025 "pseudonymisation domains").
//!
//! A plain hash would not do: the attribute space (name, birth date, sex) is small
//! enough to enumerate, so only someone holding the key can compute a pseudonym.

use ring::hmac;

use super::Secret32;

const SALT: &[u8] = b"kosovo-drug-registry/pseudonym-key/v1";

/// Where a pseudonym is used; pseudonyms of one domain never join with another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// Linking records of one person inside the registry.
    Subject,
    /// Record keys of statistical snapshots (the cell-key method).
    RecordKey,
}

impl Domain {
    fn label(self) -> &'static [u8] {
        match self {
            Self::Subject => b"subject",
            Self::RecordKey => b"record-key",
        }
    }
}

/// A 256-bit pseudonym.
pub type Pseudonym = [u8; 32];

/// The derived HMAC keys of one pseudonym-key version.
pub struct PseudonymKeys {
    /// The pseudonym-key version they come from.
    pub version: u32,
    subject: hmac::Key,
    record_key: hmac::Key,
    /// The references from agencies' records to their person.
    pub references: super::reference::ReferenceKeys,
    /// The similarity encodings and blocking buckets of fuzzy linkage.
    pub similarity: super::similarity::SimilarityKeys,
}

impl std::fmt::Debug for PseudonymKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PseudonymKeys {{ version: {}, .. }}", self.version)
    }
}

impl PseudonymKeys {
    /// Derives the per-domain keys of one version.
    pub fn derive(secret: &Secret32, version: u32) -> Self {
        let prk = super::reference::extract(secret, SALT);
        let derive =
            |domain: Domain| super::reference::hmac_key(&prk, domain.label(), version, secret);
        Self {
            version,
            subject: derive(Domain::Subject),
            record_key: derive(Domain::RecordKey),
            references: super::reference::ReferenceKeys::derive(&prk, version),
            similarity: super::similarity::SimilarityKeys::derive(secret, version),
        }
    }

    /// The pseudonym of `input` in `domain`.
    pub fn pseudonym(&self, domain: Domain, input: &[u8]) -> Pseudonym {
        let key = match domain {
            Domain::Subject => &self.subject,
            Domain::RecordKey => &self.record_key,
        };
        let tag = hmac::sign(key, input);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_deterministic_per_key_version_and_domain() {
        let secret = Secret32::random().expect("secret");
        let v1 = PseudonymKeys::derive(&secret, 1);
        let again = PseudonymKeys::derive(&secret, 1);
        let v2 = PseudonymKeys::derive(&secret, 2);
        let input = b"v1|pn=1234567890";
        assert_eq!(
            v1.pseudonym(Domain::Subject, input),
            again.pseudonym(Domain::Subject, input)
        );
        assert_ne!(
            v1.pseudonym(Domain::Subject, input),
            v2.pseudonym(Domain::Subject, input)
        );
        assert_ne!(
            v1.pseudonym(Domain::Subject, input),
            v1.pseudonym(Domain::RecordKey, input)
        );
        let other = PseudonymKeys::derive(&Secret32::random().expect("secret"), 1);
        assert_ne!(
            v1.pseudonym(Domain::Subject, input),
            other.pseudonym(Domain::Subject, input)
        );
    }

    #[test]
    fn pseudonym_is_not_a_plain_hash_of_the_input() {
        use sha2::{Digest, Sha256};
        let keys = PseudonymKeys::derive(&Secret32::random().expect("secret"), 1);
        let input = b"v1|name=ardita gashi|dob=1990-04-07|sex=2";
        let plain: [u8; 32] = Sha256::digest(input).into();
        assert_ne!(keys.pseudonym(Domain::Subject, input), plain);
    }
}
