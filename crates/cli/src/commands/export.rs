//! `crmctl customers export`: every customer in scope as CSV or NDJSON. Placeholder.

use clap::Args;

use crate::{client::Clients, error::CliError, output::Output};

/// Writes every customer in scope as CSV or NDJSON.
#[derive(Debug, Args)]
pub struct ExportArgs {}

/// Runs `crmctl customers export`.
pub async fn run(_args: ExportArgs, _clients: &Clients, _out: &Output) -> Result<(), CliError> {
    Err(CliError::NotImplemented("crmctl customers export"))
}
