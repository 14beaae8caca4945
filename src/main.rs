#![forbid(unsafe_code)]

use clap::Parser;
use concierge::cli::{run, Cli};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    concierge::telemetry::init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // A configuration mistake is the operator's to fix: say it plainly, with no backtrace.
            if let Some(config_error) = error.downcast_ref::<concierge::config::ConfigError>() {
                eprintln!("concierge: {config_error}");
                return ExitCode::from(2);
            }
            eprintln!("concierge: {error:#}");
            ExitCode::FAILURE
        }
    }
}
