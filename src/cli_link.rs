//! `registry link`: links two identity extracts offline with the registry's own
//! encodings and matcher (issue 16), for example an external death-register extract
//! against the registry's population. Keys are fresh random ones for the run (both
//! sides are encoded in it), so the command needs neither the key file nor the
//! database, and its output holds row numbers and similarities, never an identity.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::crypto::Secret32;
use crate::crypto::similarity::{LinkIdentity, SimilarityKeys};
use crate::identity::similar::{loose_birth, loose_personal_number, loose_sex, similarity_form};
use crate::linkage::batch;

/// Arguments of `registry link`.
#[derive(Debug, clap::Args)]
pub struct LinkArgs {
    /// First extract: CSV with a header naming given_name, surname, date_of_birth
    /// (YYYY-MM-DD, YYYYMMDD or YYYY) and sex (1/2, m/f), optionally
    /// personal_number and id (copied to the output).
    #[arg(long, value_name = "A.csv")]
    pub left: PathBuf,
    /// Second extract, with the same columns.
    #[arg(long, value_name = "B.csv")]
    pub right: PathBuf,
    /// Where to write the pairs (created new, readable by the owner only): one row
    /// per pair linked or left for review.
    #[arg(long, value_name = "pairs.csv")]
    pub out: PathBuf,
}

/// One extract: its identities and its optional ids.
struct Extract {
    identities: Vec<LinkIdentity>,
    ids: Vec<Option<String>>,
}

const REQUIRED: [&str; 4] = ["given_name", "surname", "date_of_birth", "sex"];

fn read(path: &Path) -> anyhow::Result<Extract> {
    let name = path.display();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_path(path)
        .with_context(|| format!("{name}: cannot be read"))?;
    let headers = reader
        .headers()
        .with_context(|| format!("{name}: the header row is not UTF-8 CSV"))?
        .clone();
    let column = |wanted: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(wanted));
    let mut required = [0; 4];
    for (slot, wanted) in required.iter_mut().zip(REQUIRED) {
        *slot = column(wanted).with_context(|| {
            format!(
                "{name}: the header has no column {wanted} (needed: {})",
                REQUIRED.join(", ")
            )
        })?;
    }
    let [given, surname, birth, sex] = required;
    let (number, id) = (column("personal_number"), column("id"));
    let mut extract = Extract {
        identities: Vec::new(),
        ids: Vec::new(),
    };
    for (row, record) in reader.records().enumerate() {
        // The line number only: a row's values are personal data.
        let record =
            record.with_context(|| format!("{name}: data row {} is not valid CSV", row + 1))?;
        let field = |i: usize| record.get(i).unwrap_or_default();
        if [given, surname, birth]
            .iter()
            .any(|&i| crate::field::forbidden_in_line(field(i)).is_some())
        {
            bail!("{name}: data row {} holds control characters", row + 1);
        }
        extract.identities.push(LinkIdentity {
            given: similarity_form(field(given)),
            family: similarity_form(field(surname)),
            birth: loose_birth(field(birth)),
            sex: loose_sex(field(sex)),
            personal_number: number.and_then(|i| loose_personal_number(field(i))),
        });
        extract.ids.push(id.map(|i| field(i).to_owned()));
    }
    Ok(extract)
}

/// Runs `registry link`; prints a summary.
pub fn link_command(args: &LinkArgs) -> anyhow::Result<()> {
    let (left, right) = (read(&args.left)?, read(&args.right)?);
    crate::files::create_private_file(&args.out)
        .with_context(|| format!("{}: cannot be created", args.out.display()))?;
    if std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0) > 0 {
        bail!(
            "{}: exists and is not empty; choose another --out",
            args.out.display()
        );
    }
    let keys = SimilarityKeys::derive(&Secret32::random()?, 1);
    let bar = indicatif::ProgressBar::new(left.identities.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} left records {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let (_, pairs) = batch::link(&keys, &left.identities, &right.identities, |done| {
        if done % 256 == 0 {
            bar.set_position(done as u64);
        }
    });
    bar.finish_and_clear();
    let mut out = csv::Writer::from_path(&args.out)
        .with_context(|| format!("{}: cannot be written", args.out.display()))?;
    out.write_record([
        "left_row",
        "right_row",
        "left_id",
        "right_id",
        "decision",
        "probability",
        "weight",
        "given_name",
        "surname",
        "date_of_birth",
        "sex",
        "personal_number",
    ])?;
    let dice = |d: Option<f64>| d.map_or(String::new(), |d| format!("{d:.3}"));
    let (mut linked, mut review) = (0, 0);
    for p in &pairs {
        match p.decision {
            crate::linkage::Decision::Link => linked += 1,
            _ => review += 1,
        }
        let s = &p.similarity;
        out.write_record([
            (p.left + 1).to_string(),
            (p.right + 1).to_string(),
            left.ids[p.left].clone().unwrap_or_default(),
            right.ids[p.right].clone().unwrap_or_default(),
            p.decision.as_str().to_owned(),
            format!("{:.4}", p.probability),
            format!("{:.2}", p.weight),
            dice(s.given),
            dice(s.family),
            <&str>::from(s.birth).to_owned(),
            s.sex.map_or(String::new(), |same| same.to_string()),
            <&str>::from(s.number).to_owned(),
        ])?;
    }
    out.flush()?;
    println!(
        "{} x {} records linked in {:.2} s: {linked} pairs linked, {review} for review; written to {}",
        left.identities.len(),
        right.identities.len(),
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}
