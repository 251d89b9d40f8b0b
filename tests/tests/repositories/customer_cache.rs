//! GetCustomer's cache of whole customers (`crm_persistence::customer_cache`): reads through it
//! see every write of their own replica, on both backends; on PostgreSQL one replica at a time
//! owns it, answers from memory (a writer that pretends to be the owner goes unseen, which shows
//! the answers come from memory), and any other writer, another replica or plain SQL, waits until
//! the owner has stopped answering, so a read after that write sees it.

use std::time::{Duration, Instant};

use crm_domain::{
    customer::{
        Customer, ProfileChange,
        values::{DisplayName, Tags},
    },
    ports::CustomerRepository,
};
use crm_persistence::{Database, SqlCustomerRepository, customer_cache::own_customers};
use futures::future::join_all;
use sea_orm::{
    prelude::ChronoDateTimeUtc,
    sqlx::{self, Connection as _, postgres::PgConnection},
};

use crate::support::{Backend, TestDatabase, migrated, on_both_backends, profile};

on_both_backends!(reads_through_the_cache_see_every_write_of_their_replica);

fn at(offset: i64) -> ChronoDateTimeUtc {
    ChronoDateTimeUtc::from_timestamp(1_750_000_000 + offset, 0).unwrap()
}

fn renamed(customer: &Customer, name: &str, offset: i64) -> Customer {
    customer
        .updated(
            &[ProfileChange::DisplayName(DisplayName::parse(name).unwrap())],
            at(offset),
        )
        .unwrap()
}

async fn reads_through_the_cache_see_every_write_of_their_replica(backend: Backend) {
    let Some((_database, db)) = migrated(backend).await else {
        return;
    };
    let _owner = tokio::spawn(own_customers(db.clone()));
    // The repository of the writes, as the server makes it: its reads come from the cache too.
    let repo = SqlCustomerRepository::new(db.clone()).writing();
    let reads = repo.reading(None);
    let mut current = Customer::create(
        crm_domain::customer::values::CustomerId::generate(),
        profile("Cached"),
        at(0),
    );
    repo.insert(&current, None, &[]).await.unwrap();
    for round in 0..30 {
        // Read it often (the first read of each round stores it), then change it.
        for answer in join_all((0..10).map(|_| reads.find(&current.id))).await {
            assert_eq!(answer.unwrap().as_ref(), Some(&current), "round {round}");
        }
        let mut next = renamed(&current, &format!("Renamed {round}"), 1 + round);
        if round % 3 == 0 {
            // Every third round also changes the tags (a transaction rather than one statement).
            next = next
                .updated(
                    &[ProfileChange::Tags(
                        Tags::parse([format!("round-{round}"), "cached".to_owned()]).unwrap(),
                    )],
                    at(1 + round),
                )
                .unwrap();
        }
        repo.replace(&current, &next, &[]).await.unwrap();
        // The write keeps what it wrote: the next read, and the next write's read, answer it
        // without a query, and it is exactly what the database holds.
        assert_eq!(reads.find(&next.id).await.unwrap(), Some(next.clone()), "round {round}");
        assert_eq!(repo.find(&next.id).await.unwrap(), Some(next.clone()), "round {round}");
        let stored = repo
            .reading(Some(db.consistency_token().await.unwrap()))
            .find(&next.id)
            .await
            .unwrap();
        assert_eq!(stored, Some(next.clone()), "round {round}: the database holds it");
        current = next;
    }
    // A write that compared against an old version fails and forgets the customer: the next
    // read comes from the database.
    let stale = renamed(&current, "Never written", 100);
    let older = Customer {
        version: crm_domain::customer::Version::new(1),
        ..current.clone()
    };
    let refused = repo.replace(&older, &stale, &[]).await;
    assert!(refused.is_err(), "a stale compare-and-set must fail: {refused:?}");
    assert_eq!(reads.find(&current.id).await.unwrap(), Some(current.clone()));
}

/// Waits until `done` holds, for at most 30 s.
async fn until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn display_name(reads: &SqlCustomerRepository, customer: &Customer) -> String {
    let found = reads.find(&customer.id).await.unwrap().expect("the customer");
    found.profile.display_name.as_str().to_owned()
}

/// A plain PostgreSQL connection to the test database, claiming (by its `application_name`) to be
/// replica `instance` if given.
async fn plain(database: &TestDatabase, instance: Option<&str>) -> PgConnection {
    let mut options: sqlx::postgres::PgConnectOptions = database.url().parse().unwrap();
    if let Some(instance) = instance {
        options = options.application_name(instance);
    }
    PgConnection::connect_with(&options).await.unwrap()
}

async fn rename_by_sql(connection: &mut PgConnection, customer: &Customer, name: &str) {
    let done = sqlx::query("UPDATE customers SET display_name = $1 WHERE id = $2")
        .bind(name)
        .bind(customer.id.as_str())
        .execute(connection)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_owns_the_cache_and_every_other_writer_waits_for_it() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let first = database.connect(4).await;
    first.migrate().await.expect("migrate");
    let second = database.connect(4).await;
    let _tasks = [
        tokio::spawn(own_customers(first.clone())),
        tokio::spawn(own_customers(second.clone())),
    ];
    let live = |db: &Database| db.serves_customers_from_memory();
    until("a replica owns the cache", || live(&first) || live(&second)).await;
    let (owner, other) = if live(&first) { (first, second) } else { (second, first) };
    assert!(!live(&other), "at most one replica answers from memory");
    let owner_repo = SqlCustomerRepository::new(owner.clone());
    let other_repo = SqlCustomerRepository::new(other.clone());
    let reads = owner_repo.reading(None);

    let customer = Customer::create(
        crm_domain::customer::values::CustomerId::generate(),
        profile("Original"),
        at(0),
    );
    owner_repo.insert(&customer, None, &[]).await.unwrap();
    until("the owner answers", || live(&owner)).await;
    assert_eq!(display_name(&reads, &customer).await, "Original");

    // The owner's own writes pass at once and are seen by its next read.
    let current = renamed(&customer, "By the owner", 1);
    owner_repo.replace(&customer, &current, &[]).await.unwrap();
    assert!(live(&owner), "its own write did not make the owner let go");
    assert_eq!(reads.find(&customer.id).await.unwrap(), Some(current.clone()));

    // A writer claiming to be the owner passes the fence unannounced: the owner still answers
    // from memory, so it does not see the change (which is why only the owner may claim that).
    let (instance,): (String,) = sqlx::query_as("SELECT instance FROM crm_customer_cache_owner")
        .fetch_one(&mut plain(&database, None).await)
        .await
        .unwrap();
    rename_by_sql(&mut plain(&database, Some(&instance)).await, &customer, "Unannounced").await;
    assert!(live(&owner));
    assert_eq!(
        display_name(&reads, &customer).await,
        "By the owner",
        "answered from memory"
    );

    // Plain SQL waits until the owner has stopped answering; the owner's next read sees it.
    rename_by_sql(&mut plain(&database, None).await, &customer, "By SQL").await;
    assert_eq!(display_name(&reads, &customer).await, "By SQL");

    // Once a replica answers from memory again (the other one may have taken over meanwhile),
    // a write through the replica that does not own waits for it as well.
    until("a replica owns the cache again", || live(&owner) || live(&other)).await;
    let (owner_repo, other_repo) = if live(&owner) {
        (owner_repo, other_repo)
    } else {
        (other_repo, owner_repo)
    };
    let reads = owner_repo.reading(None);
    assert_eq!(display_name(&reads, &customer).await, "By SQL");
    let current = owner_repo.find(&customer.id).await.unwrap().unwrap();
    let next = renamed(&current, "By the other replica", 10);
    other_repo.replace(&current, &next, &[]).await.unwrap();
    assert_eq!(reads.find(&customer.id).await.unwrap(), Some(next));
}
