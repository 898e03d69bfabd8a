//! Rendering a form's fields: each item asked as a select of its code list, a
//! number, a date, a line or free text, with its label, the rule beside it, the
//! problem the last submission had, and the value the user sent.

use super::forms::{FormData, Problems, input_id};
use super::i18n::Tr;
use crate::domain::codes;
use serde_json::Value;

/// How the form asks for an item.
#[derive(Clone, Copy)]
pub enum Ask {
    /// One code of a TDI list.
    Code(&'static str),
    /// Up to four codes of a TDI list, in order.
    Codes(&'static str),
    /// A whole number.
    Number,
    /// A date.
    Date,
    /// A municipality of Kosovo.
    Municipality,
    /// One value of a fixed list; each labelled by the message `<prefix>-<value>`.
    Pick(&'static str, &'static [&'static str]),
    /// One line of text.
    Line,
    /// Free text.
    Text,
}

/// A person's identity as every form asks it (names, birth date, sex, personal
/// number).
pub const IDENTITY: &[(&str, Ask)] = &[
    ("identity.first_name", Ask::Line),
    ("identity.last_name", Ask::Line),
    ("identity.birth_date", Ask::Line),
    ("identity.sex", Ask::Code("sex")),
    ("identity.personal_number", Ask::Line),
];

/// What is asked of a person who is not identified (a death, an overdose).
pub const UNIDENTIFIED: &[(&str, Ask)] = &[("sex", Ask::Code("sex")), ("age", Ask::Number)];

/// The answers of a yes-or-no question (labelled `answer-yes`, `answer-no`).
pub const ANSWERS: &[&str] = &["yes", "no"];

/// How many secondary drugs a form offers (the TDI allows four).
const SECONDARY_SLOTS: usize = 4;

/// One choice of a select.
pub struct Choice {
    /// The code sent.
    pub value: String,
    /// Its label.
    pub label: String,
    /// Whether it is chosen.
    pub selected: bool,
}

/// One field of a form, ready to render.
pub struct Field {
    /// The name sent (`identity.first_name`).
    pub name: &'static str,
    /// The input's element id.
    pub id: String,
    /// Its label.
    pub label: String,
    /// The rule stated beside it, or empty.
    pub hint: String,
    /// `select`, `selects` (several in order), `number`, `date`, `line` or `text`.
    pub kind: &'static str,
    /// The value shown (the user's own submission when the form comes back).
    pub value: String,
    /// The choices of each select (one list per select; several for `selects`).
    pub choices: Vec<Vec<Choice>>,
    /// What is wrong with it, or empty.
    pub problem: String,
    /// Whether it must be filled.
    pub required: bool,
}

impl Field {
    /// The ids of the rule and the problem that describe the input.
    pub fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if !self.hint.is_empty() {
            ids.push(format!("{}-hint", self.id));
        }
        if !self.problem.is_empty() {
            ids.push(format!("{}-problem", self.id));
        }
        ids.join(" ")
    }
}

pub fn choices(tr: &Tr, options: &[(String, String)], chosen: &str) -> Vec<Choice> {
    let mut all = vec![Choice {
        value: String::new(),
        label: tr.t("form-choose"),
        selected: chosen.is_empty(),
    }];
    all.extend(options.iter().map(|(value, label)| Choice {
        selected: value == chosen,
        value: value.clone(),
        label: label.clone(),
    }));
    all
}

fn options(tr: &Tr, ask: Ask, slugs: &[String]) -> Vec<(String, String)> {
    match ask {
        Ask::Code(list) | Ask::Codes(list) => codes::list(list)
            .unwrap_or_default()
            .iter()
            .map(|code| {
                let label = tr.code(list, code);
                // The code beside the label: clinicians know the TDI codes.
                (code.to_string(), format!("{code} · {label}"))
            })
            .collect(),
        Ask::Pick(prefix, values) => values
            .iter()
            .map(|v| {
                (
                    (*v).to_owned(),
                    tr.t(&format!("{prefix}-{}", v.replace('_', "-"))),
                )
            })
            .collect(),
        Ask::Municipality => {
            let mut named: Vec<(String, String)> = slugs
                .iter()
                .map(|slug| (slug.clone(), tr.municipality(slug)))
                .collect();
            named.sort_by(|a, b| a.1.cmp(&b.1));
            named
        }
        _ => Vec::new(),
    }
}

pub fn fields(
    tr: &Tr,
    items: &[(&'static str, Ask)],
    hinted: &[&str],
    form: &FormData,
    problems: &Problems,
    slugs: &[String],
) -> Vec<Field> {
    items
        .iter()
        .map(|&(name, ask)| {
            let key = name.replace(['.', '_'], "-");
            let value = form.one(name).to_owned();
            let options = options(tr, ask, slugs);
            let (kind, choices) = match ask {
                Ask::Code(_) | Ask::Municipality | Ask::Pick(..) => {
                    ("select", vec![choices(tr, &options, &value)])
                }
                Ask::Codes(_) => {
                    let chosen = form.all(name);
                    let lists = (0..SECONDARY_SLOTS)
                        .map(|i| choices(tr, &options, chosen.get(i).copied().unwrap_or("")))
                        .collect();
                    ("selects", lists)
                }
                Ask::Number => ("number", Vec::new()),
                Ask::Date => ("date", Vec::new()),
                Ask::Line => ("line", Vec::new()),
                Ask::Text => ("text", Vec::new()),
            };
            Field {
                name,
                id: input_id(name),
                label: super::forms::label(tr, name),
                hint: if hinted.contains(&name) {
                    tr.t(&format!("hint-{key}"))
                } else {
                    String::new()
                },
                kind,
                value,
                choices,
                problem: problems.of(name),
                // A name may be missing when the other is known (a partial
                // identity), and the personal number is often not known.
                required: !matches!(ask, Ask::Number | Ask::Codes(_) | Ask::Text | Ask::Line)
                    || name == "identity.birth_date",
            }
        })
        .collect()
}

/// The value of a dotted name (`identity.first_name`) in a JSON document.
pub fn lookup<'a>(doc: &'a Value, name: &str) -> Option<&'a Value> {
    name.split('.').try_fold(doc, |value, part| value.get(part))
}

/// A stored value as a page shows it: a code with its label, a municipality or
/// a choice by its name, yes or no, a list joined.
pub fn shown(tr: &Tr, ask: Ask, value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Array(items) => items
            .iter()
            .map(|item| shown(tr, ask, item))
            .filter(|text| !text.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        Value::Bool(yes) => tr.t(if *yes { "answer-yes" } else { "answer-no" }),
        Value::String(text) => match ask {
            Ask::Code(list) | Ask::Codes(list) => format!("{text} · {}", tr.code(list, text)),
            Ask::Municipality => tr.municipality(text),
            Ask::Pick(prefix, _) => tr.t(&format!("{prefix}-{}", text.replace('_', "-"))),
            _ => text.clone(),
        },
        other => other.to_string(),
    }
}

/// A form filled with a stored record's values of `items`, as the form sends
/// them: what a correction starts from.
pub fn prefilled(items: &[(&str, Ask)], doc: &Value) -> FormData {
    let text = |value: &Value| match value {
        Value::String(text) => text.clone(),
        Value::Bool(yes) => if *yes { "yes" } else { "no" }.to_owned(),
        other => other.to_string(),
    };
    let mut form = FormData::default();
    for (name, _) in items {
        match lookup(doc, name) {
            None | Some(Value::Null) => {}
            Some(Value::Array(values)) => {
                for value in values {
                    form = form.and(name, &text(value));
                }
            }
            Some(value) => form = form.and(name, &text(value)),
        }
    }
    form
}
