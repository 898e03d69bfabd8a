//! What the benchmark binaries share: a fresh database per backend, the real
//! `registry serve` process, peak-memory readings and the statistics quoted.
#![allow(dead_code, reason = "each bench binary uses a different part")]

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use registry::config::Settings;
use registry::crypto::KeyringHandle;
use registry::store::Store;
use sqlx::{Connection, Executor};

/// Whether the binary runs as a benchmark (`cargo bench`) or as a smoke test
/// (`cargo test --all-targets` runs bench binaries without `--bench`).
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// A number from the environment, or the default.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// The PostgreSQL server benchmarks create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("REGISTRY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh database and data directory for one measurement.
pub struct Db {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Data directory (key file, SQLite file).
    pub dir: tempfile::TempDir,
    /// Database URL.
    pub url: String,
    pg_name: Option<String>,
}

impl Db {
    /// A new empty database of `backend`.
    pub async fn new(backend: &'static str) -> Db {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (url, pg_name) = match backend {
            "postgres" => {
                let name = format!("registry_bench_{}", uuid::Uuid::new_v4().simple());
                let admin = postgres_admin_url();
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL at {admin} is unreachable: {e} (start it, or set REGISTRY_TEST_POSTGRES_URL)")
                });
                conn.execute(format!("create database {name}").as_str())
                    .await
                    .expect("create bench database");
                conn.close().await.ok();
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                (format!("{base}/{name}"), Some(name))
            }
            _ => (
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("registry.db").display()
                ),
                None,
            ),
        };
        Db {
            backend,
            dir,
            url,
            pg_name,
        }
    }

    /// The service's environment for this database.
    pub fn env(&self) -> BTreeMap<String, String> {
        [
            ("REGISTRY_DATA_DIR", self.dir.path().display().to_string()),
            ("REGISTRY_DATABASE_URL", self.url.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Settings as the service would resolve them.
    pub fn settings(&self) -> Settings {
        Settings::load(None, &self.env()).expect("settings")
    }

    /// Opens (and on first use creates) the store and keys, like `serve` does.
    pub async fn open(&self) -> (Store, Arc<KeyringHandle>) {
        let settings = self.settings();
        let store = registry::server::prepare_store(&settings)
            .await
            .expect("store");
        let keys = registry::server::prepare_keys(&settings, &store)
            .await
            .expect("keys");
        (store, keys)
    }

    /// Drops a PostgreSQL database (the SQLite file goes with the directory).
    pub async fn remove(self) {
        if let Some(name) = &self.pg_name {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                let _ = conn
                    .execute(format!("drop database if exists {name} with (force)").as_str())
                    .await;
            }
        }
    }
}

/// The real service as a separate process, so its memory is its own.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:port`.
    pub base: String,
}

impl Server {
    /// Starts `registry serve` on `db` and waits until it answers.
    pub async fn start(db: &Db) -> Server {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr").port()
        };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_registry"));
        for (name, _) in std::env::vars() {
            if name.starts_with("REGISTRY_") {
                cmd.env_remove(name);
            }
        }
        cmd.envs(db.env())
            .env("REGISTRY_LISTEN", format!("127.0.0.1:{port}"))
            .env("REGISTRY_LOG_FORMAT", "json")
            // A national freeze may take longer than the default 30 s request limit.
            .env("REGISTRY_REQUEST_TIMEOUT_SECS", "600")
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("registry serve starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "server did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Server { child, base }
    }

    /// Peak resident memory of the server so far, MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        status_kib(self.child.id(), "VmHWM") / 1024.0
    }

    /// Current resident memory, MiB.
    pub fn rss_mib(&self) -> f64 {
        status_kib(self.child.id(), "VmRSS") / 1024.0
    }

    /// SIGTERM, then wait for the graceful exit.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn status_kib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0.0)
}

/// Resets this process's peak-RSS mark (Linux `clear_refs` 5).
pub fn reset_own_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// This process's peak RSS since the last reset, MiB.
pub fn own_peak_rss_mib() -> f64 {
    status_kib(std::process::id(), "VmHWM") / 1024.0
}

/// The `p`-th percentile (0-100) of sorted values, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of several runs' figures.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Prints one result row for BENCHMARKS.md: `| what | median | runs | target |`.
pub fn row(what: &str, unit: &str, runs: &[f64], target: &str) {
    let spread = runs
        .iter()
        .map(|v| format_figure(*v))
        .collect::<Vec<_>>()
        .join(" / ");
    println!(
        "| {what} | **{} {unit}** | {spread} | {target} |",
        format_figure(median(runs))
    );
}

fn format_figure(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `met` / `MISSED` against a target, for the table.
pub fn verdict(ok: bool, target: &str) -> String {
    format!("{target}: {}", if ok { "met" } else { "MISSED" })
}
