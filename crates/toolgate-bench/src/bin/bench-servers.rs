//! `bench-servers SERVER ...`: the servers the benchmark harness (`bench/run.sh`) runs besides
//! the one under test, in one binary so that a release build links once for all three:
//!
//! - `backend [--listen ADDR] [--threads N]`: the fixed-answer backend every target proxies
//!   to; prints `listening on http://ADDR` once it accepts connections.
//! - `forward --upstream URL [--listen ADDR] [--threads N] [--client inline|pooled]`: the bare
//!   HTTP forwarder (what a gateway hop costs without MCP); prints `listening on http://ADDR`.
//! - `relay --upstream HOST:PORT [--listen ADDR]`: the bare TCP relay (bytes copied, nothing
//!   parsed: what one more process on the path costs at least); prints `listening on
//!   http://ADDR`.
//! - `echo-mcp --stdio | --http ADDR [--stateful] [--sse]`: a minimal rmcp server with an
//!   `echo` and a `fail` tool; over HTTP prints `MCP endpoint: URL` once listening.

use std::io::Write as _;

use axum::serve::ListenerExt as _;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(
    name = "bench-servers",
    about = "The benchmark backend, the bare HTTP forwarder and a minimal rmcp server"
)]
struct Cli {
    #[command(subcommand)]
    server: Server,
}

#[derive(Subcommand, Debug)]
enum Server {
    /// GET /items/{id} (fixed JSON) and GET /openapi.json.
    Backend {
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Runtime worker threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Forwards every HTTP request to one upstream.
    Forward {
        /// The upstream, `http://host:port`.
        #[arg(long)]
        upstream: String,
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Runtime worker threads (default 1, as `toolgate serve`).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// The HTTP client: toolgate's (`inline`) or hyper-util's pooled client.
        #[arg(long, value_enum, default_value = "inline")]
        client: toolgate_bench::forward::ClientKind,
    },
    /// Copies the bytes of every connection to and from one upstream, on one thread.
    Relay {
        /// The upstream, `host:port`.
        #[arg(long)]
        upstream: String,
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
    /// Minimal rmcp server: tools echo and fail.
    EchoMcp {
        /// Serve on stdin/stdout.
        #[arg(long, conflicts_with = "http", required_unless_present = "http")]
        stdio: bool,
        /// Serve streamable HTTP at http://ADDR/mcp.
        #[arg(long, value_name = "ADDR")]
        http: Option<String>,
        /// Give legacy clients sessions (HTTP only).
        #[arg(long)]
        stateful: bool,
        /// Answer over SSE streams instead of plain JSON (HTTP only).
        #[arg(long)]
        sse: bool,
    },
}

fn main() -> std::io::Result<()> {
    match Cli::parse().server {
        Server::Backend { listen, threads } => serve(&listen, threads, |base| {
            toolgate_bench::backend::router(Some(base))
        }),
        Server::Forward {
            upstream,
            listen,
            threads,
            client,
        } => {
            let router = toolgate_bench::forward::router(&upstream, client)
                .map_err(std::io::Error::other)?;
            serve(&listen, Some(threads), |_| router)
        }
        Server::Relay { upstream, listen } => runtime(Some(1))?.block_on(async {
            let listener = tokio::net::TcpListener::bind(&listen).await?;
            announce(&format!("listening on http://{}", listener.local_addr()?))?;
            toolgate_bench::forward::relay(listener, upstream).await
        }),
        Server::EchoMcp {
            stdio,
            http,
            stateful,
            sse,
        } => runtime(None)?.block_on(async {
            match http {
                Some(addr) => {
                    let listener = tokio::net::TcpListener::bind(&addr).await?;
                    let local = listener.local_addr()?;
                    let shutdown = CancellationToken::new();
                    let router = toolgate_bench::echo::http_router(stateful, !sse, &shutdown);
                    announce(&format!("MCP endpoint: http://{local}/mcp"))?;
                    let listener = listener.tap_io(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    });
                    axum::serve(listener, router).await
                }
                None if stdio => toolgate_bench::echo::serve_stdio().await,
                None => Err(std::io::Error::other("pass --stdio or --http ADDR")),
            }
        }),
    }
}

/// Serves the router `make` builds (given the base URL) on `listen`, with TCP_NODELAY, after
/// announcing `listening on BASE`.
fn serve(
    listen: &str,
    threads: Option<usize>,
    make: impl FnOnce(&str) -> axum::Router,
) -> std::io::Result<()> {
    runtime(threads)?.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let base = format!("http://{}", listener.local_addr()?);
        let router = make(&base);
        announce(&format!("listening on {base}"))?;
        toolgate_bench::backend::serve(listener, router).await
    })
}

/// A multi-thread runtime with `threads` workers (default: one per core).
fn runtime(threads: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = threads {
        rt.worker_threads(n.max(1));
    }
    rt.build()
}

/// Prints the line the harness waits for, flushed.
fn announce(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}
