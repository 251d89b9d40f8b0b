//! Batch re-classification throughput and memory, on SQLite and (when `CRM_TEST_POSTGRES_URL`
//! is set) PostgreSQL: `ReclassifyCustomers` over real gRPC against the real server (in this
//! process, on port 0), on a database seeded with N customers and their purchases.
//!
//! Seeding (`crm_loadgen::reclassify::seed`, shared with `make bench-load`) is raw SQL (multi-row INSERTs of 1000 rows, one transaction per 1000 customers), not
//! gRPC, so that a million customers take seconds: 0–5 purchases per customer with deterministic
//! pseudo-random amounts (a few refunds) and dates over the last two years, and each customer's
//! aggregate columns (window orders and revenue, first and last purchase) consistent with them.
//! The classification columns are left NULL, so the first run classifies everyone.
//!
//! Three runs are timed per backend, each from the request to the stream's summary:
//! 1. the first run, which classifies (and writes) every customer;
//! 2. a second run at once, which changes nothing (the pure read-and-compare cost);
//! 3. a run after moving the server's clock 200 days ahead (purchases age out of the window,
//!    customers go dormant): time-driven changes.
//!
//! Gets during a run: before run 3, one client calls GetCustomer on seeded customers at a fixed
//! pace (`PROBE_RATE` per second, one call at a time) for `PROBE_IDLE` with nothing else
//! running, and then again throughout run 3; the report compares the p50/p99/max latencies and
//! counts failed calls (the goal: p99 during the run within 2x of idle, no failures).
//!
//! Memory: the process's `VmRSS` is sampled every 20 ms during each run (and `VmHWM`, reset
//! before the run, is consulted too); the report gives the growth over the RSS just before the
//! run and the absolute peak. The server runs in this process, so that is the server's memory
//! (plus the client's, which keeps nothing). PostgreSQL's own memory is not included.
//!
//! The baseline, measured in the same run on the same table, is one set-based SQL statement,
//! `UPDATE customers SET lifecycle_stage = CASE … END, value_tier = CASE … END, behaviour = CASE
//! … END, size_segment = CASE … END, grade = CASE … END`, with the default thresholds of
//! `ClassificationPolicy::default()` (the grade's score is the engine's weighted RFM score plus the
//! key-account and executive bonuses; executives by title are recognised by exact title, which
//! is enough for the seeded titles). It writes every row, appends no history, keeps no reasons,
//! overrides or RFM details, and does not recompute the window sums (it trusts the stored
//! aggregates): it is the lower bound of "the same work done in the database". Before it runs,
//! the same CASE expressions are compared with what the server stored, as a cross-check.
//!
//! The ratio reported is the baseline's time over run 1's (1.0 would be as fast as the one
//! UPDATE; the goal is at least 0.5).
//!
//! N comes from `CRM_BENCH_CUSTOMERS` (default 100,000; 1,000,000 works).
//!
//! Run: `CRM_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p
//! crm-tests --bench reclassify` (or `make bench`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::TimeDelta;
use crm_domain::{classification::ClassificationPolicy, clock::Clock};
use crm_loadgen::reclassify;
use crm_tests::{Backend, TestApp, TestDatabase, pb};
use sea_orm::ConnectOptions;

const DEFAULT_CUSTOMERS: u64 = 100_000;
/// How far the clock moves before the third run.
const ADVANCE_DAYS: i64 = 200;
/// The server's batch size, for per-batch figures.
const BATCH: u64 = crm_domain::classification::service::BATCH_SIZE as u64;
/// GetCustomer calls per second of the latency probe.
const PROBE_RATE: u64 = 200;
/// How long the probe measures an idle server.
const PROBE_IDLE: Duration = Duration::from_secs(5);
/// Every this many seeded customers one is a probe target.
const PROBE_EVERY: usize = 97;
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

// ---------------------------------------------------------------------------------------------
// Memory

/// A field of `/proc/self/status` in KiB (0 when unreadable).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with(field))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

/// Samples the resident set size in a background thread until finished.
struct RssSampler {
    before: u64,
    hwm_reset: bool,
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

/// Resident memory around one run, in KiB.
#[derive(Clone, Copy)]
struct Memory {
    before: u64,
    peak: u64,
}

impl RssSampler {
    fn start() -> Self {
        let before = status_kib("VmRSS:");
        // "5" resets the peak RSS (VmHWM) to the current RSS (Linux ≥ 4.0); it clears nothing else.
        let hwm_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(before));
        let thread = std::thread::spawn({
            let (stop, peak) = (Arc::clone(&stop), Arc::clone(&peak));
            move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(status_kib("VmRSS:"), Ordering::Relaxed);
                    std::thread::sleep(SAMPLE_EVERY);
                }
            }
        });
        Self {
            before,
            hwm_reset,
            stop,
            peak,
            thread,
        }
    }

    fn finish(self) -> Memory {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("RSS sampler");
        let mut peak = self.peak.load(Ordering::Relaxed).max(status_kib("VmRSS:"));
        if self.hwm_reset {
            peak = peak.max(status_kib("VmHWM:"));
        }
        Memory {
            before: self.before,
            peak,
        }
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ---------------------------------------------------------------------------------------------
// Runs

/// What one timed `ReclassifyCustomers` did.
struct Run {
    elapsed: Duration,
    summary: pb::ReclassifySummary,
    memory: Memory,
    /// Time per batch of `BATCH` customers, from the gaps between progress messages.
    batch_times: Vec<Duration>,
}

async fn reclassify(app: &TestApp) -> Run {
    let sampler = RssSampler::start();
    let started = Instant::now();
    let mut stream = app
        .classification
        .clone()
        .reclassify_customers(pb::ReclassifyCustomersRequest {})
        .await
        .expect("ReclassifyCustomers")
        .into_inner();
    let (mut summary, mut batch_times) = (None, Vec::new());
    let (mut last_at, mut last_processed) = (started, 0i64);
    while let Some(message) = stream.message().await.expect("ReclassifyCustomers stream") {
        match message.event {
            Some(pb::reclassify_customers_response::Event::Progress(progress)) => {
                let now = Instant::now();
                let batches = u32::try_from((progress.processed - last_processed).max(0) as u64 / BATCH)
                    .unwrap_or(1)
                    .max(1);
                batch_times.extend(std::iter::repeat_n((now - last_at) / batches, batches as usize));
                (last_at, last_processed) = (now, progress.processed);
            }
            Some(pb::reclassify_customers_response::Event::Summary(done)) => summary = Some(done),
            None => {}
        }
    }
    let elapsed = started.elapsed();
    Run {
        elapsed,
        summary: summary.expect("the stream ends with a summary"),
        memory: sampler.finish(),
        batch_times,
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mean(durations: &[Duration]) -> Duration {
    if durations.is_empty() {
        return Duration::ZERO;
    }
    durations.iter().sum::<Duration>() / durations.len() as u32
}

fn print_header() {
    println!(
        "{:<10} {:<30} {:>9} {:>11} {:>9} {:>9} {:>31} {:>20}",
        "backend",
        "run",
        "elapsed",
        "customers/s",
        "changed",
        "history",
        "per batch p50/max, 1st→last 10%",
        "RSS +peak / peak",
    );
}

fn print_run(backend: Backend, label: &str, n: u64, run: &Run) {
    let mut sorted = run.batch_times.clone();
    sorted.sort_unstable();
    let (p50, max) = (
        sorted.get(sorted.len() / 2).copied().unwrap_or_default(),
        sorted.last().copied().unwrap_or_default(),
    );
    let tenth = (run.batch_times.len() / 10).max(1).min(run.batch_times.len());
    let (first, last) = (
        mean(&run.batch_times[..tenth]),
        mean(&run.batch_times[run.batch_times.len() - tenth..]),
    );
    println!(
        "{:<10} {:<30} {:>7.2} s {:>11.0} {:>9} {:>9} {:>31} {:>20}",
        format!("{backend:?}"),
        label,
        run.elapsed.as_secs_f64(),
        n as f64 / run.elapsed.as_secs_f64(),
        run.summary.changed,
        run.summary.history_entries,
        format!(
            "{:.0}/{:.0} ms, {:.0}→{:.0} ms",
            millis(p50),
            millis(max),
            millis(first),
            millis(last)
        ),
        format!(
            "+{:.1} / {:.1} MiB",
            mib(run.memory.peak.saturating_sub(run.memory.before)),
            mib(run.memory.peak)
        ),
    );
}

// ---------------------------------------------------------------------------------------------
// GetCustomer latency while a run goes on

/// The latencies of the probe's calls and how many failed (with their codes).
struct Probe {
    latencies: Vec<Duration>,
    failures: Vec<tonic::Code>,
}

impl Probe {
    fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        sorted
            .get(((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    }

    fn describe(&self) -> String {
        format!(
            "{} calls, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} failed{}",
            self.latencies.len() + self.failures.len(),
            millis(self.quantile(0.5)),
            millis(self.quantile(0.99)),
            millis(self.quantile(1.0)),
            self.failures.len(),
            if self.failures.is_empty() {
                String::new()
            } else {
                format!(" ({:?})", self.failures)
            }
        )
    }
}

/// Calls GetCustomer on `targets` in turn, `PROBE_RATE` times a second, until `stop` is set.
async fn probe(app: &TestApp, targets: &[String], stop: Arc<AtomicBool>) -> Probe {
    let mut client = app.customers.clone();
    let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / PROBE_RATE));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut result = Probe {
        latencies: Vec::new(),
        failures: Vec::new(),
    };
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        ticks.tick().await;
        let name = targets[i % targets.len()].clone();
        i += 1;
        let started = Instant::now();
        match client.get_customer(pb::GetCustomerRequest { name }).await {
            Ok(_) => result.latencies.push(started.elapsed()),
            Err(status) => result.failures.push(status.code()),
        }
    }
    result
}

/// The probe over `PROBE_IDLE` with nothing else going on.
async fn probe_idle(app: &TestApp, targets: &[String]) -> Probe {
    let stop = Arc::new(AtomicBool::new(false));
    let (probed, ()) = tokio::join!(probe(app, targets, Arc::clone(&stop)), async {
        tokio::time::sleep(PROBE_IDLE).await;
        stop.store(true, Ordering::Relaxed);
    });
    probed
}

/// A timed run with the probe going on throughout.
async fn reclassify_probed(app: &TestApp, targets: &[String]) -> (Run, Probe) {
    let stop = Arc::new(AtomicBool::new(false));
    let (run, probed) = tokio::join!(
        async {
            let run = reclassify(app).await;
            stop.store(true, Ordering::Relaxed);
            run
        },
        probe(app, targets, Arc::clone(&stop))
    );
    (run, probed)
}

// ---------------------------------------------------------------------------------------------

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: u64 = std::env::var("CRM_BENCH_CUSTOMERS")
        .ok()
        .map(|raw| raw.parse().expect("CRM_BENCH_CUSTOMERS is a number"))
        .unwrap_or(DEFAULT_CUSTOMERS);
    let policy = ClassificationPolicy::default();
    let mut results = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(database) = TestDatabase::create(backend).await else {
            continue;
        };
        // Migrates and bootstraps; the server stores the default policy as version 1.
        let app = TestApp::spawn_on(database, |_| {}).await;
        // `spawn_on` returns once the listener is bound, while the server may still be starting
        // (storing the default policy); seeding meanwhile can make its start fail on SQLite
        // ("database is locked"). An answered RPC means it has started.
        if let Err(status) = app
            .classification
            .clone()
            .get_policy(pb::GetPolicyRequest {
                name: "policies/active".into(),
            })
            .await
        {
            panic!("the server did not start ({status}): {:?}", app.stop().await);
        }
        let mut options = ConnectOptions::new(app.database.url().to_owned());
        options.max_connections(2).sqlx_logging(false);
        let db = sea_orm::Database::connect(options).await.expect("connect for seeding");

        let seeding = Instant::now();
        // Analyzed afterwards on PostgreSQL, as autovacuum would soon after a bulk load.
        let seeded = reclassify::seed(&db, n, app.clock.now(), policy.window_days)
            .await
            .expect("seeding");
        let bought = seeded.purchases;
        let targets: Vec<String> = seeded.names.into_iter().step_by(PROBE_EVERY).collect();
        println!(
            "\n{backend:?}: seeded {n} customers and {bought} purchases in {:.1} s (raw SQL)",
            seeding.elapsed().as_secs_f64()
        );
        print_header();

        let first = reclassify(&app).await;
        print_run(backend, "1 first run (classify all)", n, &first);
        let second = reclassify(&app).await;
        print_run(backend, "2 again (nothing changes)", n, &second);
        app.clock.advance(TimeDelta::days(ADVANCE_DAYS));
        let idle = probe_idle(&app, &targets).await;
        let (third, busy) = reclassify_probed(&app, &targets).await;
        print_run(backend, &format!("3 clock +{ADVANCE_DAYS} days, with Gets"), n, &third);
        let get_ratio = millis(busy.quantile(0.99)) / millis(idle.quantile(0.99));
        println!(
            "{backend:?}: GetCustomer at {PROBE_RATE}/s, idle:       {}",
            idle.describe()
        );
        println!(
            "{backend:?}: GetCustomer at {PROBE_RATE}/s, during run 3: {}",
            busy.describe()
        );
        println!("{backend:?}: Get p99 during a run / idle: {get_ratio:.2}x (goal at most 2x, no failures)");

        let rules = reclassify::set_based(&policy, app.clock.now());
        let differ = reclassify::disagreements(&db, &rules)
            .await
            .expect("compare with the set-based rules");
        let (elapsed, written) = reclassify::baseline(&db, &rules).await.expect("set-based UPDATE");
        println!(
            "{:<10} {:<30} {:>7.2} s {:>11.0} {:>9} {:>9}",
            format!("{backend:?}"),
            "baseline: one UPDATE … CASE",
            elapsed.as_secs_f64(),
            n as f64 / elapsed.as_secs_f64(),
            written,
            "-",
        );
        let ratio = elapsed.as_secs_f64() / first.elapsed.as_secs_f64();
        println!(
            "{backend:?}: ratio baseline / run 1 {ratio:.2} (goal at least 0.5); server rows vs. set-based rules, \
             differing per column: {}",
            differ
                .iter()
                .map(|(column, count)| format!("{column} {count}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        results.push((
            backend,
            first,
            second,
            third,
            elapsed,
            ratio,
            get_ratio,
            busy.failures.len(),
        ));

        db.close().await.ok();
        app.stop().await.unwrap();
    }

    println!("\nSummary, N = {n} customers, batches of {BATCH}:");
    println!(
        "{:<10} {:>10} {:>12} {:>12} {:>12} {:>12} {:>16} {:>16} {:>16}",
        "backend",
        "run 1",
        "run 1 c/s",
        "run 2 c/s",
        "run 3 c/s",
        "UPDATE c/s",
        "UPDATE / run 1",
        "Get p99 run/idle",
        "max RSS growth"
    );
    for (backend, first, second, third, baseline, ratio, get_ratio, get_failures) in &results {
        let rate = |d: Duration| n as f64 / d.as_secs_f64();
        let growth = [first, second, third]
            .iter()
            .map(|r| r.memory.peak.saturating_sub(r.memory.before))
            .max()
            .unwrap_or(0);
        println!(
            "{:<10} {:>8.2} s {:>12.0} {:>12.0} {:>12.0} {:>12.0} {:>16.2} {:>16} {:>12.1} MiB",
            format!("{backend:?}"),
            first.elapsed.as_secs_f64(),
            rate(first.elapsed),
            rate(second.elapsed),
            rate(third.elapsed),
            rate(*baseline),
            ratio,
            format!("{get_ratio:.2}x, {get_failures} failed"),
            mib(growth),
        );
    }
    println!(
        "\nRSS is this process's (sampled every {} ms, and VmHWM reset before each run): the server runs in-process, \
         so it is the server's memory growth during the run; PostgreSQL's own memory is not included.",
        SAMPLE_EVERY.as_millis()
    );
    println!(
        "The baseline writes every row in one statement, appends no history, keeps no reasons, overrides or RFM \
         details, and does not recompute window sums (it trusts the stored aggregates): the lower bound of \"the same \
         work done in the database\"."
    );
}
