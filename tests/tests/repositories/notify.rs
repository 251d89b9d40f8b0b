//! Change notification across replicas: on PostgreSQL a publish through one pool wakes a
//! subscription on another pool to the same database, also after the listening connection was
//! killed; on SQLite there is nothing to subscribe to.

use std::time::Duration;

use crm_persistence::{Backend as DbBackend, Changed, publish_access_changed, subscribe_changes};
use sea_orm::{ConnectionTrait, Statement};

use crate::support::{Backend, migrated, on_both_backends};

on_both_backends!(
    a_publish_wakes_a_subscriber_on_another_pool,
    a_lost_listening_connection_makes_the_subscriber_reload,
);

/// How long a notification may take.
const WITHIN: Duration = Duration::from_secs(5);
/// How long a subscriber is watched to check that it stays asleep.
const QUIET: Duration = Duration::from_millis(300);

async fn a_publish_wakes_a_subscriber_on_another_pool(backend: Backend) {
    let Some((database, writer)) = migrated(backend).await else {
        return;
    };
    let replica = database.connect(2).await;
    if writer.backend() == DbBackend::Sqlite {
        assert!(subscribe_changes(&replica).await.unwrap().is_none());
        publish_access_changed(&writer).await.unwrap();
        return;
    }
    let mut changes = subscribe_changes(&replica)
        .await
        .unwrap()
        .expect("a subscription on PostgreSQL");
    assert!(
        tokio::time::timeout(QUIET, changes.next()).await.is_err(),
        "nothing was published yet"
    );

    publish_access_changed(&writer).await.unwrap();
    tokio::time::timeout(WITHIN, changes.next())
        .await
        .expect("woken within 5 s")
        .unwrap();

    // A burst is seen (at least once), and then the subscriber sleeps again.
    for _ in 0..3 {
        publish_access_changed(&writer).await.unwrap();
    }
    tokio::time::timeout(WITHIN, changes.next())
        .await
        .expect("woken within 5 s")
        .unwrap();
    let mut extra = 0;
    while tokio::time::timeout(QUIET, changes.next()).await.is_ok() {
        extra += 1;
        assert!(extra < 3, "more wake-ups than notifications");
    }

    // The publisher's own replica hears it too.
    let mut own = subscribe_changes(&writer).await.unwrap().unwrap();
    publish_access_changed(&writer).await.unwrap();
    tokio::time::timeout(WITHIN, own.next())
        .await
        .expect("woken within 5 s")
        .unwrap();
    tokio::time::timeout(WITHIN, changes.next())
        .await
        .expect("woken within 5 s")
        .unwrap();
    drop((own, changes));
    replica.close().await;
    writer.close().await;
}

async fn a_lost_listening_connection_makes_the_subscriber_reload(backend: Backend) {
    let Some((database, writer)) = migrated(backend).await else {
        return;
    };
    if writer.backend() == DbBackend::Sqlite {
        assert!(subscribe_changes(&writer).await.unwrap().is_none());
        return;
    }
    let replica = database.connect(2).await;
    let mut changes = subscribe_changes(&replica).await.unwrap().unwrap();

    // Kill the listening backend, as a failover or an idle-connection reaper would.
    let admin = sea_orm::Database::connect(database.url()).await.unwrap();
    let killed = admin
        .query_all_raw(Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
        ))
        .await
        .unwrap();
    assert_eq!(killed.len(), 1, "exactly the listener's connection");
    admin.close().await.unwrap();

    // Notifications sent meanwhile are lost, so the subscriber must ask for a reload: at once,
    // or after reporting one error.
    let woke = tokio::time::timeout(WITHIN, async {
        match changes.next().await {
            Ok(changed) => Ok(changed),
            Err(_) => changes.next().await,
        }
    })
    .await
    .expect("woken within 5 s");
    assert_eq!(
        woke.unwrap(),
        Changed::EVERYTHING,
        "everything may have changed meanwhile"
    );

    // And it listens again.
    publish_access_changed(&writer).await.unwrap();
    tokio::time::timeout(WITHIN, changes.next())
        .await
        .expect("woken within 5 s after reconnecting")
        .unwrap();
    drop(changes);
    replica.close().await;
    writer.close().await;
}
