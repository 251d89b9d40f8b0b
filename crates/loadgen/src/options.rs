//! The command line of `crm-loadgen`.

use std::{path::PathBuf, time::Duration};

use clap::Parser;

/// `crm-loadgen`: the load benchmark of crmd against its own database's speed (`make bench-load`).
///
/// Starts the crmd under test as a child process on a fresh PostgreSQL database (created on the
/// server of --postgres-url and dropped at the end) and on a fresh SQLite file, seeds customers
/// through gRPC, drives fixed-duration closed loops (and fixed-rate open loops) of GetCustomer,
/// BatchGetCustomers, ListCustomers, CreateCustomer, UpdateCustomer, CheckPermission and
/// grpc.health.v1 Check, runs pgbench on the same PostgreSQL as the baseline, and prints the
/// table of ratios (Markdown) and the detailed figures.
#[derive(Debug, Clone, Parser)]
#[command(name = "crm-loadgen", version)]
pub struct Options {
    /// The crmd binary under test.
    #[arg(long, default_value = "target/release/crmd")]
    pub crmd: PathBuf,
    /// A second crmd binary (e.g. the build from before a change) measured in the same run,
    /// interleaved measure by measure with --crmd; the tables then show before → after.
    #[arg(long)]
    pub compare_crmd: Option<PathBuf>,
    /// The PostgreSQL server to create the scratch databases on (the URL's database is only
    /// used to connect; pgbench connects to the scratch database with the same credentials).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres_url: String,
    /// Customers seeded through gRPC into each crmd before measuring.
    #[arg(long, default_value_t = 10_000)]
    pub customers: u64,
    /// How long each measure runs (after a warm-up of a tenth of it, at most 1 s), e.g. `10s`,
    /// `500ms`.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Calls in flight in the closed loops, and pgbench's clients.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// HTTP/2 connections the calls are spread over.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Customers (with purchases) seeded by SQL for the batch re-classification row and the
    /// GetCustomer-during-a-batch row; 0 skips both.
    #[arg(long, default_value_t = 0)]
    pub reclassify_customers: u64,
    /// The pgbench binary.
    #[arg(long, default_value = "pgbench")]
    pub pgbench: PathBuf,
    /// Do not run pgbench (the baseline columns stay empty).
    #[arg(long)]
    pub skip_pgbench: bool,
    /// Measure on SQLite only (no PostgreSQL server needed, no pgbench): every measure runs on
    /// the SQLite crmd.
    #[arg(long)]
    pub sqlite_only: bool,
    /// Also write the raw figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// An extra flag for every crmd started, e.g. `--crmd-arg=--db-max-connections=20`
    /// (repeatable).
    #[arg(long = "crmd-arg", allow_hyphen_values = true)]
    pub crmd_args: Vec<String>,
    /// A hot standby (streaming replication) of the --postgres-url server: GetCustomer is also
    /// measured on a second crmd of each binary, on the same scratch database, that reads from it
    /// (`--read-database-url`, with the scratch database's name), against the primary alone in the
    /// same run (the `get-read-replica` row).
    #[arg(long)]
    pub read_database_url: Option<String>,
    /// Run only these measures (comma-separated, e.g. `--only get,check`), to profile one RPC;
    /// the rows of the others stay empty. `get-half-load` is the open loop at half of `get`'s
    /// rate; the batch rows (`get-before-batch`, `get-during-batch`) follow
    /// `--reclassify-customers` instead. SQLite is started only when list, create or update runs.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub only: Vec<crate::workload::Measure>,
}

impl Options {
    /// The uncounted warm-up before each measure: a tenth of it, at most one second.
    pub fn warmup(&self) -> Duration {
        (self.duration / 10).min(Duration::from_secs(1))
    }

    /// Whether pgbench runs.
    pub fn runs_pgbench(&self) -> bool {
        !self.sqlite_only && !self.skip_pgbench
    }

    /// Whether `measure` runs (every one, unless `--only` names some).
    pub fn runs(&self, measure: crate::workload::Measure) -> bool {
        self.only.is_empty() || self.only.contains(&measure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_issue_s_setup() {
        let options = Options::parse_from(["crm-loadgen"]);
        assert_eq!(options.crmd, PathBuf::from("target/release/crmd"));
        assert_eq!(options.customers, 10_000);
        assert_eq!(options.duration, Duration::from_secs(10));
        assert_eq!(options.concurrency, 16);
        assert_eq!(options.reclassify_customers, 0);
        assert_eq!(options.warmup(), Duration::from_secs(1));
        assert!(options.runs_pgbench());
    }

    #[test]
    fn durations_and_crmd_flags_parse() {
        let options = Options::parse_from([
            "crm-loadgen",
            "--duration",
            "300ms",
            "--crmd-arg=--db-max-connections=20",
            "--crmd-arg",
            "--log=warn",
            "--sqlite-only",
        ]);
        assert_eq!(options.duration, Duration::from_millis(300));
        assert_eq!(options.warmup(), Duration::from_millis(30));
        assert_eq!(options.crmd_args, ["--db-max-connections=20", "--log=warn"]);
        assert!(!options.runs_pgbench());
    }
}
