//! Several crmd replicas on one PostgreSQL (issue 14, item 1): three real `crmd` processes on
//! one scratch database, driven over real gRPC.
//!
//! - A role binding granted and then removed through replica A is in force on B and C within
//!   1 s.
//! - An API key revoked through A is refused (UNAUTHENTICATED) by B and C within 1 s.
//! - A classification policy activated through A is the one B and C classify with within 1 s
//!   (failing when written: see that test).
//! - ReclassifyCustomers started on A and B at the same moment: the runs take turns on the
//!   database's advisory lock (the later call waits, it is not refused) and do not overlap.
//!
//! Every replica runs with `--access-refresh-secs 3600`, so the periodic safety-net reload (of
//! access data and of the active policy) cannot be what brings a change within the second: only
//! PostgreSQL `NOTIFY` can. Propagation times are measured from the moment the change was sent
//! to A until B (or C) first answered differently, polling every 5 ms, and printed with
//! `eprintln!` (`cargo nextest run --success-output immediate` shows them).
//!
//! PostgreSQL only: on SQLite one process owns the file, so there are no replicas to test.
//! Without `CRM_TEST_POSTGRES_URL` every test prints a loud SKIPPED line (and fails under
//! `CI`), as the PostgreSQL variants of the other tests do.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use crm_tests::{
    AccessClient, Backend, Bearer, ClassificationClient, CustomersClient, TestDatabase, crmd::Crmd, organization, pb,
};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tonic::{Code, transport::Channel};

/// How long a change made on one replica may take to be in force on the others.
const PROPAGATION_LIMIT: Duration = Duration::from_secs(1);
/// How often the other replicas are asked while waiting for a change.
const POLL: Duration = Duration::from_millis(5);
/// How long the unmeasured set-up waits (a replica learning of a principal or key made for the
/// test before the measured change).
const SETUP_PATIENCE: Duration = Duration::from_secs(10);
/// Customers seeded for the concurrent batch runs: enough that one run takes a good part of a
/// second on the debug build, so the two calls certainly meet.
const BATCH_CUSTOMERS: i64 = 5_000;
/// The PostgreSQL advisory-lock key of batch runs (`RECLASSIFY_LOCK_KEY` in
/// `crates/persistence/src/classification.rs`, "CRMRECLS" in ASCII).
const RECLASSIFY_LOCK_KEY: i64 = 0x4352_4D52_4543_4C53;

// ---------------------------------------------------------------------------------------------
// Three replicas
// ---------------------------------------------------------------------------------------------

/// One running `crmd` and its clients, calling as the bootstrap admin.
struct Replica {
    name: &'static str,
    crmd: Crmd,
    channel: Channel,
    customers: CustomersClient,
    access: AccessClient,
    classification: ClassificationClient,
}

impl Replica {
    fn access_as(&self, key: &str) -> AccessClient {
        pb::access_service_client::AccessServiceClient::with_interceptor(self.channel.clone(), Bearer::new(key))
    }

    fn customers_as(&self, key: &str) -> CustomersClient {
        pb::customer_service_client::CustomerServiceClient::with_interceptor(self.channel.clone(), Bearer::new(key))
    }
}

/// Three replicas A, B and C of `crmd` on one scratch PostgreSQL database. The replicas are
/// declared before the database, so they are killed (on drop) before it is dropped.
struct Cluster {
    replicas: Vec<Replica>,
    database: TestDatabase,
}

/// The flags of every replica: an ephemeral port, JSON logs (the address is read from them), no
/// scheduled batch run (this test starts its own), and the safety-net reload an hour away.
fn replica_args(url: &str) -> Vec<&str> {
    vec![
        "--log-format",
        "json",
        "--listen-addr",
        "127.0.0.1:0",
        "--database-url",
        url,
        "--reclassify-interval-secs",
        "0",
        "--access-refresh-secs",
        "3600",
        "--db-max-connections",
        "5",
    ]
}

impl Cluster {
    /// Starts A on a fresh database (it migrates it and creates the bootstrap admin, whose key
    /// it writes to its key file), then B and C on the same database. `None` (after a loud
    /// SKIPPED line) when PostgreSQL is not configured.
    async fn start() -> Option<Self> {
        let Some(database) = TestDatabase::create(Backend::Postgres).await else {
            eprintln!(
                "!!! SKIPPED: replicas share one database, which only PostgreSQL allows (on SQLite one process owns \
                 the file) !!!\n"
            );
            return None;
        };
        let started = Instant::now();
        let mut a = Crmd::start(&replica_args(database.url()));
        let a_addr = a.address_of("crmd listening");
        let key_file = a.dir().join(crm_server::config::DEFAULT_ADMIN_KEY_FILE);
        let admin_key = std::fs::read_to_string(&key_file)
            .expect("A wrote the admin key on first start")
            .trim()
            .to_owned();
        let mut b = Crmd::start(&replica_args(database.url()));
        let mut c = Crmd::start(&replica_args(database.url()));
        let b_addr = b.address_of("crmd listening");
        let c_addr = c.address_of("crmd listening");
        let mut replicas = Vec::new();
        for (name, crmd, addr) in [("A", a, a_addr), ("B", b, b_addr), ("C", c, c_addr)] {
            let channel = Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap_or_else(|e| panic!("connect to replica {name} at {addr}: {e}"));
            let bearer = Bearer::new(&admin_key);
            replicas.push(Replica {
                name,
                crmd,
                customers: pb::customer_service_client::CustomerServiceClient::with_interceptor(
                    channel.clone(),
                    bearer.clone(),
                ),
                access: pb::access_service_client::AccessServiceClient::with_interceptor(
                    channel.clone(),
                    bearer.clone(),
                ),
                classification: pb::classification_service_client::ClassificationServiceClient::with_interceptor(
                    channel.clone(),
                    bearer,
                ),
                channel,
            });
        }
        for replica in &replicas {
            replica
                .access
                .clone()
                .who_am_i(pb::WhoAmIRequest {})
                .await
                .unwrap_or_else(|e| panic!("replica {} serves the admin: {e:?}", replica.name));
        }
        eprintln!(
            "replicas: A, B and C serving on one PostgreSQL database after {:?}",
            started.elapsed()
        );
        Some(Self { replicas, database })
    }

    fn a(&self) -> &Replica {
        &self.replicas[0]
    }

    /// B and C, the replicas that did not make the change.
    fn others(&self) -> (&Replica, &Replica) {
        (&self.replicas[1], &self.replicas[2])
    }

    /// Stops every replica with SIGTERM and asserts that each exits cleanly, without a panic
    /// or a failed listener in its log.
    fn stop(mut self) {
        for replica in &self.replicas {
            replica.crmd.signal("TERM");
        }
        for replica in &mut self.replicas {
            let (status, output) = replica.crmd.wait_for_exit();
            assert!(
                status.success(),
                "replica {} exited with {status:?}:\n{output}",
                replica.name
            );
            for bad in ["panicked", "listener failed", "cannot listen", "lost the listener"] {
                assert!(
                    !output.contains(bad),
                    "replica {}'s log says {bad:?}:\n{output}",
                    replica.name
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Measuring propagation
// ---------------------------------------------------------------------------------------------

/// Asks `probe` every [`POLL`] until it answers `Ok` and returns the time since `since`; after
/// [`PROPAGATION_LIMIT`] gives up with the last answer. A probe that started in time and
/// succeeded after the limit is returned as is (the caller's assertion fails on it).
async fn propagation<F, Fut>(since: Instant, mut probe: F) -> Result<Duration, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut asked = 0u32;
    loop {
        asked += 1;
        match probe().await {
            Ok(()) => return Ok(since.elapsed()),
            Err(last) if since.elapsed() >= PROPAGATION_LIMIT => {
                return Err(format!(
                    "still not in force after {:?} ({asked} calls); last answer: {last}",
                    since.elapsed()
                ));
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// Waits (unmeasured, up to [`SETUP_PATIENCE`]) until `probe` answers `Ok`.
async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + SETUP_PATIENCE;
    loop {
        match probe().await {
            Ok(()) => return,
            Err(last) => assert!(
                Instant::now() < deadline,
                "set-up: {what} not within {SETUP_PATIENCE:?}; last answer: {last}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Prints the propagation of `what` to B and C and asserts both within the limit.
#[track_caller]
fn report(what: &str, sent_to_a: Duration, b: &Result<Duration, String>, c: &Result<Duration, String>) {
    let show = |r: &Result<Duration, String>| match r {
        Ok(took) => format!("{:.1} ms", took.as_secs_f64() * 1000.0),
        Err(e) => format!("NOT WITHIN {PROPAGATION_LIMIT:?}: {e}"),
    };
    eprintln!(
        "replicas: {what}: A answered after {:.1} ms; in force on B after {}, on C after {} (from the request to A)",
        sent_to_a.as_secs_f64() * 1000.0,
        show(b),
        show(c)
    );
    for (replica, result) in [("B", b), ("C", c)] {
        match result {
            Ok(took) => assert!(
                *took <= PROPAGATION_LIMIT,
                "{what}: replica {replica} took {took:?}, more than {PROPAGATION_LIMIT:?}"
            ),
            Err(e) => panic!("{what}: replica {replica}: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------------------------

async fn create_customer(replica: &Replica, customer: pb::Customer) -> pb::Customer {
    replica
        .customers
        .clone()
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("create a customer on {}: {e:?}", replica.name))
        .into_inner()
}

async fn create_principal(replica: &Replica, id: &str) -> String {
    replica
        .access
        .clone()
        .create_principal(pb::CreatePrincipalRequest {
            principal_id: id.to_owned(),
            principal: Some(pb::Principal {
                kind: pb::PrincipalKind::User as i32,
                display_name: format!("User {id}"),
                ..Default::default()
            }),
        })
        .await
        .expect("create principal")
        .into_inner()
        .name
}

async fn bind(replica: &Replica, principal: &str, role: &str) -> pb::RoleBinding {
    replica
        .access
        .clone()
        .create_role_binding(pb::CreateRoleBindingRequest {
            role_binding: Some(pb::RoleBinding {
                principal: principal.to_owned(),
                role: role.to_owned(),
                scope: pb::Scope::All as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("create role binding")
        .into_inner()
}

/// The admin's CheckPermission on `replica` about `principal` reading `customer`.
async fn decision(replica: &Replica, principal: &str, customer: &str) -> pb::CheckPermissionResponse {
    replica
        .access
        .clone()
        .check_permission(pb::CheckPermissionRequest {
            principal: principal.to_owned(),
            permission: "customers.get".to_owned(),
            customer: customer.to_owned(),
        })
        .await
        .unwrap_or_else(|e| panic!("CheckPermission on {}: {e:?}", replica.name))
        .into_inner()
}

fn reason_code(decision: &pb::CheckPermissionResponse) -> pb::DecisionReasonCode {
    decision
        .reason
        .as_ref()
        .map_or(pb::DecisionReasonCode::Unspecified, |r| r.code())
}

/// `Ok` when CheckPermission on `replica` answers `allowed`.
async fn decides(replica: &Replica, principal: &str, customer: &str, allowed: bool) -> Result<(), String> {
    let answer = decision(replica, principal, customer).await;
    if answer.allowed == allowed {
        Ok(())
    } else {
        Err(format!("allowed = {} ({:?})", answer.allowed, reason_code(&answer)))
    }
}

/// The size segment and policy version of a customer's classification.
fn size_and_policy(customer: &pb::Customer) -> (Option<pb::SizeSegment>, i64) {
    let classification = customer.classification.as_ref();
    let size = classification
        .and_then(|c| c.size_segment.as_ref())
        .and_then(|d| d.value.as_ref())
        .and_then(|v| match v.value {
            Some(pb::class_value::Value::SizeSegment(n)) => pb::SizeSegment::try_from(n).ok(),
            _ => None,
        });
    (size, classification.map_or(0, |c| c.policy_version))
}

// ---------------------------------------------------------------------------------------------
// (a) Role bindings
// ---------------------------------------------------------------------------------------------

/// A binding granted through A is in force on B and C within 1 s, and so is its removal.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_role_binding_granted_and_removed_on_one_replica_is_in_force_on_the_others_within_a_second() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let a = cluster.a();
    let (b, c) = cluster.others();
    let target = create_customer(a, organization("Replicated Binding Co")).await.name;
    let alice = create_principal(a, "alice").await;
    // Set-up, not measured: B and C know alice (with no binding yet).
    for replica in [b, c] {
        eventually(&format!("replica {} knows alice", replica.name), || async {
            let answer = decision(replica, &alice, &target).await;
            match reason_code(&answer) {
                pb::DecisionReasonCode::PrincipalNotFound => Err("PRINCIPAL_NOT_FOUND".to_owned()),
                code => {
                    assert!(!answer.allowed, "alice holds no binding yet: {answer:?}");
                    assert_eq!(code, pb::DecisionReasonCode::NoBindingWithPermission, "{answer:?}");
                    Ok(())
                }
            }
        })
        .await;
    }

    // Grant.
    let sent = Instant::now();
    let binding = bind(a, &alice, "roles/sales_rep").await;
    let answered = sent.elapsed();
    assert!(
        decision(a, &alice, &target).await.allowed,
        "A grants before CreateRoleBinding returns"
    );
    let (on_b, on_c) = tokio::join!(
        propagation(sent, || decides(b, &alice, &target, true)),
        propagation(sent, || decides(c, &alice, &target, true)),
    );
    report("role binding granted on A", answered, &on_b, &on_c);
    let granted = decision(b, &alice, &target).await;
    assert_eq!(reason_code(&granted), pb::DecisionReasonCode::Granted, "{granted:?}");
    assert_eq!(granted.reason.unwrap().role_binding, binding.name);

    // Removal.
    let sent = Instant::now();
    a.access
        .clone()
        .delete_role_binding(pb::DeleteRoleBindingRequest {
            name: binding.name.clone(),
        })
        .await
        .expect("delete role binding");
    let answered = sent.elapsed();
    assert!(
        !decision(a, &alice, &target).await.allowed,
        "A denies before DeleteRoleBinding returns"
    );
    let (on_b, on_c) = tokio::join!(
        propagation(sent, || decides(b, &alice, &target, false)),
        propagation(sent, || decides(c, &alice, &target, false)),
    );
    report("role binding removed on A", answered, &on_b, &on_c);
    for replica in [b, c] {
        let denied = decision(replica, &alice, &target).await;
        assert_eq!(
            reason_code(&denied),
            pb::DecisionReasonCode::NoBindingWithPermission,
            "{denied:?}"
        );
    }
    cluster.stop();
}

// ---------------------------------------------------------------------------------------------
// (b) API keys
// ---------------------------------------------------------------------------------------------

/// A key revoked through A is refused by B and C (UNAUTHENTICATED) within 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_api_key_revoked_on_one_replica_is_refused_by_the_others_within_a_second() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let a = cluster.a();
    let (b, c) = cluster.others();
    let target = create_customer(a, organization("Replicated Key Co")).await.name;
    let bob = create_principal(a, "bob").await;
    bind(a, &bob, "roles/sales_rep").await;
    let created = a
        .access
        .clone()
        .create_api_key(pb::CreateApiKeyRequest {
            parent: bob.clone(),
            expire_time: None,
        })
        .await
        .expect("create API key")
        .into_inner();
    let (key_name, secret) = (created.api_key.expect("the key").name, created.secret);
    let get = |replica: &Replica| {
        let mut client = replica.customers_as(&secret);
        let name = target.clone();
        async move { client.get_customer(pb::GetCustomerRequest { name }).await }
    };
    // Set-up, not measured: bob's key works on every replica.
    for replica in [a, b, c] {
        eventually(&format!("replica {} accepts bob's key", replica.name), || async {
            get(replica).await.map(drop).map_err(|e| format!("{e:?}"))
        })
        .await;
    }

    let sent = Instant::now();
    a.access
        .clone()
        .revoke_api_key(pb::RevokeApiKeyRequest { name: key_name })
        .await
        .expect("revoke the key");
    let answered = sent.elapsed();
    let refused = get(a).await.expect_err("A refuses the key before RevokeApiKey returns");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    let unauthenticated = |replica: &Replica| {
        let call = get(replica);
        async move {
            match call.await {
                Err(status) if status.code() == Code::Unauthenticated => Ok(()),
                Err(status) => panic!("only UNAUTHENTICATED may refuse the key: {status:?}"),
                Ok(_) => Err("GetCustomer still served".to_owned()),
            }
        }
    };
    let (on_b, on_c) = tokio::join!(
        propagation(sent, || unauthenticated(b)),
        propagation(sent, || unauthenticated(c)),
    );
    report("API key revoked on A", answered, &on_b, &on_c);
    for replica in [b, c] {
        let status = replica
            .access_as(&secret)
            .who_am_i(pb::WhoAmIRequest {})
            .await
            .expect_err("WhoAmI with the revoked key");
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    cluster.stop();
}

// ---------------------------------------------------------------------------------------------
// (c) Classification policy
// ---------------------------------------------------------------------------------------------

/// A customer of 50 employees, SMALL under the default policy (10 to 99 employees) and
/// MID_MARKET under the one this test activates (40 to 999).
fn fifty_employees(name: &str) -> pb::Customer {
    pb::Customer {
        employee_count: Some(50),
        ..organization(name)
    }
}

/// A policy version activated through A is what B and C classify with within 1 s: a customer
/// re-classified (ClassifyCustomer) on B or C gets the class the new policy gives, under its
/// version, and so does a customer created there.
///
/// Fails when this test was written: the other replicas reload the active policy only every
/// `--access-refresh-secs` (30 s by default; an hour here), as no notification tells them of
/// an activation, and until then they classify, and store, under the previous version.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_policy_activated_on_one_replica_is_what_the_others_classify_with_within_a_second() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let a = cluster.a();
    let (b, c) = cluster.others();
    let on_b = create_customer(a, fifty_employees("Sized On B")).await;
    let on_c = create_customer(a, fifty_employees("Sized On C")).await;
    assert_eq!(size_and_policy(&on_b), (Some(pb::SizeSegment::Small), 1));
    // Under the policy they loaded at start, B and C classify the customers as A did.
    for (replica, customer) in [(b, &on_b), (c, &on_c)] {
        let classified = replica
            .classification
            .clone()
            .classify_customer(pb::ClassifyCustomerRequest {
                name: customer.name.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(size_and_policy(&classified), (Some(pb::SizeSegment::Small), 1));
    }

    let mut classification = a.classification.clone();
    let active = classification
        .get_policy(pb::GetPolicyRequest {
            name: "policies/active".to_owned(),
        })
        .await
        .expect("the active policy")
        .into_inner();
    assert_eq!(active.version, 1);
    let policy = pb::ClassificationPolicy {
        size_mid_market_min: 40,
        ..active.policy.expect("the policy")
    };
    let created = classification
        .create_policy_version(pb::CreatePolicyVersionRequest {
            policy: Some(policy),
            description: "Mid-market from 40 employees".to_owned(),
            validate_only: false,
        })
        .await
        .expect("create a policy version")
        .into_inner();
    assert_eq!(created.version, 2);

    let sent = Instant::now();
    classification
        .activate_policy_version(pb::ActivatePolicyVersionRequest {
            name: created.name.clone(),
        })
        .await
        .expect("activate");
    let answered = sent.elapsed();
    // On A: at once.
    let fresh = create_customer(a, fifty_employees("Sized On A After")).await;
    assert_eq!(size_and_policy(&fresh), (Some(pb::SizeSegment::MidMarket), 2));

    let classifies_with_the_new_policy = |replica: &Replica, customer: &pb::Customer| {
        let mut client = replica.classification.clone();
        let name = customer.name.clone();
        async move {
            let classified = client
                .classify_customer(pb::ClassifyCustomerRequest { name })
                .await
                .map_err(|e| format!("{e:?}"))?
                .into_inner();
            match size_and_policy(&classified) {
                (Some(pb::SizeSegment::MidMarket), 2) => Ok(()),
                (size, version) => Err(format!("{size:?} under policy version {version}")),
            }
        }
    };
    let (took_b, took_c) = tokio::join!(
        propagation(sent, || classifies_with_the_new_policy(b, &on_b)),
        propagation(sent, || classifies_with_the_new_policy(c, &on_c)),
    );
    report("policy version 2 activated on A", answered, &took_b, &took_c);
    for replica in [b, c] {
        let fresh = create_customer(replica, fifty_employees(&format!("Sized On {} After", replica.name))).await;
        assert_eq!(
            size_and_policy(&fresh),
            (Some(pb::SizeSegment::MidMarket), 2),
            "a customer created on {} after the activation",
            replica.name
        );
    }
    cluster.stop();
}

// ---------------------------------------------------------------------------------------------
// (d) One batch run at a time
// ---------------------------------------------------------------------------------------------

/// What one ReclassifyCustomers stream showed, with times since the common start.
#[derive(Debug)]
struct Run {
    replica: &'static str,
    /// When the first message (a progress report) arrived.
    first_message: Duration,
    /// When the last progress report arrived.
    last_progress: Duration,
    /// When the summary arrived.
    summary_at: Duration,
    progress_messages: usize,
    summary: pb::ReclassifySummary,
}

async fn reclassify(replica: &Replica, start: Instant) -> Run {
    let mut stream = replica
        .classification
        .clone()
        .reclassify_customers(pb::ReclassifyCustomersRequest {})
        .await
        .unwrap_or_else(|e| panic!("ReclassifyCustomers on {}: {e:?}", replica.name))
        .into_inner();
    let (mut first_message, mut last_progress, mut progress_messages) = (None, Duration::ZERO, 0);
    let mut summary = None;
    while let Some(message) = stream
        .message()
        .await
        .unwrap_or_else(|e| panic!("ReclassifyCustomers stream on {}: {e:?}", replica.name))
    {
        let at = start.elapsed();
        first_message.get_or_insert(at);
        match message.event {
            Some(pb::reclassify_customers_response::Event::Progress(_)) => {
                last_progress = at;
                progress_messages += 1;
            }
            Some(pb::reclassify_customers_response::Event::Summary(s)) => {
                assert!(summary.is_none(), "one summary");
                summary = Some((at, s));
            }
            None => panic!("an empty event"),
        }
    }
    let (summary_at, summary) = summary.expect("the stream ends with a summary");
    Run {
        replica: replica.name,
        first_message: first_message.expect("a message"),
        last_progress,
        summary_at,
        progress_messages,
        summary,
    }
}

/// `BATCH_CUSTOMERS` customers, unclassified (as rows from before classification existed),
/// straight into the database: 1,000 rows per INSERT. No purchases, all created 100.5 days ago,
/// so that no day threshold of the default policy (90, 180, 365 days) lies within hours of now:
/// a second pass a few seconds after the first has nothing to change.
async fn seed_unclassified(database: &TestDatabase) {
    let db = sea_orm::Database::connect(database.url())
        .await
        .expect("connect for seeding");
    let started = Instant::now();
    let mut from = 1;
    while from <= BATCH_CUSTOMERS {
        let to = (from + 999).min(BATCH_CUSTOMERS);
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO customers (id, display_name, kind, employee_count, create_time, update_time, version) \
             SELECT 'seeded-' || lpad(i::text, 6, '0'), 'Seeded Customer ' || i, 'ORGANIZATION', i % 2000, \
                    now() - interval '100 days 12 hours', now() - interval '100 days 12 hours', 1 \
             FROM generate_series($1::bigint, $2::bigint) AS i",
            [from.into(), to.into()],
        ))
        .await
        .expect("seed customers");
        from = to + 1;
    }
    db.execute_unprepared("ANALYZE customers").await.expect("analyze");
    db.close().await.ok();
    eprintln!(
        "replicas: seeded {BATCH_CUSTOMERS} unclassified customers in {:?}",
        started.elapsed()
    );
}

/// What the sampler of `pg_locks` saw of the batch lock in this database.
#[derive(Debug, Default)]
struct LockSamples {
    samples: AtomicU32,
    /// Samples with one session holding the lock and another waiting for it.
    held_with_a_waiter: AtomicU32,
    /// Samples with more than one session holding it (impossible for an exclusive lock).
    held_twice: AtomicU32,
}

/// Samples the batch lock of `database` every 5 ms until `stop` is set.
async fn sample_the_batch_lock(url: String, samples: Arc<LockSamples>, stop: Arc<AtomicBool>) {
    let db = sea_orm::Database::connect(&url).await.expect("connect for sampling");
    let query = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT count(*) FILTER (WHERE granted) AS held, count(*) FILTER (WHERE NOT granted) AS waiting \
         FROM pg_locks \
         WHERE locktype = 'advisory' AND objsubid = 1 \
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND ((classid::bigint << 32) | objid::bigint) = $1",
        [RECLASSIFY_LOCK_KEY.into()],
    );
    while !stop.load(Ordering::Relaxed) {
        let row = db
            .query_one_raw(query.clone())
            .await
            .expect("sample pg_locks")
            .expect("one row");
        let held: i64 = row.try_get("", "held").unwrap();
        let waiting: i64 = row.try_get("", "waiting").unwrap();
        samples.samples.fetch_add(1, Ordering::Relaxed);
        if held == 1 && waiting >= 1 {
            samples.held_with_a_waiter.fetch_add(1, Ordering::Relaxed);
        }
        if held > 1 {
            samples.held_twice.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    db.close().await.ok();
}

/// The `elapsed_ms` and timestamp of the replica's "re-classification finished" log line.
fn finished_line(replica: &mut Replica) -> (u64, String) {
    let line = replica
        .crmd
        .wait_for_line("the re-classification finished line", |line| {
            line.contains("re-classification finished")
        });
    let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    (
        json["fields"]["elapsed_ms"]
            .as_u64()
            .unwrap_or_else(|| panic!("no elapsed_ms as a number in {line}")),
        json["timestamp"].as_str().unwrap_or_default().to_owned(),
    )
}

/// ReclassifyCustomers called on A and B at the same moment: as the contract says, only one
/// run happens at a time per database; the later call waits for the earlier run (it is not
/// refused) and then makes its own full pass.
///
/// The proof that the passes did not overlap is in the summaries: the customers were seeded
/// unclassified, so whichever pass ran first classified (changed) every one of them, and the
/// other, which began after it ended, found nothing left to change. Passes that overlapped
/// would both have found unclassified customers and shared the writes. A sampler of `pg_locks`
/// shows the mechanism: one session held the advisory lock while the other waited for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_runs_started_on_two_replicas_at_once_take_turns() {
    let Some(mut cluster) = Cluster::start().await else {
        return;
    };
    seed_unclassified(&cluster.database).await;
    let samples = Arc::new(LockSamples::default());
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample_the_batch_lock(
        cluster.database.url().to_owned(),
        Arc::clone(&samples),
        Arc::clone(&stop),
    ));
    // Let the sampler connect before the runs begin.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let start = Instant::now();
    let (on_a, on_b) = tokio::join!(
        reclassify(&cluster.replicas[0], start),
        reclassify(&cluster.replicas[1], start)
    );
    let both = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    sampler.await.expect("the sampler");
    let (first, second) = if on_a.summary_at <= on_b.summary_at {
        (on_a, on_b)
    } else {
        (on_b, on_a)
    };
    let a_line = finished_line(&mut cluster.replicas[0]);
    let b_line = finished_line(&mut cluster.replicas[1]);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for run in [&first, &second] {
        let elapsed = run
            .summary
            .elapsed
            .as_ref()
            .map_or(0.0, |e| e.seconds as f64 * 1000.0 + f64::from(e.nanos) / 1e6);
        eprintln!(
            "replicas: ReclassifyCustomers on {}: first message at {:.1} ms, last progress at {:.1} ms ({} progress \
             messages), summary at {:.1} ms; processed {}, changed {}, history entries {}, policy version {}, \
             elapsed (summary, wait included) {elapsed:.1} ms",
            run.replica,
            ms(run.first_message),
            ms(run.last_progress),
            run.progress_messages,
            ms(run.summary_at),
            run.summary.processed,
            run.summary.changed,
            run.summary.history_entries,
            run.summary.policy_version,
        );
    }
    eprintln!(
        "replicas: crmd's own run time (log, after taking the lock): A {} ms (logged {}), B {} ms (logged {}); \
         both calls done after {:.1} ms; pg_locks: {} samples, {} with one holder and a waiter, {} with two holders",
        a_line.0,
        a_line.1,
        b_line.0,
        b_line.1,
        ms(both),
        samples.samples.load(Ordering::Relaxed),
        samples.held_with_a_waiter.load(Ordering::Relaxed),
        samples.held_twice.load(Ordering::Relaxed),
    );

    // Both calls succeeded (neither was refused) and each made a full pass.
    for run in [&first, &second] {
        assert_eq!(run.summary.processed, BATCH_CUSTOMERS, "{run:?}");
        assert_eq!(run.summary.policy_version, 1, "{run:?}");
    }
    // No overlap: the first pass classified every customer, the second found nothing to do.
    assert_eq!(first.summary.changed, BATCH_CUSTOMERS, "the first pass: {first:?}");
    assert_eq!(
        second.summary.changed, 0,
        "the second pass began after the first had ended, so it found nothing to change: {second:?}"
    );
    assert_eq!(second.summary.history_entries, 0, "{second:?}");
    // The waiting call sent nothing while it waited, and its first report came after the first
    // run's last one.
    assert!(
        second.first_message > first.last_progress,
        "the second run reported progress during the first: {first:?} {second:?}"
    );
    // The mechanism: one session held the advisory lock while the other waited for it, and
    // never did two hold it.
    assert!(
        samples.held_with_a_waiter.load(Ordering::Relaxed) > 0,
        "no sample saw one run waiting for the other: {samples:?}"
    );
    assert_eq!(samples.held_twice.load(Ordering::Relaxed), 0, "{samples:?}");
    cluster.stop();
}
