//! Read replicas and consistency tokens (issue 14, items 2 and 3), on PostgreSQL clusters the
//! tests start themselves (`initdb`, `pg_basebackup`, `pg_ctl`; see `crm_tests::pg_cluster`):
//!
//! - Every successful write answers with `x-crm-consistency-token`, on both backends; reads and
//!   failed writes do not, and a malformed token sent with a read is INVALID_ARGUMENT naming the
//!   metadata key.
//! - With `--read-database-url`, a standby serves reads while it is within the lag bound: with
//!   its replay paused, a read without a token sees the old value (it came from the standby), a
//!   read with the write's token sees the new one (the primary served it); once the standby is
//!   further behind than the bound it serves nothing, and after it resumes and catches up it
//!   serves again, tokens included.
//! - Read-your-writes across two servers: a write through A, read through B with A's token,
//!   always sees the write (GetCustomer and CheckPermission), while the replication lag of each
//!   write is measured and printed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crm_tests::{TestApp, TestDatabase, e2e, organization, pb, pg_cluster::PgCluster, violated_fields};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tonic::{Code, Request, Response, metadata::MetadataValue};

/// The metadata key of consistency tokens.
const TOKEN: &str = "x-crm-consistency-token";

/// The lag bound the servers under test run with: long enough that a paused standby certainly
/// still serves right after a write, short enough to wait out.
const LAG_BOUND: Duration = Duration::from_secs(3);

/// How long a standby may take to be seen serving (caught up, polled every 50 ms).
const CATCH_UP: Duration = Duration::from_secs(20);

fn token_of<T>(response: &Response<T>) -> String {
    response
        .metadata()
        .get(TOKEN)
        .unwrap_or_else(|| panic!("a successful write answers with {TOKEN}"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The WAL byte position a token names (`1.` and 16 hex digits).
fn position(token: &str) -> u64 {
    u64::from_str_radix(token.strip_prefix("1.").expect("token version"), 16).expect("token hex")
}

fn with_token<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert(TOKEN, MetadataValue::try_from(token).unwrap());
    }
    request
}

fn rename(name: &str, display_name: &str) -> pb::UpdateCustomerRequest {
    pb::UpdateCustomerRequest {
        customer: Some(pb::Customer {
            name: name.to_owned(),
            display_name: display_name.to_owned(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["display_name".to_owned()],
        }),
    }
}

/// Creates an organization named `display_name`; returns its name and the write's token.
async fn create_tokened(app: &TestApp, display_name: &str) -> (String, String) {
    let created = app
        .customers
        .clone()
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(organization(display_name)),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("create {display_name}: {e:?}"));
    let token = token_of(&created);
    (created.into_inner().name, token)
}

async fn display_name(app: &TestApp, name: &str, token: Option<&str>) -> String {
    app.customers
        .clone()
        .get_customer(with_token(pb::GetCustomerRequest { name: name.to_owned() }, token))
        .await
        .unwrap_or_else(|e| panic!("GetCustomer {name}: {e:?}"))
        .into_inner()
        .display_name
}

// ---------------------------------------------------------------------------------------------
// Tokens on both backends
// ---------------------------------------------------------------------------------------------

e2e!(every_successful_write_answers_with_a_token_and_reads_accept_it);

async fn every_successful_write_answers_with_a_token_and_reads_accept_it(app: TestApp) {
    let (name, first) = create_tokened(&app, "Tokened").await;
    let updated = app
        .customers
        .clone()
        .update_customer(rename(&name, "Tokened again"))
        .await
        .unwrap();
    let second = token_of(&updated);
    assert!(
        position(&second) >= position(&first),
        "tokens never go back: {first} then {second}"
    );

    // Reads answer without a token, and accept one.
    let read = app
        .customers
        .clone()
        .get_customer(with_token(pb::GetCustomerRequest { name: name.clone() }, Some(&second)))
        .await
        .unwrap();
    assert!(read.metadata().get(TOKEN).is_none(), "a read answers without a token");
    assert_eq!(read.into_inner().display_name, "Tokened again");
    let listed = app
        .customers
        .clone()
        .list_customers(with_token(pb::ListCustomersRequest::default(), Some(&second)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.customers.len(), 1);
    let checked = app
        .access
        .clone()
        .check_permission(with_token(
            pb::CheckPermissionRequest {
                principal: String::new(),
                permission: "customers.update".to_owned(),
                customer: name.clone(),
            },
            Some(&second),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(checked.allowed, "the admin may update: {checked:?}");

    // A failed write answers without one.
    let failed = app
        .customers
        .clone()
        .update_customer(rename("customers/nobody-here", "x"))
        .await
        .unwrap_err();
    assert_eq!(failed.code(), Code::NotFound);
    assert!(
        failed.metadata().get(TOKEN).is_none(),
        "a failed write answers without a token"
    );

    // A malformed token is the caller's error, naming the metadata key.
    for read in ["GetCustomer", "CheckPermission"] {
        let request_token = Some("16/B374D848");
        let status = match read {
            "GetCustomer" => app
                .customers
                .clone()
                .get_customer(with_token(pb::GetCustomerRequest { name: name.clone() }, request_token))
                .await
                .unwrap_err(),
            _ => app
                .access
                .clone()
                .check_permission(with_token(
                    pb::CheckPermissionRequest {
                        principal: String::new(),
                        permission: "customers.get".to_owned(),
                        customer: name.clone(),
                    },
                    request_token,
                ))
                .await
                .unwrap_err(),
        };
        assert_eq!(status.code(), Code::InvalidArgument, "{read}: {status:?}");
        assert_eq!(violated_fields(&status), vec![TOKEN.to_owned()], "{read}");
    }
}

// ---------------------------------------------------------------------------------------------
// A primary and a standby
// ---------------------------------------------------------------------------------------------

async fn connect(url: &str) -> DatabaseConnection {
    sea_orm::Database::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

async fn sql(db: &DatabaseConnection, statement: &str) {
    db.execute_raw(Statement::from_string(DbBackend::Postgres, statement))
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// The standby's replay position.
async fn replayed(standby: &DatabaseConnection) -> u64 {
    let row = standby
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint",
        ))
        .await
        .unwrap()
        .unwrap();
    u64::try_from(row.try_get_by_index::<i64>(0).unwrap()).unwrap()
}

/// A crmd (in this process) on `primary` reading from `standby`, serving metrics.
async fn server(primary: &str, standby: &str) -> TestApp {
    let standby = standby.to_owned();
    TestApp::spawn_on_with_metrics(
        TestDatabase::Shared {
            url: primary.to_owned(),
        },
        move |settings| {
            settings.read_database_urls = vec![standby];
            settings.read_max_lag = LAG_BOUND;
        },
    )
    .await
}

/// `crm_read_database_serving` of the app's (only) standby.
async fn serving(app: &TestApp) -> f64 {
    let scrape = app.scrape_metrics().await;
    scrape
        .text
        .lines()
        .find(|line| line.starts_with("crm_read_database_serving{"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(-1.0)
}

async fn served_by_standby(app: &TestApp) -> f64 {
    app.scrape_metrics()
        .await
        .expect("crm_reads_served{served_by=\"standby\"}")
}

async fn wait_serving(app: &TestApp, wanted: f64) {
    let started = Instant::now();
    while serving(app).await != wanted {
        assert!(
            started.elapsed() < CATCH_UP,
            "the standby's serving gauge did not become {wanted} within {CATCH_UP:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_serves_reads_within_the_lag_bound_and_a_token_reads_the_write() {
    let Some(cluster) = PgCluster::start(1) else {
        return;
    };
    let standby_db = connect(&cluster.standbys[0].url()).await;
    let app = server(&cluster.primary.url(), &cluster.standbys[0].url()).await;

    let (name, created_token) = create_tokened(&app, "Before").await;
    assert_eq!(display_name(&app, &name, Some(&created_token)).await, "Before");

    // Caught up: the standby serves, and has replayed the create.
    wait_serving(&app, 1.0).await;
    let started = Instant::now();
    while replayed(&standby_db).await < position(&created_token) {
        assert!(started.elapsed() < CATCH_UP, "the standby did not replay the create");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = served_by_standby(&app).await;
    assert_eq!(display_name(&app, &name, None).await, "Before");
    assert!(
        served_by_standby(&app).await > before,
        "a caught-up standby serves reads"
    );

    // The standby stops replaying; the primary moves on. The rename goes through a second
    // replica: one made through `app` would be kept in `app`'s customer cache, which answers
    // before any standby (exactly, never stale), and the stale read below could not happen.
    let other = app.spawn_replica(|_| {}).await;
    sql(&standby_db, "SELECT pg_wal_replay_pause()").await;
    let renamed = other
        .customers
        .clone()
        .update_customer(rename(&name, "After"))
        .await
        .unwrap();
    let written = Instant::now();
    let renamed_token = token_of(&renamed);

    // Within the bound the standby still serves a read without a token: the old value.
    let stale = display_name(&app, &name, None).await;
    let elapsed = written.elapsed();
    assert!(
        elapsed < LAG_BOUND / 2,
        "the machine stalled {elapsed:?}: the stale read below is only certain within the bound"
    );
    assert_eq!(
        stale, "Before",
        "a read without a token may be served by a standby within the bound"
    );

    // With the write's token every read sees the write (the standby has not replayed it).
    assert_eq!(display_name(&app, &name, Some(&renamed_token)).await, "After");
    let batch = app
        .customers
        .clone()
        .batch_get_customers(with_token(
            pb::BatchGetCustomersRequest {
                names: vec![name.clone()],
            },
            Some(&renamed_token),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.customers[0].display_name, "After");
    let page = app
        .customers
        .clone()
        .list_customers(with_token(pb::ListCustomersRequest::default(), Some(&renamed_token)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.customers[0].display_name, "After");

    // Past the bound the standby serves nothing: every read sees the write.
    wait_serving(&app, 0.0).await;
    // The standby is fresh since the last primary position it replayed, read by the poller up
    // to one poll before the write.
    assert!(
        written.elapsed() >= LAG_BOUND - Duration::from_millis(250),
        "the standby stopped serving before the bound ran out ({:?})",
        written.elapsed()
    );
    assert_eq!(display_name(&app, &name, None).await, "After");

    // Replaying again, it catches up and serves again, the token included.
    sql(&standby_db, "SELECT pg_wal_replay_resume()").await;
    wait_serving(&app, 1.0).await;
    while replayed(&standby_db).await < position(&renamed_token) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Give the poller one round to see the replayed position.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = served_by_standby(&app).await;
    assert_eq!(display_name(&app, &name, Some(&renamed_token)).await, "After");
    assert!(
        served_by_standby(&app).await > before,
        "a standby past the token serves the read"
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_one_server_gives_read_your_writes_on_another() {
    const WRITES: usize = 200;
    let Some(cluster) = PgCluster::start(1) else {
        return;
    };
    let standby_db = connect(&cluster.standbys[0].url()).await;
    let a = server(&cluster.primary.url(), &cluster.standbys[0].url()).await;
    let b = server(&cluster.primary.url(), &cluster.standbys[0].url()).await;
    let (name, _) = create_tokened(&a, "v0").await;
    wait_serving(&a, 1.0).await;

    let mut lags = Vec::with_capacity(WRITES);
    for i in 1..=WRITES {
        let wanted = format!("v{i}");
        let token = token_of(
            &a.customers
                .clone()
                .update_customer(rename(&name, &wanted))
                .await
                .unwrap(),
        );
        let written = Instant::now();
        assert_eq!(
            display_name(&b, &name, Some(&token)).await,
            wanted,
            "write {i}: a read on B with A's token sees A's write"
        );
        let allowed = b
            .access
            .clone()
            .check_permission(with_token(
                pb::CheckPermissionRequest {
                    principal: String::new(),
                    permission: "customers.get".to_owned(),
                    customer: name.clone(),
                },
                Some(&token),
            ))
            .await
            .unwrap()
            .into_inner()
            .allowed;
        assert!(allowed);
        while replayed(&standby_db).await < position(&token) {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        lags.push(written.elapsed());
    }
    lags.sort();
    let at = |q: f64| lags[((lags.len() - 1) as f64 * q) as usize];
    eprintln!(
        "replication lag (write returned -> standby replayed its token), {WRITES} writes: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
    eprintln!(
        "reads with a token on B: {} served by the standby",
        served_by_standby(&b).await
    );
    b.stop().await.unwrap();
    a.stop().await.unwrap();
}
