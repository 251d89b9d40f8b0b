//! `crmctl stats [--by-department]`: how many customers have each value of each dimension
//! (GetSegmentStats), among those in the caller's scope.

use clap::Args;
use crm_api::crm::v1 as pb;

use super::{
    args::{ItemSink, Rows, table, value_text},
    policy::dimension_text,
};
use crate::{
    client::Clients,
    error::CliError,
    output::{Output, OutputFormat},
};

/// The flags of `crmctl stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Count per department too.
    #[arg(long)]
    by_department: bool,
}

/// The columns of the CSV rows and NDJSON lines (one per count).
const COLUMNS: &[&str] = &["dimension", "department", "value", "count"];

/// Runs `crmctl stats`: a table for people, the whole response as JSON, or one count per line
/// (NDJSON) or row (CSV).
pub async fn run(args: StatsArgs, clients: &Clients, out: &Output) -> Result<(), CliError> {
    let request = pb::GetSegmentStatsRequest {
        group_by_department: args.by_department,
    };
    let stats = clients.classification().get_segment_stats(request).await?.into_inner();
    match out.format() {
        OutputFormat::Json => out.message(&stats),
        OutputFormat::Ndjson => {
            let mut list = out.list::<pb::SegmentCount>(COLUMNS);
            for count in &stats.counts {
                list.write(count)?;
            }
            list.finish()
        }
        OutputFormat::Csv => {
            let mut rows = Rows::new(out, COLUMNS, row);
            for count in &stats.counts {
                rows.write(count)?;
            }
            rows.finish()
        }
        OutputFormat::Table => {
            let rows = stats
                .counts
                .iter()
                .map(|c| {
                    let [dimension, department, value, count] = row_cells(c);
                    if args.by_department {
                        vec![dimension, department, value, count]
                    } else {
                        vec![dimension, value, count]
                    }
                })
                .collect();
            let header: &[&str] = if args.by_department {
                &["dimension", "department", "value", "customers"]
            } else {
                &["dimension", "value", "customers"]
            };
            out.text(&table(header, rows))?;
            out.text(&format!("{} customers in scope\n", stats.total_customers))
        }
    }
}

/// One count as CSV cells, in the order of [`COLUMNS`].
fn row(count: &pb::SegmentCount) -> Vec<String> {
    row_cells(count).to_vec()
}

fn row_cells(count: &pb::SegmentCount) -> [String; 4] {
    let value = match &count.value {
        Some(v) => value_text(Some(v)),
        None => "(not classified)".to_owned(),
    };
    [
        dimension_text(count.dimension),
        count.department.clone(),
        value,
        count.count.to_string(),
    ]
}
