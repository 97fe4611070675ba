//! Benchmarks for MCP servers: a load generator for any MCP server (ours or anyone's) and the
//! pieces of the reproducible harness in `bench/`.
//!
//! What it owns:
//! - [`BenchArgs`] / [`run_cli`]: the `toolgate bench` command. Targets are a streamable HTTP
//!   endpoint (2026-07-28 stateless requests, or one legacy session per connection), a stdio
//!   server it spawns and multiplexes concurrent requests over, or a plain HTTP URL (the
//!   physical limit the MCP numbers are compared with).
//! - [`run`]: the same, returning a [`Report`] (latency from an HDR histogram, errors by kind,
//!   CPU time per call of the server and of the load generator, start-up and memory figures).
//! - [`backend`]: the fixed-answer HTTP backend (`bench-servers backend`) every target proxies to.
//! - [`echo`]: a minimal rmcp server (`bench-servers echo-mcp`) used by the tests and as a reference.
//! - [`forward`]: a bare HTTP forwarder (`bench-servers forward`), the reference for what a gateway
//!   hop costs without MCP.
//!
//! - [`client`]: its MCP client over streamable HTTP, for other tools (`toolgate replay`).
//!
//! What it does not own: the servers under test. It never links the gateway; it talks to it
//! over the wire like any client, so the same numbers can be taken for other servers.
//!
//! The HTTP client is deliberately lean (hyper HTTP/1.1, one keep-alive connection per worker,
//! TCP_NODELAY) because the load generator shares the machine's cores with the server: every
//! microsecond it spends is one the server does not get.

mod args;
pub mod backend;
mod calls;
pub mod client;
pub mod echo;
pub mod forward;
mod http1;
mod mcp_http;
mod procfs;
mod report;
mod rpc;
mod runner;
mod stdio;

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

pub use args::{BenchArgs, HttpMode, McpMethod};
pub use calls::Call;
pub use report::{
    ClientUsage, Errors, IdleSessions, Latency, Report, ServerUsage, Startup, TargetInfo,
};
pub use runner::run;

/// Why a benchmark could not run (bad arguments, unreachable target, failed handshake).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The arguments do not describe a runnable benchmark.
    #[error("{0}")]
    Usage(String),
    /// The target could not be reached or refused the set-up (connect, initialize, spawn).
    #[error("{0}")]
    Target(String),
}

/// Runs the benchmark described by `args` and prints the report to stdout: human-readable,
/// or one JSON object with `--json`. A progress bar goes to stderr when it is a terminal.
///
/// Returns exit code 1 when no call succeeded (the target is broken, not slow), else 0.
pub async fn run_cli(args: BenchArgs) -> Result<ExitCode, String> {
    let progress = !args.json && std::io::stderr().is_terminal();
    let report = runner::run_with_progress(&args, progress)
        .await
        .map_err(|e| e.to_string())?;
    let mut text = if args.json {
        serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
    } else {
        report.render_human()
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    // A closed stdout (`| head`) is not worth a panic.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    Ok(if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
