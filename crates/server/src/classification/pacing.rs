//! How a batch re-classification run shares the machine with the requests being served: the
//! domain's [`Pacing`] port, decided from how many requests this process started lately.
//!
//! - **Nobody calling** (fewer than [`BUSY_CALLS_PER_SEC`] requests per second over the last
//!   [`SAMPLE`] or more): each batch is written at full speed, on PostgreSQL in two statements
//!   at once (two backends, so the database uses more than one core), on SQLite in one.
//! - **Callers being served:** the run writes [`BUSY_CHUNK`] customers per statement, one
//!   statement at a time, and after each pauses [`REST_FACTOR`] times as long as the part took.
//!   Its statements then hold the database for a few milliseconds at a time and it takes at
//!   most a fifth of one connection's time, so a GetCustomer waits behind short statements
//!   only. A part that takes longer because the machine is busy buys a longer pause, so the run
//!   slows down as the load rises. Measured with 100,000 customers beside GetCustomer at half
//!   the machine's maximum rate: the Get p99 during the run 6.7–6.9 ms against 2.5–3.4 ms idle,
//!   and the run 168–182 s (10 s alone); without pacing 22.8 ms and 18 s. Larger parts and
//!   shorter pauses finish sooner and cost the callers more: 100 customers with 2x gave 10.2–
//!   10.9 ms and 74–76 s, 50 with 3x 8.7–10.4 ms.
//!
//! The request counter is [`Metrics::calls_started`] (every request, health checks included;
//! the run's own ReclassifyCustomers call is one). Measured with `crm-loadgen
//! --reclassify-customers` (see the README, "Load benchmark").

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crm_domain::{
    classification::BATCH_SIZE,
    ports::{Pacing, WritePlan},
};
use crm_persistence::Backend;

use crate::metrics::Metrics;

/// Requests per second from which a run gives way.
const BUSY_CALLS_PER_SEC: f64 = 50.0;
/// The shortest window over which the request rate is measured.
const SAMPLE: Duration = Duration::from_millis(100);
/// Customers per statement while callers are being served.
const BUSY_CHUNK: usize = 25;
/// The pause after each part while callers are being served, as a multiple of the part's time.
const REST_FACTOR: u32 = 4;

/// The run's view of the requests being served; see the module documentation.
#[derive(Debug)]
pub(crate) struct GiveWay {
    metrics: Arc<Metrics>,
    /// Statements at once when nobody is calling.
    idle_parallel: usize,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    /// [`Metrics::calls_started`] at `since`.
    calls: u64,
    since: Instant,
    busy: bool,
    /// When the part being written was planned.
    part_started: Instant,
}

impl GiveWay {
    /// Pacing for a run on `backend` in the process whose requests `metrics` counts.
    pub(crate) fn new(metrics: Arc<Metrics>, backend: Backend) -> Self {
        let now = Instant::now();
        let calls = metrics.calls_started();
        Self {
            metrics,
            // SQLite has one writer: a second statement would only wait for the first.
            idle_parallel: match backend {
                Backend::Postgres => 2,
                Backend::Sqlite => 1,
            },
            window: Mutex::new(Window {
                calls,
                since: now,
                busy: false,
                part_started: now,
            }),
        }
    }

    /// How long [`rest`](Pacing::rest) waits now: [`REST_FACTOR`] times the time since the last
    /// [`plan`](Pacing::plan) while callers are being served, else nothing.
    fn pause(&self) -> Duration {
        let window = self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if window.busy {
            window.part_started.elapsed().saturating_mul(REST_FACTOR)
        } else {
            Duration::ZERO
        }
    }
}

impl Pacing for GiveWay {
    fn plan(&self) -> WritePlan {
        let now = Instant::now();
        let calls = self.metrics.calls_started();
        let mut window = self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(window.since);
        if elapsed >= SAMPLE {
            #[allow(clippy::cast_precision_loss)] // a rate: precision far beyond what it needs
            let rate = calls.saturating_sub(window.calls) as f64 / elapsed.as_secs_f64();
            window.busy = rate >= BUSY_CALLS_PER_SEC;
            window.calls = calls;
            window.since = now;
        }
        window.part_started = now;
        if window.busy {
            WritePlan {
                chunk: BUSY_CHUNK,
                parallel: 1,
            }
        } else {
            WritePlan {
                chunk: usize::try_from(BATCH_SIZE)
                    .unwrap_or(usize::MAX)
                    .div_ceil(self.idle_parallel),
                parallel: self.idle_parallel,
            }
        }
    }

    async fn rest(&self) {
        let pause = self.pause();
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Waits out one sampling window, with `calls` requests started during it.
    async fn window_with(metrics: &Metrics, calls: u32) {
        for _ in 0..calls {
            metrics.started();
        }
        tokio::time::sleep(SAMPLE + Duration::from_millis(5)).await;
    }

    #[tokio::test]
    async fn full_speed_when_idle_small_parts_and_pauses_when_called() {
        let metrics = Metrics::new(&[]);
        let pacing = GiveWay::new(Arc::clone(&metrics), Backend::Postgres);
        let idle = WritePlan {
            chunk: usize::try_from(BATCH_SIZE).unwrap().div_ceil(2),
            parallel: 2,
        };
        assert_eq!(pacing.plan(), idle, "nobody has called yet");

        // 100 requests in a window of just over 100 ms: far above the threshold.
        window_with(&metrics, 100).await;
        let busy = WritePlan {
            chunk: BUSY_CHUNK,
            parallel: 1,
        };
        assert_eq!(pacing.plan(), busy);
        let part = Duration::from_millis(20);
        tokio::time::sleep(part).await;
        assert!(pacing.pause() >= part * REST_FACTOR, "{:?}", pacing.pause());
        let resting = Instant::now();
        pacing.rest().await;
        assert!(
            resting.elapsed() >= part * REST_FACTOR,
            "rested {:?}",
            resting.elapsed()
        );

        // Three requests in the next window (at most ~30 per second) is idle again: no pause.
        window_with(&metrics, 3).await;
        assert_eq!(pacing.plan(), idle);
        assert_eq!(pacing.pause(), Duration::ZERO);
    }

    #[tokio::test]
    async fn one_statement_at_a_time_on_sqlite() {
        let pacing = GiveWay::new(Metrics::new(&[]), Backend::Sqlite);
        assert_eq!(
            pacing.plan(),
            WritePlan {
                chunk: usize::try_from(BATCH_SIZE).unwrap(),
                parallel: 1,
            }
        );
    }
}
