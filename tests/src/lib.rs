//! The end-to-end test harness: [`TestApp::spawn`] starts the real server (the same
//! `crm_server::run` the `crmd` binary calls) on an ephemeral loopback port with its own fresh,
//! migrated database, and hands back a connected gRPC client. Dropping the app stops the server
//! and deletes its database.
//!
//! Every test runs once per [`Backend`]. SQLite always runs. PostgreSQL runs when
//! `CRM_TEST_POSTGRES_URL` names a server where the tests may create databases (each app creates
//! `crm_test_<uuid>` and drops it afterwards); without it the PostgreSQL variant prints a loud
//! SKIPPED line, and when `CI` is set it fails instead, so CI can never skip it silently.
//!
//! Every app starts with the bootstrap admin (`principals/admin`, role `admin`, scope ALL) and its
//! key, which [`TestApp::customers`] and [`TestApp::access`] send with every call;
//! [`TestApp::customers_as`] and [`TestApp::access_as`] call as someone else.
//!
//! [`TestApp::spawn_with_metrics`] also serves Prometheus metrics on an ephemeral port, read
//! with [`TestApp::scrape_metrics`] and [`Scrape`]; [`crmd::Crmd`] runs the real binary.
//!
//! Logs are quiet unless `TEST_LOG` is set.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

pub mod cli;
pub mod crmd;
pub mod pg_cluster;
pub mod proxy;

use std::{net::SocketAddr, time::Duration};

use crm_api::crm::v1::{access_service_client::AccessServiceClient, customer_service_client::CustomerServiceClient};
use crm_server::config::Settings;
use sea_orm::ConnectionTrait;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};

pub use crm_api::crm::v1 as pb;

/// The environment variable naming the PostgreSQL server for tests.
pub const POSTGRES_URL_VAR: &str = "CRM_TEST_POSTGRES_URL";

/// Which database a test app stores in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server of `CRM_TEST_POSTGRES_URL`.
    Postgres,
}

/// A fresh database, removed on drop.
#[derive(Debug)]
pub enum TestDatabase {
    /// Another app's database, shared by a replica; not removed by this handle.
    Shared { url: String },
    /// SQLite: the directory holding the file.
    Sqlite { url: String, _dir: tempfile::TempDir },
    /// PostgreSQL: the admin URL and the created database's name.
    Postgres {
        url: String,
        admin_url: String,
        name: String,
    },
}

impl TestDatabase {
    /// Creates a fresh database for `backend`; `None` when PostgreSQL is not configured (after
    /// saying so loudly, or failing under CI).
    pub async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("crm.db").display());
                Some(Self::Sqlite { url, _dir: dir })
            }
            Backend::Postgres => {
                let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
                    assert!(
                        std::env::var_os("CI").is_none(),
                        "{POSTGRES_URL_VAR} is not set under CI: the PostgreSQL tests must run in CI"
                    );
                    eprintln!(
                        "\n!!! SKIPPED PostgreSQL variant: set {POSTGRES_URL_VAR}=postgres://postgres@127.0.0.1:5432/postgres to run it !!!\n"
                    );
                    return None;
                };
                let name = format!("crm_test_{}", uuid::Uuid::new_v4().simple());
                let admin = sea_orm::Database::connect(&admin_url)
                    .await
                    .expect("connect to CRM_TEST_POSTGRES_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let url = with_database(&admin_url, &name);
                Some(Self::Postgres { url, admin_url, name })
            }
        }
    }

    /// A new pool of `max_connections` on this database (not migrated).
    pub async fn connect(&self, max_connections: u32) -> crm_persistence::Database {
        crm_persistence::Database::connect(self.url(), max_connections)
            .await
            .expect("connect to the test database")
    }

    /// The URL of this database.
    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } | Self::Shared { url } => url,
        }
    }
}

/// `url` with its path replaced by `/name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Self::Postgres { admin_url, name, .. } = self {
            let (admin_url, db_name) = (admin_url.clone(), name.clone());
            // Drop cannot be async: use a private runtime on a plain thread.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async {
                    let admin = sea_orm::Database::connect(&admin_url).await.ok()?;
                    admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
                        .await
                        .ok()?;
                    admin.close().await.ok()
                })
            })
            .join();
            if !matches!(dropped, Ok(Some(()))) {
                eprintln!("warning: could not drop test database {name}");
            }
        }
    }
}

/// Sends `authorization: Bearer <key>` with every call (or nothing, for `None`).
#[derive(Debug, Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    /// Sends `key`.
    pub fn new(key: &str) -> Self {
        Self(Some(format!("Bearer {key}").parse().expect("ASCII key")))
    }

    /// Sends no credentials.
    pub fn none() -> Self {
        Self(None)
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A `CustomerService` client that authenticates with a key.
pub type CustomersClient = CustomerServiceClient<InterceptedService<Channel, Bearer>>;
/// An `AccessService` client that authenticates with a key.
pub type AccessClient = AccessServiceClient<InterceptedService<Channel, Bearer>>;
/// A `ClassificationService` client that authenticates with a key.
pub type ClassificationClient =
    crm_api::crm::v1::classification_service_client::ClassificationServiceClient<InterceptedService<Channel, Bearer>>;

/// A running server with its own database and connected clients.
#[derive(Debug)]
pub struct TestApp {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// A client of `crm.v1.CustomerService`, calling as the bootstrap admin.
    pub customers: CustomersClient,
    /// A client of `crm.v1.AccessService`, calling as the bootstrap admin.
    pub access: AccessClient,
    /// A client of `crm.v1.ClassificationService`, calling as the bootstrap admin.
    pub classification: ClassificationClient,
    /// The server's clock: the system time plus an offset the test moves forward.
    pub clock: std::sync::Arc<crm_domain::clock::ManualClock>,
    /// The bootstrap admin's API key.
    pub admin_key: String,
    /// The channel, for other clients (health, reflection).
    pub channel: Channel,
    /// Where Prometheus metrics are served, for apps started with
    /// [`TestApp::spawn_with_metrics`].
    pub metrics_addr: Option<SocketAddr>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow_free::Result>>,
    /// The database (dropped after the server has stopped).
    pub database: TestDatabase,
}

mod anyhow_free {
    /// The server task's outcome, as text.
    pub type Result = std::result::Result<(), String>;
}

impl TestApp {
    /// Starts a server on a fresh database of `backend`; `None` when that backend is not
    /// configured.
    pub async fn spawn(backend: Backend) -> Option<Self> {
        let database = TestDatabase::create(backend).await?;
        Some(Self::spawn_on(database, |_| {}).await)
    }

    /// Starts a server on a fresh database of `backend`, with settings adjusted by `configure`,
    /// that also serves Prometheus metrics on an ephemeral port ([`TestApp::metrics_addr`]).
    pub async fn spawn_with_metrics(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Option<Self> {
        let database = TestDatabase::create(backend).await?;
        let admin_key = Self::prepare(&database).await;
        Some(Self::start_with(database, admin_key, configure, true).await)
    }

    /// Starts a server on `database` with settings adjusted by `configure`. The database is
    /// migrated and given its bootstrap admin first (as `crmd` does on first start), so that the
    /// admin's key is known to the test.
    pub async fn spawn_on(database: TestDatabase, configure: impl FnOnce(&mut Settings)) -> Self {
        let admin_key = Self::prepare(&database).await;
        Self::start(database, admin_key, configure).await
    }

    /// [`TestApp::spawn_on`], also serving Prometheus metrics on an ephemeral port.
    pub async fn spawn_on_with_metrics(database: TestDatabase, configure: impl FnOnce(&mut Settings)) -> Self {
        let admin_key = Self::prepare(&database).await;
        Self::start_with(database, admin_key, configure, true).await
    }

    /// Migrates `database` and gives it its bootstrap admin; returns the admin's key.
    async fn prepare(database: &TestDatabase) -> String {
        let db = crm_persistence::Database::connect(database.url(), 1)
            .await
            .expect("connect to the test database");
        db.migrate().await.expect("migrate the test database");
        let admin_key = match crm_server::bootstrap::first_start(&db).await.expect("bootstrap") {
            Some(key) => key,
            None => crm_server::bootstrap::new_admin_key(&db).await.expect("admin key"),
        };
        db.close().await;
        admin_key
    }

    /// Starts a second server (a replica) on this app's database, sharing its admin.
    pub async fn spawn_replica(&self, configure: impl FnOnce(&mut Settings)) -> Self {
        let database = TestDatabase::Shared {
            url: self.database.url().to_owned(),
        };
        Self::start(database, self.admin_key.clone(), configure).await
    }

    async fn start(database: TestDatabase, admin_key: String, configure: impl FnOnce(&mut Settings)) -> Self {
        Self::start_with(database, admin_key, configure, false).await
    }

    async fn start_with(
        database: TestDatabase,
        admin_key: String,
        configure: impl FnOnce(&mut Settings),
        with_metrics: bool,
    ) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            crm_server::telemetry::init(crm_server::config::LogFormat::Text, "info");
        }
        let mut settings = Settings::with_database(database.url());
        settings.admin_key_file = std::env::temp_dir().join(format!("crm-test-admin-{}.key", uuid::Uuid::new_v4()));
        settings.db_max_connections = 5;
        settings.shutdown_grace = Duration::from_secs(5);
        // Tests run re-classification when they want it, not on a schedule.
        settings.reclassify_interval = None;
        let clock = std::sync::Arc::new(crm_domain::clock::ManualClock::new());
        settings.clock = clock.clone();
        configure(&mut settings);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind an ephemeral port");
        let addr = listener.local_addr().expect("bound address");
        let metrics = if with_metrics {
            Some(
                TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind an ephemeral metrics port"),
            )
        } else {
            None
        };
        let metrics_addr = metrics.as_ref().map(|l| l.local_addr().expect("bound metrics address"));
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let listeners = crm_server::Listeners {
                grpc: listener,
                metrics,
            };
            crm_server::run_with(settings, listeners, async move {
                let _ = rx.await;
            })
            .await
            .map_err(|e| format!("{e:#}"))
        });
        // The listener is bound already, so connecting needs no wait: the handshake completes
        // as soon as the server starts accepting.
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        let bearer = Bearer::new(&admin_key);
        Self {
            addr,
            customers: CustomerServiceClient::with_interceptor(channel.clone(), bearer.clone()),
            access: AccessServiceClient::with_interceptor(channel.clone(), bearer.clone()),
            classification:
                crm_api::crm::v1::classification_service_client::ClassificationServiceClient::with_interceptor(
                    channel.clone(),
                    bearer,
                ),
            clock,
            admin_key,
            channel,
            metrics_addr,
            shutdown: Some(tx),
            server: Some(server),
            database,
        }
    }

    /// A `CustomerService` client calling with `key` (`None`: without credentials).
    pub fn customers_as(&self, key: Option<&str>) -> CustomersClient {
        CustomerServiceClient::with_interceptor(self.channel.clone(), key.map_or_else(Bearer::none, Bearer::new))
    }

    /// An `AccessService` client calling with `key` (`None`: without credentials).
    pub fn access_as(&self, key: Option<&str>) -> AccessClient {
        AccessServiceClient::with_interceptor(self.channel.clone(), key.map_or_else(Bearer::none, Bearer::new))
    }

    /// A `ClassificationService` client calling with `key` (`None`: without credentials).
    pub fn classification_as(&self, key: Option<&str>) -> ClassificationClient {
        crm_api::crm::v1::classification_service_client::ClassificationServiceClient::with_interceptor(
            self.channel.clone(),
            key.map_or_else(Bearer::none, Bearer::new),
        )
    }

    /// `GET /metrics` from this app's metrics listener, over real HTTP.
    ///
    /// # Panics
    /// When the app serves no metrics or the scrape fails.
    pub async fn scrape_metrics(&self) -> Scrape {
        scrape_metrics(self.metrics_addr.expect("an app started with spawn_with_metrics")).await
    }

    /// Stops the server gracefully and returns its outcome.
    pub async fn stop(mut self) -> anyhow_free::Result {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.server.take() {
            Some(handle) => handle.await.map_err(|e| e.to_string())?,
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.server.take() {
            handle.abort();
        }
    }
}

/// Runs an end-to-end test body once per backend: `e2e!(name, body)` defines `name::sqlite`
/// and `name::postgres`, each spawning a fresh app and passing it to `body(app)`.
#[macro_export]
macro_rules! e2e {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    if let Some(app) = $crate::TestApp::spawn($crate::Backend::Sqlite).await {
                        super::$name(app).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    if let Some(app) = $crate::TestApp::spawn($crate::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            }
        )+
    };
}

/// Runs a test body that needs only a backend (not a running app) once per backend:
/// `on_both_backends!(name, ...)` defines `name::sqlite` and `name::postgres`, each calling
/// `name(backend)`. The body creates its database with [`TestDatabase::create`], which applies the
/// same skip (loud) and CI (fail) rules as [`e2e!`].
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await;
                }
            }
        )+
    };
}

/// A valid organisation customer with the given display name.
pub fn organization(display_name: &str) -> pb::Customer {
    pb::Customer {
        display_name: display_name.to_owned(),
        kind: pb::CustomerKind::Organization as i32,
        ..Default::default()
    }
}

/// Creates principal `id` (a user of `department`; empty for none) with no binding and returns
/// its name.
pub async fn add_principal(app: &TestApp, id: &str, department: &str) -> String {
    app.access
        .clone()
        .create_principal(pb::CreatePrincipalRequest {
            principal_id: id.to_owned(),
            principal: Some(pb::Principal {
                kind: pb::PrincipalKind::User as i32,
                display_name: format!("User {id}"),
                department: department.to_owned(),
                ..Default::default()
            }),
        })
        .await
        .expect("create principal")
        .into_inner()
        .name
}

/// Creates principal `id` (a user of `department`), binds it to `roles/{role}` with `scope` and
/// returns a new API key of it.
pub async fn principal_with_key(app: &TestApp, id: &str, department: &str, role: &str, scope: pb::Scope) -> String {
    add_principal(app, id, department).await;
    let mut access = app.access.clone();
    access
        .create_role_binding(pb::CreateRoleBindingRequest {
            role_binding: Some(pb::RoleBinding {
                principal: format!("principals/{id}"),
                role: format!("roles/{role}"),
                scope: scope as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("create role binding");
    access
        .create_api_key(pb::CreateApiKeyRequest {
            parent: format!("principals/{id}"),
            expire_time: None,
        })
        .await
        .expect("create API key")
        .into_inner()
        .secret
}

/// Creates `customer` and returns it as stored.
pub async fn create(app: &TestApp, customer: pb::Customer) -> pb::Customer {
    app.customers
        .clone()
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer),
            ..Default::default()
        })
        .await
        .expect("create customer")
        .into_inner()
}

/// The `(field, description)` pairs of a status's `BadRequest`.
pub fn violations(status: &tonic::Status) -> Vec<(String, String)> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|b| {
            b.field_violations
                .into_iter()
                .map(|v| (v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

/// The fields of a status's `BadRequest`, in order.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    violations(status).into_iter().map(|(f, _)| f).collect()
}

/// The `(reason, domain)` of a status's `ErrorInfo`.
pub fn reason(status: &tonic::Status) -> Option<(String, String)> {
    use tonic_types::StatusExt;
    status.get_details_error_info().map(|i| (i.reason, i.domain))
}

/// Asserts that an error's message is non-empty and says nothing about the storage behind the
/// service, neither in the message nor in any field violation.
#[track_caller]
pub fn assert_no_leak(status: &tonic::Status) {
    assert!(!status.message().trim().is_empty(), "empty message: {status:?}");
    let mut texts = vec![status.message().to_lowercase()];
    texts.extend(
        violations(status)
            .into_iter()
            .map(|(_, description)| description.to_lowercase()),
    );
    for text in texts {
        for word in [
            "sql",
            "database",
            "constraint",
            "sea_orm",
            "sea-orm",
            "duplicate key",
            "panicked",
            "unexpected:",
        ] {
            assert!(!text.contains(word), "the error leaks internals ({word}): {status:?}");
        }
    }
}

/// Asserts `code` with an `ErrorInfo` of `expected_reason`, domain `crm.v1`, whose metadata names
/// `customer`, and a message that leaks nothing internal.
#[track_caller]
pub fn assert_error_info(status: &tonic::Status, code: tonic::Code, expected_reason: &str, customer: &str) {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    assert_eq!(
        reason(status),
        Some((expected_reason.to_owned(), "crm.v1".to_owned())),
        "{status:?}"
    );
    let info = status.get_details_error_info().expect("ErrorInfo");
    assert_eq!(
        info.metadata.get("customer").map(String::as_str),
        Some(customer),
        "{status:?}"
    );
    assert_no_leak(status);
}

/// One scrape of a Prometheus endpoint: the exposition text and its samples.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// The response's `content-type`.
    pub content_type: String,
    /// The exposition text.
    pub text: String,
}

impl Scrape {
    /// The value of the sample named exactly `series` (`name{label="value",...}` as exposed,
    /// labels in the exporter's order), if present.
    pub fn value(&self, series: &str) -> Option<f64> {
        self.text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                (name == series).then(|| value.parse().ok()).flatten()
            })
    }

    /// Like [`Scrape::value`], failing with the whole text when the sample is missing.
    #[track_caller]
    pub fn expect(&self, series: &str) -> f64 {
        self.value(series)
            .unwrap_or_else(|| panic!("no sample {series} in the scrape:\n{}", self.text))
    }
}

/// `GET /metrics` from `addr` over HTTP/1.1 (a plain socket: the request is four lines).
///
/// # Panics
/// When the endpoint does not answer 200 with a body.
pub async fn scrape_metrics(addr: SocketAddr) -> Scrape {
    let response = tokio::task::spawn_blocking(move || {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(addr).expect("connect to the metrics listener");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("set a read timeout");
        stream
            .write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
            .expect("send the scrape");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read the scrape");
        response
    })
    .await
    .expect("the scrape thread");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "the scrape failed:\n{head}");
    let content_type = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    let text = if head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding: chunked"))
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Scrape { content_type, text }
}

/// The payload of an HTTP/1.1 chunked body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// A GetCustomer that cannot finish: it is sent as a client stream that never yields its
/// message, so the server holds the call (and its places under every limit) until the body
/// timeout, a refusal, or the returned task's abort.
///
/// # Panics
/// When `key` is not valid metadata or the channel never becomes ready.
pub fn held_get_customer(
    channel: Channel,
    key: &str,
) -> tokio::task::JoinHandle<Result<tonic::Response<pb::Customer>, tonic::Status>> {
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {key}").parse().expect("a header value");
    tokio::spawn(async move {
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.expect("channel ready");
        let mut request = tonic::Request::new(futures::stream::pending::<pb::GetCustomerRequest>());
        request.metadata_mut().insert("authorization", bearer);
        let codec = tonic_prost::ProstCodec::<pb::GetCustomerRequest, pb::Customer>::default();
        grpc.client_streaming(
            request,
            tonic::codegen::http::uri::PathAndQuery::from_static("/crm.v1.CustomerService/GetCustomer"),
            codec,
        )
        .await
    })
}
