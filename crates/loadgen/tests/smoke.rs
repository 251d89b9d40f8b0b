//! The load benchmark end to end, briefly and on SQLite only: the real (debug) crmd as a child
//! process, every measure for 300 ms at concurrency 4 on a tiny seed, and a re-classification of
//! 1,000 SQL-seeded customers with GetCustomer running during it. Checks that every measure
//! reports throughput and no failed call, and that the tables render. pgbench is not run here
//! (its output parsing has unit tests); `make bench-load` runs the real thing.
//!
//! Needs the debug `crmd` next to this test's directory (`make test-rust` builds it first, as
//! for the end-to-end tests).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use clap::Parser as _;
use crm_loadgen::{Options, database::Backend, report, run, workload::Measure};

/// The `crmd` binary of this build: tests live in `target/<profile>/deps`, binaries one up.
fn crmd_path() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory")
        .join("crmd");
    assert!(
        path.exists(),
        "{} does not exist: build the server first (`cargo build -p crm-server --bin crmd`; `make test-rust` does)",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_measure_reports_throughput_and_no_failed_call() {
    let crmd = crmd_path();
    let options = Options::parse_from([
        "crm-loadgen",
        "--sqlite-only",
        "--customers",
        "60",
        "--duration",
        "300ms",
        "--concurrency",
        "4",
        "--connections",
        "2",
        "--reclassify-customers",
        "1000",
        "--crmd",
        crmd.to_str().unwrap(),
        // A busy CI machine can stall the debug crmd long enough for the open loops to pile up
        // past the default 512 calls in flight; shedding is not what this test is about.
        "--crmd-arg=--max-concurrent-requests=100000",
    ]);
    let report = run(&options).await.expect("the benchmark runs");

    assert_eq!(report.sides.len(), 1);
    assert!(report.pgbench.is_none());
    let side = &report.sides[0];
    for measure in [
        Measure::Health,
        Measure::Get,
        Measure::BatchGet,
        Measure::List,
        Measure::Check,
        Measure::GetHalfLoad,
        Measure::Create,
        Measure::Update,
        Measure::GetBeforeBatch,
        Measure::GetDuringBatch,
    ] {
        let m = side
            .find(measure, Backend::Sqlite)
            .unwrap_or_else(|| panic!("{measure:?} was not measured"));
        assert!(m.summary.ok > 0, "{measure:?} made no successful call: {m:?}");
        assert!(m.summary.rate > 0.0, "{measure:?}: {m:?}");
        assert_eq!(
            m.summary.failed(),
            0,
            "{measure:?} had failed calls: {:?}",
            m.summary.errors
        );
        assert!(
            m.summary.p50_us <= m.summary.p99_us && m.summary.p99_us <= m.summary.max_us,
            "{measure:?}: {m:?}"
        );
    }

    let reclassify = side.reclassify.as_ref().expect("re-classification ran");
    assert_eq!(reclassify.processed, 1000);
    // The seed leaves every customer unclassified, and the second run follows a reset: both
    // runs write every customer; the baseline writes every row.
    assert_eq!(reclassify.changed, 1000);
    assert_eq!(reclassify.loaded_run_changed, 1000);
    assert_eq!(reclassify.baseline_rows, 1000);

    let text = report::render(&report);
    assert!(text.contains("| GetCustomer req/s (SQLite) |"), "{text}");
    assert!(text.contains("| ReclassifyCustomers, 1,000 customers |"), "{text}");
    assert!(text.contains("SQLite lets one writer in at a time"), "{text}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["sides"][0]["measurements"][0]["measure"], "health");
}
