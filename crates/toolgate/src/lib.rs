//! The `toolgate` application: command line, configuration, and the wiring of sources,
//! pipeline and transports. The `toolgate` binary is a thin `main` over this library, so
//! integration tests (and embedders) can assemble exactly what the binary runs.
//!
//! Exit codes: 0 success; 1 runtime failure (e.g. the address is in use); 2 bad input
//! (command line, configuration, spec).
//!
//! Everything the binary prints goes through [`redact`]: failures ([`Failure::print`]), log
//! lines, `check-config`, `inspect` and `contract` output, panic messages.

pub mod access;
pub mod check;
pub mod cli;
pub mod config;
pub mod contract_cmd;
pub mod demo;
pub mod embed;
pub mod endpoints;
pub mod gate_cmd;
mod gate_drill;
pub mod inspect;
pub mod memory;
pub mod policies;
pub mod redact;
pub mod reload;
pub mod reload_check;
pub mod reload_diff;
pub mod reload_status;
pub mod reload_watch;
pub mod replay_cmd;
pub mod run;
pub mod sources;
pub mod telemetry;
pub mod upstreams;

use std::process::ExitCode;

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub enum Failure {
    /// Bad input: configuration, spec, flags (exit 2).
    Input(String),
    /// Something failed while running (exit 1).
    Runtime(String),
}

impl Failure {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Input(_) => ExitCode::from(2),
            Failure::Runtime(_) => ExitCode::from(1),
        }
    }

    /// The message shown to the user (not yet scrubbed of secrets: print it with
    /// [`Failure::print`]).
    pub fn message(&self) -> &str {
        match self {
            Failure::Input(m) | Failure::Runtime(m) => m,
        }
    }

    /// Prints `error: <message>` on stderr, scrubbed of every secret registered with
    /// [`redact`]. The binary's one way of reporting a failure.
    pub fn print(&self) {
        redact::eprintln(&format!("error: {}", self.message().trim_end()));
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// Runs a parsed command line to completion.
pub async fn execute(cli: cli::Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        cli::Command::Serve(args) => run::serve(args).await,
        cli::Command::Demo(args) => demo::run(args).await,
        cli::Command::Inspect(args) => inspect::run(args).await,
        cli::Command::CheckConfig(args) => check::run(args).await,
        cli::Command::Access(args) => access::run(args).await,
        cli::Command::Contract(args) => contract_cmd::run(args).await,
        cli::Command::Reload(args) => reload_check::run(args).await,
        cli::Command::Replay(args) => replay_cmd::run(args).await,
        cli::Command::Gate(args) => gate_cmd::run(args).await,
        cli::Command::Bench(args) => toolgate_bench::run_cli(args).await.map_err(Failure::Input),
        cli::Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&config::json_schema()).unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
