//! Connecting to the database named by a URL, migrating it, and checking it is reachable.

use std::{sync::Arc, time::Duration};

use crm_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, DbErr};

use crate::{
    coalesce::CoalescedReads,
    customer_cache::CustomerCache,
    facts_cache::FactsCache,
    primary::{HostList, Hosts},
    standbys::{ReadView, Standbys, WalPosition},
};

/// Which database engine a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file (`sqlite://path?mode=rwc`).
    Sqlite,
    /// A PostgreSQL server (`postgres://user@host/db`).
    Postgres,
}

/// The database could not be used. Messages name the URL without its password.
///
/// The driver's reason is written into the message and deliberately not exposed as the error's
/// `source()`: `DbErr` repeats its own cause in its message, so a report that prints the whole
/// chain (`{:#}` of anyhow) would otherwise say the same thing three times.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL's scheme is neither `sqlite:` nor `postgres:`/`postgresql:`.
    #[error("unsupported database URL {0}: use sqlite://PATH?mode=rwc or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    /// Connecting failed.
    #[error("cannot connect to {url}: {cause}")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// The driver's reason.
        cause: DbErr,
    },
    /// Running migrations failed.
    #[error("cannot migrate {url}: {cause}")]
    Migrate {
        /// The URL, password removed.
        url: String,
        /// The driver's reason.
        cause: DbErr,
    },
}

/// A snapshot of the connection pool, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open (idle or in use).
    pub size: u32,
    /// Connections open and idle.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

/// How much of an SQLite file is read through a memory map (address space, not memory: the pages
/// live in the operating system's cache, shared by every connection).
const MMAP_BYTES: u64 = 1 << 30;

/// Below this many customers SQLite's default guesses serve as well as statistics.
const ANALYZE_FROM_ROWS: i64 = 1000;

/// How long a pooled connection may sit idle before it is pinged on checkout.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(30);

/// Whether `url` names a PostgreSQL server on this machine (a loopback address or a Unix socket)
/// and chooses no `sslmode` (neither in the URL nor in `PGSSLMODE`). sqlx's default, `prefer`,
/// would then encrypt loopback traffic that never leaves the machine, at about a sixth of a
/// GetCustomer's cost, and without verifying the certificate. Any `sslmode` the operator names is
/// kept as given.
fn plain_on_loopback(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    if parsed
        .query_pairs()
        .any(|(key, _)| key == "sslmode" || key == "ssl-mode")
        || std::env::var_os("PGSSLMODE").is_some()
    {
        return false;
    }
    match parsed.host() {
        // No host: a Unix socket (`?host=/run/postgresql`) or the default, localhost.
        None => true,
        // A `postgres:` URL is not a "special" scheme to the URL standard, so its IPv4 host comes
        // back as an opaque name.
        Some(url::Host::Domain(name)) => {
            name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
    }
}

/// The connect options of the PostgreSQL `url`, with TLS off where [`plain_on_loopback`] says
/// so (the same rule the request pool's options follow).
fn postgres_options(url: &str) -> Result<sea_orm::sqlx::postgres::PgConnectOptions, sea_orm::sqlx::Error> {
    let options: sea_orm::sqlx::postgres::PgConnectOptions = url.parse()?;
    Ok(if plain_on_loopback(url) {
        options.ssl_mode(sea_orm::sqlx::postgres::PgSslMode::Disable)
    } else {
        options
    })
}

/// A connection pool to the service's database.
#[derive(Debug, Clone)]
pub struct Database {
    /// The primary's pool, or in a read view (see [`Database::for_reads`]) the pool reads go to.
    connection: DatabaseConnection,
    backend: Backend,
    display_url: Arc<str>,
    /// Shared by every clone: the facts access decisions read, see [`crate::facts_cache`].
    facts: Arc<FactsCache>,
    /// Shared by every clone: whole customers for GetCustomer, see [`crate::customer_cache`].
    customers: Arc<CustomerCache>,
    /// This process's id among the replicas (`crmd-` and 32 hex digits), sent as the start of the
    /// `application_name` of every pooled PostgreSQL connection, before any name the URL gives
    /// (see [`crate::customer_cache`]).
    instance: Arc<str>,
    /// GetCustomer's reads through `connection`, see [`crate::coalesce`]; each standby has its own.
    coalesced_reads: Arc<CoalescedReads>,
    /// Hot standbys reads may be served by (PostgreSQL), see [`crate::standbys`].
    standbys: Option<Arc<Standbys>>,
    /// Where this view reads from; the default for the primary itself.
    read_view: ReadView,
    /// The primary's WAL position after commits, shared by every clone.
    wal: Arc<WalPosition>,
    /// The writes whose token was asked for (SQLite's tokens).
    writes: Arc<std::sync::atomic::AtomicU64>,
    /// The hosts of a multi-host URL, see [`crate::primary`].
    hosts: Option<Arc<Hosts>>,
    /// A pool of direct connections to PostgreSQL for what a transaction-mode pooler between
    /// crmd and PostgreSQL cannot carry (see [`Database::with_direct_url`]).
    direct: Option<sea_orm::sqlx::PgPool>,
}

/// The URL with any password replaced by `***`, safe to log and show (also a multi-host
/// PostgreSQL URL, which is not a URL to the URL standard).
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Setting a password only fails for URLs that cannot have one.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => {
            // `scheme://user:password@hosts...`: cut the password out by hand.
            let Some(start) = url.find("://").map(|i| i + 3) else {
                return url.to_owned();
            };
            let end = url[start..].find(['/', '?']).map_or(url.len(), |i| start + i);
            let authority = &url[start..end];
            match (authority.rfind('@'), authority.find(':')) {
                (Some(at), Some(colon)) if colon < at => {
                    format!("{}{}:***{}", &url[..start], &authority[..colon], &url[start + at..])
                }
                _ => url.to_owned(),
            }
        }
    }
}

/// The error of one direct (unpooled) PostgreSQL connection attempt, if it fails.
async fn direct_postgres_error(url: &str) -> Option<DbErr> {
    use sea_orm::sqlx::{ConnectOptions as _, postgres::PgConnectOptions};
    let options: PgConnectOptions = url.parse().ok()?;
    let attempt = tokio::time::timeout(Duration::from_secs(5), options.connect())
        .await
        .ok()?;
    attempt
        .err()
        .map(|e| DbErr::Conn(sea_orm::RuntimeErr::Internal(e.to_string())))
}

impl Database {
    /// Opens a pool to `url` (an SQLite file is created if missing when the URL says
    /// `mode=rwc`). SQLite runs in WAL mode with a busy timeout, so readers do not block the
    /// writer and concurrent writers wait for each other instead of failing.
    ///
    /// # Errors
    /// [`ConnectError`] naming the redacted URL.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, ConnectError> {
        let display_url = redact_url(url);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(ConnectError::UnsupportedUrl(display_url));
        };
        let hosts = match backend {
            Backend::Postgres => HostList::parse(url)
                .map_err(|message| ConnectError::UnsupportedUrl(format!("{display_url}: {message}")))?,
            Backend::Sqlite => None,
        };
        // A multi-host URL: the pool starts on the first host that qualifies.
        let (url, hosts) = match hosts {
            None => (url.to_owned(), None),
            Some(list) => {
                let found = list.find(|index| postgres_options(&list.url_of(index)).ok()).await;
                let Some(index) = found else {
                    return Err(ConnectError::Connect {
                        url: display_url,
                        cause: DbErr::Custom(format!(
                            "no host of {} answers{}",
                            list.describe(),
                            if list.wants_primary() { " as a primary" } else { "" }
                        )),
                    });
                };
                (list.url_of(index), Some(Arc::new(Hosts::new(list, index))))
            }
        };
        let url = url.as_str();
        let mut options = ConnectOptions::new(url.to_owned());
        let plain_loopback = backend == Backend::Postgres && plain_on_loopback(url);
        let instance: Arc<str> = format!("crmd-{}", uuid::Uuid::new_v4().simple()).into();
        let application_name = {
            let given = url.parse::<sea_orm::sqlx::postgres::PgConnectOptions>().ok();
            match given.as_ref().and_then(|o| o.get_application_name()) {
                // PostgreSQL keeps 63 bytes; the id comes first so that it always survives.
                Some(name) => format!("{instance} {name}")
                    .chars()
                    .map(|c| if c.is_ascii() { c } else { '?' })
                    .take(63)
                    .collect(),
                None => instance.to_string(),
            }
        };
        options
            .max_connections(max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5))
            // A ping on every checkout is a round trip per statement; only a connection idle long
            // enough for a server, proxy or firewall to have dropped it is checked first.
            .test_before_acquire_if_idle_for(IDLE_BEFORE_PING)
            .sqlx_logging(false)
            .map_sqlx_postgres_opts(move |opts| {
                let opts = opts.application_name(&application_name);
                if plain_loopback {
                    opts.ssl_mode(sea_orm::sqlx::postgres::PgSslMode::Disable)
                } else {
                    opts
                }
            })
            .map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    // Pages are read through a shared memory map rather than copied by `pread`
                    // into each connection's own 2 MiB cache, which a list page overflows.
                    .pragma("mmap_size", MMAP_BYTES.to_string())
            });
        let connection = match sea_orm::Database::connect(options).await {
            Ok(connection) => connection,
            Err(cause) => {
                let cause = match backend {
                    // The pool only says it "timed out"; one direct attempt names the real
                    // cause (connection refused, unknown host, authentication failed, ...).
                    Backend::Postgres => direct_postgres_error(url).await.unwrap_or(cause),
                    Backend::Sqlite => cause,
                };
                return Err(ConnectError::Connect {
                    url: display_url,
                    cause,
                });
            }
        };
        Ok(Self {
            connection,
            backend,
            display_url: display_url.into(),
            facts: Arc::new(FactsCache::new(
                crate::facts_cache::CAPACITY,
                backend == Backend::Sqlite,
            )),
            customers: Arc::new(CustomerCache::new(
                crate::customer_cache::CAPACITY,
                backend == Backend::Sqlite,
            )),
            instance,
            coalesced_reads: Arc::default(),
            standbys: None,
            read_view: ReadView::default(),
            wal: Arc::default(),
            writes: Arc::default(),
            hosts,
            direct: None,
        })
    }

    /// Adds direct connections to the PostgreSQL server (`url`, not through a pooler) for what a
    /// transaction-mode pooler in front of it cannot carry, because it lasts longer than a
    /// transaction: `LISTEN` (the change notifications of [`crate::notify`] and
    /// [`crate::facts_cache`]), the session advisory lock of batch runs
    /// ([`crate::ReclassificationLock`]) and migrations. Without it they use the request pool.
    ///
    /// # Errors
    /// [`ConnectError::UnsupportedUrl`] when this database or `url` is not PostgreSQL;
    /// [`ConnectError::Connect`] when `url` cannot be reached.
    pub async fn with_direct_url(mut self, url: &str) -> Result<Self, ConnectError> {
        use sea_orm::sqlx::postgres::PgPoolOptions;
        let display_url = redact_url(url);
        if self.backend != Backend::Postgres || !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConnectError::UnsupportedUrl(format!(
                "{display_url} (a direct URL is for a PostgreSQL database behind a pooler)"
            )));
        }
        let options = postgres_options(url).map_err(|e| ConnectError::Connect {
            url: display_url.clone(),
            cause: DbErr::Custom(e.to_string()),
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(|e| ConnectError::Connect {
                url: display_url,
                cause: DbErr::Custom(e.to_string()),
            })?;
        self.direct = Some(pool);
        Ok(self)
    }

    /// The pool for session-long work (`LISTEN`, session advisory locks, migrations): the direct
    /// one if there is one, else the request pool. PostgreSQL only.
    pub(crate) fn session_pool(&self) -> &sea_orm::sqlx::PgPool {
        self.direct
            .as_ref()
            .unwrap_or_else(|| self.connection.get_postgres_connection_pool())
    }

    /// Applies every pending migration (over the direct connection, if there is one).
    ///
    /// # Errors
    /// [`ConnectError::Migrate`].
    pub async fn migrate(&self) -> Result<(), ConnectError> {
        let result = match &self.direct {
            Some(direct) => {
                let connection = sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(direct.clone());
                Migrator::up(&connection, None).await
            }
            None => Migrator::up(&self.connection, None).await,
        };
        result.map_err(|cause| ConnectError::Migrate {
            url: self.display_url.to_string(),
            cause,
        })
    }

    /// Refreshes the query planner's statistics where they are missing or stale, and says whether
    /// it analyzed. PostgreSQL's autovacuum does this by itself; SQLite keeps no statistics until
    /// asked, and without them it serves a filtered, ordered list from the wrong index and sorts
    /// every match. `customers` is analyzed (with every other table) once it has
    /// [`ANALYZE_FROM_ROWS`] rows and no statistics, or twice or half the rows its statistics say;
    /// otherwise this is two cheap reads. (`PRAGMA optimize` proved no substitute: it left a table
    /// that grew from empty unanalyzed, and its `analysis_limit` samples see only the first keys
    /// of an index sorted by department, getting its selectivity wrong by 400×.) The analysis
    /// reads whole indexes, about 0.2 s per 100,000 customers, under a read snapshot that blocks
    /// no writer.
    ///
    /// # Errors
    /// The driver's error, if a statement fails.
    pub async fn optimize(&self) -> Result<bool, DbErr> {
        if self.backend != Backend::Sqlite {
            return Ok(false);
        }
        let backend = self.connection.get_database_backend();
        let number = |sql: &str| {
            let statement = sea_orm::Statement::from_string(backend, sql.to_owned());
            async move {
                let row = self.connection.query_one_raw(statement).await?;
                Ok::<_, DbErr>(row.and_then(|row| row.try_get_by_index::<Option<i64>>(0).ok().flatten()))
            }
        };
        let rows = number("SELECT max(rowid) FROM customers").await?.unwrap_or(0);
        let has_stats = number("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").await? == Some(1);
        let analyzed = if has_stats {
            number(
                "SELECT CAST(substr(stat, 1, instr(stat || ' ', ' ') - 1) AS INTEGER) FROM sqlite_stat1 \
                 WHERE tbl = 'customers' AND stat IS NOT NULL LIMIT 1",
            )
            .await?
        } else {
            None
        };
        let stale = match analyzed {
            None => rows >= ANALYZE_FROM_ROWS,
            Some(analyzed) => {
                rows >= ANALYZE_FROM_ROWS && (rows > analyzed.saturating_mul(2) || rows.saturating_mul(2) < analyzed)
            }
        };
        if stale {
            self.connection.execute_unprepared("ANALYZE").await?;
        }
        Ok(stale)
    }

    /// Rolls back every migration (used by tests that check each `down`).
    ///
    /// # Errors
    /// [`ConnectError::Migrate`].
    pub async fn migrate_down_all(&self) -> Result<(), ConnectError> {
        Migrator::down(&self.connection, None)
            .await
            .map_err(|cause| ConnectError::Migrate {
                url: self.display_url.to_string(),
                cause,
            })
    }

    /// Whether the database answers a trivial query.
    pub async fn is_reachable(&self) -> bool {
        let statement = sea_orm::Statement::from_string(self.connection.get_database_backend(), "SELECT 1");
        self.connection.execute_raw(statement).await.is_ok()
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(self) {
        if let Err(error) = self.connection.close().await {
            tracing::warn!(%error, "closing the database pool failed");
        }
        if let Some(standbys) = self.standbys {
            standbys.close().await;
        }
        if let Some(direct) = self.direct {
            direct.close().await;
        }
    }

    /// How many connections the pool holds, how many are idle, and its configured maximum.
    /// (The pool does not say how many tasks wait for a connection.)
    pub fn pool_stats(&self) -> PoolStats {
        fn of<DB: sea_orm::sqlx::Database>(pool: &sea_orm::sqlx::Pool<DB>) -> PoolStats {
            PoolStats {
                size: pool.size(),
                idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                max: pool.options().get_max_connections(),
            }
        }
        match self.backend {
            Backend::Sqlite => of(self.connection.get_sqlite_connection_pool()),
            Backend::Postgres => of(self.connection.get_postgres_connection_pool()),
        }
    }

    /// The engine behind this pool.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL without its password.
    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    pub(crate) fn connection(&self) -> &DatabaseConnection {
        &self.connection
    }

    /// The cache of customers' access facts this pool's writes keep true.
    pub(crate) fn facts(&self) -> &FactsCache {
        &self.facts
    }

    /// GetCustomer's cache of whole customers, shared by every clone, see
    /// [`crate::customer_cache`].
    pub(crate) fn customers_cache(&self) -> &CustomerCache {
        &self.customers
    }

    /// Forgets `ids` in both caches of customer reads: call after a write that may have changed
    /// them returned (or failed).
    pub(crate) fn forget_customers<'a>(&self, ids: impl IntoIterator<Item = &'a str> + Clone) {
        self.customers.forget(ids.clone());
        self.facts.forget(ids);
    }

    /// This process's id among the replicas (see [`crate::customer_cache`]).
    pub(crate) fn instance(&self) -> &str {
        &self.instance
    }

    /// Whether GetCustomer is answered from memory now (see [`crate::customer_cache`]): always
    /// on SQLite; on PostgreSQL while this replica owns the cache.
    pub fn serves_customers_from_memory(&self) -> bool {
        self.customers.is_live()
    }

    /// Whether requests reach PostgreSQL through a pooler (a direct URL was given).
    pub(crate) fn behind_pooler(&self) -> bool {
        self.direct.is_some()
    }

    /// GetCustomer's reads through this view's pool, see [`crate::coalesce`].
    pub(crate) fn coalesced_reads(&self) -> &Arc<CoalescedReads> {
        &self.coalesced_reads
    }

    /// Where this view reads from.
    pub(crate) fn read_view(&self) -> ReadView {
        self.read_view
    }

    pub(crate) fn standbys(&self) -> Option<&Arc<Standbys>> {
        self.standbys.as_ref()
    }

    pub(crate) fn set_standbys(&mut self, standbys: Arc<Standbys>) {
        self.standbys = Some(standbys);
    }

    /// This database reading through `connection`, whose reads `coalesced_reads` coalesces.
    pub(crate) fn view(
        &self,
        connection: DatabaseConnection,
        coalesced_reads: Arc<CoalescedReads>,
        read_view: ReadView,
    ) -> Database {
        Database {
            connection,
            coalesced_reads,
            read_view,
            ..self.clone()
        }
    }

    /// The hosts of a multi-host URL, if this pool was opened from one.
    pub(crate) fn hosts(&self) -> Option<&Arc<Hosts>> {
        self.hosts.as_ref()
    }

    pub(crate) fn wal_position(&self) -> &WalPosition {
        &self.wal
    }

    /// Counts one write and returns the count.
    pub(crate) fn count_write(&self) -> u64 {
        self.writes.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::plain_on_loopback;

    #[test]
    fn a_loopback_server_without_sslmode_is_reached_without_tls() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/crm",
            "postgresql://u:p@localhost/crm",
            "postgres://u@[::1]:5432/crm",
            "postgres:///crm?host=/run/postgresql",
        ] {
            assert!(plain_on_loopback(url), "{url}");
        }
    }

    #[test]
    fn passwords_are_redacted_also_from_multi_host_urls() {
        assert_eq!(
            super::redact_url("postgres://u:secret@db:5432/crm"),
            "postgres://u:***@db:5432/crm"
        );
        assert_eq!(
            super::redact_url("postgres://u:secret@a:5432,b:5433/crm?target_session_attrs=read-write"),
            "postgres://u:***@a:5432,b:5433/crm?target_session_attrs=read-write"
        );
        assert_eq!(super::redact_url("postgres://u@a,b/crm"), "postgres://u@a,b/crm");
    }

    #[test]
    fn a_remote_server_or_a_chosen_sslmode_keeps_the_drivers_choice() {
        for url in [
            "postgres://u@db.example.com/crm",
            "postgres://u@10.0.0.5/crm",
            "postgres://u@127.0.0.1/crm?sslmode=require",
            "postgres://u@localhost/crm?sslmode=verify-full",
        ] {
            assert!(!plain_on_loopback(url), "{url}");
        }
    }
}
