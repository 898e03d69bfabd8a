//! An identity as a clinician or forensic doctor submits it, its validation (every
//! problem at once) and its preparation for linking: pseudonyms under every key
//! version, and a sealed copy under a fresh data key in case a new subject is needed.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::normalize::{
    BirthDate, IdentityError, NormalisedIdentity, PersonalNumber, Sex, normalise_full_name,
};
use crate::crypto::pseudonym::{Domain, Pseudonym};
use crate::crypto::similarity::Encoding;
use crate::crypto::{Aad, CryptoError, DataKey, Keyring, KeyringHandle};
use crate::field::FieldError;

/// The pseudonyms of an incoming identity under one pseudonym-key version.
#[derive(Debug, Clone)]
pub struct SubjectLookup {
    /// Pseudonym-key version.
    pub version: u32,
    /// Personal-number pseudonym, when the identity has one.
    pub pn: Option<Pseudonym>,
    /// Full-attribute pseudonym.
    pub attr: Pseudonym,
}

/// Everything needed to insert a new subject (prepared before the transaction so no
/// cryptography runs while it holds the write lock).
#[derive(Debug, Clone)]
pub struct NewSubject {
    /// Public random id.
    pub registry_id: String,
    /// Pseudonyms under the active version.
    pub lookup: SubjectLookup,
    /// TDI sex code.
    pub sex: String,
    /// Birth year.
    pub birth_year: i64,
    /// Whether only the year of birth is known.
    pub birth_year_only: bool,
    /// Data key wrapped under the master key.
    pub data_key_wrapped: Vec<u8>,
    /// Master-key version of the wrap.
    pub master_key_version: u32,
    /// Identity sealed under the data key.
    pub identity_sealed: Vec<u8>,
    /// Similarity encoding under the active version, sealed.
    pub encoding_sealed: Vec<u8>,
    /// Blocking buckets under the active version.
    pub buckets: Vec<i64>,
}

/// An identity's similarity encoding and blocking buckets under one pseudonym-key
/// version, to find and compare candidates stored under that version.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Pseudonym-key version.
    pub version: u32,
    /// The encoding.
    pub encoding: Encoding,
    /// Its buckets.
    pub buckets: crate::crypto::similarity::Buckets,
}

/// Probes of an identity under every available key version (active first).
pub fn probes(keys: &Keyring, input: &IdentityInput, identity: &NormalisedIdentity) -> Vec<Probe> {
    let linkable = super::similar::link_identity(input, identity);
    keys.similarity_keys()
        .into_iter()
        .map(|k| Probe {
            version: k.version,
            encoding: k.encode(&linkable),
            buckets: k.buckets(&linkable),
        })
        .collect()
}

/// Identity of a person as submitted. Every field is personal data: it is never
/// logged (`Debug` is redacted), is zeroised when dropped, and is stored only sealed.
#[derive(Clone, Default, Deserialize, Serialize, ToSchema, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct IdentityInput {
    /// Kosovo personal number (10 digits), when known.
    #[serde(default)]
    pub personal_number: Option<String>,
    /// First name(s), in Albanian, Serbian Latin or Serbian Cyrillic; may be empty
    /// when not known, if the last name is given.
    pub first_name: String,
    /// Last name(s); may be empty when not known, if the first name is given.
    pub last_name: String,
    /// Date of birth `YYYY-MM-DD`, or `YYYY` when only the year is known.
    pub birth_date: String,
    /// TDI sex code: `1` male, `2` female, `99` not known.
    pub sex: String,
}

impl std::fmt::Debug for IdentityInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityInput { .. }")
    }
}

fn field_error(err: IdentityError, prefix: &str) -> FieldError {
    let text = err.to_string();
    let problem = text
        .split_once(": ")
        .map(|(_, p)| p.to_owned())
        .unwrap_or(text);
    FieldError::new(format!("{prefix}{}", err.field()), problem)
}

/// Validates and normalises an identity, reporting every bad field at once.
/// `prefix` is prepended to field names (e.g. `identity.`).
pub fn validate(
    input: &IdentityInput,
    today: crate::clock::Date,
    prefix: &str,
) -> Result<NormalisedIdentity, Vec<FieldError>> {
    let mut errors = Vec::new();
    // Names are sealed as typed and shown to clinicians later: no control or
    // bidirectional characters that would make one name display as another (the
    // JSON layer refuses them too; this covers the backlog CSV).
    for (value, field) in [
        (input.first_name.as_str(), "first_name"),
        (input.last_name.as_str(), "last_name"),
        (
            input.personal_number.as_deref().unwrap_or_default(),
            "personal_number",
        ),
    ] {
        if let Some(problem) = crate::field::forbidden_in_line(value) {
            errors.push(FieldError::new(format!("{prefix}{field}"), problem));
        }
    }
    let personal_number = match input.personal_number.as_deref() {
        Some(pn) if !pn.trim().is_empty() => match PersonalNumber::parse(pn) {
            Ok(pn) => Some(pn),
            Err(e) => {
                errors.push(field_error(e, prefix));
                None
            }
        },
        _ => None,
    };
    let name = normalise_full_name(&input.first_name, &input.last_name)
        .map_err(|e| errors.push(field_error(e, prefix)))
        .ok();
    // The name check stops at the first bad part; check the other part on its own
    // so that both are reported when both are bad.
    if name.is_none() {
        for (value, field) in [
            (&input.first_name, "first_name"),
            (&input.last_name, "last_name"),
        ] {
            let already = errors.iter().any(|e| e.field == format!("{prefix}{field}"));
            if !already && super::normalize::fold_name(value).is_empty() {
                errors.push(FieldError::new(format!("{prefix}{field}"), "is required"));
            }
        }
    }
    let birth = BirthDate::parse(&input.birth_date, today)
        .map_err(|e| errors.push(field_error(e, prefix)))
        .ok();
    let sex = Sex::parse(&input.sex)
        .map_err(|e| errors.push(field_error(e, prefix)))
        .ok();
    match (name, birth, sex) {
        (Some(name), Some(birth), Some(sex)) if errors.is_empty() => Ok(NormalisedIdentity {
            personal_number,
            name,
            birth,
            sex,
        }),
        _ => Err(errors),
    }
}

/// Pseudonyms of a normalised identity under every available key version.
pub fn lookups(keys: &Keyring, identity: &NormalisedIdentity) -> Vec<SubjectLookup> {
    let attr = keys.pseudonyms(Domain::Subject, identity.attribute_key().as_bytes());
    let pn = identity
        .personal_number_key()
        .map(|k| keys.pseudonyms(Domain::Subject, k.as_bytes()));
    attr.into_iter()
        .enumerate()
        .map(|(i, (version, attr))| SubjectLookup {
            version,
            pn: pn.as_ref().and_then(|p| p.get(i)).map(|(_, p)| *p),
            attr,
        })
        .collect()
}

/// Whom a clinician looks for: a personal number alone, or names and date of
/// birth (with the number and sex when known).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientSearch {
    /// Kosovo personal number (10 digits).
    #[serde(default)]
    pub personal_number: Option<String>,
    /// First name(s).
    #[serde(default)]
    pub first_name: Option<String>,
    /// Last name(s).
    #[serde(default)]
    pub last_name: Option<String>,
    /// Date of birth `YYYY-MM-DD`, or `YYYY`.
    #[serde(default)]
    pub birth_date: Option<String>,
    /// TDI sex code; `99` (not known) when absent.
    #[serde(default)]
    pub sex: Option<String>,
}

impl std::fmt::Debug for PatientSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PatientSearch(redacted)")
    }
}

/// A validated search.
pub enum PatientQuery {
    /// By personal number alone.
    Number(PersonalNumber),
    /// By identity, as a registration links.
    Identity(IdentityInput, NormalisedIdentity),
}

/// Validates a search: a personal number alone, or names and date of birth.
pub fn validate_search(
    search: PatientSearch,
    today: crate::clock::Date,
) -> Result<PatientQuery, Vec<FieldError>> {
    let given = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
    let by_name =
        given(&search.first_name) || given(&search.last_name) || given(&search.birth_date);
    match (by_name, &search.personal_number) {
        (false, Some(pn)) if !pn.trim().is_empty() => PersonalNumber::parse(pn)
            .map(PatientQuery::Number)
            .map_err(|e| vec![field_error(e, "")]),
        (false, _) => Err(vec![FieldError::new(
            "personal_number",
            "give a personal number, or first and last name and date of birth",
        )]),
        (true, _) => {
            let input = IdentityInput {
                personal_number: search.personal_number,
                first_name: search.first_name.unwrap_or_default(),
                last_name: search.last_name.unwrap_or_default(),
                birth_date: search.birth_date.unwrap_or_default(),
                sex: search.sex.unwrap_or_else(|| "99".into()),
            };
            let identity = validate(&input, today, "")?;
            Ok(PatientQuery::Identity(input, identity))
        }
    }
}

/// The pseudonyms of a personal number alone, under every key version (active
/// first), for finding a person by their number.
pub fn number_pseudonyms(keys: &Keyring, number: &PersonalNumber) -> Vec<(u32, Pseudonym)> {
    keys.pseudonyms(Domain::Subject, number.lookup_key().as_bytes())
}

/// Column names the sealed identity is bound to.
pub const IDENTITY_AAD_TABLE: &str = "subject";
/// Column of the sealed identity.
pub const IDENTITY_AAD_COLUMN: &str = "identity";
/// Column of the wrapped data key.
pub const DATA_KEY_AAD_COLUMN: &str = "data_key";

/// Everything needed to link an identity: lookups, and the row to insert if new.
#[derive(Debug, Clone)]
pub struct PreparedSubject {
    /// Pseudonyms under every key version (active first).
    pub lookups: Vec<SubjectLookup>,
    /// Similarity probes under every key version (active first).
    pub probes: Vec<Probe>,
    /// The subject row to insert when no existing subject matches.
    pub new: NewSubject,
    /// The new subject's data key (used to seal the record's own fields if new).
    pub data_key: DataKey,
}

/// Prepares an identity for linking. Validation errors carry field names.
pub fn prepare(
    keys: &KeyringHandle,
    input: &IdentityInput,
    identity: &NormalisedIdentity,
) -> Result<PreparedSubject, CryptoError> {
    let keyring = keys.current();
    let lookups = lookups(&keyring, identity);
    let active = lookups
        .first()
        .cloned()
        .ok_or(CryptoError::UnknownKeyVersion(
            keyring.active_pseudonym_version(),
        ))?;
    let probes = probes(&keyring, input, identity);
    let active_probe = probes
        .first()
        .filter(|p| p.version == active.version)
        .ok_or(CryptoError::UnknownKeyVersion(active.version))?;
    let registry_id = uuid::Uuid::new_v4().to_string();
    let encoding_sealed = keyring
        .similarity_version(active.version)
        .ok_or(CryptoError::UnknownKeyVersion(active.version))?
        .seal(&active_probe.encoding, &registry_id)?;
    let buckets = active_probe.buckets.stored.clone();
    let data_key = DataKey::generate(1)?;
    let (master_key_version, data_key_wrapped) = keys.wrap(
        &data_key,
        &Aad {
            table: IDENTITY_AAD_TABLE,
            column: DATA_KEY_AAD_COLUMN,
            record_id: &registry_id,
        },
    )?;
    let plain =
        zeroize::Zeroizing::new(serde_json::to_vec(input).map_err(|_| CryptoError::UnknownFormat)?);
    let identity_sealed = data_key.seal(
        &Aad {
            table: IDENTITY_AAD_TABLE,
            column: IDENTITY_AAD_COLUMN,
            record_id: &registry_id,
        },
        &plain,
    )?;
    Ok(PreparedSubject {
        lookups,
        new: NewSubject {
            registry_id,
            lookup: active,
            sex: identity.sex.code().to_owned(),
            birth_year: i64::from(identity.birth.year()),
            birth_year_only: identity.birth.is_year_only(),
            data_key_wrapped,
            master_key_version,
            identity_sealed,
            encoding_sealed,
            buckets,
        },
        probes,
        data_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(pn: Option<&str>, first: &str, last: &str, dob: &str, sex: &str) -> IdentityInput {
        IdentityInput {
            personal_number: pn.map(str::to_owned),
            first_name: first.into(),
            last_name: last.into(),
            birth_date: dob.into(),
            sex: sex.into(),
        }
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let bad = input(Some("12345"), "", "123", "2999-01-01", "M");
        let errors = validate(&bad, time::macros::date!(2026 - 11 - 24), "identity.").unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "identity.personal_number",
            "identity.first_name",
            "identity.last_name",
            "identity.birth_date",
            "identity.sex",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
        for e in &errors {
            assert!(
                !e.problem.contains("12345") && !e.problem.contains("2999"),
                "{e:?}"
            );
        }
    }

    #[test]
    fn control_and_bidirectional_characters_are_refused_in_names() {
        let bad = input(None, "Ardita\u{202e}", "Ga\u{0}shi", "1990-04-07", "2");
        let errors = validate(&bad, time::macros::date!(2026 - 11 - 24), "").unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(
            fields.contains(&"first_name") && fields.contains(&"last_name"),
            "{fields:?}"
        );
    }

    #[test]
    fn a_valid_identity_normalises() {
        let ok = input(None, "Ardita", "Gashi", "1990-04-07", "2");
        let identity = validate(&ok, time::macros::date!(2026 - 11 - 24), "").expect("valid");
        assert_eq!(identity.birth.year(), 1990);
        assert!(format!("{ok:?}").contains(".."), "debug is redacted");
    }
}
