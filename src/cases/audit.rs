//! The audit log's use cases: verifying the stored hash chain (the auditor's route
//! and `registry audit verify`) and signing a checkpoint of its head (`registry
//! audit checkpoint`). The chain's rules themselves are in `crate::audit`.

use crate::audit::{ChainError, Checkpoint, Verifier, VerifyReport, sign_checkpoint};
use crate::crypto::Keyring;
use crate::store::{Store, StoreError};

/// Why `verify_store` did not report OK.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The chain is broken or truncated.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The database could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Verifies the whole stored chain, page by page (memory stays flat however long the
/// log), against the recorded head, the stored checkpoints and any checkpoints
/// supplied from off-host copies.
pub async fn verify_store(
    store: &Store,
    extra: &[Checkpoint],
) -> Result<VerifyReport, VerifyError> {
    const PAGE: i64 = 10_000;
    let mut checkpoints = store.checkpoints().await?;
    checkpoints.extend_from_slice(extra);
    let mut verifier = Verifier::new(checkpoints.iter().map(|c| c.seq));
    let mut after = 0;
    loop {
        let page = store.audit_page(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        verifier.feed(&page)?;
    }
    let head = store.audit_head().await?;
    let (events, hash) = verifier.finish(head, &checkpoints)?;
    Ok(VerifyReport {
        events,
        head_hash: hex::encode(hash),
        checkpoints: checkpoints.len(),
    })
}

/// Signs the current head with the key file's audit key and stores the checkpoint.
pub async fn checkpoint(store: &Store, keyring: &Keyring) -> Result<Checkpoint, VerifyError> {
    let (seq, hash) = store.audit_head().await?;
    let Some(key) = keyring.audit_signer() else {
        return Err(VerifyError::Chain(ChainError::BadCheckpoint(seq)));
    };
    let checkpoint = sign_checkpoint(key, seq, &hash, &crate::clock::now_rfc3339());
    store.save_checkpoint(&checkpoint).await?;
    Ok(checkpoint)
}
