//! Typed settings: an optional TOML file overlaid by `REGISTRY_*` environment variables.
//!
//! Every problem is reported as one line naming the setting, so an operator knows
//! exactly what to fix (STYLE: fail fast at start-up).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Default listen address: loopback only, so a pilot never exposes itself by accident.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "registry-data";

/// A bad or missing setting. The message names the setting and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("setting {setting}: {problem}")]
pub struct ConfigError {
    /// The environment variable or file key that is wrong.
    pub setting: String,
    /// What is wrong and what is expected.
    pub problem: String,
}

impl ConfigError {
    fn new(setting: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            problem: problem.into(),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Pretty,
    /// One JSON object per line, for a log collector.
    Json,
}

/// The resolved settings the service runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Directory holding the embedded SQLite database and the default key file.
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// Path of the key file (master and pseudonym keys); never inside the database.
    pub key_file: PathBuf,
    /// Largest number of pooled database connections.
    pub max_connections: u32,
    /// Longest time a request may take before it is answered with a timeout error.
    pub request_timeout: Duration,
    /// Longest time a client may take to send a request's headers; a slower
    /// connection is closed (a slow-headers client would otherwise hold it for ever).
    pub header_timeout: Duration,
    /// Reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed;
    /// from anyone else those headers are ignored and the socket address counts.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Largest accepted request body in bytes.
    pub body_limit_bytes: usize,
    /// Log output format.
    pub log_format: LogFormat,
    /// The rules aggregate outputs follow (snapshot versions, re-issue rule,
    /// cell-key profiles).
    pub output_rules: crate::export::Rules,
}

/// The TOML file's shape; every key optional, unknown keys refused (catches typos).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    key_file: Option<PathBuf>,
    max_connections: Option<u32>,
    request_timeout_secs: Option<u64>,
    header_timeout_secs: Option<u64>,
    trusted_proxies: Option<String>,
    body_limit_bytes: Option<usize>,
    log_format: Option<LogFormat>,
    snapshot_max_versions: Option<i64>,
    statutory_min_changed_rows: Option<i64>,
    ckm: Option<String>,
    ckm_deaths: Option<String>,
}

/// The environment variables this service reads, with what each sets.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("REGISTRY_CONFIG", "path of an optional TOML settings file"),
    (
        "REGISTRY_LISTEN",
        "listen address, host:port (default 127.0.0.1:8080)",
    ),
    (
        "REGISTRY_DATA_DIR",
        "data directory (default ./registry-data)",
    ),
    (
        "REGISTRY_DATABASE_URL",
        "sqlite://… or postgres://… (default: sqlite file in the data directory)",
    ),
    (
        "REGISTRY_KEY_FILE",
        "key file path (default: registry.keys in the data directory)",
    ),
    ("REGISTRY_MAX_CONNECTIONS", "database pool size (default 8)"),
    (
        "REGISTRY_REQUEST_TIMEOUT_SECS",
        "per-request time limit in seconds (default 30)",
    ),
    (
        "REGISTRY_HEADER_TIMEOUT_SECS",
        "time a client has to send a request's headers, 1-120 seconds (default 10)",
    ),
    (
        "REGISTRY_TRUSTED_PROXIES",
        "comma-separated IP addresses of reverse proxies whose X-Forwarded-For/-Proto are used (default none)",
    ),
    (
        "REGISTRY_BODY_LIMIT_BYTES",
        "largest request body in bytes (default 1048576)",
    ),
    ("REGISTRY_LOG_FORMAT", "pretty or json (default pretty)"),
    (
        "REGISTRY_SNAPSHOT_MAX_VERSIONS",
        "snapshot versions a data year may have, 1-10 (default 3)",
    ),
    (
        "REGISTRY_STATUTORY_MIN_CHANGED_ROWS",
        "person rows that must change before a newer version is released statutorily (default 10)",
    ),
    (
        "REGISTRY_CKM",
        "cell-key profile ckm as D,V,js; at least 3,2,2 (default 3,2,2)",
    ),
    (
        "REGISTRY_CKM_DEATHS",
        "cell-key profile ckm-deaths as D,V,js; at least 4,3,4 (default 4,3,4)",
    ),
    (
        "REGISTRY_LOG",
        "log filter, e.g. info or registry=debug (default info)",
    ),
];

impl Settings {
    /// Loads settings from the process environment and the optional file it names.
    pub fn from_env(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("REGISTRY_"))
            .collect();
        Self::load(config_file, &env)
    }

    /// Loads settings from an optional file and a map of `REGISTRY_*` variables.
    ///
    /// Precedence: environment over file over defaults.
    pub fn load(
        config_file: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        reject_unknown_env(env)?;
        let file_path = config_file
            .map(Path::to_path_buf)
            .or_else(|| env.get("REGISTRY_CONFIG").map(PathBuf::from));
        let file = match &file_path {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };

        let listen_text = env
            .get("REGISTRY_LISTEN")
            .cloned()
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text.parse::<SocketAddr>().map_err(|_| {
            ConfigError::new(
                "REGISTRY_LISTEN",
                format!("{listen_text:?} is not a socket address; expected host:port such as 127.0.0.1:8080"),
            )
        })?;

        let data_dir = env
            .get("REGISTRY_DATA_DIR")
            .map(PathBuf::from)
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        if data_dir.as_os_str().is_empty() {
            return Err(ConfigError::new("REGISTRY_DATA_DIR", "must not be empty"));
        }

        let database_url = env
            .get("REGISTRY_DATABASE_URL")
            .cloned()
            .or(file.database_url)
            .unwrap_or_else(|| default_sqlite_url(&data_dir));
        check_database_url(&database_url)?;

        let key_file = env
            .get("REGISTRY_KEY_FILE")
            .map(PathBuf::from)
            .or(file.key_file)
            .unwrap_or_else(|| data_dir.join("registry.keys"));

        let max_connections = number(env, "REGISTRY_MAX_CONNECTIONS", file.max_connections, 8)?;
        if max_connections == 0 {
            return Err(ConfigError::new(
                "REGISTRY_MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }
        let timeout_secs = number(
            env,
            "REGISTRY_REQUEST_TIMEOUT_SECS",
            file.request_timeout_secs,
            30,
        )?;
        if !(1..=3600).contains(&timeout_secs) {
            return Err(ConfigError::new(
                "REGISTRY_REQUEST_TIMEOUT_SECS",
                "must be between 1 and 3600 seconds",
            ));
        }
        let header_timeout_secs = number(
            env,
            "REGISTRY_HEADER_TIMEOUT_SECS",
            file.header_timeout_secs,
            10,
        )?;
        if !(1..=120).contains(&header_timeout_secs) {
            return Err(ConfigError::new(
                "REGISTRY_HEADER_TIMEOUT_SECS",
                "must be between 1 and 120 seconds",
            ));
        }
        let trusted_proxies = env
            .get("REGISTRY_TRUSTED_PROXIES")
            .or(file.trusted_proxies.as_ref())
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(|a| {
                        a.parse().map_err(|_| {
                            ConfigError::new(
                                "REGISTRY_TRUSTED_PROXIES",
                                "must be IP addresses separated by commas, e.g. 10.0.0.5,::1",
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let body_limit_bytes = number(
            env,
            "REGISTRY_BODY_LIMIT_BYTES",
            file.body_limit_bytes,
            1024 * 1024,
        )?;
        if !(1024..=256 * 1024 * 1024).contains(&body_limit_bytes) {
            return Err(ConfigError::new(
                "REGISTRY_BODY_LIMIT_BYTES",
                "must be between 1024 and 268435456 bytes",
            ));
        }
        let log_format = match env.get("REGISTRY_LOG_FORMAT").map(String::as_str) {
            Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "REGISTRY_LOG_FORMAT",
                    format!("{other:?} is not a log format; expected pretty or json"),
                ));
            }
            None => file.log_format.unwrap_or(LogFormat::Pretty),
        };

        Ok(Self {
            listen,
            data_dir,
            database_url,
            key_file,
            max_connections,
            request_timeout: Duration::from_secs(timeout_secs),
            header_timeout: Duration::from_secs(header_timeout_secs),
            trusted_proxies,
            body_limit_bytes,
            log_format,
            output_rules: output_rules(
                env,
                (file.snapshot_max_versions, file.statutory_min_changed_rows),
                (file.ckm.as_ref(), file.ckm_deaths.as_ref()),
            )?,
        })
    }

    /// Whether the database is the embedded SQLite file.
    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

/// The output rules; configuration may make them stronger than the defaults, never weaker.
fn output_rules(
    env: &BTreeMap<String, String>,
    (file_versions, file_min_changed): (Option<i64>, Option<i64>),
    (file_ckm, file_ckm_deaths): (Option<&String>, Option<&String>),
) -> Result<crate::export::Rules, ConfigError> {
    let defaults = crate::export::Rules::default();
    let max_versions = number(
        env,
        "REGISTRY_SNAPSHOT_MAX_VERSIONS",
        file_versions,
        defaults.max_versions,
    )?;
    if !(1..=10).contains(&max_versions) {
        return Err(ConfigError::new(
            "REGISTRY_SNAPSHOT_MAX_VERSIONS",
            "must be between 1 and 10",
        ));
    }
    let min_changed = number(
        env,
        "REGISTRY_STATUTORY_MIN_CHANGED_ROWS",
        file_min_changed,
        defaults.statutory_min_changed,
    )?;
    if !(1..=100_000).contains(&min_changed) {
        return Err(ConfigError::new(
            "REGISTRY_STATUTORY_MIN_CHANGED_ROWS",
            "must be between 1 and 100000",
        ));
    }
    let profile = |name: &str, text: Option<&String>, floor: crate::export::ptable::Params| {
        let Some(text) = text else {
            return Ok(floor);
        };
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        let parsed = match parts.as_slice() {
            [d, v, js] => d
                .parse::<u32>()
                .ok()
                .zip(v.parse::<f64>().ok())
                .zip(js.parse::<u32>().ok())
                .map(|((d, v), js)| crate::export::ptable::Params { d, v, js }),
            _ => None,
        };
        let params = parsed
            .ok_or_else(|| ConfigError::new(name, "must be three numbers D,V,js such as 3,2,2"))?;
        if params.d < floor.d || params.v < floor.v || params.js < floor.js {
            return Err(ConfigError::new(
                name,
                format!(
                    "must be at least {},{},{}: configuration may strengthen the profile, not weaken it",
                    floor.d, floor.v, floor.js
                ),
            ));
        }
        crate::export::ptable::PTable::new(params).map_err(|e| ConfigError::new(name, e))?;
        Ok(params)
    };
    Ok(crate::export::Rules {
        max_versions,
        statutory_min_changed: min_changed,
        ckm: profile(
            "REGISTRY_CKM",
            env.get("REGISTRY_CKM").or(file_ckm),
            defaults.ckm,
        )?,
        ckm_deaths: profile(
            "REGISTRY_CKM_DEATHS",
            env.get("REGISTRY_CKM_DEATHS").or(file_ckm_deaths),
            defaults.ckm_deaths,
        )?,
    })
}

/// The default database: a SQLite file in the data directory, created on first run.
fn default_sqlite_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("registry.db").display()
    )
}

fn check_database_url(url: &str) -> Result<(), ConfigError> {
    let known = ["sqlite:", "postgres://", "postgresql://"];
    if known.iter().any(|prefix| url.starts_with(prefix)) {
        Ok(())
    } else {
        // The URL may hold a password, so it is not echoed.
        Err(ConfigError::new(
            "REGISTRY_DATABASE_URL",
            "must start with sqlite:, postgres:// or postgresql://",
        ))
    }
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            "REGISTRY_CONFIG",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    toml::from_str(&text).map_err(|e| {
        let detail = e.message().to_owned();
        let position = e
            .span()
            .map(|span| {
                let line = text[..span.start].matches('\n').count() + 1;
                format!(" (line {line})")
            })
            .unwrap_or_default();
        ConfigError::new(
            format!("config file {}", path.display()),
            format!("{detail}{position}"),
        )
    })
}

fn number<T: std::str::FromStr>(
    env: &BTreeMap<String, String>,
    name: &str,
    from_file: Option<T>,
    default: T,
) -> Result<T, ConfigError> {
    match env.get(name) {
        Some(text) => text.trim().parse().map_err(|_| {
            ConfigError::new(name, format!("{text:?} is not a whole non-negative number"))
        }),
        None => Ok(from_file.unwrap_or(default)),
    }
}

/// A misspelt variable would otherwise be ignored silently and the default used.
fn reject_unknown_env(env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    for name in env.keys() {
        // Test harness variables belong to the test suite, not to the service.
        if name.starts_with("REGISTRY_TEST_") {
            continue;
        }
        if !ENV_VARS.iter().any(|(known, _)| known == name) {
            let known: Vec<&str> = ENV_VARS.iter().map(|(n, _)| *n).collect();
            return Err(ConfigError::new(
                name.clone(),
                format!("unknown variable; known ones are {}", known.join(", ")),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_use_sqlite_in_data_dir_and_loopback() {
        let s = Settings::load(None, &env(&[])).expect("defaults are valid");
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert!(s.is_sqlite());
        assert!(s.database_url.contains("registry-data"));
        assert_eq!(s.key_file, PathBuf::from("registry-data/registry.keys"));
    }

    #[test]
    fn bad_listen_names_the_setting() {
        let err = Settings::load(None, &env(&[("REGISTRY_LISTEN", "nowhere")])).unwrap_err();
        assert_eq!(err.setting, "REGISTRY_LISTEN");
        assert!(err.to_string().contains("host:port"));
    }

    #[test]
    fn misspelt_variable_is_refused() {
        let err = Settings::load(None, &env(&[("REGISTRY_LISTN", "x")])).unwrap_err();
        assert_eq!(err.setting, "REGISTRY_LISTN");
    }

    #[test]
    fn database_url_scheme_is_checked_without_echoing_it() {
        let err = Settings::load(
            None,
            &env(&[("REGISTRY_DATABASE_URL", "mysql://u:secret@h/db")]),
        )
        .unwrap_err();
        assert_eq!(err.setting, "REGISTRY_DATABASE_URL");
        assert!(!err.to_string().contains("secret"));
    }

    #[test]
    fn file_values_apply_and_env_overrides_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("registry.toml");
        std::fs::write(&path, "listen = \"0.0.0.0:9000\"\nmax_connections = 3\n").expect("write");
        let s = Settings::load(Some(&path), &env(&[])).expect("valid file");
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.max_connections, 3);
        let s =
            Settings::load(Some(&path), &env(&[("REGISTRY_MAX_CONNECTIONS", "5")])).expect("valid");
        assert_eq!(s.max_connections, 5);
    }

    #[test]
    fn unknown_file_key_is_refused_with_its_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("registry.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\nlisten_adress = 1\n").expect("write");
        let err = Settings::load(Some(&path), &env(&[])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("listen_adress"), "{text}");
        assert!(text.contains("line 2"), "{text}");
    }

    #[test]
    fn non_numeric_pool_size_is_refused() {
        let err = Settings::load(None, &env(&[("REGISTRY_MAX_CONNECTIONS", "many")])).unwrap_err();
        assert_eq!(err.setting, "REGISTRY_MAX_CONNECTIONS");
    }
}
