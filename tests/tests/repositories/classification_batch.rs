//! The set-based write of a re-classification batch on both backends: one statement per table,
//! each row still a compare-and-set on its version — a customer written by someone else in
//! between is neither overwritten nor given history, every other one is written with its
//! history — and a batch larger than one SQLite statement can hold (bind-parameter limit) is
//! written whole. A whole run paced into small parts, several statements at once and a pause
//! after each, writes exactly what a run at full speed writes. Also the window sums: they
//! saturate instead of overflowing the database.

use chrono::{DateTime, TimeDelta, Utc};
use crm_domain::{
    classification::{
        BATCH_SIZE, ClassificationPolicy, ClassificationService, Classifier, HistorySource, Money, OrderRef,
        PolicyVersion, PolicyVersionId, Purchase,
    },
    customer::{
        Customer, CustomerProfile, Version,
        values::{CustomerId, DisplayName, PrincipalName},
    },
    ports::{ClassificationRepository, CustomerRepository, FullSpeed, HistoryQuery, Pacing, WritePlan},
};
use crm_persistence::{SqlClassificationRepository, SqlCustomerRepository};

use crate::support::{Backend, migrated, on_both_backends, profile};

on_both_backends!(
    a_batch_write_skips_customers_written_meanwhile,
    a_paced_run_writes_what_a_full_speed_run_writes,
    window_sums_saturate
);

/// More customers than one SQLite UPDATE (32,766 parameters at 17 per row: 1,927 rows) or one
/// history INSERT (9 per row: 3,640 rows, while each customer gets 6) can hold.
const CUSTOMERS: usize = 2_000;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

fn customer(i: usize) -> Customer {
    let profile = CustomerProfile {
        key_account: i.is_multiple_of(7),
        ..profile(&format!("Customer {i:04}"))
    };
    Customer::create(CustomerId::generate(), profile, now() - TimeDelta::days(1))
}

fn policy() -> PolicyVersion {
    PolicyVersion {
        version: PolicyVersionId::new(1),
        policy: ClassificationPolicy::default(),
        description: String::new(),
        active: true,
        create_time: now(),
        creator: None,
        activate_time: Some(now()),
    }
}

async fn history_of(store: &SqlClassificationRepository, id: &CustomerId) -> usize {
    store
        .list_history(
            &HistoryQuery {
                customer: Some(id.clone()),
                ..HistoryQuery::default()
            },
            100,
        )
        .await
        .unwrap()
        .len()
}

async fn a_batch_write_skips_customers_written_meanwhile(backend: Backend) {
    let Some((_database, db)) = migrated(backend).await else {
        return;
    };
    let customers = SqlCustomerRepository::new(db.clone());
    let store = SqlClassificationRepository::new(db.clone());
    let stored: Vec<Customer> = (0..CUSTOMERS).map(customer).collect();
    for c in &stored {
        customers.insert(c, None, &[]).await.unwrap();
    }
    let policy = policy();
    let classifier = Classifier {
        policy: &policy,
        now: now(),
    };
    let mut writes = Vec::new();
    let mut history = Vec::new();
    for current in &stored {
        let mut next = current.clone();
        history.extend(classifier.apply(&mut next, HistorySource::PolicyChange, None));
        next.version = current.version.next();
        next.update_time = now();
        writes.push((next, current.version));
    }
    assert_eq!(history.len(), CUSTOMERS * 6, "every dimension is new");

    // Two customers are written by someone else after the batch read them.
    let moved = [3, CUSTOMERS - 2];
    for i in moved {
        let mut renamed = stored[i].clone();
        renamed.profile.display_name = DisplayName::parse("Renamed Meanwhile").unwrap();
        renamed.version = stored[i].version.next();
        customers.replace(&stored[i], &renamed, &[]).await.unwrap();
    }

    let conflicted = store.write_classifications(&writes, &history).await.unwrap();
    assert_eq!(conflicted, moved.map(|i| stored[i].id.clone()));

    for i in moved {
        let kept = customers.find(&stored[i].id).await.unwrap().unwrap();
        assert_eq!(
            kept.profile.display_name.as_str(),
            "Renamed Meanwhile",
            "not overwritten"
        );
        assert!(kept.classification.is_none(), "the batch did not write it");
        assert_eq!(
            history_of(&store, &stored[i].id).await,
            0,
            "no history for a lost write"
        );
    }
    for i in [0, 1, CUSTOMERS / 2, CUSTOMERS - 1] {
        let written = customers.find(&stored[i].id).await.unwrap().unwrap();
        assert_eq!(written.version, stored[i].version.next());
        assert_eq!(written.update_time, now());
        assert_eq!(written.classification, writes[i].0.classification, "customer {i}");
        assert_eq!(written.profile, stored[i].profile);
        assert_eq!(history_of(&store, &stored[i].id).await, 6, "customer {i}");
    }
    let all = store
        .list_history(&HistoryQuery::default(), u32::try_from(CUSTOMERS * 6).unwrap())
        .await
        .unwrap();
    assert_eq!(
        all.len(),
        (CUSTOMERS - moved.len()) * 6,
        "history of exactly the written ones"
    );

    // Writing the same batch again changes nothing: every expected version is stale now.
    let again = store.write_classifications(&writes, &history).await.unwrap();
    assert_eq!(again.len(), CUSTOMERS);
    // An empty batch is nothing to do.
    assert!(store.write_classifications(&[], &[]).await.unwrap().is_empty());
}

/// Pacing that writes [`SmallParts::CHUNK`] customers per statement, [`SmallParts::PARALLEL`]
/// statements at once, and counts the pauses it was asked for.
#[derive(Default)]
struct SmallParts {
    rests: std::sync::atomic::AtomicUsize,
}

impl SmallParts {
    const CHUNK: usize = 7;
    const PARALLEL: usize = 3;
}

impl Pacing for SmallParts {
    fn plan(&self) -> WritePlan {
        WritePlan {
            chunk: Self::CHUNK,
            parallel: Self::PARALLEL,
        }
    }

    async fn rest(&self) {
        self.rests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::task::yield_now().await;
    }
}

/// Customers for a whole run: more than two batches, the last one partial.
const RUN_CUSTOMERS: usize = 2 * BATCH_SIZE as usize + 123;

async fn a_paced_run_writes_what_a_full_speed_run_writes(backend: Backend) {
    let policy = policy();
    let classifier = Classifier {
        policy: &policy,
        now: now(),
    };
    let mut runs = Vec::new();
    for paced in [false, true] {
        let Some((_database, db)) = migrated(backend).await else {
            return;
        };
        let customers = SqlCustomerRepository::new(db.clone());
        for c in (0..RUN_CUSTOMERS).map(customer) {
            customers.insert(&c, None, &[]).await.unwrap();
        }
        let service = ClassificationService::new(customers.clone(), SqlClassificationRepository::new(db.clone()));
        let pacing = SmallParts::default();
        let report = if paced {
            service
                .reclassify(&classifier, HistorySource::Schedule, None, &pacing, |_| {})
                .await
        } else {
            service
                .reclassify(&classifier, HistorySource::Schedule, None, &FullSpeed, |_| {})
                .await
        }
        .unwrap();
        if paced {
            // One pause per part of CHUNK × PARALLEL customers, batch by batch.
            let parts_per_batch = (BATCH_SIZE as usize).div_ceil(SmallParts::CHUNK * SmallParts::PARALLEL);
            let last = (RUN_CUSTOMERS % BATCH_SIZE as usize).div_ceil(SmallParts::CHUNK * SmallParts::PARALLEL);
            assert_eq!(
                pacing.rests.load(std::sync::atomic::Ordering::Relaxed),
                2 * parts_per_batch + last
            );
        }
        let store = service.store();
        let live = store
            .scan_live(None, u32::try_from(RUN_CUSTOMERS + 1).unwrap())
            .await
            .unwrap();
        assert_eq!(live.len(), RUN_CUSTOMERS);
        let unwritten = live
            .iter()
            .filter(|c| c.classification.is_none() || c.version != Version::FIRST.next())
            .count();
        assert_eq!(unwritten, 0, "every customer written once (paced: {paced})");
        let history = store
            .list_history(&HistoryQuery::default(), u32::try_from(RUN_CUSTOMERS * 6 + 1).unwrap())
            .await
            .unwrap()
            .len();
        runs.push((report.counters, history));
    }
    let [(full, full_history), (paced, paced_history)] = runs.as_slice() else {
        unreachable!("two runs")
    };
    assert_eq!(full.processed, RUN_CUSTOMERS as u64);
    assert_eq!(full.changed, RUN_CUSTOMERS as u64);
    assert_eq!(full.history_entries, (RUN_CUSTOMERS * 6) as u64);
    assert_eq!(*full_history, RUN_CUSTOMERS * 6);
    assert_eq!(paced, full, "the same counters paced and at full speed");
    assert_eq!(paced_history, full_history);
}

async fn window_sums_saturate(backend: Backend) {
    let Some((_database, db)) = migrated(backend).await else {
        return;
    };
    let customers = SqlCustomerRepository::new(db.clone());
    let store = SqlClassificationRepository::new(db.clone());
    let rep = PrincipalName::from_id("rep").unwrap();
    let mut ids = Vec::new();
    for (i, (amount, count)) in [
        (Money::MAX_AMOUNT, 10),
        (Money::from_micros(-Money::MAX_AMOUNT.micros()), 10),
        (Money::MAX_AMOUNT, 3),
        (Money::from_micros(-1_500_001), 3),
    ]
    .into_iter()
    .enumerate()
    {
        let mut current = customer(i);
        customers.insert(&current, None, &[]).await.unwrap();
        for n in 0..count {
            let mut next = current.clone();
            next.version = current.version.next();
            let purchase = Purchase {
                customer: current.id.clone(),
                order_ref: OrderRef::parse(&format!("order-{n}")).unwrap(),
                amount,
                occurred_at: now() - TimeDelta::days(1),
                recorded_at: now(),
                recorded_by: rep.clone(),
            };
            store
                .record_purchase(&purchase, &next, current.version, &[])
                .await
                .unwrap();
            current = next;
        }
        ids.push(current.id);
    }
    let sums = store.window_sums(&ids, now() - TimeDelta::days(365)).await.unwrap();
    let revenue = |id: &CustomerId| sums.iter().find(|(i, _)| i == id).unwrap().1.revenue;
    assert_eq!(revenue(&ids[0]), Money::MAX_SUM);
    assert!(revenue(&ids[0]).is_saturated());
    assert_eq!(revenue(&ids[1]), Money::from_micros(-Money::MAX_SUM.micros()));
    assert!(revenue(&ids[1]).is_saturated());
    assert_eq!(
        revenue(&ids[2]),
        Money::from_micros(3 * Money::MAX_AMOUNT.micros()),
        "exact below the limit"
    );
    assert_eq!(revenue(&ids[3]), Money::from_micros(-4_500_003), "refunds sum exactly");
    assert_eq!(sums.iter().find(|(i, _)| *i == ids[0]).unwrap().1.orders, 10);
}
