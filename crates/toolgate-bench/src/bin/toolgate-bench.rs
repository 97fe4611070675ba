//! `toolgate-bench`: the load generator on its own (the same as `toolgate bench`).

use std::process::ExitCode;

use clap::Parser;
use toolgate_bench::BenchArgs;

#[derive(Parser, Debug)]
#[command(
    name = "toolgate-bench",
    version,
    about = "Load an MCP server (or a plain HTTP URL) and report throughput, latency and errors"
)]
struct Cli {
    #[command(flatten)]
    args: BenchArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match toolgate_bench::run_cli(cli.args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("toolgate-bench: {e}");
            ExitCode::from(2)
        }
    }
}
