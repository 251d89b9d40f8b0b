//! `crmctl customers import FILE`: bulk creation from CSV or NDJSON. Placeholder.

use clap::Args;

use crate::{client::Clients, error::CliError, output::Output};

/// Creates customers from a CSV or NDJSON file.
#[derive(Debug, Args)]
pub struct ImportArgs {}

/// Runs `crmctl customers import`.
pub async fn run(_args: ImportArgs, _clients: &Clients, _out: &Output) -> Result<(), CliError> {
    Err(CliError::NotImplemented("crmctl customers import"))
}
