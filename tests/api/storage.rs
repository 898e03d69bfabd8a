//! A full disk under SQLite: writes answer 503 `storage_full` with a Retry-After,
//! reads that write nothing keep working, audited reads are refused (no unaudited
//! access), and once space returns the service writes again without a restart,
//! with every acknowledged registration intact and the database consistent.
//!
//! The disk is a small tmpfs the test mounts (root only: without root the test says
//! it is skipped and why).

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::episodes::episode;
use crate::helpers::{TEST_PASSWORD, TestApp, error_code};

/// A size-limited tmpfs, unmounted when dropped.
struct SmallDisk {
    mount: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let mount = tempfile::tempdir().expect("mount point");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(mount.path())
            .output()
            .expect("mount runs");
        if output.status.success() {
            return Some(Self { mount });
        }
        let uid = Command::new("id").arg("-u").output().expect("id runs");
        let root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        assert!(
            !root,
            "running as root, yet mounting a tmpfs failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!(
            "SKIPPED sqlite_full_disk_refuses_writes_clearly_and_recovers: mounting a \
             size-limited tmpfs needs root, and this test runs as uid {}",
            String::from_utf8_lossy(&uid.stdout).trim()
        );
        None
    }

    fn path(&self) -> &Path {
        self.mount.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.mount.path())
            .status();
    }
}

/// Writes a file until the filesystem has no free block left.
fn fill(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler");
    for chunk in [1 << 20, 1 << 12, 1 << 9] {
        let zeros = vec![0u8; chunk];
        loop {
            match file.write(&zeros) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
    }
    path
}

async fn register(app: &TestApp, token: &str, n: usize) -> reqwest::Response {
    // A different person each time.
    let (first, last, birth) = crate::helpers::distinct_person(n);
    let body = episode(&first, &last, &birth, "2025-01-15");
    app.client
        .post(app.url("/api/v1/episodes"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("sent")
}

async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

async fn assert_storage_full(response: reqwest::Response, what: &str) {
    let retry_after = response.headers().get("retry-after").cloned();
    let (status, body) = json(response).await;
    assert_eq!(status, 503, "{what}: {body}");
    assert_eq!(error_code(&body), "storage_full", "{what}: {body}");
    assert!(retry_after.is_some(), "{what}: a Retry-After header");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_full_disk_refuses_writes_clearly_and_recovers() {
    let Some(disk) = SmallDisk::mount("48m") else {
        return;
    };
    let dir = tempfile::tempdir_in(disk.path()).expect("data dir on the small disk");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("registry.db").display()
    );
    let app = TestApp::spawn_on(dir, url.clone()).await;
    let doctor = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let mut acknowledged = Vec::new();
    for n in 0..5 {
        let (status, body) = json(register(&app, &doctor.token, n).await).await;
        assert_eq!(status, 201, "{body}");
        acknowledged.push(body["episode_id"].as_str().expect("id").to_owned());
    }

    // An empty write-ahead log, so that the next write needs new disk blocks. The
    // service's own checkpointer may be copying the WAL at that moment (SQLite runs
    // one checkpoint at a time and answers the other "busy"): try again shortly.
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .expect("connect");
    let mut busy = 1;
    for _ in 0..50 {
        busy = sqlx::query_scalar("pragma wal_checkpoint(truncate)")
            .fetch_one(&mut conn)
            .await
            .expect("checkpoint");
        if busy == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(busy, 0, "checkpoint completed");
    let filler = fill(app.dir.path());

    assert_storage_full(register(&app, &doctor.token, 100).await, "registration").await;
    assert_storage_full(
        register(&app, &doctor.token, 101).await,
        "second registration",
    )
    .await;
    let login = app
        .client
        .post(app.url("/api/v1/sessions"))
        .json(&json!({"username": doctor.username, "password": TEST_PASSWORD}))
        .send()
        .await
        .expect("sent");
    assert_storage_full(login, "login").await;
    let read = app
        .client
        .get(app.url(&format!("/api/v1/episodes/{}", acknowledged[0])))
        .bearer_auth(&doctor.token)
        .send()
        .await
        .expect("sent");
    assert_storage_full(read, "an audited read whose audit event cannot be written").await;
    let readyz = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("sent");
    assert_storage_full(readyz, "readiness").await;
    let (status, body) = app.get_json("/api/v1/reference/municipalities").await;
    assert_eq!(status, 200, "a read that writes nothing works: {body}");
    assert_eq!(body["count"], 38);

    std::fs::remove_file(&filler).expect("space freed");
    let freed = Instant::now();
    let mut n = 200;
    let recovered = loop {
        let (status, body) = json(register(&app, &doctor.token, n).await).await;
        match status {
            201 => break body,
            503 => assert_eq!(error_code(&body), "storage_full"),
            other => panic!("after space returned: {other} {body}"),
        }
        assert!(
            freed.elapsed() < Duration::from_secs(10),
            "no write succeeded within 10 s of space returning: {body}"
        );
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "first write succeeded {:?} after space returned",
        freed.elapsed()
    );
    acknowledged.push(recovered["episode_id"].as_str().expect("id").to_owned());
    let (status, _) = app.get_json("/readyz").await;
    assert_eq!(status, 200);
    app.login(&doctor.username, TEST_PASSWORD).await;
    let (status, view) = app
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/episodes/{}", acknowledged[0]),
            Some(&doctor.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{view}");

    let check: String = sqlx::query_scalar("pragma integrity_check")
        .fetch_one(&mut conn)
        .await
        .expect("integrity check");
    assert_eq!(check, "ok");
    let stored: Vec<String> = sqlx::query_scalar("select episode_id from episode order by id")
        .fetch_all(&mut conn)
        .await
        .expect("episodes");
    assert_eq!(
        stored, acknowledged,
        "exactly the acknowledged registrations"
    );
}
