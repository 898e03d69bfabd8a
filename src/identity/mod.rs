//! Identity handling: normalisation of Kosovo identities, and the subject a
//! registration links to (its pseudonyms and sealed identity, computed with the
//! keyed primitives of `crate::crypto`).

pub mod normalize;
pub mod similar;
pub mod subject;
