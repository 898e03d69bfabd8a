//! Users and sessions: login, uniform failures, lockout, expiry, logout, disabling,
//! role changes on the next request, one-time passwords and TOTP.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use sqlx::Connection;

use crate::helpers::{TEST_PASSWORD, TestApp, error_code};

backend_tests!(
    login_gives_a_token_that_identifies_the_user,
    unknown_user_and_wrong_password_look_the_same,
    repeated_failures_lock_the_account_and_the_address,
    idle_and_absolute_expiry_end_sessions,
    logout_revokes_the_token,
    disabling_a_user_revokes_all_sessions_at_once,
    role_and_scope_changes_apply_on_the_next_request,
    passwords_follow_the_rules,
    one_time_password_must_be_changed_first,
    totp_codes_are_required_and_single_use,
    second_factor_changes_need_the_password_and_a_current_code,
    the_last_active_administrator_stays,
    oversized_login_fields_are_refused_counted_and_audited,
    there_are_no_default_accounts,
);

async fn login_gives_a_token_that_identifies_the_user(app: TestApp) {
    let user = app.user("clinician", Some("uckk-psychiatry"), None).await;
    let (status, me) = app
        .send(Method::GET, "/api/v1/me", Some(&user.token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(me["user_id"], user.user_id.as_str());
    assert_eq!(me["role"], "clinician");
    assert_eq!(me["facility"], "uckk-psychiatry");
    assert!(me.get("password_hash").is_none());
    assert!(user.token.len() >= 43, "at least 256 bits");

    let (status, body) = app.send(Method::GET, "/api/v1/me", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), "unauthenticated");
    let (status, _) = app
        .send(Method::GET, "/api/v1/me", Some("not-a-token"), None)
        .await;
    assert_eq!(status, 401);
}

async fn attempt(
    app: &TestApp,
    username: &str,
    password: &str,
) -> (reqwest::StatusCode, serde_json::Value, Duration) {
    let started = Instant::now();
    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(&json!({"username": username, "password": password})),
        )
        .await;
    (status, body, started.elapsed())
}

async fn unknown_user_and_wrong_password_look_the_same(app: TestApp) {
    let user = app.user("forensic", None, None).await;
    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    for i in 0..3 {
        let (s1, b1, t1) = attempt(&app, &format!("nobody-{i}"), "some password here").await;
        let (s2, b2, t2) = attempt(&app, &user.username, "some password here").await;
        assert_eq!(
            (s1, s2),
            (
                reqwest::StatusCode::UNAUTHORIZED,
                reqwest::StatusCode::UNAUTHORIZED
            )
        );
        assert_eq!(b1, b2, "identical bodies");
        unknown.push(t1);
        wrong.push(t2);
    }
    unknown.sort();
    wrong.sort();
    let (u, w) = (unknown[1].as_secs_f64(), wrong[1].as_secs_f64());
    // Both run one argon2id verification; a missing user must not answer faster.
    assert!(
        u > w / 3.0 && u < w * 3.0,
        "median unknown {u:.3}s vs wrong {w:.3}s"
    );
}

async fn repeated_failures_lock_the_account_and_the_address(app: TestApp) {
    let user = app.user("police", None, None).await;
    for _ in 0..5 {
        let (status, _, _) = attempt(&app, &user.username, "wrong password again").await;
        assert_eq!(status, 401);
    }
    let (status, body, _) = attempt(&app, &user.username, TEST_PASSWORD).await;
    assert_eq!(status, 429, "locked even with the right password: {body}");
    assert_eq!(error_code(&body), "too_many_attempts");

    // Per address: 20 failures from one client lock every account from it.
    let other = app.user("auditor", None, None).await;
    for i in 0..15 {
        attempt(&app, &format!("guess-{i}"), "wrong password again").await;
    }
    let (status, _, _) = attempt(&app, &other.username, TEST_PASSWORD).await;
    assert_eq!(status, 429);
}

async fn set_session_clock(app: &TestApp, sql: &str) {
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .expect("connect");
    sqlx::query(sql)
        .execute(&mut conn)
        .await
        .expect("session updated");
}

async fn idle_and_absolute_expiry_end_sessions(app: TestApp) {
    let user = app.user("analyst", None, None).await;
    let now = registry::auth::unix_now();
    set_session_clock(
        &app,
        &format!(
            "update session set last_seen_at = {} where user_id = (select id from app_user where user_id = '{}')",
            now - registry::auth::SESSION_IDLE_SECS - 1,
            user.user_id
        ),
    )
    .await;
    let (status, _) = app
        .send(Method::GET, "/api/v1/me", Some(&user.token), None)
        .await;
    assert_eq!(status, 401, "idle too long");

    let token = app.login(&user.username, TEST_PASSWORD).await;
    let (status, _) = app
        .send(Method::GET, "/api/v1/me", Some(&token), None)
        .await;
    assert_eq!(status, 200);
    set_session_clock(
        &app,
        &format!(
            "update session set created_at = {}, expires_at = {} where user_id = (select id from app_user where user_id = '{}')",
            now - 100_000,
            now - 1,
            user.user_id
        ),
    )
    .await;
    let (status, _) = app
        .send(Method::GET, "/api/v1/me", Some(&token), None)
        .await;
    assert_eq!(status, 401, "absolute lifetime over");
}

async fn logout_revokes_the_token(app: TestApp) {
    let user = app.user("analyst", None, None).await;
    let (status, _) = app
        .send(
            Method::DELETE,
            "/api/v1/sessions/current",
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .send(Method::GET, "/api/v1/me", Some(&user.token), None)
        .await;
    assert_eq!(status, 401);
}

async fn disabling_a_user_revokes_all_sessions_at_once(app: TestApp) {
    let admin = app.user("admin", None, None).await;
    let user = app.user("social_worker", None, Some("prizren")).await;
    let second = app.login(&user.username, TEST_PASSWORD).await;
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/v1/users/{}/disable", user.user_id),
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    for token in [&user.token, &second] {
        let (status, _) = app.send(Method::GET, "/api/v1/me", Some(token), None).await;
        assert_eq!(status, 401);
    }
    let (status, body, _) = attempt(&app, &user.username, TEST_PASSWORD).await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), "invalid_credentials");
}

async fn role_and_scope_changes_apply_on_the_next_request(app: TestApp) {
    let admin = app.user("admin", None, None).await;
    let user = app.user("analyst", None, None).await;
    let (status, _) = app
        .send(Method::GET, "/api/v1/users", Some(&user.token), None)
        .await;
    assert_eq!(status, 403);
    let (status, body) = app
        .send(
            Method::PUT,
            &format!("/api/v1/users/{}/scope", user.user_id),
            Some(&admin.token),
            Some(&json!({"role": "admin"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = app
        .send(Method::GET, "/api/v1/users", Some(&user.token), None)
        .await;
    assert_eq!(status, 200, "same token, new role");

    let (status, body) = app
        .send(
            Method::PUT,
            &format!("/api/v1/users/{}/scope", user.user_id),
            Some(&admin.token),
            Some(&json!({"role": "clinician"})),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["fields"][0]["field"], "facility");
}

async fn passwords_follow_the_rules(app: TestApp) {
    let admin = app.user("admin", None, None).await;
    for (password, expect) in [
        ("short pass", "at least 12"),
        ("password1234", "commonly used"),
        ("zzzzzzzzzzzzzzzz", "single character"),
    ] {
        let (status, body) = app
            .send(
                Method::POST,
                "/api/v1/users",
                Some(&admin.token),
                Some(&json!({"username": "new.user", "role": "analyst", "password": password})),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        let field = &body["error"]["fields"][0];
        assert_eq!(field["field"], "password");
        let problem = field["problem"].as_str().expect("problem");
        assert!(problem.contains(expect), "{problem}");
        assert!(!problem.contains(password));
    }
    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/users",
            Some(&admin.token),
            Some(&json!({"username": "Bad Name!", "role": "pilot", "facility": "nowhere"})),
        )
        .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["field"].as_str().expect("field"))
        .collect();
    assert_eq!(fields, vec!["username", "role"], "all problems at once");
}

async fn one_time_password_must_be_changed_first(app: TestApp) {
    let admin = app.user("admin", None, None).await;
    let (status, created) = app
        .send(
            Method::POST,
            "/api/v1/users",
            Some(&admin.token),
            Some(&json!({"username": "new.auditor", "role": "auditor"})),
        )
        .await;
    assert_eq!(status, 201);
    let one_time = created["initial_password"]
        .as_str()
        .expect("one-time password")
        .to_owned();
    let token = app.login("new.auditor", &one_time).await;
    let (status, body) = app
        .send(
            Method::GET,
            "/api/v1/reference/districts",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(error_code(&body), "password_change_required");
    let (status, _) = app
        .send(
            Method::POST,
            "/api/v1/me/password",
            Some(&token),
            Some(
                &json!({"current_password": one_time, "new_password": "a much better passphrase"}),
            ),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .send(
            Method::GET,
            "/api/v1/reference/districts",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200);

    // A password the administrator chose is known to the administrator: changed
    // at first login too.
    let chosen = "an administrator's passphrase";
    let (status, created) = app
        .send(
            Method::POST,
            "/api/v1/users",
            Some(&admin.token),
            Some(&json!({"username": "chosen.auditor", "role": "auditor", "password": chosen})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(created["initial_password"].is_null(), "{created}");
    let token = app.login("chosen.auditor", chosen).await;
    let (status, body) = app
        .send(
            Method::GET,
            "/api/v1/reference/districts",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(error_code(&body), "password_change_required");
}

async fn totp_codes_are_required_and_single_use(app: TestApp) {
    let user = app.user("forensic", None, None).await;
    let (status, enrolment) = app
        .send(Method::POST, "/api/v1/me/totp", Some(&user.token), None)
        .await;
    assert_eq!(status, 201);
    let secret = totp_rs::Secret::Encoded(enrolment["secret"].as_str().expect("secret").to_owned())
        .to_bytes()
        .expect("base32");
    // Stay clear of a 30-second step boundary so "previous" and "current" hold.
    if registry::auth::unix_now() % 30 > 25 {
        tokio::time::sleep(Duration::from_secs(6)).await;
    }
    let now = u64::try_from(registry::auth::unix_now()).expect("positive");
    let previous_step = registry::auth::totp::code_at(&secret, now - 30);
    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/me/totp/confirm",
            Some(&user.token),
            Some(&json!({"code": "000000"})),
        )
        .await;
    assert!(status == 422 || previous_step == "000000", "{body}");
    let (status, _) = app
        .send(
            Method::POST,
            "/api/v1/me/totp/confirm",
            Some(&user.token),
            Some(&json!({"code": previous_step})),
        )
        .await;
    assert_eq!(status, 204);

    let login = |totp: Option<String>| {
        let mut body = json!({"username": user.username, "password": TEST_PASSWORD});
        if let Some(code) = totp {
            body["totp"] = json!(code);
        }
        body
    };
    let (status, body) = app
        .send(Method::POST, "/api/v1/sessions", None, Some(&login(None)))
        .await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), "totp_required");
    let (status, _) = app
        .send(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(&login(Some(previous_step))),
        )
        .await;
    assert_eq!(
        status, 401,
        "the code used at enrolment cannot be used again"
    );
    let current = registry::auth::totp::code_at(&secret, now);
    let (status, _) = app
        .send(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(&login(Some(current.clone()))),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = app
        .send(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(&login(Some(current))),
        )
        .await;
    assert_eq!(status, 401, "each code is usable once");
}

/// With TOTP on, a new enrolment (which switches the factor in force off until it is
/// confirmed) needs the current password and the current code; a session alone is
/// not enough. Refusals and the change are audited.
async fn second_factor_changes_need_the_password_and_a_current_code(app: TestApp) {
    let user = app.user("forensic", None, None).await;
    let (secret, now) = app.enable_totp(&user).await;
    let current = registry::auth::totp::code_at(&secret, now);

    let attempt = |body: Option<serde_json::Value>| {
        let app = &app;
        let token = user.token.clone();
        async move {
            app.send(Method::POST, "/api/v1/me/totp", Some(&token), body.as_ref())
                .await
        }
    };
    let fields = |body: &serde_json::Value| -> Vec<String> {
        body["error"]["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|f| f["field"].as_str().expect("field").to_owned())
            .collect()
    };
    let (status, body) = attempt(None).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(fields(&body), ["current_password", "code"]);
    let (status, body) = attempt(Some(
        json!({"current_password": "not the password at all", "code": current}),
    ))
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(fields(&body), ["current_password"]);
    let wrong = if current == "123456" {
        "654321"
    } else {
        "123456"
    };
    let (status, body) = attempt(Some(
        json!({"current_password": TEST_PASSWORD, "code": wrong}),
    ))
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(fields(&body), ["code"]);

    // Still on: logging in needs a code.
    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(&json!({"username": user.username, "password": TEST_PASSWORD})),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), "totp_required");

    let (status, body) = attempt(Some(
        json!({"current_password": TEST_PASSWORD, "code": current}),
    ))
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = attempt(Some(
        json!({"current_password": TEST_PASSWORD, "code": current}),
    ))
    .await;
    assert_eq!(status, 201, "the factor is off now (re-enrolment pending)");

    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .expect("connect");
    let outcomes: Vec<String> = sqlx::query_scalar(
        "select outcome from audit_event where actor = $1 and action = 'start_totp' order by seq",
    )
    .bind(&user.user_id)
    .fetch_all(&mut conn)
    .await
    .expect("events");
    assert_eq!(
        outcomes,
        ["success", "failure", "failure", "success", "success"],
        "the first enrolment, two refusals, the change and the pending re-enrolment"
    );
}

/// An administrator cannot disable their own account, and no change (through the API
/// or the command line) may leave the registry without an active administrator.
async fn the_last_active_administrator_stays(app: TestApp) {
    let first = app.user("admin", None, None).await;
    let disable = |token: String, id: String| {
        let app = &app;
        async move {
            app.send(
                Method::POST,
                &format!("/api/v1/users/{id}/disable"),
                Some(&token),
                None,
            )
            .await
        }
    };
    let (status, body) = disable(first.token.clone(), first.user_id.clone()).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(error_code(&body), "own_account");

    let second = app.user("admin", None, None).await;
    let (status, body) = disable(first.token.clone(), second.user_id.clone()).await;
    assert!(status.is_success(), "{body}");
    // The first is the last active administrator now.
    let (status, body) = app
        .send(
            Method::PUT,
            &format!("/api/v1/users/{}/scope", first.user_id),
            Some(&first.token),
            Some(&json!({"role": "analyst"})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(error_code(&body), "last_admin");
    let cli = registry::cases::users::disable(
        &app.store,
        &app.operator(registry::authz::Action::ManageUsers, &first.user_id)
            .await,
        &first.user_id,
    )
    .await;
    assert!(
        matches!(
            cli,
            Err(registry::cases::users::UserError::Refused("last_admin", _))
        ),
        "{cli:?}"
    );
    let (status, me) = app
        .send(Method::GET, "/api/v1/me", Some(&first.token), None)
        .await;
    assert_eq!(status, 200, "still active: {me}");
    assert_eq!(me["role"], "admin");
}

/// A 300-character username (once a 500: the throttle key did not fit) or an
/// oversized password is refused by field before any hashing, and still counts as a
/// failed login: audited, and towards the address lockout.
async fn oversized_login_fields_are_refused_counted_and_audited(app: TestApp) {
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .expect("connect");
    const FAILURES: &str =
        "select count(*) from audit_event where action = 'login' and outcome = 'failure'";
    let before: i64 = sqlx::query_scalar(FAILURES)
        .fetch_one(&mut conn)
        .await
        .expect("count");
    let long_name = "ä".repeat(300);
    for (body, field) in [
        (
            json!({"username": long_name, "password": "whatever it is"}),
            "username",
        ),
        (
            json!({"username": "someone", "password": "x".repeat(5000)}),
            "password",
        ),
        (
            json!({"username": "", "password": "whatever it is"}),
            "username",
        ),
    ] {
        let (status, answer) = app
            .send(Method::POST, "/api/v1/sessions", None, Some(&body))
            .await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"]["fields"][0]["field"], field);
        assert!(!answer.to_string().contains("äää"), "no echo: {answer}");
    }
    let after: i64 = sqlx::query_scalar(FAILURES)
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert_eq!(after, before + 3);
    let mut status = reqwest::StatusCode::OK;
    for _ in 0..20 {
        status = app
            .send(
                Method::POST,
                "/api/v1/sessions",
                None,
                Some(&json!({"username": "ä".repeat(65), "password": "p"})),
            )
            .await
            .0;
    }
    assert_eq!(
        status, 429,
        "oversized attempts count towards the address lockout"
    );
}

async fn there_are_no_default_accounts(app: TestApp) {
    for (user, password) in [
        ("admin", "admin"),
        ("admin", "administrator"),
        ("root", "changeme1234"),
    ] {
        let (status, _, _) = attempt(&app, user, password).await;
        assert_eq!(status, 401);
    }
    let users = app.store.users().await.expect("users");
    assert_eq!(users.len(), 1, "only the test's own analyst exists");
    assert!(!app.store.admin_exists().await.expect("query"));
}
