//! The store reads and writes each backend's native types: on PostgreSQL public
//! identifiers are `uuid`, moments `timestamptz`, a subject's day `date` (the audit
//! log's hashed times stay the exact text written); on SQLite all three are text.
//! Either way a moment reads back as the very text that was written, to the
//! microsecond, and a lookup with text that is not an identifier finds nothing.

use registry::store::StoreError;
use registry::store::db;
use registry::store::writer::Staged;

use crate::helpers::{TestApp, raw_connection};

backend_tests!(moments_and_identifiers_keep_their_text_in_native_columns);

/// `(table, column, PostgreSQL type)`.
const NATIVE: [(&str, &str, &str); 6] = [
    ("subject", "registry_id", "uuid"),
    ("subject", "created_at", "date"),
    ("episode", "episode_id", "uuid"),
    ("episode", "created_at", "timestamp with time zone"),
    ("readiness", "checked_at", "timestamp with time zone"),
    ("audit_event", "occurred_at", "text"),
];

async fn moments_and_identifiers_keep_their_text_in_native_columns(app: TestApp) {
    if app.store.backend() == registry::store::Backend::Postgres {
        let mut conn = raw_connection(&app.database_url).await;
        for (table, column, expected) in NATIVE {
            let found: String = sqlx::query_scalar(
                "select data_type::text from information_schema.columns \
                 where table_schema = current_schema() and table_name = $1 and column_name = $2",
            )
            .bind(table)
            .bind(column)
            .fetch_one(&mut conn)
            .await
            .expect("column type");
            assert_eq!(found, expected, "{table}.{column}");
        }
    }

    // A moment with every microsecond digit set, written and read back in one write.
    let written = "2026-12-05T17:58:01.123457Z".to_owned();
    let read = app
        .store
        .write(move |conn| {
            let written = written.clone();
            Box::pin(async move {
                db::query(
                    "insert into readiness (id, checked_at) values (1, $1) \
                     on conflict (id) do update set checked_at = excluded.checked_at",
                )
                .bind(db::stamp(&written))
                .execute(&mut *conn)
                .await?;
                let row = db::query("select checked_at from readiness where id = 1")
                    .fetch_one(&mut *conn)
                    .await?;
                Ok::<_, StoreError>(Staged::unaudited(row.stamp("checked_at")?))
            })
        })
        .await
        .expect("moment written and read");
    assert_eq!(read, "2026-12-05T17:58:01.123457Z");
    // The service's own clock writes exactly six fractional digits, so its moments survive too.
    let now = registry::store::now_rfc3339();
    let fraction = now.trim_end_matches('Z').rsplit('.').next().unwrap_or("");
    assert!(now.ends_with('Z') && fraction.len() == 6, "{now}");

    // Text that is not an identifier matches no row on either backend (PostgreSQL
    // would refuse to compare it with a uuid).
    let pool = app.store.connection().await;
    let mut conn = pool.expect("connection");
    for probe in ["not-a-uuid", "' or 1=1 --", ""] {
        let found: Option<i64> = db::query_scalar("select id from subject where registry_id = $1")
            .bind(db::uuid(probe))
            .fetch_optional(&mut conn)
            .await
            .expect("lookup");
        assert_eq!(found, None, "{probe}");
    }
}
