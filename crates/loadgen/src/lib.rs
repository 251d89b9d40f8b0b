//! `crm-loadgen`: the load benchmark of crmd (`make bench-load`), measured against what its
//! database and gRPC stack allow in the same run on the same machine.
//!
//! It starts the crmd under test as a child process (the release binary, as deployed) on fresh
//! databases it creates and removes, seeds them through gRPC, drives real calls over real
//! sockets, and runs pgbench on the same PostgreSQL as the baseline. Each measure reports
//! successful calls per second, p50/p90/p99 latency (HdrHistogram, microseconds), failed calls by
//! gRPC code, and crmd's CPU time per call; the tables print every ratio of issue 11.
//!
//! # Layout
//! - [`options`]: the command line (`Options`).
//! - [`run`]: one run start to end (`run::run`), and the `Report` it returns.
//! - [`crmd`]: crmd as a child process on port 0: readiness by its health service, its CPU time.
//! - [`database`]: scratch databases (PostgreSQL `crm_loadgen_<uuid>`, SQLite in a temp dir).
//! - [`seed`]: the seeded customers, the sales rep, and the deterministic generator.
//! - [`workload`]: one `Worker` per caller and kind of call; the closed and open loops.
//! - [`stats`]: per-worker `Recorder`s (HdrHistogram) merged into a `Summary`.
//! - [`pgbench`]: the pgbench table, scripts, runs and output/log parsing.
//! - [`reclassify`]: SQL seeding for batch re-classification, the timed run, the set-based
//!   baseline.
//! - [`report`]: the Markdown tables.
//! - [`client`]: the generated clients with a bearer-key interceptor.

pub mod client;
pub mod crmd;
pub mod database;
pub mod options;
pub mod pgbench;
pub mod reclassify;
pub mod report;
pub mod run;
pub mod seed;
pub mod stats;
pub mod workload;

pub use options::Options;
pub use run::{Report, run};
