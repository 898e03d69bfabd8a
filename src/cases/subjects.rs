//! The subject registry: link an identity to its subject (creating one if new), open
//! a subject's identity for a data-subject access report, and crypto-shred a subject.

use crate::audit::AuditEvent;
use crate::authz::FieldGroup;
use crate::cases::access::Permit;
use crate::cases::keys::{KeysError, open_identity_row};
use crate::clock::today_utc;
use crate::crypto::KeyringHandle;
use crate::crypto::reference::RecordDomain;
use crate::field::FieldError;
use crate::identity::subject::{IdentityInput, prepare, validate};
use crate::store::subjects::{Linked, shred_in};
use crate::store::writer::Staged;
use crate::store::{Store, StoreError, detached};

/// Why a subject operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SubjectError {
    /// The identity is invalid; every bad field is listed.
    #[error("invalid identity")]
    Invalid(Vec<FieldError>),
    /// A storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key or sealing failure.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// A cryptographic failure.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

/// Validates an identity and links it to its subject, creating one when no existing
/// subject matches. Runs in a spawned task, so a client that disconnects cannot
/// leave a transaction half-done (axum drops handler futures on disconnect).
pub async fn link_identity(
    store: &Store,
    keys: &std::sync::Arc<KeyringHandle>,
    input: &IdentityInput,
) -> Result<Linked, SubjectError> {
    let identity = validate(input, today_utc(), "identity.").map_err(SubjectError::Invalid)?;
    let prepared = prepare(keys, input, &identity)?;
    let store = store.clone();
    let keyring = keys.current();
    detached(async move { Ok(store.link_or_create_subject(keyring, &prepared).await?) }).await
}

/// Opens a subject's sealed identity (for a data-subject access report).
pub async fn open_identity(
    store: &Store,
    keys: &impl super::KeySource,
    permit: &Permit,
    registry_id: &str,
) -> Result<Option<IdentityInput>, SubjectError> {
    let keys = &super::handle(keys);
    if !permit.covers(registry_id) || !permit.may_read(FieldGroup::Identity) {
        return Ok(None);
    }
    let row = store.sealed_subject(registry_id).await?;
    Ok(Some(open_identity_row(&keys.current(), &row)?))
}

/// The ground of an erasure: a code, never free text, because the audit log keeps it
/// for ever beside the erased registry id, and free text fills with names and birth
/// dates. The grounds of GDPR art. 17(1), which Law No. 06/L-082 on the protection
/// of personal data takes over, as far as they apply to a registry kept by law.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ErasureGround {
    /// The data are no longer necessary for the purposes they were collected for (art. 17(1)(a)).
    NoLongerNecessary,
    /// The person objected and the objection was upheld (art. 17(1)(c)).
    ObjectionUpheld,
    /// The data were processed unlawfully (art. 17(1)(d)).
    UnlawfulProcessing,
    /// A legal obligation requires the erasure (art. 17(1)(e)).
    LegalObligation,
    /// A court or the supervisory authority ordered it.
    Order,
    /// The person was registered in error: the record should never have existed.
    RegisteredInError,
}

impl ErasureGround {
    /// Every ground.
    pub const ALL: [Self; 6] = [
        Self::NoLongerNecessary,
        Self::ObjectionUpheld,
        Self::UnlawfulProcessing,
        Self::LegalObligation,
        Self::Order,
        Self::RegisteredInError,
    ];

    /// The code, as in the API and the audit log.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl std::str::FromStr for ErasureGround {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|g| g.as_str() == text)
            .ok_or_else(|| {
                let codes: Vec<&str> = Self::ALL.iter().map(|g| g.as_str()).collect();
                format!("must be one of {}", codes.join(", "))
            })
    }
}

/// Whether `text` is a safe case reference: an optional prefix of at most four
/// capital letters and `-` or `/`, then one to four groups of digits separated by
/// `-`, `/` or `.` (`DPO-2026/0142`, `2026.17`). Too narrow to spell a name.
pub fn is_safe_reference(text: &str) -> bool {
    let rest = match text.find(['-', '/']) {
        Some(i) if (1..=4).contains(&i) && text[..i].bytes().all(|b| b.is_ascii_uppercase()) => {
            &text[i + 1..]
        }
        _ => text,
    };
    let groups: Vec<&str> = rest.split(['-', '/', '.']).collect();
    (1..=4).contains(&groups.len())
        && groups
            .iter()
            .all(|g| (1..=10).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_digit()))
}

/// Crypto-shreds a subject (GDPR art. 17 erasure): its data key and sealed identity
/// are destroyed, so everything sealed for it becomes unreadable, and the identity
/// is removed from the deaths and overdoses that name it (sealed under their own
/// keys); its coarse statistical attributes remain. The act, its ground and the case
/// reference are audited in the same transaction. Erasing someone already erased
/// only repeats the removal from deaths and overdoses, unaudited, and returns false.
pub async fn shred(
    store: &Store,
    keys: &impl super::KeySource,
    permit: &super::access::Permit,
    registry_id: &str,
    ground: ErasureGround,
    reference: Option<&str>,
) -> Result<bool, SubjectError> {
    let keys = &super::handle(keys);
    if reference.is_some_and(|r| !is_safe_reference(r)) {
        return Err(SubjectError::Invalid(vec![FieldError::new(
            "reference",
            "must be a case number such as DPO-2026/0142: up to four capital letters, \
             then digits in up to four groups separated by - / or .",
        )]));
    }
    let detail = match reference {
        Some(r) => format!("legal_basis={} reference={r}", ground.as_str()),
        None => format!("legal_basis={}", ground.as_str()),
    };
    let event = AuditEvent {
        purpose: Some("erasure".into()),
        detail: Some(detail),
        ..permit.event("shred_subject", Some(registry_id))
    };
    let job = (registry_id.to_owned(), event, keys.current());
    store
        .write_with(job, |conn, (registry_id, event, keyring)| {
            Box::pin(async move {
                let shredded = shred_in(conn, registry_id).await?;
                // The person's deaths and overdoses have keys of their own: their
                // identity is removed through the mortality reference, in the same
                // transaction — again for a person erased before, whose records may
                // predate this step.
                let reference = keyring.subject_ref(
                    RecordDomain::Mortality,
                    shredded.subject_id,
                    shredded.version,
                )?;
                crate::cases::deaths::erase_identities(conn, keyring, &reference)
                    .await
                    .map_err(SubjectError::from)?;
                Ok(Staged {
                    value: shredded.just_now,
                    events: if shredded.just_now {
                        vec![event.clone()]
                    } else {
                        Vec::new()
                    },
                })
            })
        })
        .await
}

impl From<crate::cases::deaths::DeathError> for SubjectError {
    fn from(err: crate::cases::deaths::DeathError) -> Self {
        use crate::cases::deaths::DeathError;
        match err {
            DeathError::Store(e) => Self::Store(e),
            DeathError::Crypto(e) => Self::Crypto(e),
            DeathError::Invalid(fields) => Self::Invalid(fields),
            // Erasure opens through the key file, not a permit.
            DeathError::NotPermitted | DeathError::Denied { .. } => {
                Self::Crypto(crate::crypto::CryptoError::UnknownFormat)
            }
        }
    }
}

/// Every record held about a person (with those of subjects merged into them):
/// each agency's records name them by a reference of its own, so finding them
/// needs the key file, not a join.
pub async fn held_records(
    store: &Store,
    keys: &impl super::KeySource,
    subject: &crate::store::subjects::SealedSubject,
) -> Result<Vec<crate::store::refs::HeldRecord>, StoreError> {
    store.subject_records(&super::keyring(keys), subject).await
}

/// The audit events of the review items a registration queued beside the subject
/// it created: one per item, naming the item only (no identity, no score).
pub(crate) fn review_events(linked: &Linked, like: &AuditEvent) -> Vec<AuditEvent> {
    linked
        .reviews
        .iter()
        .map(|review_id| AuditEvent {
            action: "queue_link_review".into(),
            object: Some(review_id.clone()),
            detail: None,
            ..like.clone()
        })
        .collect()
}
