//! The database goes away and comes back: `/readyz` and requests answer 503 meanwhile,
//! the process keeps running, and service resumes without a restart.
//!
//! A small TCP proxy between the service and PostgreSQL plays the outage, so the
//! real server stays up for the rest of the suite.

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::{TestApp, error_code, fresh_postgres_database};

/// Forwards TCP to `upstream` while `up` is true; cuts every connection when false.
async fn start_proxy(upstream: String) -> (String, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let address = listener.local_addr().expect("addr").to_string();
    let (up, _) = watch::channel(true);
    let switch = up.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let mut state = switch.subscribe();
            if !*state.borrow() {
                continue; // dropped: connection refused in effect
            }
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = state.wait_for(|up| !*up) => {}
                }
            });
        }
    });
    (address, up)
}

/// `host:port` of a PostgreSQL URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
    let host = rest.split(['/', '?']).next().unwrap_or(rest);
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_gives_503_and_service_recovers() {
    let direct = fresh_postgres_database().await;
    let upstream = host_port(&direct);
    let (proxy, up) = start_proxy(upstream.clone()).await;
    let proxied = direct.replacen(&upstream, &proxy, 1);
    let app = TestApp::spawn_on(tempfile::tempdir().expect("tempdir"), proxied).await;

    let (status, _) = app.get_json("/readyz").await;
    assert_eq!(status, 200);

    up.send_replace(false);
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(error_code(&body), "unavailable");
    let (status, body) = app.get_json("/api/v1/reference/municipalities").await;
    assert_eq!(status, 503);
    assert_eq!(error_code(&body), "unavailable");
    let (status, _) = app.get_json("/healthz").await;
    assert_eq!(status, 200, "the process itself stays alive");

    up.send_replace(true);
    let mut recovered = false;
    for _ in 0..50 {
        if app.get_json("/readyz").await.0 == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recovered, "readiness returns once the database is back");
    let (status, body) = app.get_json("/api/v1/reference/municipalities").await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], 38);
}
