//! One module per command group; each exposes its clap enum (or args) and
//! `run(cmd, clients, out)`. [`run`] dispatches the parsed command line.

pub mod access;
pub mod args;
pub mod classify;
pub mod customers;
pub mod export;
pub mod history;
pub mod import;
pub mod policy;
pub mod stats;
pub mod whoami;

use clap::CommandFactory;

use crate::{
    cli::{Cli, Command},
    client::Clients,
    error::CliError,
    output::Output,
};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let out = Output::stdout(cli.global.output);
    if let Command::Completions { shell } = cli.command {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "crmctl", &mut script);
        return out.text(&String::from_utf8_lossy(&script));
    }
    let clients = Clients::from_args(&cli.global)?;
    let result = match cli.command {
        Command::Customers(cmd) => customers::run(*cmd, &clients, &out).await,
        Command::Access(cmd) => access::run(cmd, &clients, &out).await,
        Command::Whoami => whoami::run(&clients, &out).await,
        Command::Classify(cmd) => classify::run(cmd, &clients, &out).await,
        Command::Policy(cmd) => policy::run(cmd, &clients, &out).await,
        Command::History(args) => history::run(args, &clients, &out).await,
        Command::Stats(args) => stats::run(args, &clients, &out).await,
        Command::Completions { .. } => Ok(()),
    };
    match result {
        // The transport's own error (no answer from a server), not an UNAVAILABLE the server sent.
        Err(CliError::Status(status))
            if status.code() == tonic::Code::Unavailable && status.message().contains("connect") =>
        {
            Err(CliError::Unreachable {
                server: cli.global.server,
                status,
            })
        }
        other => other,
    }
}

/// The resource name for `id_or_name` in `collection`: `acme` and `customers/acme` both give
/// `customers/acme` for collection `customers`.
pub fn resource_name(collection: &str, id_or_name: &str) -> String {
    let id_or_name = id_or_name.trim();
    match id_or_name
        .strip_prefix(collection)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        Some(_) => id_or_name.to_owned(),
        None => format!("{collection}/{id_or_name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_id_or_a_full_name_gives_the_same_resource_name() {
        assert_eq!(resource_name("customers", "acme"), "customers/acme");
        assert_eq!(resource_name("customers", "customers/acme"), "customers/acme");
        assert_eq!(resource_name("principals", " li-na "), "principals/li-na");
        assert_eq!(resource_name("customers", "customersx"), "customers/customersx");
    }
}
