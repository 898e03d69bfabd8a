//! Social-work contacts: recorded by a Centre for Social Work for a resident of its
//! municipality, linked to the same person through the pseudonym.

use crate::authz::{Action, FieldGroup, Resource, ResourceKind};
use crate::cases::access::{Caller, Gate, Permit};

use crate::audit::AuditEvent;
use crate::cases::episodes::{EpisodeError, subject_key};
use crate::crypto::reference::RecordDomain;
use crate::crypto::{Aad, CryptoError};
use crate::domain::social::{ContactInput, SealedContact, ValidContact};
use crate::identity::subject::prepare;
use crate::store::episodes::{ContactRow, NewContact, insert_contact, subject_data_key};
use crate::store::subjects::{LinkRule, link_or_create};
use crate::store::writer::Staged;
use crate::store::{Store, StoreError};

fn contact_aad(contact_id: &str) -> Aad<'_> {
    Aad {
        table: "social_contact",
        column: "sealed",
        record_id: contact_id,
    }
}

/// Records a contact — the one entry point the API and the demo share: the
/// decision point (a social worker, for a resident of their own municipality),
/// validation, linkage and the write. Returns the contact's id and the person's
/// registry id.
pub async fn record(
    store: &Store,
    keys: &impl super::KeySource,
    gate: &Gate,
    caller: &Caller,
    input: &ContactInput,
) -> Result<(String, String), EpisodeError> {
    let resource = Resource {
        municipality: caller.principal.municipality.clone(),
        ..Resource::national(ResourceKind::SocialContact, "")
    };
    let permit = gate
        .allow(caller, Action::CreateSocialContact, &resource)
        .await?;
    let municipality = caller
        .principal
        .municipality
        .clone()
        .ok_or(EpisodeError::NotPermitted)?;
    let valid = crate::domain::social::validate(input, crate::clock::today_utc())
        .map_err(EpisodeError::Invalid)?;
    record_allowed(
        store,
        keys,
        input,
        valid,
        municipality,
        caller.principal.user_id.clone(),
        permit.write_event(None),
    )
    .await
}

/// The contact once allowed and valid.
async fn record_allowed(
    store: &Store,
    keys: &impl super::KeySource,
    input: &ContactInput,
    valid: ValidContact,
    municipality: String,
    user_id: String,
    event: AuditEvent,
) -> Result<(String, String), EpisodeError> {
    let keys = &super::handle(keys);
    let prepared = prepare(keys, &input.identity, &valid.identity)?;
    let job = std::sync::Arc::new(ContactJob {
        prepared,
        input: input.clone(),
        valid,
        municipality,
        user_id,
        event,
        keyring: keys.current(),
    });
    store
        .write(move |conn| {
            let job = std::sync::Arc::clone(&job);
            Box::pin(async move { job.run(conn).await })
        })
        .await
}

/// Everything one contact writes, prepared before it reaches the writer.
struct ContactJob {
    prepared: crate::identity::subject::PreparedSubject,
    input: ContactInput,
    valid: ValidContact,
    municipality: String,
    user_id: String,
    event: AuditEvent,
    keyring: std::sync::Arc<crate::crypto::Keyring>,
}

impl ContactJob {
    /// The contact inside the writer's transaction, with its audit event.
    async fn run(
        &self,
        conn: &mut crate::store::db::Conn,
    ) -> Result<Staged<(String, String)>, EpisodeError> {
        let (prepared, keyring, input) = (&self.prepared, &self.keyring, &self.input);
        let linked = link_or_create(conn, keyring, prepared).await?;
        let data_key = if linked.rule == LinkRule::New {
            prepared.data_key.clone()
        } else {
            let wrapped = subject_data_key(conn, linked.subject_id).await?;
            subject_key(keyring, &linked.registry_id, wrapped.as_deref())?
        };
        let contact_id = uuid::Uuid::new_v4().to_string();
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&self.valid.sealed).map_err(|_| CryptoError::UnknownFormat)?,
        );
        let sealed = data_key.seal(&contact_aad(&contact_id), &plain)?;
        insert_contact(
            conn,
            &NewContact {
                contact_id: &contact_id,
                subject_ref: linked.reference(keyring, RecordDomain::SocialWork)?,
                municipality: &self.municipality,
                link_rule: linked.rule.as_str(),
                when: self.valid.when,
                service_type: &input.service_type,
                referral_to_treatment: input.referral_to_treatment,
                housing_support: input.housing_support,
                employment_support: input.employment_support,
                sealed: &sealed,
                created_by: &self.user_id,
            },
        )
        .await?;
        let mut staged = super::recorded(
            contact_id.clone(),
            (contact_id, linked.registry_id.clone()),
            self.event.clone(),
        );
        staged
            .events
            .extend(super::subjects::review_events(&linked, &self.event));
        Ok(staged)
    }
}

/// Opens a contact's sealed date and notes when `permit` allows the social group.
pub fn open(
    keys: &impl super::KeySource,
    permit: &Permit,
    row: &ContactRow,
) -> Result<Option<SealedContact>, EpisodeError> {
    let keys = &super::handle(keys);
    if !permit.covers(&row.contact_id) {
        return Err(EpisodeError::NotPermitted);
    }
    if !permit.may_read(FieldGroup::Social) {
        return Ok(None);
    }
    let key = subject_key(
        &keys.current(),
        &row.registry_id,
        row.data_key_wrapped.as_deref(),
    )?;
    let plain = zeroize::Zeroizing::new(key.open(&contact_aad(&row.contact_id), &row.sealed)?);
    serde_json::from_slice(&plain)
        .map(Some)
        .map_err(|_| EpisodeError::Crypto(CryptoError::UnknownFormat))
}

/// One contact, its person resolved through the key file (sealed parts stay sealed:
/// [`open`] needs a permit).
pub async fn find(
    store: &Store,
    keys: &impl super::KeySource,
    contact_id: &str,
) -> Result<Option<ContactRow>, StoreError> {
    store.contact(&super::keyring(keys), contact_id).await
}

/// A municipality's latest contacts, their people resolved through the key file.
pub async fn list(
    store: &Store,
    keys: &impl super::KeySource,
    municipality: &str,
    limit: i64,
) -> Result<Vec<ContactRow>, StoreError> {
    store
        .municipality_contacts(&super::keyring(keys), municipality, limit)
        .await
}
