//! `crmd`, the gRPC server: it translates between the `crm.v1` contract and the domain, and
//! runs the service (health, reflection, limits, logging, graceful shutdown).
//!
//! # Layout
//! - [`run`]: the seam tests and the binary share: given settings, a bound listener and a
//!   shutdown signal, connect and migrate the database and serve until the signal.
//! - [`config`]: flags, environment and config file, resolved into [`config::Settings`].
//! - [`telemetry`]: the log subscriber, the OTLP trace exporter and the per-RPC span.
//! - `metrics`: the Prometheus registry and the `GET /metrics` listener.
//! - [`bootstrap`]: the first admin and its key on a fresh database.
//! - `audit`: the batched, back-pressured audit log writer.
//! - `replicas`: how this replica learns of other replicas' changes to the access state and the
//!   active policy (PostgreSQL `LISTEN`/`NOTIFY`, and a periodic refresh).
//! - `status`: domain errors -> `tonic::Status` with `google.rpc` details, exhaustively.
//! - `page_token`: the page tokens of every List RPC: HMAC-signed, bound to the list and query.
//!
//! The three services, each a folder; their proto <-> domain mapping, collecting every field
//! violation, is `crm_api::convert` (shared with `crmctl`):
//! - `customers`: `service`, the `CustomerService` handlers.
//! - `access`: `service`, the `AccessService` handlers (management, `WhoAmI`, decisions,
//!   audit); `state`, principals, roles, bindings and keys held in memory, reloaded on change;
//!   `api_key`, the key format, generation, hashing and constant-time comparison.
//! - `classification`: `service`, the `ClassificationService` handlers; `state`, the clock, the
//!   reporting currency, the active policy in memory, batch runs (one at a time, PostgreSQL
//!   advisory lock) and the daily schedule.
//!
//! `transport`: what every call passes through around its handler.
//! - `connections`: the accepted connections: a cap, handshake and idle deadlines, and an accept
//!   loop that backs off when the process is out of file descriptors.
//! - `request_id`: the request id of every call (the caller's `x-request-id` if sane, else a
//!   UUID), in the span and the response.
//! - `observe`: the end of every RPC (its gRPC status from headers or trailers): metrics and
//!   the "rpc finished" log line.
//! - `drain`: graceful shutdown's first step: refuse new calls, wait for those in flight, and
//!   only then let HTTP/2 GOAWAY close the connections.
//! - `limits`: the global concurrency limit (load shedding), per-request deadlines and the
//!   request body timeout.
//! - [`caller`]: the authentication layer: `authorization: Bearer <key>` -> the typed caller.
//! - [`principal_limits`]: per-principal limits (calls at once, calls per second) by default,
//!   role or principal, applied by the authentication layer.
//! - `availability`: the database watcher (health, a dedicated ping connection) and the gate
//!   that answers UNAVAILABLE at once while the database is down.
//! - `body`: a response body that holds a guard (a permit, a completion) until its end.
//!
//! [`caller`] and [`principal_limits`] are public and re-exported here, so their paths
//! (`crm_server::caller`, `crm_server::principal_limits`) do not name the folder.

mod access;
mod audit;
pub mod bootstrap;
mod classification;
pub mod config;
mod customers;
mod metrics;
mod page_token;
mod replicas;
mod status;
pub mod telemetry;
mod transport;

// Public paths other crates use: `crm_server::caller`, `crm_server::principal_limits`.
pub use transport::{caller, principal_limits};

#[cfg(test)]
mod fuzz;

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::Context as _;
use crm_api::crm::v1::{
    access_service_server::AccessServiceServer, classification_service_server::ClassificationServiceServer,
    customer_service_server::CustomerServiceServer,
};
use crm_domain::customer::service::CustomerService;
use crm_persistence::{Database, SqlAccessRepository, SqlCustomerRepository, secrets};
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic_health::{ServingStatus, server::HealthReporter};
use tower::ServiceBuilder;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::{
    access::{service::AccessGrpc, state::AccessState},
    audit::{AuditLog, RefusalAudit},
    classification::{service::ClassificationGrpc, state::ClassificationState},
    config::Settings,
    customers::service::CustomerGrpc,
    metrics::Metrics,
    page_token::PageTokens,
    telemetry::RpcSpan,
    transport::{
        availability::{self, StorageGateLayer, StorageState},
        caller::CallerLayer,
        connections::{self, ConnectionCallsLayer, ConnectionLimits},
        consistency::ConsistencyTokenLayer,
        drain::{Drain, DrainLayer},
        limits::{BodyTimeoutLayer, ConcurrencyLimitLayer, DeadlineLayer},
        observe::ObserveLayer,
        principal_limits::PrincipalLimiter,
        request_id,
    },
};

/// The gRPC service names health reports on (besides the overall `""`).
const SERVICE_NAMES: &[&str] = &[
    "crm.v1.CustomerService",
    "crm.v1.AccessService",
    "crm.v1.ClassificationService",
];

/// How long an HTTP/2 keepalive PING may go unanswered before the connection is closed.
const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// How long shutdown waits for scrapes in progress.
const METRICS_DRAIN: Duration = Duration::from_secs(5);

/// How long shutdown waits for the audit writer to store what is queued.
const AUDIT_DRAIN: Duration = Duration::from_secs(10);

/// Connects to the configured database, with its direct URL if one is set (for a database behind
/// a transaction-mode pooler), with a pool of `max_connections`.
///
/// # Errors
/// When the database cannot be reached; the message names the URL without its password.
pub async fn connect_database(settings: &Settings, max_connections: u32) -> anyhow::Result<Database> {
    let db = Database::connect(&settings.database_url, max_connections).await?;
    let Some(direct) = &settings.direct_database_url else {
        return Ok(db);
    };
    if !settings.database_url.contains("statement-cache-capacity=0") {
        tracing::warn!(
            "--direct-database-url is set, so --database-url is taken to be a transaction-mode pooler: add \
             `statement-cache-capacity=0` to it, or statements prepared on one server connection will be looked \
             for on another"
        );
    }
    Ok(db.with_direct_url(direct).await?)
}

/// Connects to the configured database (and its read databases), and applies migrations if the
/// settings say so.
///
/// # Errors
/// When the database cannot be reached or migrated; the message names the URL without its
/// password.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    let db = connect_database(settings, settings.db_max_connections).await?;
    if settings.migrate_on_start {
        db.migrate().await?;
    }
    let db = db
        .with_standbys(
            &settings.read_database_urls,
            settings.db_max_connections,
            settings.read_max_lag,
        )
        .await?;
    tracing::info!(
        database = db.display_url(),
        read_databases = db.standby_status().len(),
        "database ready"
    );
    Ok(db)
}

/// How often the query planner's statistics are refreshed (a no-op where the database does it
/// itself).
const OPTIMIZE_EVERY: Duration = Duration::from_secs(5);

/// Refreshes the planner's statistics; a failure is logged, never fatal.
async fn optimize_database(db: &Database) {
    match db.optimize().await {
        Ok(true) => tracing::info!("query planner statistics refreshed"),
        Ok(false) => {}
        Err(error) => tracing::warn!(%error, "refreshing the query planner's statistics failed"),
    }
}

/// Refreshes the planner's statistics at once (off the start-up path: a large file that was never
/// analyzed takes seconds) and then every [`OPTIMIZE_EVERY`].
async fn optimize_periodically(db: Database) {
    let mut interval = tokio::time::interval(OPTIMIZE_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        optimize_database(&db).await;
    }
}

/// The sockets a server answers on, bound by the caller (so that tests can bind port 0 and
/// learn the addresses).
#[derive(Debug)]
pub struct Listeners {
    /// gRPC.
    pub grpc: TcpListener,
    /// Prometheus metrics over HTTP; `None` serves none.
    pub metrics: Option<TcpListener>,
}

/// Serves gRPC on `listener` (and metrics on `settings.metrics_addr`, if set) until `shutdown`
/// completes, then stops accepting, lets in-flight calls finish (up to the configured grace
/// period), and closes the database pool.
///
/// # Errors
/// When the metrics address cannot be bound, the database cannot be opened or the server fails.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let metrics = match settings.metrics_addr {
        None => None,
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for metrics on {addr}"))?,
        ),
    };
    run_with(
        settings,
        Listeners {
            grpc: listener,
            metrics,
        },
        shutdown,
    )
    .await
}

/// [`run`] on listeners the caller bound (`settings.listen_addr` and `settings.metrics_addr`
/// are not used).
///
/// # Errors
/// When the database cannot be opened or the server fails.
pub async fn run_with(
    settings: Settings,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let Listeners {
        grpc: listener,
        metrics: metrics_listener,
    } = listeners;
    let db = open_database(&settings).await?;
    let metrics = Metrics::new(&[
        crm_api::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ]);
    let key = secrets::load_or_create(&db, secrets::PAGE_TOKEN_KEY)
        .await
        .map_err(|e| anyhow::anyhow!("cannot load the page token key: {e}"))?;
    let page_tokens = PageTokens::new(&key).map_err(|e| anyhow::anyhow!("unusable page token key: {e}"))?;
    if let Some(admin_key) = bootstrap::first_start(&db).await? {
        bootstrap::write_key_file(&settings.admin_key_file, &admin_key)?;
        tracing::warn!(
            file = %settings.admin_key_file.display(),
            "first start: created principals/admin (role admin, scope ALL); its API key is in this file, \
             readable by the owner only. Send it as `authorization: Bearer <key>`"
        );
    }
    let access = AccessState::load(db.clone())
        .await
        .map_err(|e| anyhow::anyhow!("cannot load principals, roles and keys: {e}"))?;
    let (audit, audit_task) = AuditLog::start(SqlAccessRepository::new(db.clone()));
    let classification = ClassificationState::load(
        db.clone(),
        Arc::clone(&settings.clock),
        settings.reporting_currency.clone(),
        Arc::clone(&metrics),
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot load the classification policy: {e}"))?;
    let schedule_task = tokio::spawn(classification::state::schedule(
        Arc::clone(&classification),
        settings.reclassify_interval,
    ));
    let access_task = tokio::spawn(replicas::follow(
        Arc::clone(&access),
        Arc::clone(&classification),
        db.clone(),
        settings.access_refresh_interval,
    ));

    let (health, health_service) = tonic_health::server::health_reporter();
    set_health(&health, ServingStatus::Serving).await;
    let optimize_task = tokio::spawn(optimize_periodically(db.clone()));
    let facts_task = tokio::spawn(crm_persistence::facts_cache::follow_changes(db.clone()));
    let customers_task = tokio::spawn(crm_persistence::customer_cache::own_customers(db.clone()));
    let standbys_task = tokio::spawn(crm_persistence::follow_standbys(db.clone()));
    let primary_task = tokio::spawn(crm_persistence::follow_primary(db.clone()));
    // The watcher pings over a pool of its own: requests exhausting theirs is not an outage.
    let probe = Database::connect(&settings.database_url, 1).await?;
    let probe_primary_task = tokio::spawn(crm_persistence::follow_primary(probe.clone()));
    let storage = StorageState::new(settings.health_check_interval);
    let health_task = tokio::spawn(availability::watch(
        probe.clone(),
        health.clone(),
        Arc::clone(&storage),
        settings.health_check_interval,
    ));

    // Each reflection version describes itself; register the other one's descriptors too, so
    // that both list every service this server answers.
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crm_api::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building reflection v1")?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crm_api::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("building reflection v1alpha")?;

    let customer_repository = SqlCustomerRepository::new(db.clone()).writing();
    let customers = CustomerGrpc::new(
        CustomerService::new(customer_repository.clone()),
        page_tokens.clone(),
        Arc::clone(&access),
        audit.clone(),
        Arc::clone(&classification),
    );
    let customer_service = CustomerServiceServer::new(customers)
        .max_decoding_message_size(settings.max_message_bytes)
        .max_encoding_message_size(settings.max_message_bytes);
    let access_service = AccessServiceServer::new(AccessGrpc::new(
        Arc::clone(&access),
        customer_repository,
        audit.clone(),
        page_tokens.clone(),
        Arc::clone(&settings.clock),
    ))
    .max_decoding_message_size(settings.max_message_bytes)
    .max_encoding_message_size(settings.max_message_bytes);
    let classification_service = ClassificationServiceServer::new(ClassificationGrpc::new(
        Arc::clone(&classification),
        Arc::clone(&access),
        audit.clone(),
        page_tokens,
    ))
    .max_decoding_message_size(settings.max_message_bytes)
    .max_encoding_message_size(settings.max_message_bytes);
    let refusals = RefusalAudit::new(audit.clone());
    drop(audit);

    let local_addr = listener.local_addr().context("reading the bound address")?;
    tracing::info!(address = %local_addr, "crmd listening (gRPC, plaintext HTTP/2)");

    let (metrics_stop_tx, metrics_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let metrics_task = match metrics_listener {
        None => None,
        Some(metrics_listener) => {
            let addr = metrics_listener
                .local_addr()
                .context("reading the bound metrics address")?;
            tracing::info!(address = %addr, "serving Prometheus metrics on http://{addr}/metrics");
            Some(tokio::spawn(metrics::serve(
                metrics_listener,
                Arc::clone(&metrics),
                db.clone(),
                async move {
                    let _ = metrics_stop_rx.await;
                },
            )))
        }
    };

    // Outermost first: a call counts on its connection (for the idle timeout) whatever becomes
    // of it; the request id exists before the span that logs it; the span is entered
    // before anything that logs; the observer sees every answer, refused or not; a draining
    // server refuses before any work; the deadline and the body timeout cover everything after
    // them (and, ending a call, free what it holds); a call is authenticated (from memory) and
    // held to its principal's limits before it takes a place in the global limit, so a caller
    // over its own limit cannot take places from others; the storage gate refuses last, for a
    // database outage; a write's consistency token is read after its handler committed.
    let principal_limits = PrincipalLimiter::new(settings.principal_limits.clone(), Arc::clone(&metrics));
    let drain = Drain::new();
    let layers = ServiceBuilder::new()
        .layer(ConnectionCallsLayer)
        .map_request(request_id::drop_insane)
        .layer(SetRequestIdLayer::new(request_id::HEADER, MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(request_id::HEADER))
        .layer(
            TraceLayer::new_for_grpc()
                .make_span_with(RpcSpan)
                .on_request(())
                .on_response(())
                .on_body_chunk(())
                .on_eos(())
                .on_failure(()),
        )
        .layer(ObserveLayer::new(Arc::clone(&metrics)))
        .layer(DrainLayer::new(Arc::clone(&drain)))
        .layer(DeadlineLayer::new(settings.request_timeout))
        .layer(BodyTimeoutLayer::new(
            settings.request_body_timeout,
            Arc::clone(&metrics),
        ))
        .layer(
            CallerLayer::new(Arc::clone(&access))
                .recording_refusals(refusals)
                .limiting(principal_limits),
        )
        .layer(ConcurrencyLimitLayer::new(
            settings.max_concurrent_requests,
            Arc::clone(&metrics),
        ))
        .layer(StorageGateLayer::new(Arc::clone(&storage)))
        .layer(ConsistencyTokenLayer::new(db.clone()))
        .into_inner();

    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let descriptor_limit = connections::raise_descriptor_limit();
    let limits = ConnectionLimits {
        max_connections: settings.max_connections.unwrap_or_else(|| {
            // The pools (requests and each read database's, the health probe, two listeners) and
            // crmd's own files.
            let pools = 1 + settings.read_database_urls.len();
            let reserved = usize::try_from(settings.db_max_connections)
                .unwrap_or(usize::MAX)
                .saturating_mul(pools)
                + 3
                + 64;
            connections::default_max_connections(descriptor_limit, reserved)
        }),
        handshake_timeout: settings.connection_handshake_timeout,
        idle_timeout: settings.connection_idle_timeout,
    };
    tracing::info!(
        max_connections = limits.max_connections,
        descriptor_limit = descriptor_limit.unwrap_or(0),
        "connection limits"
    );
    let server = Server::builder()
        .http2_keepalive_interval(settings.http2_keepalive_interval)
        .http2_keepalive_timeout(Some(HTTP2_KEEPALIVE_TIMEOUT))
        .layer(layers)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(customer_service)
        .add_service(access_service)
        .add_service(classification_service)
        // The cap, deadlines and EMFILE back-off of the `connections` module (and TCP_NODELAY).
        .serve_with_incoming_shutdown(connections::incoming(listener, limits, Arc::clone(&metrics)), {
            let health = health.clone();
            async move {
                shutdown.await;
                tracing::info!("shutting down: refusing new calls, finishing in-flight calls");
                let _ = stopping_tx.send(());
                // Calls first, connections after: see the `drain` module for the h2 race this avoids.
                drain.start();
                set_health(&health, ServingStatus::NotServing).await;
                drain.idle().await;
                tracing::info!("in-flight calls finished; closing connections");
            }
        });

    let grace = settings.shutdown_grace;
    let result = tokio::select! {
        result = server => result.context("serving gRPC"),
        () = grace_expired(stopping_rx, grace) => {
            tracing::warn!(grace_secs = grace.as_secs(), "in-flight calls did not finish within the grace period");
            Ok(())
        }
    };
    let _ = metrics_stop_tx.send(());
    if let Some(task) = metrics_task {
        match tokio::time::timeout(METRICS_DRAIN, task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::warn!(%error, "the metrics listener failed"),
            Ok(Err(error)) => tracing::warn!(%error, "the metrics listener failed"),
            Err(_) => tracing::warn!("the metrics listener did not stop in time"),
        }
    }
    health_task.abort();
    optimize_task.abort();
    let _ = health_task.await;
    // A ping stuck on a silent database holds the probe's connection: do not wait for it.
    let _ = tokio::time::timeout(availability::PING_TIMEOUT, probe.close()).await;
    schedule_task.abort();
    let _ = schedule_task.await;
    facts_task.abort();
    let _ = facts_task.await;
    for task in [customers_task, standbys_task, primary_task, probe_primary_task] {
        task.abort();
        let _ = task.await;
    }
    access_task.abort();
    // Wait until the watcher is gone: its PostgreSQL listener holds a pooled connection that
    // closing the pool would otherwise wait for.
    let _ = access_task.await;
    set_health(&health, ServingStatus::NotServing).await;
    // Every handler (and its audit handle) is gone now: the writer drains and ends.
    if tokio::time::timeout(AUDIT_DRAIN, audit_task).await.is_err() {
        tracing::error!("the audit writer did not drain in time; queued audit events may be lost");
    }
    db.close().await;
    tracing::info!("stopped");
    result
}

async fn grace_expired(stopping: tokio::sync::oneshot::Receiver<()>, grace: Duration) {
    if stopping.await.is_ok() {
        tokio::time::sleep(grace).await;
    } else {
        std::future::pending::<()>().await;
    }
}

pub(crate) async fn set_health(health: &HealthReporter, status: ServingStatus) {
    health.set_service_status("", status).await;
    for name in SERVICE_NAMES {
        health.set_service_status(*name, status).await;
    }
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled: the server polls it only between accepted connections, so a
/// SIGTERM sent just after `crmd listening` could otherwise still find the default action and
/// kill the process without a graceful shutdown.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = signal(SignalKind::interrupt()).and_then(|i| Ok((i, signal(SignalKind::terminate())?)));
        async move {
            match handlers {
                Ok((mut interrupt, mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {},
                        _ = terminate.recv() => {},
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "cannot listen for SIGINT and SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    }
}
