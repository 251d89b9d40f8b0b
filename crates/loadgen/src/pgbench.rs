//! The database's own speed, measured by pgbench in the same run on the same PostgreSQL server and
//! database as crmd: a table `bench_customers` made `LIKE customers INCLUDING ALL` (same columns,
//! types, defaults and indexes) and filled with a copy of the N seeded customers, ids renumbered
//! `'1'`…`'N'` so that a script can pick one at random; then three custom scripts at the same
//! concurrency, with prepared statements:
//!
//! - point select: `SELECT * FROM bench_customers WHERE id = :id` (random id);
//! - one-row INSERT (a new UUID id each time);
//! - one-row UPDATE of `display_name`, `update_time`, `version` by random id;
//! - CreateCustomer's writes: what crmd's one statement for a Create writes, a full customer row
//!   (every column crmd sets, the classification text copied from a seeded customer) and its six
//!   classification history rows (into `bench_history`, made `LIKE classification_history
//!   INCLUDING ALL`), in one statement. Not a target's baseline: it shows how much of the one-row
//!   INSERT the database itself allows a Create, whatever crmd does around it.
//!
//! And the point select again at a fixed `--rate` of half its measured tps, with a per-transaction
//! log whose latencies give the p50/p90/p99 (pgbench itself prints only the mean and stddev).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, bail};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde::Serialize;

use crate::stats::quantile;

/// The table the scripts use.
pub const TABLE: &str = "bench_customers";
/// The history table of the CreateCustomer's-writes script.
pub const HISTORY_TABLE: &str = "bench_history";

/// One of the scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Script {
    /// Point select by random id.
    Select,
    /// One-row INSERT.
    Insert,
    /// One-row UPDATE by random id.
    Update,
    /// A full customer row and its six history rows in one statement (what a Create writes).
    CreateWrites,
}

impl Script {
    /// The file name of the script.
    fn file(self) -> &'static str {
        match self {
            Self::Select => "select.sql",
            Self::Insert => "insert.sql",
            Self::Update => "update.sql",
            Self::CreateWrites => "create-writes.sql",
        }
    }

    /// How the tables name it.
    pub fn title(self) -> &'static str {
        match self {
            Self::Select => "pgbench point select",
            Self::Insert => "pgbench one-row INSERT",
            Self::Update => "pgbench one-row UPDATE",
            Self::CreateWrites => "pgbench CreateCustomer's writes",
        }
    }

    /// The script's text for a table of `rows` rows.
    pub fn text(self, rows: u64) -> String {
        match self {
            Self::Select => format!("\\set id random(1, {rows})\nSELECT * FROM {TABLE} WHERE id = :id;\n"),
            Self::Insert => format!(
                "INSERT INTO {TABLE} (id, display_name, kind, owner, department, create_time, update_time, version) \
                 VALUES (CAST(gen_random_uuid() AS text), 'Loadgen Customer', 'ORGANIZATION', 'principals/rep-1', \
                 'sales', now(), now(), 1);\n"
            ),
            Self::Update => format!(
                "\\set id random(1, {rows})\nUPDATE {TABLE} SET display_name = 'Loadgen Customer updated', \
                 update_time = now(), version = version + 1 WHERE id = :id;\n"
            ),
            // `:classification` is bound (pgbench -D), as crmd binds it.
            Self::CreateWrites => format!(
                "WITH c AS (INSERT INTO {TABLE} (id, display_name, kind, contact_full_name, contact_job_title, \
                 contact_email, employee_count, region_country_code, needs, key_account, churned, owner, department, \
                 create_time, update_time, version, window_orders, window_revenue_micros, rank_tier, value_tier, \
                 lifecycle_stage, behaviour, size_segment, grade, score, policy_version, classification) \
                 VALUES (CAST(gen_random_uuid() AS text), 'Loadgen Customer', 'ORGANIZATION', 'Buyer 1', 'Buyer', \
                 'buyer1@example.com', 4358, 'US', 0, false, false, 'principals/rep-1', 'sales', now(), now(), 1, 0, 0, \
                 'FRONTLINE', 'NONE', 'POTENTIAL', 'NONE', 'ENTERPRISE', 'POTENTIAL', 0, 1, :classification) \
                 RETURNING id) \
                 INSERT INTO {HISTORY_TABLE} (id, customer_id, dimension, from_value, to_value, source, policy_version, \
                 actor, change_time) SELECT CAST(gen_random_uuid() AS text), c.id, d, NULL, 'NONE', 'RULE', 1, \
                 'principals/admin', now() FROM c, unnest(ARRAY['RANK_TIER', 'VALUE_TIER', 'LIFECYCLE_STAGE', \
                 'BEHAVIOUR', 'SIZE_SEGMENT', 'GRADE']) AS d;\n"
            ),
        }
    }
}

/// A closed-loop pgbench run.
#[derive(Debug, Clone, Serialize)]
pub struct PgbenchRun {
    /// Which script.
    pub script: Script,
    /// Transactions per second (without connection time).
    pub tps: f64,
    /// Transactions processed.
    pub transactions: u64,
    /// Failed transactions (PostgreSQL 15 and later report them).
    pub failed: u64,
    /// The mean latency pgbench printed, milliseconds.
    pub latency_average_ms: Option<f64>,
}

/// A fixed-rate pgbench run with its latency percentiles.
#[derive(Debug, Clone, Serialize)]
pub struct PgbenchRate {
    /// The rate asked for, transactions per second.
    pub target_rate: f64,
    /// The rate achieved.
    pub tps: f64,
    /// Transactions logged.
    pub transactions: u64,
    /// Transactions logged as skipped or failed.
    pub failed: u64,
    /// Median latency from the transaction's actual start, microseconds.
    pub p50_us: u64,
    /// 90th percentile, microseconds.
    pub p90_us: u64,
    /// 99th percentile from the actual start (as crmd's open loop measures), microseconds.
    pub p99_us: u64,
    /// 99th percentile from the scheduled start (pgbench's own definition under `--rate`, which
    /// includes its schedule lag), microseconds.
    pub p99_from_schedule_us: u64,
}

/// Runs pgbench against one database.
#[derive(Debug)]
pub struct Pgbench {
    binary: PathBuf,
    url: String,
    clients: usize,
    threads: usize,
    rows: u64,
    /// The classification text the CreateCustomer's-writes script binds.
    classification: String,
    dir: tempfile::TempDir,
}

impl Pgbench {
    /// Writes the scripts for a table of `rows` rows into a temporary directory.
    ///
    /// # Errors
    /// When the directory or a script cannot be written.
    pub fn new(binary: &Path, url: &str, clients: usize, rows: u64, classification: String) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("crm-loadgen-pgbench-")
            .tempdir()
            .context("creating a temporary directory for pgbench")?;
        for script in [Script::Select, Script::Insert, Script::Update, Script::CreateWrites] {
            std::fs::write(dir.path().join(script.file()), script.text(rows))
                .with_context(|| format!("writing {}", script.file()))?;
        }
        Ok(Self {
            binary: binary.to_owned(),
            url: url.to_owned(),
            clients: clients.max(1),
            // Two threads, as many as the machine the issue measured on has cores; never more
            // threads than clients.
            threads: clients.clamp(1, 2),
            rows,
            classification,
            dir,
        })
    }

    /// The rows the scripts pick from.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Runs `script` for `duration` as fast as it goes.
    ///
    /// # Errors
    /// When pgbench fails or prints no tps.
    pub async fn run(&self, script: Script, duration: Duration) -> anyhow::Result<PgbenchRun> {
        let output = self.pgbench(script, duration, &[]).await?;
        let tps = parse_tps(&output).with_context(|| format!("no tps in pgbench's output:\n{output}"))?;
        Ok(PgbenchRun {
            script,
            tps,
            transactions: parse_count(&output, "number of transactions actually processed:").unwrap_or(0),
            failed: parse_count(&output, "number of failed transactions:").unwrap_or(0),
            latency_average_ms: parse_latency_average(&output),
        })
    }

    /// Runs the point select at `rate` transactions per second for `duration`, logging every
    /// transaction, and computes the latency percentiles from the logs.
    ///
    /// # Errors
    /// When pgbench fails or its logs cannot be read.
    pub async fn run_at_rate(&self, rate: f64, duration: Duration) -> anyhow::Result<PgbenchRate> {
        let prefix = self.dir.path().join("rate");
        let rate_arg = format!("{:.0}", rate.max(1.0));
        let prefix_arg = prefix.display().to_string();
        let output = self
            .pgbench(
                Script::Select,
                duration,
                &["--rate", &rate_arg, "--log", "--log-prefix", &prefix_arg],
            )
            .await?;
        let tps = parse_tps(&output).with_context(|| format!("no tps in pgbench's output:\n{output}"))?;
        let mut service = Vec::new();
        let mut scheduled = Vec::new();
        let mut failed = 0u64;
        for entry in std::fs::read_dir(self.dir.path()).context("reading pgbench's log directory")? {
            let path = entry.context("reading pgbench's log directory")?.path();
            let is_log = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("rate."));
            if !is_log {
                continue;
            }
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            for line in text.lines() {
                match parse_log_line(line) {
                    Some(LogLine::Done { latency_us, lag_us }) => {
                        scheduled.push(latency_us);
                        service.push(latency_us.saturating_sub(lag_us));
                    }
                    Some(LogLine::NotDone) => failed += 1,
                    None => {}
                }
            }
        }
        if service.is_empty() {
            bail!("pgbench --log wrote no transactions:\n{output}");
        }
        Ok(PgbenchRate {
            target_rate: rate,
            tps,
            transactions: service.len() as u64,
            failed,
            p50_us: quantile(&mut service, 0.50).unwrap_or(0),
            p90_us: quantile(&mut service, 0.90).unwrap_or(0),
            p99_us: quantile(&mut service, 0.99).unwrap_or(0),
            p99_from_schedule_us: quantile(&mut scheduled, 0.99).unwrap_or(0),
        })
    }

    async fn pgbench(&self, script: Script, duration: Duration, extra: &[&str]) -> anyhow::Result<String> {
        let seconds = duration.as_secs_f64().ceil().max(1.0) as u64;
        let mut command = std::process::Command::new(&self.binary);
        command
            // No vacuum of pgbench's own tables (there are none); prepared statements, as sqlx
            // uses them too.
            .args(["--no-vacuum", "--protocol", "prepared"])
            .arg(format!("--client={}", self.clients))
            .arg(format!("--jobs={}", self.threads))
            .arg(format!("--time={seconds}"))
            .arg("--file")
            .arg(self.dir.path().join(script.file()))
            .arg("--define")
            .arg(format!("classification={}", self.classification))
            .args(extra)
            .arg(&self.url)
            .current_dir(self.dir.path());
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .context("waiting for pgbench")?
            .with_context(|| format!("running {} (--pgbench)", self.binary.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!(
                "pgbench {} failed ({}):\n{stdout}\n{}",
                script.file(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(stdout)
    }
}

/// Creates `bench_customers` like `customers` (columns, defaults, indexes) and fills it with a
/// copy of the first `rows` customers, ids renumbered `'1'`…; returns the rows copied.
///
/// # Errors
/// When a statement fails, or fewer than `rows` customers exist.
pub async fn prepare_table(db: &DatabaseConnection, rows: u64) -> anyhow::Result<u64> {
    db.execute_unprepared(&format!("DROP TABLE IF EXISTS {TABLE}")).await?;
    db.execute_unprepared(&format!("CREATE TABLE {TABLE} (LIKE customers INCLUDING ALL)"))
        .await
        .context("creating the pgbench table")?;
    let columns: Vec<String> = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT column_name::text AS name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'customers' ORDER BY ordinal_position",
        ))
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "name"))
        .collect::<Result<_, _>>()?;
    let select: Vec<String> = columns
        .iter()
        .map(|c| {
            if c == "id" {
                "CAST(row_number() OVER (ORDER BY id) AS text)".to_owned()
            } else {
                format!("\"{c}\"")
            }
        })
        .collect();
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let copied = db
        .execute_unprepared(&format!(
            "INSERT INTO {TABLE} ({}) SELECT {} FROM customers ORDER BY id LIMIT {rows}",
            quoted.join(", "),
            select.join(", ")
        ))
        .await
        .context("filling the pgbench table")?
        .rows_affected();
    if copied < rows {
        bail!("only {copied} customers to copy into {TABLE}, {rows} expected");
    }
    db.execute_unprepared(&format!("VACUUM ANALYZE {TABLE}")).await?;
    Ok(copied)
}

/// Creates `bench_history` like `classification_history` (columns, indexes) for the
/// CreateCustomer's-writes script; returns the classification text of a seeded customer for it
/// to bind.
///
/// # Errors
/// When a statement fails, or no customer has a classification.
pub async fn prepare_history_table(db: &DatabaseConnection) -> anyhow::Result<String> {
    db.execute_unprepared(&format!("DROP TABLE IF EXISTS {HISTORY_TABLE}"))
        .await?;
    db.execute_unprepared(&format!(
        "CREATE TABLE {HISTORY_TABLE} (LIKE classification_history INCLUDING ALL)"
    ))
    .await
    .context("creating the pgbench history table")?;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT classification FROM customers WHERE classification IS NOT NULL ORDER BY id LIMIT 1",
        ))
        .await?
        .context("no classified customer to copy the classification of")?;
    Ok(row.try_get::<String>("", "classification")?)
}

/// The tps pgbench printed (`tps = 32412.1 (without initial connection time)`; older versions
/// print `excluding connections establishing` as well, which is preferred).
pub fn parse_tps(output: &str) -> Option<f64> {
    let mut found = None;
    for line in output.lines() {
        let Some(rest) = line.trim().strip_prefix("tps = ") else {
            continue;
        };
        let value: Option<f64> = rest.split_whitespace().next().and_then(|v| v.parse().ok());
        if rest.contains("without initial connection time") || rest.contains("excluding connections") {
            return value;
        }
        found = found.or(value);
    }
    found
}

/// The number after `label` (e.g. `number of failed transactions: 0 (0.000%)`).
fn parse_count(output: &str, label: &str) -> Option<u64> {
    output
        .lines()
        .find_map(|line| line.trim().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// `latency average = 0.493 ms`.
fn parse_latency_average(output: &str) -> Option<f64> {
    output
        .lines()
        .find_map(|line| line.trim().strip_prefix("latency average ="))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// One line of a pgbench per-transaction log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLine {
    /// A completed transaction: latency from its scheduled start, and how late it started.
    Done {
        /// `time`, microseconds.
        latency_us: u64,
        /// `schedule_lag`, microseconds (0 without `--rate`).
        lag_us: u64,
    },
    /// A skipped (`--latency-limit`) or failed transaction.
    NotDone,
}

/// Parses `client_id transaction_no time script_no time_epoch time_us [schedule_lag]
/// [retries]`; `None` for anything else.
pub fn parse_log_line(line: &str) -> Option<LogLine> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 6 {
        return None;
    }
    match fields[2] {
        "skipped" | "failed" | "serialization" | "deadlock" | "other" => Some(LogLine::NotDone),
        time => Some(LogLine::Done {
            latency_us: time.parse().ok()?,
            lag_us: fields.get(6).and_then(|lag| lag.parse().ok()).unwrap_or(0),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pgbench 15.20's output, captured on this project's machine (`pgbench --no-vacuum
    /// --protocol prepared --client=4 --jobs=2 --time=1 --rate 500 --log … --file select.sql`).
    const OUTPUT_15: &str = "\
pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: select.sql
scaling factor: 1
query mode: prepared
number of clients: 4
number of threads: 2
maximum number of tries: 1
duration: 1 s
number of transactions actually processed: 469
number of failed transactions: 0 (0.000%)
latency average = 0.323 ms
latency stddev = 0.410 ms
rate limit schedule lag: avg 0.128 (max 2.773) ms
initial connection time = 17.475 ms
tps = 477.207977 (without initial connection time)
";

    /// pgbench 12's output, which printed tps twice.
    const OUTPUT_12: &str = "\
number of transactions actually processed: 1000
latency average = 1.000 ms
tps = 990.5 (including connections establishing)
tps = 1000.25 (excluding connections establishing)
";

    #[test]
    fn tps_and_counts_are_parsed_from_pgbench_output() {
        assert_eq!(parse_tps(OUTPUT_15), Some(477.207977));
        assert_eq!(
            parse_count(OUTPUT_15, "number of transactions actually processed:"),
            Some(469)
        );
        assert_eq!(parse_count(OUTPUT_15, "number of failed transactions:"), Some(0));
        assert_eq!(parse_latency_average(OUTPUT_15), Some(0.323));
        assert_eq!(parse_tps(OUTPUT_12), Some(1000.25));
        assert_eq!(parse_tps("pgbench: error: connection refused"), None);
    }

    #[test]
    fn log_lines_give_the_latency_and_the_schedule_lag() {
        // client_id transaction_no time script_no time_epoch time_us schedule_lag, as pgbench
        // 15.20 logged them under --rate on this project's machine.
        assert_eq!(
            parse_log_line("2 2 2149 0 1796525751 272995 2020"),
            Some(LogLine::Done {
                latency_us: 2149,
                lag_us: 2020
            })
        );
        assert_eq!(
            parse_log_line("0 1 480 0 1767225600 5"),
            Some(LogLine::Done {
                latency_us: 480,
                lag_us: 0
            })
        );
        assert_eq!(
            parse_log_line("3 1205 skipped 0 1767225600 123999 5000"),
            Some(LogLine::NotDone)
        );
        assert_eq!(parse_log_line(""), None);
        assert_eq!(parse_log_line("garbage line"), None);
    }

    #[test]
    fn the_scripts_use_the_table_and_the_row_count() {
        assert_eq!(
            Script::Select.text(10_000),
            "\\set id random(1, 10000)\nSELECT * FROM bench_customers WHERE id = :id;\n"
        );
        assert!(Script::Update.text(5).contains("random(1, 5)"));
        assert!(Script::Insert.text(5).contains("gen_random_uuid()"));
        let create = Script::CreateWrites.text(5);
        assert!(create.contains("INSERT INTO bench_customers") && create.contains("INSERT INTO bench_history"));
        assert!(create.contains(":classification"), "bound, as crmd binds it");
        assert_eq!(create.matches('\n').count(), 1, "pgbench reads one statement per line");
    }
}
