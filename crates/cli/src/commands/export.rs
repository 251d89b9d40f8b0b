//! `crmctl customers export`: every customer in the caller's scope, streamed page by page to
//! CSV (the columns `import` reads, plus name, timestamps and etag) or NDJSON (proto3 JSON).
//! Both can be imported again as they are.

use std::{fs::File, io::BufWriter, path::PathBuf};

use clap::{Args, ValueEnum};
use crm_api::{convert::customers::field_paths, crm::v1 as pb};

use super::customers::for_each_customer;
use crate::{
    client::Clients,
    error::CliError,
    output::{Output, OutputFormat},
};

/// The format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// A header and one row per customer.
    Csv,
    /// One proto3 JSON customer per line.
    Ndjson,
}

/// Writes every customer in scope as CSV or NDJSON.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only the customers matching this AIP-160 filter.
    #[arg(long)]
    pub filter: Option<String>,
    /// Include soft-deleted customers.
    #[arg(long)]
    pub show_deleted: bool,
    /// The format written.
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// Write to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The CSV columns of an export: the resource name, the fields `import` reads, and the
/// output-only fields it ignores.
pub fn export_columns() -> Vec<&'static str> {
    let mut columns = vec!["name"];
    columns.extend(field_paths());
    columns.extend_from_slice(&["create_time", "update_time", "etag"]);
    columns
}

/// Runs `crmctl customers export`.
pub async fn run(args: ExportArgs, clients: &Clients, _out: &Output) -> Result<(), CliError> {
    let format = match args.format {
        ExportFormat::Csv => OutputFormat::Csv,
        ExportFormat::Ndjson => OutputFormat::Ndjson,
    };
    let out = match &args.out {
        Some(path) => {
            let file = File::create(path).map_err(|e| CliError::io(format!("creating {}", path.display()), e))?;
            Output::to_writer(format, Box::new(BufWriter::new(file)))
        }
        None => Output::stdout(format),
    };
    let request = pb::ListCustomersRequest {
        page_size: 1000,
        page_token: String::new(),
        filter: args.filter.unwrap_or_default(),
        order_by: String::new(),
        show_deleted: args.show_deleted,
    };
    let columns = export_columns();
    let mut list = out.list::<pb::Customer>(&columns);
    let count = for_each_customer(clients, request, None, |c| list.write(c)).await?;
    list.finish()?;
    if let Some(path) = &args.out {
        eprintln!("exported {count} customers to {}", path.display());
    }
    Ok(())
}
