//! A fresh, migrated database per test, on SQLite or PostgreSQL, removed afterwards.
//!
//! SQLite always runs, in a temporary directory. PostgreSQL runs when `CRM_TEST_POSTGRES_URL`
//! names a server where the tests may create databases: each test creates `crm_test_<uuid>` and
//! drops it `WITH (FORCE)` afterwards. Without the variable the PostgreSQL variant prints a loud
//! SKIPPED line, and when `CI` is set it fails instead, so CI can never skip it silently. (The
//! same rules as the end-to-end harness in `crm-tests`, which this crate cannot depend on.)

use crm_persistence::Database;
use sea_orm::ConnectionTrait;

/// The environment variable naming the PostgreSQL server for tests.
pub(crate) const POSTGRES_URL_VAR: &str = "CRM_TEST_POSTGRES_URL";

/// Which database a test stores in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server of `CRM_TEST_POSTGRES_URL`.
    Postgres,
}

/// A fresh database, removed on drop.
#[derive(Debug)]
pub(crate) enum TestDatabase {
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
    /// Creates a fresh, empty database for `backend`; `None` when PostgreSQL is not configured
    /// (after saying so loudly, or failing under CI).
    pub(crate) async fn create(backend: Backend) -> Option<Self> {
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

    /// The URL of this database.
    pub(crate) fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } => url,
        }
    }

    /// A new pool of `max_connections` on this database.
    pub(crate) async fn connect(&self, max_connections: u32) -> Database {
        Database::connect(self.url(), max_connections).await.expect("connect")
    }
}

/// A fresh database of `backend` and a migrated pool on it; `None` when the backend is skipped.
pub(crate) async fn migrated(backend: Backend) -> Option<(TestDatabase, Database)> {
    let database = TestDatabase::create(backend).await?;
    let db = database.connect(4).await;
    db.migrate().await.expect("migrate");
    Some((database, db))
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

/// Runs a test body once per backend: `on_both_backends!(name, ...)` defines `name::sqlite` and
/// `name::postgres`, each calling `name(backend)`.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::support::Backend::Postgres).await;
                }
            }
        )+
    };
}
pub(crate) use on_both_backends;
