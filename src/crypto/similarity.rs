//! Keyed similarity encodings of an identity, the comparison of two encodings, and
//! the keyed blocking buckets that find the encodings worth comparing (issue 16).
//!
//! **What is encoded.** Each name (given, family) is a Bloom filter of its padded
//! character bigrams: a typo changes a few bigrams, not the whole field, so the Dice
//! coefficient of two filters measures how close two spellings are. The birth date
//! is a set of keyed tags (its year, month and day by value, and each of its eight
//! digits by place), so that a comparison can tell an exact date from a swapped day
//! and month, a one-digit slip, or a year-only date that agrees. The personal number
//! is ten keyed tags, each of the number with one place masked: two numbers that
//! differ in one digit share exactly one of them. Sex is kept as its code.
//!
//! **Keys.** Every bit position and tag is an HMAC-SHA256 under a key derived with
//! HKDF from the pseudonym key of one version (salt `…/similarity-key/v1`, a label
//! per field), so nothing here can be computed or tested without the key file, and
//! `keys rotate --pseudonym` yields unrelated encodings. Bit positions are not made
//! by double hashing, which Kroll & Steinmetzer (2015) broke.
//!
//! **Hardening: encrypted at rest, not merely hardened.** The attacks on Bloom-filter
//! encodings — frequent-pattern mining of bit positions (Christen, Schnell, Vatsalan
//! & Ranbaduge 2017), graph matching of similarity graphs (Vidanage, Ranbaduge,
//! Christen & Schnell 2019/2020) — all need the filters themselves, and the hardening
//! techniques proposed against them (balancing, XOR-folding, salting per field,
//! rule-90 diffusion; surveyed by Franke, Sehili, Rohde & Rahm 2021, and the secret
//! diffusion layer of Armknecht, Heng & Schnell 2023) each trade linkage quality for
//! a partial defence. A registry that keeps the encodings in its own database, next
//! to the key file, need not make that trade: an encoding is stored only sealed with
//! AES-256-GCM under a key derived from the same pseudonym key (`seal`), its
//! associated data binding it to its subject, so a copy of the database without the
//! key file holds ciphertext with no pattern to mine. Filters exist in clear only in
//! the service's memory while a record is matched, as the identity itself does.
//!
//! **Blocking buckets** are the one deterministic value stored: a bucket is an HMAC
//! of a blocking key (a name with the birth date, the birth date, the pair of names
//! with the year or with the day and month, initials with the day and month; see
//! [`SimilarityKeys::buckets`]) truncated to [`BUCKET_BITS`] bits, all kinds in one
//! space. The truncation is deliberate: at national scale every bucket mixes
//! several unrelated keys, so counting how many subjects share one reveals no name's
//! frequency (the attack of Kuzu, Kantarcioglu, Durham & Malin 2011 on keyed
//! blocking); a small registry's buckets are sparser, which the security notes say.

use ring::hmac;

use super::{Aad, CryptoError, Secret32};

const SALT: &[u8] = b"kosovo-drug-registry/similarity-key/v1";

/// Bits of one name field's filter.
const NAME_BITS: usize = 512;
/// Bits set per name bigram.
const NAME_BITS_PER_TOKEN: usize = 12;
/// Bits of a blocking bucket: 1,048,576 buckets.
pub const BUCKET_BITS: u32 = 20;
/// The blocking scheme: subjects stored under an older one are given this one's
/// buckets at start-up.
pub const BLOCKING_SCHEME: i64 = 2;

/// An identity's blocking buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Buckets {
    /// Those a subject of this identity is stored under.
    pub stored: Vec<i64>,
    /// Those a new record of this identity looks in.
    pub probed: Vec<i64>,
}
/// The blocking keys of an identity, before they are hashed into buckets.
#[derive(Default)]
struct BlockingKeys {
    stored: Vec<String>,
    probed: Vec<String>,
}

impl BlockingKeys {
    /// A key both stored under and looked in.
    fn both(&mut self, key: String) {
        self.stored.push(key.clone());
        self.probed.push(key);
    }
}

/// Format byte of a serialised encoding.
const FORMAT: u8 = 1;

/// Where a sealed encoding lives (its associated data).
const AAD_TABLE: &str = "subject_encoding";
const AAD_COLUMN: &str = "encoding";

/// An identity as the matcher sees it: names folded to their comparison form
/// (`identity::normalize::similarity_form`), an empty name meaning not known.
/// Personal data: `Debug` is redacted and it is zeroised when dropped.
#[derive(Clone, Default, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct LinkIdentity {
    /// Given name(s), folded; empty when not known.
    pub given: String,
    /// Family name(s), folded; empty when not known.
    pub family: String,
    /// Birth date, when known.
    #[zeroize(skip)]
    pub birth: Option<Birth>,
    /// TDI sex code 1 or 2, `None` when not known.
    pub sex: Option<u8>,
    /// Personal number (ten digits), when known.
    pub personal_number: Option<String>,
}

impl std::fmt::Debug for LinkIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkIdentity { .. }")
    }
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

impl Birth {
    fn year(self) -> u16 {
        match self {
            Self::Full { year, .. } | Self::Year(year) => year,
        }
    }
}

/// The derived keys of one pseudonym-key version.
pub struct SimilarityKeys {
    /// The pseudonym-key version they come from.
    pub version: u32,
    name: hmac::Key,
    birth: hmac::Key,
    number: hmac::Key,
    block: hmac::Key,
    seal: Secret32,
}

impl std::fmt::Debug for SimilarityKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimilarityKeys {{ version: {}, .. }}", self.version)
    }
}

/// A set of bits.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Filter([u64; NAME_BITS / 64]);

impl Filter {
    fn set(&mut self, bit: usize) {
        let bit = bit % NAME_BITS;
        self.0[bit / 64] |= 1 << (bit % 64);
    }

    fn ones(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }

    /// The Dice coefficient: 2|A ∩ B| / (|A| + |B|).
    fn dice(&self, other: &Self) -> f64 {
        let both: u32 = self
            .0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a & b).count_ones())
            .sum();
        let total = self.ones() + other.ones();
        if total == 0 {
            return 0.0;
        }
        2.0 * f64::from(both) / f64::from(total)
    }
}

/// A keyed tag (a truncated HMAC).
type Tag = u64;

/// The birth date's tags. Month and day values share one label, so a month can be
/// compared with a day (a swap); digits are tagged with their place.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BirthTags {
    year: Tag,
    /// Month and day, when the full date is known.
    month_day: Option<(Tag, Tag)>,
    /// The places of `YYYYMMDD` (the last four only with a full date).
    digits: [Option<Tag>; 8],
    /// Each two neighbouring places' digits, unordered: kept by their swap.
    neighbours: [Option<Tag>; 7],
}

/// The encoding of one identity under one key version; a field is `None` when it
/// is not known. Only ever stored sealed ([`SimilarityKeys::seal`]); `Debug` shows
/// nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Encoding {
    given: Option<Filter>,
    family: Option<Filter>,
    birth: Option<BirthTags>,
    sex: Option<u8>,
    number: Option<[Tag; 10]>,
}

impl std::fmt::Debug for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Encoding { .. }")
    }
}

fn tag(key: &hmac::Key, input: &[u8]) -> Tag {
    let mac = hmac::sign(key, input);
    let mut out = [0u8; 8];
    out.copy_from_slice(&mac.as_ref()[..8]);
    u64::from_be_bytes(out)
}

impl SimilarityKeys {
    /// Derives the keys of one version.
    pub fn derive(secret: &Secret32, version: u32) -> Self {
        let prk = super::reference::extract(secret, SALT);
        let derive = |label: &[u8]| super::reference::hmac_key(&prk, label, version, secret);
        // The sealing key is an HMAC of a fixed label under its own derived key: an
        // HKDF output in all but name, 32 bytes for AES-256-GCM.
        let seal_mac = hmac::sign(&derive(b"seal"), b"aes-256-gcm");
        let mut seal = [0u8; 32];
        seal.copy_from_slice(seal_mac.as_ref());
        Self {
            version,
            // Given and family names share a key, so that a name recorded in the
            // other field can be compared with it.
            name: derive(b"name"),
            birth: derive(b"birth"),
            number: derive(b"personal-number"),
            block: derive(b"block"),
            seal: Secret32::from_bytes(seal),
        }
    }

    /// Encodes an identity.
    pub fn encode(&self, identity: &LinkIdentity) -> Encoding {
        Encoding {
            given: self.name_filter(&identity.given),
            family: self.name_filter(&identity.family),
            birth: identity.birth.map(|b| self.birth_tags(b)),
            sex: identity.sex,
            number: identity
                .personal_number
                .as_deref()
                .map(|pn| self.number_tags(pn)),
        }
    }

    fn name_filter(&self, name: &str) -> Option<Filter> {
        let letters: Vec<char> = name.chars().filter(|c| !c.is_whitespace()).collect();
        if letters.is_empty() {
            return None;
        }
        // Padded bigrams: `_a`, `ab`, …, `z_`, so first and last letters count too.
        let padded: Vec<char> = std::iter::once('_')
            .chain(letters)
            .chain(std::iter::once('_'))
            .collect();
        let mut filter = Filter([0; NAME_BITS / 64]);
        let mut token = [0u8; 8];
        for pair in padded.windows(2) {
            let mut len = pair[0].encode_utf8(&mut token).len();
            len += pair[1].encode_utf8(&mut token[len..]).len();
            let mac = hmac::sign(&self.name, &token[..len]);
            for bytes in mac.as_ref().chunks_exact(2).take(NAME_BITS_PER_TOKEN) {
                filter.set(usize::from(u16::from_be_bytes([bytes[0], bytes[1]])));
            }
        }
        Some(filter)
    }

    fn birth_tags(&self, birth: Birth) -> BirthTags {
        let year = birth.year();
        let mut digits = [None; 8];
        let text = match birth {
            Birth::Full { year, month, day } => format!("{year:04}{month:02}{day:02}"),
            Birth::Year(year) => format!("{year:04}"),
        };
        let bytes = text.as_bytes();
        for (place, digit) in bytes.iter().enumerate().take(8) {
            digits[place] = Some(tag(&self.birth, &[b'd', place as u8, *digit]));
        }
        let mut neighbours = [None; 7];
        for (place, pair) in bytes.windows(2).enumerate().take(7) {
            let (low, high) = (pair[0].min(pair[1]), pair[0].max(pair[1]));
            neighbours[place] = Some(tag(&self.birth, &[b'n', place as u8, low, high]));
        }
        BirthTags {
            year: tag(&self.birth, format!("y{year:04}").as_bytes()),
            month_day: match birth {
                Birth::Full { month, day, .. } => Some((
                    tag(&self.birth, &[b'v', month]),
                    tag(&self.birth, &[b'v', day]),
                )),
                Birth::Year(_) => None,
            },
            digits,
            neighbours,
        }
    }

    fn number_tags(&self, number: &str) -> [Tag; 10] {
        let digits: Vec<u8> = number.bytes().collect();
        std::array::from_fn(|masked| {
            let mut input = digits.clone();
            if let Some(d) = input.get_mut(masked) {
                *d = b'*';
            }
            tag(&self.number, &input)
        })
    }

    /// The blocking buckets of an identity: those a subject is stored under, and
    /// those a new record of it looks in. A record that differs from a stored one
    /// by one of the slips a registry sees (a typo in one name, swapped names, a
    /// swapped day and month, a wrong digit of the birth date, a name missing, a
    /// spelling from the other language once folded, only the year of birth) looks
    /// in at least one bucket the stored one is under.
    ///
    /// Every key is selective at national scale: a name goes with the whole birth
    /// date, the two names with the year or with the day and month, so a block
    /// holds the few people who could be the record's person, not every namesake
    /// born that year. The one broad key, a name with the birth year, is stored by
    /// subjects with a full date but looked in only by a record that knows the
    /// year alone, which is rare; subjects that know the year alone are stored
    /// under their own narrow key, which every record looks in.
    pub fn buckets(&self, identity: &LinkIdentity) -> Buckets {
        let names: Vec<String> = [&identity.given, &identity.family]
            .into_iter()
            .map(|n| n.split_whitespace().collect::<String>())
            .filter(|n| !n.is_empty())
            .collect();
        let pair = match names.as_slice() {
            [a, b] if a <= b => Some((a, b)),
            [a, b] => Some((b, a)),
            _ => None,
        };
        let mut keys = BlockingKeys::default();
        match identity.birth {
            Some(Birth::Full { year, month, day }) => {
                // Day and month unordered: a swap keeps every key.
                let (low, high) = (month.min(day), month.max(day));
                for name in &names {
                    keys.both(format!("n|{name}|{year}|{low}|{high}"));
                    keys.stored.push(format!("y|{name}|{year}"));
                    keys.probed.push(format!("o|{name}|{year}"));
                }
                keys.both(format!("d|{year}|{low}|{high}"));
                if let Some((a, b)) = pair {
                    let mut initials = [a.chars().next(), b.chars().next()];
                    initials.sort();
                    let [x, y] = initials.map(|c| c.unwrap_or('_'));
                    keys.both(format!("i|{x}{y}|{low}|{high}"));
                    keys.both(format!("p|{a}|{b}|{year}"));
                    keys.both(format!("p|{a}|{b}|{low}|{high}"));
                }
            }
            Some(Birth::Year(year)) => {
                for name in &names {
                    keys.both(format!("o|{name}|{year}"));
                    keys.probed.push(format!("y|{name}|{year}"));
                }
                if let Some((a, b)) = pair {
                    keys.both(format!("p|{a}|{b}|{year}"));
                }
            }
            None => {
                if let Some((a, b)) = pair {
                    keys.both(format!("q|{a}|{b}"));
                    keys.probed.push(format!("P|{a}|{b}"));
                }
            }
        }
        // The two names alone: broad, so looked in only by a record without a
        // birth date (an extract may lack it), which is stored under its own.
        if let (Some((a, b)), Some(_)) = (pair, identity.birth) {
            keys.stored.push(format!("P|{a}|{b}"));
            keys.probed.push(format!("q|{a}|{b}"));
        }
        let hashed = |keys: Vec<String>| {
            let mut buckets: Vec<i64> = keys
                .iter()
                .map(|k| (tag(&self.block, k.as_bytes()) >> (64 - BUCKET_BITS)) as i64)
                .collect();
            buckets.sort_unstable();
            buckets.dedup();
            buckets
        };
        Buckets {
            stored: hashed(keys.stored),
            probed: hashed(keys.probed),
        }
    }

    /// Seals an encoding for storage, bound to its subject's registry id.
    pub fn seal(&self, encoding: &Encoding, registry_id: &str) -> Result<Vec<u8>, CryptoError> {
        super::seal::seal_with(
            &self.seal,
            self.version,
            &aad(registry_id),
            &encoding.to_bytes(),
        )
    }

    /// Opens a sealed encoding of the subject `registry_id`.
    pub fn open(&self, sealed: &[u8], registry_id: &str) -> Result<Encoding, CryptoError> {
        let plain = super::seal::open_with(&self.seal, &aad(registry_id), sealed)?;
        Encoding::from_bytes(&plain).ok_or(CryptoError::UnknownFormat)
    }
}

fn aad(registry_id: &str) -> Aad<'_> {
    Aad {
        table: AAD_TABLE,
        column: AAD_COLUMN,
        record_id: registry_id,
    }
}

/// The sealed encoding's version (its blob header), to pick the keys that open it.
pub fn sealed_version(sealed: &[u8]) -> Result<u32, CryptoError> {
    super::seal::blob_key_version(sealed)
}

// Presence flags of the serialised form.
const HAS_GIVEN: u8 = 1;
const HAS_FAMILY: u8 = 2;
const HAS_BIRTH: u8 = 4;
const HAS_MONTH_DAY: u8 = 8;
const HAS_NUMBER: u8 = 16;

impl Encoding {
    /// The fixed-layout bytes: format, flags, sex, then the fields present.
    fn to_bytes(&self) -> Vec<u8> {
        let mut flags = 0;
        let mut body = Vec::with_capacity(300);
        for (filter, flag) in [(&self.given, HAS_GIVEN), (&self.family, HAS_FAMILY)] {
            if let Some(f) = filter {
                flags |= flag;
                f.0.iter()
                    .for_each(|w| body.extend_from_slice(&w.to_be_bytes()));
            }
        }
        if let Some(b) = &self.birth {
            flags |= HAS_BIRTH;
            body.extend_from_slice(&b.year.to_be_bytes());
            if let Some((m, d)) = b.month_day {
                flags |= HAS_MONTH_DAY;
                body.extend_from_slice(&m.to_be_bytes());
                body.extend_from_slice(&d.to_be_bytes());
            }
            let places = if b.month_day.is_some() { 8 } else { 4 };
            for digit in b.digits.iter().take(places) {
                body.extend_from_slice(&digit.unwrap_or_default().to_be_bytes());
            }
            for pair in b.neighbours.iter().take(places - 1) {
                body.extend_from_slice(&pair.unwrap_or_default().to_be_bytes());
            }
        }
        if let Some(tags) = &self.number {
            flags |= HAS_NUMBER;
            tags.iter()
                .for_each(|t| body.extend_from_slice(&t.to_be_bytes()));
        }
        let mut out = vec![FORMAT, flags, self.sex.unwrap_or(0)];
        out.extend_from_slice(&body);
        out
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (&[format, flags, sex], mut rest) = bytes.split_first_chunk::<3>()?;
        if format != FORMAT {
            return None;
        }
        let mut word = || -> Option<u64> {
            let (head, tail) = rest.split_first_chunk::<8>()?;
            rest = tail;
            Some(u64::from_be_bytes(*head))
        };
        let filter = |present: bool, word: &mut dyn FnMut() -> Option<u64>| {
            if !present {
                return Some(None);
            }
            let mut f = Filter([0; NAME_BITS / 64]);
            for w in &mut f.0 {
                *w = word()?;
            }
            Some(Some(f))
        };
        let given = filter(flags & HAS_GIVEN != 0, &mut word)?;
        let family = filter(flags & HAS_FAMILY != 0, &mut word)?;
        let birth = if flags & HAS_BIRTH != 0 {
            let year = word()?;
            let month_day = if flags & HAS_MONTH_DAY != 0 {
                Some((word()?, word()?))
            } else {
                None
            };
            let places = if month_day.is_some() { 8 } else { 4 };
            let mut digits = [None; 8];
            for digit in digits.iter_mut().take(places) {
                *digit = Some(word()?);
            }
            let mut neighbours = [None; 7];
            for pair in neighbours.iter_mut().take(places - 1) {
                *pair = Some(word()?);
            }
            Some(BirthTags {
                year,
                month_day,
                digits,
                neighbours,
            })
        } else {
            None
        };
        let number = if flags & HAS_NUMBER != 0 {
            let mut tags = [0; 10];
            for t in &mut tags {
                *t = word()?;
            }
            Some(tags)
        } else {
            None
        };
        word().is_none().then_some(Self {
            given,
            family,
            birth,
            sex: (sex != 0).then_some(sex),
            number,
        })
    }
}

/// How two birth dates agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum BirthAgreement {
    /// One side does not know it.
    Unknown,
    /// The same date.
    Exact,
    /// The same year, with day and month swapped.
    DayMonthSwapped,
    /// One digit of `YYYYMMDD` differs, or two neighbouring digits are swapped.
    OneDigit,
    /// One side knows only the year, and it agrees.
    YearAgrees,
    /// One side knows only the year, and it differs.
    YearDiffers,
    /// Day and month agree, the year differs in more than one digit.
    DayMonthAgree,
    /// Otherwise.
    Different,
}

/// How two personal numbers agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum NumberAgreement {
    /// One side has none.
    Unknown,
    /// The same number.
    Same,
    /// They differ in one digit.
    OneDigit,
    /// Two different numbers.
    Different,
}

/// How similar two encodings are, field by field, for the matcher to weigh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// Given names (Dice, 0-1), `None` where either side lacks it.
    pub given: Option<f64>,
    /// Family names (Dice, 0-1).
    pub family: Option<f64>,
    /// Whether the names agreed better swapped.
    pub names_swapped: bool,
    /// Birth dates.
    pub birth: BirthAgreement,
    /// Sex, `None` where either side does not know it.
    pub sex: Option<bool>,
    /// Personal numbers.
    pub number: NumberAgreement,
}

fn dice(a: Option<&Filter>, b: Option<&Filter>) -> Option<f64> {
    a.zip(b).map(|(a, b)| a.dice(b))
}

fn compare_birth(a: &BirthTags, b: &BirthTags) -> BirthAgreement {
    let (Some((am, ad)), Some((bm, bd))) = (a.month_day, b.month_day) else {
        return if a.year == b.year {
            BirthAgreement::YearAgrees
        } else {
            BirthAgreement::YearDiffers
        };
    };
    let differing: Vec<usize> = (0..8).filter(|&i| a.digits[i] != b.digits[i]).collect();
    // Two neighbouring digits swapped (`1952` for `1925`) is one slip of the keys.
    let transposed = matches!(differing.as_slice(), [i, j] if *j == i + 1 && a.neighbours[*i] == b.neighbours[*i]);
    match differing.len() {
        0 => BirthAgreement::Exact,
        1 => BirthAgreement::OneDigit,
        _ if transposed => BirthAgreement::OneDigit,
        _ if a.year == b.year && am == bd && ad == bm => BirthAgreement::DayMonthSwapped,
        _ if am == bm && ad == bd => BirthAgreement::DayMonthAgree,
        _ => BirthAgreement::Different,
    }
}

fn compare_number(a: &[Tag; 10], b: &[Tag; 10]) -> NumberAgreement {
    match a.iter().zip(b).filter(|(x, y)| x == y).count() {
        10 => NumberAgreement::Same,
        1 => NumberAgreement::OneDigit,
        _ => NumberAgreement::Different,
    }
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
    let names_swapped = agreement(swapped) > agreement(straight) + 1e-9;
    let (given, family) = if names_swapped { swapped } else { straight };
    Similarity {
        given,
        family,
        names_swapped,
        birth: match (&a.birth, &b.birth) {
            (Some(x), Some(y)) => compare_birth(x, y),
            _ => BirthAgreement::Unknown,
        },
        sex: a.sex.zip(b.sex).map(|(x, y)| x == y),
        number: match (&a.number, &b.number) {
            (Some(x), Some(y)) => compare_number(x, y),
            _ => NumberAgreement::Unknown,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(byte: u8) -> SimilarityKeys {
        SimilarityKeys::derive(&Secret32::from_bytes([byte; 32]), 1)
    }

    fn person(given: &str, family: &str, birth: Option<Birth>) -> LinkIdentity {
        LinkIdentity {
            given: given.into(),
            family: family.into(),
            birth,
            sex: Some(1),
            personal_number: None,
        }
    }

    fn full(year: u16, month: u8, day: u8) -> Option<Birth> {
        Some(Birth::Full { year, month, day })
    }

    fn score(k: &SimilarityKeys, a: &LinkIdentity, b: &LinkIdentity) -> Similarity {
        compare(&k.encode(a), &k.encode(b))
    }

    fn xhavit() -> LinkIdentity {
        person("dzavit", "ceku", full(1991, 4, 12))
    }

    #[test]
    fn the_same_identity_agrees_everywhere() {
        let k = keys(7);
        let s = score(&k, &xhavit(), &xhavit());
        assert_eq!((s.given, s.family), (Some(1.0), Some(1.0)));
        assert_eq!(s.birth, BirthAgreement::Exact);
        assert_eq!(s.sex, Some(true));
        assert!(!s.names_swapped);
    }

    #[test]
    fn slips_stay_close_and_other_people_do_not() {
        let k = keys(7);
        let typo = score(&k, &xhavit(), &person("dzavit", "cekau", full(1991, 4, 12)));
        assert!(
            typo.family.is_some_and(|d| (0.6..1.0).contains(&d)),
            "{typo:?}"
        );
        let swapped = score(&k, &xhavit(), &person("ceku", "dzavit", full(1991, 4, 12)));
        assert!(
            swapped.names_swapped && swapped.given == Some(1.0),
            "{swapped:?}"
        );
        let birth = |b| score(&k, &xhavit(), &person("dzavit", "ceku", b)).birth;
        assert_eq!(birth(full(1991, 12, 4)), BirthAgreement::DayMonthSwapped);
        assert_eq!(birth(full(1992, 4, 12)), BirthAgreement::OneDigit);
        assert_eq!(birth(full(1991, 4, 13)), BirthAgreement::OneDigit);
        assert_eq!(
            birth(full(1919, 4, 12)),
            BirthAgreement::OneDigit,
            "neighbours swapped"
        );
        assert_eq!(
            birth(full(1991, 4, 21)),
            BirthAgreement::OneDigit,
            "neighbours swapped"
        );
        assert_eq!(birth(full(1981, 4, 12)), BirthAgreement::OneDigit);
        assert_eq!(birth(full(1971, 4, 12)), BirthAgreement::OneDigit);
        assert_eq!(birth(full(1899, 4, 12)), BirthAgreement::DayMonthAgree);
        assert_eq!(birth(full(1968, 11, 3)), BirthAgreement::Different);
        assert_eq!(birth(Some(Birth::Year(1991))), BirthAgreement::YearAgrees);
        assert_eq!(birth(Some(Birth::Year(1990))), BirthAgreement::YearDiffers);
        assert_eq!(birth(None), BirthAgreement::Unknown);
        let other = score(
            &k,
            &xhavit(),
            &person("blerta", "krasniqi", full(1985, 9, 30)),
        );
        assert!(other.given.is_some_and(|d| d < 0.4), "{other:?}");
        assert!(other.family.is_some_and(|d| d < 0.4), "{other:?}");
    }

    #[test]
    fn personal_numbers_compare_by_their_digits() {
        let k = keys(7);
        let with = |pn: &str| {
            let mut identity = xhavit();
            identity.personal_number = Some(pn.into());
            identity
        };
        let number = |a: &str, b: &str| score(&k, &with(a), &with(b)).number;
        assert_eq!(number("1234567890", "1234567890"), NumberAgreement::Same);
        assert_eq!(
            number("1234567890", "1234567800"),
            NumberAgreement::OneDigit
        );
        assert_eq!(
            number("1234567890", "1234567809"),
            NumberAgreement::Different
        );
        assert_eq!(
            number("1234567890", "9876543210"),
            NumberAgreement::Different
        );
        assert_eq!(
            score(&k, &with("1234567890"), &xhavit()).number,
            NumberAgreement::Unknown
        );
    }

    #[test]
    fn partial_identities_compare_on_what_they_have() {
        let k = keys(7);
        let s = score(
            &k,
            &xhavit(),
            &person("dzavit", "", Some(Birth::Year(1991))),
        );
        assert_eq!((s.given, s.family), (Some(1.0), None));
        assert_eq!(s.birth, BirthAgreement::YearAgrees);
    }

    /// A slip keeps at least one bucket in common; unrelated people share none.
    #[test]
    fn slips_share_a_bucket() {
        let k = keys(7);
        // What a new record `b` finds of a stored `a`.
        let shared = |a: &LinkIdentity, b: &LinkIdentity| {
            let (x, y) = (k.buckets(a).stored, k.buckets(b).probed);
            x.iter().filter(|b| y.contains(b)).count()
        };
        let me = xhavit();
        for slip in [
            person("dzavit", "cekau", full(1991, 4, 12)),
            person("dzavitt", "cekau", full(1991, 4, 12)),
            person("ceku", "dzavit", full(1991, 4, 12)),
            person("dzavit", "ceku", full(1991, 12, 4)),
            person("dzavit", "ceku", full(1992, 4, 12)),
            person("dzavid", "ceku", full(1992, 4, 12)),
            person("", "ceku", Some(Birth::Year(1991))),
            person("dzavit", "ceku", Some(Birth::Year(1991))),
            person("dzavit", "ceku", full(1981, 4, 12)),
            person("dzavit", "ceku", full(1991, 4, 13)),
            person("xhavit", "qeku", full(1991, 4, 12)),
        ] {
            // Either may be the one stored first.
            assert!(shared(&me, &slip) >= 1, "{:?}", k.buckets(&slip));
            assert!(shared(&slip, &me) >= 1);
        }
        let stranger = person("arben", "gashi", full(1985, 9, 30));
        assert_eq!(shared(&me, &stranger), 0);
        assert_eq!(shared(&stranger, &me), 0);
        // Of the namesakes, only those born the same year or on the same day and
        // month are looked at; those who share one name and the year are not.
        let namesake = person("dzavit", "ceku", full(1988, 7, 25));
        assert_eq!(shared(&me, &namesake), 0);
        assert_eq!(
            shared(&me, &person("dzavit", "gashi", full(1991, 7, 25))),
            0
        );
        // Any two records that would find each other (either stored first) look
        // in a common bucket: registrations of one person lock one bucket.
        let everyone = [
            me.clone(),
            person("dzavit", "ceku", Some(Birth::Year(1991))),
            person("", "ceku", Some(Birth::Year(1991))),
            person("dzavit", "ceku", None),
            person("dzavit", "ceku", full(1991, 12, 4)),
            person("", "ceku", full(1991, 4, 12)),
        ];
        for a in &everyone {
            for b in &everyone {
                if shared(a, b) > 0 {
                    let (x, y) = (k.buckets(a).probed, k.buckets(b).probed);
                    assert!(x.iter().any(|p| y.contains(p)), "no common lock");
                }
            }
        }
        let all = k.buckets(&me);
        assert!(
            all.stored
                .iter()
                .chain(&all.probed)
                .all(|b| (0..1 << BUCKET_BITS).contains(b))
        );
    }

    #[test]
    fn a_sealed_encoding_opens_only_for_its_subject_and_key() {
        let k = keys(7);
        let mut with_all = xhavit();
        with_all.personal_number = Some("1234567890".into());
        for identity in [
            with_all,
            person("", "ceku", Some(Birth::Year(1991))),
            person("a", "", None),
        ] {
            let encoding = k.encode(&identity);
            let sealed = k.seal(&encoding, "r-1").expect("sealed");
            assert_eq!(k.open(&sealed, "r-1").expect("opens"), encoding);
            assert_eq!(sealed_version(&sealed), Ok(1));
            assert!(k.open(&sealed, "r-2").is_err(), "another subject");
            assert!(keys(8).open(&sealed, "r-1").is_err(), "another key");
        }
        assert_eq!(Encoding::from_bytes(&[FORMAT, HAS_GIVEN, 0, 1, 2]), None);
        assert_eq!(Encoding::from_bytes(&[]), None);
    }

    /// Encodings under another key (another key file, or after a rotation) are
    /// unrelated: nothing links without the key.
    #[test]
    fn another_key_gives_unrelated_encodings() {
        let (a, b) = (keys(7), keys(8));
        let rotated = SimilarityKeys::derive(&Secret32::from_bytes([7; 32]), 2);
        for other in [b, rotated] {
            let s = compare(&a.encode(&xhavit()), &other.encode(&xhavit()));
            assert!(s.given.is_some_and(|d| d < 0.5), "{s:?}");
            assert_eq!(s.birth, BirthAgreement::Different);
            assert!(
                a.buckets(&xhavit())
                    .stored
                    .iter()
                    .all(|x| !other.buckets(&xhavit()).probed.contains(x))
            );
        }
    }
}
