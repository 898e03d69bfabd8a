//! The facility register: an administrator adds a facility, renames it, says
//! whether it has an emergency department, and closes or reopens it. Facilities
//! are managed data: the seed file only adds those missing and never overwrites
//! these changes. Every change is audited with what changed (never a name).

use serde::Deserialize;
use utoipa::ToSchema;

use crate::audit::AuditEvent;
use crate::cases::access::Permit;
use crate::domain::codes;
use crate::field::{FieldError, forbidden_in_line};
use crate::store::reference::{
    Facility, FacilityChange, facility_for_update, insert_facility, update_facility,
};
use crate::store::writer::Staged;
use crate::store::{Store, StoreError, Unique};

/// Why a facility change failed.
#[derive(Debug, thiserror::Error)]
pub enum FacilityError {
    /// Bad input; every problem listed.
    #[error("invalid facility")]
    Invalid(Vec<FieldError>),
    /// A facility with this code exists.
    #[error("a facility with this code exists")]
    CodeTaken,
    /// No such facility.
    #[error("no such facility")]
    NotFound,
    /// Storage failure.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for FacilityError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(Unique::FacilityCode) => Self::CodeTaken,
            StoreError::NotFound => Self::NotFound,
            other => Self::Store(other),
        }
    }
}

/// A new facility.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFacility {
    /// Stable code, 2-60 of a-z, 0-9 and `-`, starting with a letter (the code
    /// `users add --facility` and account scopes take). It cannot be changed.
    pub code: String,
    /// Display name, 2-200 characters on one line.
    pub name: String,
    /// Slug of the municipality it is in.
    pub municipality: String,
    /// TDI centre type code (list `centre_type`).
    pub centre_type: String,
    /// Whether it has an emergency department (its clinicians may record
    /// non-fatal overdoses).
    pub emergency_capable: bool,
}

/// Whether `code` may name a facility.
pub fn valid_code(code: &str) -> bool {
    (2..=60).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_lowercase())
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    let length = name.trim().chars().count();
    if let Some(problem) = forbidden_in_line(name) {
        errors.push(FieldError::new("name", problem));
    } else if !(2..=200).contains(&length) {
        errors.push(FieldError::new("name", "must be 2-200 characters"));
    }
}

/// Adds a facility; it operates from now on.
pub async fn create(
    store: &Store,
    permit: &Permit,
    new: NewFacility,
) -> Result<Facility, FacilityError> {
    let mut errors = Vec::new();
    if !valid_code(&new.code) {
        errors.push(FieldError::new(
            "code",
            "must be 2-60 characters of a-z, 0-9 and -, starting with a letter",
        ));
    }
    check_name(&new.name, &mut errors);
    let slugs = store.municipality_slugs().await?;
    if !slugs.contains(&new.municipality) {
        errors.push(FieldError::new(
            "municipality",
            "must be the slug of a Kosovo municipality",
        ));
    }
    let centre_types = codes::list("centre_type").unwrap_or_default();
    if !centre_types.contains(&new.centre_type.as_str()) {
        errors.push(FieldError::new(
            "centre_type",
            "must be a code of the TDI list centre_type",
        ));
    }
    if !errors.is_empty() {
        return Err(FacilityError::Invalid(errors));
    }
    let facility = Facility {
        code: new.code,
        name: new.name.trim().to_owned(),
        municipality: new.municipality,
        centre_type: new.centre_type,
        emergency_capable: new.emergency_capable,
        active: true,
    };
    let event = AuditEvent {
        detail: Some(format!(
            "added: municipality={} centre_type={} emergency={}",
            facility.municipality, facility.centre_type, facility.emergency_capable
        )),
        ..permit.event("manage_facilities", Some(&facility.code))
    };
    store
        .write_with((facility.clone(), event), |conn, (facility, event)| {
            Box::pin(async move {
                insert_facility(conn, facility).await?;
                Ok::<_, FacilityError>(Staged {
                    value: (),
                    events: vec![event.clone()],
                })
            })
        })
        .await?;
    Ok(facility)
}

/// Changes a facility's name, emergency department or operation. Closing a
/// facility keeps its records and accounts; its clinicians can no longer
/// register episodes there.
pub async fn change(
    store: &Store,
    permit: &Permit,
    code: &str,
    change: FacilityChange,
) -> Result<Facility, FacilityError> {
    let mut errors = Vec::new();
    if let Some(name) = &change.name {
        check_name(name, &mut errors);
    }
    if !errors.is_empty() {
        return Err(FacilityError::Invalid(errors));
    }
    let change = FacilityChange {
        name: change.name.map(|n| n.trim().to_owned()),
        ..change
    };
    let template = permit.event("manage_facilities", Some(code));
    let job = (code.to_owned(), change, template);
    store
        .write_with(job, |conn, (code, change, template)| {
            Box::pin(async move {
                // What changes is read under the row's lock: the audit says what
                // changed, and a change that changes nothing writes nothing.
                let before = facility_for_update(conn, code).await?;
                let mut changed = Vec::new();
                if change.name.as_ref().is_some_and(|n| *n != before.name) {
                    changed.push("name".to_owned());
                }
                if let Some(e) = change
                    .emergency_capable
                    .filter(|e| *e != before.emergency_capable)
                {
                    changed.push(format!("emergency={e}"));
                }
                if let Some(a) = change.active.filter(|a| *a != before.active) {
                    changed.push(format!("active={a}"));
                }
                if changed.is_empty() {
                    return Ok::<_, FacilityError>(Staged::unaudited(before));
                }
                let facility = update_facility(conn, code, change).await?;
                Ok(Staged {
                    value: facility,
                    events: vec![AuditEvent {
                        detail: Some(format!("changed: {}", changed.join(" "))),
                        ..template.clone()
                    }],
                })
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_plain_lower_case() {
        for good in ["hosp-prizren", "uckk-psychiatry", "ab", "ngo-2"] {
            assert!(valid_code(good), "{good}");
        }
        for bad in [
            "",
            "a",
            "Hosp",
            "2hosp",
            "hosp_prizren",
            "hosp prizren",
            "hosp/x",
            "hösp",
        ] {
            assert!(!valid_code(bad), "{bad}");
        }
        assert!(!valid_code(&"a".repeat(61)));
    }
}
