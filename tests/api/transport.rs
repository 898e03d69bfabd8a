//! The connection and the headers around every answer: slow-header clients are cut
//! off, security headers are set, and forwarded addresses are believed only from a
//! trusted proxy (the test harness trusts 127.0.0.2).

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::TestApp;

backend_tests!(
    a_client_trickling_headers_is_cut_off,
    every_answer_carries_the_security_headers,
    forwarded_addresses_count_only_from_the_trusted_proxy,
    a_locked_owner_with_a_second_factor_gets_in_from_another_address,
);

async fn a_client_trickling_headers_is_cut_off(app: TestApp) {
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: registry\r\n")
        .await
        .expect("partial headers");
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buffer)).await;
    let elapsed = started.elapsed();
    println!("slow-header connection closed after {elapsed:?}");
    assert!(read.is_ok(), "the connection is still open after 10 s");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

async fn every_answer_carries_the_security_headers(app: TestApp) {
    for path in [
        "/healthz",
        "/api/v1/reference/municipalities",
        "/api/v1/nothing",
    ] {
        let response = app
            .client
            .get(app.url(path))
            .bearer_auth(&app.token)
            .send()
            .await
            .expect("sent");
        let headers = response.headers();
        let csp = headers
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(
            headers.get("x-frame-options").map(|v| v.as_bytes()),
            Some(&b"DENY"[..])
        );
        assert!(
            headers.get("strict-transport-security").is_none(),
            "not over HTTPS"
        );
    }
    // A forged X-Forwarded-Proto from a client that is not the proxy changes nothing.
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("sent");
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
}

/// Twenty failed logins through the proxy from one address lock that address, not
/// everyone behind the proxy; a direct client cannot pick its address by header.
async fn forwarded_addresses_count_only_from_the_trusted_proxy(app: TestApp) {
    let proxy = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().expect("ip")))
        .build()
        .expect("client");
    let user = app.user("analyst", None, None).await;
    let login = |client: &reqwest::Client, forwarded: &str, username: &str, password: &str| {
        client
            .post(app.url("/api/v1/sessions"))
            .header("x-forwarded-for", forwarded)
            .header("x-forwarded-proto", "https")
            .json(&json!({"username": username, "password": password}))
            .send()
    };
    let mut last = reqwest::StatusCode::OK;
    for n in 0..21 {
        last = login(
            &proxy,
            "203.0.113.1",
            &format!("nobody-{n}"),
            "wrong password",
        )
        .await
        .expect("sent")
        .status();
    }
    assert_eq!(last, 429, "the forwarded address is locked");
    let response = login(
        &proxy,
        "203.0.113.2",
        &user.username,
        crate::helpers::TEST_PASSWORD,
    )
    .await
    .expect("sent");
    assert_eq!(
        response.status(),
        201,
        "another client behind the proxy is not"
    );
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_some(),
        "HTTPS through the trusted proxy gets HSTS"
    );
    // Directly, the header is not believed: the socket address is locked.
    for n in 0..21 {
        last = login(
            &app.client,
            &format!("198.51.100.{n}"),
            &format!("nobody-{n}"),
            "wrong",
        )
        .await
        .expect("sent")
        .status();
    }
    assert_eq!(last, 429);
    let status = login(
        &app.client,
        "203.0.113.77",
        &user.username,
        crate::helpers::TEST_PASSWORD,
    )
    .await
    .expect("sent")
    .status();
    assert_eq!(
        status, 429,
        "a direct client cannot escape the lock by header"
    );
}

/// Five wrong passwords from one address lock a named account (the lock stays), but
/// its owner passes from another address with the password and a current TOTP code.
/// One factor is not enough, and the attacker's wrong guesses still answer "locked".
async fn a_locked_owner_with_a_second_factor_gets_in_from_another_address(app: TestApp) {
    let proxy = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().expect("ip")))
        .build()
        .expect("client");
    let with_totp = app.user("forensic", None, None).await;
    let without = app.user("police", None, None).await;
    let (secret, now) = app.enable_totp(&with_totp).await;

    let login = |from: &str, body: serde_json::Value| {
        proxy
            .post(app.url("/api/v1/sessions"))
            .header("x-forwarded-for", from)
            .json(&body)
            .send()
    };
    for user in [&with_totp, &without] {
        for _ in 0..5 {
            let status = login(
                "203.0.113.66",
                json!({"username": user.username, "password": "guess guess guess"}),
            )
            .await
            .expect("sent")
            .status();
            assert_eq!(status, 401);
        }
    }
    let current = registry::auth::totp::code_at(&secret, now);
    let wrong = if current == "123456" {
        "654321"
    } else {
        "123456"
    };
    let password = crate::helpers::TEST_PASSWORD;
    for (user, body, expected) in [
        (
            &without,
            json!({"username": without.username, "password": password}),
            429,
        ),
        (
            &with_totp,
            json!({"username": with_totp.username, "password": password}),
            429,
        ),
        (
            &with_totp,
            json!({"username": with_totp.username, "password": "guess", "totp": current}),
            429,
        ),
        (
            &with_totp,
            json!({"username": with_totp.username, "password": password, "totp": wrong}),
            429,
        ),
        (
            &with_totp,
            json!({"username": with_totp.username, "password": password, "totp": current}),
            201,
        ),
    ] {
        let status = login("198.51.100.4", body).await.expect("sent").status();
        assert_eq!(status, expected, "{}", user.username);
    }
}
