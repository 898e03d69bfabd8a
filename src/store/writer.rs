//! The write path: group commit.
//!
//! A durable commit costs an fsync (SQLite `synchronous=FULL`, PostgreSQL synchronous
//! commit) and a step of the audit hash chain. Writes submitted while a commit is
//! under way are therefore run together in the next one: one transaction, each write
//! inside its own savepoint (a refused write rolls back alone), their audit events
//! appended in one chain step at the end, one commit. Every caller is answered only
//! after its group is durable.
//!
//! SQLite has one lane (it has one writer anyway): a thread of its own that owns the
//! write connection and runs each group's statements in place (`lane.rs`).
//! PostgreSQL has a few lanes that run groups side by side on pooled connections;
//! they meet only at the chain head, which each locks for its last statements and
//! commit. A group that fails as a whole (a full disk, a deadlock
//! PostgreSQL broke between two lanes, a lost connection) is run again one write per
//! transaction, so no write is blamed for another's failure.

use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::db::{self, Arg, Conn, Tx};
use super::{Backend, Store, StoreError, audit};
use crate::audit::AuditEvent;

/// What a write hands back to the group: its result, and the audit events to append
/// in the group's chain step (in this order, after the events of earlier writes).
#[derive(Debug)]
pub struct Staged<T> {
    /// The caller's answer, sent once the group has committed.
    pub value: T,
    /// Audit events for the chain.
    pub events: Vec<AuditEvent>,
}

impl<T> Staged<T> {
    /// A write's answer that records no audit event of its own (a step of a larger
    /// act that is audited elsewhere, or nothing changed).
    pub fn unaudited(value: T) -> Self {
        Self {
            value,
            events: Vec::new(),
        }
    }
}

/// Most writes one group takes: enough to amortise the fsync under load, few enough
/// that a group's first caller does not wait long for its last.
const GROUP: usize = 64;

/// A queued write, its concrete types erased so writes of every kind share a lane.
trait Job: Send + Sync {
    /// Runs the write on the group's connection. `Some(events)` keeps it; `None`
    /// means it failed and its changes must be rolled back (its error is kept for
    /// the answer).
    fn run<'c>(&'c self, conn: &'c mut Conn) -> BoxFuture<'c, Option<Vec<AuditEvent>>>;
    /// Answers the caller with the write's own result: its group has committed (or
    /// the write failed and was rolled back, which is its answer too).
    fn settle(&self);
    /// Answers the caller with a storage failure that prevented the commit.
    fn fail(&self, err: StoreError);
}

/// A write of result type `T` and error type `E`.
struct Task<T, E, F> {
    work: F,
    /// The last run's result, sent by `settle`.
    result: Mutex<Option<Result<T, E>>>,
    reply: Mutex<Option<oneshot::Sender<Result<T, E>>>>,
}

impl<T, E, F> Task<T, E, F>
where
    T: Send,
    E: From<StoreError> + Send,
{
    fn send(&self, answer: Result<T, E>) {
        if let Some(reply) = self.reply.lock().ok().and_then(|mut r| r.take()) {
            // The caller may have gone away; the write stands all the same.
            let _ = reply.send(answer);
        }
    }
}

impl<T, E, F> Job for Task<T, E, F>
where
    T: Send,
    E: From<StoreError> + Send,
    F: for<'c> Fn(&'c mut Conn) -> BoxFuture<'c, Result<Staged<T>, E>> + Send + Sync,
{
    fn run<'c>(&'c self, conn: &'c mut Conn) -> BoxFuture<'c, Option<Vec<AuditEvent>>> {
        Box::pin(async move {
            let (kept, result) = match (self.work)(conn).await {
                Ok(staged) => (Some(staged.events), Ok(staged.value)),
                Err(err) => (None, Err(err)),
            };
            if let Ok(mut slot) = self.result.lock() {
                *slot = Some(result);
            }
            kept
        })
    }

    fn settle(&self) {
        let result = self.result.lock().ok().and_then(|mut r| r.take());
        if let Some(result) = result {
            self.send(result);
        }
    }

    fn fail(&self, err: StoreError) {
        self.send(Err(E::from(err)));
    }
}

/// The queue into the write lanes.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
}

impl std::fmt::Debug for dyn Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

type Queue = Arc<tokio::sync::Mutex<mpsc::Receiver<Box<dyn Job>>>>;

impl Writer {
    /// Starts the lanes on `store` (a handle without a queue: lanes never send). On
    /// SQLite the one lane writes to `sqlite_file` through its own connection.
    pub(crate) fn start(store: &Store, sqlite_file: Option<String>) -> Self {
        let (queue, receiver) = mpsc::channel::<Box<dyn Job>>(4096);
        let receiver: Queue = Arc::new(tokio::sync::Mutex::new(receiver));
        match sqlite_file {
            Some(path) => {
                start_sqlite_lane(path, receiver);
                tokio::spawn(checkpoint(store.clone(), queue.downgrade()));
            }
            None => {
                // Lanes hold a pooled connection each while they run a group; leave
                // the rest of the pool to reads.
                for _ in 0..(store.max_connections() / 2).clamp(1, 4) {
                    tokio::spawn(supervise(store.clone(), Arc::clone(&receiver)));
                }
            }
        }
        Self { queue }
    }
}

/// The SQLite lane: a thread that owns the write connection and drives the lane's
/// future itself, so every statement of a group runs right there, without a hand-off
/// to another thread (timers and channels still come from the runtime). A write that
/// panics fails its own group; the lane starts again on a fresh connection.
fn start_sqlite_lane(path: String, receiver: Queue) {
    let runtime = tokio::runtime::Handle::current();
    let spawned = std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || {
            loop {
                let mut line = Line::Own {
                    path: path.clone(),
                    conn: None,
                };
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    runtime.block_on(lane(&mut line, Backend::Sqlite, &receiver));
                }));
                // Stopped for good once nobody can send (the store is gone); after a
                // panic, started again, not faster than ten times a second.
                let closed = receiver.try_lock().is_ok_and(|queue| queue.is_closed());
                if run.is_ok() || closed {
                    return;
                }
                tracing::error!("the SQLite write lane stopped; starting it again");
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
    if let Err(err) = spawned {
        // Without the thread no write is answered: every write reports the writer
        // stopped (503), which the readiness check shows at once.
        tracing::error!(error = %err, "cannot start the SQLite write lane");
    }
}

/// How often the WAL is checkpointed on SQLite.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Copies committed WAL pages back into the SQLite database twice a second, on a
/// reader connection and without waiting for readers or the writer (`PASSIVE`), for
/// as long as the store can still write. The write lane's commits never stop to
/// checkpoint (its connection has `wal_autocheckpoint = 0`); durability is the
/// WAL's fsync at every commit either way.
async fn checkpoint(store: Store, alive: mpsc::WeakSender<Box<dyn Job>>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if alive.upgrade().is_none() {
            return;
        }
        if let Err(err) = db::query("pragma wal_checkpoint(passive)")
            .execute(store.pool())
            .await
        {
            tracing::warn!(error = %err, "WAL checkpoint failed; the next one retries");
        }
    }
}

/// Runs a lane, and starts it again if a write panicked inside it (its group's
/// callers see the write task fail; the others are not affected).
async fn supervise(store: Store, receiver: Queue) {
    loop {
        let (store, receiver) = (store.clone(), Arc::clone(&receiver));
        let lane = tokio::spawn(async move {
            let backend = store.backend();
            lane(&mut Line::Pool(store), backend, &receiver).await;
        });
        match lane.await {
            Ok(()) => return,
            Err(err) => tracing::error!(error = %err, "a write lane stopped; starting it again"),
        }
    }
}

/// What a lane writes through.
enum Line {
    /// Transactions on the store's pool (PostgreSQL).
    Pool(Store),
    /// The lane's own SQLite connection, opened on first use and again after a
    /// failure left it unusable.
    Own { path: String, conn: Option<Conn> },
}

/// A lane's open transaction.
enum Begun<'l> {
    /// A pooled transaction.
    Tx(Tx),
    /// The lane's connection after `begin immediate`.
    Own(&'l mut Conn),
}

impl Line {
    async fn begin(&mut self) -> Result<Begun<'_>, StoreError> {
        match self {
            Self::Pool(store) => Ok(Begun::Tx(store.begin_raw_write().await?)),
            Self::Own { path, conn } => {
                roll_back_leftover(conn);
                let open = match conn.take() {
                    Some(open) => open,
                    None => Conn::Lane(super::lane::open(path, super::SQLITE_PRAGMAS)?),
                };
                let conn = conn.insert(open);
                db::query("begin immediate").execute(&mut *conn).await?;
                Ok(Begun::Own(conn))
            }
        }
    }
}

impl Line {
    /// Rolls back at once a lane transaction that an error left open half-way (as a
    /// dropped sqlx transaction is), so the write lock is not held until the next
    /// write arrives.
    fn close_open_transaction(&mut self) {
        if let Self::Own { conn, .. } = self {
            roll_back_leftover(conn);
        }
    }
}

/// Rolls back a transaction an error left open on the lane's connection (a COMMIT
/// that failed on a full disk, a statement that failed half-way); a connection that
/// cannot roll back is dropped, to be opened afresh.
fn roll_back_leftover(conn: &mut Option<Conn>) {
    if let Some(Conn::Lane(raw)) = conn {
        if !raw.is_autocommit() && raw.execute_batch("rollback").is_err() {
            *conn = None;
        }
    }
}

impl Begun<'_> {
    fn conn(&mut self) -> &mut Conn {
        match self {
            Self::Tx(tx) => tx,
            Self::Own(conn) => conn,
        }
    }

    async fn commit(self) -> Result<(), StoreError> {
        match self {
            Self::Tx(tx) => tx.commit().await?,
            Self::Own(conn) => {
                db::query("commit").execute(conn).await?;
            }
        }
        Ok(())
    }

    async fn rollback(self) -> Result<(), StoreError> {
        match self {
            Self::Tx(tx) => tx.rollback().await?,
            Self::Own(conn) => {
                db::query("rollback").execute(conn).await?;
            }
        }
        Ok(())
    }
}

/// Takes what is queued (at least one write, at most `GROUP`) and commits it as one
/// group, until every sender is gone.
async fn lane(line: &mut Line, backend: Backend, receiver: &Queue) {
    loop {
        let batch = {
            let mut queue = receiver.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < GROUP {
                match queue.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            batch
        };
        if batch.len() == 1 {
            commit_alone(line, backend, batch[0].as_ref()).await;
        } else {
            commit_batch(line, backend, &batch).await;
        }
        line.close_open_transaction();
    }
}

/// Commits a batch as one group. Most groups have no refused write: they run without
/// savepoints (two statements fewer per write). A refusal rolls the group back and it
/// runs again with a savepoint per write, so the work at most doubles; a group that
/// fails as a whole runs again one write per transaction.
async fn commit_batch(line: &mut Line, backend: Backend, batch: &[Box<dyn Job>]) {
    let done = match commit_group(line, backend, batch, Isolation::Optimistic).await {
        Ok(true) => true,
        Ok(false) => commit_group(line, backend, batch, Isolation::Savepoints)
            .await
            .is_ok_and(|done| done),
        Err(_) => false,
    };
    if !done {
        for job in batch {
            commit_alone(line, backend, job.as_ref()).await;
        }
    }
}

/// How the writes of a group are kept apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// No savepoints: the group gives up at the first refused write.
    Optimistic,
    /// A savepoint per write: a refused write is rolled back alone.
    Savepoints,
}

/// One write in its own transaction: the answer is its own result or error.
async fn commit_alone(line: &mut Line, backend: Backend, job: &dyn Job) {
    match try_alone(line, backend, job).await {
        Ok(()) => job.settle(),
        Err(err) => job.fail(err),
    }
}

async fn try_alone(line: &mut Line, backend: Backend, job: &dyn Job) -> Result<(), StoreError> {
    let mut tx = line.begin().await?;
    match job.run(tx.conn()).await {
        Some(events) => {
            if !events.is_empty() {
                audit::append_all(tx.conn(), backend, &events).await?;
            }
            tx.commit().await?;
        }
        // Nothing of a refused write stays.
        None => tx.rollback().await?,
    }
    Ok(())
}

/// Several writes in one transaction. Answers every caller once committed and
/// returns `Ok(true)`; `Ok(false)` when an optimistic group met a refused write
/// (rolled back, nobody answered); on a failure answers none (the lane runs them
/// again one by one).
async fn commit_group(
    line: &mut Line,
    backend: Backend,
    batch: &[Box<dyn Job>],
    isolation: Isolation,
) -> Result<bool, StoreError> {
    let mut tx = line.begin().await?;
    let mut events = Vec::new();
    for job in batch {
        if isolation == Isolation::Savepoints {
            db::query("savepoint job").execute(tx.conn()).await?;
        }
        match (job.run(tx.conn()).await, isolation) {
            (Some(staged), _) => events.extend(staged),
            (None, Isolation::Optimistic) => {
                tx.rollback().await?;
                return Ok(false);
            }
            (None, Isolation::Savepoints) => {
                db::query("rollback to savepoint job")
                    .execute(tx.conn())
                    .await?;
            }
        }
        if isolation == Isolation::Savepoints {
            db::query("release savepoint job")
                .execute(tx.conn())
                .await?;
        }
    }
    if !events.is_empty() {
        audit::append_all(tx.conn(), backend, &events).await?;
    }
    tx.commit().await?;
    for job in batch {
        job.settle();
    }
    Ok(true)
}

impl Store {
    /// Runs a write through the group-commit lanes and waits until it is durable.
    ///
    /// `work` runs inside a transaction it must not commit or roll back itself; it may
    /// be run a second time, on a fresh transaction, when its first group failed as a
    /// whole, so it must not consume its inputs. On `Ok` its changes and its audit
    /// events are committed before the answer; on `Err` nothing of it is kept.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> Fn(&'c mut Conn) -> BoxFuture<'c, Result<Staged<T>, E>> + Send + Sync + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let task = Task {
            work,
            result: Mutex::new(None),
            reply: Mutex::new(Some(reply)),
        };
        let stopped = || StoreError::TaskFailed("the writer has stopped".into());
        let Some(writes) = &self.writes else {
            return Err(E::from(stopped()));
        };
        if writes.queue.send(Box::new(task)).await.is_err() {
            return Err(E::from(stopped()));
        }
        answer.await.unwrap_or_else(|_| Err(E::from(stopped())))
    }
}

/// A write given its transaction and its input (see [`Store::write_with`]).
pub type WorkOn<I, T, E> = for<'c> fn(&'c mut Conn, &'c I) -> BoxFuture<'c, Result<Staged<T>, E>>;

impl Store {
    /// [`Store::write`] for work that reads what it writes from `input`, kept for a
    /// second run: `work` is a plain function (it captures nothing), given the
    /// transaction and the input.
    pub async fn write_with<I, T, E>(&self, input: I, work: WorkOn<I, T, E>) -> Result<T, E>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let input = std::sync::Arc::new(input);
        self.write(move |conn| {
            let input = std::sync::Arc::clone(&input);
            Box::pin(async move { work(conn, &input).await })
        })
        .await
    }
}

impl Store {
    /// Runs one statement (no audit event of its own) through the writer; returns
    /// how many rows it changed.
    pub(crate) async fn write_statement(
        &self,
        sql: String,
        values: Vec<Arg>,
    ) -> Result<u64, StoreError> {
        self.write(move |conn| {
            let (sql, values) = (sql.clone(), values.clone());
            Box::pin(async move {
                let mut query = db::query(&sql);
                for value in values {
                    query = query.bind(value);
                }
                let done = query.execute(&mut *conn).await?;
                Ok::<_, StoreError>(Staged {
                    value: done.rows_affected(),
                    events: Vec::new(),
                })
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    /// Every write of the service goes through the lanes: no module but this one
    /// opens a write transaction of its own (benchmarks' floors and bulk loaders,
    /// outside `src`, may).
    #[test]
    fn only_the_writer_opens_write_transactions() {
        fn visit(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("src is readable") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    visit(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("source is text");
                    if text.contains(".begin_raw_write()") {
                        found.push(path.display().to_string());
                    }
                }
            }
        }
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        visit(&src, &mut found);
        assert_eq!(
            found,
            [src.join("store/writer.rs").display().to_string()],
            "write transactions opened outside the writer"
        );
    }
}
