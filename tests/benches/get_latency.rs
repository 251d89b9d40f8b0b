//! GetCustomer latency over loopback, on SQLite and (when `CRM_TEST_POSTGRES_URL` is set)
//! PostgreSQL: the real server on port 0, one client, sequential calls. The baseline, measured
//! in the same run on the same channel, is the health `Check` RPC (no database); the ratio says
//! what the customer read costs on top of the gRPC round trip, so it survives a noisy machine
//! better than the raw figures.
//!
//! Every GetCustomer is authenticated: the harness's `app.customers` client sends the bootstrap
//! admin's API key (`authorization: Bearer <key>`; role `admin`, scope ALL) with every call, so
//! the figures include authentication and the access decision. The health `Check` needs no key.
//!
//! Run: `cargo bench -p crm-tests --bench get_latency` (or `make bench`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crm_tests::{Backend, TestApp, create, organization, pb};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const WARMUP: usize = 200;
const SAMPLES: usize = 3000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn measure<F, Fut>(mut call: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..WARMUP {
        call().await;
    }
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let start = Instant::now();
        call().await;
        samples.push(start.elapsed());
    }
    samples.sort_unstable();
    samples
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn(backend).await else {
            continue;
        };
        let mut customer = organization("Latency Ltd");
        customer.tags = vec!["bench".into(), "loopback".into()];
        customer.contact = Some(pb::Contact {
            email: "bench@example.com".into(),
            ..Default::default()
        });
        let created = create(&app, customer).await;

        let health = HealthClient::new(app.channel.clone());
        let baseline = measure(|| {
            let mut health = health.clone();
            async move {
                health
                    .check(HealthCheckRequest { service: String::new() })
                    .await
                    .unwrap();
            }
        })
        .await;
        // Authenticated as the bootstrap admin; make sure the key is accepted before measuring.
        app.customers
            .clone()
            .get_customer(pb::GetCustomerRequest {
                name: created.name.clone(),
            })
            .await
            .expect("GetCustomer with the admin key");
        let get = measure(|| {
            let mut client = app.customers.clone();
            let name = created.name.clone();
            async move {
                client.get_customer(pb::GetCustomerRequest { name }).await.unwrap();
            }
        })
        .await;

        let (b50, g50) = (percentile(&baseline, 0.5), percentile(&get, 0.5));
        println!(
            "{backend:?}: GetCustomer p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs | health Check p50 {:.0} µs | ratio p50 {:.2}x ({SAMPLES} sequential calls)",
            micros(g50),
            micros(percentile(&get, 0.9)),
            micros(percentile(&get, 0.99)),
            micros(b50),
            g50.as_secs_f64() / b50.as_secs_f64(),
        );
        app.stop().await.unwrap();
    }
}
