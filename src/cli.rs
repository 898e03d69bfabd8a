//! The command line: `registry serve | migrate | check-config | …`.
//!
//! Errors are printed as one line (`error: …`) and the process exits non-zero.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{ENV_VARS, Settings};
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
    }
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
