//! Configuration: every setting can come from a command-line flag, an environment variable, or a
//! TOML config file, in that order of precedence, falling back to a default that needs no set-up
//! (an SQLite file in the working directory, loopback port 50051).

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use crm_domain::clock::{Clock, SystemClock};

use crate::transport::principal_limits::{
    DEFAULT_PRINCIPAL_MAX_CONCURRENT, LimitOverride, LimitTarget, PrincipalLimitSettings, Rate,
};

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

/// The default listen address: loopback only, so a fresh install is not exposed.
pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:50051";
/// The default database: an SQLite file next to the working directory, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://crm.db?mode=rwc";

/// The default global limit of requests in flight.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 512;

/// The default time a request's body has to arrive whole, in seconds.
pub const DEFAULT_REQUEST_BODY_TIMEOUT_SECS: u64 = 5;

/// The default interval of the database health check, in seconds.
pub const DEFAULT_HEALTH_CHECK_INTERVAL_SECS: u64 = 2;

/// The default bound on a read database's lag, in milliseconds.
pub const DEFAULT_READ_MAX_LAG_MS: u64 = 1000;

/// The default file the first admin key is written to.
pub const DEFAULT_ADMIN_KEY_FILE: &str = "crm-admin.key";

/// `crmd`: the customer records, classification and access service (gRPC).
#[derive(Debug, Parser)]
#[command(
    name = "crmd",
    version,
    about = "crmd: the customer records service (gRPC). Serves on 127.0.0.1:50051 with an SQLite file by default.",
    long_about = None,
    after_help = "Traces: set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://127.0.0.1:4317) to export OpenTelemetry \
                  traces over OTLP/gRPC; OTEL_SERVICE_NAME overrides the service name `crmd`. Unset, nothing is exported."
)]
pub struct Cli {
    /// What to do; serving is the default.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings shared by every command.
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// The commands of `crmd`.
#[derive(Debug, Clone, Copy, Subcommand, PartialEq, Eq)]
pub enum Command {
    /// Serve gRPC until SIGTERM or Ctrl-C (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Make a new API key for the `principals/admin` principal (creating it, with the built-in
    /// `admin` role for ALL customers, if missing), write it to the admin key file, and exit.
    /// `crmd serve` does this by itself on a fresh database; use this to recover a lost admin
    /// key (it needs access to the database, i.e. an operator's rights).
    Bootstrap,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, ValueEnum, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The settings as flags and environment variables; unset ones fall back to the config file,
/// then to the defaults.
#[derive(Debug, Clone, Default, Args)]
pub struct SettingsArgs {
    /// A TOML file with any of the settings below (keys as the flags, with underscores, e.g.
    /// `listen_addr = "0.0.0.0:50051"`).
    #[arg(long, env = "CRM_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// The address to serve gRPC on; port 0 picks a free port (the bound address is logged).
    /// [default: 127.0.0.1:50051]
    #[arg(long, env = "CRM_LISTEN_ADDR", global = true)]
    pub listen_addr: Option<SocketAddr>,
    /// The database: `sqlite://PATH?mode=rwc` (embedded, created if missing) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`. [default: sqlite://crm.db?mode=rwc]
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// A direct URL of the PostgreSQL database (not through a pooler), for what a
    /// transaction-mode pooler such as pgbouncer cannot carry: LISTEN (change notifications from
    /// other replicas), the session advisory lock of batch runs, and migrations. Set it when
    /// `--database-url` points at pgbouncer in transaction mode, whose URL must then also say
    /// `statement-cache-capacity=0`. [default: none: everything uses --database-url]
    #[arg(long, env = "CRM_DIRECT_DATABASE_URL", global = true)]
    pub direct_database_url: Option<String>,
    /// A hot standby of the PostgreSQL `--database-url` (streaming replication) that
    /// GetCustomer, BatchGetCustomers, ListCustomers and the permission checks may read from;
    /// repeat the flag for several (the environment variable takes a comma-separated list).
    /// Writes always go to the primary. See `--read-max-lag-ms` and the consistency tokens.
    /// [default: none]
    #[arg(
        long = "read-database-url",
        env = "CRM_READ_DATABASE_URLS",
        value_delimiter = ',',
        global = true
    )]
    pub read_database_urls: Vec<String>,
    /// How far behind the primary a read database may be and still serve reads, in
    /// milliseconds: one further behind (or not answering) is skipped and the primary serves.
    /// A read sent with a consistency token is also served only where that write is visible.
    /// [default: 1000]
    #[arg(long, env = "CRM_READ_MAX_LAG_MS", global = true)]
    pub read_max_lag_ms: Option<u64>,
    /// The largest number of pooled database connections. [default: 10]
    #[arg(long, env = "CRM_DB_MAX_CONNECTIONS", global = true)]
    pub db_max_connections: Option<u32>,
    /// Whether `crmd serve` applies pending migrations at start. [default: true]
    #[arg(long, env = "CRM_MIGRATE_ON_START", global = true)]
    pub migrate_on_start: Option<bool>,
    /// Log format. [default: text]
    #[arg(long, env = "CRM_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
    /// Which logs to write, as a tracing filter (e.g. `info`, `crm_server=debug`).
    /// [default: info]
    #[arg(long, env = "CRM_LOG", global = true)]
    pub log: Option<String>,
    /// The longest a request may run, in seconds, unless the caller's `grpc-timeout` is
    /// shorter. [default: 30]
    #[arg(long, env = "CRM_REQUEST_TIMEOUT_SECS", global = true)]
    pub request_timeout_secs: Option<u64>,
    /// The largest request or response message, in bytes. [default: 4194304]
    #[arg(long, env = "CRM_MAX_MESSAGE_BYTES", global = true)]
    pub max_message_bytes: Option<usize>,
    /// How long shutdown waits for in-flight requests, in seconds. [default: 30]
    #[arg(long, env = "CRM_SHUTDOWN_GRACE_SECS", global = true)]
    pub shutdown_grace_secs: Option<u64>,
    /// How often the health check pings the database, in seconds; while it does not answer
    /// (within 1 s), health says NOT_SERVING and calls that need it fail fast with UNAVAILABLE.
    /// [default: 2]
    #[arg(long, env = "CRM_HEALTH_CHECK_INTERVAL_SECS", global = true)]
    pub health_check_interval_secs: Option<u64>,
    /// Where the first admin API key is written (readable by the owner only) when `crmd` starts
    /// on a database without principals, or by `crmd bootstrap`. [default: crm-admin.key]
    #[arg(long, env = "CRM_ADMIN_KEY_FILE", global = true)]
    pub admin_key_file: Option<PathBuf>,
    /// How often principals, roles, bindings, keys and the active policy are reloaded into memory
    /// regardless of change notifications, in seconds. [default: 30]
    #[arg(long, env = "CRM_ACCESS_REFRESH_SECS", global = true)]
    pub access_refresh_secs: Option<u64>,
    /// The deployment's reporting currency (ISO 4217): every purchase amount and money threshold
    /// of the classification policy is in it; RecordPurchase refuses other currencies.
    /// [default: USD]
    #[arg(long, env = "CRM_REPORTING_CURRENCY", global = true)]
    pub reporting_currency: Option<String>,
    /// How often every customer is re-classified (time alone moves lifecycle stages), in
    /// seconds; 0 turns the schedule off. The first run starts with the server. [default: 86400]
    #[arg(long, env = "CRM_RECLASSIFY_INTERVAL_SECS", global = true)]
    pub reclassify_interval_secs: Option<u64>,
    /// Where to serve Prometheus metrics over HTTP (`GET /metrics`); port 0 picks a free port
    /// (the bound address is logged). [default: off]
    #[arg(long, env = "CRM_METRICS_ADDR", global = true)]
    pub metrics_addr: Option<SocketAddr>,
    /// The most requests served at once across all connections; beyond it requests are refused
    /// at once with RESOURCE_EXHAUSTED (health checks are never refused). [default: 512]
    #[arg(long, env = "CRM_MAX_CONCURRENT_REQUESTS", global = true)]
    pub max_concurrent_requests: Option<usize>,
    /// The most client connections open at once; one more is closed as soon as it is accepted.
    /// 0 derives it from the file-descriptor limit (raised to its hard limit at start) less
    /// what the database pools and files need. [default: 0]
    #[arg(long, env = "CRM_MAX_CONNECTIONS", global = true)]
    pub max_connections: Option<usize>,
    /// How long a new connection may take to send its first bytes, in seconds. [default: 10]
    #[arg(long, env = "CRM_CONNECTION_HANDSHAKE_TIMEOUT_SECS", global = true)]
    pub connection_handshake_timeout_secs: Option<u64>,
    /// How long a connection may carry no call before it is closed, in seconds; 0 keeps idle
    /// connections open. Clients reconnect by themselves on their next call. [default: 300]
    #[arg(long, env = "CRM_CONNECTION_IDLE_TIMEOUT_SECS", global = true)]
    pub connection_idle_timeout_secs: Option<u64>,
    /// How often an HTTP/2 PING checks that a client is still there, in seconds (one not
    /// answered within 20 s closes the connection); 0 turns it off. [default: 60]
    #[arg(long, env = "CRM_HTTP2_KEEPALIVE_INTERVAL_SECS", global = true)]
    pub http2_keepalive_interval_secs: Option<u64>,
    /// How long a request's message has to arrive whole, in seconds from the request's start;
    /// a call still receiving it then ends with DEADLINE_EXCEEDED and frees its place (at least
    /// 1). [default: 5]
    #[arg(long, env = "CRM_REQUEST_BODY_TIMEOUT_SECS", global = true)]
    pub request_body_timeout_secs: Option<u64>,
    /// The most calls one principal may have in flight at once, across its keys and connections;
    /// beyond it RESOURCE_EXHAUSTED at once. 0 means no per-principal limit. The config file can
    /// set it per role and per principal (`[principal_limits."roles/ID"]`,
    /// `[principal_limits."principals/ID"]`). [default: 64]
    #[arg(long, env = "CRM_PRINCIPAL_MAX_CONCURRENT", global = true)]
    pub principal_max_concurrent: Option<u32>,
    /// The calls per second one principal may make on average; beyond it RESOURCE_EXHAUSTED
    /// with the time to wait. 0 means no rate limit. Per role and per principal as above.
    /// [default: 0]
    #[arg(long, env = "CRM_PRINCIPAL_RATE", global = true)]
    pub principal_rate: Option<u32>,
    /// How many calls one principal may make at once after a quiet spell, under
    /// `--principal-rate`. [default: the rate]
    #[arg(long, env = "CRM_PRINCIPAL_RATE_BURST", global = true)]
    pub principal_rate_burst: Option<u32>,
}

/// The same settings as read from a config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen_addr: Option<SocketAddr>,
    database_url: Option<String>,
    direct_database_url: Option<String>,
    #[serde(default)]
    read_database_urls: Vec<String>,
    read_max_lag_ms: Option<u64>,
    db_max_connections: Option<u32>,
    migrate_on_start: Option<bool>,
    log_format: Option<LogFormat>,
    log: Option<String>,
    request_timeout_secs: Option<u64>,
    max_message_bytes: Option<usize>,
    shutdown_grace_secs: Option<u64>,
    health_check_interval_secs: Option<u64>,
    admin_key_file: Option<PathBuf>,
    access_refresh_secs: Option<u64>,
    reporting_currency: Option<String>,
    reclassify_interval_secs: Option<u64>,
    metrics_addr: Option<SocketAddr>,
    max_concurrent_requests: Option<usize>,
    max_connections: Option<usize>,
    connection_handshake_timeout_secs: Option<u64>,
    connection_idle_timeout_secs: Option<u64>,
    http2_keepalive_interval_secs: Option<u64>,
    request_body_timeout_secs: Option<u64>,
    principal_max_concurrent: Option<u32>,
    principal_rate: Option<u32>,
    principal_rate_burst: Option<u32>,
    /// Overrides of the per-principal limits, keyed `roles/{id}` or `principals/{id}`.
    #[serde(default)]
    principal_limits: HashMap<LimitTarget, LimitOverride>,
}

/// The settings in force, every one resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where gRPC is served.
    pub listen_addr: SocketAddr,
    /// The database URL (may contain a password: log it only through `redact_url`).
    pub database_url: String,
    /// A direct URL of the database behind a transaction-mode pooler (may contain a password).
    pub direct_database_url: Option<String>,
    /// Hot standbys reads may be served by (URLs may contain passwords, as above).
    pub read_database_urls: Vec<String>,
    /// How far behind the primary a standby may be and still serve reads.
    pub read_max_lag: Duration,
    /// Pool size (of the primary's pool and of each standby's).
    pub db_max_connections: u32,
    /// Whether serving starts by migrating.
    pub migrate_on_start: bool,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log: String,
    /// Per-request time limit.
    pub request_timeout: Duration,
    /// Message size limit in bytes.
    pub max_message_bytes: usize,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// How often health pings the database.
    pub health_check_interval: Duration,
    /// Where the bootstrap admin key is written.
    pub admin_key_file: PathBuf,
    /// How often the access state (and the active policy) is reloaded regardless of
    /// notifications.
    pub access_refresh_interval: Duration,
    /// The reporting currency, upper case.
    pub reporting_currency: String,
    /// How often the scheduled re-classification runs; `None` when off.
    pub reclassify_interval: Option<Duration>,
    /// Where "now" comes from: the system clock, or a test's controllable clock.
    pub clock: Arc<dyn Clock>,
    /// Where Prometheus metrics are served; `None` when off.
    pub metrics_addr: Option<SocketAddr>,
    /// The global limit of requests in flight (at least 1).
    pub max_concurrent_requests: usize,
    /// The most client connections open at once; `None`: derived from the descriptor limit.
    pub max_connections: Option<usize>,
    /// How long a new connection may take to send its first bytes.
    pub connection_handshake_timeout: Duration,
    /// How long a connection may carry no call; `None`: forever.
    pub connection_idle_timeout: Option<Duration>,
    /// How often HTTP/2 PINGs check the client; `None`: never.
    pub http2_keepalive_interval: Option<Duration>,
    /// How long a request's body has to arrive whole.
    pub request_body_timeout: Duration,
    /// The per-principal limits: defaults and overrides by role and by principal.
    pub principal_limits: PrincipalLimitSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self::resolve(SettingsArgs::default(), FileSettings::default())
    }
}

impl Settings {
    /// The default settings with another database (handy for tests and tools).
    pub fn with_database(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            ..Self::default()
        }
    }

    /// Resolves flags and environment (already merged by clap) over the config file, if any.
    ///
    /// # Errors
    /// When the config file cannot be read or is not valid TOML with known keys.
    pub fn load(args: SettingsArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            None => FileSettings::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))?
            }
        };
        Ok(Self::resolve(args, file))
    }

    fn resolve(args: SettingsArgs, file: FileSettings) -> Self {
        let default_addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 50051));
        Self {
            listen_addr: args.listen_addr.or(file.listen_addr).unwrap_or(default_addr),
            database_url: args
                .database_url
                .or(file.database_url)
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
            direct_database_url: args.direct_database_url.or(file.direct_database_url),
            read_database_urls: if args.read_database_urls.is_empty() {
                file.read_database_urls
            } else {
                args.read_database_urls
            },
            read_max_lag: Duration::from_millis(
                args.read_max_lag_ms
                    .or(file.read_max_lag_ms)
                    .unwrap_or(DEFAULT_READ_MAX_LAG_MS),
            ),
            db_max_connections: args.db_max_connections.or(file.db_max_connections).unwrap_or(10).max(1),
            migrate_on_start: args.migrate_on_start.or(file.migrate_on_start).unwrap_or(true),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            log: args.log.or(file.log).unwrap_or_else(|| "info".to_owned()),
            request_timeout: Duration::from_secs(args.request_timeout_secs.or(file.request_timeout_secs).unwrap_or(30)),
            max_message_bytes: args
                .max_message_bytes
                .or(file.max_message_bytes)
                .unwrap_or(4 * 1024 * 1024),
            shutdown_grace: Duration::from_secs(args.shutdown_grace_secs.or(file.shutdown_grace_secs).unwrap_or(30)),
            health_check_interval: Duration::from_secs(
                args.health_check_interval_secs
                    .or(file.health_check_interval_secs)
                    .unwrap_or(DEFAULT_HEALTH_CHECK_INTERVAL_SECS)
                    .max(1),
            ),
            admin_key_file: args
                .admin_key_file
                .or(file.admin_key_file)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_ADMIN_KEY_FILE)),
            access_refresh_interval: Duration::from_secs(
                args.access_refresh_secs
                    .or(file.access_refresh_secs)
                    .unwrap_or(30)
                    .max(1),
            ),
            reporting_currency: args
                .reporting_currency
                .or(file.reporting_currency)
                .map_or_else(|| "USD".to_owned(), |c| c.trim().to_ascii_uppercase()),
            reclassify_interval: match args
                .reclassify_interval_secs
                .or(file.reclassify_interval_secs)
                .unwrap_or(86_400)
            {
                0 => None,
                secs => Some(Duration::from_secs(secs)),
            },
            clock: Arc::new(SystemClock),
            metrics_addr: args.metrics_addr.or(file.metrics_addr),
            max_concurrent_requests: args
                .max_concurrent_requests
                .or(file.max_concurrent_requests)
                .unwrap_or(DEFAULT_MAX_CONCURRENT_REQUESTS)
                .max(1),
            max_connections: args.max_connections.or(file.max_connections).filter(|n| *n > 0),
            connection_handshake_timeout: Duration::from_secs(
                args.connection_handshake_timeout_secs
                    .or(file.connection_handshake_timeout_secs)
                    .unwrap_or(10)
                    .max(1),
            ),
            connection_idle_timeout: match args
                .connection_idle_timeout_secs
                .or(file.connection_idle_timeout_secs)
                .unwrap_or(300)
            {
                0 => None,
                secs => Some(Duration::from_secs(secs)),
            },
            http2_keepalive_interval: match args
                .http2_keepalive_interval_secs
                .or(file.http2_keepalive_interval_secs)
                .unwrap_or(60)
            {
                0 => None,
                secs => Some(Duration::from_secs(secs)),
            },
            request_body_timeout: Duration::from_secs(
                args.request_body_timeout_secs
                    .or(file.request_body_timeout_secs)
                    .unwrap_or(DEFAULT_REQUEST_BODY_TIMEOUT_SECS)
                    .max(1),
            ),
            principal_limits: PrincipalLimitSettings {
                max_concurrent: args
                    .principal_max_concurrent
                    .or(file.principal_max_concurrent)
                    .unwrap_or(DEFAULT_PRINCIPAL_MAX_CONCURRENT),
                rate: Rate::new(
                    args.principal_rate.or(file.principal_rate).unwrap_or(0),
                    args.principal_rate_burst.or(file.principal_rate_burst),
                ),
                ..PrincipalLimitSettings::default()
            }
            .with_overrides(file.principal_limits),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_setup() {
        let s = Settings::default();
        assert_eq!(s.listen_addr.to_string(), DEFAULT_LISTEN_ADDR);
        assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
        assert!(s.migrate_on_start);
        assert_eq!(s.metrics_addr, None, "metrics are off unless asked for");
        assert_eq!(s.max_concurrent_requests, DEFAULT_MAX_CONCURRENT_REQUESTS);
    }

    #[test]
    fn the_config_file_sets_the_metrics_address_and_the_concurrency_limit() {
        let file: FileSettings =
            toml::from_str("metrics_addr = \"127.0.0.1:9464\"\nmax_concurrent_requests = 0\n").unwrap_or_default();
        let s = Settings::resolve(SettingsArgs::default(), file);
        assert_eq!(s.metrics_addr, Some(SocketAddr::from(([127, 0, 0, 1], 9464))));
        assert_eq!(s.max_concurrent_requests, 1, "a limit of 0 would refuse everything");
    }

    #[test]
    fn flags_win_over_the_config_file() {
        let file: FileSettings =
            toml::from_str("listen_addr = \"0.0.0.0:6000\"\ndb_max_connections = 3\n").unwrap_or_default();
        let args = SettingsArgs {
            listen_addr: Some(SocketAddr::from(([127, 0, 0, 1], 7000))),
            ..Default::default()
        };
        let s = Settings::resolve(args, file);
        assert_eq!(s.listen_addr.port(), 7000);
        assert_eq!(s.db_max_connections, 3);
    }

    #[test]
    fn principal_limits_come_from_flags_and_the_config_file_with_overrides_by_role_and_principal() {
        let file: FileSettings = toml::from_str(
            "principal_max_concurrent = 16\nprincipal_rate = 50\nrequest_body_timeout_secs = 2\n\
             [principal_limits.\"roles/analyst\"]\nrate = 5\nrate_burst = 10\n\
             [principal_limits.\"principals/etl\"]\nmax_concurrent = 2\n",
        )
        .unwrap_or_default();
        let args = SettingsArgs {
            principal_rate_burst: Some(100),
            ..Default::default()
        };
        let s = Settings::resolve(args, file);
        assert_eq!(s.request_body_timeout, Duration::from_secs(2));
        let limits = &s.principal_limits;
        assert_eq!(limits.max_concurrent, 16);
        assert_eq!(limits.rate, Rate::new(50, Some(100)));
        let analyst = crm_domain::access::RoleName::from_id("analyst").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(limits.roles[&analyst].rate, Some(Rate::new(5, Some(10))));
        let etl = crm_domain::customer::values::PrincipalName::from_id("etl").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(limits.principals[&etl].max_concurrent, Some(2));

        let defaults = Settings::default();
        assert_eq!(
            defaults.principal_limits.max_concurrent,
            DEFAULT_PRINCIPAL_MAX_CONCURRENT
        );
        assert_eq!(defaults.principal_limits.rate, Rate::OFF);
        assert_eq!(
            defaults.request_body_timeout,
            Duration::from_secs(DEFAULT_REQUEST_BODY_TIMEOUT_SECS)
        );
    }

    #[test]
    fn unknown_config_keys_are_rejected() {
        assert!(toml::from_str::<FileSettings>("listen_adress = \"x\"").is_err());
    }
}
