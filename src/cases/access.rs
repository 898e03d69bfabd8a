//! The decision point, and the permits it hands out.
//!
//! Every request for personal data is decided here, against the policy files, and
//! the decision is audited. An allowed decision yields a [`Permit`]: the action, the
//! rules that allowed it, the declared purpose and — for one named record — the
//! field groups the caller may read. Its fields are private to this module, so no
//! other code can make one; the use cases that open sealed data require one
//! (`cases::episodes::open`, `cases::deaths::open_death`, …) and open only the
//! groups it names. A handler that skipped the decision point has no permit to pass:
//! the omission is a compile error, not a review comment (lldap's lesson).
//!
//! These are checked by `cargo test --doc` (part of `.ci/test`): each snippet must
//! fail to compile.
//!
//! ```compile_fail
//! // No code outside this module can make a permit.
//! use registry::authz::Action;
//! let forged = registry::cases::access::Permit {
//!     actor: String::new(),
//!     role: String::new(),
//!     action: Action::ReadEpisode,
//!     rules: String::new(),
//!     purpose: String::new(),
//!     record: None,
//!     groups: Vec::new(),
//! };
//! ```
//!
//! ```compile_fail
//! // An opener of sealed data takes a permit, not the keys alone.
//! async fn read(keys: &registry::cases::Keys, row: registry::store::episodes::EpisodeRow) {
//!     let _ = registry::cases::episodes::open(keys, row, None);
//! }
//! ```
//!
//! ```compile_fail
//! // The keys a handler holds reach no key: only use cases can make the token.
//! fn peek(keys: &registry::cases::Keys) {
//!     use registry::cases::KeySource;
//!     let _ = keys.handle(registry::cases::InCases(()));
//! }
//! ```

use std::sync::Arc;

use crate::audit::{AuditEvent, Outcome};
use crate::authz::{Action, Authorizer, FieldGroup, Principal, Resource, ResourceKind, Scope};
use crate::store::users::FacilityInfo;
use crate::store::{Store, StoreError};

/// Proof that the policy engine allowed an action, with what it allows.
#[derive(Debug, Clone)]
pub struct Permit {
    /// Who it was decided for (user id and role; `cli`/`operator` at the console).
    actor: String,
    role: String,
    action: Action,
    rules: String,
    purpose: String,
    /// The record decided on, when the request named one.
    record: Option<String>,
    /// Field groups of that record the caller may read (empty without a record).
    groups: Vec<FieldGroup>,
}

impl Permit {
    /// The user it was decided for (`cli` at the console).
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The rule(s) that allowed it.
    pub fn rules(&self) -> &str {
        &self.rules
    }

    /// The declared purpose.
    pub fn purpose(&self) -> &str {
        &self.purpose
    }

    /// Whether the caller may read `group` of the record this permit was decided
    /// for (never for a permit without a record).
    pub fn may_read(&self, group: FieldGroup) -> bool {
        self.groups.contains(&group)
    }

    /// Whether this permit was decided for the record `id`: a permit for one record
    /// opens no other.
    pub fn covers(&self, id: &str) -> bool {
        self.record.as_deref() == Some(id)
    }

    /// The audit event of a write done under this permit, named after the action
    /// decided (appended in the write's own transaction).
    pub fn write_event(&self, object: Option<&str>) -> AuditEvent {
        self.event(self.action.as_str(), object)
    }

    /// The audit event of a write done under this permit that names its own step
    /// (`create_user`, `shred_subject`): who, under which rule and purpose, all
    /// from the decision.
    pub fn event(&self, action: &str, object: Option<&str>) -> AuditEvent {
        AuditEvent {
            object: object.map(str::to_owned),
            rule: Some(self.rules.clone()),
            purpose: Some(self.purpose.clone()),
            ..AuditEvent::new(&self.actor, &self.role, action, Outcome::Success)
        }
    }

    /// Records, before a listing is answered, each record it discloses: one event
    /// per record, so "who has seen this record?" finds listings too. All in one
    /// transaction; if it cannot be written, nothing is shown.
    pub async fn record_disclosure<'a>(
        &self,
        store: &Store,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), StoreError> {
        let events: Vec<AuditEvent> = ids
            .into_iter()
            .map(|id| AuditEvent {
                outcome: Outcome::Allowed,
                ..self.write_event(Some(id))
            })
            .collect();
        if !events.is_empty() {
            store.audit_batch(&events).await?;
        }
        Ok(())
    }
}

/// The field groups a kind of record holds sealed parts of.
fn groups_held(kind: ResourceKind) -> &'static [FieldGroup] {
    use FieldGroup as G;
    match kind {
        ResourceKind::Episode => &[G::Identity, G::Clinical, G::HealthSensitive],
        ResourceKind::SocialContact => &[G::Identity, G::Social],
        ResourceKind::DeathNotification | ResourceKind::DeathRecord => {
            &[G::Identity, G::ForensicFindings, G::PoliceCircumstances]
        }
        ResourceKind::Overdose => &[G::Identity, G::Clinical, G::PoliceCircumstances],
        ResourceKind::Subject => &[G::Identity],
        _ => &[],
    }
}

/// Why the decision point said no.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The policies refused. `hidden`: the request named a scoped record, so the
    /// answer must not tell whether it exists (HTTP 404 rather than 403).
    #[error("access denied")]
    Denied {
        /// Whether the refusal must look like "not found".
        hidden: bool,
    },
    /// The decision could not be audited (nothing was allowed).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who acts, as every use case takes them: the user as the policies see them,
/// their facility as the registry holds it now (centre type, standing, emergency
/// department), and the purpose they declare.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub principal: Principal,
    /// Their facility's centre type and standing (`None`: not a known facility).
    pub facility: Option<FacilityInfo>,
    /// The declared purpose (each action has a default, e.g. `treatment`).
    pub purpose: String,
}

impl Caller {
    /// A caller whose facility is read from the registry (the command line and
    /// the demo; the HTTP layer has it from the session).
    pub async fn lookup(
        store: &Store,
        principal: Principal,
        purpose: &str,
    ) -> Result<Self, StoreError> {
        let facility = match &principal.facility {
            Some(code) => store.facility_info(code).await?,
            None => None,
        };
        Ok(Self {
            principal,
            facility,
            purpose: purpose.to_owned(),
        })
    }
}

/// A record of `action`'s kind in `principal`'s own scope (their facility,
/// municipality, own reports): what a page asks about before it shows a form.
/// `emergency_department` says the page acts for the facility's emergency
/// department (the clinical overdose pages), which only an emergency-capable
/// facility has.
pub fn own_scope(principal: &Principal, action: Action, emergency_department: bool) -> Resource {
    Resource {
        facility: principal.facility.clone(),
        municipality: principal.municipality.clone(),
        reporter: Some(principal.user_id.clone()),
        emergency_capable: emergency_department,
        ..Resource::national(action.resource_kind(), "")
    }
}

/// The decision point: the policies and the audit log they write to.
#[derive(Debug, Clone)]
pub struct Gate {
    authorizer: Arc<Authorizer>,
    store: Store,
}

impl Gate {
    /// A decision point over these policies, auditing into `store`.
    pub fn new(authorizer: Arc<Authorizer>, store: Store) -> Self {
        Self { authorizer, store }
    }

    /// A permit for the operator at the console, who holds the key file and so could
    /// read everything anyway: granted for one record (or none: `""`) and the named
    /// field groups, and audited (actor `cli`, role `operator`, rule `cli`) before it
    /// is returned.
    pub async fn operator(
        &self,
        action: Action,
        record: &str,
        groups: &[FieldGroup],
        purpose: &str,
    ) -> Result<Permit, AccessError> {
        self.store
            .audit(&AuditEvent {
                object: (!record.is_empty()).then(|| record.to_owned()),
                rule: Some("cli".into()),
                purpose: Some(purpose.to_owned()),
                ..AuditEvent::new("cli", "operator", action.as_str(), Outcome::Allowed)
            })
            .await?;
        Ok(Permit {
            actor: "cli".into(),
            role: "operator".into(),
            action,
            rules: "cli".into(),
            purpose: purpose.to_owned(),
            record: (!record.is_empty()).then(|| record.to_owned()),
            groups: groups.to_vec(),
        })
    }

    /// Decides for `caller` and records an allowed decision in the audit log at
    /// once (`decide` records a refusal itself): the permit for a use case whose
    /// write then records its own event.
    pub async fn allow(
        &self,
        caller: &Caller,
        action: Action,
        resource: &Resource,
    ) -> Result<Permit, AccessError> {
        let (permit, allowed) = self
            .decide(&caller.principal, action, resource, caller.purpose.clone())
            .await?;
        if let Some(event) = allowed {
            self.store.audit(&event).await?;
        }
        Ok(permit)
    }

    /// Whether the policies let `principal` do `action` on `resource` (one of
    /// their own scope, [`own_scope`]): only for choosing which links a page
    /// shows. It reads nothing and permits nothing, so it is not audited; the page
    /// behind the link asks [`Gate::decide`] like any request.
    pub fn shows(&self, principal: &Principal, action: Action, resource: &Resource) -> bool {
        self.authorizer.decide(principal, action, resource).allowed
    }

    /// Decides `action` on `resource` for `principal` with a declared `purpose`.
    /// A denial is audited at once. An allowed decision on personal data returns
    /// its audit event unwritten, for the caller to append with its write (or
    /// alone); other allowed decisions return `None`.
    pub async fn decide(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Resource,
        purpose: String,
    ) -> Result<(Permit, Option<AuditEvent>), AccessError> {
        let decision = self.authorizer.decide(principal, action, resource);
        let rules = decision.rules.join(",");
        let audited = action.is_personal_data() || !decision.allowed;
        let event = audited.then(|| AuditEvent {
            object: (!resource.id.is_empty()).then(|| resource.id.clone()),
            rule: Some(rules.clone()),
            purpose: Some(purpose.clone()),
            ..AuditEvent::new(
                &principal.user_id,
                principal.role.as_str(),
                action.as_str(),
                if decision.allowed {
                    Outcome::Allowed
                } else {
                    Outcome::Denied
                },
            )
        });
        tracing::info!(
            user.role = principal.role.as_str(),
            authz.action = action.as_str(),
            authz.allowed = decision.allowed,
            authz.rules = %rules,
            "access decision"
        );
        if !decision.allowed {
            if let Some(event) = &event {
                self.store.audit(event).await?;
            }
            let hidden = !resource.id.is_empty() && resource.kind.scope() != Scope::National;
            return Err(AccessError::Denied { hidden });
        }
        // Field groups are decided only for a named record, and only those its kind
        // of record holds (each decision is a policy evaluation on the request
        // path): a create or a listing opens nothing through its permit.
        let groups = if resource.id.is_empty() {
            Vec::new()
        } else {
            groups_held(resource.kind)
                .iter()
                .copied()
                .filter(|group| {
                    self.authorizer
                        .may_read_fields(principal, *group, resource)
                        .allowed
                })
                .collect()
        };
        let permit = Permit {
            actor: principal.user_id.clone(),
            role: principal.role.as_str().to_owned(),
            action,
            rules,
            purpose,
            record: (!resource.id.is_empty()).then(|| resource.id.clone()),
            groups,
        };
        Ok((permit, event))
    }
}
