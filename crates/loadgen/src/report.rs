//! The tables, in Markdown: the issue's table (measure | crmd | baseline | ratio | target | met?),
//! with a before → after column when two binaries were compared, and the detailed figures of
//! every measure.

use std::fmt::Write as _;

use crate::{
    database::Backend,
    run::{Measurement, Mode, Report, SideReport},
    workload::Measure,
};

/// Said under the table: SQLite's single writer bounds its Create and Update.
pub const SQLITE_WRITER_REMARK: &str = "SQLite lets one writer in at a time: CreateCustomer and UpdateCustomer on SQLite \
     are bounded by that single writer whatever crmd does, so their targets apply to PostgreSQL; the SQLite figures \
     are shown for reference.";

/// One row of the issue's table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// What is measured.
    pub measure: String,
    /// crmd's figure, as text.
    pub crmd: String,
    /// The baseline, as text.
    pub baseline: String,
    /// crmd against the baseline, oriented so that the target reads as written.
    pub ratio: Option<f64>,
    /// How the ratio reads (`0.12`, `6.7×`).
    pub ratio_text: String,
    /// The target.
    pub target: &'static str,
    /// Whether the target is met (`None`: not measured).
    pub met: Option<bool>,
}

/// `value` with thousands separators and no decimals, or one decimal below 100.
pub fn number(value: f64) -> String {
    if value.abs() < 100.0 {
        return format!("{value:.1}");
    }
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 { format!("-{out}") } else { out }
}

/// Microseconds as milliseconds: two decimals below 10 ms, one above.
pub fn millis(micros: u64) -> String {
    let ms = micros as f64 / 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn rate_text(m: &Measurement) -> String {
    let mut text = number(m.summary.rate);
    if m.summary.failed() > 0 {
        let _ = write!(text, " ({} failed)", m.summary.failed());
    }
    text
}

fn ratio_row(
    measure: String,
    crmd: Option<(&Measurement, String)>,
    baseline: Option<(f64, String)>,
    crmd_value: impl Fn(&Measurement) -> f64,
    target: &'static str,
    meets: impl Fn(f64) -> bool,
    times: bool,
) -> Row {
    let not_measured = || "not measured".to_owned();
    let ratio = match (&crmd, &baseline) {
        (Some((m, _)), Some((base, _))) if *base > 0.0 => Some(crmd_value(m) / base),
        _ => None,
    };
    let clean = crmd.as_ref().is_some_and(|(m, _)| m.summary.failed() == 0);
    Row {
        measure,
        crmd: crmd.as_ref().map_or_else(not_measured, |(_, text)| text.clone()),
        baseline: baseline.map_or_else(not_measured, |(_, text)| text),
        ratio,
        ratio_text: ratio.map_or_else(String::new, |r| match (times, r < 1.0) {
            (true, false) => format!("{r:.1}×"),
            (true, true) => format!("{r:.2}×"),
            (false, _) => format!("{r:.2}"),
        }),
        target,
        met: ratio.map(|r| meets(r) && clean),
    }
}

/// The issue's table for one crmd binary.
pub fn headline(report: &Report, side: &SideReport) -> Vec<Row> {
    let backend = report.settings.backend;
    let pg = report.pgbench.as_ref();
    let find = |measure| side.find(measure, backend);
    let mut rows = Vec::new();

    rows.push(ratio_row(
        format!("GetCustomer req/s ({})", backend.title()),
        find(Measure::Get).map(|m| (m, rate_text(m))),
        pg.map(|p| {
            (
                p.select.tps,
                format!("pgbench point select {} tps", number(p.select.tps)),
            )
        }),
        |m| m.summary.rate,
        "≥ 0.5",
        |r| r >= 0.5,
        false,
    ));

    rows.push(ratio_row(
        "GetCustomer p99 at half load".to_owned(),
        find(Measure::GetHalfLoad).map(|m| {
            let rate = match m.mode {
                Mode::Open { rate } => rate,
                Mode::Closed { .. } => m.summary.rate,
            };
            let mut text = format!("{} at {}/s", millis(m.summary.p99_us), number(rate));
            if m.summary.failed() > 0 {
                let _ = write!(text, " ({} failed)", m.summary.failed());
            }
            (m, text)
        }),
        pg.map(|p| {
            let r = &p.select_at_half_rate;
            (
                r.p99_us as f64,
                format!("pgbench `--rate {}` p99 {}", number(r.target_rate), millis(r.p99_us)),
            )
        }),
        |m| m.summary.p99_us as f64,
        "≤ 2×",
        |r| r <= 2.0,
        true,
    ));

    let health = find(Measure::Health);
    rows.push(ratio_row(
        "CheckPermission req/s".to_owned(),
        find(Measure::Check).map(|m| (m, rate_text(m))),
        health.map(|h| {
            (
                h.summary.rate,
                format!("grpc.health.v1 Check {}", number(h.summary.rate)),
            )
        }),
        |m| m.summary.rate,
        "≥ 0.9",
        |r| r >= 0.9,
        false,
    ));

    for (measure, title, script_title, tps) in [
        (
            Measure::Create,
            "CreateCustomer req/s",
            "one-row INSERT",
            pg.map(|p| p.insert.tps),
        ),
        (
            Measure::Update,
            "UpdateCustomer req/s",
            "one-row UPDATE",
            pg.map(|p| p.update.tps),
        ),
    ] {
        let sqlite = (backend != Backend::Sqlite)
            .then(|| side.find(measure, Backend::Sqlite))
            .flatten();
        rows.push(ratio_row(
            title.to_owned(),
            find(measure).map(|m| {
                let mut text = rate_text(m);
                if let Some(s) = sqlite {
                    let _ = write!(text, " (SQLite {})", rate_text(s));
                }
                (m, text)
            }),
            tps.map(|t| {
                let mut text = format!("pgbench {script_title} {} tps", number(t));
                if measure == Measure::Create
                    && let Some(own) = pg.map(|p| &p.create_writes)
                {
                    // How much of the INSERT the database itself leaves a Create (its writes alone).
                    let _ = write!(
                        text,
                        "; a Create's own writes {} tps ({:.2})",
                        number(own.tps),
                        own.tps / t.max(f64::MIN_POSITIVE)
                    );
                }
                (t, text)
            }),
            |m| m.summary.rate,
            "≥ 0.6",
            |r| r >= 0.6,
            false,
        ));
    }

    if let Some(replica) = find(Measure::GetReadReplica) {
        let primary = find(Measure::Get);
        let ratio = primary.map(|p| replica.summary.rate / p.summary.rate.max(f64::MIN_POSITIVE));
        rows.push(Row {
            measure: "GetCustomer req/s, primary + 1 read replica".to_owned(),
            crmd: rate_text(replica),
            baseline: primary.map_or_else(String::new, |p| format!("primary alone {}", rate_text(p))),
            ratio,
            ratio_text: ratio.map_or_else(String::new, |r| format!("{r:.2}")),
            // Shown, not judged: on one machine the standby shares the cores it would add.
            target: "shown",
            met: None,
        });
    }

    let list_sqlite = side.find(Measure::List, Backend::Sqlite);
    let list_pg = side.find(Measure::List, Backend::Postgres);
    rows.push(Row {
        measure: "ListCustomers (page 50 + filter) on SQLite".to_owned(),
        crmd: list_sqlite.map_or_else(
            || "not measured".to_owned(),
            |m| match m.crmd_cpu_us_per_call {
                Some(cpu) => format!("{} req/s ({} CPU each)", rate_text(m), millis(cpu as u64)),
                None => format!("{} req/s", rate_text(m)),
            },
        ),
        baseline: list_pg.map_or_else(
            || "the same on PostgreSQL: not measured".to_owned(),
            |m| format!("the same on PostgreSQL: {}", rate_text(m)),
        ),
        ratio: None,
        ratio_text: String::new(),
        target: "≥ 500 req/s",
        met: list_sqlite.map(|m| m.summary.rate >= 500.0 && m.summary.failed() == 0),
    });

    if let Some(r) = &side.reclassify {
        let ratio = (r.run_secs > 0.0).then(|| r.baseline_secs / r.run_secs);
        rows.push(Row {
            measure: format!("ReclassifyCustomers, {} customers", number(r.customers as f64)),
            crmd: format!("{:.1} s", r.run_secs),
            baseline: format!("one set-based `UPDATE … CASE` {:.1} s", r.baseline_secs),
            ratio,
            ratio_text: ratio.map_or_else(String::new, |x| format!("{x:.2}")),
            target: "≥ 0.5",
            met: ratio.map(|x| x >= 0.5),
        });
        let idle = find(Measure::GetBeforeBatch);
        let during = find(Measure::GetDuringBatch);
        rows.push(ratio_row(
            "GetCustomer p99 during a batch".to_owned(),
            during.map(|m| {
                (
                    m,
                    format!("{}, {} failed calls", millis(m.summary.p99_us), m.summary.failed()),
                )
            }),
            idle.map(|m| {
                (
                    m.summary.p99_us as f64,
                    format!("idle p99 {}", millis(m.summary.p99_us)),
                )
            }),
            |m| m.summary.p99_us as f64,
            "≤ 2×, no failed call",
            |x| x <= 2.0,
            true,
        ));
    }
    rows
}

fn met_text(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "—",
    }
}

/// Escapes `|` for a Markdown cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The whole text: the issue's table (per binary, plus before → after when comparing), the
/// remarks, and the detailed figures.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.settings;
    let _ = writeln!(
        out,
        "## crmd load benchmark\n\n{} customers seeded through gRPC; closed loops of {} s (after {} s warm-up) at \
         concurrency {} over {} HTTP/2 connections; main backend {}.\n",
        number(s.customers as f64),
        s.duration_secs,
        s.warmup_secs,
        s.concurrency,
        s.connections,
        s.backend.title()
    );
    for side in &report.sides {
        let _ = writeln!(out, "### {} (`{}`)\n", side.label, side.binary);
        let _ = writeln!(
            out,
            "| measure (concurrency {}) | crmd | baseline in the same run | ratio | target | met? |\n| --- | --- | --- | --- | --- | --- |",
            s.concurrency
        );
        for row in headline(report, side) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&row.measure),
                cell(&row.crmd),
                cell(&row.baseline),
                row.ratio_text,
                row.target,
                met_text(row.met)
            );
        }
        out.push('\n');
    }
    if let [before, after] = report.sides.as_slice() {
        let _ = writeln!(
            out,
            "### before → after, measured in the same run ({})\n\n| measure | before | after | baseline (after) | ratio before → after | target | met after? |\n| --- | --- | --- | --- | --- | --- | --- |",
            s.order
        );
        for (b, a) in headline(report, before).into_iter().zip(headline(report, after)) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} → {} | {} | {} |",
                cell(&a.measure),
                cell(&b.crmd),
                cell(&a.crmd),
                cell(&a.baseline),
                if b.ratio_text.is_empty() { "—" } else { &b.ratio_text },
                if a.ratio_text.is_empty() { "—" } else { &a.ratio_text },
                a.target,
                met_text(a.met)
            );
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "Ratios: throughput is crmd ÷ baseline; latency (×) is crmd's p99 ÷ the baseline's p99; re-classification is \
         the baseline's time ÷ crmd's. A measure with failed calls never meets its target. Half load is an open loop at \
         half the closed-loop maximum, latency from the moment a call is sent (pgbench's p99 likewise from the \
         transaction's actual start). {SQLITE_WRITER_REMARK}\n"
    );

    let _ = writeln!(
        out,
        "### Details\n\n| crmd | backend | measure | mode | req/s | p50 | p90 | p99 | max | errors | crmd CPU/call |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for side in &report.sides {
        for m in &side.measurements {
            let mode = match m.mode {
                Mode::Closed { concurrency } => format!("closed × {concurrency}"),
                Mode::Open { rate } => match m.dispatch_lag_max_us {
                    Some(lag) => format!("open {}/s (lag ≤ {})", number(rate), millis(lag)),
                    None => format!("open {}/s", number(rate)),
                },
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                side.label,
                m.backend.title(),
                cell(m.measure.title()),
                mode,
                number(m.summary.rate),
                millis(m.summary.p50_us),
                millis(m.summary.p90_us),
                millis(m.summary.p99_us),
                millis(m.summary.max_us),
                m.summary.errors_text(),
                m.crmd_cpu_us_per_call
                    .map_or_else(|| "—".to_owned(), |us| format!("{} µs", number(us))),
            );
        }
    }
    if let Some(p) = &report.pgbench {
        for run in [&p.select, &p.insert, &p.update, &p.create_writes] {
            let _ = writeln!(
                out,
                "| pgbench | PostgreSQL | {} | closed × {} | {} | | | | | {} | |",
                run.script.title().trim_start_matches("pgbench "),
                s.concurrency,
                number(run.tps),
                run.failed,
            );
        }
        let r = &p.select_at_half_rate;
        let _ = writeln!(
            out,
            "| pgbench | PostgreSQL | point select at half rate | open {}/s | {} | {} | {} | {} (from schedule {}) | | {} | |",
            number(r.target_rate),
            number(r.tps),
            millis(r.p50_us),
            millis(r.p90_us),
            millis(r.p99_us),
            millis(r.p99_from_schedule_us),
            r.failed,
        );
    }
    for side in &report.sides {
        if let Some(r) = &side.reclassify {
            let _ = writeln!(
                out,
                "\n{}: re-classification on {}: {} customers and {} purchases seeded by SQL in {:.1} s; \
                 ReclassifyCustomers alone {:.2} s ({} changed, {} history entries); again after resetting every \
                 classification, under GetCustomer load, {:.2} s ({} changed); set-based UPDATE {:.2} s ({} rows).",
                side.label,
                r.backend.title(),
                number(r.customers as f64),
                number(r.purchases as f64),
                r.seed_secs,
                r.run_secs,
                r.changed,
                r.history_entries,
                r.loaded_run_secs,
                r.loaded_run_changed,
                r.baseline_secs,
                r.baseline_rows
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_like_the_issue() {
        assert_eq!(number(32_412.4), "32,412");
        assert_eq!(number(4_100.0), "4,100");
        assert_eq!(number(754.0), "754");
        assert_eq!(number(18.04), "18.0");
        assert_eq!(number(1_234_567.0), "1,234,567");
        assert_eq!(millis(640), "0.64 ms");
        assert_eq!(millis(114_000), "114.0 ms");
    }
}
