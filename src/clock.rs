//! The wall clock, in the one text format every stored timestamp uses. It sits at
//! the bottom of the layers so that crypto (key-file dates), audit and the store
//! share it without importing one another.

/// The current UTC time as RFC 3339 text.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
