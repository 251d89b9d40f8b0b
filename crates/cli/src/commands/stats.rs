//! `crmctl stats`: Counts of customers per classification value. Placeholder until the command lands.

use clap::Args;

use crate::{client::Clients, error::CliError, output::Output};

/// Counts of customers per classification value.
#[derive(Debug, Args)]
pub struct StatsArgs {}

/// Runs `crmctl stats`.
pub async fn run(_args: StatsArgs, _clients: &Clients, _out: &Output) -> Result<(), CliError> {
    Err(CliError::NotImplemented("crmctl stats"))
}
