//! `crmctl customers import` throughput and memory, on SQLite and (when `CRM_TEST_POSTGRES_URL`
//! is set) PostgreSQL: a generated CSV of N customers (default 100,000; `CRM_BENCH_IMPORT_ROWS`
//! changes it) imported by the real release `crmctl` binary as a child process into the real
//! server (in this process, on port 0, with a fresh database).
//!
//! Memory: the child's `VmHWM` (peak resident set) is read from `/proc/<pid>/status` every 10 ms
//! while it runs; the last reading before it exits is reported. It shows whether the CLI holds
//! the file in memory (it should not: rows stream through a bounded channel).
//!
//! The baseline, measured in the same run into another fresh database, creates the same rows
//! with a plain in-process tonic client at the same concurrency (`buffer_unordered(16)` over
//! requests built on the fly, each with a request id like the CLI's): the ratio says what the
//! CLI costs on top of the RPCs themselves (reading and validating the CSV, a process, its own
//! connection).
//!
//! Run: `cargo build --release -p crm-cli --bin crmctl && CRM_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres
//! cargo bench -p crm-tests --bench import` (or `make bench`, which builds crmctl first).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crm_tests::{Backend, TestApp, pb};
use futures::StreamExt;

const DEFAULT_ROWS: u64 = 100_000;
const CONCURRENCY: usize = 16;
const COUNTRIES: &[&str] = &["DE", "CN", "US", "FR", "GB", "JP", "BR", "IN"];
const INDUSTRIES: &[&str] = &["manufacturing", "retail", "technology", "finance", "logistics"];

/// The fields of generated row `i`, shared by the CSV and the baseline.
struct Generated {
    id: String,
    display_name: String,
    email: String,
    country: &'static str,
    industry: &'static str,
    employee_count: i32,
    department: &'static str,
    tags: Vec<String>,
}

fn row(i: u64) -> Generated {
    Generated {
        id: format!("bench-{i:07}"),
        display_name: if i.is_multiple_of(10) {
            format!("杭州测试公司 {i}")
        } else {
            format!("Bench Company {i}")
        },
        email: format!("buyer{i}@bench{}.example", i % 97),
        country: COUNTRIES[(i % COUNTRIES.len() as u64) as usize],
        industry: INDUSTRIES[(i % INDUSTRIES.len() as u64) as usize],
        employee_count: i32::try_from(i % 5000).unwrap(),
        department: if i.is_multiple_of(2) { "sales" } else { "sales-east" },
        tags: if i.is_multiple_of(3) {
            vec!["bench".into(), "vip".into()]
        } else {
            vec!["bench".into()]
        },
    }
}

fn write_csv(path: &Path, rows: u64) {
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        out,
        "id,display_name,kind,contact.email,region.country_code,industry,employee_count,department,tags"
    )
    .unwrap();
    for i in 0..rows {
        let r = row(i);
        writeln!(
            out,
            "{},{},organization,{},{},{},{},{},{}",
            r.id,
            r.display_name,
            r.email,
            r.country,
            r.industry,
            r.employee_count,
            r.department,
            r.tags.join(";")
        )
        .unwrap();
    }
    out.flush().unwrap();
}

fn request(i: u64) -> pb::CreateCustomerRequest {
    let r = row(i);
    pb::CreateCustomerRequest {
        customer: Some(pb::Customer {
            display_name: r.display_name,
            kind: pb::CustomerKind::Organization as i32,
            contact: Some(pb::Contact {
                email: r.email,
                ..Default::default()
            }),
            region: Some(pb::Region {
                country_code: r.country.to_owned(),
                ..Default::default()
            }),
            industry: r.industry.to_owned(),
            employee_count: Some(r.employee_count),
            department: r.department.to_owned(),
            tags: r.tags,
            ..Default::default()
        }),
        customer_id: r.id,
        request_id: uuid::Uuid::new_v4().to_string(),
    }
}

/// The release `crmctl` next to this bench's executable (`target/release/deps/..`).
fn crmctl_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().and_then(Path::parent).unwrap().join("crmctl");
    assert!(
        path.exists(),
        "{} does not exist: run `cargo build --release -p crm-cli --bin crmctl` first (`make bench` does)",
        path.display()
    );
    path
}

/// The peak resident set of process `pid` so far, in KiB (`None` once it has exited).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

struct CliRun {
    elapsed: Duration,
    peak_kib: u64,
    summary: String,
}

fn run_cli(app: &TestApp, file: &Path) -> CliRun {
    let started = Instant::now();
    let mut child = Command::new(crmctl_path())
        .args(["--server", &format!("http://{}", app.addr), "customers", "import"])
        .arg(file)
        .args(["--concurrency", &CONCURRENCY.to_string()])
        .env("CRM_TOKEN", &app.admin_key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak_kib = 0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(pid) {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "crmctl import failed: {stderr}");
    CliRun {
        elapsed,
        peak_kib,
        summary: stderr.trim().to_owned(),
    }
}

async fn run_baseline(app: &TestApp, rows: u64) -> Duration {
    let started = Instant::now();
    let client = app.customers.clone();
    let mut calls = futures::stream::iter(0..rows)
        .map(|i| {
            let mut client = client.clone();
            async move { client.create_customer(request(i)).await }
        })
        .buffer_unordered(CONCURRENCY);
    while let Some(result) = calls.next().await {
        result.expect("baseline create");
    }
    started.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows: u64 = std::env::var("CRM_BENCH_IMPORT_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ROWS);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("customers.csv");
    write_csv(&file, rows);
    let size_mib = std::fs::metadata(&file).unwrap().len() as f64 / (1024.0 * 1024.0);
    println!("import bench: {rows} rows, CSV {size_mib:.1} MiB, concurrency {CONCURRENCY}");

    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn(backend).await else {
            continue;
        };
        let cli = {
            let file = file.clone();
            let app = &app;
            tokio::task::block_in_place(move || run_cli(app, &file))
        };
        assert!(
            cli.summary
                .contains(&format!("{rows} created, 0 already existed, 0 rejected")),
            "{}",
            cli.summary
        );
        app.stop().await.unwrap();

        let Some(fresh) = TestApp::spawn(backend).await else {
            continue;
        };
        let baseline = run_baseline(&fresh, rows).await;
        fresh.stop().await.unwrap();

        let cli_rate = rows as f64 / cli.elapsed.as_secs_f64();
        let base_rate = rows as f64 / baseline.as_secs_f64();
        println!(
            "{backend:?}: crmctl import {cli_rate:.0} rows/s ({:.1} s), peak RSS {:.1} MiB | in-process tonic client {base_rate:.0} rows/s ({:.1} s) | ratio {:.2}x",
            cli.elapsed.as_secs_f64(),
            cli.peak_kib as f64 / 1024.0,
            baseline.as_secs_f64(),
            cli_rate / base_rate,
        );
    }
}
