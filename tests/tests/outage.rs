//! The database goes away mid-load and comes back: a repeatable fault test.
//!
//! `crmd` reaches PostgreSQL through a [`FaultProxy`] the test controls. Writers create customers
//! without pause while the database is first stopped (every connection closed, new ones
//! refused), brought back, then frozen (connections open, nothing answers, as with SIGSTOP) and
//! thawed. The test asserts that every call ends OK or UNAVAILABLE with a `RetryInfo` (never
//! INTERNAL, never a deadline), that health says NOT_SERVING during each outage and SERVING
//! after it, that writes succeed again without a restart, and that afterwards every
//! acknowledged create is stored whole (its tags and classification history with it) and no
//! customer is stored in part. It prints the codes seen, how long each outage took to detect and
//! how long recovery took.
//!
//! PostgreSQL only: an embedded SQLite file has no server that can stop or freeze, and its
//! "cannot be used now" failures (a file locked by another process past the busy timeout, a
//! read-only or missing file) are sorted into UNAVAILABLE by the same classifier
//! (`crm-persistence`'s `errors` unit tests); a locked-file end-to-end test would have to
//! outwait the 10 s busy timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::{BTreeMap, HashSet},
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use crm_tests::{Backend, TestApp, TestDatabase, organization, pb, proxy::FaultProxy};
use sea_orm::{ConnectionTrait, Statement};
use tokio::sync::Mutex;
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
use tonic_types::StatusExt as _;

/// The longest any one step (detecting an outage, recovering) may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(15);

/// How many writers create customers at once.
const WRITERS: usize = 4;

/// `url` with its host and port replaced by `addr`.
fn through(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let path_start = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(path_start);
    let user = authority.rsplit_once('@').map(|(user, _)| format!("{user}@"));
    format!("{scheme}://{}{addr}{path}", user.unwrap_or_default())
}

/// The host and port of `url` (5432 when it names none).
fn server_of(url: &str) -> SocketAddr {
    let rest = url.split_once("://").expect("a URL").1;
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    let host = host.replace("localhost", "127.0.0.1");
    host.parse().expect("the PostgreSQL server as ip:port")
}

/// What one writer's call ended with.
#[derive(Debug)]
struct Outcome {
    at: Instant,
    took: Duration,
    result: Result<String, (Code, bool)>,
}

async fn health(app: &TestApp) -> ServingStatus {
    HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest { service: String::new() })
        .await
        .expect("health answers during an outage")
        .into_inner()
        .status()
}

/// Waits until health says `wanted`; returns how long that took.
async fn wait_for_health(app: &TestApp, wanted: ServingStatus, since: Instant) -> Duration {
    loop {
        if health(app).await == wanted {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < PATIENCE,
            "health did not become {wanted:?} within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until a write that started after `since` succeeded; returns how long after `since`.
async fn wait_for_a_write(outcomes: &Mutex<Vec<Outcome>>, since: Instant) -> Duration {
    loop {
        let done = outcomes
            .lock()
            .await
            .iter()
            .filter(|o| o.result.is_ok() && o.at.checked_duration_since(since).is_some())
            .map(|o| o.at + o.took)
            .min();
        if let Some(done) = done {
            return done.duration_since(since);
        }
        assert!(
            since.elapsed() < PATIENCE,
            "no write succeeded within {PATIENCE:?} of the database's return"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stopped_and_frozen_mid_load_answers_unavailable_and_recovers_losing_no_acknowledged_write() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let proxy = FaultProxy::start(server_of(database.url())).await;
    let app = TestApp::spawn_on(
        TestDatabase::Shared {
            url: through(database.url(), proxy.addr()),
        },
        |settings| {
            settings.health_check_interval = Duration::from_secs(1);
        },
    )
    .await;

    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (client, outcomes, stop) = (app.customers.clone(), Arc::clone(&outcomes), Arc::clone(&stop));
        writers.push(tokio::spawn(async move {
            let mut client = client;
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let id = format!("w{writer}-{n}");
                let mut customer = organization(&format!("Outage {id}"));
                customer.tags = vec!["outage".to_owned(), format!("writer-{writer}")];
                let mut request = tonic::Request::new(pb::CreateCustomerRequest {
                    customer: Some(customer),
                    customer_id: id.clone(),
                    request_id: uuid::Uuid::new_v4().to_string(),
                });
                request.set_timeout(Duration::from_secs(10));
                let at = Instant::now();
                let result = client.create_customer(request).await;
                let took = at.elapsed();
                let result = match result {
                    Ok(_) => Ok(id),
                    Err(status) => {
                        let retry = status.get_details_retry_info().is_some_and(|r| r.retry_delay.is_some());
                        // Do not spin while refused: a real client backs off as RetryInfo asks.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Err((status.code(), retry))
                    }
                };
                outcomes.lock().await.push(Outcome { at, took, result });
            }
        }));
    }

    let started = Instant::now();
    wait_for_a_write(&outcomes, started).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Stopped: connections break, new ones are refused.
    let stopped_at = Instant::now();
    proxy.stop().await;
    let detect_stopped = wait_for_health(&app, ServingStatus::NotServing, stopped_at).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let back_at = Instant::now();
    proxy.resume().await;
    let serving_after_stop = wait_for_health(&app, ServingStatus::Serving, back_at).await;
    let recovery_after_stop = wait_for_a_write(&outcomes, back_at).await;

    // Frozen: connections stay open and nothing answers.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let frozen_at = Instant::now();
    proxy.freeze();
    let detect_frozen = wait_for_health(&app, ServingStatus::NotServing, frozen_at).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let thawed_at = Instant::now();
    proxy.resume().await;
    let serving_after_freeze = wait_for_health(&app, ServingStatus::Serving, thawed_at).await;
    let recovery_after_freeze = wait_for_a_write(&outcomes, thawed_at).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer");
    }
    let outcomes = std::mem::take(&mut *outcomes.lock().await);

    // Every call ended OK or UNAVAILABLE with a RetryInfo.
    let mut codes = BTreeMap::<String, usize>::new();
    for outcome in &outcomes {
        let code = match &outcome.result {
            Ok(_) => Code::Ok,
            Err((code, _)) => *code,
        };
        *codes.entry(format!("{code:?}")).or_default() += 1;
    }
    let unavailable: Vec<&Outcome> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    for outcome in &unavailable {
        assert_eq!(
            outcome.result,
            Err((Code::Unavailable, true)),
            "a write during the outage must end UNAVAILABLE with a RetryInfo; codes seen: {codes:?}"
        );
    }
    let in_window = |from: Instant, to: Instant| unavailable.iter().filter(|o| o.at >= from && o.at < to).count();
    assert!(
        in_window(stopped_at, back_at) > 0,
        "no UNAVAILABLE while stopped: {codes:?}"
    );
    assert!(
        in_window(frozen_at, thawed_at) > 0,
        "no UNAVAILABLE while frozen: {codes:?}"
    );
    let mut refused_fast: Vec<Duration> = unavailable
        .iter()
        .filter(|o| o.at >= stopped_at + detect_stopped && o.at + o.took <= back_at)
        .map(|o| o.took)
        .collect();
    refused_fast.sort();

    // Every acknowledged write is stored whole, and nothing is stored in part.
    let acknowledged: HashSet<String> = outcomes.iter().filter_map(|o| o.result.clone().ok()).collect();
    let conn = sea_orm::Database::connect(database.url())
        .await
        .expect("connect directly");
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT c.id, (SELECT count(*) FROM customer_tags t WHERE t.customer_id = c.id) AS tags, \
             (SELECT count(*) FROM classification_history h WHERE h.customer_id = c.id) AS history \
             FROM customers c WHERE c.id LIKE 'w%'"
                .to_owned(),
        ))
        .await
        .expect("read the stored customers");
    let mut stored = HashSet::new();
    let mut history_counts = HashSet::new();
    for row in rows {
        let id: String = row.try_get("", "id").expect("id");
        let tags: i64 = row.try_get("", "tags").expect("tags");
        let history: i64 = row.try_get("", "history").expect("history");
        assert_eq!(tags, 2, "customer {id} is stored without its tags");
        history_counts.insert(history);
        stored.insert(id);
    }
    assert_eq!(
        history_counts.len(),
        1,
        "every customer's create wrote the same classification history: {history_counts:?}"
    );
    let missing: Vec<&String> = acknowledged.difference(&stored).collect();
    assert!(missing.is_empty(), "acknowledged creates are missing: {missing:?}");
    conn.close().await.ok();

    eprintln!(
        "outage: {} writes, codes {codes:?}; stopped: NOT_SERVING after {detect_stopped:?}, SERVING {serving_after_stop:?} \
         and the first write {recovery_after_stop:?} after its return; frozen: NOT_SERVING after {detect_frozen:?}, \
         SERVING {serving_after_freeze:?} and the first write {recovery_after_freeze:?} after the thaw; refused while \
         known down in median {:?}; {} acknowledged creates all stored whole, {} stored in all",
        outcomes.len(),
        refused_fast.get(refused_fast.len() / 2).copied().unwrap_or_default(),
        acknowledged.len(),
        stored.len(),
    );
    drop(app);
    drop(database);
}
