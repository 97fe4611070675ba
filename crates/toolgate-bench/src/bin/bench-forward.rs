//! `bench-forward --upstream URL [--listen ADDR] [--threads N]`: the bare HTTP forwarder of the
//! benchmarks (a reference: what a gateway hop costs without MCP). Prints
//! `listening on http://ADDR` on stdout once it accepts connections.

use std::io::Write as _;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "bench-forward",
    about = "Forwards every HTTP request to one upstream"
)]
struct Cli {
    /// The upstream, `http://host:port`.
    #[arg(long)]
    upstream: String,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Runtime worker threads (default 1, as `toolgate serve`).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()?
        .block_on(async {
            let listener = tokio::net::TcpListener::bind(&cli.listen).await?;
            let base = format!("http://{}", listener.local_addr()?);
            let router = toolgate_bench::forward::router(&cli.upstream);
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on {base}")?;
            out.flush()?;
            drop(out);
            toolgate_bench::backend::serve(listener, router).await
        })
}
