//! One benchmark run, start to end: [`run`].
//!
//! 1. For each binary (`--crmd`, and `--compare-crmd` first when given), a crmd on a fresh
//!    PostgreSQL database and one on a fresh SQLite file, each seeded with the same N customers
//!    through gRPC, plus the sales rep.
//! 2. pgbench on the first PostgreSQL database (copy of the seeded table; point select, INSERT,
//!    UPDATE, then the point select at half its tps).
//! 3. The measures, each on every binary in turn before the next measure (interleaved, so a
//!    change in the machine's load hits both alike): Health, Get, BatchGet, List, Check on
//!    PostgreSQL; Get at half load; Create, Update; then List, Create, Update on SQLite.
//! 4. With `--reclassify-customers N`: per binary, a fresh database seeded by SQL, a timed
//!    ReclassifyCustomers alone, Get at half load idle and then during a second run that writes
//!    every customer again, and the set-based UPDATE baseline.
//!
//! With `--sqlite-only` everything of 1, 3 and 4 runs on SQLite and pgbench is skipped.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use chrono::Utc;
use crm_domain::classification::ClassificationPolicy;
use sea_orm::ConnectionTrait as _;
use serde::Serialize;
use tonic_health::pb::health_client::HealthClient;

use crate::{
    client::{self, Bearer},
    crmd::{CrmdConfig, CrmdProcess},
    database::{self, Backend, ScratchDatabase},
    options::Options,
    pgbench::{self, Pgbench, PgbenchRate, PgbenchRun, Script},
    reclassify,
    seed::{self, Rng},
    stats::Summary,
    workload::{self, CREATE_BASE, Measure, Measured, Worker},
};

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was run.
    pub settings: Settings,
    /// The pgbench baseline, unless skipped.
    pub pgbench: Option<PgbenchFigures>,
    /// One per crmd binary, in the order measured (`before` first when comparing).
    pub sides: Vec<SideReport>,
}

/// The settings of the run, for the record.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Customers seeded through gRPC per crmd.
    pub customers: u64,
    /// Seconds per measure.
    pub duration_secs: f64,
    /// Seconds of warm-up before each measure.
    pub warmup_secs: f64,
    /// Closed-loop concurrency (and pgbench clients).
    pub concurrency: usize,
    /// HTTP/2 connections per crmd.
    pub connections: usize,
    /// Customers seeded by SQL for the re-classification rows (0: skipped).
    pub reclassify_customers: u64,
    /// The backend the main measures ran on.
    pub backend: Backend,
    /// How two binaries were ordered.
    pub order: String,
    /// Extra flags given to crmd.
    pub crmd_args: Vec<String>,
}

/// The pgbench figures.
#[derive(Debug, Clone, Serialize)]
pub struct PgbenchFigures {
    /// Rows in `bench_customers` (the seeded customers).
    pub rows: u64,
    /// Point select by random id.
    pub select: PgbenchRun,
    /// One-row INSERT.
    pub insert: PgbenchRun,
    /// One-row UPDATE by random id.
    pub update: PgbenchRun,
    /// What a CreateCustomer writes (a full customer row and six history rows), in one statement:
    /// the most of `insert` the database allows a Create.
    pub create_writes: PgbenchRun,
    /// The point select at half its tps, with percentiles.
    pub select_at_half_rate: PgbenchRate,
}

/// How a measure drove the calls.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Closed loop at this concurrency.
    Closed {
        /// Calls in flight.
        concurrency: usize,
    },
    /// Open loop at this rate (calls per second).
    Open {
        /// Calls dispatched per second.
        rate: f64,
    },
}

/// One measure on one crmd.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// What.
    pub measure: Measure,
    /// On which database.
    pub backend: Backend,
    /// How.
    pub mode: Mode,
    /// The figures.
    #[serde(flatten)]
    pub summary: Summary,
    /// crmd's CPU time (user + system) per successful call, microseconds.
    pub crmd_cpu_us_per_call: Option<f64>,
    /// Open loop: the latest a call was dispatched after its due time, microseconds.
    pub dispatch_lag_max_us: Option<u64>,
}

impl Measurement {
    fn new(measure: Measure, backend: Backend, mode: Mode, measured: &Measured) -> Self {
        let summary = measured.recorder.summary(measured.seconds);
        let crmd_cpu_us_per_call = measured
            .crmd_cpu
            .filter(|_| summary.ok > 0)
            .map(|cpu| cpu.as_secs_f64() * 1e6 / summary.ok as f64);
        Self {
            measure,
            backend,
            mode,
            summary,
            crmd_cpu_us_per_call,
            dispatch_lag_max_us: measured
                .dispatch_lag_max
                .map(|lag| u64::try_from(lag.as_micros()).unwrap_or(u64::MAX)),
        }
    }
}

/// Batch re-classification on one crmd.
#[derive(Debug, Clone, Serialize)]
pub struct ReclassifyReport {
    /// On which database.
    pub backend: Backend,
    /// Customers seeded by SQL.
    pub customers: u64,
    /// Their purchases.
    pub purchases: u64,
    /// Seconds the SQL seeding took.
    pub seed_secs: f64,
    /// Seconds of the first ReclassifyCustomers (alone), from the request to the summary.
    pub run_secs: f64,
    /// Customers it processed.
    pub processed: i64,
    /// Customers it rewrote.
    pub changed: i64,
    /// History entries it appended.
    pub history_entries: i64,
    /// Seconds of the second run (every customer reset to unclassified first), during which
    /// GetCustomer ran at half load.
    pub loaded_run_secs: f64,
    /// Customers the second run rewrote.
    pub loaded_run_changed: i64,
    /// Seconds of the set-based `UPDATE … CASE`.
    pub baseline_secs: f64,
    /// Rows it wrote.
    pub baseline_rows: u64,
}

/// Everything measured on one crmd binary.
#[derive(Debug, Clone, Serialize)]
pub struct SideReport {
    /// `crmd`, or `before`/`after` when comparing.
    pub label: String,
    /// The binary.
    pub binary: String,
    /// Every measure, in the order run.
    pub measurements: Vec<Measurement>,
    /// Batch re-classification, when run.
    pub reclassify: Option<ReclassifyReport>,
}

impl SideReport {
    /// The measurement of `measure` on `backend`, if it ran.
    pub fn find(&self, measure: Measure, backend: Backend) -> Option<&Measurement> {
        self.measurements
            .iter()
            .find(|m| m.measure == measure && m.backend == backend)
    }
}

/// A seeded crmd on its own scratch database.
#[derive(Debug)]
struct Env {
    backend: Backend,
    // Field order matters: the process stops before its database is dropped.
    crmd: CrmdProcess,
    database: ScratchDatabase,
    admin: Bearer,
    rep: Bearer,
    seeded: Vec<seed::SeededCustomer>,
    names: Arc<[String]>,
    in_rep_department: Arc<[String]>,
}

impl Env {
    /// Starts `binary` on a fresh database of `backend` and seeds it.
    async fn start(label: &str, binary: &std::path::Path, backend: Backend, options: &Options) -> anyhow::Result<Self> {
        let database = match backend {
            Backend::Postgres => ScratchDatabase::postgres(&options.postgres_url).await?,
            Backend::Sqlite => ScratchDatabase::sqlite()?,
        };
        let crmd = CrmdProcess::start(&CrmdConfig {
            binary: binary.to_owned(),
            database_url: database.url().to_owned(),
            extra_args: options.crmd_args.clone(),
            connections: options.connections,
            admin_key: None,
        })
        .await
        .with_context(|| format!("starting {} on {}", binary.display(), backend.title()))?;
        let admin = Bearer::new(&crmd.admin_key)?;
        let rep_key = seed::add_rep(&client::access(&crmd.channels[0], &admin)).await?;
        let rep = Bearer::new(&rep_key)?;
        let clients: Vec<_> = crmd.channels.iter().map(|c| client::customers(c, &admin)).collect();
        let started = Instant::now();
        let seeded = seed::seed_customers(&clients, options.customers, options.concurrency)
            .await
            .with_context(|| format!("seeding {}", backend.title()))?;
        if backend == Backend::Postgres {
            // As pgbench's table gets (and as autovacuum would do within a minute or so): without
            // statistics PostgreSQL plans the filtered List blind (a bitmap scan of a whole
            // department and a sort instead of walking the name index: 316 ms against 1.1 ms for one page,
            // measured under the List load), which no deployment runs for long.
            let db = database::connect(database.url(), 1).await?;
            db.execute_unprepared("VACUUM ANALYZE")
                .await
                .context("VACUUM ANALYZE after seeding")?;
            db.close().await?;
        }
        eprintln!(
            "[{label}] {}: crmd at {}, seeded {} customers through gRPC in {:.1} s",
            backend.title(),
            crmd.addr,
            seeded.len(),
            started.elapsed().as_secs_f64()
        );
        let names: Arc<[String]> = seeded.iter().map(|c| c.name.clone()).collect();
        let in_rep_department: Arc<[String]> = seeded
            .iter()
            .filter(|c| c.department == seed::REP_DEPARTMENT)
            .map(|c| c.name.clone())
            .collect();
        Ok(Self {
            backend,
            crmd,
            database,
            admin,
            rep,
            seeded,
            names,
            in_rep_department,
        })
    }

    /// The workers of a closed-loop `measure`.
    fn workers(&self, measure: Measure, concurrency: usize) -> Vec<Worker> {
        let channels = &self.crmd.channels;
        let channel = |w: usize| &channels[w % channels.len()];
        let seed = |w: usize| Rng::new(0xC0FFEE ^ ((w as u64) << 16));
        match measure {
            Measure::Health => (0..concurrency)
                .map(|w| Worker::Health(HealthClient::new(channel(w).clone())))
                .collect(),
            Measure::Get
            | Measure::GetHalfLoad
            | Measure::GetBeforeBatch
            | Measure::GetDuringBatch
            | Measure::GetReadReplica => (0..concurrency)
                .map(|w| Worker::Get {
                    client: client::customers(channel(w), &self.admin),
                    names: Arc::clone(&self.names),
                    rng: seed(w),
                })
                .collect(),
            Measure::BatchGet => (0..concurrency)
                .map(|w| Worker::BatchGet {
                    client: client::customers(channel(w), &self.admin),
                    names: Arc::clone(&self.names),
                    rng: seed(w),
                })
                .collect(),
            Measure::List => (0..concurrency)
                .map(|w| Worker::List {
                    client: client::customers(channel(w), &self.admin),
                })
                .collect(),
            Measure::Check => (0..concurrency)
                .map(|w| Worker::Check {
                    client: client::access(channel(w), &self.rep),
                    customers: Arc::clone(&self.in_rep_department),
                    rng: seed(w),
                })
                .collect(),
            Measure::Create => (0..concurrency)
                .map(|w| Worker::Create {
                    client: client::customers(channel(w), &self.admin),
                    next: CREATE_BASE + w as u64,
                    step: concurrency as u64,
                })
                .collect(),
            // Each worker updates only its own customers: no etag mismatches by construction.
            // With fewer customers than workers, only as many workers as customers.
            Measure::Update => (0..concurrency.min(self.seeded.len()))
                .map(|w| Worker::Update {
                    client: client::customers(channel(w), &self.admin),
                    own: self
                        .seeded
                        .iter()
                        .skip(w)
                        .step_by(concurrency)
                        .map(|c| (c.name.clone(), c.etag.clone()))
                        .collect(),
                    calls: 0,
                })
                .collect(),
        }
    }

    /// GetCustomer in a closed loop on a second crmd on this database that reads from the standby
    /// at `standby_url` (the same database on the standby), started for it and stopped after.
    async fn get_on_read_replica(
        &self,
        label: &str,
        binary: &std::path::Path,
        standby_url: &str,
        options: &Options,
    ) -> anyhow::Result<Measurement> {
        let name = self
            .database
            .name()
            .context("read replicas need the PostgreSQL database")?;
        let mut extra_args = options.crmd_args.clone();
        extra_args.push("--read-database-url".to_owned());
        extra_args.push(crate::database::with_database(standby_url, name));
        let replica = CrmdProcess::start(&CrmdConfig {
            binary: binary.to_owned(),
            database_url: self.database.url().to_owned(),
            extra_args,
            connections: options.connections,
            admin_key: Some(self.crmd.admin_key.clone()),
        })
        .await
        .with_context(|| format!("starting {} with a read replica", binary.display()))?;
        // Measured only once the standby serves: else the row would measure the primary.
        replica
            .wait_for_log("read database caught up: serving reads", Duration::from_secs(30))
            .await?;
        let channels = &replica.channels;
        let workers = (0..options.concurrency)
            .map(|w| Worker::Get {
                client: client::customers(&channels[w % channels.len()], &self.admin),
                names: Arc::clone(&self.names),
                rng: Rng::new(0xC0FFEE ^ ((w as u64) << 16)),
            })
            .collect::<Vec<_>>();
        let concurrency = workers.len();
        let measured = workload::closed_loop(workers, options.warmup(), options.duration, &replica).await;
        if replica.logged("read database behind or unreachable") {
            bail!(
                "the read database stopped serving during the measure:\n{}",
                replica.log_tail()
            );
        }
        let measurement = Measurement::new(
            Measure::GetReadReplica,
            self.backend,
            Mode::Closed { concurrency },
            &measured,
        );
        progress(label, &measurement);
        replica.stop().await?;
        Ok(measurement)
    }

    /// Runs `measure` in a closed loop.
    async fn closed(&self, label: &str, measure: Measure, options: &Options) -> Measurement {
        let workers = self.workers(measure, options.concurrency);
        let concurrency = workers.len();
        let measured = workload::closed_loop(workers, options.warmup(), options.duration, &self.crmd).await;
        let measurement = Measurement::new(measure, self.backend, Mode::Closed { concurrency }, &measured);
        progress(label, &measurement);
        measurement
    }

    /// Runs GetCustomer in an open loop at `rate` for the measure's duration.
    async fn get_at_rate(&self, label: &str, measure: Measure, rate: f64, options: &Options) -> Measurement {
        let stop = tokio::time::sleep(options.warmup() + options.duration);
        let clients = self
            .crmd
            .channels
            .iter()
            .map(|c| client::customers(c, &self.admin))
            .collect();
        let make = get_maker(clients, Arc::clone(&self.names));
        let measured = workload::open_loop(rate, options.warmup(), stop, &self.crmd, make).await;
        let measurement = Measurement::new(measure, self.backend, Mode::Open { rate }, &measured);
        progress(label, &measurement);
        measurement
    }

    /// Stops crmd, then drops the database.
    async fn stop(self) -> anyhow::Result<()> {
        let Self { crmd, database, .. } = self;
        let stopped = crmd.stop().await;
        drop(database);
        stopped
    }
}

/// A maker of one-call GetCustomer workers over `clients` (one per connection) and `names`.
fn get_maker(clients: Vec<client::CustomersClient>, names: Arc<[String]>) -> impl FnMut(u64) -> Worker {
    move |k| Worker::Get {
        client: clients[k as usize % clients.len()].clone(),
        names: Arc::clone(&names),
        rng: Rng::new(k.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
    }
}

fn progress(label: &str, m: &Measurement) {
    let how = match m.mode {
        Mode::Closed { concurrency } => format!("closed loop × {concurrency}"),
        Mode::Open { rate } => format!("open loop at {rate:.0}/s"),
    };
    eprintln!(
        "[{label}] {} {} ({how}): {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {}",
        m.backend.title(),
        m.measure.title(),
        m.summary.rate,
        m.summary.p50_us as f64 / 1e3,
        m.summary.p99_us as f64 / 1e3,
        m.summary.errors_text()
    );
}

/// One crmd binary and its environments.
struct Side {
    label: String,
    binary: std::path::PathBuf,
    primary: Env,
    sqlite: Option<Env>,
    measurements: Vec<Measurement>,
}

/// Runs the whole benchmark (see the module documentation).
///
/// # Errors
/// When a crmd cannot be started or seeded, a database cannot be created, or pgbench fails.
/// Failed calls during a measure are not errors: they are counted in its figures.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let binaries: Vec<(&str, &std::path::Path)> = match &options.compare_crmd {
        Some(before) => vec![("before", before.as_path()), ("after", options.crmd.as_path())],
        None => vec![("crmd", options.crmd.as_path())],
    };
    let primary_backend = if options.sqlite_only {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };

    let mut sides = Vec::new();
    for (label, binary) in &binaries {
        let primary = Env::start(label, binary, primary_backend, options).await?;
        let sqlite_measured = [Measure::List, Measure::Create, Measure::Update]
            .into_iter()
            .any(|m| options.runs(m));
        let sqlite = if options.sqlite_only || !sqlite_measured {
            None
        } else {
            Some(Env::start(label, binary, Backend::Sqlite, options).await?)
        };
        sides.push(Side {
            label: (*label).to_owned(),
            binary: binary.to_path_buf(),
            primary,
            sqlite,
            measurements: Vec::new(),
        });
    }

    let pgbench = if options.runs_pgbench() {
        Some(run_pgbench(&sides[0].primary, options).await?)
    } else {
        None
    };

    for measure in [
        Measure::Health,
        Measure::Get,
        Measure::BatchGet,
        Measure::List,
        Measure::Check,
    ] {
        if !options.runs(measure) {
            continue;
        }
        for side in &mut sides {
            let m = side.primary.closed(&side.label, measure, options).await;
            side.measurements.push(m);
        }
    }
    if let Some(standby) = &options.read_database_url
        && options.runs(Measure::GetReadReplica)
        && primary_backend == Backend::Postgres
    {
        for side in &mut sides {
            let m = side
                .primary
                .get_on_read_replica(&side.label, &side.binary, standby, options)
                .await?;
            side.measurements.push(m);
        }
    }
    if options.runs(Measure::GetHalfLoad) {
        for side in &mut sides {
            let rate = half_get_rate(&side.measurements);
            let m = side
                .primary
                .get_at_rate(&side.label, Measure::GetHalfLoad, rate, options)
                .await;
            side.measurements.push(m);
        }
    }
    for measure in [Measure::Create, Measure::Update] {
        if !options.runs(measure) {
            continue;
        }
        for side in &mut sides {
            let m = side.primary.closed(&side.label, measure, options).await;
            side.measurements.push(m);
        }
    }
    for measure in [Measure::List, Measure::Create, Measure::Update] {
        if !options.runs(measure) {
            continue;
        }
        for side in &mut sides {
            if let Some(sqlite) = &side.sqlite {
                let m = sqlite.closed(&side.label, measure, options).await;
                side.measurements.push(m);
            }
        }
    }

    let mut reports = Vec::new();
    for side in sides {
        let Side {
            label,
            binary,
            primary,
            sqlite,
            measurements,
        } = side;
        primary.stop().await?;
        if let Some(sqlite) = sqlite {
            sqlite.stop().await?;
        }
        reports.push(SideReport {
            label,
            binary: binary.display().to_string(),
            measurements,
            reclassify: None,
        });
    }

    if options.reclassify_customers > 0 {
        for report in &mut reports {
            let rate = half_get_rate(&report.measurements);
            let binary = std::path::PathBuf::from(&report.binary);
            let (reclassify, idle, during) =
                reclassify_side(&report.label, &binary, primary_backend, rate, options).await?;
            report.reclassify = Some(reclassify);
            report.measurements.push(idle);
            report.measurements.push(during);
        }
    }

    Ok(Report {
        settings: Settings {
            customers: options.customers,
            duration_secs: options.duration.as_secs_f64(),
            warmup_secs: options.warmup().as_secs_f64(),
            concurrency: options.concurrency,
            connections: options.connections,
            reclassify_customers: options.reclassify_customers,
            backend: primary_backend,
            order: if binaries.len() > 1 {
                "interleaved: every measure runs on `before`, then at once on `after`, before the next measure"
                    .to_owned()
            } else {
                "one binary".to_owned()
            },
            crmd_args: options.crmd_args.clone(),
        },
        pgbench,
        sides: reports,
    })
}

/// Half the closed-loop GetCustomer rate of these measurements (at least 1/s).
fn half_get_rate(measurements: &[Measurement]) -> f64 {
    measurements
        .iter()
        .find(|m| m.measure == Measure::Get)
        .map_or(1.0, |m| (m.summary.rate / 2.0).max(1.0))
}

/// pgbench on `env`'s PostgreSQL database: the tables, the four scripts, the point select at
/// half its tps.
async fn run_pgbench(env: &Env, options: &Options) -> anyhow::Result<PgbenchFigures> {
    let db = database::connect(env.database.url(), 1).await?;
    let rows = pgbench::prepare_table(&db, env.seeded.len() as u64).await?;
    let classification = pgbench::prepare_history_table(&db).await?;
    db.close().await.ok();
    let bench = Pgbench::new(
        &options.pgbench,
        env.database.url(),
        options.concurrency,
        rows,
        classification,
    )?;
    let mut runs = Vec::new();
    for script in [Script::Select, Script::Insert, Script::Update, Script::CreateWrites] {
        let run = bench.run(script, options.duration).await?;
        eprintln!(
            "[pgbench] {}: {:.0} tps, latency average {} ms, failed {}",
            script.title(),
            run.tps,
            run.latency_average_ms.map_or("?".to_owned(), |ms| format!("{ms:.3}")),
            run.failed
        );
        runs.push(run);
    }
    let rate = (runs[0].tps / 2.0).max(1.0);
    let at_rate = bench.run_at_rate(rate, options.duration).await?;
    eprintln!(
        "[pgbench] point select at {rate:.0}/s: p50 {:.2} ms, p99 {:.2} ms ({:.2} ms from the scheduled start)",
        at_rate.p50_us as f64 / 1e3,
        at_rate.p99_us as f64 / 1e3,
        at_rate.p99_from_schedule_us as f64 / 1e3
    );
    let mut runs = runs.into_iter();
    let (Some(select), Some(insert), Some(update), Some(create_writes)) =
        (runs.next(), runs.next(), runs.next(), runs.next())
    else {
        bail!("pgbench: four runs expected");
    };
    Ok(PgbenchFigures {
        rows: bench.rows(),
        select,
        insert,
        update,
        create_writes,
        select_at_half_rate: at_rate,
    })
}

/// The re-classification rows for one binary: a fresh crmd and database seeded by SQL, a timed
/// run alone, GetCustomer at `rate` idle and then during a second run, the set-based baseline.
async fn reclassify_side(
    label: &str,
    binary: &std::path::Path,
    backend: Backend,
    rate: f64,
    options: &Options,
) -> anyhow::Result<(ReclassifyReport, Measurement, Measurement)> {
    let database = match backend {
        Backend::Postgres => ScratchDatabase::postgres(&options.postgres_url).await?,
        Backend::Sqlite => ScratchDatabase::sqlite()?,
    };
    let crmd = CrmdProcess::start(&CrmdConfig {
        binary: binary.to_owned(),
        database_url: database.url().to_owned(),
        extra_args: options.crmd_args.clone(),
        connections: options.connections,
        admin_key: None,
    })
    .await
    .with_context(|| format!("starting {} for re-classification", binary.display()))?;
    let admin = Bearer::new(&crmd.admin_key)?;
    let db = database::connect(database.url(), 2).await?;
    let policy = ClassificationPolicy::default();

    let started = Instant::now();
    let seeded = reclassify::seed(&db, options.reclassify_customers, Utc::now(), policy.window_days).await?;
    let seed_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "[{label}] {}: seeded {} customers and {} purchases by SQL in {seed_secs:.1} s",
        backend.title(),
        seeded.names.len(),
        seeded.purchases
    );
    let classification = client::classification(&crmd.channels[0], &admin);
    let alone = reclassify::run_batch(&classification).await?;
    eprintln!(
        "[{label}] {}: ReclassifyCustomers of {} customers in {:.2} s ({} changed)",
        backend.title(),
        alone.summary.processed,
        alone.elapsed.as_secs_f64(),
        alone.summary.changed
    );

    reclassify::reset(&db).await?;
    let env_names: Arc<[String]> = seeded.names.iter().cloned().collect();
    let clients: Vec<_> = crmd.channels.iter().map(|c| client::customers(c, &admin)).collect();
    let idle = workload::open_loop(
        rate,
        options.warmup(),
        tokio::time::sleep(options.warmup() + options.duration),
        &crmd,
        get_maker(clients.clone(), Arc::clone(&env_names)),
    )
    .await;
    let idle = Measurement::new(Measure::GetBeforeBatch, backend, Mode::Open { rate }, &idle);
    progress(label, &idle);

    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let batch = tokio::spawn(async move {
        let run = reclassify::run_batch(&classification).await;
        let _ = done_tx.send(());
        run
    });
    let during = workload::open_loop(
        rate,
        Duration::ZERO,
        async {
            let _ = done_rx.await;
        },
        &crmd,
        get_maker(clients, env_names),
    )
    .await;
    let loaded = batch.await.context("the re-classification task")??;
    let during = Measurement::new(Measure::GetDuringBatch, backend, Mode::Open { rate }, &during);
    progress(label, &during);
    eprintln!(
        "[{label}] {}: ReclassifyCustomers under GetCustomer load in {:.2} s ({} changed)",
        backend.title(),
        loaded.elapsed.as_secs_f64(),
        loaded.summary.changed
    );

    let rules = reclassify::set_based(&policy, Utc::now());
    let (baseline, baseline_rows) = reclassify::baseline(&db, &rules).await?;
    eprintln!(
        "[{label}] {}: set-based UPDATE … CASE of {baseline_rows} rows in {:.2} s",
        backend.title(),
        baseline.as_secs_f64()
    );
    db.close().await.ok();
    crmd.stop().await?;
    drop(database);
    Ok((
        ReclassifyReport {
            backend,
            customers: options.reclassify_customers,
            purchases: seeded.purchases,
            seed_secs,
            run_secs: alone.elapsed.as_secs_f64(),
            processed: alone.summary.processed,
            changed: alone.summary.changed,
            history_entries: alone.summary.history_entries,
            loaded_run_secs: loaded.elapsed.as_secs_f64(),
            loaded_run_changed: loaded.summary.changed,
            baseline_secs: baseline.as_secs_f64(),
            baseline_rows,
        },
        idle,
        during,
    ))
}
