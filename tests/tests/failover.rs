//! Failover (issue 14, item 5): crmd on a multi-host `--database-url` with
//! `target_session_attrs=read-write` follows a promoted standby without a restart, and every
//! write it acknowledged is there afterwards.
//!
//! A primary and a synchronous standby (every commit waits until the standby has flushed it,
//! as a deployment that must not lose acknowledged writes runs) are started by the test
//! (`crm_tests::pg_cluster`). Writers create customers through crmd without pause; the primary
//! is killed (`pg_ctl stop -m immediate`, as a crash) and the standby promoted. Writers keep
//! going until crmd has acknowledged writes on the new primary; then every acknowledged customer
//! is read back through crmd and counted on the new primary directly. The unavailability window
//! (from the kill to the first acknowledged write after it) is measured and printed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use crm_tests::{TestApp, TestDatabase, organization, pb, pg_cluster::PgCluster};
use tonic::Code;

/// Concurrent writers.
const WRITERS: usize = 4;
/// Acknowledged writes wanted on the new primary before the writers stop.
const AFTER: usize = 50;
/// The longest the failover may take before the test gives up.
const PATIENCE: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Outcomes {
    /// Acknowledged creates: the customer's name and when the answer came.
    acknowledged: Vec<(String, Instant)>,
    /// Failed creates: when, and the code.
    failed: Vec<(Instant, Code)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crmd_follows_a_promoted_standby_and_keeps_every_acknowledged_write() {
    let Some(mut cluster) = PgCluster::start(1) else {
        return;
    };
    cluster.make_synchronous();
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
        cluster.primary.port(),
        cluster.standbys[0].port()
    );
    let app = TestApp::spawn_on(TestDatabase::Shared { url }, |settings| {
        settings.health_check_interval = Duration::from_secs(1);
    })
    .await;

    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let customers = app.customers.clone();
        let outcomes = Arc::clone(&outcomes);
        let stop = Arc::clone(&stop);
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let mut request = tonic::Request::new(pb::CreateCustomerRequest {
                    customer: Some(organization(&format!("writer {writer} #{n}"))),
                    ..Default::default()
                });
                request.set_timeout(Duration::from_secs(5));
                let result = customers.clone().create_customer(request).await;
                let now = Instant::now();
                {
                    let mut outcomes = outcomes.lock().unwrap();
                    match result {
                        Ok(created) => outcomes.acknowledged.push((created.into_inner().name, now)),
                        Err(status) => outcomes.failed.push((now, status.code())),
                    }
                }
                if n % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }

    // Let the writers run on the first primary, then crash it and promote the standby.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = outcomes.lock().unwrap().acknowledged.len();
    assert!(before > 0, "writes succeed on the first primary");
    let kill_started = Instant::now();
    cluster.primary.kill();
    // From here on the first primary is gone: an acknowledged write is the new primary's.
    let killed = Instant::now();
    cluster.standbys[0].promote();
    let promoted = killed.elapsed();

    // Writers go on until crmd acknowledges writes on the new primary.
    loop {
        let after = outcomes
            .lock()
            .unwrap()
            .acknowledged
            .iter()
            .filter(|(_, at)| *at > killed)
            .count();
        if after >= AFTER {
            break;
        }
        assert!(
            killed.elapsed() < PATIENCE,
            "crmd did not follow the promoted standby within {PATIENCE:?} ({after} writes acknowledged since the kill)\n{}",
            cluster.standbys[0].log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }

    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    let first_after = outcomes
        .acknowledged
        .iter()
        .filter(|(_, at)| *at > killed)
        .map(|(_, at)| *at)
        .min()
        .unwrap();
    let mut codes: Vec<Code> = outcomes
        .failed
        .iter()
        .filter(|(at, _)| *at > killed)
        .map(|(_, code)| *code)
        .collect();
    codes.sort_by_key(|c| *c as i32);
    codes.dedup();
    let last_before = outcomes
        .acknowledged
        .iter()
        .filter(|(_, at)| *at <= kill_started)
        .map(|(_, at)| *at)
        .max()
        .unwrap();
    eprintln!(
        "failover: {before} writes acknowledged in the first second; `pg_ctl stop -m immediate` took {:?}, `pg_ctl promote -w` {promoted:?}; \
         no write acknowledged for {:?} (the last before the kill to the first after it), of which {:?} after the standby was promoted; \
         {} calls failed meanwhile ({codes:?}), {} writes acknowledged in all",
        killed - kill_started,
        first_after - last_before,
        first_after.saturating_duration_since(killed + promoted),
        outcomes.failed.len(),
        outcomes.acknowledged.len()
    );
    assert!(
        codes
            .iter()
            .all(|c| matches!(c, Code::Unavailable | Code::Internal | Code::DeadlineExceeded)),
        "calls during the failover fail as retryable errors, not as the caller's: {codes:?}"
    );

    // Every acknowledged write is on the new primary, read back through crmd...
    let names: Vec<String> = outcomes.acknowledged.iter().map(|(name, _)| name.clone()).collect();
    for chunk in names.chunks(1000) {
        let found = app
            .customers
            .clone()
            .batch_get_customers(pb::BatchGetCustomersRequest { names: chunk.to_vec() })
            .await
            .unwrap_or_else(|e| panic!("an acknowledged customer is missing after the failover: {e:?}"))
            .into_inner();
        assert_eq!(found.customers.len(), chunk.len());
    }
    // ...and listed on it directly.
    let stored: std::collections::HashSet<String> = cluster.standbys[0]
        .psql("SELECT id FROM customers")
        .lines()
        .map(|id| format!("customers/{id}"))
        .collect();
    let missing: Vec<&String> = names.iter().filter(|n| !stored.contains(*n)).collect();
    assert!(missing.is_empty(), "acknowledged but not stored: {missing:?}");
    app.stop().await.unwrap();
}
