//! The command line: global flags and the top-level commands (clap derive).

use std::{fmt, path::PathBuf, str::FromStr};

use clap::{Args, Parser, Subcommand};

use crate::{
    commands::{access, classify, customers, history, policy, stats},
    output::OutputFormat,
};

/// The exit codes, as `--help` prints them.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  any other error (invalid argument, internal error, rejected import rows, bad input file)
  2  usage error (unknown flag, missing argument)
  3  not found (NOT_FOUND)
  4  not allowed (PERMISSION_DENIED, UNAUTHENTICATED), or `access check` answered denied
  5  conflict (ALREADY_EXISTS, ABORTED e.g. an etag mismatch, FAILED_PRECONDITION)
  6  the server could not be reached or did not answer in time (UNAVAILABLE, DEADLINE_EXCEEDED)

Errors go to stderr: the gRPC code and message, the ErrorInfo reason and one line per field
violation. Data goes to stdout only.";

/// `crmctl`: administer customer records, access control and classification on a crmd server.
#[derive(Debug, Parser)]
#[command(name = "crmctl", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The flags every command takes: where the server is, how to authenticate, how long to wait and
/// how to print.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The server's address.
    #[arg(long, env = "CRM_SERVER", default_value = "http://127.0.0.1:50051", global = true)]
    pub server: String,

    /// The API key to call with (`crm_<prefix>_<secret>`). Prefer CRM_TOKEN or --token-file:
    /// a flag is visible to other users in the process list.
    #[arg(long, env = "CRM_TOKEN", hide_env_values = true, global = true, value_name = "KEY")]
    pub token: Option<Secret>,

    /// A file holding the API key (a trailing newline is ignored), e.g. the key file crmd writes
    /// on its first start. Takes precedence over --token and CRM_TOKEN.
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Seconds to wait for each call before giving up.
    #[arg(long, default_value_t = 30, global = true, value_name = "SECONDS")]
    pub timeout: u64,

    /// How to print results: a table for people, or json (one proto3 JSON document), ndjson
    /// (one JSON object per line, streamed) or csv for scripts.
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Table, global = true)]
    pub output: OutputFormat,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, read, list, update, delete, import and export customers.
    #[command(subcommand)]
    Customers(Box<customers::CustomersCommand>),
    /// Principals, roles, role bindings, API keys and permission checks.
    #[command(subcommand)]
    Access(access::AccessCommand),
    /// Show the principal and API key this command calls as.
    Whoami,
    /// Classification of customers: show, record activity, override, re-classify.
    Classify(classify::ClassifyCommand),
    /// Classification policies: show, create, preview and activate.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// A customer's classification history.
    History(history::HistoryArgs),
    /// Counts of customers per classification value.
    Stats(stats::StatsArgs),
    /// Print a shell completion script, e.g. `crmctl completions bash > /etc/bash_completion.d/crmctl`.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// A secret (the API key): never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_secret_is_never_formatted() {
        let secret = Secret::new("crm_abc_topsecret");
        assert_eq!(format!("{secret:?} {secret}"), "Secret(***) ***");
    }
}
