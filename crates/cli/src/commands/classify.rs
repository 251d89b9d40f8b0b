//! `crmctl classify …`: Classification of customers. Placeholder until its commands land.

use clap::Subcommand;

use crate::{client::Clients, error::CliError, output::Output};

/// Classification of customers.
#[derive(Debug, Subcommand)]
pub enum ClassifyCommand {
    /// Not implemented yet.
    Placeholder,
}

/// Runs a `classify` subcommand.
pub async fn run(cmd: ClassifyCommand, _clients: &Clients, _out: &Output) -> Result<(), CliError> {
    match cmd {
        ClassifyCommand::Placeholder => Err(CliError::NotImplemented("crmctl classify")),
    }
}
