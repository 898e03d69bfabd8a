//! All SQL lives here. One `Store` wraps a connection pool to either the embedded
//! SQLite file or PostgreSQL; query texts use `$n` placeholders, which both accept.

pub mod audit;
pub mod db;
pub mod deaths;
pub mod episodes;
pub mod exports;
pub mod lane;
pub mod linkage;
pub mod reference;
pub mod refs;
pub mod seeds;
pub mod snapshots;
pub mod subjects;
pub mod users;
pub mod writer;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Connection, Executor};

use db::{Conn, Pool, Tx};

/// Which database engine a `Store` talks to (DDL and a few statements differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded single-file default.
    Sqlite,
    /// The production store.
    Postgres,
}

impl Backend {
    /// Detects the backend from a database URL.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::Config(
                "database URL must start with sqlite:, postgres:// or postgresql://".into(),
            ))
        }
    }
}

/// A storage failure, classified so the HTTP layer can answer 503 or 409 correctly.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached right now; the request may be retried.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A uniqueness rule refused the row.
    #[error("conflict on {0:?}")]
    Conflict(Unique),
    /// The disk (or the database's quota) is full: nothing was written; the request
    /// may succeed once space is freed.
    #[error("storage full: {0}")]
    StorageFull(#[source] sqlx::Error),
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A bad database setting.
    #[error("{0}")]
    Config(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Reference data in `seeds/` is malformed.
    #[error("seed file {file}: {problem}")]
    Seed {
        /// The seed file name.
        file: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A detached write task could not finish (it panicked or the runtime stopped).
    #[error("write task failed: {0}")]
    TaskFailed(String),
    /// A record names its person with a reference no available key made (a key
    /// file that lacks a version still in use, or a tampered row).
    #[error("a record's person reference does not decode with the key file")]
    Unresolvable,
    /// Any other database error (an internal fault; details are logged, not returned).
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(err),
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Self::Conflict(Unique::of(db.as_ref()))
            }
            // SQLite: SQLITE_FULL (13); PostgreSQL: 53100 disk_full.
            sqlx::Error::Database(db) if db.code().is_some_and(|c| c == "13" || c == "53100") => {
                Self::StorageFull(err)
            }
            // PostgreSQL: 57P01 admin shutdown, 57P03 cannot connect now, 08xxx
            // connection, 40P01 a deadlock broken by aborting this transaction (nothing
            // was written; a retry succeeds).
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| {
                    c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P03" | "40P01")
                }) =>
            {
                Self::Unavailable(err)
            }
            _ => Self::Database(err),
        }
    }
}

/// Which uniqueness rule a refused row broke. Clients get a code and message per
/// rule (`http::error`), never the constraint's name, which would tell them about
/// other people's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    /// A subject with this personal-number pseudonym exists.
    PersonalNumber,
    /// This user already sent a registration with this idempotency key.
    IdempotencyKey,
    /// A user with this name exists.
    Username,
    /// The snapshot version of a year exists.
    SnapshotVersion,
    /// A facility with this code exists.
    FacilityCode,
    /// Any other rule (random ids colliding, reference data).
    Other,
}

impl Unique {
    /// PostgreSQL names the constraint; SQLite names the columns in its message
    /// (`UNIQUE constraint failed: subject.pn_pseudonym`).
    fn of(db: &dyn sqlx::error::DatabaseError) -> Self {
        let columns = db
            .message()
            .strip_prefix("UNIQUE constraint failed: ")
            .unwrap_or_default();
        match (db.constraint().unwrap_or_default(), columns) {
            ("subject_pn_pseudonym_key", _) | (_, "subject.pn_pseudonym") => Self::PersonalNumber,
            ("episode_idempotency", _) | (_, "episode.created_by, episode.idempotency_key") => {
                Self::IdempotencyKey
            }
            ("app_user_username_key", _) | (_, "app_user.username") => Self::Username,
            ("stat_snapshot_year_version_key", _)
            | (_, "stat_snapshot.year, stat_snapshot.version") => Self::SnapshotVersion,
            ("facility_pkey", _) | (_, "facility.code") => Self::FacilityCode,
            _ => Self::Other,
        }
    }
}

/// The connection pool and the backend it talks to.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    backend: Backend,
    /// Writes that go through the group-commit lanes (`writer`).
    writes: Option<writer::Writer>,
    /// Municipality slugs, fixed reference data read on every write request.
    slugs: std::sync::Arc<tokio::sync::OnceCell<Vec<String>>>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Every SQLite connection's settings. WAL: readers never block the writer. FULL:
/// the WAL is synced at every commit, so an acknowledged write survives power loss
/// (NORMAL could lose the last commits).
pub(crate) const SQLITE_PRAGMAS: &str = "pragma journal_mode = wal; pragma foreign_keys = on; \
     pragma busy_timeout = 5000; pragma synchronous = full;";

impl Store {
    /// Opens a pool. For SQLite the file (and its directory) is created on first use;
    /// every connection runs in WAL mode with foreign keys on and a busy timeout.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let backend = Backend::from_url(url)?;
        let invalid =
            |e: sqlx::Error| StoreError::Config(format!("database URL is not valid: {e}"));
        let (pool, sqlite_file) = match backend {
            Backend::Sqlite => {
                ensure_sqlite_dir(url)?;
                let options = SqliteConnectOptions::from_str(url).map_err(invalid)?;
                // SQLite allows one writer at a time: the write lane's own connection
                // (writer.rs) is it; this pool reads.
                let file = options.get_filename().display().to_string();
                let pool = SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    // Fail fast when the database is down so clients get a 503 promptly.
                    .acquire_timeout(Duration::from_secs(3))
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute(SQLITE_PRAGMAS).await?;
                            Ok(())
                        })
                    })
                    .before_acquire(|conn, _meta| Box::pin(async move { Ok(clean(conn)) }))
                    .connect_with(options)
                    .await?;
                (Pool::Sqlite(pool), Some(file))
            }
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(url).map_err(invalid)?;
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(3))
                    .before_acquire(|conn, _meta| Box::pin(async move { Ok(clean(conn)) }))
                    .connect_with(options)
                    .await?;
                (Pool::Postgres(pool), None)
            }
        };
        let mut store = Self {
            pool,
            backend,
            writes: None,
            slugs: std::sync::Arc::default(),
        };
        // The lanes hold a handle without a queue, so they stop when every store
        // handle that can send to them has been dropped.
        store.writes = Some(writer::Writer::start(&store, sqlite_file));
        Ok(store)
    }

    /// Applies every pending migration for this backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Checks that the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        db::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Checks the write path end to end: the readiness row goes through the same
    /// group-commit lanes as the requests' writes (on SQLite the write lock), so a
    /// full disk, a stuck lane or a held lock shows here and not only on the next
    /// registration.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        self.write_statement(
            "insert into readiness (id, checked_at) values (1, $1) \
             on conflict (id) do update set checked_at = excluded.checked_at"
                .into(),
            vec![db::stamp(&now_rfc3339())],
        )
        .await?;
        Ok(())
    }

    /// Begins a transaction that will write, outside the writer's groups. Only the
    /// writer's lanes (`writer.rs`) use it in the service, so that every write is
    /// grouped, audited and durable the same way (a test keeps it so); benchmark
    /// floors and bulk loaders use it directly. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`), so a read-then-write transaction never fails with
    /// "database is locked" half-way.
    pub async fn begin_raw_write(&self) -> Result<Tx, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin(Some("begin immediate")).await?,
            Backend::Postgres => self.pool.begin(None).await?,
        })
    }

    /// A pooled connection for a sequence of reads.
    pub async fn connection(&self) -> Result<Conn, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// Size of the connection pool.
    pub fn max_connections(&self) -> u32 {
        self.pool.max_connections()
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The underlying pool (for the store's own modules).
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Closes every pooled connection (used on shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Makes transactions that use the same keys run one after another, until commit or
/// rollback: PostgreSQL advisory transaction locks, taken in sorted order so two
/// transactions never wait for each other. Linkage locks the person's pseudonyms so
/// that concurrent registrations of one person — through any number of service
/// instances — see each other's subject, while different people never wait. SQLite
/// needs nothing: its write transactions already run one at a time.
pub(crate) async fn lock_keys(
    conn: &mut Conn,
    keys: impl IntoIterator<Item = LockKey>,
) -> Result<(), StoreError> {
    if !conn.is_postgres() {
        return Ok(());
    }
    let mut keys: Vec<i64> = keys.into_iter().map(|k| k.0).collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Ok(());
    }
    // One round trip: PostgreSQL evaluates a select list left to right.
    let calls: Vec<String> = (1..=keys.len())
        .map(|n| format!("pg_advisory_xact_lock(${n})"))
        .collect();
    let sql = format!("select {}", calls.join(", "));
    let mut query = db::query(&sql);
    for key in keys {
        query = query.bind(key);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// `" for update"` on PostgreSQL, nothing on SQLite (whose write transactions run
/// one at a time anyway): appended to a select whose rows the transaction rewrites.
pub(crate) fn for_update(conn: &Conn) -> &'static str {
    if conn.is_postgres() {
        " for update"
    } else {
        ""
    }
}

/// A connection whose COMMIT or ROLLBACK failed (a full disk: SQLite has already
/// rolled back, so sqlx's own ROLLBACK fails too) still counts as inside a
/// transaction and would refuse every later BEGIN. The pool closes it and opens a
/// fresh one.
fn clean(conn: &mut impl Connection) -> bool {
    let clean = !conn.is_in_transaction();
    if !clean {
        tracing::warn!("discarding a database connection left inside a failed transaction");
    }
    clean
}

/// A 64-bit advisory-lock key: the first bytes of SHA-256 over the parts, so keys of
/// different kinds (pseudonyms, idempotency keys) do not collide in practice and
/// nothing about the value can be read from the lock table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LockKey(i64);

impl LockKey {
    /// The key of a value, tagged with what kind of value it is.
    pub(crate) fn of(kind: &str, parts: &[&[u8]]) -> Self {
        let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
        hash.update(kind.as_bytes());
        for part in parts {
            hash.update(&(part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        let digest = hash.finish();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest.as_ref()[..8]);
        Self(i64::from_be_bytes(first))
    }
}

/// Creates the directory and file of a `sqlite://path` URL, private to the owner, so
/// first start needs no set-up.
fn ensure_sqlite_dir(url: &str) -> Result<(), StoreError> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    let path = std::path::Path::new(path);
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            crate::files::create_private_dir_all(dir).map_err(|e| {
                StoreError::Config(format!(
                    "cannot create data directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
    }
    if url.contains("mode=ro") {
        return Ok(());
    }
    crate::files::create_private_file(path).map_err(|e| {
        StoreError::Config(format!(
            "cannot create the database file {}: {e}",
            path.display()
        ))
    })
}

/// Runs a write in its own task: axum drops a handler's future when the client goes
/// away, and a transaction dropped half-way can leave a pooled connection inside it.
/// Every request path that writes goes through here.
pub async fn detached<T, E>(
    work: impl std::future::Future<Output = Result<T, E>> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    tokio::spawn(work)
        .await
        .unwrap_or_else(|e| Err(StoreError::TaskFailed(e.to_string()).into()))
}

/// The current UTC time as RFC 3339 text, the format every timestamp column uses.
pub use crate::clock::now_rfc3339;
