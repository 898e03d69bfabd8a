//! The SQLite write lane's connection: `rusqlite`, called on the lane's own thread.
//!
//! sqlx's SQLite driver runs every statement on a worker thread of its own and hands
//! the statement and its rows across: two thread switches per statement, a dozen per
//! registration, on a machine with two cores. The write lane (writer.rs) instead
//! owns one `rusqlite` connection on a dedicated thread and runs each group's
//! statements there, in place; readers keep sqlx's pool. Both drivers link the same
//! SQLite library, and the store's statements are the same text on either.

use std::sync::Arc;

use rusqlite::types::{Value as Sql, ValueRef};

use super::db::Arg;

/// Settings of the lane's connection: those of every SQLite connection
/// (`store::SQLITE_PRAGMAS`), and no automatic checkpoint — the checkpointer does it
/// on a reader (writer.rs).
pub(crate) fn open(path: &str, pragmas: &str) -> Result<rusqlite::Connection, sqlx::Error> {
    let conn = rusqlite::Connection::open(path).map_err(error)?;
    conn.execute_batch(pragmas).map_err(error)?;
    conn.execute_batch("pragma wal_autocheckpoint = 0;")
        .map_err(error)?;
    // The statements of a registration, kept prepared.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// A row read on the lane: its values, owned, and the statement's column names.
#[derive(Debug, Clone)]
pub struct LaneRow {
    columns: Arc<[String]>,
    values: Vec<Sql>,
}

impl LaneRow {
    /// The value at a column position, decoded as `T`.
    pub(crate) fn get<T: rusqlite::types::FromSql>(
        &self,
        at: Option<usize>,
        name: &dyn std::fmt::Display,
    ) -> Result<T, sqlx::Error> {
        let Some(value) = at.and_then(|i| self.values.get(i)) else {
            return Err(sqlx::Error::ColumnNotFound(name.to_string()));
        };
        T::column_result(ValueRef::from(value)).map_err(|e| sqlx::Error::ColumnDecode {
            index: name.to_string(),
            source: Box::new(e),
        })
    }

    /// The column names.
    pub(crate) fn columns(&self) -> &[String] {
        &self.columns
    }
}

fn value(arg: Arg) -> Sql {
    match arg {
        Arg::Int(v) => v.map_or(Sql::Null, Sql::Integer),
        Arg::Real(v) => v.map_or(Sql::Null, Sql::Real),
        Arg::Bool(v) => v.map_or(Sql::Null, |b| Sql::Integer(i64::from(b))),
        Arg::Text(v) | Arg::Uuid(v) | Arg::Stamp(v) | Arg::Day(v) => v.map_or(Sql::Null, Sql::Text),
        Arg::Bytes(v) => v.map_or(Sql::Null, Sql::Blob),
    }
}

/// Runs a statement and reads at most `limit` rows (all of them with `None`). Every
/// row is stepped through even past the limit, so a statement that writes finishes.
pub(crate) fn run(
    conn: &rusqlite::Connection,
    sql: &str,
    args: Vec<Arg>,
    limit: Option<usize>,
) -> Result<(Vec<LaneRow>, u64), sqlx::Error> {
    let mut statement = conn.prepare_cached(sql).map_err(error)?;
    // Names only for rows that are read (not for the inserts of every write).
    let columns: Arc<[String]> = match limit {
        Some(0) => Arc::from([]),
        _ => statement
            .column_names()
            .iter()
            .map(|c| (*c).to_owned())
            .collect(),
    };
    let width = columns.len();
    bind(&mut statement, args)?;
    let mut rows = statement.raw_query();
    let mut read = Vec::new();
    while let Some(row) = rows.next().map_err(error)? {
        if limit.is_some_and(|limit| read.len() >= limit) {
            continue;
        }
        let values = (0..width)
            .map(|i| row.get::<_, Sql>(i))
            .collect::<Result<Vec<_>, _>>()
            .map_err(error)?;
        read.push(LaneRow {
            columns: Arc::clone(&columns),
            values,
        });
    }
    drop(rows);
    Ok((read, conn.changes()))
}

/// Binds `args[i]` to the statement's `$i+1`, as sqlx does: SQLite numbers `$n`
/// parameters in the order they first appear, so `$2` may be the first slot. The
/// slot of the same position is checked first (the usual case, without a search).
fn bind(statement: &mut rusqlite::Statement<'_>, args: Vec<Arg>) -> Result<(), sqlx::Error> {
    for (i, arg) in args.into_iter().enumerate() {
        let name = format!("${}", i + 1);
        let slot = match statement.parameter_name(i + 1) {
            Some(found) if found == name => i + 1,
            _ => statement
                .parameter_index(&name)
                .map_err(error)?
                .ok_or_else(|| sqlx::Error::Protocol(format!("the statement has no {name}")))?,
        };
        statement
            .raw_bind_parameter(slot, value(arg))
            .map_err(error)?;
    }
    Ok(())
}

/// A failure reported by SQLite, classified as sqlx classifies its own.
#[derive(Debug)]
struct Failure {
    code: i32,
    message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl sqlx::error::DatabaseError for Failure {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.code.to_string().into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        use rusqlite::ffi;
        use sqlx::error::ErrorKind;
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

/// A `rusqlite` error as the sqlx error the store classifies (`StoreError::from`):
/// SQLite's failures keep their extended code and message, so a full disk, a unique
/// rule or a lock reads the same from either driver.
pub(crate) fn error(err: rusqlite::Error) -> sqlx::Error {
    match err {
        rusqlite::Error::SqliteFailure(failure, message) => {
            sqlx::Error::Database(Box::new(Failure {
                code: failure.extended_code,
                message: message.unwrap_or_else(|| failure.to_string()),
            }))
        }
        rusqlite::Error::QueryReturnedNoRows => sqlx::Error::RowNotFound,
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> rusqlite::Connection {
        rusqlite::Connection::open_in_memory().expect("in-memory database")
    }

    /// `$n` is the n-th value whatever order the statement names them in, as on sqlx.
    #[test]
    fn parameters_bind_by_number_not_by_slot() {
        let conn = memory();
        let (rows, _) = run(
            &conn,
            "select $2 as second, $1 as first, $2 || '' as again",
            vec![Arg::Text(Some("one".into())), Arg::Int(Some(2))],
            None,
        )
        .expect("runs");
        let row = &rows[0];
        let at = |name: &str| row.columns().iter().position(|c| c == name);
        assert_eq!(row.get::<i64>(at("second"), &"second").expect("second"), 2);
        assert_eq!(
            row.get::<String>(at("first"), &"first").expect("first"),
            "one"
        );
        assert_eq!(
            row.get::<String>(at("again"), &"again").expect("again"),
            "2"
        );
    }

    /// A unique rule reads as sqlx reports it (the store tells its clients which
    /// rule, `StoreError::from`); a write reports how many rows it changed.
    #[test]
    fn failures_keep_their_kind_and_writes_their_count() {
        let conn = memory();
        conn.execute_batch("create table t (k text primary key, n integer)")
            .expect("table");
        let insert = |k: &str| {
            run(
                &conn,
                "insert into t (k, n) values ($1, $2)",
                vec![Arg::Text(Some(k.into())), Arg::Int(Some(1))],
                Some(0),
            )
        };
        assert_eq!(insert("a").expect("first").1, 1);
        let Err(sqlx::Error::Database(failure)) = insert("a") else {
            panic!("a second row with the same key is refused");
        };
        assert!(failure.is_unique_violation());
        assert_eq!(failure.message(), "UNIQUE constraint failed: t.k");
        let (_, changed) = run(
            &conn,
            "update t set n = 2 where k = $1",
            vec![Arg::Text(Some("z".into()))],
            Some(0),
        )
        .expect("update");
        assert_eq!(changed, 0);
    }
}
