//! The registrar's review queue (issue 16): the pairs fuzzy linkage could not
//! decide, shown with both identities side by side and how each field compares,
//! and the registrar's decision, audited with its reason code.

use crate::cases::access::Permit;
use crate::store::linkage::{MergeRefusal, ReviewDecision};
use crate::store::{Store, StoreError};

/// Why a registrar decided as they did: a code, never free text (the audit log keeps
/// it for ever beside the two registry ids).
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
pub enum LinkReason {
    /// Identity documents (or the civil registry) show one person.
    SamePersonDocuments,
    /// One person; the records differ by a data-entry slip.
    SamePersonSlip,
    /// Two different people.
    DifferentPeople,
    /// Relatives (twins, siblings) with similar identities.
    Relatives,
}

impl LinkReason {
    /// Whether the reason says the two are one person.
    pub fn same_person(self) -> bool {
        matches!(self, Self::SamePersonDocuments | Self::SamePersonSlip)
    }
}

/// Why a decision was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The reason contradicts the decision.
    #[error("reason: {0}")]
    Reason(&'static str),
    /// The item was decided already, or one of the two cannot be merged.
    #[error("{0}")]
    Conflict(&'static str),
    /// The store failed or the item does not exist.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records the decision on `review_id` taken under `permit` (`decide_links`).
pub async fn decide(
    store: &Store,
    permit: &Permit,
    review_id: &str,
    link: bool,
    reason: LinkReason,
) -> Result<(), ReviewError> {
    if link != reason.same_person() {
        return Err(ReviewError::Reason(if link {
            "a link needs same_person_documents or same_person_slip"
        } else {
            "distinct needs different_people or relatives"
        }));
    }
    let decision = if link {
        ReviewDecision::Link
    } else {
        ReviewDecision::Distinct
    };
    let reason_code: &'static str = reason.into();
    let event = crate::audit::AuditEvent {
        detail: Some(format!(
            "{}:{reason_code}",
            if link { "linked" } else { "distinct" }
        )),
        ..permit.write_event(Some(review_id))
    };
    match store
        .decide_review(review_id, decision, reason_code, event)
        .await?
    {
        Ok(()) => Ok(()),
        Err(MergeRefusal::Decided) => Err(ReviewError::Conflict(
            "this review item was decided already, or withdrawn by an erasure",
        )),
        Err(MergeRefusal::NotLinkable) => Err(ReviewError::Conflict(
            "one of the two subjects was erased or merged into another meanwhile",
        )),
    }
}

/// Undoes a merge under `permit` (`decide_links`): the subject stands for itself
/// again, with every record it kept. The reason must say they are not one person.
pub async fn split(
    store: &Store,
    permit: &Permit,
    registry_id: &str,
    reason: LinkReason,
) -> Result<(), ReviewError> {
    if reason.same_person() {
        return Err(ReviewError::Reason(
            "a split needs different_people or relatives",
        ));
    }
    let reason_code: &'static str = reason.into();
    let event = crate::audit::AuditEvent {
        action: "split_subject".into(),
        detail: Some(format!("split:{reason_code}")),
        ..permit.write_event(Some(registry_id))
    };
    if store.split_subject(registry_id, event).await? {
        Ok(())
    } else {
        Err(ReviewError::Conflict(
            "this subject was not merged into another",
        ))
    }
}
