//! The calls and the loops that drive them.
//!
//! - [`Worker`]: one caller's state for one kind of call (its client, the ids it picks from, the
//!   etags it holds); [`Worker::call`] makes one call and says how it ended.
//! - [`closed_loop`]: N workers, each calling again as soon as its previous call returns, for a
//!   fixed time after a warm-up: the most the server does at concurrency N. A call counts when
//!   it *completes* inside the window (calls cut by either edge are left out alike).
//! - [`open_loop`]: calls dispatched at a fixed rate whatever the answers (each on its own task),
//!   until a stop future fires: the latency at a given load, as a client population sees it.
//!   Latency runs from the moment the call is sent (the tokio timer ticks every millisecond, so
//!   dispatch may be up to ~1 ms late; the largest such lag is reported beside the figures).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use crm_api::crm::v1 as pb;
use serde::Serialize;
use tokio::sync::mpsc;
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use crate::{
    client::{AccessClient, CustomersClient},
    crmd::CrmdProcess,
    seed::{Rng, customer},
    stats::{Failure, Outcome, Recorder},
};

/// The page size of the List measure.
pub const LIST_PAGE_SIZE: i32 = 50;
/// The filter of the List measure: about 5 % of the customers match.
pub const LIST_FILTER: &str = r#"department = "sales" AND tags: "vip""#;
/// The order of the List measure.
pub const LIST_ORDER_BY: &str = "display_name";
/// How many names a BatchGetCustomers asks for.
pub const BATCH_GET_SIZE: usize = 20;
/// The permission CheckPermission asks about.
pub const CHECK_PERMISSION: &str = "customers.update";
/// Customers created by the Create measure are numbered from here (the seed uses `0..N`).
pub const CREATE_BASE: u64 = 1_000_000_000;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// `grpc.health.v1.Health/Check`: the gRPC stack and crmd's layers, no database.
    Health,
    /// GetCustomer of a random seeded customer.
    Get,
    /// BatchGetCustomers of 20 random seeded customers.
    BatchGet,
    /// ListCustomers, first page of 50, filtered and ordered.
    List,
    /// CheckPermission by the sales rep about itself, `customers.update` on a random customer of
    /// its department (a scoped grant).
    Check,
    /// CreateCustomer of a new customer like the seeded ones.
    Create,
    /// UpdateCustomer of `display_name` with the etag of the worker's own customer.
    Update,
    /// GetCustomer at a fixed rate of half the closed-loop maximum (open loop).
    GetHalfLoad,
    /// GetCustomer at half load on the re-classification database, idle, before the batch.
    GetBeforeBatch,
    /// The same while a ReclassifyCustomers run writes every customer.
    GetDuringBatch,
    /// GetCustomer on a crmd that reads from a hot standby (`--read-database-url`).
    GetReadReplica,
}

impl Measure {
    /// The RPC and how it is called, for the tables.
    pub fn title(self) -> &'static str {
        match self {
            Self::Health => "Health/Check",
            Self::Get => "GetCustomer",
            Self::BatchGet => "BatchGetCustomers (20)",
            Self::List => "ListCustomers (50 + filter)",
            Self::Check => "CheckPermission (DEPARTMENT)",
            Self::Create => "CreateCustomer",
            Self::Update => "UpdateCustomer (etag)",
            Self::GetHalfLoad => "GetCustomer at half load",
            Self::GetBeforeBatch => "GetCustomer at half load, idle",
            Self::GetDuringBatch => "GetCustomer at half load, during a batch",
            Self::GetReadReplica => "GetCustomer, primary + 1 read replica",
        }
    }
}

/// One caller's state for one kind of call.
#[derive(Debug)]
pub enum Worker {
    /// Health checks.
    Health(HealthClient<Channel>),
    /// GetCustomer of random names.
    Get {
        /// The client.
        client: CustomersClient,
        /// The names to pick from.
        names: Arc<[String]>,
        /// The picker.
        rng: Rng,
    },
    /// BatchGetCustomers of random names.
    BatchGet {
        /// The client.
        client: CustomersClient,
        /// The names to pick from.
        names: Arc<[String]>,
        /// The picker.
        rng: Rng,
    },
    /// The same filtered first page again and again.
    List {
        /// The client.
        client: CustomersClient,
    },
    /// CheckPermission about the caller itself on random customers.
    Check {
        /// The client, calling as the principal asked about.
        client: AccessClient,
        /// The customers to pick from (all within the caller's scope).
        customers: Arc<[String]>,
        /// The picker.
        rng: Rng,
    },
    /// CreateCustomer of customers `next`, `next + step`, ….
    Create {
        /// The client.
        client: CustomersClient,
        /// The number of the next customer.
        next: u64,
        /// How far the number moves per call (the number of workers, so workers never collide).
        step: u64,
    },
    /// UpdateCustomer of this worker's own customers in turn, each with its last known etag.
    Update {
        /// The client.
        client: CustomersClient,
        /// `(name, etag)` of the customers only this worker updates.
        own: Vec<(String, String)>,
        /// Calls so far (picks the customer and the new display name).
        calls: u64,
    },
}

impl Worker {
    /// Makes one call.
    pub async fn call(&mut self) -> Outcome {
        match self {
            Self::Health(client) => {
                let answer = client.check(HealthCheckRequest { service: String::new() }).await?;
                if answer.into_inner().status == ServingStatus::Serving as i32 {
                    Ok(())
                } else {
                    Err(Failure::Status(tonic::Code::Unavailable))
                }
            }
            Self::Get { client, names, rng } => {
                let name = rng.pick(names).clone();
                client.get_customer(pb::GetCustomerRequest { name }).await?;
                Ok(())
            }
            Self::BatchGet { client, names, rng } => {
                let names = (0..BATCH_GET_SIZE).map(|_| rng.pick(names).clone()).collect();
                client
                    .batch_get_customers(pb::BatchGetCustomersRequest { names })
                    .await?;
                Ok(())
            }
            Self::List { client } => {
                client.list_customers(list_request()).await?;
                Ok(())
            }
            Self::Check { client, customers, rng } => {
                let answer = client
                    .check_permission(pb::CheckPermissionRequest {
                        principal: String::new(),
                        permission: CHECK_PERMISSION.to_owned(),
                        customer: rng.pick(customers).clone(),
                    })
                    .await?;
                if answer.into_inner().allowed {
                    Ok(())
                } else {
                    Err(Failure::Denied)
                }
            }
            Self::Create { client, next, step } => {
                let number = *next;
                *next += *step;
                client
                    .create_customer(pb::CreateCustomerRequest {
                        customer: Some(customer(number)),
                        ..Default::default()
                    })
                    .await?;
                Ok(())
            }
            Self::Update { client, own, calls } => {
                if own.is_empty() {
                    return Err(Failure::Status(tonic::Code::FailedPrecondition));
                }
                let index = (*calls % own.len() as u64) as usize;
                *calls += 1;
                let (name, etag) = own[index].clone();
                let request = pb::UpdateCustomerRequest {
                    customer: Some(pb::Customer {
                        name: name.clone(),
                        etag,
                        display_name: format!("Loadgen Customer updated {calls}"),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["display_name".to_owned()],
                    }),
                };
                match client.update_customer(request).await {
                    Ok(updated) => {
                        own[index].1 = updated.into_inner().etag;
                        Ok(())
                    }
                    Err(status) if status.code() == tonic::Code::Aborted => {
                        // Someone else changed it (not expected: the customers are this
                        // worker's own): read the etag again, as a real client would.
                        if let Ok(current) = client.get_customer(pb::GetCustomerRequest { name }).await {
                            own[index].1 = current.into_inner().etag;
                        }
                        Err(status.into())
                    }
                    Err(status) => Err(status.into()),
                }
            }
        }
    }
}

/// The List measure's request.
pub fn list_request() -> pb::ListCustomersRequest {
    pb::ListCustomersRequest {
        page_size: LIST_PAGE_SIZE,
        filter: LIST_FILTER.to_owned(),
        order_by: LIST_ORDER_BY.to_owned(),
        ..Default::default()
    }
}

/// What a loop measured.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Every counted call.
    pub recorder: Recorder,
    /// The length of the counted window.
    pub seconds: f64,
    /// crmd's CPU time over the window, when readable.
    pub crmd_cpu: Option<Duration>,
    /// Open loop only: the latest a call was dispatched after its due time.
    pub dispatch_lag_max: Option<Duration>,
}

/// Runs `workers` in a closed loop: `warmup` uncounted, then `duration` counted.
pub async fn closed_loop(workers: Vec<Worker>, warmup: Duration, duration: Duration, crmd: &CrmdProcess) -> Measured {
    let start = Instant::now();
    let from = start + warmup;
    let end = from + duration;
    let handles: Vec<_> = workers
        .into_iter()
        .map(|mut worker| {
            tokio::spawn(async move {
                let mut recorder = Recorder::new();
                loop {
                    let sent = Instant::now();
                    if sent >= end {
                        break;
                    }
                    let outcome = worker.call().await;
                    let done = Instant::now();
                    if done >= end {
                        break;
                    }
                    if done >= from {
                        recorder.record(done - sent, outcome);
                    }
                }
                recorder
            })
        })
        .collect();
    tokio::time::sleep_until(from.into()).await;
    let cpu_before = crmd.cpu_time();
    tokio::time::sleep_until(end.into()).await;
    let cpu_after = crmd.cpu_time();
    let mut recorder = Recorder::new();
    for handle in handles {
        match handle.await {
            Ok(worker) => recorder.merge(&worker),
            // A worker that panicked is a bug of this tool: count it, do not hide it.
            Err(_) => recorder.record(Duration::ZERO, Err(Failure::Status(tonic::Code::Internal))),
        }
    }
    Measured {
        recorder,
        seconds: duration.as_secs_f64(),
        crmd_cpu: cpu_before
            .zip(cpu_after)
            .map(|(before, after)| after.saturating_sub(before)),
        dispatch_lag_max: None,
    }
}

/// Dispatches `rate` calls per second, each made by a fresh worker from `make(k)`, until `stop`
/// completes; calls dispatched during the first `warmup` are not counted. Waits for every call
/// dispatched to end.
pub async fn open_loop(
    rate: f64,
    warmup: Duration,
    stop: impl Future<Output = ()>,
    crmd: &CrmdProcess,
    mut make: impl FnMut(u64) -> Worker,
) -> Measured {
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let (tx, mut rx) = mpsc::unbounded_channel::<(Duration, Outcome)>();
    let collector = tokio::spawn(async move {
        let mut recorder = Recorder::new();
        while let Some((latency, outcome)) = rx.recv().await {
            recorder.record(latency, outcome);
        }
        recorder
    });
    tokio::pin!(stop);
    let start = Instant::now();
    let from = start + warmup;
    let (mut window_start, mut cpu_before) = (None, None);
    let mut lag_max = Duration::ZERO;
    let mut k = 0u64;
    loop {
        let due = start + period.mul_f64(k as f64);
        tokio::select! {
            biased;
            () = &mut stop => break,
            () = tokio::time::sleep_until(due.into()) => {}
        }
        let now = Instant::now();
        let counted = due >= from;
        if counted && window_start.is_none() {
            window_start = Some(now);
            cpu_before = crmd.cpu_time();
        }
        lag_max = lag_max.max(now - due);
        let mut worker = make(k);
        let tx = tx.clone();
        tokio::spawn(async move {
            let sent = Instant::now();
            let outcome = worker.call().await;
            if counted {
                let _ = tx.send((sent.elapsed(), outcome));
            }
        });
        k += 1;
    }
    let window_end = Instant::now();
    drop(tx);
    // Every dispatched call holds a sender: the collector ends when the last one has answered.
    let recorder = collector.await.unwrap_or_default();
    let cpu_after = crmd.cpu_time();
    let seconds = window_start.map_or(0.0, |s| (window_end - s).as_secs_f64());
    Measured {
        recorder,
        seconds,
        crmd_cpu: cpu_before
            .zip(cpu_after)
            .map(|(before, after)| after.saturating_sub(before)),
        dispatch_lag_max: Some(lag_max),
    }
}
