//! Identity handling: normalisation of Kosovo identities and keyed pseudonyms.

pub mod normalize;
pub mod pseudonym;
pub mod reference;
pub mod subject;
