//! `crm-loadgen`: parse the flags, run the benchmark, print the tables (and write the JSON).

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use crm_loadgen::{Options, report, run};

#[tokio::main]
async fn main() -> ExitCode {
    let options = Options::parse();
    match bench(&options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("crm-loadgen: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn bench(options: &Options) -> anyhow::Result<()> {
    let report = run(options).await?;
    println!("{}", report::render(&report));
    if let Some(path) = &options.json {
        let json = serde_json::to_string_pretty(&report).context("encoding the figures as JSON")?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("raw figures written to {}", path.display());
    }
    Ok(())
}
