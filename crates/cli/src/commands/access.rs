//! `crmctl access …`: Principals, roles, role bindings, API keys and permission checks. Placeholder until its commands land.

use clap::Subcommand;

use crate::{client::Clients, error::CliError, output::Output};

/// Principals, roles, role bindings, API keys and permission checks.
#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Not implemented yet.
    Placeholder,
}

/// Runs a `access` subcommand.
pub async fn run(cmd: AccessCommand, _clients: &Clients, _out: &Output) -> Result<(), CliError> {
    match cmd {
        AccessCommand::Placeholder => Err(CliError::NotImplemented("crmctl access")),
    }
}
