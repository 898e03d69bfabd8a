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
use registry::crypto::similarity::{LinkIdentity, SimilarityKeys};
use registry::demo::people::{self, Slip};
use registry::identity::similar::{loose_birth, similarity_form};
use registry::linkage::Decision;
use registry::linkage::batch::{self, Pair};

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
    fn row(&self, name: &str, records: usize, seconds: f64, found_with_queue: usize) {
        let precision = self.linked_true as f64 / self.linked.max(1) as f64;
        let recall = self.linked_true as f64 / self.true_pairs.max(1) as f64;
        let f1 = 2.0 * precision * recall / (precision + recall).max(f64::EPSILON);
        let decided = found_with_queue as f64 / self.true_pairs.max(1) as f64;
        println!(
            "| {name} | {records} | {} | {precision:.4} | {recall:.4} | **{f1:.4}** | {} ({} true) | {decided:.4} | {seconds:.2} s |",
            self.true_pairs, self.review, self.review_true
        );
    }
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
    );
    if std::env::var("LINKAGE_DEBUG").is_ok() {
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

fn main() {
    let dir = febrl_dir();
    println!(
        "| data | records | true pairs | precision | recall | F1 (automatic links) | review queue | recall with the queue decided | time |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
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
    q.row(
        "FEBRL 4a x 4b (link, median of 5)",
        a.records.len() + b.records.len(),
        times[2],
        q.linked_true + q.review_true,
    );
}
