//! `crmctl policy …`: Classification policies. Placeholder until its commands land.

use clap::Subcommand;

use crate::{client::Clients, error::CliError, output::Output};

/// Classification policies.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Not implemented yet.
    Placeholder,
}

/// Runs a `policy` subcommand.
pub async fn run(cmd: PolicyCommand, _clients: &Clients, _out: &Output) -> Result<(), CliError> {
    match cmd {
        PolicyCommand::Placeholder => Err(CliError::NotImplemented("crmctl policy")),
    }
}
