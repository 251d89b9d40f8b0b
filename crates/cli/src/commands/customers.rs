//! `crmctl customers …`: create, get, list, update, delete, undelete, import and export.

use clap::Subcommand;
use crm_api::crm::v1 as pb;

use super::{export, import, resource_name};
use crate::{client::Clients, error::CliError, output::Output};

/// Customer commands.
#[derive(Debug, Subcommand)]
pub enum CustomersCommand {
    /// Show one customer.
    Get {
        /// The customer's id or name (`acme` or `customers/acme`).
        name: String,
    },
    /// Create customers from a CSV or NDJSON file.
    Import(import::ImportArgs),
    /// Write every customer in scope as CSV or NDJSON.
    Export(export::ExportArgs),
}

/// Runs a `customers` subcommand.
pub async fn run(cmd: CustomersCommand, clients: &Clients, out: &Output) -> Result<(), CliError> {
    match cmd {
        CustomersCommand::Get { name } => {
            let request = pb::GetCustomerRequest {
                name: resource_name("customers", &name),
            };
            out.message(&clients.customers().get_customer(request).await?.into_inner())
        }
        CustomersCommand::Import(args) => import::run(args, clients, out).await,
        CustomersCommand::Export(args) => export::run(args, clients, out).await,
    }
}
