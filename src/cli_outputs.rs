//! `registry freeze …` and `registry export …`: frozen years and the releases made
//! from them, on the command line. They go through the same functions, ledger and
//! audit log as the API, as the operator `cli`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::config::Settings;
use crate::export::flexible::{FlexRequest, Profile};
use crate::export::tables::Dim;
use crate::export::{Format, Geography, Requester};
use crate::server;

/// `registry freeze …`
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["year", "status"])))]
pub struct FreezeArgs {
    /// Freeze this past year into a new snapshot version.
    #[arg(long)]
    pub year: Option<i64>,
    /// List every frozen year and version instead.
    #[arg(long)]
    pub status: bool,
    /// Why (recorded in the audit log).
    #[arg(long, default_value = "statistical data lock")]
    pub purpose: String,
}

/// `registry export …`
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// The exact national statutory set of a frozen year: the EMCDDA TDI workbook
    /// (.xlsx), or the same tables labelled as .csv or .json, with the DRD tables.
    Statutory {
        /// The frozen year.
        #[arg(long)]
        year: i64,
        /// Snapshot version (default: the latest).
        #[arg(long)]
        version: Option<i64>,
        /// Output file; its ending (.xlsx, .csv, .json) chooses the format.
        #[arg(long)]
        out: PathBuf,
        /// Why (recorded in the ledger and the audit log).
        #[arg(long, default_value = "EMCDDA national reporting")]
        purpose: String,
    },
    /// A custom table of a frozen year, cell-key perturbed.
    Table {
        /// The frozen year.
        #[arg(long)]
        year: i64,
        /// Two or three dimensions, comma-separated (the last across), e.g. municipality,sex,age_band.
        #[arg(long, value_delimiter = ',', required = true)]
        dims: Vec<String>,
        /// national, district or municipality.
        #[arg(long, default_value = "national")]
        geography: String,
        /// csv or json.
        #[arg(long, default_value = "csv")]
        format: String,
        /// ckm or ckm-deaths.
        #[arg(long)]
        profile: Option<String>,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Why (recorded in the ledger and the audit log).
        #[arg(long, default_value = "custom table")]
        purpose: String,
    },
}

fn operator(purpose: &str) -> Requester {
    Requester {
        user_id: "cli".into(),
        role: "operator".into(),
        purpose: purpose.to_owned(),
        rules: "cli".into(),
    }
}

fn explain(err: crate::export::ExportError) -> anyhow::Error {
    match err {
        crate::export::ExportError::Invalid(fields) => anyhow::anyhow!(
            "{}",
            fields
                .iter()
                .map(|f| format!("setting --{}: {}", f.field.replace('_', "-"), f.problem))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => anyhow::anyhow!("{other}"),
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    flag: &str,
    value: &str,
    expected: &str,
) -> anyhow::Result<T> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|_| anyhow::anyhow!("setting --{flag}: must be {expected}"))
}

/// Runs `registry freeze`.
pub async fn freeze_command(settings: &Settings, args: FreezeArgs) -> anyhow::Result<()> {
    let store = server::prepare_store(settings).await?;
    if args.status {
        println!(
            "year  version  frozen at                  by        entrants  in treatment  deaths  overdoses  changed rows"
        );
        for s in store.snapshots().await? {
            let rows = |p| s.rows.get(&p).copied().unwrap_or(0);
            use crate::export::snapshot::Population::*;
            println!(
                "{:<5} {:<8} {:<26} {:<9} {:<9} {:<13} {:<7} {:<10} {}",
                s.year,
                s.version,
                s.created_at,
                s.created_by,
                rows(Entrants),
                rows(InTreatment),
                rows(Deaths),
                rows(Overdoses),
                s.changed_rows
                    .map_or_else(|| "-".to_owned(), |c| c.to_string())
            );
        }
    } else if let Some(year) = args.year {
        let keys = server::prepare_keys(settings, &store).await?;
        let cache = crate::export::snapshot::Cache::default();
        let info = crate::cases::outputs::freeze(
            &store,
            &keys,
            &cache,
            year,
            &operator(&args.purpose),
            &settings.output_rules,
        )
        .await
        .map_err(explain)?;
        println!(
            "froze {} as version {} (snapshot {}): {} rows{}",
            info.year,
            info.version,
            info.snapshot_id,
            info.rows.values().sum::<i64>(),
            info.changed_rows
                .map(|c| format!(", {c} changed from the previous version"))
                .unwrap_or_default()
        );
    }
    store.close().await;
    Ok(())
}

/// Runs `registry export`.
pub async fn export_command(settings: &Settings, command: ExportCommand) -> anyhow::Result<()> {
    let store = server::prepare_store(settings).await?;
    let cache = crate::export::snapshot::Cache::default();
    let rules = &settings.output_rules;
    let (output, out) = match command {
        ExportCommand::Statutory {
            year,
            version,
            out,
            purpose,
        } => {
            let format = match out.extension().and_then(|e| e.to_str()) {
                Some("xlsx") => Format::Xlsx,
                Some("csv") => Format::Csv,
                Some("json") => Format::Json,
                _ => anyhow::bail!("setting --out: the file must end in .xlsx, .csv or .json"),
            };
            let output = crate::export::statutory_release(
                &store,
                &cache,
                year,
                version,
                format,
                &operator(&purpose),
                rules,
            )
            .await
            .map_err(explain)?;
            (output, Some(out))
        }
        ExportCommand::Table {
            year,
            dims,
            geography,
            format,
            profile,
            out,
            purpose,
        } => {
            let dims: Vec<Dim> = dims
                .iter()
                .map(|d| {
                    parse(
                        "dims",
                        d,
                        "dimension names such as municipality,sex,age_band",
                    )
                })
                .collect::<anyhow::Result<_>>()?;
            let geography: Geography = parse(
                "geography",
                &geography,
                "national, district or municipality",
            )?;
            let format = match format.as_str() {
                "csv" => Format::Csv,
                "json" => Format::Json,
                _ => anyhow::bail!("setting --format: must be csv or json"),
            };
            let profile: Option<Profile> = profile
                .map(|p| parse("profile", &p, "ckm or ckm-deaths"))
                .transpose()?;
            let table = crate::export::flexible::custom(&dims)
                .map_err(|e| explain(crate::export::ExportError::Invalid(e)))?;
            let request = FlexRequest {
                tables: vec![table],
                years: (year, year),
                geography,
                profile,
                by_sex: false,
            };
            let spec = serde_json::json!({
                "dimensions": dims, "year": year, "geography": geography, "profile": profile,
                "format": format,
            })
            .to_string();
            let output = crate::export::flexible::release(
                &store,
                &cache,
                &request,
                spec,
                format,
                &operator(&purpose),
                rules,
            )
            .await
            .map_err(explain)?;
            (output, out)
        }
    };
    match out {
        Some(path) => {
            std::fs::write(&path, &output.bytes).map_err(|e| {
                anyhow::anyhow!("setting --out: cannot write {}: {e}", path.display())
            })?;
            eprintln!(
                "release {} written to {} (sha256 {})",
                output.release.release_id,
                path.display(),
                output.release.output_hash
            );
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&output.bytes)?;
        }
    }
    store.close().await;
    Ok(())
}
