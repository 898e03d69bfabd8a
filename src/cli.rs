//! The command line: `registry serve | migrate | check-config | …`.
//!
//! Errors are printed as one line (`error: …`) and the process exits non-zero.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{ENV_VARS, Settings};
use crate::crypto::keyfile::KeyKind;
use crate::{server, telemetry};

/// National registry of drug treatment and drug-related deaths (Kosovo).
///
/// Settings come from an optional TOML file (--config or REGISTRY_CONFIG) and
/// REGISTRY_* environment variables; with none, the service uses an embedded
/// SQLite database in ./registry-data and listens on 127.0.0.1:8080.
#[derive(Debug, Parser)]
#[command(name = "registry", version, after_help = env_help())]
pub struct Cli {
    /// TOML settings file (optional; environment variables override it).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the HTTP service. Creates the data directory and database on first run,
    /// applies migrations and loads reference data, then serves until SIGINT/SIGTERM.
    Serve {
        /// Address to listen on, host:port (overrides REGISTRY_LISTEN).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Apply pending database migrations and load reference data, then exit.
    /// `serve` does this too; use this to prepare a database ahead of a deployment.
    Migrate,
    /// Check the settings and that the database can be reached, print the resolved
    /// settings (without secrets), and exit non-zero on any problem.
    CheckConfig,
    /// Create the key file (master key-encryption key and pseudonym key, version 1)
    /// at REGISTRY_KEY_FILE, mode 0600. Refuses to overwrite an existing file.
    /// `serve` does this by itself on a brand-new database.
    Init,
    /// Key management: status, rotation and retirement of key versions.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Subject management: erasure (crypto-shredding) and data-subject access reports.
    #[command(subcommand)]
    Subjects(SubjectsCommand),
    /// User accounts. The first admin can only be created here; there are no
    /// default accounts.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Treatment facilities (the codes `users add --facility` takes).
    #[command(subcommand)]
    Facilities(FacilitiesCommand),
    /// Access policy (the files in policy/).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Treatment episodes.
    #[command(subcommand)]
    Episodes(EpisodesCommand),
    /// Freeze a past data year into an immutable statistical snapshot (every output
    /// reads snapshots only), or list the frozen years with --status.
    Freeze(crate::cli_outputs::FreezeArgs),
    /// Aggregate outputs from frozen years: the statutory national set and custom
    /// cell-key perturbed tables.
    #[command(subcommand)]
    Export(crate::cli_outputs::ExportCommand),
    /// Link two identity extracts offline (an external death register against the
    /// registry's population, say) with the registry's fuzzy-linkage encodings and
    /// matcher; writes one row per pair linked or left for review. Needs neither
    /// the key file nor the database.
    Link(crate::cli_link::LinkArgs),
    /// Fill an empty registry with a realistic synthetic population (never real
    /// people): treatment episodes, social-work contacts, overdoses and deaths,
    /// submitted through the same validation and domain code as the API, by demo
    /// accounts of every role whose passwords are printed once. The same seed gives
    /// the same records. Refuses a registry that already holds people.
    Demo {
        /// People in treatment over the period.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        persons: u64,
        /// Calendar years covered, ending with last year.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=30))]
        years: u16,
        /// Seed of the generator.
        #[arg(long, default_value_t = 2018)]
        seed: u64,
    },
}

/// `registry episodes …`
#[derive(Debug, Subcommand)]
pub enum EpisodesCommand {
    /// Register a facility's backlog from a CSV file in the TDI layout (header:
    /// personal_number,first_name,…,notes — see the README). Every row is validated
    /// like an API registration; refused rows are listed with their line and fields,
    /// the others are registered. Exits non-zero when any row was refused.
    Import {
        /// The clinician (username) the episodes are registered under; their facility
        /// is the episodes' facility.
        #[arg(long)]
        clinician: String,
        /// The CSV file.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
}

/// `registry users …`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user. Prints a one-time initial password, or with --password-stdin
    /// reads one from standard input; either must be changed at first login.
    Add {
        /// Login name: 3-64 of a-z, 0-9, '.', '_', '-'.
        #[arg(long)]
        username: String,
        /// clinician, social_worker, police, forensic, analyst, auditor or admin.
        #[arg(long)]
        role: String,
        /// Facility code (clinicians only; see GET /api/v1/reference/facilities).
        #[arg(long)]
        facility: Option<String>,
        /// Municipality slug (social workers only).
        #[arg(long)]
        municipality: Option<String>,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users (no secrets).
    List,
}

/// `registry facilities …`
#[derive(Debug, Subcommand)]
pub enum FacilitiesCommand {
    /// List every facility: code, municipality, TDI centre type, whether it has an
    /// emergency department, whether it operates, and its name.
    List,
}

/// `registry policy …`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the access matrix generated from the policy files:
    /// role × action × scope → allow/deny, with the deciding rules.
    Matrix,
}

/// `registry audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain; print OK with the event count and head hash, or the first
    /// broken sequence number. Also checks stored checkpoints and any given files.
    Verify {
        /// Checkpoint files (JSON, as printed by `audit checkpoint`) kept off-host.
        #[arg(long = "checkpoint", value_name = "FILE")]
        checkpoints: Vec<PathBuf>,
    },
    /// Sign the current head with the key file's Ed25519 key, store it, and print it
    /// as JSON for export off-host.
    Checkpoint,
}

/// `registry keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Show every key version (active, available, retired) and how many subjects use it.
    Status,
    /// Rotate a key (one of --master / --pseudonym): add a new version and move
    /// every subject to it in batches. Safe while the service runs; if
    /// interrupted, run it again to resume.
    Rotate {
        /// Re-wrap every subject's data key under a new master-key version.
        #[arg(long, conflicts_with = "pseudonym")]
        master: bool,
        /// Recompute every subject's pseudonyms under a new pseudonym-key version.
        #[arg(long)]
        pseudonym: bool,
        /// Subjects per batch.
        #[arg(long, default_value_t = 1000)]
        batch: i64,
    },
    /// Retire an old key version (one of --master VERSION / --pseudonym VERSION):
    /// its key material is removed from the key file. Refused while it is active
    /// or any subject still uses it.
    Retire {
        /// Retire this master-key version.
        #[arg(long, value_name = "VERSION", conflicts_with = "pseudonym")]
        master: Option<u32>,
        /// Retire this pseudonym-key version.
        #[arg(long, value_name = "VERSION")]
        pseudonym: Option<u32>,
    },
}

/// `registry subjects …`
#[derive(Debug, Subcommand)]
pub enum SubjectsCommand {
    /// Erase a subject by crypto-shredding: its data key, sealed identity and
    /// pseudonyms are destroyed; only coarse statistical attributes remain.
    Shred {
        /// The subject's registry id.
        #[arg(long)]
        registry_id: String,
        /// The ground of the erasure (GDPR art. 17(1) / Law 06/L-082), recorded:
        /// no_longer_necessary, objection_upheld, unlawful_processing,
        /// legal_obligation, order or registered_in_error.
        #[arg(long)]
        legal_basis: crate::cases::subjects::ErasureGround,
        /// The case number of the request or decision, e.g. DPO-2026/0142.
        #[arg(long)]
        reference: Option<String>,
    },
    /// Print what the registry holds about one subject (data-subject access report).
    AccessReport {
        /// The subject's registry id.
        #[arg(long)]
        registry_id: String,
    },
}

fn env_help() -> String {
    let mut text = String::from("Environment variables:\n");
    for (name, what) in ENV_VARS {
        text.push_str(&format!("  {name:<32} {what}\n"));
    }
    text
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = Settings::from_env(cli.config.as_deref())?;
    telemetry::init(settings.log_format);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    match cli.command {
        Command::Serve { listen } => {
            if let Some(listen) = listen {
                settings.listen = listen.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "setting --listen: {listen:?} is not a socket address; expected host:port such as 127.0.0.1:8080"
                    )
                })?;
            }
            runtime.block_on(server::serve(settings))
        }
        Command::Migrate => runtime.block_on(async {
            let store = server::prepare_store(&settings).await?;
            println!("database is up to date ({:?})", store.backend());
            store.close().await;
            Ok(())
        }),
        Command::CheckConfig => runtime.block_on(check_config(&settings)),
        Command::Init => {
            crate::cases::keys::init(&settings.key_file)?;
            println!(
                "created key file {} (mode 0600). Back it up offline: without it the sealed \
                 data cannot be read. Never commit it or store it in the database.",
                settings.key_file.display()
            );
            Ok(())
        }
        Command::Keys(command) => runtime.block_on(keys_command(&settings, command)),
        Command::Subjects(command) => runtime.block_on(subjects_command(&settings, command)),
        Command::Users(command) => runtime.block_on(users_command(&settings, command)),
        Command::Facilities(FacilitiesCommand::List) => runtime.block_on(async {
            let store = server::prepare_store(&settings).await?;
            println!(
                "{:<24} {:<16} {:>6}  {:<9} {:<6}  name",
                "code", "municipality", "centre", "emergency", "active"
            );
            for f in store.facilities().await? {
                let yes_no = |b: bool| if b { "yes" } else { "no" };
                println!(
                    "{:<24} {:<16} {:>6}  {:<9} {:<6}  {}",
                    f.code,
                    f.municipality,
                    f.centre_type,
                    yes_no(f.emergency_capable),
                    yes_no(f.active),
                    f.name
                );
            }
            store.close().await;
            anyhow::Ok(())
        }),
        Command::Policy(PolicyCommand::Matrix) => {
            let authorizer = crate::authz::Authorizer::new()?;
            print!("{}", authorizer.render_matrix());
            Ok(())
        }
        Command::Audit(command) => runtime.block_on(audit_command(&settings, command)),
        Command::Episodes(EpisodesCommand::Import { clinician, file }) => {
            runtime.block_on(import_command(&settings, &clinician, &file))
        }
        Command::Freeze(args) => {
            runtime.block_on(crate::cli_outputs::freeze_command(&settings, args))
        }
        Command::Export(command) => {
            runtime.block_on(crate::cli_outputs::export_command(&settings, command))
        }
        Command::Link(args) => crate::cli_link::link_command(&args),
        Command::Demo {
            persons,
            years,
            seed,
        } => runtime.block_on(demo_command(
            &settings,
            crate::demo::Config {
                persons,
                years,
                seed,
                today: crate::clock::today_utc(),
            },
        )),
    }
}

async fn demo_command(settings: &Settings, config: crate::demo::Config) -> anyhow::Result<()> {
    let store = server::prepare_store(settings).await?;
    let keys = server::prepare_keys(settings, &store).await?;
    let (subjects, _) = store.subject_counts().await?;
    if subjects > 0 {
        return Err(crate::demo::DemoError::NotEmpty(subjects).into());
    }
    let users = crate::demo::create_users(&store).await?;
    let bar = indicatif::ProgressBar::new(config.persons);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} people {elapsed} (eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let summary = crate::demo::fill(&store, &keys, &config, &users, |done| {
        bar.set_position(done);
    })
    .await;
    bar.finish_and_clear();
    let summary = summary?;
    let (from, to) = config.period();
    println!(
        "synthetic registry {from}-{to} (seed {}), loaded in {:.1} s:",
        config.seed,
        started.elapsed().as_secs_f64()
    );
    println!(
        "  {} people -> {} in the registry ({} registrations with a slip in the identity; \
         {} registrations linked to an earlier record)",
        summary.persons, summary.subjects, summary.slipped, summary.linked
    );
    println!(
        "  {} treatment episodes ({} closed), {} social-work contacts",
        summary.episodes, summary.closed, summary.contacts
    );
    if summary.continued > 0 {
        println!(
            "  {} registrations refused as continuing an open episode of another person \
             with the same name, birth date and sex (no personal number to tell them apart)",
            summary.continued
        );
    }
    println!(
        "  {} emergency overdose presentations, {} police-attended overdoses",
        summary.overdoses, summary.police_overdoses
    );
    println!(
        "  {} deaths recorded by forensic medicine ({} notified by police first)",
        summary.deaths, summary.notifications
    );
    for (what, n) in &summary.refused {
        println!("  refused {n}x: {what}");
    }
    println!();
    println!(
        "Demo accounts (passwords are shown only now; disable these accounts before any real use):"
    );
    for user in &users {
        println!("  {:<48} {}", user.username, user.password.as_str());
    }
    store.close().await;
    if summary.refused.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("the domain refused some generated records (a generator bug)")
    }
}

async fn import_command(
    settings: &Settings,
    clinician: &str,
    file: &std::path::Path,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("setting --file: cannot read {}", file.display()))?;
    let store = server::prepare_store(settings).await?;
    let keys = server::prepare_keys(settings, &store).await?;
    let user = store
        .user_by_username(clinician)
        .await?
        .filter(|u| u.role == "clinician" && u.disabled_at.is_none())
        .ok_or_else(|| {
            anyhow::anyhow!("setting --clinician: no active clinician with that username")
        })?;
    let facility = user.facility.clone().unwrap_or_default();
    let who = crate::cases::access::Caller::lookup(
        &store,
        crate::authz::Principal {
            user_id: user.user_id.clone(),
            role: crate::authz::Role::Clinician,
            facility: user.facility.clone(),
            municipality: user.municipality.clone(),
        },
        "treatment",
    )
    .await?;
    match &who.facility {
        None => anyhow::bail!("the clinician's facility is not known"),
        Some(info) if !info.active => {
            anyhow::bail!("the clinician's facility {facility} is not active")
        }
        Some(_) => {}
    }
    let gate = console_gate(&store)?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = crate::cases::import::import(&store, &keys, &gate, &who, &text, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .await;
    bar.finish_and_clear();
    let report = match report {
        Err(crate::cases::episodes::EpisodeError::Invalid(problems)) => {
            let text: Vec<String> = problems
                .iter()
                .map(|p| format!("{}: {}", p.field, p.problem))
                .collect();
            anyhow::bail!("{}", text.join("; "));
        }
        other => other?,
    };
    println!(
        "registered {} episodes ({} of people already known); {} rows refused",
        report.registered,
        report.known_before,
        report.errors.len()
    );
    for error in &report.errors {
        for problem in &error.problems {
            println!(
                "line {}: {}: {}",
                error.line, problem.field, problem.problem
            );
        }
    }
    store.close().await;
    if report.errors.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} rows were refused; fix them and import those rows again",
            report.errors.len()
        )
    }
}

/// The decision point for a console command, over the policy files, auditing into
/// `store`.
fn console_gate(store: &crate::store::Store) -> anyhow::Result<crate::cases::access::Gate> {
    Ok(crate::cases::access::Gate::new(
        std::sync::Arc::new(crate::authz::Authorizer::new()?),
        store.clone(),
    ))
}

async fn users_command(settings: &Settings, command: UsersCommand) -> anyhow::Result<()> {
    let store = server::prepare_store(settings).await?;
    match command {
        UsersCommand::Add {
            username,
            role,
            facility,
            municipality,
            password_stdin,
        } => {
            let password = if password_stdin {
                let mut line = zeroize::Zeroizing::new(String::new());
                std::io::stdin()
                    .read_line(&mut line)
                    .context("cannot read the password from standard input")?;
                crate::cases::users::InitialPassword::SetByAdmin(zeroize::Zeroizing::new(
                    line.trim_end_matches(['\n', '\r']).to_owned(),
                ))
            } else {
                crate::cases::users::InitialPassword::Generated
            };
            let permit = console_gate(&store)?
                .operator(crate::authz::Action::ManageUsers, "", &[], "administration")
                .await?;
            let created = crate::cases::users::create(
                &store,
                &permit,
                crate::cases::users::NewAccount {
                    username: username.clone(),
                    scope: crate::cases::users::Scope {
                        role,
                        facility,
                        municipality,
                    },
                    password,
                },
            )
            .await;
            let created = match created {
                Err(crate::cases::users::UserError::Invalid(fields)) => {
                    let text: Vec<String> = fields
                        .iter()
                        .map(|f| format!("--{}: {}", f.field.replace('_', "-"), f.problem))
                        .collect();
                    anyhow::bail!("{}", text.join("; "));
                }
                other => other?,
            };
            println!("created user {username} ({})", created.user_id);
            if let Some(password) = created.initial_password {
                println!("one-time password: {}", password.as_str());
                println!("(shown once; it must be changed at first login)");
            }
        }
        UsersCommand::List => {
            for u in store.users().await? {
                println!(
                    "{:<24} {:<14} {:<20} {}",
                    u.username,
                    u.role,
                    u.facility.or(u.municipality).unwrap_or_default(),
                    if u.disabled_at.is_some() {
                        "disabled"
                    } else {
                        "active"
                    }
                );
            }
        }
    }
    store.close().await;
    Ok(())
}

async fn audit_command(settings: &Settings, command: AuditCommand) -> anyhow::Result<()> {
    let store = server::prepare_store(settings).await?;
    match command {
        AuditCommand::Verify { checkpoints } => {
            let mut extra = Vec::new();
            for path in &checkpoints {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read checkpoint {}", path.display()))?;
                extra.push(
                    serde_json::from_str(&text).with_context(|| {
                        format!("checkpoint {} is not valid JSON", path.display())
                    })?,
                );
            }
            let report = crate::cases::audit::verify_store(&store, &extra).await?;
            println!(
                "audit chain OK: {} events, head {}, {} checkpoints verified",
                report.events, report.head_hash, report.checkpoints
            );
        }
        AuditCommand::Checkpoint => {
            let keys = server::prepare_keys(settings, &store).await?;
            let checkpoint = crate::cases::audit::checkpoint(&store, &keys.current()).await?;
            println!("{}", serde_json::to_string_pretty(&checkpoint)?);
        }
    }
    store.close().await;
    Ok(())
}

async fn keys_command(settings: &Settings, command: KeysCommand) -> anyhow::Result<()> {
    let store = server::prepare_store(settings).await?;
    let path = &settings.key_file;
    // Refuses a key file that does not belong to this database.
    server::prepare_keys(settings, &store).await?;
    match command {
        KeysCommand::Status => {
            // A master key wraps each subject's data key; a pseudonym key computes
            // each subject's pseudonyms.
            println!(
                "{:<10} {:>7}  {:<10} {:>10}  used by",
                "kind", "version", "state", "count"
            );
            for line in crate::cases::keys::status(&store, path).await? {
                println!(
                    "{:<10} {:>7}  {:<10} {:>10}  {}",
                    line.kind.as_str(),
                    line.version,
                    line.state,
                    line.rows,
                    match line.kind {
                        KeyKind::Master => "data keys wrapped",
                        KeyKind::Pseudonym => "subjects' pseudonyms",
                    }
                );
            }
        }
        KeysCommand::Rotate {
            master,
            pseudonym,
            batch,
        } => {
            if !master && !pseudonym {
                anyhow::bail!("keys rotate: give one of --master / --pseudonym");
            }
            if batch < 1 {
                anyhow::bail!("setting --batch: must be at least 1");
            }
            let settle = crate::cases::keys::RELOAD_INTERVAL * 2;
            let progress = |moved: u64| eprint!("\rmoved {moved} subjects");
            let report = if master {
                crate::cases::keys::rotate_master(&store, path, batch, settle, progress).await?
            } else {
                crate::cases::keys::rotate_pseudonym(&store, path, batch, settle, progress).await?
            };
            eprintln!();
            println!(
                "{} key version {} ({}): {} subjects moved, {} retried",
                if master { "master" } else { "pseudonym" },
                report.target_version,
                if report.created_version {
                    "new"
                } else {
                    "resumed"
                },
                report.rows_moved,
                report.rows_retried
            );
        }
        KeysCommand::Retire { master, pseudonym } => {
            let (kind, version) = match (master, pseudonym) {
                (Some(v), _) => (KeyKind::Master, v),
                (None, Some(v)) => (KeyKind::Pseudonym, v),
                (None, None) => {
                    anyhow::bail!("keys retire: give one of --master VERSION / --pseudonym VERSION")
                }
            };
            crate::cases::keys::retire(&store, path, kind, version).await?;
            println!("{} key version {version} retired", kind.as_str());
        }
    }
    store.close().await;
    Ok(())
}

async fn subjects_command(settings: &Settings, command: SubjectsCommand) -> anyhow::Result<()> {
    let store = server::prepare_store(settings).await?;
    let keys = server::prepare_keys(settings, &store).await?;
    match command {
        SubjectsCommand::Shred {
            registry_id,
            legal_basis,
            reference,
        } => {
            let permit = console_gate(&store)?
                .operator(
                    crate::authz::Action::ShredSubject,
                    &registry_id,
                    &[],
                    "erasure",
                )
                .await?;
            let shredded = match crate::cases::subjects::shred(
                &store,
                &keys,
                &permit,
                &registry_id,
                legal_basis,
                reference.as_deref(),
            )
            .await
            {
                Err(crate::cases::subjects::SubjectError::Invalid(_)) => anyhow::bail!(
                    "setting --reference: must be a case number such as DPO-2026/0142"
                ),
                other => other?,
            };
            if shredded {
                println!("subject {registry_id} shredded; its sealed data can no longer be read");
            } else {
                println!("subject {registry_id} was already shredded");
            }
        }
        SubjectsCommand::AccessReport { registry_id } => {
            let row = store.sealed_subject(&registry_id).await?;
            let permit = console_gate(&store)?
                .operator(
                    crate::authz::Action::SubjectAccessReport,
                    &registry_id,
                    &[crate::authz::FieldGroup::Identity],
                    "data_subject_request",
                )
                .await?;
            println!("registry id       {}", row.registry_id);
            println!("sex (TDI code)    {}", row.sex);
            println!("birth year        {}", row.birth_year);
            match &row.shredded_at {
                Some(at) => println!("erased            {at} (identity destroyed)"),
                None => {
                    let identity =
                        crate::cases::subjects::open_identity(&store, &keys, &permit, &registry_id)
                            .await?
                            .ok_or_else(|| anyhow::anyhow!("the identity could not be opened"))?;
                    println!("first name        {}", identity.first_name);
                    println!("last name         {}", identity.last_name);
                    println!("date of birth     {}", identity.birth_date);
                    println!(
                        "personal number   {}",
                        identity
                            .personal_number
                            .as_deref()
                            .unwrap_or("(not recorded)")
                    );
                }
            }
            let held = crate::cases::subjects::held_records(&store, &keys, &row).await?;
            println!("records held      {}", held.len());
            for r in &held {
                println!(
                    "  {:<18} {}  {}-Q{}  held by {:<22} recorded {}",
                    r.kind, r.id, r.year, r.quarter, r.held_by, r.recorded_at
                );
            }
        }
    }
    store.close().await;
    Ok(())
}

async fn check_config(settings: &Settings) -> anyhow::Result<()> {
    println!("listen            {}", settings.listen);
    println!("data_dir          {}", settings.data_dir.display());
    println!("database_url      {}", redact_url(&settings.database_url));
    println!("key_file          {}", settings.key_file.display());
    println!("max_connections   {}", settings.max_connections);
    println!("request_timeout   {}s", settings.request_timeout.as_secs());
    println!("body_limit_bytes  {}", settings.body_limit_bytes);
    println!("log_format        {:?}", settings.log_format);
    let store = crate::store::Store::connect(&settings.database_url, 1)
        .await
        .context("cannot open the database (check REGISTRY_DATABASE_URL)")?;
    store.ping().await.context("database does not answer")?;
    println!("database          reachable ({:?})", store.backend());
    store.close().await;
    println!("configuration OK");
    Ok(())
}

/// Hides a password in a database URL before printing it.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn passwords_are_hidden_in_printed_urls() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/registry"),
            "postgres://app:***@db:5432/registry"
        );
        assert_eq!(
            redact_url("sqlite://registry-data/registry.db"),
            "sqlite://registry-data/registry.db"
        );
    }
}
