//! `crmctl whoami`: the principal and API key the command calls as.

use crm_api::crm::v1 as pb;

use crate::{client::Clients, error::CliError, output::Output};

/// Runs `crmctl whoami`: prints the WhoAmI response (the principal and the key's name).
pub async fn run(clients: &Clients, out: &Output) -> Result<(), CliError> {
    let response = clients
        .access()
        .who_am_i(pb::WhoAmIRequest::default())
        .await?
        .into_inner();
    out.message(&response)
}
