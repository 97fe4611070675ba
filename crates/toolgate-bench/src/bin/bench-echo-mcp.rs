//! `bench-echo-mcp --stdio | --http ADDR [--stateful]`: a minimal rmcp server with an `echo`
//! and a `fail` tool. Over HTTP it prints `MCP endpoint: URL` on stdout once listening.

use std::io::Write as _;

use axum::serve::ListenerExt as _;
use clap::Parser;
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(
    name = "bench-echo-mcp",
    about = "Minimal rmcp server: tools echo and fail"
)]
struct Cli {
    /// Serve on stdin/stdout.
    #[arg(long, conflicts_with = "http")]
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
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    if let Some(addr) = cli.http {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        let local = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let router = toolgate_bench::echo::http_router(cli.stateful, !cli.sse, &shutdown);
        let mut out = std::io::stdout().lock();
        writeln!(out, "MCP endpoint: http://{local}/mcp")?;
        out.flush()?;
        drop(out);
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, router).await
    } else if cli.stdio {
        toolgate_bench::echo::serve_stdio().await
    } else {
        Err(std::io::Error::other("pass --stdio or --http ADDR"))
    }
}
