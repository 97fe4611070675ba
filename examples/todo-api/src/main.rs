//! `todo-api` binary: serves the example Todo API on `--addr` (default `127.0.0.1:8000`);
//! `--slow PREFIX=MS` (repeatable) delays the answers to paths starting with PREFIX.

use std::net::SocketAddr;
use std::process::ExitCode;

const USAGE: &str = "usage: todo-api [--addr HOST:PORT] [--slow PATH_PREFIX=MS]...\n\nServes the example Todo API; the OpenAPI document is at /openapi.json.\n--slow /api/v1/tasks/=250 answers requests under /api/v1/tasks/ after 250 ms.";

type Slow = Vec<(String, u64)>;

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<(SocketAddr, Slow), String> {
    let mut addr = "127.0.0.1:8000".to_owned();
    let mut slow = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => {
                addr = args
                    .next()
                    .ok_or("--addr needs a value such as 127.0.0.1:8000")?
            }
            "--slow" => {
                let value = args
                    .next()
                    .ok_or("--slow needs a value such as /api/v1/tasks/=250")?;
                let parsed = value
                    .rsplit_once('=')
                    .and_then(|(prefix, ms)| Some((prefix.to_owned(), ms.parse::<u64>().ok()?)));
                slow.push(parsed.ok_or_else(|| {
                    format!("--slow {value:?}: expected PATH_PREFIX=MILLISECONDS")
                })?);
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => match other.strip_prefix("--addr=") {
                Some(value) => addr = value.to_owned(),
                None => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
            },
        }
    }
    let addr = addr
        .parse()
        .map_err(|e| format!("--addr {addr:?} is not HOST:PORT: {e}"))?;
    Ok((addr, slow))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (addr, slow) = match parse_args(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("todo-api: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().unwrap_or(addr);
    eprintln!(
        "todo-api listening on http://{local} (OpenAPI document at http://{local}/openapi.json)"
    );
    tokio::select! {
        result = todo_api::serve_slow(listener, slow) => match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("todo-api: server failed: {e}");
                ExitCode::FAILURE
            }
        },
        _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
    }
}
