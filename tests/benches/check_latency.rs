//! CheckPermission latency over loopback, on SQLite and (when `CRM_TEST_POSTGRES_URL` is set)
//! PostgreSQL: the real server on port 0, one client, sequential calls, authenticated with an
//! API key. The question is the common one: may a sales rep (role `sales_rep`, scope OWN) read a
//! customer it owns (allowed). The baseline, measured in the same run on the same channel, is
//! the health `Check` RPC (no key, no database); the ratio says what authentication, the
//! customer lookup and the decision cost on top of the gRPC round trip.
//!
//! Also: BatchCheckPermissions with 100 items (the same rep, 100 different customers it owns),
//! reported per item.
//!
//! Run: `cargo bench -p crm-tests --bench check_latency`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crm_tests::{Backend, TestApp, organization, pb};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const WARMUP: usize = 200;
const SAMPLES: usize = 3000;
const BATCH_ITEMS: usize = 100;

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

/// Creates `principals/bench-rep` with role `sales_rep` (scope OWN) and returns a key for it.
async fn sales_rep(app: &TestApp) -> (String, String) {
    let mut access = app.access.clone();
    let principal = access
        .create_principal(pb::CreatePrincipalRequest {
            principal_id: "bench-rep".into(),
            principal: Some(pb::Principal {
                kind: pb::PrincipalKind::User as i32,
                display_name: "Bench rep".into(),
                department: "sales-east".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    access
        .create_role_binding(pb::CreateRoleBindingRequest {
            role_binding: Some(pb::RoleBinding {
                principal: principal.name.clone(),
                role: "roles/sales_rep".into(),
                scope: pb::Scope::Own as i32,
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let key = access
        .create_api_key(pb::CreateApiKeyRequest {
            parent: principal.name.clone(),
            expire_time: None,
        })
        .await
        .unwrap()
        .into_inner();
    (principal.name, key.secret)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn(backend).await else {
            continue;
        };
        let (rep, secret) = sales_rep(&app).await;
        let mut customers = Vec::with_capacity(BATCH_ITEMS);
        for i in 0..BATCH_ITEMS {
            let mut customer = organization(&format!("Check Latency {i}"));
            customer.owner = rep.clone();
            customer.department = "sales-east".into();
            let created = app
                .customers
                .clone()
                .create_customer(pb::CreateCustomerRequest {
                    customer: Some(customer),
                    customer_id: format!("check-latency-{i}"),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            customers.push(created.name);
        }
        let client = app.access_as(Some(&secret));
        let request = pb::CheckPermissionRequest {
            principal: String::new(),
            permission: "customers.get".into(),
            customer: customers[0].clone(),
        };
        let decision = client
            .clone()
            .check_permission(request.clone())
            .await
            .unwrap()
            .into_inner();
        assert!(decision.allowed, "the benchmarked check must be allowed: {decision:?}");
        let batch = pb::BatchCheckPermissionsRequest {
            items: customers
                .iter()
                .enumerate()
                .map(|(i, customer)| pb::CheckPermissionItem {
                    correlation_id: i.to_string(),
                    principal: String::new(),
                    permission: "customers.get".into(),
                    customer: customer.clone(),
                })
                .collect(),
        };
        let answers = client
            .clone()
            .batch_check_permissions(batch.clone())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answers.results.len(), BATCH_ITEMS);
        assert!(
            answers.results.iter().all(|r| matches!(
                &r.result,
                Some(pb::check_permission_result::Result::Decision(d)) if d.allowed
            )),
            "every benchmarked batch item must be allowed"
        );

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
        let single = measure(|| {
            let mut client = client.clone();
            let request = request.clone();
            async move {
                client.check_permission(request).await.unwrap();
            }
        })
        .await;
        let batched = measure(|| {
            let mut client = client.clone();
            let batch = batch.clone();
            async move {
                client.batch_check_permissions(batch).await.unwrap();
            }
        })
        .await;

        let (b50, c50, batch50) = (
            percentile(&baseline, 0.5),
            percentile(&single, 0.5),
            percentile(&batched, 0.5),
        );
        let per_item = batch50 / BATCH_ITEMS as u32;
        println!(
            "{backend:?}: CheckPermission p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs | health Check p50 {:.0} µs | ratio p50 {:.2}x ({SAMPLES} sequential calls)",
            micros(c50),
            micros(percentile(&single, 0.9)),
            micros(percentile(&single, 0.99)),
            micros(b50),
            c50.as_secs_f64() / b50.as_secs_f64(),
        );
        println!(
            "{backend:?}: BatchCheckPermissions ({BATCH_ITEMS} items) p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs | {:.1} µs per item p50 ({:.1}% of a single CheckPermission)",
            micros(batch50),
            micros(percentile(&batched, 0.9)),
            micros(percentile(&batched, 0.99)),
            micros(per_item),
            100.0 * per_item.as_secs_f64() / c50.as_secs_f64(),
        );
        app.stop().await.unwrap();
    }
}
