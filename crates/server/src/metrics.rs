//! Prometheus metrics: what every RPC did (by service, method and gRPC code), how long it took,
//! how many are in flight, the database pool, and the classification batch runs; served as text
//! on `GET /metrics` of a separate HTTP listener (`--metrics-addr`).
//!
//! Each [`run`](crate::run) owns its own [`Metrics`] (a `prometheus-client` registry, no global
//! state), so several servers in one process (the tests) do not mix their numbers. Labels are
//! low-cardinality by construction: a method label is one of the methods this server serves,
//! anything else is `unknown`; a limit label is one of [`Limit`]'s names, never a principal.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{extract::State, http::header, response::IntoResponse, routing::get};
use crm_api::code_name;
use crm_domain::classification::ReclassifyProgress;
use crm_persistence::Database;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Registry, Unit},
};
use prost::Message as _;
use tokio::net::TcpListener;

/// The latency buckets, in seconds: from half a millisecond (an in-memory permission check) to
/// the default request timeout.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The OpenMetrics text format `prometheus-client` writes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The labels of one finished RPC.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    service: String,
    method: String,
    code: &'static str,
}

/// The labels of one served method (and of its latency histogram): `pkg.Service`, `Method`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct MethodLabels {
    service: String,
    method: String,
}

/// The label of a pool gauge: `size`, `idle`, `in_use` or `max`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

/// The label of a read database's gauges: its URL without password.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StandbyLabels {
    url: String,
}

/// Where a read that may use a read database was served: `standby` or `primary`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServedLabels {
    served_by: &'static str,
}

/// The label of a connection closed by its own deadline: `handshake_timeout` or `idle_timeout`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExpiryLabels {
    reason: &'static str,
}

/// The label of a finished batch run: `ok` or `failed`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// A limit that refused (or cut short) a call: the `limit` label of
/// `crm_limited_requests_total`, from this closed set (never a principal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Limit {
    /// `--max-concurrent-requests`, shared by every caller.
    GlobalConcurrency,
    /// One principal's calls at once.
    PrincipalConcurrency,
    /// One principal's calls per second.
    PrincipalRate,
    /// A request body that did not arrive whole within `--request-body-timeout-secs`.
    RequestBodyTimeout,
}

impl Limit {
    /// Every limit, so that each series exists (at 0) before its first refusal.
    const ALL: [Self; 4] = [
        Self::GlobalConcurrency,
        Self::PrincipalConcurrency,
        Self::PrincipalRate,
        Self::RequestBodyTimeout,
    ];

    /// The label value, also the `QuotaFailure` subject of a refusal.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::GlobalConcurrency => "global_concurrency",
            Self::PrincipalConcurrency => "principal_concurrency",
            Self::PrincipalRate => "principal_rate",
            Self::RequestBodyTimeout => "request_body_timeout",
        }
    }
}

/// The label of a limited request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Every metric of one server, and the registry that exports them.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    /// `/pkg.Service/Method` -> its labels, for every method served.
    methods: HashMap<String, MethodLabels>,
    requests: Family<RequestLabels, Counter>,
    durations: Family<MethodLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    /// Requests started since the process began: what a batch run reads to tell whether callers
    /// are being served (a plain atomic, not exported).
    calls_started: AtomicU64,
    shed: Counter,
    connections_open: Gauge,
    connections_refused: Counter,
    connections_expired: Family<ExpiryLabels, Counter>,
    accept_backoffs: Counter,
    limited: Family<LimitLabels, Counter>,
    pool: Family<PoolLabels, Gauge>,
    standby_serving: Family<StandbyLabels, Gauge>,
    standby_lag: Family<StandbyLabels, Gauge>,
    reads_served: Family<ServedLabels, Gauge>,
    batch_runs: Family<OutcomeLabels, Counter>,
    batch_processed: Counter,
    batch_changed: Counter,
    batch_out_of_range: Counter,
    batch_running: Gauge,
    batch_run_processed: Gauge,
    batch_run_total: Gauge,
}

impl Metrics {
    /// A fresh registry that knows the methods described by `descriptor_sets` (encoded
    /// `FileDescriptorSet`s, as reflection uses).
    pub(crate) fn new(descriptor_sets: &[&[u8]]) -> Arc<Self> {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "crm_grpc_requests",
            "gRPC requests finished, by service, method and gRPC status code",
            requests.clone(),
        );
        let durations = Family::<MethodLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "crm_grpc_request_duration",
            "gRPC request latency from the request's arrival to its last byte (status trailers), by service and method",
            Unit::Seconds,
            durations.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "crm_grpc_requests_in_flight",
            "gRPC requests being served now (a streaming call counts until its last message)",
            in_flight.clone(),
        );
        let shed = Counter::default();
        registry.register(
            "crm_grpc_requests_shed",
            "gRPC requests refused with RESOURCE_EXHAUSTED because --max-concurrent-requests were in flight",
            shed.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "crm_grpc_connections_open",
            "Client connections open now (at most --max-connections)",
            connections_open.clone(),
        );
        let connections_refused = Counter::default();
        registry.register(
            "crm_grpc_connections_refused",
            "Client connections closed at once because --max-connections were open",
            connections_refused.clone(),
        );
        let connections_expired = Family::<ExpiryLabels, Counter>::default();
        registry.register(
            "crm_grpc_connections_expired",
            "Client connections closed by crmd: `handshake_timeout` (sent nothing in time) or `idle_timeout` (no call for --connection-idle-timeout-secs)",
            connections_expired.clone(),
        );
        let accept_backoffs = Counter::default();
        registry.register(
            "crm_grpc_accept_backoffs",
            "Times accepting a connection failed for want of file descriptors and the accept loop waited",
            accept_backoffs.clone(),
        );
        let limited = Family::<LimitLabels, Counter>::default();
        registry.register(
            "crm_limited_requests",
            "gRPC requests refused with RESOURCE_EXHAUSTED by a limit (global_concurrency, principal_concurrency, \
             principal_rate) or ended because their body did not arrive in time (request_body_timeout)",
            limited.clone(),
        );
        for limit in Limit::ALL {
            let _ = limited.get_or_create(&LimitLabels { limit: limit.name() });
        }
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "crm_db_pool_connections",
            "Database pool connections: size (open), idle, in_use, max (configured limit)",
            pool.clone(),
        );
        let standby_serving = Family::<StandbyLabels, Gauge>::default();
        registry.register(
            "crm_read_database_serving",
            "1 while a read database (--read-database-url) serves reads (caught up within --read-max-lag-ms), else 0",
            standby_serving.clone(),
        );
        let standby_lag = Family::<StandbyLabels, Gauge>::default();
        registry.register(
            "crm_read_database_lag_bytes",
            "How far a read database's replay is behind the primary's last sampled WAL position, in bytes",
            standby_lag.clone(),
        );
        let reads_served = Family::<ServedLabels, Gauge>::default();
        registry.register(
            "crm_reads_served",
            "Reads that may use a read database (Get, BatchGet, List, Check), by where they were routed \
             (standby, primary), since start; a Check answered from the facts cache counts as routed too; only with \
             read databases",
            reads_served.clone(),
        );
        let batch_runs = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "crm_classification_runs",
            "Batch re-classification runs finished, by outcome (ok, failed)",
            batch_runs.clone(),
        );
        let batch_processed = Counter::default();
        registry.register(
            "crm_classification_customers_processed",
            "Customers looked at by batch re-classification runs",
            batch_processed.clone(),
        );
        let batch_changed = Counter::default();
        registry.register(
            "crm_classification_customers_changed",
            "Customers whose classification a batch re-classification run rewrote",
            batch_changed.clone(),
        );
        let batch_out_of_range = Counter::default();
        registry.register(
            "crm_classification_customers_revenue_out_of_range",
            "Customers a batch re-classification run found with a window revenue at the limit of a sum \
             (classified with the saturated sum and listed in the run's summary), counted once per run",
            batch_out_of_range.clone(),
        );
        let batch_running = Gauge::default();
        registry.register(
            "crm_classification_run_in_progress",
            "1 while a batch re-classification run is in progress in this process, else 0",
            batch_running.clone(),
        );
        let batch_run_processed = Gauge::default();
        registry.register(
            "crm_classification_run_processed_customers",
            "Customers processed so far by the run in progress (or the last run)",
            batch_run_processed.clone(),
        );
        let batch_run_total = Gauge::default();
        registry.register(
            "crm_classification_run_total_customers",
            "Customers the run in progress (or the last run) has to look at",
            batch_run_total.clone(),
        );
        Arc::new(Self {
            registry,
            methods: known_methods(descriptor_sets),
            requests,
            durations,
            in_flight,
            calls_started: AtomicU64::new(0),
            shed,
            connections_open,
            connections_refused,
            connections_expired,
            accept_backoffs,
            limited,
            pool,
            standby_serving,
            standby_lag,
            reads_served,
            batch_runs,
            batch_processed,
            batch_changed,
            batch_out_of_range,
            batch_running,
            batch_run_processed,
            batch_run_total,
        })
    }

    /// The labels of a request path; `unknown` for a path this server does not serve (so a
    /// client cannot mint label values).
    pub(crate) fn labels_of(&self, path: &str) -> MethodLabels {
        self.methods.get(path).cloned().unwrap_or_else(|| MethodLabels {
            service: "unknown".to_owned(),
            method: "unknown".to_owned(),
        })
    }

    /// A request started.
    pub(crate) fn started(&self) {
        self.in_flight.inc();
        self.calls_started.fetch_add(1, Ordering::Relaxed);
    }

    /// How many requests have started since the process began.
    pub(crate) fn calls_started(&self) -> u64 {
        self.calls_started.load(Ordering::Relaxed)
    }

    /// A request that [`started`](Self::started) finished with `code` after `elapsed`.
    pub(crate) fn finished(&self, labels: &MethodLabels, code: tonic::Code, elapsed: Duration) {
        self.in_flight.dec();
        self.requests
            .get_or_create(&RequestLabels {
                service: labels.service.clone(),
                method: labels.method.clone(),
                code: code_name(code),
            })
            .inc();
        self.durations.get_or_create(labels).observe(elapsed.as_secs_f64());
    }

    /// A request was refused by the global concurrency limit.
    pub(crate) fn shed(&self) {
        self.shed.inc();
        self.limited(Limit::GlobalConcurrency);
    }

    /// A request was refused, or cut short, by `limit`.
    pub(crate) fn limited(&self, limit: Limit) {
        self.limited.get_or_create(&LimitLabels { limit: limit.name() }).inc();
    }

    /// A client connection was accepted under the cap.
    pub(crate) fn connection_opened(&self) {
        self.connections_open.inc();
    }

    /// A connection that [`connection_opened`](Self::connection_opened) closed.
    pub(crate) fn connection_closed(&self) {
        self.connections_open.dec();
    }

    /// A connection was closed at once: the cap was reached.
    pub(crate) fn connection_refused(&self) {
        self.connections_refused.inc();
    }

    /// A connection is being closed by its own deadline (`handshake_timeout`, `idle_timeout`).
    pub(crate) fn connection_expired(&self, reason: &'static str) {
        self.connections_expired.get_or_create(&ExpiryLabels { reason }).inc();
    }

    /// The accept loop waits: the process is out of file descriptors.
    pub(crate) fn accept_backoff(&self) {
        self.accept_backoffs.inc();
    }

    /// A batch re-classification run started over `total` customers.
    pub(crate) fn batch_started(&self, total: u64) {
        self.batch_running.set(1);
        self.batch_run_processed.set(0);
        self.batch_run_total.set(i64::try_from(total).unwrap_or(i64::MAX));
    }

    /// A batch of the run in progress was written: the run's counters went from `before` to
    /// `now`.
    pub(crate) fn batch_progress(&self, now: &ReclassifyProgress, before: &ReclassifyProgress) {
        self.batch_processed
            .inc_by(now.processed.saturating_sub(before.processed));
        self.batch_changed.inc_by(now.changed.saturating_sub(before.changed));
        self.batch_out_of_range
            .inc_by(now.revenue_out_of_range.saturating_sub(before.revenue_out_of_range));
        self.batch_run_processed
            .set(i64::try_from(now.processed).unwrap_or(i64::MAX));
        self.batch_run_total.set(i64::try_from(now.total).unwrap_or(i64::MAX));
    }

    /// The run in progress ended.
    pub(crate) fn batch_finished(&self, ok: bool) {
        self.batch_running.set(0);
        self.batch_runs
            .get_or_create(&OutcomeLabels {
                outcome: if ok { "ok" } else { "failed" },
            })
            .inc();
    }

    /// The exposition text, with the pool gauges read from `db` now.
    fn render(&self, db: &Database) -> String {
        let stats = db.pool_stats();
        for (state, value) in [
            ("size", stats.size),
            ("idle", stats.idle),
            ("in_use", stats.size.saturating_sub(stats.idle)),
            ("max", stats.max),
        ] {
            self.pool.get_or_create(&PoolLabels { state }).set(i64::from(value));
        }
        for standby in db.standby_status() {
            let labels = StandbyLabels { url: standby.url };
            self.standby_serving
                .get_or_create(&labels)
                .set(i64::from(standby.serving));
            self.standby_lag
                .get_or_create(&labels)
                .set(i64::try_from(standby.lag_bytes).unwrap_or(i64::MAX));
        }
        if db.has_standbys() {
            let (standby, primary) = db.reads_served();
            for (served_by, count) in [("standby", standby), ("primary", primary)] {
                self.reads_served
                    .get_or_create(&ServedLabels { served_by })
                    .set(i64::try_from(count).unwrap_or(i64::MAX));
            }
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// `/pkg.Service/Method` -> (`pkg.Service`, `Method`) for every method of every service in the
/// descriptor sets. A set that does not decode contributes nothing (its methods are `unknown`).
fn known_methods(descriptor_sets: &[&[u8]]) -> HashMap<String, MethodLabels> {
    let mut methods = HashMap::new();
    for encoded in descriptor_sets {
        let Ok(set) = prost_types::FileDescriptorSet::decode(*encoded) else {
            tracing::warn!("a descriptor set does not decode; its methods are labelled `unknown` in metrics");
            continue;
        };
        for file in set.file {
            let package = file.package.unwrap_or_default();
            for service in file.service {
                let service_name = match (package.as_str(), service.name.as_deref()) {
                    (_, None) => continue,
                    ("", Some(name)) => name.to_owned(),
                    (package, Some(name)) => format!("{package}.{name}"),
                };
                for method in service.method {
                    if let Some(name) = method.name {
                        methods.insert(
                            format!("/{service_name}/{name}"),
                            MethodLabels {
                                service: service_name.clone(),
                                method: name,
                            },
                        );
                    }
                }
            }
        }
    }
    methods
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes.
///
/// # Errors
/// When the listener fails.
pub(crate) async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    db: Database,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route("/metrics", get(scrape))
        .with_state((metrics, db));
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

async fn scrape(State((metrics, db)): State<(Arc<Metrics>, Database)>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render(&db))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(metrics: &Metrics, path: &str) -> (String, String) {
        let MethodLabels { service, method } = metrics.labels_of(path);
        (service, method)
    }

    #[test]
    fn the_methods_of_the_contract_are_known_and_anything_else_is_unknown() {
        let metrics = Metrics::new(&[crm_api::FILE_DESCRIPTOR_SET, tonic_health::pb::FILE_DESCRIPTOR_SET]);
        assert_eq!(
            labels(&metrics, "/crm.v1.CustomerService/GetCustomer"),
            ("crm.v1.CustomerService".to_owned(), "GetCustomer".to_owned())
        );
        assert_eq!(
            labels(&metrics, "/grpc.health.v1.Health/Check"),
            ("grpc.health.v1.Health".to_owned(), "Check".to_owned())
        );
        assert_eq!(
            labels(&metrics, "/crm.v1.CustomerService/NoSuchMethod"),
            ("unknown".to_owned(), "unknown".to_owned())
        );
    }

    #[test]
    fn every_code_has_its_canonical_name() {
        assert_eq!(code_name(tonic::Code::DeadlineExceeded), "DEADLINE_EXCEEDED");
        assert_eq!(code_name(tonic::Code::from_i32(5)), "NOT_FOUND");
    }
}
