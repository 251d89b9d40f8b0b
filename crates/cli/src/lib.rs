//! `crmctl`, the administration command line of `crmd`: one subcommand per RPC, named the way
//! operators think (`crmctl customers list`, `crmctl access check …`), a table for people by
//! default and proto3 JSON, NDJSON or CSV for scripts.
//!
//! The binary (`src/main.rs`) only parses the command line, calls [`run`] and turns the error
//! into an exit code; everything else lives here so the modules and the tests share it.
//!
//! # Layout
//! - [`cli`]: the clap definitions, global flags ([`cli::GlobalArgs`]) and the top-level
//!   [`cli::Command`].
//! - [`client`]: [`client::Clients`], the tonic clients with the bearer token and the timeout.
//! - [`output`]: [`output::Output`], one message or a streamed list as a table, JSON, NDJSON or
//!   CSV; proto3 JSON both ways through `prost-reflect`.
//! - [`error`]: [`error::CliError`], how it is reported on stderr and its exit code.
//! - [`commands`]: one module per command group, each with its clap enum and `run`.

pub mod cli;
pub mod client;
pub mod commands;
pub mod error;
pub mod output;

pub use commands::run;
