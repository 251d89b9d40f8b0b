//! The connections crmd keeps (issue 12, item 4): a cap on open connections, a deadline for a
//! new connection's first bytes, an idle timeout, and an accept loop that neither spins nor
//! starves new clients when the process runs out of file descriptors (300 idle TCP connections
//! at `ulimit -n 256` used to keep tonic's accept loop at ~95 % of a core while nobody could
//! connect).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{net::SocketAddr, time::Duration};

use crm_tests::{Backend, TestApp, TestDatabase, crmd::Crmd, scrape_metrics};
use tokio::{io::AsyncReadExt as _, net::TcpStream};
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

crm_tests::on_both_backends!(connections_beyond_the_cap_are_closed_at_once_and_the_others_are_served);
crm_tests::on_both_backends!(a_connection_that_sends_nothing_is_closed_at_the_handshake_deadline);
crm_tests::on_both_backends!(an_idle_connection_is_closed_and_its_client_reconnects_but_a_call_in_flight_keeps_it);
crm_tests::on_both_backends!(out_of_descriptors_crmd_neither_spins_nor_stays_unreachable);

/// Whether the server closes `stream` within `within` (EOF or reset), without it sending a byte.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0_u8; 64];
    match tokio::time::timeout(within, stream.read(&mut buffer)).await {
        Err(_still_open) => false,
        Ok(Ok(0) | Err(_)) => true,
        // The server's HTTP/2 SETTINGS: it took the connection; keep reading.
        Ok(Ok(_)) => match tokio::time::timeout(within, async {
            loop {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        {
            Ok(()) => true,
            Err(_still_open) => false,
        },
    }
}

async fn health(addr: SocketAddr) -> Result<(), String> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map(drop)
        .map_err(|status| format!("{status:?}"))
}

async fn connections_beyond_the_cap_are_closed_at_once_and_the_others_are_served(backend: Backend) {
    let Some(app) = TestApp::spawn_with_metrics(backend, |settings| {
        settings.max_connections = Some(3);
        settings.connection_handshake_timeout = Duration::from_secs(60);
    })
    .await
    else {
        return;
    };
    // The app's own channel holds one slot; two silent connections take the others.
    let mut silent = Vec::new();
    for _ in 0..2 {
        silent.push(TcpStream::connect(app.addr).await.unwrap());
    }
    // Wait until the server has accepted both (it accepts in order).
    let mut beyond = TcpStream::connect(app.addr).await.unwrap();
    assert!(
        closed_by_server(&mut beyond, Duration::from_secs(10)).await,
        "a connection beyond the cap is closed at once"
    );
    for stream in &mut silent {
        assert!(
            !closed_by_server(stream, Duration::from_millis(200)).await,
            "within the cap"
        );
    }
    // The connection already open keeps working.
    app.customers
        .clone()
        .list_customers(crm_api::crm::v1::ListCustomersRequest::default())
        .await
        .expect("the app's own connection is served");
    let scrape = app.scrape_metrics().await;
    assert!(scrape.expect("crm_grpc_connections_refused_total") >= 1.0);
    assert_eq!(scrape.expect("crm_grpc_connections_open"), 3.0);

    // Slots come back when connections close.
    drop(silent);
    let mut served = Err(String::new());
    for _ in 0..50 {
        served = health(app.addr).await;
        if served.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    served.expect("a new client is served once slots are free");
}

async fn a_connection_that_sends_nothing_is_closed_at_the_handshake_deadline(backend: Backend) {
    let Some(app) = TestApp::spawn_with_metrics(backend, |settings| {
        settings.connection_handshake_timeout = Duration::from_secs(1);
    })
    .await
    else {
        return;
    };
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    assert!(
        closed_by_server(&mut silent, Duration::from_secs(10)).await,
        "a connection that sends nothing is closed"
    );
    assert_eq!(
        app.scrape_metrics()
            .await
            .expect("crm_grpc_connections_expired_total{reason=\"handshake_timeout\"}"),
        1.0
    );
    // A client that speaks is not subject to it: the app's channel, older than the deadline.
    app.customers
        .clone()
        .list_customers(crm_api::crm::v1::ListCustomersRequest::default())
        .await
        .expect("a connection that spoke in time stays open");
}

async fn an_idle_connection_is_closed_and_its_client_reconnects_but_a_call_in_flight_keeps_it(backend: Backend) {
    let Some(app) = TestApp::spawn_with_metrics(backend, |settings| {
        settings.connection_idle_timeout = Some(Duration::from_secs(1));
    })
    .await
    else {
        return;
    };
    let idle_closes = |scrape: &crm_tests::Scrape| {
        scrape
            .value("crm_grpc_connections_expired_total{reason=\"idle_timeout\"}")
            .unwrap_or(0.0)
    };
    // A connection with a call in flight (a health Watch stream, which never ends by itself)
    // outlives the idle timeout.
    let watching = Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut watch = HealthClient::new(watching)
        .watch(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    watch.message().await.expect("the first status").expect("a status");
    let before = idle_closes(&app.scrape_metrics().await);
    assert!(
        tokio::time::timeout(Duration::from_secs(3), watch.message())
            .await
            .is_err(),
        "the stream is neither ended nor failed while its connection carries it"
    );
    // Meanwhile the app's own channel, idle, was closed…
    let after = idle_closes(&app.scrape_metrics().await);
    assert!(after > before, "an idle connection was closed: {before} -> {after}");
    // …and reconnects by itself on the next call.
    app.customers
        .clone()
        .list_customers(crm_api::crm::v1::ListCustomersRequest::default())
        .await
        .expect("the client reconnects");
}

/// `/proc/<pid>/stat`'s user + system CPU time of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("a stat line")
        .1
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

async fn out_of_descriptors_crmd_neither_spins_nor_stays_unreachable(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    // The case, twice: with the default cap (derived from the limit, so the accept loop
    // never meets EMFILE) and with a cap set above the limit (so it does, and must back off).
    for max_connections in ["0", "1000"] {
        let mut crmd = Crmd::start_with_descriptor_limit(
            &[
                "--log-format",
                "json",
                "--listen-addr",
                "127.0.0.1:0",
                "--metrics-addr",
                "127.0.0.1:0",
                "--database-url",
                database.url(),
                "--db-max-connections",
                "5",
                "--reclassify-interval-secs",
                "0",
                "--max-connections",
                max_connections,
                "--connection-handshake-timeout-secs",
                "2",
            ],
            256,
        );
        let grpc = crmd.address_of("crmd listening");
        let metrics = crmd.address_of("serving Prometheus metrics");

        let mut idle = Vec::new();
        for _ in 0..300 {
            idle.push(TcpStream::connect(grpc).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let ticks_per_second = 100; // CLK_TCK on Linux
        let before = cpu_ticks(crmd.pid());
        tokio::time::sleep(Duration::from_secs(1)).await;
        let spent = cpu_ticks(crmd.pid()) - before;
        assert!(
            spent < ticks_per_second / 2,
            "max_connections {max_connections}: crmd used {spent} ticks of CPU in one idle second: the accept loop spins"
        );
        // The silent connections are closed at their deadline; new clients are served then.
        let mut served = Err(String::new());
        for _ in 0..100 {
            served = health(grpc).await;
            if served.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        served.unwrap_or_else(|e| panic!("max_connections {max_connections}: a new client is never served: {e}"));
        let scrape = scrape_metrics(metrics).await;
        if max_connections == "0" {
            assert!(
                scrape.expect("crm_grpc_connections_refused_total") >= 1.0,
                "the default cap refused some"
            );
        } else {
            assert!(
                scrape.expect("crm_grpc_accept_backoffs_total") >= 1.0,
                "the accept loop met EMFILE and backed off"
            );
        }
        assert!(scrape.expect("crm_grpc_connections_expired_total{reason=\"handshake_timeout\"}") >= 1.0);
        drop(idle);
        crmd.signal("TERM");
        let (status, output) = crmd.wait_for_exit();
        assert!(status.success(), "crmd exits cleanly: {output}");
    }
    drop(database);
}
