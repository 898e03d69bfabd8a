//! Fuzzy-linkage quality and batch speed (issue 16): the service's encodings and
//! matcher, on FEBRL 1-3 (deduplication, names and date of birth only), FEBRL 4a x
//! 4b (linking 5,000 x 5,000) and the registry's own synthetic population with its
//! slips (names, date of birth and sex). Prints precision, recall and F1 of the
//! automatic links, the review queue's size and how many of its pairs are true.
//! Run: `cargo bench --bench linkage` (fetches FEBRL through
//! `benches/linkage/febrl-data.sh` unless `FEBRL_DIR` is set).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use registry::crypto::Secret32;
use registry::crypto::similarity::{BirthAgreement, LinkIdentity, SimilarityKeys, compare};
use registry::demo::people::{self, Slip};
use registry::identity::similar::{loose_birth, similarity_form};
use registry::linkage::batch::{self, Pair};
use registry::linkage::{Decision, Levels, Model};
use registry::store::linkage::{Candidate, Matched};

/// A list of records and the entity each belongs to.
struct Labelled {
    records: Vec<LinkIdentity>,
    entity: Vec<u64>,
}

fn keys() -> SimilarityKeys {
    SimilarityKeys::derive(&Secret32::random().expect("rng"), 1)
}

fn febrl_dir() -> String {
    std::env::var("FEBRL_DIR").unwrap_or_else(|_| {
        let out = std::process::Command::new("benches/linkage/febrl-data.sh")
            .output()
            .expect("benches/linkage/febrl-data.sh runs");
        assert!(out.status.success(), "febrl-data.sh failed");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    })
}

/// A FEBRL file: `rec-<entity>-org` / `rec-<entity>-dup-<k>`.
fn febrl(path: &str) -> Labelled {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .expect("FEBRL file");
    let mut out = Labelled {
        records: Vec::new(),
        entity: Vec::new(),
    };
    for row in reader.records() {
        let row = row.expect("FEBRL row");
        let entity: u64 = row[0]
            .split('-')
            .nth(1)
            .and_then(|e| e.parse().ok())
            .expect("rec id");
        out.records.push(LinkIdentity {
            given: similarity_form(&row[1]),
            family: similarity_form(&row[2]),
            birth: loose_birth(&row[9]),
            sex: None,
            personal_number: None,
        });
        out.entity.push(entity);
    }
    out
}

/// The synthetic population: 5,000 people, one to four registrations each, half of
/// the repeats with one slip of every kind the registry sees.
fn synthetic() -> Labelled {
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    let mut out = Labelled {
        records: Vec::new(),
        entity: Vec::new(),
    };
    let municipalities: Vec<&str> = people::MUNICIPALITIES.iter().map(|m| m.0).collect();
    for person in 0..5_000u64 {
        let male = rng.gen_bool(0.84);
        let municipality = municipalities[rng.gen_range(0..municipalities.len())];
        let name = people::name(&mut rng, municipality, male);
        let birth =
            time::Date::from_ordinal_date(rng.gen_range(1960..2008), rng.gen_range(1..=365))
                .expect("date");
        for n in 0..rng.gen_range(1..=4) {
            let slip = (n > 0 && rng.gen_bool(0.5)).then(|| {
                loop {
                    let s = Slip::ALL[rng.gen_range(0..Slip::ALL.len())];
                    if s != Slip::Cyrillic || name.serbian {
                        break s;
                    }
                }
            });
            let (first, last, dob) = people::spelled(&mut rng, &name, birth, slip);
            out.records.push(LinkIdentity {
                given: similarity_form(&first),
                family: similarity_form(&last),
                birth: loose_birth(&dob),
                sex: Some(if male { 1 } else { 2 }),
                personal_number: None,
            });
            out.entity.push(person);
        }
    }
    out
}

struct Quality {
    true_pairs: usize,
    linked: usize,
    linked_true: usize,
    review: usize,
    review_true: usize,
}

impl Quality {
    fn of(pairs: &[Pair], true_pairs: usize, same: impl Fn(&Pair) -> bool) -> Self {
        let mut q = Quality {
            true_pairs,
            linked: 0,
            linked_true: 0,
            review: 0,
            review_true: 0,
        };
        for p in pairs {
            let truth = same(p);
            match p.decision {
                Decision::Link => {
                    q.linked += 1;
                    q.linked_true += usize::from(truth);
                }
                Decision::Review => {
                    q.review += 1;
                    q.review_true += usize::from(truth);
                }
                Decision::Distinct => {}
            }
        }
        q
    }

    /// One table row; `found_with_queue`: true pairs found once a registrar has
    /// decided the queue.
    /// `ceiling`: the F1 no matcher of names and birth dates exceeds ([`ceiling`]).
    fn row(&self, name: &str, records: usize, seconds: f64, found_with_queue: usize, ceiling: f64) {
        let precision = self.linked_true as f64 / self.linked.max(1) as f64;
        let recall = self.linked_true as f64 / self.true_pairs.max(1) as f64;
        let f1 = 2.0 * precision * recall / (precision + recall).max(f64::EPSILON);
        let decided = found_with_queue as f64 / self.true_pairs.max(1) as f64;
        println!(
            "| {name} | {records} | {} | {precision:.4} | {recall:.4} | **{f1:.4}** | {ceiling:.4} | {} ({} true) | {decided:.4} | {seconds:.2} s |",
            self.true_pairs, self.review, self.review_true
        );
    }
}

/// Bigram Dice of two plain names (the benchmark's own view of the data, not
/// the matcher's encodings).
fn dice(a: &str, b: &str) -> f64 {
    let grams = |s: &str| {
        let padded: Vec<char> = format!(" {s} ").chars().collect();
        padded.windows(2).map(|w| (w[0], w[1])).collect::<Vec<_>>()
    };
    let (a, mut b) = (grams(a), grams(b));
    let total = a.len() + b.len();
    let mut shared = 0;
    for g in &a {
        if let Some(at) = b.iter().position(|x| x == g) {
            b.swap_remove(at);
            shared += 1;
        }
    }
    2.0 * shared as f64 / total as f64
}

/// The best F1 any matcher of names and birth dates can reach at the precision
/// the registry asks for: recall is at most the share of true pairs whose names
/// say anything (a given or family name, or the two swapped, at bigram Dice 0.45
/// or more: the matcher's weakest agreement). The rest, both names replaced or
/// missing, agree on the birth date at most, which a few thousand records share
/// by chance as often as such pairs occur. F1 at precision 1 over that recall.
fn ceiling<'a>(pairs: impl Iterator<Item = (&'a LinkIdentity, &'a LinkIdentity)>) -> f64 {
    let (mut all, mut named) = (0usize, 0usize);
    for (a, b) in pairs {
        all += 1;
        let close = |x: &str, y: &str| !x.is_empty() && !y.is_empty() && dice(x, y) >= 0.45;
        named += usize::from(
            close(&a.given, &b.given)
                || close(&a.family, &b.family)
                || close(&a.given, &b.family)
                || close(&a.family, &b.given),
        );
    }
    let recall = named as f64 / all.max(1) as f64;
    2.0 * recall / (1.0 + recall)
}

/// Every pair of records of one entity.
fn entity_pairs(data: &Labelled) -> impl Iterator<Item = (&LinkIdentity, &LinkIdentity)> {
    let mut members: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, e) in data.entity.iter().enumerate() {
        members.entry(*e).or_default().push(i);
    }
    members.into_values().flat_map(move |m| {
        let pairs: Vec<(usize, usize)> = m
            .iter()
            .enumerate()
            .flat_map(|(k, &i)| m[k + 1..].iter().map(move |&j| (i, j)))
            .collect();
        pairs
            .into_iter()
            .map(|(i, j)| (&data.records[i], &data.records[j]))
    })
}

fn true_pairs(entity: &[u64]) -> usize {
    let mut sizes: HashMap<u64, usize> = HashMap::new();
    entity
        .iter()
        .for_each(|e| *sizes.entry(*e).or_default() += 1);
    sizes.values().map(|n| n * (n - 1) / 2).sum()
}

/// Pairs within the same group, and within the same group and entity.
fn grouped_pairs(group: &[usize], entity: &[u64]) -> (usize, usize) {
    let mut sizes: HashMap<usize, usize> = HashMap::new();
    let mut both: HashMap<(usize, u64), usize> = HashMap::new();
    for (g, e) in group.iter().zip(entity) {
        *sizes.entry(*g).or_default() += 1;
        *both.entry((*g, *e)).or_default() += 1;
    }
    let pairs = |n: &usize| n * n.saturating_sub(1) / 2;
    (
        sizes.values().map(pairs).sum(),
        both.values().map(pairs).sum(),
    )
}

/// Deduplicates a list the registry's way ([`batch::persons`]) and scores the
/// persons it ends up with pairwise: a pair of records is linked when both are
/// one person. "Recall with the queue decided": as if a registrar linked every
/// true pair of the queue.
fn persons_row(name: &str, data: &Labelled) {
    let keys = keys();
    let started = Instant::now();
    let (person, reviews) = batch::persons(&keys, &data.records);
    let seconds = started.elapsed().as_secs_f64();
    let (linked, linked_true) = grouped_pairs(&person, &data.entity);
    let true_reviews: Vec<&Pair> = reviews
        .iter()
        .filter(|p| data.entity[p.left] == data.entity[p.right])
        .collect();
    // Persons after the registrar's merges (each merge joins two persons).
    let mut merged: Vec<usize> = (0..person.len()).collect();
    fn root(merged: &mut [usize], mut i: usize) -> usize {
        while merged[i] != i {
            merged[i] = merged[merged[i]];
            i = merged[i];
        }
        i
    }
    for p in &true_reviews {
        let (a, b) = (
            root(&mut merged, person[p.left]),
            root(&mut merged, person[p.right]),
        );
        merged[a.max(b)] = a.min(b);
    }
    let decided: Vec<usize> = person.iter().map(|&p| root(&mut merged, p)).collect();
    let truth = true_pairs(&data.entity);
    let q = Quality {
        true_pairs: truth,
        linked,
        linked_true,
        review: reviews.len(),
        review_true: true_reviews.len(),
    };
    q.row(
        name,
        data.records.len(),
        seconds,
        grouped_pairs(&decided, &data.entity).1,
        ceiling(entity_pairs(data)),
    );
    if std::env::var("LINKAGE_DEBUG").is_ok() {
        missed_pairs(&keys, data, &person);
        for (i, &p) in person.iter().enumerate() {
            if p != i && data.entity[p] != data.entity[i] {
                let show = |r: &LinkIdentity| format!("{} {} {:?}", r.given, r.family, r.birth);
                println!(
                    "wrong link: {} ~ {}",
                    show(&data.records[p]),
                    show(&data.records[i])
                );
            }
        }
    }
}

/// For the reader tuning the matcher (`LINKAGE_DEBUG=1`): the records left apart
/// from their entity's first person, by how they compare with that person's
/// first record (the levels of given name, family name, full birth date, year,
/// sex) and whether blocking brought them together.
fn missed_pairs(keys: &SimilarityKeys, data: &Labelled, person: &[usize]) {
    let mut first: HashMap<u64, usize> = HashMap::new();
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for (i, e) in data.entity.iter().enumerate() {
        let rep = *first.entry(*e).or_insert(person[i]);
        if person[i] == rep {
            continue;
        }
        let (a, b) = (&data.records[rep], &data.records[i]);
        let s = compare(&keys.encode(a), &keys.encode(b));
        let blocked = keys
            .buckets(b)
            .probed
            .iter()
            .any(|x| keys.buckets(a).stored.contains(x));
        let verdict = Model::registry().decide_among(&[s], data.records.len() as u64)[0].decision;
        *kinds
            .entry(format!(
                "{:?} blocked={blocked} alone={verdict:?}",
                Levels::of(&s)
            ))
            .or_default() += 1;
    }
    let mut kinds: Vec<_> = kinds.into_iter().collect();
    kinds.sort_by_key(|k| std::cmp::Reverse(k.1));
    for (kind, n) in kinds.iter().take(25) {
        println!("missed {n}: {kind}");
    }
}

/// The registry's subjects at national scale, in memory: the demo population's
/// people (as `benches/scale.rs` loads them into SQLite), encoded and indexed by
/// their stored buckets.
struct National {
    keys: SimilarityKeys,
    config: registry::demo::Config,
    encodings: Vec<registry::crypto::similarity::Encoding>,
    index: HashMap<i64, Vec<u32>>,
}

/// The identity person `index` was first registered with.
fn registered(config: &registry::demo::Config, index: u64) -> LinkIdentity {
    let (_, records) = registry::demo::person_records(config, index);
    let Some(registry::demo::Record::Episode { input, .. }) = records.into_iter().next() else {
        unreachable!("every person's first record is an episode")
    };
    identity_of(&input.identity).expect("generated identities are valid")
}

fn identity_of(input: &registry::identity::subject::IdentityInput) -> Option<LinkIdentity> {
    let valid =
        registry::identity::subject::validate(input, registry::clock::today_utc(), "").ok()?;
    Some(registry::identity::similar::link_identity(input, &valid))
}

impl National {
    fn load(size: usize) -> Self {
        let keys = keys();
        let config = registry::demo::Config {
            persons: u64::MAX,
            years: 2,
            seed: 1_000_000,
            today: registry::clock::today_utc(),
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = size.div_ceil(threads);
        let parts: Vec<Vec<_>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (keys, config) = (&keys, &config);
                    scope.spawn(move || {
                        (t * chunk..((t + 1) * chunk).min(size))
                            .map(|i| {
                                let identity = registered(config, i as u64);
                                (keys.encode(&identity), keys.buckets(&identity).stored)
                            })
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("encoded"))
                .collect()
        });
        let mut national = National {
            keys,
            config,
            encodings: Vec::with_capacity(size),
            index: HashMap::new(),
        };
        for (i, (encoding, stored)) in parts.into_iter().flatten().enumerate() {
            national.encodings.push(encoding);
            for b in stored {
                national.index.entry(b).or_default().push(i as u32);
            }
        }
        national
    }

    /// The subject the service would link `identity` to by similarity: the
    /// subjects sharing most probed buckets first, at most 200 (as the store's
    /// `weigh_candidates`), decided by the registry's model and
    /// `Matched::of`. Also whether
    /// `own` was among the candidates, and whether it was left to review.
    fn link(&self, identity: &LinkIdentity, own: Option<u32>) -> (Option<u32>, bool, bool, String) {
        let mut probed = self.keys.buckets(identity).probed;
        probed.sort_unstable();
        probed.dedup();
        let mut shared: HashMap<u32, u32> = HashMap::new();
        for b in &probed {
            for s in self.index.get(b).into_iter().flatten() {
                *shared.entry(*s).or_default() += 1;
            }
        }
        let mut candidates: Vec<(u32, u32)> = shared.into_iter().collect();
        candidates.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        candidates.truncate(200);
        let blocked = own.is_some_and(|o| candidates.iter().any(|(s, _)| *s == o));
        let encoding = self.keys.encode(identity);
        let similarities: Vec<_> = candidates
            .iter()
            .map(|(s, _)| compare(&encoding, &self.encodings[*s as usize]))
            .collect();
        // An identity equal on every field is linked by the exact pseudonym
        // before the matcher runs (here: equal encodings).
        let exact = (Some(1.0), Some(1.0), BirthAgreement::Exact, Some(true));
        if let Some((c, _)) = candidates
            .iter()
            .zip(&similarities)
            .find(|(_, s)| (s.given, s.family, s.birth, s.sex) == exact)
        {
            return (Some(c.0), blocked, false, "exact".into());
        }
        let verdicts = Model::registry().decide_among(&similarities, self.encodings.len() as u64);
        let weighed = candidates
            .iter()
            .zip(similarities)
            .zip(verdicts)
            .map(|(((subject, _), similarity), verdict)| Candidate {
                subject_id: i64::from(*subject),
                similarity,
                verdict,
            })
            .collect();
        let matched = Matched::of(weighed);
        let why = matched.link.as_ref().map_or_else(String::new, |c| {
            format!(
                "{:?} p={:.5} weight={:.1} of {} candidates",
                c.similarity,
                c.verdict.probability,
                c.verdict.weight,
                candidates.len()
            )
        });
        let queued =
            own.is_some_and(|o| matched.review.iter().any(|c| c.subject_id == i64::from(o)));
        let linked = matched.link.and_then(|c| u32::try_from(c.subject_id).ok());
        (linked, blocked, queued, why)
    }
}

/// At national scale (`LINKAGE_NATIONAL` subjects, default 1M; 20,000 under
/// `cargo test`): 1,000 repeat registrations of loaded people with one slip
/// each and 1,000 new people, as `benches/scale.rs` draws them, each linked as
/// the service would and checked against the person the generator knows.
/// Prints one table row.
fn national_row() {
    use registry::demo::people::{Slip, spelled};
    // `cargo test --all-targets` runs this binary without `--bench`: a smoke run.
    let default = if std::env::args().any(|a| a == "--bench") {
        1_000_000
    } else {
        20_000
    };
    let size: usize = std::env::var("LINKAGE_NATIONAL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    let started = Instant::now();
    let national = National::load(size);
    let loaded = started.elapsed().as_secs_f64();
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    let debug = std::env::var("LINKAGE_DEBUG").is_ok();
    // Links to another person: by similarity (false), or by an identity equal on
    // every field to another person's (which no registry tells apart).
    let (mut repeats, mut blocked, mut right, mut by_similarity, mut reviewed) = (0, 0, 0, 0, 0);
    let (mut false_links, mut identical) = (0, 0);
    // `LINKAGE_LOOKUPS` look-ups (2,000 as in the scale bench); more give the
    // precision of the few links made by similarity a tighter bound.
    let lookups: u64 = std::env::var("LINKAGE_LOOKUPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    for n in 0..lookups {
        let repeat = n % 2 == 0;
        let index = if repeat {
            rng.gen_range(0..size as u64)
        } else {
            size as u64 + n
        };
        let (person, _) = registry::demo::person_records(&national.config, index);
        let slip = repeat.then(|| Slip::ALL[rng.gen_range(0..Slip::ALL.len())]);
        let slip = slip.filter(|s| *s != Slip::Cyrillic || person.name.serbian);
        let (first_name, last_name, birth_date) =
            spelled(&mut rng, &person.name, person.birth, slip);
        let input = registry::identity::subject::IdentityInput {
            personal_number: None,
            first_name,
            last_name,
            birth_date,
            sex: if person.male { "1" } else { "2" }.into(),
        };
        let Some(identity) = identity_of(&input) else {
            continue;
        };
        let own = repeat.then_some(index as u32);
        let (linked, found, queued, why) = national.link(&identity, own);
        repeats += usize::from(repeat);
        blocked += usize::from(found);
        let Some(linked) = linked else {
            reviewed += usize::from(queued);
            continue;
        };
        if own == Some(linked) {
            right += 1;
            by_similarity += usize::from(why != "exact");
            continue;
        }
        let theirs = registered(&national.config, u64::from(linked));
        // Equal on every field, the names in either order (as the exact
        // pseudonym compares them).
        let names = |r: &LinkIdentity| {
            let mut n = [r.given.clone(), r.family.clone()];
            n.sort();
            n
        };
        let same = (names(&theirs), theirs.birth, theirs.sex)
            == (names(&identity), identity.birth, identity.sex);
        if same {
            identical += 1;
        } else {
            false_links += 1;
        }
        if debug {
            let show =
                |r: &LinkIdentity| format!("{} {} {:?} {:?}", r.given, r.family, r.birth, r.sex);
            println!(
                "false link ({slip:?}): {} ~ {}: {why}",
                show(&identity),
                show(&theirs)
            );
        }
    }
    let precision = right as f64 / (right + false_links + identical).max(1) as f64;
    println!(
        "| {size} (loaded in {loaded:.0} s) | {blocked} of {repeats} | {right} ({by_similarity} by similarity) | {reviewed} | {false_links} | {identical} | **{precision:.4}** |"
    );
}

fn main() {
    let dir = febrl_dir();
    println!(
        "| data | records | true pairs | precision | recall | F1 (automatic links) | F1 ceiling (names and birth date) | review queue | recall with the queue decided | time |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for set in ["dataset1", "dataset2", "dataset3"] {
        persons_row(
            &format!("FEBRL {}", &set[7..]),
            &febrl(&format!("{dir}/{set}.csv")),
        );
    }
    persons_row("synthetic population with slips", &synthetic());

    // Linking two extracts of 5,000 (FEBRL 4a x 4b), as `registry link` does.
    let (a, b) = (
        febrl(&format!("{dir}/dataset4a.csv")),
        febrl(&format!("{dir}/dataset4b.csv")),
    );
    let keys = keys();
    let mut times = Vec::new();
    let mut pairs = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        pairs = batch::link(&keys, &a.records, &b.records, |_| {}).1;
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let right: HashSet<u64> = b.entity.iter().copied().collect();
    let truth = a.entity.iter().filter(|e| right.contains(e)).count();
    let q = Quality::of(&pairs, truth, |p| a.entity[p.left] == b.entity[p.right]);
    let by_entity: HashMap<u64, &LinkIdentity> = b.entity.iter().copied().zip(&b.records).collect();
    let across = a
        .entity
        .iter()
        .zip(&a.records)
        .filter_map(|(e, left)| by_entity.get(e).map(|right| (left, *right)));
    q.row(
        "FEBRL 4a x 4b (link, median of 5)",
        a.records.len() + b.records.len(),
        times[2],
        q.linked_true + q.review_true,
        ceiling(across),
    );

    println!();
    println!(
        "| subjects, in memory | repeats whose subject was a candidate | repeats linked to their own subject | repeats left to review with it | links to another person by similarity | links to another person with the very same identity | precision of all automatic links |"
    );
    println!("|---|---|---|---|---|---|---|");
    national_row();
}
