//! The interface's languages: Albanian (the default), Serbian in Latin script and
//! English, from the Project Fluent files in `locales/`, compiled into the binary.
//!
//! Every label, message and code-list label is a Fluent message; a unit test fails
//! when a language lacks a message another has, or when a page asks for one that no
//! file holds.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader, static_loader};

static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "sq",
        // No Unicode isolation marks around arguments: the pages are left-to-right
        // only, and the marks would end up inside form values and tests.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// A language of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Albanian, the default.
    Sq,
    /// Serbian, Latin script.
    Sr,
    /// English.
    En,
}

static IDS: LazyLock<[LanguageIdentifier; 3]> =
    LazyLock::new(|| Lang::ALL.map(|lang| lang.tag().parse().expect("the three tags are valid")));

impl Lang {
    /// Every language, in the order the language menu lists them.
    pub const ALL: [Lang; 3] = [Lang::Sq, Lang::Sr, Lang::En];

    /// The BCP 47 tag (`<html lang>`, the language cookie, the `locales/` folder).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Sq => "sq",
            Lang::Sr => "sr-Latn",
            Lang::En => "en",
        }
    }

    /// The language's own name, as the menu shows it.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Sq => "Shqip",
            Lang::Sr => "Srpski",
            Lang::En => "English",
        }
    }

    fn id(self) -> &'static LanguageIdentifier {
        &IDS[self as usize]
    }

    /// The language a tag asks for: `sq`, `sq-AL`, `sr`, `sr-Latn-RS`, `en-GB`…
    /// (Serbian in Cyrillic is answered in Latin script, the only Serbian here.)
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "sq" => Some(Lang::Sq),
            "sr" | "sh" | "bs" | "hr" => Some(Lang::Sr),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The user's choice (the language cookie) first, then the browser's
    /// `Accept-Language` by preference, then Albanian.
    pub fn negotiate(choice: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(lang) = choice.and_then(Lang::from_tag) {
            return lang;
        }
        let mut offered: Vec<(f32, Lang)> = accept_language
            .unwrap_or_default()
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';');
                let lang = Lang::from_tag(parts.next()?)?;
                let quality = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
                (quality > 0.0).then_some((quality, lang))
            })
            .collect();
        // A stable sort keeps the header's order among equal weights.
        offered.sort_by(|a, b| b.0.total_cmp(&a.0));
        offered.first().map_or(Lang::Sq, |(_, lang)| *lang)
    }
}

/// Translations for one page, in one language.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    /// The page's language.
    pub lang: Lang,
}

impl Tr {
    /// The message `key`.
    pub fn t(&self, key: &str) -> String {
        LOCALES.lookup(self.lang.id(), key)
    }

    /// The message `key` with one argument.
    pub fn t1(&self, key: &str, name: &'static str, value: impl ToString) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue<'_>> =
            HashMap::from([(Cow::Borrowed(name), FluentValue::from(value.to_string()))]);
        LOCALES.lookup_with_args(self.lang.id(), key, &args)
    }

    /// The message `key` with the count `n` as its argument `name`: a number, so
    /// the message may choose its plural form (Serbian has three).
    pub fn count(&self, key: &str, name: &'static str, n: i64) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue<'_>> =
            HashMap::from([(Cow::Borrowed(name), FluentValue::from(n))]);
        LOCALES.lookup_with_args(self.lang.id(), key, &args)
    }

    /// The label of `code` in the TDI code list `list` (`99` reads "not known").
    pub fn code(&self, list: &str, code: &str) -> String {
        self.t(&code_key(list, code))
    }

    /// The name of a municipality (by its slug) in the page's language.
    pub fn municipality(&self, slug: &str) -> String {
        self.t(&format!("municipality-{slug}"))
    }

    /// The page's `<html lang>`.
    pub fn tag(&self) -> &'static str {
        self.lang.tag()
    }
}

/// The Fluent message id of a code-list label: `code-<list>-<code>` with `_` and
/// `.` turned into `-` (Fluent ids allow neither a dot nor a leading digit).
pub fn code_key(list: &str, code: &str) -> String {
    format!("code-{}-{}", list.replace('_', "-"), code.replace('.', "-"))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const FILES: &[(&str, &[&str])] = &[
        (
            "sq",
            &[
                include_str!("../../locales/sq/main.ftl"),
                include_str!("../../locales/sq/codes.ftl"),
                include_str!("../../locales/sq/places.ftl"),
            ],
        ),
        (
            "sr-Latn",
            &[
                include_str!("../../locales/sr-Latn/main.ftl"),
                include_str!("../../locales/sr-Latn/codes.ftl"),
                include_str!("../../locales/sr-Latn/places.ftl"),
            ],
        ),
        (
            "en",
            &[
                include_str!("../../locales/en/main.ftl"),
                include_str!("../../locales/en/codes.ftl"),
                include_str!("../../locales/en/places.ftl"),
            ],
        ),
    ];

    /// The message ids a Fluent file defines (lines `id = …` at the start).
    fn ids(text: &str) -> BTreeSet<String> {
        text.lines()
            .filter_map(|line| {
                let (id, _) = line.split_once(" =")?;
                let valid = id.starts_with(|c: char| c.is_ascii_lowercase())
                    && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
                valid.then(|| id.to_owned())
            })
            .collect()
    }

    /// Every message id of a language's files (`sq`, `sr-Latn`, `en`).
    pub(crate) fn keys_of(lang: &str) -> BTreeSet<String> {
        FILES
            .iter()
            .find(|(tag, _)| *tag == lang)
            .map(|(_, files)| files.iter().flat_map(|f| ids(f)).collect())
            .unwrap_or_default()
    }

    /// Fails naming every key some language lacks.
    pub(crate) fn assert_every_language_has(keys: &[String]) {
        for (lang, _) in FILES {
            let known = keys_of(lang);
            let missing: Vec<_> = keys.iter().filter(|k| !known.contains(*k)).collect();
            assert!(missing.is_empty(), "{lang} lacks {missing:?}");
        }
    }

    /// The keys pages ask for literally, by the `t` and `t1` calls with a quoted key
    /// in the templates and in this module's Rust files.
    fn used_keys() -> BTreeSet<String> {
        let mut sources: Vec<String> = Vec::new();
        for dir in ["templates", "src/web"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            for entry in std::fs::read_dir(&path).expect("readable folder") {
                let file = entry.expect("entry").path();
                sources.push(std::fs::read_to_string(&file).expect("readable file"));
            }
        }
        let mut keys = BTreeSet::new();
        for source in &sources {
            for call in [".t(\"", ".t1(\"", ".count(\""] {
                for (at, _) in source.match_indices(call) {
                    let rest = &source[at + call.len()..];
                    if let Some(end) = rest.find('"') {
                        keys.insert(rest[..end].to_owned());
                    }
                }
            }
        }
        keys
    }

    #[test]
    fn every_language_has_every_message() {
        let albanian = keys_of("sq");
        assert!(albanian.len() > 200, "{} messages", albanian.len());
        for lang in ["sr-Latn", "en"] {
            let other = keys_of(lang);
            let missing: Vec<_> = albanian.difference(&other).collect();
            let extra: Vec<_> = other.difference(&albanian).collect();
            assert!(missing.is_empty(), "{lang} lacks {missing:?}");
            assert!(
                extra.is_empty(),
                "{lang} has messages Albanian lacks: {extra:?}"
            );
        }
    }

    #[test]
    fn every_message_a_page_asks_for_exists_in_every_language() {
        let used = used_keys();
        assert!(used.len() > 50, "{} keys found", used.len());
        for (lang, _) in FILES {
            let known = keys_of(lang);
            let missing: Vec<_> = used.difference(&known).collect();
            assert!(missing.is_empty(), "{lang} lacks {missing:?}");
        }
    }

    #[test]
    fn every_code_of_every_tdi_list_has_a_label_in_every_language() {
        for (lang, _) in FILES {
            let known = keys_of(lang);
            for (list, codes) in crate::domain::codes::LISTS {
                for code in *codes {
                    let key = code_key(list, code);
                    assert!(known.contains(&key), "{lang} lacks {key}");
                }
            }
        }
    }

    #[test]
    fn every_municipality_and_district_has_a_name_in_every_language() {
        let seeds = [
            (
                "municipality",
                include_str!("../../seeds/municipalities.csv"),
            ),
            ("district", include_str!("../../seeds/districts.csv")),
        ];
        for (lang, _) in FILES {
            let known = keys_of(lang);
            for (kind, seed) in seeds {
                for line in seed.lines().skip(1) {
                    let slug = line.split(',').next().unwrap_or_default();
                    let key = format!("{kind}-{slug}");
                    assert!(known.contains(&key), "{lang} lacks {key}");
                }
            }
        }
    }

    #[test]
    fn lookups_answer_in_the_asked_language() {
        let label = |lang| Tr { lang }.code("substance", "1.1");
        assert_eq!(label(Lang::Sq), "heroinë");
        assert_eq!(label(Lang::En), "heroin");
        assert_eq!(Tr { lang: Lang::Sr }.code("sex", "2"), "ženski");
        let with_count = Tr { lang: Lang::En }.count("problem-at-most-characters", "n", 2000);
        assert!(with_count.contains("2000"), "{with_count}");
        // Serbian counts take one of three forms.
        let sr = Tr { lang: Lang::Sr };
        for (n, form) in [
            (1, "znak."),
            (3, "znaka."),
            (12, "znakova."),
            (21, "znak."),
            (24, "znaka."),
        ] {
            let text = sr.count("problem-at-least-characters", "n", n);
            assert!(text.ends_with(form), "{n}: {text}");
        }
        let text = sr.count("audit-verified", "events", 2);
        assert!(text.contains("proverena su"), "{text}");
    }

    #[test]
    fn the_choice_wins_then_the_browser_then_albanian() {
        assert_eq!(Lang::negotiate(Some("en"), Some("sr")), Lang::En);
        assert_eq!(Lang::negotiate(Some("xx"), Some("sr-Latn-RS")), Lang::Sr);
        assert_eq!(
            Lang::negotiate(None, Some("de-DE,en;q=0.8,sq;q=0.9")),
            Lang::Sq
        );
        assert_eq!(Lang::negotiate(None, Some("de, fr;q=0.5")), Lang::Sq);
        assert_eq!(Lang::negotiate(None, Some("en;q=0, sr;q=0.1")), Lang::Sr);
        assert_eq!(Lang::negotiate(None, None), Lang::Sq);
        assert_eq!(Lang::negotiate(None, Some(";;;,q=,")), Lang::Sq);
    }
}
