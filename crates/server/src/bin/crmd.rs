//! `crmd`: parse settings, set up logging, then serve or migrate. Errors end the process with a
//! one-line message and exit code 1, never a panic backtrace.

use std::process::ExitCode;

use clap::Parser;
use crm_server::config::{Cli, Command, Settings};

/// mimalloc instead of glibc's malloc: every call allocates (request and response messages,
/// rows, strings), and glibc's allocator took about a tenth of crmd's CPU under load, with
/// threads contending on its arenas (see ARCHITECTURE.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.settings) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("crmd: {error:#}");
            return ExitCode::from(2);
        }
    };
    let telemetry = crm_server::telemetry::init(settings.log_format, &settings.log);
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => migrate(settings).await,
        Command::Bootstrap => bootstrap(settings).await,
        Command::Serve => serve(settings).await,
    };
    // Export the traces still buffered before the process ends.
    telemetry.shutdown().await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("crmd: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let db = crm_server::connect_database(&settings, 1).await?;
    db.migrate().await?;
    tracing::info!(database = db.display_url(), "migrations applied");
    db.close().await;
    Ok(())
}

async fn bootstrap(settings: Settings) -> anyhow::Result<()> {
    let db = crm_server::connect_database(&settings, 1).await?;
    db.migrate().await?;
    let key = crm_server::bootstrap::new_admin_key(&db).await?;
    crm_server::bootstrap::write_key_file(&settings.admin_key_file, &key)?;
    tracing::info!(
        file = %settings.admin_key_file.display(),
        "a new API key for principals/admin was written (readable by the owner only)"
    );
    db.close().await;
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(settings.listen_addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen_addr))?;
    crm_server::run(settings, listener, crm_server::shutdown_signal()).await
}
