//! The group-commit writer: writes queued together share a transaction, yet a
//! refused write leaves nothing behind, every other write of its group stays, each
//! caller gets its own answer only once it is durable, and the audit chain stays one
//! line.

use std::time::Duration;

use registry::audit::{AuditEvent, Outcome};
use registry::store::StoreError;
use registry::store::writer::Staged;
use sqlx::Connection;

use crate::helpers::TestApp;

backend_tests!(
    a_refused_write_in_a_group_leaves_nothing_and_the_others_stay,
    the_write_path_commits_durably,
);

/// Rows in the probe table, by id.
async fn probe_ids(app: &TestApp) -> Vec<i64> {
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .expect("connect");
    sqlx::query_scalar("select id from writer_probe order by id")
        .fetch_all(&mut conn)
        .await
        .expect("probe rows")
}

async fn a_refused_write_in_a_group_leaves_nothing_and_the_others_stay(app: TestApp) {
    {
        let mut conn = sqlx::AnyConnection::connect(&app.database_url)
            .await
            .expect("connect");
        sqlx::query("create table writer_probe (id bigint primary key)")
            .execute(&mut conn)
            .await
            .expect("probe table");
    }
    let (before, _) = app.store.audit_head().await.expect("head");
    // Write 0 holds the writer for a moment, so the others queue behind it and are
    // committed in groups. Every third write inserts its row and then refuses.
    let writes: Vec<_> = (0..90i64)
        .map(|i| {
            let store = app.store.clone();
            tokio::spawn(async move {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                store
                    .write(move |conn| {
                        Box::pin(async move {
                            if i == 0 {
                                tokio::time::sleep(Duration::from_millis(300)).await;
                            }
                            registry::store::db::query("insert into writer_probe (id) values ($1)")
                                .bind(i)
                                .execute(&mut *conn)
                                .await
                                .map_err(StoreError::from)?;
                            if i % 3 == 1 {
                                return Err(StoreError::NotFound);
                            }
                            Ok(Staged {
                                value: i,
                                events: vec![AuditEvent {
                                    object: Some(format!("probe-{i}")),
                                    ..AuditEvent::new("tester", "admin", "probe", Outcome::Success)
                                }],
                            })
                        })
                    })
                    .await
            })
        })
        .collect();
    let mut answered = Vec::new();
    for (i, write) in writes.into_iter().enumerate() {
        let answer = write.await.expect("task");
        match answer {
            Ok(value) => {
                assert_eq!(value, i as i64, "each caller gets its own answer");
                answered.push(value);
            }
            Err(StoreError::NotFound) => assert_eq!(i % 3, 1, "only refused writes fail"),
            Err(other) => panic!("write {i} failed: {other}"),
        }
    }
    let expected: Vec<i64> = (0..90).filter(|i| i % 3 != 1).collect();
    assert_eq!(answered, expected);
    assert_eq!(
        probe_ids(&app).await,
        expected,
        "refused writes left nothing; every other write stayed"
    );
    // One event per kept write, in one unbroken chain.
    let (after, _) = app.store.audit_head().await.expect("head");
    let page = app.store.audit_page(before, 1000).await.expect("events");
    let mut objects: Vec<i64> = page
        .iter()
        .filter_map(|e| e.object.as_deref()?.strip_prefix("probe-")?.parse().ok())
        .collect();
    objects.sort_unstable();
    assert_eq!(objects, expected);
    assert_eq!(after - before, page.len() as i64);
    registry::cases::audit::verify_store(&app.store, &[])
        .await
        .expect("chain intact");
}

/// The write lane never checkpoints (its commits would stall while it copies); the
/// checkpointer does, so the WAL stops growing: after a pause, the next writes start
/// it over instead of appending to everything written since the database opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_wal_is_checkpointed_off_the_write_lane() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let burst = |round: u32| {
        let store = app.store.clone();
        async move {
            for i in 0..50 {
                store
                    .throttle_failure(&format!("wal-probe-{round}-{i}"), 1, 60, 1_000)
                    .await
                    .expect("write");
            }
        }
    };
    burst(1).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    burst(2).await;
    let wal_bytes = std::fs::metadata(app.dir.path().join("registry.db-wal"))
        .expect("the WAL exists")
        .len();
    // Frames now in the WAL (this check copies them back too, but counts first).
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .expect("connect");
    let row = sqlx::query("pragma wal_checkpoint(passive)")
        .fetch_one(&mut conn)
        .await
        .expect("checkpoint");
    let frames: i64 = sqlx::Row::try_get(&row, 1).expect("log frames");
    let live_bytes = u64::try_from(frames).expect("frames") * (4096 + 24);
    // The setup (migrations, seeds) alone filled most of the file: only the second
    // burst may still be in the WAL, not the setup and the first burst too.
    assert!(
        live_bytes < wal_bytes / 2,
        "{frames} frames ({live_bytes} bytes) of a {wal_bytes}-byte WAL were never checkpointed"
    );
}

/// The connection the writes go through (on SQLite the lane's own, not the pool's)
/// syncs every commit: `synchronous = FULL` in WAL mode with foreign keys on, or
/// PostgreSQL's synchronous commit.
async fn the_write_path_commits_durably(app: TestApp) {
    let sqlite = app.store.backend() == registry::store::Backend::Sqlite;
    let settings = app
        .store
        .write(move |conn| {
            Box::pin(async move {
                let mut found = Vec::new();
                let reads: &[&str] = if sqlite {
                    &[
                        "pragma synchronous",
                        "pragma journal_mode",
                        "pragma foreign_keys",
                        "pragma wal_autocheckpoint",
                    ]
                } else {
                    &["show synchronous_commit", "show fsync"]
                };
                for read in reads {
                    let row = registry::store::db::query(read)
                        .fetch_one(&mut *conn)
                        .await?;
                    let value = row
                        .try_get::<String, _>(0)
                        .or_else(|_| row.try_get::<i64, _>(0).map(|n| n.to_string()))?;
                    found.push(value);
                }
                Ok::<_, StoreError>(Staged::unaudited(found))
            })
        })
        .await
        .expect("settings");
    if sqlite {
        // FULL is 2; automatic checkpoints are off on the lane (the checkpointer
        // copies the WAL back from a reader).
        assert_eq!(settings, ["2", "wal", "1", "0"]);
    } else {
        assert_eq!(settings, ["on", "on"]);
    }
}
