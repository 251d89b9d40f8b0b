//! What crmd's per-call machinery costs: the health `Check` RPC over loopback through the real
//! server (request id, the `rpc` span, the observer that counts, times and logs, the deadline;
//! health skips authentication and the concurrency limit) against the same health service on a
//! bare tonic server in the same process, same client pattern, same run. Interleaved rounds,
//! so a noisy machine slows both alike; the median of the per-round ratios is the figure.
//!
//! Run: `cargo bench -p crm-tests --bench observability_overhead` (or `make bench`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crm_tests::{Backend, TestApp};
use tonic::transport::{Channel, Server, server::TcpIncoming};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const WARMUP: usize = 300;
const ROUNDS: usize = 20;
const PER_ROUND: usize = 500;

async fn round(client: &HealthClient<Channel>, samples: &mut Vec<Duration>) {
    for _ in 0..PER_ROUND {
        let mut client = client.clone();
        let start = Instant::now();
        client
            .check(HealthCheckRequest { service: String::new() })
            .await
            .unwrap();
        samples.push(start.elapsed());
    }
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("SQLite always runs");
    let crmd = HealthClient::new(app.channel.clone());

    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .add_service(health)
            .serve_with_incoming(TcpIncoming::from(listener).with_nodelay(Some(true))),
    );
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let bare = HealthClient::new(channel);

    let mut warmup = Vec::new();
    for client in [&crmd, &bare] {
        for _ in 0..WARMUP / PER_ROUND + 1 {
            round(client, &mut warmup).await;
        }
    }
    // Each round measures both servers back to back; the median over rounds of the per-round
    // ratio is robust to load that comes and goes (other builds on a shared machine).
    let (mut with_all, mut without_all, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (mut with, mut without) = (Vec::new(), Vec::new());
        round(&crmd, &mut with).await;
        round(&bare, &mut without).await;
        ratios.push(median(&mut with).as_secs_f64() / median(&mut without).as_secs_f64());
        with_all.extend(with);
        without_all.extend(without);
    }
    ratios.sort_by(f64::total_cmp);
    let (with, without) = (median(&mut with_all), median(&mut without_all));
    println!(
        "health Check p50 through crmd's layers {:.1} µs | bare tonic {:.1} µs | +{:.1} µs per call | ratio (median of {ROUNDS} rounds) {:.2}x, rounds {:.2}x..{:.2}x ({} calls each, interleaved)",
        micros(with),
        micros(without),
        micros(with) - micros(without),
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1],
        ROUNDS * PER_ROUND,
    );
    app.stop().await.unwrap();
}
