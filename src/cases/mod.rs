//! The use cases: one entry point per thing a user or operator does, called alike
//! by the HTTP handlers, the command line and the demo. Below them sit the domain
//! rules, identity, crypto and the store; above them only `http` and `cli`.

pub mod access;
pub mod audit;
pub mod deaths;
pub mod episodes;
pub mod facilities;
pub mod import;
pub mod keys;
pub mod linkage;
pub mod login;
pub mod outputs;
pub mod social;
pub mod subjects;
pub mod users;

use std::sync::Arc;

use crate::crypto::{Keyring, KeyringHandle};

/// The key file's keys as the HTTP layer holds them: handlers can hand them to a
/// use case, but cannot use them (no method reaches the keyring), so no handler can
/// decrypt, unwrap or pseudonymise by itself.
#[derive(Debug, Clone)]
pub struct Keys(Arc<KeyringHandle>);

impl Keys {
    /// Wraps the loaded key file.
    pub fn new(handle: Arc<KeyringHandle>) -> Self {
        Self(handle)
    }

    /// How many data keys each master-key version has wrapped since start (no
    /// secret: the operator's key status shows it).
    pub fn wrap_counts(&self) -> std::collections::BTreeMap<u32, u64> {
        self.0.wrap_counts()
    }
}

/// A write's answer with its audit event, which names the record written.
fn recorded<T>(
    object: String,
    value: T,
    event: crate::audit::AuditEvent,
) -> crate::store::writer::Staged<T> {
    crate::store::writer::Staged {
        value,
        events: vec![crate::audit::AuditEvent {
            object: Some(object),
            ..event
        }],
    }
}

/// Proof of being a use case: only code in `cases` can make one, so only use cases
/// can reach the keyring through [`KeySource`].
#[derive(Debug, Clone, Copy)]
pub struct InCases(());

/// Where a use case takes its keys from: the HTTP layer's [`Keys`], or the key file
/// the command line and tests load. Reaching the keyring needs an [`InCases`] token.
pub trait KeySource {
    /// The handle following the key file.
    fn handle(&self, token: InCases) -> Arc<KeyringHandle>;
}

impl KeySource for Keys {
    fn handle(&self, _: InCases) -> Arc<KeyringHandle> {
        Arc::clone(&self.0)
    }
}

impl KeySource for Arc<KeyringHandle> {
    fn handle(&self, _: InCases) -> Arc<KeyringHandle> {
        Arc::clone(self)
    }
}

/// The key file's handle, from inside a use case.
fn handle(keys: &impl KeySource) -> Arc<KeyringHandle> {
    keys.handle(InCases(()))
}

/// The current keyring, from inside a use case.
fn keyring(keys: &impl KeySource) -> Arc<Keyring> {
    handle(keys).current()
}
