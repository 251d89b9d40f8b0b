//! `crmctl history [CUSTOMER|-]`: changes of classification, newest first
//! (ListClassificationHistory), of one customer or of every customer in scope.

use clap::Args;
use crm_api::crm::v1 as pb;

use super::{
    args::{Rows, class_value, dimension, paginate, short, time_text, timestamp, value_text},
    policy::dimension_text,
    resource_name,
};
use crate::{
    client::Clients,
    error::CliError,
    output::{Output, OutputFormat},
};

/// The flags of `crmctl history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The customer (`acme` or `customers/acme`), or `-` for every customer in scope.
    #[arg(default_value = "-")]
    customer: String,
    /// Only changes of this dimension, e.g. `grade` or `value-tier` (an unknown one lists them
    /// all).
    #[arg(long)]
    dimension: Option<String>,
    /// Only changes to this value of `--dimension`, e.g. `--dimension grade --value vip`.
    #[arg(long, requires = "dimension")]
    value: Option<String>,
    /// Only changes at or after this time (RFC 3339, or relative such as `-7d`).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    start_time: Option<String>,
    /// Only changes before this time (RFC 3339, or relative such as `-1d`).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    end_time: Option<String>,
    /// Print at most this many changes.
    #[arg(long)]
    limit: Option<u64>,
}

/// The columns of the history's table and CSV (values by their short names).
const COLUMNS: &[&str] = &[
    "change_time",
    "customer",
    "dimension",
    "from_value",
    "to_value",
    "source",
    "policy_version",
    "actor",
];

/// Runs `crmctl history`.
pub async fn run(args: HistoryArgs, clients: &Clients, out: &Output) -> Result<(), CliError> {
    let dim = args.dimension.as_deref().map(dimension).transpose()?;
    let value = match (dim, &args.value) {
        (Some(dim), Some(value)) => Some(class_value(dim, "--value", value)?),
        _ => None,
    };
    let filter = pb::ListClassificationHistoryRequest {
        parent: resource_name("customers", &args.customer),
        dimension: dim.map_or(0, |d| d as i32),
        value,
        start_time: args.start_time.map(|t| timestamp("--start-time", &t)).transpose()?,
        end_time: args.end_time.map(|t| timestamp("--end-time", &t)).transpose()?,
        page_size: 0,
        page_token: String::new(),
    };
    let client = clients.classification();
    let fetch = |page_token, page_size| {
        let mut client = client.clone();
        let request = pb::ListClassificationHistoryRequest {
            page_size,
            page_token,
            ..filter.clone()
        };
        async move {
            let page = client.list_classification_history(request).await?.into_inner();
            Ok((page.entries, page.next_page_token))
        }
    };
    match out.format() {
        OutputFormat::Table | OutputFormat::Csv => paginate(args.limit, Rows::new(out, COLUMNS, row), fetch).await,
        OutputFormat::Json | OutputFormat::Ndjson => {
            paginate(args.limit, out.list::<pb::ClassificationHistoryEntry>(COLUMNS), fetch).await
        }
    }
}

/// One history entry as a table row, values by their short names.
fn row(entry: &pb::ClassificationHistoryEntry) -> Vec<String> {
    vec![
        time_text(entry.change_time.as_ref()),
        entry.customer.clone(),
        dimension_text(entry.dimension),
        value_text(entry.from_value.as_ref()),
        value_text(entry.to_value.as_ref()),
        short(
            "HistorySource",
            pb::HistorySource::try_from(entry.source).map_or("", |s| s.as_str_name()),
        ),
        entry.policy_version.to_string(),
        entry.actor.clone(),
    ]
}
