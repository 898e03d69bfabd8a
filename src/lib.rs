//! The national registry of drug treatment and drug-related deaths for Kosovo.
//!
//! A privacy-preserving backend: pseudonymised records, field-level encryption,
//! role-based access from policy files, and anonymised aggregate export only.
//! See the README for how to run it and `DESIGN.md` in the shared folder for why.

pub mod audit;
pub mod auth;
pub mod authz;
pub mod cases;
pub mod cli;
pub mod cli_link;
pub mod cli_outputs;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod domain;
pub mod export;
pub mod field;
pub mod files;
pub mod http;
pub mod identity;
pub mod linkage;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod web;

/// The names enums are stored, configured and sent under. They come from `strum`
/// derives; a renamed variant must not silently change a stored value.
#[cfg(test)]
mod stored_names {
    fn names<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str) -> Vec<&'static str> {
        all.iter().map(|v| name(*v)).collect()
    }

    #[test]
    fn enum_names_are_the_stored_ones() {
        use crate::authz::{FieldGroup, Role};
        assert_eq!(
            names(&Role::ALL, Role::as_str),
            [
                "clinician",
                "social_worker",
                "police",
                "forensic",
                "analyst",
                "auditor",
                "admin",
                "registrar"
            ]
        );
        // Stored in link_review and the records' link_rule.
        use crate::crypto::similarity::{BirthAgreement as B, NumberAgreement as N};
        let birth: Vec<&str> = [
            B::Unknown,
            B::Exact,
            B::DayMonthSwapped,
            B::OneDigit,
            B::YearAgrees,
            B::YearDiffers,
            B::DayMonthAgree,
            B::Different,
        ]
        .into_iter()
        .map(<&str>::from)
        .collect();
        assert_eq!(
            birth,
            [
                "unknown",
                "exact",
                "day_month_swapped",
                "one_digit",
                "year_agrees",
                "year_differs",
                "day_month_agree",
                "different"
            ]
        );
        let number: Vec<&str> = [N::Unknown, N::Same, N::OneDigit, N::Different]
            .into_iter()
            .map(<&str>::from)
            .collect();
        assert_eq!(number, ["unknown", "same", "one_digit", "different"]);
        assert_eq!(
            crate::store::subjects::LinkRule::Similarity.as_str(),
            "similarity"
        );
        assert_eq!(
            names(&FieldGroup::ALL, FieldGroup::as_str),
            [
                "identity",
                "clinical",
                "health_sensitive",
                "social",
                "forensic_findings",
                "police_circumstances",
                "linkage"
            ]
        );
        assert_eq!(Role::SocialWorker.to_string(), "social_worker");
        use crate::domain::drd::Manner;
        assert_eq!(
            names(&Manner::ALL, Manner::as_str),
            [
                "natural",
                "accident",
                "suicide",
                "homicide",
                "undetermined",
                "pending"
            ]
        );
        assert_eq!("Homicide ".parse::<Manner>(), Ok(Manner::Homicide));
        use crate::audit::Outcome;
        for (outcome, name) in [
            (Outcome::Allowed, "allowed"),
            (Outcome::Denied, "denied"),
            (Outcome::Success, "success"),
            (Outcome::Failure, "failure"),
        ] {
            assert_eq!(
                (outcome.as_str(), Outcome::parse(name)),
                (name, Some(outcome))
            );
        }
        assert_eq!(Outcome::parse("Allowed"), None);
        use crate::crypto::keyfile::KeyKind;
        assert_eq!(
            (KeyKind::Master.as_str(), KeyKind::Pseudonym.as_str()),
            ("master", "pseudonym")
        );
        use crate::export::snapshot::Population;
        assert_eq!(
            names(&Population::ALL, Population::as_str),
            ["entrants", "in_treatment", "deaths", "overdoses"]
        );
        assert_eq!(
            Population::parse("in_treatment"),
            Some(Population::InTreatment)
        );
        use crate::cases::subjects::ErasureGround;
        assert_eq!(
            names(&ErasureGround::ALL, ErasureGround::as_str),
            [
                "no_longer_necessary",
                "objection_upheld",
                "unlawful_processing",
                "legal_obligation",
                "order",
                "registered_in_error"
            ]
        );
        use crate::store::subjects::LinkRule;
        assert_eq!(
            [
                LinkRule::PersonalNumber,
                LinkRule::Attributes,
                LinkRule::New
            ]
            .map(LinkRule::as_str),
            ["personal_number", "attributes", "new"]
        );
        assert_eq!("attributes".parse::<LinkRule>(), Ok(LinkRule::Attributes));
    }
}
