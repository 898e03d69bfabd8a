//! The tamper-evident audit log: events, their hash chain, verification and signed
//! checkpoints (ASVS 16.4; security checklist item 19).
//!
//! Each event's hash is SHA-256 over the previous event's hash and a canonical,
//! length-prefixed encoding of the event (sequence number and time included), so a
//! changed, deleted, inserted or reordered event breaks the chain at its sequence
//! number. A truncated tail leaves a valid chain, which is why the head is also kept
//! in its own row and signed checkpoints are exported off-host.
//!
//! Events never hold field values: who, role, action, object id, outcome, the rule
//! that decided, the declared purpose, and a short non-personal detail.

use ring::signature::{self, Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// What happened, as far as the audit log is concerned.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    /// An access decision that allowed the request.
    Allowed,
    /// An access decision that denied the request.
    Denied,
    /// An operation that completed.
    Success,
    /// An operation that failed (e.g. a wrong password).
    Failure,
}

impl Outcome {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

/// An event to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Who: a user id, `cli` for the command line, or `anonymous`.
    pub actor: String,
    /// The actor's role at the time (`-` when unknown).
    pub role: String,
    /// What was attempted, e.g. `login`, `read_episode`, `shred_subject`.
    pub action: String,
    /// The object's id or registry id (never an identity).
    pub object: Option<String>,
    /// The outcome.
    pub outcome: Outcome,
    /// The policy rule(s) that decided, for access decisions.
    pub rule: Option<String>,
    /// The declared purpose.
    pub purpose: Option<String>,
    /// A short non-personal detail (a count, a reason code).
    pub detail: Option<String>,
}

impl AuditEvent {
    /// An event with only the required parts; add the rest with struct update syntax.
    pub fn new(actor: &str, role: &str, action: &str, outcome: Outcome) -> Self {
        Self {
            actor: actor.to_owned(),
            role: role.to_owned(),
            action: action.to_owned(),
            object: None,
            outcome,
            rule: None,
            purpose: None,
            detail: None,
        }
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StoredEvent {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// UTC time, RFC 3339.
    pub occurred_at: String,
    /// Actor.
    pub actor: String,
    /// Actor's role.
    pub role: String,
    /// Action.
    pub action: String,
    /// Object id.
    pub object: Option<String>,
    /// Outcome.
    pub outcome: String,
    /// Deciding rule(s).
    pub rule: Option<String>,
    /// Declared purpose.
    pub purpose: Option<String>,
    /// Detail.
    pub detail: Option<String>,
    /// Hash of the previous event (hex).
    pub prev_hash: String,
    /// This event's hash (hex).
    pub hash: String,
}

/// The hash of the (empty) chain before the first event.
pub const GENESIS: [u8; 32] = [0u8; 32];

fn put(out: &mut Vec<u8>, part: Option<&str>) {
    match part {
        Some(text) => {
            out.extend_from_slice(&u32::try_from(text.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        // Distinct from an empty string.
        None => out.extend_from_slice(&u32::MAX.to_be_bytes()),
    }
}

/// The chain hash of event `seq` at `occurred_at`, following `prev`.
#[expect(
    clippy::too_many_arguments,
    reason = "one argument per hashed column keeps the canonical order visible"
)]
pub fn chain_hash(
    prev: &[u8; 32],
    seq: i64,
    occurred_at: &str,
    actor: &str,
    role: &str,
    action: &str,
    object: Option<&str>,
    outcome: &str,
    rule: Option<&str>,
    purpose: Option<&str>,
    detail: Option<&str>,
) -> [u8; 32] {
    let mut canonical = Vec::with_capacity(256);
    canonical.extend_from_slice(b"kosovo-drug-registry/audit/v1");
    canonical.extend_from_slice(prev);
    canonical.extend_from_slice(&seq.to_be_bytes());
    for part in [
        Some(occurred_at),
        Some(actor),
        Some(role),
        Some(action),
        object,
        Some(outcome),
        rule,
        purpose,
        detail,
    ] {
        put(&mut canonical, part);
    }
    Sha256::digest(&canonical).into()
}

/// The hash of a stored event, recomputed from its columns.
pub fn recompute(prev: &[u8; 32], e: &StoredEvent) -> [u8; 32] {
    chain_hash(
        prev,
        e.seq,
        &e.occurred_at,
        &e.actor,
        &e.role,
        &e.action,
        e.object.as_deref(),
        &e.outcome,
        e.rule.as_deref(),
        e.purpose.as_deref(),
        e.detail.as_deref(),
    )
}

/// Why verification failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The first event whose link or content does not verify.
    #[error("audit chain broken at sequence number {seq}: {reason}")]
    Broken {
        /// First bad sequence number.
        seq: i64,
        /// What is wrong there.
        reason: String,
    },
    /// The chain ends before a recorded head or checkpoint: events were removed.
    #[error("audit chain truncated: {0}")]
    Truncated(String),
    /// A checkpoint's signature does not verify.
    #[error("checkpoint at sequence number {0} has an invalid signature")]
    BadCheckpoint(i64),
}

/// A signed statement of the chain head at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Checkpoint {
    /// Sequence number of the head.
    pub seq: i64,
    /// Hash of the head event (hex).
    pub hash: String,
    /// When it was signed (UTC, RFC 3339).
    pub signed_at: String,
    /// Ed25519 public key (hex).
    pub public_key: String,
    /// Ed25519 signature (hex).
    pub signature: String,
}

fn checkpoint_message(seq: i64, hash: &[u8], signed_at: &str) -> Vec<u8> {
    let mut message = b"kosovo-drug-registry/audit-checkpoint/v1".to_vec();
    message.extend_from_slice(&seq.to_be_bytes());
    message.extend_from_slice(hash);
    message.extend_from_slice(signed_at.as_bytes());
    message
}

/// Signs the head `(seq, hash)`.
pub fn sign_checkpoint(
    key: &Ed25519KeyPair,
    seq: i64,
    hash: &[u8; 32],
    signed_at: &str,
) -> Checkpoint {
    let signature = key.sign(&checkpoint_message(seq, hash, signed_at));
    Checkpoint {
        seq,
        hash: hex::encode(hash),
        signed_at: signed_at.to_owned(),
        public_key: hex::encode(key.public_key().as_ref()),
        signature: hex::encode(signature.as_ref()),
    }
}

/// Checks a checkpoint's signature against its own public key, and optionally that
/// the key is the one expected.
pub fn checkpoint_signature_ok(checkpoint: &Checkpoint, expected_key: Option<&[u8]>) -> bool {
    let (Ok(hash), Ok(public_key), Ok(sig)) = (
        hex::decode(&checkpoint.hash),
        hex::decode(&checkpoint.public_key),
        hex::decode(&checkpoint.signature),
    ) else {
        return false;
    };
    if expected_key.is_some_and(|k| k != public_key.as_slice()) {
        return false;
    }
    signature::UnparsedPublicKey::new(&signature::ED25519, &public_key)
        .verify(
            &checkpoint_message(checkpoint.seq, &hash, &checkpoint.signed_at),
            &sig,
        )
        .is_ok()
}

/// Walks events in sequence order and checks every link; call `feed` for each page
/// of events, then `finish`.
#[derive(Debug)]
pub struct Verifier {
    prev: [u8; 32],
    seq: i64,
    /// Hashes at the sequence numbers checkpoints refer to.
    wanted: std::collections::BTreeMap<i64, Option<[u8; 32]>>,
}

impl Verifier {
    /// A verifier that will also record the hashes at the given checkpoint positions.
    pub fn new(checkpoint_seqs: impl IntoIterator<Item = i64>) -> Self {
        Self {
            prev: GENESIS,
            seq: 0,
            wanted: checkpoint_seqs.into_iter().map(|s| (s, None)).collect(),
        }
    }

    /// Checks the next events (in order).
    pub fn feed(&mut self, events: &[StoredEvent]) -> Result<(), ChainError> {
        for e in events {
            let expected_seq = self.seq + 1;
            if e.seq != expected_seq {
                return Err(ChainError::Broken {
                    seq: expected_seq,
                    reason: format!("event missing (next stored event is {})", e.seq),
                });
            }
            if e.prev_hash != hex::encode(self.prev) {
                return Err(ChainError::Broken {
                    seq: e.seq,
                    reason: "previous-hash link does not match".into(),
                });
            }
            let hash = recompute(&self.prev, e);
            if e.hash != hex::encode(hash) {
                return Err(ChainError::Broken {
                    seq: e.seq,
                    reason: "content does not match its hash".into(),
                });
            }
            if let Some(slot) = self.wanted.get_mut(&e.seq) {
                *slot = Some(hash);
            }
            self.prev = hash;
            self.seq = e.seq;
        }
        Ok(())
    }

    /// Ends the walk: compares with the recorded head and the checkpoints.
    pub fn finish(
        self,
        head: (i64, [u8; 32]),
        checkpoints: &[Checkpoint],
    ) -> Result<(i64, [u8; 32]), ChainError> {
        if head.0 != self.seq || head.1 != self.prev {
            return Err(ChainError::Truncated(format!(
                "the recorded head is at sequence number {} but the chain ends at {}",
                head.0, self.seq
            )));
        }
        for checkpoint in checkpoints {
            if !checkpoint_signature_ok(checkpoint, None) {
                return Err(ChainError::BadCheckpoint(checkpoint.seq));
            }
            if checkpoint.seq == 0 {
                continue;
            }
            match self.wanted.get(&checkpoint.seq).copied().flatten() {
                Some(hash) if hex::encode(hash) == checkpoint.hash => {}
                Some(_) => {
                    return Err(ChainError::Broken {
                        seq: checkpoint.seq,
                        reason: "differs from the signed checkpoint".into(),
                    });
                }
                None => {
                    return Err(ChainError::Truncated(format!(
                        "a signed checkpoint covers sequence number {} but the chain ends at {}",
                        checkpoint.seq, self.seq
                    )));
                }
            }
        }
        Ok((self.seq, self.prev))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<StoredEvent> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let mut e = StoredEvent {
                    seq,
                    occurred_at: format!("2026-11-24T10:00:{:02}Z", seq % 60),
                    actor: format!("user-{seq}"),
                    role: "clinician".into(),
                    action: "read_episode".into(),
                    object: Some(format!("ep-{seq}")),
                    outcome: "allowed".into(),
                    rule: Some("clinician-own-facility".into()),
                    purpose: Some("treatment".into()),
                    detail: None,
                    prev_hash: hex::encode(prev),
                    hash: String::new(),
                };
                let hash = recompute(&prev, &e);
                e.hash = hex::encode(hash);
                prev = hash;
                e
            })
            .collect()
    }

    fn verify(events: &[StoredEvent]) -> Result<(i64, [u8; 32]), ChainError> {
        let mut v = Verifier::new([]);
        v.feed(events)?;
        let head = events.last().map(|e| {
            let mut h = [0u8; 32];
            h.copy_from_slice(&hex::decode(&e.hash).unwrap_or_default());
            (e.seq, h)
        });
        v.finish(head.unwrap_or((0, GENESIS)), &[])
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify(&chain(10)).map(|(seq, _)| seq), Ok(10));
        assert_eq!(verify(&[]).map(|(seq, _)| seq), Ok(0));
    }

    #[test]
    fn none_and_empty_fields_hash_differently() {
        let mut a = chain(1);
        let h1 = recompute(&GENESIS, &a[0]);
        a[0].detail = Some(String::new());
        assert_ne!(h1, recompute(&GENESIS, &a[0]));
    }

    #[test]
    fn checkpoint_signatures_verify_and_detect_forgery() {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("key");
        let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("parses");
        let cp = sign_checkpoint(&key, 5, &[7u8; 32], "2026-11-24T10:00:00Z");
        assert!(checkpoint_signature_ok(
            &cp,
            Some(key.public_key().as_ref())
        ));
        let forged = Checkpoint {
            seq: 4,
            ..cp.clone()
        };
        assert!(!checkpoint_signature_ok(&forged, None));
        assert!(!checkpoint_signature_ok(&cp, Some(&[0u8; 32])));
    }
}

/// The result of verifying the stored chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events verified.
    pub events: i64,
    /// Hash of the head (hex).
    pub head_hash: String,
    /// Checkpoints checked (stored and supplied).
    pub checkpoints: usize,
}
