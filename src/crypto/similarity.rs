//! Keyed similarity encodings of an identity: the building block of fuzzy linkage
//! (issue 16), not yet used by the linkage itself.
//!
//! Each field is a Bloom filter of its tokens: the character bigrams of a name, the
//! components and digits of a birth date. A token sets bits chosen by HMAC-SHA256
//! under a key derived with HKDF from the pseudonym key (domain `similarity`, per
//! field and version), so only the key holder can encode a value or test one against
//! an encoding, and a key rotation yields unrelated encodings. Bits are not chosen
//! by double hashing, which Kroll & Steinmetzer (2015) broke.
//!
//! Two encodings are compared field by field with the Dice coefficient: a typo in a
//! name changes a few bigrams, not the whole field. The birth date's tokens keep a
//! day/month swap close (an order-free day-month token, the year untouched) and a
//! one-digit error too (one positional digit token of its component changes).
//! Given and family names are compared both ways, so swapped names score as high as
//! names in their fields.
//!
//! Still to come with the linkage (issue 16): hardening against pattern-mining and
//! graph attacks (a secret diffusion layer, Armknecht, Heng & Schnell 2023), keyed
//! blocking, weights fitted on data, the thresholds and the review queue.

use ring::hmac;

use super::Secret32;

const SALT: &[u8] = b"kosovo-drug-registry/similarity-key/v1";

/// Bits of one name field's filter.
const NAME_BITS: usize = 512;
/// Bits of the birth date's filter.
const DATE_BITS: usize = 256;
/// Bits set per name bigram.
const NAME_BITS_PER_TOKEN: usize = 12;
/// Bits set per birth-date token.
const DATE_BITS_PER_TOKEN: usize = 8;

/// The kinds of field that are encoded. Given and family names share a key, so
/// that a name recorded in the other field can be compared with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    Birth,
}

impl Field {
    fn label(self) -> &'static [u8] {
        match self {
            Self::Name => b"name",
            Self::Birth => b"birth",
        }
    }
}

/// The derived keys of one pseudonym-key version.
pub struct SimilarityKeys {
    /// The pseudonym-key version they come from.
    pub version: u32,
    name: hmac::Key,
    birth: hmac::Key,
}

impl std::fmt::Debug for SimilarityKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimilarityKeys {{ version: {}, .. }}", self.version)
    }
}

/// A set of bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter(Vec<u64>);

impl Filter {
    fn empty(bits: usize) -> Self {
        Self(vec![0; bits / 64])
    }

    fn set(&mut self, bit: usize) {
        let bits = self.0.len() * 64;
        if let Some(word) = self.0.get_mut((bit % bits) / 64) {
            *word |= 1 << (bit % 64);
        }
    }

    fn ones(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }

    /// The Dice coefficient: 2|A ∩ B| / (|A| + |B|); `None` when both are empty.
    fn dice(&self, other: &Self) -> Option<f64> {
        let both: u32 = self
            .0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a & b).count_ones())
            .sum();
        let total = self.ones() + other.ones();
        (total > 0).then(|| 2.0 * f64::from(both) / f64::from(total))
    }
}

/// The encoding of one identity; a field is `None` when it is not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    given: Option<Filter>,
    family: Option<Filter>,
    birth: Option<Filter>,
}

/// A birth date as far as it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Birth {
    /// Day, month and year.
    Full {
        /// Year.
        year: u16,
        /// Month, 1-12.
        month: u8,
        /// Day, 1-31.
        day: u8,
    },
    /// The year only.
    Year(u16),
}

impl SimilarityKeys {
    /// Derives the per-field keys of one version.
    pub fn derive(secret: &Secret32, version: u32) -> Self {
        let prk = super::reference::extract(secret, SALT);
        let derive =
            |field: Field| super::reference::hmac_key(&prk, field.label(), version, secret);
        Self {
            version,
            name: derive(Field::Name),
            birth: derive(Field::Birth),
        }
    }

    /// Encodes normalised names (upper-case letters, as `identity::normalize`
    /// leaves them) and a birth date; an empty name is unknown.
    pub fn encode(&self, given: &str, family: &str, birth: Option<Birth>) -> Encoding {
        Encoding {
            given: name_filter(&self.name, given),
            family: name_filter(&self.name, family),
            birth: birth
                .map(|b| filter(&self.birth, DATE_BITS, DATE_BITS_PER_TOKEN, &date_tokens(b))),
        }
    }
}

fn name_filter(key: &hmac::Key, name: &str) -> Option<Filter> {
    let letters: Vec<char> = name.chars().filter(|c| !c.is_whitespace()).collect();
    if letters.is_empty() {
        return None;
    }
    // Padded bigrams: `_A`, `AB`, …, `Z_`, so first and last letters count too.
    let padded: Vec<char> = std::iter::once('_')
        .chain(letters)
        .chain(std::iter::once('_'))
        .collect();
    let tokens: Vec<String> = padded.windows(2).map(|w| w.iter().collect()).collect();
    Some(filter(key, NAME_BITS, NAME_BITS_PER_TOKEN, &tokens))
}

/// The birth date's tokens: each component whole and digit by digit, and the day
/// and month as an unordered pair (and their digits unordered), so a swap keeps
/// the year's and the pair's tokens and a one-digit error changes only its own.
fn date_tokens(birth: Birth) -> Vec<String> {
    let year = format!(
        "{:04}",
        match birth {
            Birth::Full { year, .. } | Birth::Year(year) => year,
        }
    );
    let mut tokens = vec![format!("Y:{year}")];
    tokens.extend(year.chars().enumerate().map(|(i, d)| format!("Y{i}:{d}")));
    if let Birth::Full { month, day, .. } = birth {
        let (low, high) = (month.min(day), month.max(day));
        tokens.push(format!("M:{month:02}"));
        tokens.push(format!("D:{day:02}"));
        tokens.push(format!("DM:{low:02}-{high:02}"));
        for (tag, value) in [("M", month), ("D", day)] {
            let digits = format!("{value:02}");
            tokens.extend(
                digits
                    .chars()
                    .enumerate()
                    .map(|(i, d)| format!("{tag}{i}:{d}")),
            );
        }
        // The digits of day and month without their place, also kept by a swap.
        let mut digits: Vec<char> = format!("{day:02}{month:02}").chars().collect();
        digits.sort_unstable();
        tokens.push(format!("DMd:{}", digits.iter().collect::<String>()));
    }
    tokens
}

fn filter(key: &hmac::Key, bits: usize, per_token: usize, tokens: &[String]) -> Filter {
    let mut filter = Filter::empty(bits);
    for token in tokens {
        let tag = hmac::sign(key, token.as_bytes());
        for pair in tag.as_ref().chunks_exact(2).take(per_token) {
            filter.set(usize::from(u16::from_be_bytes([pair[0], pair[1]])));
        }
    }
    filter
}

/// How similar two encodings are, field by field (Dice, 0-1), for a matcher to
/// weigh; `None` where either side does not know the field. Names are taken in
/// the order (given, family) or swapped, whichever agrees better.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// Given names.
    pub given: Option<f64>,
    /// Family names.
    pub family: Option<f64>,
    /// Birth dates.
    pub birth: Option<f64>,
    /// Whether the names agreed better swapped.
    pub names_swapped: bool,
}

impl Similarity {
    /// The mean of the known fields (0 when none is known): a first score until
    /// the matcher weighs fields by their reliability.
    pub fn mean(&self) -> f64 {
        let known: Vec<f64> = [self.given, self.family, self.birth]
            .into_iter()
            .flatten()
            .collect();
        if known.is_empty() {
            return 0.0;
        }
        known.iter().sum::<f64>() / known.len() as f64
    }
}

fn dice(a: Option<&Filter>, b: Option<&Filter>) -> Option<f64> {
    a.zip(b).and_then(|(a, b)| a.dice(b))
}

/// Compares two encodings made under the same keys.
pub fn compare(a: &Encoding, b: &Encoding) -> Similarity {
    let straight = (
        dice(a.given.as_ref(), b.given.as_ref()),
        dice(a.family.as_ref(), b.family.as_ref()),
    );
    let swapped = (
        dice(a.given.as_ref(), b.family.as_ref()),
        dice(a.family.as_ref(), b.given.as_ref()),
    );
    let agreement = |(g, f): (Option<f64>, Option<f64>)| g.unwrap_or(0.0) + f.unwrap_or(0.0);
    let names_swapped = agreement(swapped) > agreement(straight);
    let (given, family) = if names_swapped { swapped } else { straight };
    Similarity {
        given,
        family,
        birth: dice(a.birth.as_ref(), b.birth.as_ref()),
        names_swapped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(byte: u8) -> SimilarityKeys {
        SimilarityKeys::derive(&Secret32::from_bytes([byte; 32]), 1)
    }

    fn full(year: u16, month: u8, day: u8) -> Option<Birth> {
        Some(Birth::Full { year, month, day })
    }

    fn score(
        k: &SimilarityKeys,
        a: (&str, &str, Option<Birth>),
        b: (&str, &str, Option<Birth>),
    ) -> Similarity {
        compare(&k.encode(a.0, a.1, a.2), &k.encode(b.0, b.1, b.2))
    }

    const PERSON: (&str, &str, Option<Birth>) = (
        "XHAVIT",
        "CEKU",
        Some(Birth::Full {
            year: 1991,
            month: 4,
            day: 12,
        }),
    );

    #[test]
    fn the_same_identity_scores_one() {
        let k = keys(7);
        let s = score(&k, PERSON, PERSON);
        assert_eq!(
            (s.given, s.family, s.birth),
            (Some(1.0), Some(1.0), Some(1.0))
        );
        assert!(!s.names_swapped);
    }

    /// The slips a registry sees stay close; other people do not.
    #[test]
    fn slips_stay_close_and_other_people_do_not() {
        let k = keys(7);
        let slips = [
            ("one letter", ("XHAVIT", "CEKAU", full(1991, 4, 12))),
            ("another spelling", ("DZHAVIT", "CEKU", full(1991, 4, 12))),
            ("names swapped", ("CEKU", "XHAVIT", full(1991, 4, 12))),
            (
                "day and month swapped",
                ("XHAVIT", "CEKU", full(1991, 12, 4)),
            ),
            (
                "one digit of the year",
                ("XHAVIT", "CEKU", full(1992, 4, 12)),
            ),
            (
                "one digit of the day",
                ("XHAVIT", "CEKU", full(1991, 4, 13)),
            ),
        ];
        for (what, slip) in slips {
            let s = score(&k, PERSON, slip);
            assert!(s.mean() > 0.8, "{what}: {s:?}");
        }
        let swapped = score(&k, PERSON, ("CEKU", "XHAVIT", full(1991, 4, 12)));
        assert!(swapped.names_swapped);
        let others = [
            ("another person", ("ARBEN", "GASHI", full(1985, 9, 30))),
            (
                "same birth date, other names",
                ("BLERTA", "KRASNIQI", full(1991, 4, 12)),
            ),
        ];
        for (what, other) in others {
            let s = score(&k, PERSON, other);
            assert!(s.mean() < 0.8, "{what}: {s:?}");
        }
        // Namesakes are told apart by the birth date's field, which the matcher
        // weighs (an unweighted mean would not).
        let namesake = score(&k, PERSON, ("XHAVIT", "CEKU", full(1968, 11, 3)));
        let day_month_swap = score(&k, PERSON, ("XHAVIT", "CEKU", full(1991, 12, 4)));
        let (other_date, swap) = (
            namesake.birth.unwrap_or(1.0),
            day_month_swap.birth.unwrap_or(0.0),
        );
        assert!(other_date < 0.55, "{namesake:?}");
        assert!(swap > other_date + 0.15, "{day_month_swap:?}");
    }

    /// A year-only birth date or a missing name compares on what is known.
    #[test]
    fn partial_identities_compare_on_what_they_have() {
        let k = keys(7);
        let s = score(&k, PERSON, ("XHAVIT", "", Some(Birth::Year(1991))));
        assert_eq!(s.family, None);
        assert_eq!(s.given, Some(1.0));
        assert!(s.birth.is_some_and(|b| b > 0.5), "{s:?}");
        assert_eq!(score(&k, ("", "", None), PERSON).mean(), 0.0);
    }

    /// Encodings under another key (another key file, or after a rotation) are
    /// unrelated: nothing links without the key.
    #[test]
    fn another_key_gives_unrelated_encodings() {
        let (a, b) = (keys(7), keys(8));
        let s = compare(
            &a.encode(PERSON.0, PERSON.1, PERSON.2),
            &b.encode(PERSON.0, PERSON.1, PERSON.2),
        );
        assert!(s.mean() < 0.5, "{s:?}");
        let rotated = SimilarityKeys::derive(&Secret32::from_bytes([7; 32]), 2);
        let s = compare(
            &a.encode(PERSON.0, PERSON.1, PERSON.2),
            &rotated.encode(PERSON.0, PERSON.1, PERSON.2),
        );
        assert!(s.mean() < 0.5, "{s:?}");
    }
}
