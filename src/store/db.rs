//! The store's view of the database: the native sqlx drivers for SQLite and
//! PostgreSQL behind one small query API, so each statement is written once.
//!
//! sqlx's `Any` driver did this before, at the price of copying every row into its
//! own value type (1.2-1.6× the decode time) and of one lowest-common type system.
//! Here a query is sent by the backend's own driver and its rows are decoded by it:
//! a value is read with the backend's native type (a PostgreSQL `boolean` as a
//! boolean, SQLite's `0/1` as a boolean too), and a type mismatch is an error.
//!
//! `query`, `query_scalar` and `query_as` mirror sqlx's functions of the same names;
//! the executor is a [`Pool`], a pooled [`Conn`] or a write transaction ([`Tx`]).

use std::marker::PhantomData;

use futures_util::stream::{BoxStream, StreamExt};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Database, PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool};

/// A connection pool of one backend.
#[derive(Debug, Clone)]
pub enum Pool {
    /// The embedded file.
    Sqlite(SqlitePool),
    /// A PostgreSQL server.
    Postgres(PgPool),
}

impl Pool {
    /// A pooled connection.
    pub async fn acquire(&self) -> Result<Conn, sqlx::Error> {
        Ok(match self {
            Self::Sqlite(pool) => Conn::Sqlite(Held::Pooled(pool.acquire().await?)),
            Self::Postgres(pool) => Conn::Postgres(Held::Pooled(pool.acquire().await?)),
        })
    }

    /// A transaction opened with `statement` (SQLite: `begin immediate` takes the
    /// write lock at once) or the backend's plain `begin` when `None`.
    pub async fn begin(&self, statement: Option<&'static str>) -> Result<Tx, sqlx::Error> {
        let conn = match (self, statement) {
            (Self::Sqlite(pool), Some(begin)) => {
                Conn::Sqlite(Held::Tx(pool.begin_with(begin).await?))
            }
            (Self::Sqlite(pool), None) => Conn::Sqlite(Held::Tx(pool.begin().await?)),
            (Self::Postgres(pool), Some(begin)) => {
                Conn::Postgres(Held::Tx(pool.begin_with(begin).await?))
            }
            (Self::Postgres(pool), None) => Conn::Postgres(Held::Tx(pool.begin().await?)),
        };
        Ok(Tx(conn))
    }

    /// The pool's size.
    pub fn max_connections(&self) -> u32 {
        match self {
            Self::Sqlite(pool) => pool.options().get_max_connections(),
            Self::Postgres(pool) => pool.options().get_max_connections(),
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

/// A connection taken from a pool, alone or inside a transaction.
#[derive(Debug)]
pub enum Held<DB: Database> {
    /// A connection for reads.
    Pooled(PoolConnection<DB>),
    /// A connection inside a transaction (rolled back if dropped uncommitted).
    Tx(sqlx::Transaction<'static, DB>),
}

impl<DB: Database> std::ops::Deref for Held<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &Self::Target {
        match self {
            Self::Pooled(conn) => conn,
            Self::Tx(tx) => tx,
        }
    }
}

impl<DB: Database> std::ops::DerefMut for Held<DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            Self::Pooled(conn) => conn,
            Self::Tx(tx) => tx,
        }
    }
}

/// A connection of one backend: what the store's functions and the writer's jobs
/// run their statements on.
#[derive(Debug)]
pub enum Conn {
    /// SQLite.
    Sqlite(Held<Sqlite>),
    /// PostgreSQL.
    Postgres(Held<Postgres>),
    /// The SQLite write lane's own connection, used on its thread (`lane.rs`).
    Lane(rusqlite::Connection),
}

impl Conn {
    /// Whether this is PostgreSQL, whose row and advisory locks SQLite has no use for.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

/// A write transaction: a [`Conn`] (through `Deref`) that must be committed.
#[derive(Debug)]
pub struct Tx(Conn);

impl Tx {
    /// Commits.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.0 {
            Conn::Sqlite(Held::Tx(tx)) => tx.commit().await,
            Conn::Postgres(Held::Tx(tx)) => tx.commit().await,
            // `Pool::begin` is the only maker of a `Tx`, always around a transaction.
            Conn::Sqlite(Held::Pooled(_)) | Conn::Postgres(Held::Pooled(_)) | Conn::Lane(_) => {
                Ok(())
            }
        }
    }

    /// Rolls back.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.0 {
            Conn::Sqlite(Held::Tx(tx)) => tx.rollback().await,
            Conn::Postgres(Held::Tx(tx)) => tx.rollback().await,
            Conn::Sqlite(Held::Pooled(_)) | Conn::Postgres(Held::Pooled(_)) | Conn::Lane(_) => {
                Ok(())
            }
        }
    }
}

impl std::ops::Deref for Tx {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        &self.0
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.0
    }
}

/// Where a statement runs.
pub enum Target<'e> {
    /// Any connection of a SQLite pool.
    SqlitePool(&'e SqlitePool),
    /// Any connection of a PostgreSQL pool.
    PostgresPool(&'e PgPool),
    /// One SQLite connection.
    Sqlite(&'e mut SqliteConnection),
    /// One PostgreSQL connection.
    Postgres(&'e mut PgConnection),
    /// The SQLite write lane's connection.
    Lane(&'e mut rusqlite::Connection),
}

/// What a statement can run on: a pool or a connection.
pub trait Executor<'e> {
    /// The backend's own executor.
    fn target(self) -> Target<'e>;
}

impl<'e> Executor<'e> for &'e Pool {
    fn target(self) -> Target<'e> {
        match self {
            Pool::Sqlite(pool) => Target::SqlitePool(pool),
            Pool::Postgres(pool) => Target::PostgresPool(pool),
        }
    }
}

impl<'e> Executor<'e> for &'e mut Conn {
    fn target(self) -> Target<'e> {
        match self {
            Conn::Sqlite(conn) => Target::Sqlite(conn),
            Conn::Postgres(conn) => Target::Postgres(conn),
            Conn::Lane(conn) => Target::Lane(conn),
        }
    }
}

/// A value bound to a statement, owned so a query does not borrow its inputs.
#[derive(Debug, Clone)]
pub enum Arg {
    /// An integer.
    Int(Option<i64>),
    /// A real number.
    Real(Option<f64>),
    /// A boolean (PostgreSQL `boolean`, SQLite `0/1`).
    Bool(Option<bool>),
    /// Text.
    Text(Option<String>),
    /// Bytes.
    Bytes(Option<Vec<u8>>),
    /// A public identifier, hyphenated UUID text ([`uuid()`]).
    Uuid(Option<String>),
    /// A moment, RFC 3339 text ([`stamp`]).
    Stamp(Option<String>),
    /// A calendar day, `YYYY-MM-DD` ([`day`]).
    Day(Option<String>),
}

/// Binds a public identifier: PostgreSQL `uuid`, SQLite text. Text that is not a
/// UUID binds as NULL, which equals no row: an id from a URL that is not a UUID is
/// simply not found, and no column that needs one accepts it.
pub fn uuid(text: &str) -> Arg {
    Arg::Uuid(Some(text.to_owned()))
}

/// Binds a moment given as RFC 3339 text: PostgreSQL `timestamptz`, SQLite text
/// (which sorts in time order). Not RFC 3339: NULL, as for [`uuid()`].
pub fn stamp(text: &str) -> Arg {
    Arg::Stamp(Some(text.to_owned()))
}

/// [`uuid()`] of an optional identifier.
pub fn opt_uuid(text: Option<&str>) -> Arg {
    Arg::Uuid(text.map(str::to_owned))
}

/// [`stamp`] of an optional moment.
pub fn opt_stamp(text: Option<&str>) -> Arg {
    Arg::Stamp(text.map(str::to_owned))
}

/// Binds a calendar day given as `YYYY-MM-DD`: PostgreSQL `date`, SQLite text.
pub fn day(text: &str) -> Arg {
    Arg::Day(Some(text.to_owned()))
}

/// A Rust value that can be bound.
pub trait Bind {
    /// The bound value.
    fn arg(self) -> Arg;
}

macro_rules! bind_as {
    ($variant:ident: $($ty:ty => $conv:expr),* $(,)?) => {$(
        impl Bind for $ty {
            fn arg(self) -> Arg {
                Arg::$variant(Some($conv(self)))
            }
        }
        impl Bind for Option<$ty> {
            fn arg(self) -> Arg {
                Arg::$variant(self.map($conv))
            }
        }
    )*};
}

/// The same for a reference to an owned value, or to an optional one.
macro_rules! bind_ref {
    ($($ty:ty),*) => {$(
        impl Bind for &$ty {
            fn arg(self) -> Arg {
                self.clone().arg()
            }
        }
        impl Bind for &Option<$ty> {
            fn arg(self) -> Arg {
                self.clone().arg()
            }
        }
    )*};
}

fn same<T>(value: T) -> T {
    value
}

bind_as!(Int: i64 => same, i32 => i64::from, u32 => i64::from, i16 => i64::from, u8 => i64::from);
bind_as!(Real: f64 => same);
bind_as!(Bool: bool => same);
bind_as!(Text: String => same, &str => str::to_owned);
bind_as!(Bytes: Vec<u8> => same, &[u8] => <[u8]>::to_vec);
bind_ref!(i64, i32, u32, bool, String, Vec<u8>);

impl Bind for Arg {
    fn arg(self) -> Arg {
        self
    }
}

/// A value read from a row: any type both drivers decode natively.
pub trait Value:
    for<'r> sqlx::Decode<'r, Sqlite>
    + sqlx::Type<Sqlite>
    + for<'r> sqlx::Decode<'r, Postgres>
    + sqlx::Type<Postgres>
    + rusqlite::types::FromSql
{
}

impl<T> Value for T where
    T: for<'r> sqlx::Decode<'r, Sqlite>
        + sqlx::Type<Sqlite>
        + for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
        + rusqlite::types::FromSql
{
}

/// A public identifier read back as hyphenated lower-case UUID text: PostgreSQL
/// `uuid`, SQLite text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Id(String);

/// A moment read back as RFC 3339 text: PostgreSQL `timestamptz`, SQLite text. The
/// service writes its moments in one fixed form with microseconds (`clock::stamp`),
/// which PostgreSQL keeps exactly, so the text read is the text written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(String);

/// Reads `$name` as text on SQLite and as `$pg` (turned into text by `$to_text`) on
/// PostgreSQL.
macro_rules! text_or_native {
    ($name:ident, $pg:ty, $to_text:expr) => {
        impl sqlx::Type<Sqlite> for $name {
            fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
                <String as sqlx::Type<Sqlite>>::type_info()
            }
            fn compatible(ty: &sqlx::sqlite::SqliteTypeInfo) -> bool {
                <String as sqlx::Type<Sqlite>>::compatible(ty)
            }
        }
        impl<'r> sqlx::Decode<'r, Sqlite> for $name {
            fn decode(
                value: sqlx::sqlite::SqliteValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(Self(<String as sqlx::Decode<'r, Sqlite>>::decode(value)?))
            }
        }
        impl sqlx::Type<Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <$pg as sqlx::Type<Postgres>>::type_info()
            }
        }
        impl<'r> sqlx::Decode<'r, Postgres> for $name {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let native = <$pg as sqlx::Decode<'r, Postgres>>::decode(value)?;
                #[allow(clippy::redundant_closure_call)]
                Ok(Self(($to_text)(native)?))
            }
        }
    };
}

impl rusqlite::types::FromSql for Id {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        String::column_result(value).map(Self)
    }
}

impl rusqlite::types::FromSql for Stamp {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        String::column_result(value).map(Self)
    }
}

text_or_native!(Id, uuid::Uuid, |id: uuid::Uuid| Ok::<
    _,
    sqlx::error::BoxDynError,
>(
    id.hyphenated().to_string()
));
text_or_native!(Stamp, time::OffsetDateTime, |at: time::OffsetDateTime| {
    Ok::<_, sqlx::error::BoxDynError>(crate::clock::stamp(at))
});

/// A column named or numbered.
pub trait Index:
    sqlx::ColumnIndex<SqliteRow> + sqlx::ColumnIndex<PgRow> + std::fmt::Display + Copy
{
    /// Its position among a row's column names.
    fn position(self, columns: &[String]) -> Option<usize>;
}

impl Index for &str {
    fn position(self, columns: &[String]) -> Option<usize> {
        columns.iter().position(|c| c == self)
    }
}

impl Index for usize {
    fn position(self, columns: &[String]) -> Option<usize> {
        (self < columns.len()).then_some(self)
    }
}

/// A row as its backend returned it.
pub enum Row {
    /// From SQLite.
    Sqlite(SqliteRow),
    /// From PostgreSQL.
    Postgres(PgRow),
    /// From the SQLite write lane.
    Lane(super::lane::LaneRow),
}

impl Row {
    /// Reads a column with the backend's decoder for `T`.
    pub fn try_get<T: Value, I: Index>(&self, index: I) -> Result<T, sqlx::Error> {
        use sqlx::Row as _;
        match self {
            Self::Sqlite(row) => row.try_get(index),
            Self::Postgres(row) => row.try_get(index),
            Self::Lane(row) => row.get(index.position(row.columns()), &index),
        }
    }
}

impl Row {
    /// A public identifier column, as text.
    pub fn id(&self, column: &str) -> Result<String, sqlx::Error> {
        Ok(self.try_get::<Id, _>(column)?.0)
    }

    /// A nullable public identifier column.
    pub fn opt_id(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        Ok(self.try_get::<Option<Id>, _>(column)?.map(|id| id.0))
    }

    /// A moment column, as RFC 3339 text.
    pub fn stamp(&self, column: &str) -> Result<String, sqlx::Error> {
        Ok(self.try_get::<Stamp, _>(column)?.0)
    }

    /// A nullable moment column.
    pub fn opt_stamp(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        Ok(self.try_get::<Option<Stamp>, _>(column)?.map(|at| at.0))
    }
}

/// A value made from a whole row (`query_as`).
pub trait FromRow: Sized {
    /// Decodes the row.
    fn from_row(row: &Row) -> Result<Self, sqlx::Error>;
}

macro_rules! tuple_from_row {
    ($($name:ident: $i:tt),+) => {
        impl<$($name: Value),+> FromRow for ($($name,)+) {
            fn from_row(row: &Row) -> Result<Self, sqlx::Error> {
                Ok(($(row.try_get::<$name, _>($i)?,)+))
            }
        }
    };
}

/// `FromRow` for a struct whose fields are read from the columns of their names.
macro_rules! from_row {
    ($name:ident { $($field:ident),+ $(,)? }) => {
        impl $crate::store::db::FromRow for $name {
            fn from_row(row: &$crate::store::db::Row) -> Result<Self, sqlx::Error> {
                Ok(Self {
                    $($field: row.try_get(stringify!($field))?,)+
                })
            }
        }
    };
}
pub(crate) use from_row;

tuple_from_row!(A: 0, B: 1);
tuple_from_row!(A: 0, B: 1, C: 2);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3);

/// What `execute` reports.
#[derive(Debug, Clone, Copy)]
pub struct Done(u64);

impl Done {
    /// Rows inserted, changed or deleted.
    pub fn rows_affected(self) -> u64 {
        self.0
    }
}

/// A statement with its bound values.
#[derive(Debug, Clone)]
#[must_use = "a query does nothing until it is executed or fetched"]
pub struct Query<'q> {
    sql: &'q str,
    args: Vec<Arg>,
}

/// A statement (`$1`, `$2`… placeholders, which both backends accept).
pub fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        args: Vec::new(),
    }
}

/// Binds the values to the backend's own query type; `$uuid`, `$stamp` and `$day`
/// turn the text of identifiers, moments and days into the backend's type.
macro_rules! native {
    ($query:expr, $db:ty, $uuid:expr, $stamp:expr, $day:expr) => {{
        let mut native = sqlx::query::<$db>($query.sql);
        for arg in $query.args {
            native = match arg {
                Arg::Int(v) => native.bind(v),
                Arg::Real(v) => native.bind(v),
                Arg::Bool(v) => native.bind(v),
                Arg::Text(v) => native.bind(v),
                Arg::Bytes(v) => native.bind(v),
                Arg::Uuid(v) => native.bind(v.and_then($uuid)),
                Arg::Stamp(v) => native.bind(v.and_then($stamp)),
                Arg::Day(v) => native.bind(v.and_then($day)),
            };
        }
        native
    }};
}

/// The text itself (SQLite keeps identifiers, moments and days as text).
fn text(value: String) -> Option<String> {
    Some(value)
}

fn pg_uuid(text: String) -> Option<uuid::Uuid> {
    uuid::Uuid::parse_str(&text).ok()
}

fn pg_stamp(text: String) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339).ok()
}

fn pg_day(text: String) -> Option<time::Date> {
    crate::clock::parse_iso_date(&text).ok()
}

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;
type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

impl<'q> Query<'q> {
    /// Binds the next placeholder.
    pub fn bind(mut self, value: impl Bind) -> Self {
        self.args.push(value.arg());
        self
    }

    fn sqlite(self) -> SqliteQuery<'q> {
        native!(self, Sqlite, text, text, text)
    }

    fn postgres(self) -> PgQuery<'q> {
        native!(self, Postgres, pg_uuid, pg_stamp, pg_day)
    }

    /// Runs a statement that returns no rows.
    pub async fn execute<'e>(self, on: impl Executor<'e>) -> Result<Done, sqlx::Error> {
        let done = match on.target() {
            Target::SqlitePool(pool) => self.sqlite().execute(pool).await?.rows_affected(),
            Target::Sqlite(conn) => self.sqlite().execute(conn).await?.rows_affected(),
            Target::PostgresPool(pool) => self.postgres().execute(pool).await?.rows_affected(),
            Target::Postgres(conn) => self.postgres().execute(conn).await?.rows_affected(),
            Target::Lane(conn) => super::lane::run(conn, self.sql, self.args, Some(0))?.1,
        };
        Ok(Done(done))
    }

    /// The first row, or `None`.
    pub async fn fetch_optional<'e>(
        self,
        on: impl Executor<'e>,
    ) -> Result<Option<Row>, sqlx::Error> {
        Ok(match on.target() {
            Target::SqlitePool(pool) => self.sqlite().fetch_optional(pool).await?.map(Row::Sqlite),
            Target::Sqlite(conn) => self.sqlite().fetch_optional(conn).await?.map(Row::Sqlite),
            Target::PostgresPool(pool) => self
                .postgres()
                .fetch_optional(pool)
                .await?
                .map(Row::Postgres),
            Target::Postgres(conn) => self
                .postgres()
                .fetch_optional(conn)
                .await?
                .map(Row::Postgres),
            Target::Lane(conn) => super::lane::run(conn, self.sql, self.args, Some(1))?
                .0
                .pop()
                .map(Row::Lane),
        })
    }

    /// The first row; `RowNotFound` when there is none.
    pub async fn fetch_one<'e>(self, on: impl Executor<'e>) -> Result<Row, sqlx::Error> {
        self.fetch_optional(on)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// Every row.
    pub async fn fetch_all<'e>(self, on: impl Executor<'e>) -> Result<Vec<Row>, sqlx::Error> {
        Ok(match on.target() {
            Target::SqlitePool(pool) => rows(self.sqlite().fetch_all(pool).await?, Row::Sqlite),
            Target::Sqlite(conn) => rows(self.sqlite().fetch_all(conn).await?, Row::Sqlite),
            Target::PostgresPool(pool) => {
                rows(self.postgres().fetch_all(pool).await?, Row::Postgres)
            }
            Target::Postgres(conn) => rows(self.postgres().fetch_all(conn).await?, Row::Postgres),
            Target::Lane(conn) => rows(
                super::lane::run(conn, self.sql, self.args, None)?.0,
                Row::Lane,
            ),
        })
    }

    /// The rows one at a time, for results too large to hold.
    pub fn fetch<'e>(self, on: impl Executor<'e>) -> BoxStream<'e, Result<Row, sqlx::Error>>
    where
        'q: 'e,
    {
        match on.target() {
            Target::SqlitePool(pool) => self
                .sqlite()
                .fetch(pool)
                .map(|r| r.map(Row::Sqlite))
                .boxed(),
            Target::Sqlite(conn) => self
                .sqlite()
                .fetch(conn)
                .map(|r| r.map(Row::Sqlite))
                .boxed(),
            Target::PostgresPool(pool) => self
                .postgres()
                .fetch(pool)
                .map(|r| r.map(Row::Postgres))
                .boxed(),
            Target::Postgres(conn) => self
                .postgres()
                .fetch(conn)
                .map(|r| r.map(Row::Postgres))
                .boxed(),
            // The lane's statements are small: its rows are read at once.
            Target::Lane(conn) => {
                let rows = super::lane::run(conn, self.sql, self.args, None).map(|(rows, _)| {
                    rows.into_iter()
                        .map(|row| Ok(Row::Lane(row)))
                        .collect::<Vec<_>>()
                });
                futures_util::stream::iter(rows.unwrap_or_else(|e| vec![Err(e)])).boxed()
            }
        }
    }
}

fn rows<R>(native: Vec<R>, wrap: fn(R) -> Row) -> Vec<Row> {
    native.into_iter().map(wrap).collect()
}

/// A statement whose rows are one value each (the first column).
#[derive(Debug, Clone)]
#[must_use = "a query does nothing until it is fetched"]
pub struct Scalar<'q, T> {
    query: Query<'q>,
    value: PhantomData<fn() -> T>,
}

/// A statement read as single values.
pub fn query_scalar<T: Value>(sql: &str) -> Scalar<'_, T> {
    Scalar {
        query: query(sql),
        value: PhantomData,
    }
}

impl<'q, T: Value> Scalar<'q, T> {
    /// Binds the next placeholder.
    pub fn bind(self, value: impl Bind) -> Self {
        Self {
            query: self.query.bind(value),
            value: PhantomData,
        }
    }

    /// The first row's value; `RowNotFound` when there is none.
    pub async fn fetch_one<'e>(self, on: impl Executor<'e>) -> Result<T, sqlx::Error> {
        self.query.fetch_one(on).await?.try_get(0)
    }

    /// The first row's value, or `None`.
    pub async fn fetch_optional<'e>(self, on: impl Executor<'e>) -> Result<Option<T>, sqlx::Error> {
        self.query
            .fetch_optional(on)
            .await?
            .map(|row| row.try_get(0))
            .transpose()
    }

    /// Every row's value.
    pub async fn fetch_all<'e>(self, on: impl Executor<'e>) -> Result<Vec<T>, sqlx::Error> {
        self.query
            .fetch_all(on)
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect()
    }
}

/// A statement whose rows decode into `T`.
#[derive(Debug, Clone)]
#[must_use = "a query does nothing until it is fetched"]
pub struct As<'q, T> {
    query: Query<'q>,
    value: PhantomData<fn() -> T>,
}

/// A statement read as values made from whole rows.
pub fn query_as<T: FromRow>(sql: &str) -> As<'_, T> {
    As {
        query: query(sql),
        value: PhantomData,
    }
}

impl<'q, T: FromRow> As<'q, T> {
    /// Binds the next placeholder.
    pub fn bind(self, value: impl Bind) -> Self {
        Self {
            query: self.query.bind(value),
            value: PhantomData,
        }
    }

    /// Every row, decoded.
    pub async fn fetch_all<'e>(self, on: impl Executor<'e>) -> Result<Vec<T>, sqlx::Error> {
        self.query
            .fetch_all(on)
            .await?
            .iter()
            .map(T::from_row)
            .collect()
    }
}
