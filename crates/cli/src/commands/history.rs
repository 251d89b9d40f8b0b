//! `crmctl history`: A customer's classification history. Placeholder until the command lands.

use clap::Args;

use crate::{client::Clients, error::CliError, output::Output};

/// A customer's classification history.
#[derive(Debug, Args)]
pub struct HistoryArgs {}

/// Runs `crmctl history`.
pub async fn run(_args: HistoryArgs, _clients: &Clients, _out: &Output) -> Result<(), CliError> {
    Err(CliError::NotImplemented("crmctl history"))
}
