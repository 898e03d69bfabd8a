//! Submitted input, below every layer that checks it: [`FieldError`], the problem
//! with one field that every 4xx names, and the characters no text field may hold.
//! (Identity validation and domain validation both report with them.)
//!
//! Characters no text input may hold, wherever it comes from (JSON, query strings,
//! the backlog CSV): C0 controls other than tab, line feed and carriage return, DEL,
//! C1 controls, and the bidirectional controls that make a name display as another
//! (U+202E turns "Gashi" into text that reads differently on screen). NUL also
//! breaks PostgreSQL text columns.

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

/// What is wrong with `text`, or `None` when every character may be stored.
pub fn forbidden_characters(text: &str) -> Option<&'static str> {
    text.chars().find_map(|c| match c {
        '\t' | '\n' | '\r' => None,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => {
            Some("contains a control character (such as NUL); remove it")
        }
        '\u{200e}'
        | '\u{200f}'
        | '\u{061c}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}' => {
            Some("contains a bidirectional control character (such as U+202E); remove it")
        }
        _ => None,
    })
}

/// Like `forbidden_characters`, and single-line: names, codes and ids hold no tab or
/// line break either.
pub fn forbidden_in_line(text: &str) -> Option<&'static str> {
    if text.contains(['\t', '\n', '\r']) {
        return Some("contains a tab or line break; it must be one line");
    }
    forbidden_characters(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_are_refused_and_letters_kept() {
        for bad in [
            "a\u{0}b",
            "\u{7f}",
            "x\u{85}",
            "Gashi\u{202e}",
            "\u{2066}x",
            "\u{1b}[31m",
        ] {
            assert!(forbidden_characters(bad).is_some(), "{bad:?}");
        }
        for good in [
            "Çështje Ëlezi",
            "Đorđević",
            "Ђорђевић",
            "line one\nline two\ttab",
            "",
        ] {
            assert!(forbidden_characters(good).is_none(), "{good:?}");
        }
        assert!(forbidden_in_line("a\nb").is_some());
        assert!(forbidden_in_line("Xhavit Çeku").is_none());
    }
}
