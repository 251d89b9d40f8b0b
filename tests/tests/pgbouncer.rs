//! crmd behind pgbouncer in transaction mode (issue 14, item 4), with Debian's pgbouncer (1.18,
//! which does not carry prepared statements across server connections).
//!
//! Two crmd servers reach a scratch PostgreSQL database only through pgbouncer, in transaction
//! mode with 3 server connections for all their clients, with `statement-cache-capacity=0` in
//! the URL (each statement is parsed, bound and executed in one round trip: see
//! vendor/README.md), and `--direct-database-url` for what a transaction pooler cannot carry:
//! LISTEN, the session advisory lock of batch runs, and migrations.
//!
//! - 16 concurrent callers create, read, update (with the etag) and list customers through A:
//!   every call succeeds and every read sees the caller's own last write. With the statements
//!   of 2 × 5 pooled connections multiplexed over 3 server connections, a statement bound to
//!   another client's unnamed statement would show up as an error or a wrong value.
//! - An API key revoked through A is refused by B within 1 s: B's LISTEN, on its direct
//!   connection, hears A's NOTIFY sent through pgbouncer.
//! - A batch re-classification runs (its advisory lock is taken on the direct connection).
//!
//! pgbouncer comes from Debian's package (`.ci/run` installs it). Where it is missing the test
//! prints a loud SKIPPED line, and under `CI` it fails instead; without `CRM_TEST_POSTGRES_URL`
//! it skips as the other PostgreSQL tests do.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crm_tests::{Backend, TestApp, TestDatabase, organization, pb, pg_cluster::running_as_root};
use tonic::Code;

/// Concurrent callers.
const CALLERS: usize = 16;
/// Rounds of create, get, update, get, list per caller.
const ROUNDS: usize = 25;

/// A pgbouncer process in front of one database; killed on drop.
struct Bouncer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pgbouncer_binary() -> Option<PathBuf> {
    ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

impl Bouncer {
    /// pgbouncer in transaction mode on a free loopback port, in front of database `name` of the
    /// PostgreSQL server at `host:port`; `None` (after a loud SKIPPED line) without pgbouncer.
    fn start(host: &str, port: u16, name: &str) -> Option<Self> {
        let Some(binary) = pgbouncer_binary() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "pgbouncer is not installed under CI (.ci/run installs Debian's package): this test must run in CI"
            );
            eprintln!("\n!!! SKIPPED: pgbouncer is not installed (apt-get install pgbouncer) !!!\n");
            return None;
        };
        let dir = tempfile::Builder::new().prefix("crm-pgbouncer-").tempdir().unwrap();
        let listen_port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let d = dir.path().display();
        std::fs::write(dir.path().join("users.txt"), "\"postgres\" \"\"\n").unwrap();
        std::fs::write(
            dir.path().join("pgbouncer.ini"),
            format!(
                "[databases]\ncrm = host={host} port={port} dbname={name}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\n\
                 listen_port = {listen_port}\nunix_socket_dir =\nauth_type = trust\nauth_file = {d}/users.txt\n\
                 pool_mode = transaction\ndefault_pool_size = 3\nmin_pool_size = 0\nreserve_pool_size = 0\n\
                 max_client_conn = 200\nignore_startup_parameters = extra_float_digits\n\
                 logfile = {d}/pgbouncer.log\npidfile = {d}/pgbouncer.pid\n"
            ),
        )
        .unwrap();
        // pgbouncer refuses to run as root.
        let mut command = if running_as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&binary);
            c
        } else {
            Command::new(&binary)
        };
        let child = command
            .arg(dir.path().join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let bouncer = Self {
            child,
            port: listen_port,
            dir,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", listen_port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "pgbouncer did not listen within 10 s:\n{}",
                bouncer.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(bouncer)
    }

    /// The URL of the database through pgbouncer, one round trip per statement.
    fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/crm?statement-cache-capacity=0",
            self.port
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

/// Host, port and database name of a PostgreSQL URL `postgres://user@host:port/name`.
fn parts(url: &str) -> (String, u16, String) {
    let parsed = url::Url::parse(url).unwrap();
    (
        parsed.host_str().unwrap().to_owned(),
        parsed.port().unwrap_or(5432),
        parsed.path().trim_start_matches('/').to_owned(),
    )
}

async fn behind(bouncer: &Bouncer, direct: &str) -> TestApp {
    let direct = direct.to_owned();
    TestApp::spawn_on(TestDatabase::Shared { url: bouncer.url() }, move |settings| {
        settings.direct_database_url = Some(direct);
        settings.db_max_connections = 5;
    })
    .await
}

fn rename(name: &str, etag: &str, display_name: &str) -> pb::UpdateCustomerRequest {
    pb::UpdateCustomerRequest {
        customer: Some(pb::Customer {
            name: name.to_owned(),
            etag: etag.to_owned(),
            display_name: display_name.to_owned(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["display_name".to_owned()],
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crmd_works_behind_pgbouncer_in_transaction_mode() {
    // Declared first, dropped last: the servers and pgbouncer go before the database.
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let (host, port, name) = parts(database.url());
    let Some(bouncer) = Bouncer::start(&host, port, &name) else {
        return;
    };
    // A migrates the database over its direct connection; B starts on it.
    let a = behind(&bouncer, database.url()).await;
    let b = behind(&bouncer, database.url()).await;

    // Many callers, few server connections.
    let started = Instant::now();
    let mut callers = Vec::new();
    for caller in 0..CALLERS {
        let customers = a.customers.clone();
        callers.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                let wanted = format!("caller {caller} round {round}");
                let created = customers
                    .clone()
                    .create_customer(pb::CreateCustomerRequest {
                        customer: Some(organization(&wanted)),
                        ..Default::default()
                    })
                    .await
                    .unwrap_or_else(|e| panic!("create ({wanted}): {e:?}"))
                    .into_inner();
                let read = customers
                    .clone()
                    .get_customer(pb::GetCustomerRequest {
                        name: created.name.clone(),
                    })
                    .await
                    .unwrap_or_else(|e| panic!("get ({wanted}): {e:?}"))
                    .into_inner();
                assert_eq!(read.display_name, wanted);
                let renamed = format!("{wanted}, renamed");
                let updated = customers
                    .clone()
                    .update_customer(rename(&created.name, &read.etag, &renamed))
                    .await
                    .unwrap_or_else(|e| panic!("update ({wanted}): {e:?}"))
                    .into_inner();
                assert_eq!(updated.display_name, renamed);
                let again = customers
                    .clone()
                    .get_customer(pb::GetCustomerRequest {
                        name: created.name.clone(),
                    })
                    .await
                    .unwrap_or_else(|e| panic!("get again ({wanted}): {e:?}"))
                    .into_inner();
                assert_eq!((again.display_name, again.etag), (renamed, updated.etag));
                customers
                    .clone()
                    .list_customers(pb::ListCustomersRequest {
                        page_size: 10,
                        ..Default::default()
                    })
                    .await
                    .unwrap_or_else(|e| panic!("list ({wanted}): {e:?}"));
            }
        }));
    }
    for caller in callers {
        caller.await.unwrap();
    }
    let total = a
        .customers
        .clone()
        .list_customers(pb::ListCustomersRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .customers
        .len();
    assert_eq!(total, CALLERS * ROUNDS);
    eprintln!(
        "pgbouncer: {} calls by {CALLERS} callers over 3 server connections in {:?}, all answered",
        CALLERS * ROUNDS * 5,
        started.elapsed()
    );

    // B hears A's changes: its LISTEN is on its direct connection.
    let target = a.customers.clone();
    let target = target
        .clone()
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(organization("Behind the bouncer")),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .name;
    crm_tests::add_principal(&a, "bob", "").await;
    a.access
        .clone()
        .create_role_binding(pb::CreateRoleBindingRequest {
            role_binding: Some(pb::RoleBinding {
                principal: "principals/bob".to_owned(),
                role: "roles/sales_rep".to_owned(),
                scope: pb::Scope::All as i32,
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let created = a
        .access
        .clone()
        .create_api_key(pb::CreateApiKeyRequest {
            parent: "principals/bob".to_owned(),
            expire_time: None,
        })
        .await
        .unwrap()
        .into_inner();
    let (key_name, secret) = (created.api_key.unwrap().name, created.secret);
    let get_on_b = || {
        let mut client = b.customers_as(Some(&secret));
        let name = target.clone();
        async move { client.get_customer(pb::GetCustomerRequest { name }).await }
    };
    let waiting = Instant::now();
    while get_on_b().await.is_err() {
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "B never accepted bob's new key"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent = Instant::now();
    a.access
        .clone()
        .revoke_api_key(pb::RevokeApiKeyRequest { name: key_name })
        .await
        .unwrap();
    loop {
        match get_on_b().await {
            Err(status) if status.code() == Code::Unauthenticated => break,
            _ => {}
        }
        assert!(
            sent.elapsed() < Duration::from_secs(1),
            "B still accepts a key revoked on A after 1 s: its LISTEN did not hear A's NOTIFY"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!(
        "pgbouncer: a key revoked on A was refused by B after {:?}",
        sent.elapsed()
    );

    // A batch run takes its advisory lock on the direct connection and completes.
    let mut run = a
        .classification
        .clone()
        .reclassify_customers(pb::ReclassifyCustomersRequest::default())
        .await
        .unwrap_or_else(|e| panic!("ReclassifyCustomers behind pgbouncer: {e:?}"))
        .into_inner();
    let mut last = None;
    while let Some(message) = run
        .message()
        .await
        .unwrap_or_else(|e| panic!("ReclassifyCustomers behind pgbouncer: {e:?}"))
    {
        last = message.event;
    }
    match last {
        Some(pb::reclassify_customers_response::Event::Summary(summary)) => {
            assert_eq!(summary.processed, (CALLERS * ROUNDS + 1) as i64);
            eprintln!("pgbouncer: ReclassifyCustomers ran to its summary: {summary:?}");
        }
        other => panic!("ReclassifyCustomers behind pgbouncer ended without a summary: {other:?}"),
    }

    b.stop().await.unwrap();
    a.stop().await.unwrap();
    drop(bouncer);
    drop(database);
}
