//! The `registry` binary as an operator uses it: first start with no configuration,
//! clear one-line errors for bad settings, graceful shutdown.

use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_registry");

/// A command with no `REGISTRY_*` variables inherited from the test environment.
fn registry(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("REGISTRY_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[tokio::test]
async fn serve_with_no_configuration_creates_its_database_and_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The first admin exists only by this command: there are no default accounts.
    let mut add = registry(dir.path())
        .args([
            "users",
            "add",
            "--username",
            "first.admin",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("users add runs");
    {
        use std::io::Write;
        let mut stdin = add.stdin.take().expect("stdin");
        stdin
            .write_all(b"correct horse battery staple\n")
            .expect("password written");
    }
    let out = add.wait_with_output().expect("users add finishes");
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("correct horse"));
    let port = free_port();
    let mut child = registry(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("registry starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                ready = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "service became ready");
    assert!(dir.path().join("registry-data/registry.db").exists());
    let healthz = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(healthz.status(), 200);
    let doc = client
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .expect("openapi");
    assert_eq!(doc.status(), 200);
    let unauthenticated = client
        .get(format!("{base}/api/v1/reference/municipalities"))
        .send()
        .await
        .expect("municipalities");
    assert_eq!(unauthenticated.status(), 401, "deny by default");
    let session: serde_json::Value = client
        .post(format!("{base}/api/v1/sessions"))
        .json(&serde_json::json!({"username": "first.admin", "password": "correct horse battery staple"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = session["token"].as_str().expect("token");
    // The password was typed in by whoever ran `users add`: changed first.
    let refused = client
        .get(format!("{base}/api/v1/reference/municipalities"))
        .bearer_auth(token)
        .send()
        .await
        .expect("municipalities");
    assert_eq!(refused.status(), 403);
    let changed = client
        .post(format!("{base}/api/v1/me/password"))
        .bearer_auth(token)
        .json(
            &serde_json::json!({"current_password": "correct horse battery staple",
                                  "new_password": "my own better passphrase"}),
        )
        .send()
        .await
        .expect("password change");
    assert_eq!(changed.status(), 204);
    let municipalities: serde_json::Value = client
        .get(format!("{base}/api/v1/reference/municipalities"))
        .bearer_auth(token)
        .send()
        .await
        .expect("municipalities")
        .json()
        .await
        .expect("json");
    assert_eq!(municipalities["count"], 38);

    // SIGTERM: graceful shutdown, exit status 0.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let mut exited = None;
    for _ in 0..100 {
        if let Some(code) = child.try_wait().expect("wait") {
            exited = Some(code);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let code = exited.unwrap_or_else(|| {
        child.kill().ok();
        panic!("registry did not stop on SIGTERM")
    });
    assert!(code.success(), "clean exit: {code:?}");
}

#[test]
fn bad_setting_stops_start_up_with_one_line_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = registry(dir.path())
        .arg("check-config")
        .env("REGISTRY_LISTEN", "not-an-address")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("REGISTRY_LISTEN"), "{stderr}");

    let out = registry(dir.path())
        .arg("serve")
        .env("REGISTRY_DATABASE_URL", "mysql://x")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("REGISTRY_DATABASE_URL"), "{stderr}");
}

#[test]
fn check_config_reports_the_resolved_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = registry(dir.path())
        .arg("check-config")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("127.0.0.1:8080"), "{stdout}");
    assert!(stdout.contains("configuration OK"), "{stdout}");
}

#[tokio::test]
async fn migrate_prepares_a_postgres_database_twice_without_harm() {
    let url = crate::helpers::fresh_postgres_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    for _ in 0..2 {
        let out = registry(dir.path())
            .arg("migrate")
            .env("REGISTRY_DATABASE_URL", &url)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn help_explains_every_subcommand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = registry(dir.path()).arg("--help").output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "serve",
        "migrate",
        "check-config",
        "init",
        "keys",
        "subjects",
        "users",
        "policy",
        "audit",
        "demo",
        "link",
        "REGISTRY_DATABASE_URL",
    ] {
        assert!(text.contains(word), "--help mentions {word}: {text}");
    }
}

#[test]
fn key_file_is_created_once_and_never_replaced_for_existing_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("registry-data/registry.keys");

    // First use of a brand-new database creates the key file, private to its owner.
    let out = registry(dir.path())
        .args(["keys", "status"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(
        status.contains("master") && status.contains("active"),
        "{status}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &std::path::Path| {
            std::fs::metadata(path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&key_file), 0o600);
        let data = dir.path().join("registry-data");
        assert_eq!(mode(&data), 0o700, "the data directory is private");
        assert_eq!(
            mode(&data.join("registry.db")),
            0o600,
            "the database is private"
        );
        for journal in ["registry.db-wal", "registry.db-shm"] {
            let path = data.join(journal);
            if path.exists() {
                assert_eq!(mode(&path), 0o600, "{journal} is private");
            }
        }
    }
    let text = std::fs::read_to_string(&key_file).expect("readable by owner");
    assert!(
        !status.contains(
            text.lines()
                .find(|l| l.starts_with("secret"))
                .unwrap_or("@@")
        ),
        "key material is never printed"
    );

    // Key file lost: start-up refuses instead of creating new keys for old data.
    std::fs::remove_file(&key_file).expect("removed");
    let out = registry(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("never creates new keys"), "{stderr}");
    assert!(!key_file.exists());

    // `init` makes a key file, but it is not this database's: refused too.
    let out = registry(dir.path()).arg("init").output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = registry(dir.path())
        .args(["keys", "status"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not match"));

    // `init` never overwrites.
    let out = registry(dir.path()).arg("init").output().expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}

#[test]
fn operator_commands_say_what_they_need() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let out = registry(dir.path()).args(args).output().expect("runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The facility codes `users add --facility` needs.
    let (ok, listed, err) = run(&["facilities", "list"]);
    assert!(ok, "{err}");
    assert!(listed.lines().next().is_some_and(|h| h.starts_with("code")));
    assert!(listed.contains("uckk-psychiatry"), "{listed}");
    let (ok, status, err) = run(&["keys", "status"]);
    assert!(ok, "{err}");
    assert!(status.contains("data keys wrapped"), "{status}");
    assert!(status.contains("subjects' pseudonyms"), "{status}");
    let (ok, _, err) = run(&["keys", "rotate"]);
    assert!(!ok);
    assert!(err.contains("one of --master / --pseudonym"), "{err}");
    let (ok, _, err) = run(&["keys", "retire", "--master", "1"]);
    assert!(!ok);
    assert!(err.contains("is the active version"), "{err}");
}

#[test]
fn users_add_prints_a_one_time_password_and_refuses_bad_scope() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = registry(dir.path())
        .args([
            "users",
            "add",
            "--username",
            "dr.gashi",
            "--role",
            "clinician",
            "--facility",
            "uckk-psychiatry",
        ])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("one-time password: "), "{stdout}");

    let out = registry(dir.path())
        .args([
            "users",
            "add",
            "--username",
            "sw.one",
            "--role",
            "social_worker",
        ])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--municipality"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn demo_fills_an_empty_registry_once_and_prints_working_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = registry(dir.path())
        .args(["demo", "--persons", "0"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--persons"), "{stderr}");

    let out = registry(dir.path())
        .args(["demo", "--persons", "40", "--years", "2", "--seed", "5"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("40 people -> "), "{stdout}");
    assert!(!stdout.contains("refused"), "{stdout}");
    let analyst = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("demo.analyst "))
        .unwrap_or_else(|| panic!("analyst credentials printed: {stdout}"));
    let password = analyst.split_whitespace().nth(1).unwrap_or_default();
    assert!(password.len() >= 12, "{analyst}");
    for role in [
        "clinician",
        "social-worker",
        "police",
        "forensic",
        "auditor",
        "admin",
    ] {
        assert!(stdout.contains(&format!("demo.{role}")), "{role}: {stdout}");
    }

    // The access report of one of them lists every record held.
    let registry_id: String = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let url = format!(
                "sqlite://{}?mode=ro",
                dir.path().join("registry-data/registry.db").display()
            );
            sqlx::any::install_default_drivers();
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
                .await
                .expect("database");
            sqlx::query_scalar("select registry_id from subject order by id limit 1")
                .fetch_one(&mut conn)
                .await
                .expect("a subject")
        });
    let out = registry(dir.path())
        .args(["subjects", "access-report", "--registry-id", &registry_id])
        .output()
        .expect("runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    let held: usize = report
        .lines()
        .find_map(|l| l.strip_prefix("records held"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{report}"));
    assert!(held >= 1, "{report}");
    assert_eq!(
        report.lines().filter(|l| l.contains(" held by ")).count(),
        held,
        "{report}"
    );
    assert!(report.contains("treatment_episode"), "{report}");

    let again = registry(dir.path())
        .args(["demo", "--persons", "40"])
        .output()
        .expect("runs");
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already holds"), "{stderr}");
}

#[test]
fn policy_matrix_is_printed_for_every_role() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = registry(dir.path())
        .args(["policy", "matrix"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for role in [
        "clinician",
        "social_worker",
        "police",
        "forensic",
        "analyst",
        "auditor",
        "admin",
    ] {
        assert!(text.contains(role), "{role} missing");
    }
    assert_eq!(
        text,
        registry::authz::Authorizer::new()
            .expect("policies")
            .render_matrix()
    );
}

#[test]
fn backlog_import_registers_good_rows_and_reports_bad_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut add = registry(dir.path())
        .args([
            "users",
            "add",
            "--username",
            "dr.import",
            "--role",
            "clinician",
            "--facility",
            "hosp-prizren",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("users add");
    {
        use std::io::Write;
        add.stdin
            .take()
            .expect("stdin")
            .write_all(b"correct horse battery staple\n")
            .expect("written");
    }
    assert!(add.wait().expect("done").success());
    let header = registry::cases::import::columns().join(",");
    // A historical episode that has ended, with its end date and reason.
    let good = "1234567890,Arben,Krasniqi,1990-05-01,1,prizren,2025-03-10,1,6,2,1,1,4,3,1.1,2,1,19,7.1;8,1,1,,2.3,21,1,2.2,2.2,,2025-03-30,completed";
    let same_person = ",ARBEN,Krasniqi,1990-05-01,1,prizren,2025-03-10,1,6,2,1,1,4,3,1.1,2,1,19,,1,1,,2.3,21,1,2.2,2.2,,,";
    let bad = ",Drita,Berisha,1999-01-01,2,atlantis,2025-03-10,1,6,2,1,1,4,3,8,2,1,abc,,1,1,,1,,1,2.2,2.2,,,";
    let other = ",Drita,Berisha,1999-01-01,2,prizren,2025-04-10,2,6,2,1,1,4,3,2.1,4,2,20,,2,1,,1,,99,1,1,note,,";
    let bad_end = ",Besa,Gashi,1995-02-02,2,prizren,2025-04-10,2,6,2,1,1,4,3,2.1,4,2,20,,2,1,,1,,99,1,1,,2025-03-01,finished";
    let bad_identity =
        ",,,1995-02-30,2,prizren,2025-04-10,2,6,2,1,1,4,3,2.1,4,2,20,,2,1,,1,,99,1,1,,,";
    let file = dir.path().join("backlog.csv");
    std::fs::write(
        &file,
        format!("{header}\n{good}\n{same_person}\n{bad}\n{other}\n{bad_end}\n{bad_identity}\n"),
    )
    .expect("csv");
    let out = registry(dir.path())
        .args(["episodes", "import", "--clinician", "dr.import", "--file"])
        .arg(&file)
        .output()
        .expect("import runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "a refused row makes the exit status non-zero"
    );
    assert!(stdout.contains("registered 2 episodes"), "{stdout}");
    assert!(
        stdout.contains("line 3: treatment_start_date"),
        "same person, open episode: {stdout}"
    );
    assert!(stdout.contains("line 4: age_first_use"), "{stdout}");
    // Problems are named by CSV column, never by API path.
    assert!(
        stdout.contains("line 6: end_reason: must be one of"),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 6: end_date: must not be before treatment_start_date"),
        "{stdout}"
    );
    assert!(stdout.contains("line 7: birth_date"), "{stdout}");
    assert!(!stdout.contains("identity."), "{stdout}");
    assert!(
        !stdout.contains("Drita") && !stdout.contains("Krasniqi"),
        "no personal data in the report"
    );
    // Every row went through the decision point as the importing clinician: an
    // allowed decision under a policy rule for each row, and a write event for
    // each registered one.
    type Events = Vec<(String, String, String)>;
    type Statuses = Vec<(String, Option<String>)>;
    let (events, statuses): (Events, Statuses) = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let url = format!(
                "sqlite://{}?mode=ro",
                dir.path().join("registry-data/registry.db").display()
            );
            sqlx::any::install_default_drivers();
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
                .await
                .expect("database");
            let events = sqlx::query_as(
                "select e.outcome, e.rule, e.purpose from audit_event e \
                 join app_user u on cast(u.user_id as text) = e.actor \
                 where u.username = 'dr.import' and e.action = 'create_episode' order by e.seq",
            )
            .fetch_all(&mut conn)
            .await
            .expect("events");
            let statuses = sqlx::query_as("select status, end_reason from episode order by id")
                .fetch_all(&mut conn)
                .await
                .expect("episodes");
            (events, statuses)
        });
    assert_eq!(
        statuses,
        [
            ("closed".to_owned(), Some("completed".to_owned())),
            ("open".to_owned(), None)
        ],
        "the ended episode is closed, with its reason"
    );
    let count = |outcome: &str| events.iter().filter(|(o, ..)| o == outcome).count();
    assert_eq!(
        count("allowed"),
        4,
        "one decision per row that reached registration: {events:?}"
    );
    assert_eq!(
        count("success"),
        2,
        "one write per registered row: {events:?}"
    );
    assert!(
        events.iter().all(
            |(_, rule, purpose)| rule == "clinician-episode-own-facility" && purpose == "treatment"
        ),
        "{events:?}"
    );
}

/// Runs the binary under strace, recording file syscalls; returns the trace.
fn traced(dir: &std::path::Path, args: &[&str]) -> String {
    let trace = dir.join("strace.txt");
    let cmd = registry(dir);
    let program = cmd.get_program().to_owned();
    let out = Command::new("strace")
        .current_dir(dir)
        .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .args([
            "-f",
            "-e",
            "trace=openat,rename,renameat,renameat2,fsync,fdatasync",
            "-o",
        ])
        .arg(&trace)
        .arg(&program)
        .args(args)
        .output()
        .expect("strace is installed (.ci/test installs it)");
    assert!(
        out.status.success(),
        "registry {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(trace).expect("trace")
}

/// Whether, after the first line containing every one of `markers`, the directory
/// `dir` is opened and that descriptor fsynced.
fn directory_synced_after(trace: &str, markers: &[&str], dir: &str) -> bool {
    let Some(start) = trace
        .lines()
        .position(|l| markers.iter().all(|m| l.contains(m)))
    else {
        panic!("no line with {markers:?} in the trace:\n{trace}");
    };
    let after = trace.lines().skip(start).collect::<Vec<_>>().join("\n");
    let quoted = format!("\"{dir}\"");
    after
        .lines()
        .filter(|l| l.contains("openat(") && l.contains(&quoted))
        .filter_map(|l| l.rsplit("= ").next()?.trim().parse::<u32>().ok())
        .any(|fd| after.contains(&format!("fsync({fd})")))
}

#[test]
fn key_file_writes_are_durable_with_their_directory_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Creation: the new name is a directory entry, synced with the directory.
    let trace = traced(dir.path(), &["keys", "status"]);
    assert!(
        directory_synced_after(
            &trace,
            &["openat(", "registry-data/registry.keys\"", "O_CREAT"],
            "registry-data"
        ),
        "the key file's directory is fsynced after the file is created:\n{trace}"
    );
    // Rotation replaces the file by a rename: the rename reaches the disk only when
    // the directory is synced, else a power loss can bring back the old keys.
    let trace = traced(dir.path(), &["keys", "rotate", "--pseudonym"]);
    assert!(
        directory_synced_after(
            &trace,
            &["rename", "registry-data/registry.keys.tmp\""],
            "registry-data"
        ),
        "the key file's directory is fsynced after the rename:\n{trace}"
    );
}

/// `registry link` links two extracts offline: the slips find their person, a
/// stranger and a namesake do not; the output holds row numbers, ids and
/// similarities, never a name; a bad header is named without echoing any value.
#[test]
fn link_pairs_two_extracts_by_similarity() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("extract written");
        path.display().to_string()
    };
    let left = write(
        "registry.csv",
        "id,given_name,surname,date_of_birth,sex\n\
         r1,Xhavit,Çeku,1991-04-12,1\n\
         r2,Arta,Berisha,1994-02-17,2\n\
         r3,Besnik,Gashi,1979-10-30,1\n",
    );
    let right = write(
        "deaths.csv",
        "id,given_name,surname,date_of_birth,sex,personal_number\n\
         d1,Džavit,Ćeku,19911204,m,\n\
         d2,Arta,Berrisha,1994,f,\n\
         d3,Mimoza,Krasniqi,1960-01-01,2,\n\
         d4,Besnik,Gashi,1950-06-06,1,1234567890\n",
    );
    let out = dir.path().join("pairs.csv");
    let run = registry(dir.path())
        .args(["link", "--left", &left, "--right", &right, "--out"])
        .arg(&out)
        .output()
        .expect("link runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let pairs = std::fs::read_to_string(&out).expect("pairs written");
    let linked: Vec<(&str, &str)> = pairs
        .lines()
        .skip(1)
        .filter(|l| l.contains(",link,"))
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (cells[2], cells[3])
        })
        .collect();
    assert_eq!(linked, vec![("r1", "d1"), ("r2", "d2")], "{pairs}");
    for name in ["Xhavit", "Berisha", "Gashi", "1991", "Mimoza"] {
        assert!(!pairs.contains(name), "{name} in the output");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "pairs are private to the owner");
    }
    // An existing output is not overwritten.
    let again = registry(dir.path())
        .args(["link", "--left", &left, "--right", &right, "--out"])
        .arg(&out)
        .output()
        .expect("link runs");
    assert!(!again.status.success());

    let bad = write(
        "bad.csv",
        "id,first,surname,date_of_birth,sex\nx,Secretname,Doe,1990,1\n",
    );
    let run = registry(dir.path())
        .args(["link", "--left", &bad, "--right", &right, "--out"])
        .arg(dir.path().join("other.csv"))
        .output()
        .expect("link runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("given_name"), "{stderr}");
    assert!(!stderr.contains("Secretname"), "{stderr}");
}
