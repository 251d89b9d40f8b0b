//! GetCustomer's coalesced reads (`crm_persistence`'s `coalesce` module) on both backends: many
//! reads at once each get their own customer (with its tags), also when ids repeat or do not
//! exist; a read sees every write that returned before it was asked, while other reads keep the
//! statements busy; and a statement that fails fails each of its reads as unavailable.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use crm_domain::{
    customer::{
        Customer, CustomerProfile, ProfileChange,
        values::{CustomerId, DisplayName, Tags},
    },
    error::CustomerError,
    ports::CustomerRepository,
};
use crm_persistence::SqlCustomerRepository;
use futures::future::join_all;
use sea_orm::prelude::ChronoDateTimeUtc;

use crate::support::{Backend, migrated, on_both_backends, profile};

on_both_backends!(
    concurrent_reads_each_get_their_own_customer,
    a_read_sees_every_write_returned_before_it_was_asked,
    a_failed_statement_fails_each_read_as_unavailable,
);

fn at(offset: i64) -> ChronoDateTimeUtc {
    ChronoDateTimeUtc::from_timestamp(1_750_000_000 + offset, 0).unwrap()
}

/// Customer `i`, with `i % 4` tags.
fn customer(i: i64) -> Customer {
    let tags: Vec<String> = (0..i % 4).map(|t| format!("tag-{i}-{t}")).collect();
    let profile = CustomerProfile {
        key_account: i % 2 == 0,
        tags: Tags::parse(tags).unwrap(),
        ..profile(&format!("Customer {i}"))
    };
    Customer::create(CustomerId::generate(), profile, at(i))
}

async fn seed(repo: &SqlCustomerRepository, count: i64) -> Vec<Customer> {
    let mut customers = Vec::new();
    for i in 0..count {
        let c = customer(i);
        repo.insert(&c, None, &[]).await.unwrap();
        customers.push(c);
    }
    customers
}

async fn concurrent_reads_each_get_their_own_customer(backend: Backend) {
    let Some((_database, db)) = migrated(backend).await else {
        return;
    };
    let repo = SqlCustomerRepository::new(db);
    let customers = seed(&repo, 30).await;
    let missing = CustomerId::generate();

    // 400 reads at once on a pool of 4: most wait and share statements. Ids repeat (customer 0
    // is asked often, also twice in a row) and some do not exist.
    let asked: Vec<Option<&Customer>> = (0..400)
        .map(|n| match n % 7 {
            0 | 1 => Some(&customers[0]),
            2 => None,
            _ => Some(&customers[n % customers.len()]),
        })
        .collect();
    let answers = join_all(asked.iter().map(|wanted| {
        let repo = repo.clone();
        let id = wanted.map_or_else(|| missing.clone(), |c| c.id.clone());
        async move { repo.find(&id).await }
    }))
    .await;
    for (wanted, answer) in asked.iter().zip(answers) {
        assert_eq!(answer.unwrap().as_ref(), *wanted);
    }
}

async fn a_read_sees_every_write_returned_before_it_was_asked(backend: Backend) {
    let Some((_database, db)) = migrated(backend).await else {
        return;
    };
    let repo = SqlCustomerRepository::new(db);
    let customers = seed(&repo, 10).await;

    // Other reads keep every statement slot busy, so the reads below wait and are coalesced.
    let stop = Arc::new(AtomicBool::new(false));
    let busy: Vec<_> = (0..8)
        .map(|n| {
            let repo = repo.clone();
            let id = customers[1 + n % 9].id.clone();
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    repo.find(&id).await.unwrap().unwrap();
                }
            })
        })
        .collect();

    let mut current = customers[0].clone();
    for round in 0..20 {
        let next = current
            .updated(
                &[ProfileChange::DisplayName(
                    DisplayName::parse(&format!("Renamed {round}")).unwrap(),
                )],
                at(1_000 + round),
            )
            .unwrap();
        repo.replace(&current, &next, &[]).await.unwrap();
        let answers = join_all((0..20).map(|_| repo.find(&next.id))).await;
        for answer in answers {
            assert_eq!(answer.unwrap().as_ref(), Some(&next), "round {round}");
        }
        current = next;
    }
    stop.store(true, Ordering::Relaxed);
    for task in busy {
        task.await.unwrap();
    }
}

async fn a_failed_statement_fails_each_read_as_unavailable(backend: Backend) {
    let Some((_database, db)) = migrated(backend).await else {
        return;
    };
    let repo = SqlCustomerRepository::new(db.clone());
    let customers = seed(&repo, 5).await;
    db.close().await;
    let answers = join_all((0..40).map(|n| repo.find(&customers[n % 5].id))).await;
    for answer in answers {
        let error = answer.unwrap_err();
        assert!(matches!(error, CustomerError::Unavailable(_)), "{error:?}");
    }
}
