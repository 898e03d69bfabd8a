//! Who the synthetic population is: names, where they live, and how their names get
//! mistyped when they are registered again.

use rand::Rng;
use rand::seq::SliceRandom;

use super::names::{
    ALBANIAN_MEN_NAMES, ALBANIAN_SURNAME_NAMES, ALBANIAN_WOMEN_NAMES, Ranked, SERBIAN_MEN_NAMES,
    SERBIAN_SURNAME_NAMES, SERBIAN_WOMEN_NAMES,
};

/// Municipalities (slug, district) with approximate resident population (2011 census; the four
/// northern municipalities were not enumerated and carry OSCE estimates). Only the
/// relative weights matter.
pub const MUNICIPALITIES: &[(&str, &str, u32)] = &[
    ("prishtine", "prishtina", 198_897),
    ("prizren", "prizren", 177_781),
    ("ferizaj", "ferizaj", 108_610),
    ("peje", "peja", 96_450),
    ("gjakove", "gjakova", 94_556),
    ("gjilan", "gjilan", 90_178),
    ("podujeve", "prishtina", 88_499),
    ("mitrovice-jug", "mitrovica", 71_909),
    ("vushtrri", "mitrovica", 69_870),
    ("suhareke", "prizren", 59_722),
    ("drenas", "prishtina", 58_531),
    ("lipjan", "prishtina", 57_605),
    ("rahovec", "gjakova", 56_208),
    ("malisheve", "prizren", 54_613),
    ("skenderaj", "mitrovica", 50_858),
    ("viti", "gjilan", 46_987),
    ("decan", "gjakova", 40_019),
    ("istog", "peja", 39_289),
    ("kline", "peja", 38_496),
    ("kamenice", "gjilan", 36_085),
    ("fushe-kosove", "prishtina", 34_827),
    ("dragash", "prizren", 33_997),
    ("kacanik", "ferizaj", 33_409),
    ("mitrovice-veri", "mitrovica", 29_460),
    ("shtime", "ferizaj", 27_324),
    ("obiliq", "prishtina", 21_549),
    ("leposaviq", "mitrovica", 18_600),
    ("zvecan", "mitrovica", 16_650),
    ("zubin-potok", "mitrovica", 14_900),
    ("gracanice", "prishtina", 10_675),
    ("novoberde", "prishtina", 9_670),
    ("hani-i-elezit", "ferizaj", 9_403),
    ("shterpce", "ferizaj", 6_949),
    ("junik", "gjakova", 6_084),
    ("mamushe", "prizren", 5_507),
    ("ranillug", "gjilan", 3_866),
    ("partesh", "gjilan", 1_787),
    ("kllokot", "gjilan", 2_556),
];

/// Municipalities with a Serbian majority, where most residents carry Serbian names.
const SERBIAN_MAJORITY: &[&str] = &[
    "mitrovice-veri",
    "leposaviq",
    "zvecan",
    "zubin-potok",
    "gracanice",
    "shterpce",
    "ranillug",
    "partesh",
    "kllokot",
    "novoberde",
];

/// A synthetic person's name, as they would write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// Given name.
    pub first: String,
    /// Family name.
    pub last: String,
    /// Serbian name (may be written in Cyrillic).
    pub serbian: bool,
}

/// Draws a name for a resident of `municipality`.
pub fn name(rng: &mut impl Rng, municipality: &str, male: bool) -> Name {
    let serbian_share = if SERBIAN_MAJORITY.contains(&municipality) {
        0.85
    } else {
        0.03
    };
    let serbian = rng.gen_bool(serbian_share);
    let (firsts, lasts): (&Ranked, &Ranked) = match (serbian, male) {
        (false, true) => (&ALBANIAN_MEN_NAMES, &ALBANIAN_SURNAME_NAMES),
        (false, false) => (&ALBANIAN_WOMEN_NAMES, &ALBANIAN_SURNAME_NAMES),
        (true, true) => (&SERBIAN_MEN_NAMES, &SERBIAN_SURNAME_NAMES),
        (true, false) => (&SERBIAN_WOMEN_NAMES, &SERBIAN_SURNAME_NAMES),
    };
    let mut first = firsts.draw(rng).to_owned();
    // A share of people carry a second given name.
    if rng.gen_bool(0.08) {
        first = format!("{first} {}", firsts.draw(rng));
    }
    Name {
        first,
        last: lasts.draw(rng).to_owned(),
        serbian,
    }
}

/// A Kosovo personal number: ten digits, not all zero (the registry checks only the
/// form, as the civil registry's check rules are not public).
pub fn personal_number(rng: &mut impl Rng) -> String {
    format!("1{:09}", rng.gen_range(0..1_000_000_000u32))
}

/// Serbian Latin to Cyrillic, as a facility using Cyrillic would write the name.
pub fn to_cyrillic(text: &str) -> String {
    const DIGRAPHS: &[(&str, &str)] = &[
        ("Lj", "Љ"),
        ("lj", "љ"),
        ("Nj", "Њ"),
        ("nj", "њ"),
        ("Dž", "Џ"),
        ("dž", "џ"),
    ];
    let mut out = String::new();
    let mut rest = text;
    'outer: while let Some(c) = rest.chars().next() {
        for (latin, cyr) in DIGRAPHS {
            if let Some(tail) = rest.strip_prefix(latin) {
                out.push_str(cyr);
                rest = tail;
                continue 'outer;
            }
        }
        let mapped = match c {
            'A' => "А",
            'a' => "а",
            'B' => "Б",
            'b' => "б",
            'V' => "В",
            'v' => "в",
            'G' => "Г",
            'g' => "г",
            'D' => "Д",
            'd' => "д",
            'Đ' => "Ђ",
            'đ' => "ђ",
            'E' => "Е",
            'e' => "е",
            'Ž' => "Ж",
            'ž' => "ж",
            'Z' => "З",
            'z' => "з",
            'I' => "И",
            'i' => "и",
            'J' => "Ј",
            'j' => "ј",
            'K' => "К",
            'k' => "к",
            'L' => "Л",
            'l' => "л",
            'M' => "М",
            'm' => "м",
            'N' => "Н",
            'n' => "н",
            'O' => "О",
            'o' => "о",
            'P' => "П",
            'p' => "п",
            'R' => "Р",
            'r' => "р",
            'S' => "С",
            's' => "с",
            'T' => "Т",
            't' => "т",
            'Ć' => "Ћ",
            'ć' => "ћ",
            'U' => "У",
            'u' => "у",
            'F' => "Ф",
            'f' => "ф",
            'H' => "Х",
            'h' => "х",
            'C' => "Ц",
            'c' => "ц",
            'Č' => "Ч",
            'č' => "ч",
            'Š' => "Ш",
            'š' => "ш",
            _ => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
                continue;
            }
        };
        out.push_str(mapped);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Drops the diacritics a keyboard without Albanian or Serbian layout loses.
pub fn without_diacritics(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let plain: &[char] = match c {
                'ë' => &['e'],
                'Ë' => &['E'],
                'ç' | 'č' | 'ć' => &['c'],
                'Ç' | 'Č' | 'Ć' => &['C'],
                'š' => &['s'],
                'Š' => &['S'],
                'ž' => &['z'],
                'Ž' => &['Z'],
                'đ' => &['d', 'j'],
                'Đ' => &['D', 'j'],
                _ => return vec![c],
            };
            plain.to_vec()
        })
        .collect()
}

/// Swaps two neighbouring letters somewhere inside the word (a typing slip).
pub fn swap_letters(rng: &mut impl Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let candidates: Vec<usize> = (1..chars.len().saturating_sub(1))
        .filter(|&i| {
            chars[i].is_alphabetic() && chars[i + 1].is_alphabetic() && chars[i] != chars[i + 1]
        })
        .collect();
    if let Some(&i) = candidates.choose(rng) {
        chars.swap(i, i + 1);
    }
    chars.into_iter().collect()
}

/// The kinds of slip a repeat registration may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slip {
    /// Two neighbouring letters swapped.
    SwappedLetters,
    /// Diacritics missing.
    NoDiacritics,
    /// Name written in Cyrillic.
    Cyrillic,
    /// Day and month of birth swapped.
    SwappedDayMonth,
    /// One letter of a name mistyped, dropped or doubled.
    Typo,
    /// An Albanian name written as Serbian Latin spells it (`Xhavit Çeku` as
    /// `Džavit Ćeku`).
    OtherLanguage,
    /// Given and family name in each other's field.
    NamesSwapped,
    /// Only the year of birth recorded.
    YearOnly,
    /// One digit of the birth date mistyped (still a valid date).
    BirthDigit,
    /// The given name not recorded.
    NoGivenName,
}

impl Slip {
    /// Every slip, for generators that draw from all of them.
    pub const ALL: [Slip; 10] = [
        Slip::SwappedLetters,
        Slip::NoDiacritics,
        Slip::Cyrillic,
        Slip::SwappedDayMonth,
        Slip::Typo,
        Slip::OtherLanguage,
        Slip::NamesSwapped,
        Slip::YearOnly,
        Slip::BirthDigit,
        Slip::NoGivenName,
    ];
}

/// One letter replaced by a neighbouring key's, dropped, or doubled.
pub fn typo(rng: &mut impl Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let letters: Vec<usize> = (1..chars.len())
        .filter(|&i| chars[i].is_alphabetic())
        .collect();
    let Some(&i) = letters.choose(rng) else {
        return text.to_owned();
    };
    match rng.gen_range(0..3) {
        0 => {
            const ROW: &str = "qwertyuiopasdfghjklzxcvbnm";
            let keys: Vec<char> = ROW.chars().collect();
            let at = keys
                .iter()
                .position(|k| *k == chars[i].to_ascii_lowercase())
                .unwrap_or(0);
            let neighbour = keys[(at + 1) % keys.len()];
            chars[i] = if chars[i] == neighbour {
                'a'
            } else {
                neighbour
            };
        }
        1 => {
            chars.remove(i);
        }
        _ => chars.insert(i, chars[i]),
    }
    chars.into_iter().collect()
}

/// An Albanian spelling as Serbian Latin writes its sounds.
pub fn serbian_spelling(text: &str) -> String {
    const SOUNDS: &[(&str, &str)] = &[
        ("Xh", "Dž"),
        ("xh", "dž"),
        ("Zh", "Ž"),
        ("zh", "ž"),
        ("Sh", "Š"),
        ("sh", "š"),
        ("Gj", "Đ"),
        ("gj", "đ"),
        ("Dh", "D"),
        ("dh", "d"),
        ("Th", "T"),
        ("th", "t"),
        ("Ç", "Č"),
        ("ç", "č"),
        ("Q", "Ć"),
        ("q", "ć"),
        ("ë", "e"),
        ("Ë", "E"),
        ("Y", "I"),
        ("y", "i"),
        ("ll", "l"),
        ("rr", "r"),
    ];
    let mut out = String::new();
    let mut rest = text;
    'outer: while let Some(c) = rest.chars().next() {
        for (from, to) in SOUNDS {
            if let Some(tail) = rest.strip_prefix(from) {
                out.push_str(to);
                rest = tail;
                continue 'outer;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// How a registration writes a person's identity: their own spelling, or with one slip.
pub fn spelled(
    rng: &mut impl Rng,
    name: &Name,
    birth: time::Date,
    slip: Option<Slip>,
) -> (String, String, String) {
    let iso = |y: i32, m: u8, d: u8| format!("{y:04}-{m:02}-{d:02}");
    let (y, m, d) = (birth.year(), u8::from(birth.month()), birth.day());
    let mut first = name.first.clone();
    let mut last = name.last.clone();
    let mut birth_date = iso(y, m, d);
    match slip {
        None => {}
        Some(Slip::SwappedLetters) => {
            if rng.gen_bool(0.5) {
                first = swap_letters(rng, &first);
            } else {
                last = swap_letters(rng, &last);
            }
        }
        Some(Slip::NoDiacritics) => {
            first = without_diacritics(&first);
            last = without_diacritics(&last);
        }
        Some(Slip::Cyrillic) => {
            first = to_cyrillic(&first);
            last = to_cyrillic(&last);
        }
        Some(Slip::SwappedDayMonth) => {
            if d <= 12 && d != m {
                birth_date = iso(y, d, m);
            } else {
                last = swap_letters(rng, &last);
            }
        }
        Some(Slip::Typo) => {
            if rng.gen_bool(0.5) {
                first = typo(rng, &first);
            } else {
                last = typo(rng, &last);
            }
        }
        Some(Slip::OtherLanguage) => {
            first = serbian_spelling(&first);
            last = serbian_spelling(&last);
        }
        Some(Slip::NamesSwapped) => std::mem::swap(&mut first, &mut last),
        Some(Slip::YearOnly) => birth_date = format!("{y:04}"),
        Some(Slip::BirthDigit) => {
            // The last digit of the year, or of the day when that stays a date.
            birth_date = if d % 10 < 8 && rng.gen_bool(0.5) {
                iso(y, m, d + 1)
            } else {
                let day = if (m, d) == (2, 29) { 28 } else { d };
                iso(y + if y % 10 == 9 { -1 } else { 1 }, m, day)
            };
        }
        Some(Slip::NoGivenName) => first.clear(),
    }
    (first, last, birth_date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::names;
    use crate::identity::normalize::normalise_full_name;

    #[test]
    fn cyrillic_and_missing_diacritics_normalise_to_the_same_name() {
        for name in names::serbian().iter().flat_map(|list| list.shares()) {
            let name = name.0;
            let cyrillic = to_cyrillic(name);
            assert!(
                cyrillic.chars().all(|c| !c.is_ascii_alphabetic()),
                "{cyrillic}"
            );
            assert_eq!(
                normalise_full_name(&cyrillic, "X").ok(),
                normalise_full_name(name, "X").ok(),
                "{name} / {cyrillic}"
            );
        }
        for (name, _) in names::all().iter().flat_map(|list| list.shares()) {
            assert_eq!(
                normalise_full_name(&without_diacritics(name), "X").ok(),
                normalise_full_name(name, "X").ok(),
                "{name}"
            );
        }
    }

    #[test]
    fn weights_cover_every_municipality_once() {
        let seeded = include_str!("../../seeds/municipalities.csv");
        let mut slugs: Vec<&str> = seeded
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').next())
            .collect();
        let mut weighted: Vec<&str> = MUNICIPALITIES.iter().map(|(s, _, _)| *s).collect();
        slugs.sort_unstable();
        weighted.sort_unstable();
        assert_eq!(slugs, weighted);
    }

    #[test]
    fn swapping_letters_changes_the_word_but_keeps_its_letters() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let swapped = swap_letters(&mut rng, "Krasniqi");
        assert_ne!(swapped, "Krasniqi");
        let mut a: Vec<char> = swapped.chars().collect();
        let mut b: Vec<char> = "Krasniqi".chars().collect();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
    }
    use rand::SeedableRng;
}
