//! Statistical outputs that need the key file: freezing a year reads each record's
//! person through its reference.

use std::sync::Arc;

use crate::export::snapshot::{Cache, SnapshotInfo};
use crate::export::{ExportError, Requester, Rules};
use crate::store::Store;

/// Freezes a past year into an immutable snapshot (see `export::freeze`).
pub async fn freeze(
    store: &Store,
    keys: &impl super::KeySource,
    cache: &Cache,
    year: i64,
    who: &Requester,
    rules: &Rules,
) -> Result<SnapshotInfo, ExportError> {
    let keyring: Arc<_> = super::keyring(keys);
    let open = |registry_id: &str, wrapped: &[u8], episode: &str, blob: &[u8]| {
        super::episodes::open_sealed(&keyring, registry_id, wrapped, episode, blob).ok()
    };
    crate::export::freeze(store, &keyring, &open, cache, year, who, rules).await
}
