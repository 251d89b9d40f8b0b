//! The batch re-classification lock: on PostgreSQL a run holding it on one pool makes another
//! pool (another replica) wait, and releasing it — or dropping it, as a cancelled run does —
//! frees it; on SQLite, where one process owns the file, it holds nothing.

use std::time::Duration;

use crm_persistence::{Backend as DbBackend, ReclassificationLock};

use crate::support::{Backend, migrated, on_both_backends};

on_both_backends!(one_replica_runs_at_a_time);

async fn one_replica_runs_at_a_time(backend: Backend) {
    let Some((database, first)) = migrated(backend).await else {
        return;
    };
    let second = database.connect(3).await;
    let held = ReclassificationLock::acquire(&first).await.unwrap();
    if first.backend() == DbBackend::Sqlite {
        assert!(!ReclassificationLock::is_held_elsewhere(&second).await.unwrap());
        held.release().await;
        return;
    }
    assert!(ReclassificationLock::is_held_elsewhere(&second).await.unwrap());
    // The other replica's acquire waits while the lock is held …
    let waiting = tokio::spawn({
        let second = second.clone();
        async move { ReclassificationLock::acquire(&second).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the second replica must wait for the first");
    // … and gets it once the first releases.
    held.release().await;
    let taken = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting replica gets the lock")
        .unwrap();
    assert!(ReclassificationLock::is_held_elsewhere(&first).await.unwrap());
    // A run that is cancelled drops its lock without releasing it: closing the session frees it.
    drop(taken);
    let mut freed = false;
    for _ in 0..50 {
        if !ReclassificationLock::is_held_elsewhere(&first).await.unwrap() {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(freed, "dropping the lock closes its session, which releases it");
}

on_both_backends!(policy_writes_wait_for_a_concurrent_writer);

/// Storing and activating policy versions while another connection holds a write transaction:
/// they wait for it (the busy timeout) instead of failing with "database is locked", because
/// they take the write lock first. A regression test: `crmd` once failed to start on SQLite
/// while another process wrote.
async fn policy_writes_wait_for_a_concurrent_writer(backend: Backend) {
    use crm_domain::{
        classification::{ClassificationPolicy, PolicyVersionId},
        ports::ClassificationRepository,
    };
    use sea_orm::{ConnectionTrait, TransactionTrait};

    let Some((database, db)) = migrated(backend).await else {
        return;
    };
    let repository = crm_persistence::SqlClassificationRepository::new(db);
    let other = sea_orm::Database::connect(database.url()).await.unwrap();
    let writer = other.begin().await.unwrap();
    writer
        .execute_unprepared("UPDATE service_secrets SET name = name WHERE name = 'none'")
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let store = tokio::spawn(async move {
        let stored = repository
            .insert_policy(&ClassificationPolicy::default(), "concurrent", None, now, false)
            .await
            .map_err(|e| e.to_string())?;
        repository
            .activate_policy(PolicyVersionId::new(stored.version.get()), now)
            .await
            .map_err(|e| e.to_string())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    writer.commit().await.unwrap();
    let activated = tokio::time::timeout(Duration::from_secs(10), store)
        .await
        .expect("the policy writes finish once the other writer commits")
        .unwrap()
        .expect("no 'database is locked'");
    assert!(activated.active);
    other.close().await.unwrap();
}
