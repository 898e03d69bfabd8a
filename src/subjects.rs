//! The subject registry: link an identity to its subject (creating one if new), open
//! a subject's identity for a data-subject access report, and crypto-shred a subject.

use crate::audit::{AuditEvent, Outcome};
use crate::crypto::KeyringHandle;
use crate::domain::FieldError;
use crate::identity::subject::{IdentityInput, prepare, today_utc, validate};
use crate::keys::{KeysError, open_identity_row};
use crate::store::subjects::Linked;
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
    detached(async move {
        Ok(store
            .link_or_create_subject(&prepared.lookups, &prepared.new)
            .await?)
    })
    .await
}

/// Opens a subject's sealed identity (for a data-subject access report).
pub async fn open_identity(
    store: &Store,
    keys: &KeyringHandle,
    registry_id: &str,
) -> Result<IdentityInput, SubjectError> {
    let row = store.sealed_subject(registry_id).await?;
    Ok(open_identity_row(&keys.current(), &row)?)
}

/// Crypto-shreds a subject (GDPR art. 17 erasure): its data key and sealed identity
/// are destroyed, so everything sealed for it becomes unreadable; its coarse
/// statistical attributes remain. The act and its stated legal basis are audited in
/// the same transaction.
pub async fn shred(
    store: &Store,
    actor: &crate::users::Actor,
    registry_id: &str,
    legal_basis: &str,
) -> Result<bool, SubjectError> {
    let basis = legal_basis.trim();
    if !(5..=200).contains(&basis.chars().count()) {
        return Err(SubjectError::Invalid(vec![FieldError::new(
            "legal_basis",
            "state the legal basis for the erasure (5-200 characters, no personal data)",
        )]));
    }
    let event = AuditEvent {
        object: Some(registry_id.to_owned()),
        rule: Some(actor.rule.clone()),
        purpose: Some("erasure".into()),
        detail: Some(format!("legal_basis={basis}")),
        ..AuditEvent::new(&actor.id, &actor.role, "shred_subject", Outcome::Success)
    };
    Ok(store.shred_subject(registry_id, &event).await?)
}
