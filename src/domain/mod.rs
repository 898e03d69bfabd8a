//! Typed records and their validation. No I/O here.

pub mod codes;
pub mod death;
pub mod drd;
pub mod episode;
pub mod social;
pub mod text;

use serde::Serialize;
use utoipa::ToSchema;

/// A problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field's name as the request spells it (dotted for nested fields).
    pub field: String,
    /// What is wrong with it. Never echoes personal data.
    pub problem: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}
