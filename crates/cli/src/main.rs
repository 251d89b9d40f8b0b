//! `crmctl`: parses the command line, runs the command and maps its error to the exit code.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, error::ErrorKind, parser::ValueSource};
use crm_cli::{cli::Cli, error};

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2 (0 for --help and --version).
    let mut command = Cli::command();
    let matches = command.get_matches_mut();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut command).exit());
    // CRM_TOKEN in the environment gives way to --token-file; both as flags is a mistake.
    if matches.value_source("token") == Some(ValueSource::CommandLine) && cli.global.token_file.is_some() {
        command
            .error(ErrorKind::ArgumentConflict, "--token cannot be used with --token-file")
            .exit();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(crm_cli::run(cli));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = error::exit_code(&e);
            if !e.is_broken_pipe() {
                eprint!("{}", error::report(&e));
            }
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    }
}
