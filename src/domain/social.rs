//! A social-service contact or referral recorded by a Centre for Social Work: only what
//! the centre needs, and no clinical field.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::field::FieldError;
use crate::identity::normalize::NormalisedIdentity;
use crate::identity::subject::{IdentityInput, validate as validate_identity};

/// Kinds of service a Centre for Social Work records.
pub const SERVICE_TYPES: &[&str] = &[
    "counselling",
    "financial_assistance",
    "family_support",
    "housing",
    "employment",
    "legal_aid",
    "referral",
    "other",
];

/// A contact as a social worker submits it.
#[derive(Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    /// The resident's identity (links to the same person as treatment records).
    pub identity: IdentityInput,
    /// Date of the contact, `YYYY-MM-DD`.
    pub contact_date: String,
    /// One of `counselling`, `financial_assistance`, `family_support`, `housing`,
    /// `employment`, `legal_aid`, `referral`, `other`.
    pub service_type: String,
    /// Referred to drug treatment.
    pub referral_to_treatment: bool,
    /// Housing support given or arranged.
    pub housing_support: bool,
    /// Employment support given or arranged.
    pub employment_support: bool,
    /// Free text (sealed), at most 2000 characters.
    #[serde(default)]
    pub notes: Option<String>,
}

impl std::fmt::Debug for ContactInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContactInput { .. }")
    }
}

/// What is sealed of a contact.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct SealedContact {
    /// Exact date.
    pub contact_date: String,
    /// Free text.
    pub notes: Option<String>,
}

/// A validated contact.
pub struct ValidContact {
    /// Normalised identity.
    pub identity: NormalisedIdentity,
    /// Year and quarter of the contact.
    pub when: (u16, u8),
    /// Sealed part.
    pub sealed: SealedContact,
}

/// Validates a contact, reporting every problem at once.
pub fn validate(
    input: &ContactInput,
    today: crate::clock::Date,
) -> Result<ValidContact, Vec<FieldError>> {
    let mut errors = Vec::new();
    let identity = validate_identity(&input.identity, today, "identity.")
        .map_err(|e| errors.extend(e))
        .ok();
    let when = super::record_date(&input.contact_date, "contact_date", today, &mut errors)
        .map(|d| (crate::clock::year(d), crate::clock::quarter(d)));
    if !SERVICE_TYPES.contains(&input.service_type.as_str()) {
        errors.push(FieldError::new(
            "service_type",
            format!("must be one of {}", SERVICE_TYPES.join(", ")),
        ));
    }
    if input
        .notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > 2000)
    {
        errors.push(FieldError::new("notes", "must be at most 2000 characters"));
    }
    match (identity, when) {
        (Some(identity), Some(when)) if errors.is_empty() => Ok(ValidContact {
            identity,
            when,
            sealed: SealedContact {
                contact_date: input.contact_date.clone(),
                notes: input.notes.clone(),
            },
        }),
        _ => Err(errors),
    }
}
