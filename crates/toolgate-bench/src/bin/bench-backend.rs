//! `bench-backend [--listen ADDR] [--threads N]`: the fixed-answer backend of the benchmarks.
//! Prints `listening on http://ADDR` on stdout once it accepts connections.

use std::io::Write as _;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "bench-backend",
    about = "GET /items/{id} (fixed JSON) and GET /openapi.json"
)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = cli.threads {
        rt.worker_threads(n.max(1));
    }
    rt.build()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(&cli.listen).await?;
        let addr = listener.local_addr()?;
        let base = format!("http://{addr}");
        let router = toolgate_bench::backend::router(Some(&base));
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {base}")?;
        out.flush()?;
        drop(out);
        toolgate_bench::backend::serve(listener, router).await
    })
}
