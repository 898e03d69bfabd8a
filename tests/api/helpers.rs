//! Test harness: `TestApp::spawn(Backend)` starts the service on a free port with a
//! fresh database — a temporary SQLite file, or a new PostgreSQL database created
//! on the server named by `REGISTRY_TEST_POSTGRES_URL`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use registry::config::Settings;
use registry::crypto::KeyringHandle;
use registry::server;
use registry::store::Store;
use sqlx::Connection;
use sqlx::Executor;

pub use registry::store::Backend;

/// Generates, for each named `async fn(TestApp)`, a module with one test per backend.
/// The PostgreSQL variant fails (never skips) when the server cannot be reached.
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = crate::helpers::TestApp::spawn(crate::helpers::Backend::Sqlite).await;
                    super::$name(app).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let app = crate::helpers::TestApp::spawn(crate::helpers::Backend::Postgres).await;
                    super::$name(app).await;
                }
            }
        )+
    };
}

/// A running service and what a test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// Direct access to the same database.
    pub store: Store,
    /// The keys the service holds.
    pub keys: Arc<KeyringHandle>,
    /// The key file.
    pub key_file: PathBuf,
    /// The database URL (for dump tests and second instances).
    pub database_url: String,
    /// Keeps the temporary data directory alive.
    pub dir: tempfile::TempDir,
    /// Bearer token of a default analyst, for requests that only need a login.
    pub token: String,
}

/// A user created for a test, logged in.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// Public id.
    pub user_id: String,
    /// Login name.
    pub username: String,
    /// Bearer token of a live session.
    pub token: String,
}

/// The password every test user gets.
pub const TEST_PASSWORD: &str = "correct horse battery staple";

/// The PostgreSQL server the suite uses; the variable is required for PostgreSQL tests.
pub fn postgres_admin_url() -> String {
    std::env::var("REGISTRY_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "REGISTRY_TEST_POSTGRES_URL is not set: the PostgreSQL half of the suite cannot \
             run. Run `.ci/test` (it starts PostgreSQL and sets it), or set it, e.g. \
             postgres://postgres@127.0.0.1:5432/test"
        )
    })
}

/// Creates an empty database on the test server and returns its URL.
pub async fn fresh_postgres_database() -> String {
    let admin = postgres_admin_url();
    let name = format!("registry_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at REGISTRY_TEST_POSTGRES_URL is unreachable: {e}"));
    conn.execute(format!("create database {name}").as_str())
        .await
        .expect("create test database");
    conn.close().await.ok();
    with_database(&admin, &name)
}

/// Replaces the database name in a PostgreSQL URL.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{host_part}/{name}{query}")
}

impl TestApp {
    /// An audited operator permit from the console's decision point (what the
    /// command line uses), for `action` on `record` (`""`: none).
    pub async fn operator(
        &self,
        action: registry::authz::Action,
        record: &str,
    ) -> registry::cases::access::Permit {
        registry::cases::access::Gate::new(
            std::sync::Arc::new(registry::authz::Authorizer::new().expect("policies")),
            self.store.clone(),
        )
        .operator(action, record, &[], "administration")
        .await
        .expect("operator permit")
    }

    /// Starts the service on a fresh database of the given backend.
    pub async fn spawn(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let database_url = match backend {
            Backend::Sqlite => format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("registry.db").display()
            ),
            Backend::Postgres => fresh_postgres_database().await,
        };
        Self::spawn_on(dir, database_url).await
    }

    /// Starts an instance on an existing database (a second instance, a restart);
    /// the key file is `registry.keys` in `dir` (created when the database is new).
    pub async fn spawn_on(dir: tempfile::TempDir, database_url: String) -> Self {
        // Tests read and tamper with the database through sqlx's `Any` driver, as
        // someone holding the file or a database login would, outside the store.
        sqlx::any::install_default_drivers();
        let env: BTreeMap<String, String> = [
            ("REGISTRY_LISTEN", "127.0.0.1:0".to_owned()),
            ("REGISTRY_DATA_DIR", dir.path().display().to_string()),
            ("REGISTRY_DATABASE_URL", database_url.clone()),
            ("REGISTRY_MAX_CONNECTIONS", "4".to_owned()),
            ("REGISTRY_BODY_LIMIT_BYTES", "65536".to_owned()),
            ("REGISTRY_HEADER_TIMEOUT_SECS", "2".to_owned()),
            ("REGISTRY_TRUSTED_PROXIES", "127.0.0.2".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let settings = Settings::load(None, &env).expect("test settings are valid");
        let store = server::prepare_store(&settings)
            .await
            .expect("database prepared");
        let keys = server::prepare_keys(&settings, &store)
            .await
            .expect("keys opened");
        let key_file = settings.key_file.clone();
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .expect("bind a free port");
        let address: SocketAddr = listener.local_addr().expect("bound address");
        let header_timeout = settings.header_timeout;
        let app =
            server::build_app(settings, store.clone(), Arc::clone(&keys)).expect("policies load");
        tokio::spawn(server::serve_on(
            listener,
            app,
            header_timeout,
            std::future::pending(),
        ));
        let mut app = Self {
            base: format!("http://{address}"),
            client: reqwest::Client::new(),
            store,
            keys,
            key_file,
            database_url,
            dir,
            token: String::new(),
        };
        app.token = app.user("analyst", None, None).await.token;
        app
    }

    /// Creates a user with `role` and scope (through the same code as the CLI) and
    /// logs them in over HTTP.
    pub async fn user(
        &self,
        role: &str,
        facility: Option<&str>,
        municipality: Option<&str>,
    ) -> TestUser {
        let username =
            format!("{role}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]).replace('_', "-");
        let created = registry::cases::users::create(
            &self.store,
            &self
                .operator(registry::authz::Action::ManageUsers, "")
                .await,
            registry::cases::users::NewAccount {
                username: username.clone(),
                scope: registry::cases::users::Scope {
                    role: role.to_owned(),
                    facility: facility.map(str::to_owned),
                    municipality: municipality.map(str::to_owned),
                },
                password: registry::cases::users::InitialPassword::Final(zeroize::Zeroizing::new(
                    TEST_PASSWORD.to_owned(),
                )),
            },
        )
        .await
        .expect("user created");
        let token = self.login(&username, TEST_PASSWORD).await;
        TestUser {
            user_id: created.user_id,
            username,
            token,
        }
    }

    /// Logs in and returns the token (panics unless the login succeeds).
    pub async fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                "/api/v1/sessions",
                None,
                Some(&serde_json::json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, 201, "login of {username}: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        if status == reqwest::StatusCode::NO_CONTENT {
            return (status, serde_json::Value::Null);
        }
        json_of(response).await
    }

    /// Enrols and confirms TOTP for `user`; returns the secret and the current time
    /// (Unix seconds), clear of a 30-second step boundary, whose code the caller may
    /// still use (enrolment used the previous step's).
    pub async fn enable_totp(&self, user: &TestUser) -> (Vec<u8>, u64) {
        let (status, enrolment) = self
            .send(
                reqwest::Method::POST,
                "/api/v1/me/totp",
                Some(&user.token),
                None,
            )
            .await;
        assert_eq!(status, 201, "{enrolment}");
        let secret =
            totp_rs::Secret::Encoded(enrolment["secret"].as_str().expect("secret").to_owned())
                .to_bytes()
                .expect("base32");
        if registry::auth::unix_now() % 30 > 25 {
            tokio::time::sleep(std::time::Duration::from_secs(6)).await;
        }
        let now = u64::try_from(registry::auth::unix_now()).expect("positive");
        let previous = registry::auth::totp::code_at(&secret, now - 30);
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                "/api/v1/me/totp/confirm",
                Some(&user.token),
                Some(&serde_json::json!({"code": previous})),
            )
            .await;
        assert_eq!(status, 204, "{body}");
        (secret, now)
    }

    /// One logged-in user of every role (scoped ones in Prizren).
    pub async fn every_role(&self) -> Vec<(&'static str, TestUser)> {
        let mut users = Vec::new();
        for role in [
            "clinician",
            "social_worker",
            "police",
            "forensic",
            "analyst",
            "auditor",
            "admin",
        ] {
            let user = match role {
                "clinician" => self.user(role, Some("hosp-prizren"), None).await,
                "social_worker" => self.user(role, None, Some("prizren")).await,
                _ => self.user(role, None, None).await,
            };
            users.push((role, user));
        }
        users
    }

    /// Absolute URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// GET a path as the default analyst; returns status and JSON body.
    pub async fn get_json(&self, path: &str) -> (reqwest::StatusCode, serde_json::Value) {
        self.send(reqwest::Method::GET, path, Some(&self.token), None)
            .await
    }

    /// POST a JSON body as the default analyst; returns status and JSON body.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        self.send(reqwest::Method::POST, path, Some(&self.token), Some(body))
            .await
    }
}

/// Reads a response's status and JSON body, failing the test if it is not JSON.
pub async fn json_of(response: reqwest::Response) -> (reqwest::StatusCode, serde_json::Value) {
    let status = response.status();
    let text = response.text().await.expect("body read");
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("response ({status}) is not JSON: {e}: {text}"));
    (status, value)
}

/// Asserts the error shape and returns the error code.
pub fn error_code(body: &serde_json::Value) -> &str {
    let error = body.get("error").expect("error object");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error has a message: {body}"
    );
    error["code"].as_str().expect("error code")
}

/// A connection to a test database outside the store (sqlx's `Any` driver): what
/// someone holding the database file or a login would have.
pub async fn raw_connection(url: &str) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url)
        .await
        .expect("raw connection")
}

/// Person `n` of a list of clearly different people (given name, family name, birth
/// date), for tests that need many subjects: any two differ in both names and in
/// more than one digit of the birth date, so fuzzy linkage keeps them apart as it
/// would real strangers.
pub fn distinct_person(n: usize) -> (String, String, String) {
    const GIVEN: [&str; 13] = [
        "Arben", "Blerta", "Dardan", "Elira", "Fatos", "Gresa", "Ilir", "Jehona", "Kushtrim",
        "Lirije", "Mentor", "Nora", "Petrit",
    ];
    const FAMILY: [&str; 11] = [
        "Berisha", "Gashi", "Hoxha", "Krasniqi", "Morina", "Shala", "Bytyqi", "Dervishi", "Ferati",
        "Jashari", "Osmani",
    ];
    // 13 and 11 are prime, so the pairs run through 143 combinations; the birth
    // date moves by 7 years, 5 months and 11 days each step.
    let given = GIVEN[n % GIVEN.len()];
    let family = FAMILY[n % FAMILY.len()];
    let birth = format!(
        "{}-{:02}-{:02}",
        1950 + (n * 7) % 53,
        1 + (n * 5) % 12,
        1 + (n * 11) % 28
    );
    (given.to_owned(), family.to_owned(), birth)
}
