//! Command-line interface (clap): `serve`, `demo`, `inspect`, `check-config`, `schema`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// toolgate: one fast, secure, governed MCP endpoint for your HTTP APIs.
#[derive(Debug, Parser)]
#[command(name = "toolgate", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Threads running async work (0 = one per CPU core). Default: 1 for `serve` and `demo`
    /// (one thread keeps a gateway hop cheapest; see BENCHMARKS.md), one per core otherwise.
    /// Raise it when a busy HTTP gateway needs more than one core.
    #[arg(long, global = true, env = "TOOLGATE_WORKER_THREADS", value_name = "N")]
    pub worker_threads: Option<usize>,
}

impl Cli {
    /// The runtime's worker thread count: `--worker-threads`, else tokio's
    /// `TOKIO_WORKER_THREADS`, else the command's default; `None` means one per core.
    pub fn worker_threads(&self) -> Option<usize> {
        let chosen = match self.worker_threads {
            Some(n) => n,
            None if std::env::var_os("TOKIO_WORKER_THREADS").is_some() => return None,
            None => match self.command {
                // A gateway spends most of a call waiting on sockets; on one thread the
                // call's tasks never wake another thread (each cross-thread wake-up is two
                // futex calls and a context switch), which cost 30-40 % more CPU per call and
                // more latency than it bought in throughput in the benchmarks.
                Command::Serve(_) | Command::Demo(_) => 1,
                _ => 0,
            },
        };
        (chosen > 0).then_some(chosen)
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve one or more OpenAPI services as MCP tools over stdio or streamable HTTP.
    Serve(ServeArgs),
    /// Start the built-in Todo API and serve it as MCP tools (no other service needed).
    Demo(DemoArgs),
    /// Compile specs and print the tools, resources and diagnostics they yield.
    Inspect(InspectArgs),
    /// Validate a configuration file (and load and compile its specs).
    CheckConfig(CheckConfigArgs),
    /// Load-test any MCP server (HTTP or stdio) or an HTTP endpoint: calls/s, latency
    /// percentiles, errors by kind.
    Bench(toolgate_bench::BenchArgs),
    /// Print the JSON Schema of the configuration file.
    Schema,
}

/// Options of `toolgate serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (YAML). Also `TOOLGATE_CONFIG`.
    #[arg(long, short, env = "TOOLGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// OpenAPI document to serve (file path or http(s) URL, e.g. http://127.0.0.1:8000/openapi.json).
    #[arg(long)]
    pub openapi: Option<String>,
    /// Base URL of the API (default: the spec's server, or the spec URL's origin).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Source name for `--openapi` (used in logs, metrics and resource URIs).
    #[arg(long, default_value = "api")]
    pub name: String,
    /// Prefix every tool name of `--openapi` with `<namespace>_`.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Serve MCP over stdin/stdout (for local clients such as Claude Desktop or Cursor).
    #[arg(long, conflicts_with = "http")]
    pub stdio: bool,
    /// Serve MCP over streamable HTTP on this address (default: `http.bind` of the config,
    /// 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
}

/// Options of `toolgate demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Serve MCP over stdin/stdout instead of HTTP.
    #[arg(long, conflicts_with = "http")]
    pub stdio: bool,
    /// Address for the MCP HTTP endpoint.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub http: String,
}

/// Options of `toolgate inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Spec files or http(s) URLs.
    #[arg(required_unless_present = "config", conflicts_with = "config")]
    pub specs: Vec<String>,
    /// Inspect the sources of this configuration file instead, compiled with their own
    /// options (names, route maps, overrides) and base URLs.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Namespace prefix for tool names (of spec arguments).
    #[arg(long, conflicts_with = "config")]
    pub namespace: Option<String>,
}

/// Options of `toolgate check-config`.
#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// The configuration file.
    pub file: PathBuf,
    /// Do not use the network: specs given as URLs are not fetched (their options are still
    /// checked); local and inline specs are still compiled.
    #[arg(long)]
    pub offline: bool,
}
