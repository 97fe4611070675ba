//! `todo-api` binary: serves the example Todo API on `--addr` (default `127.0.0.1:8000`).

use std::net::SocketAddr;
use std::process::ExitCode;

const USAGE: &str = "usage: todo-api [--addr HOST:PORT]\n\nServes the example Todo API; the OpenAPI document is at /openapi.json.";

fn parse_addr(mut args: impl Iterator<Item = String>) -> Result<SocketAddr, String> {
    let mut addr = "127.0.0.1:8000".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => {
                addr = args
                    .next()
                    .ok_or("--addr needs a value such as 127.0.0.1:8000")?
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => match other.strip_prefix("--addr=") {
                Some(value) => addr = value.to_owned(),
                None => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
            },
        }
    }
    addr.parse()
        .map_err(|e| format!("--addr {addr:?} is not HOST:PORT: {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let addr = match parse_addr(std::env::args().skip(1)) {
        Ok(addr) => addr,
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
        result = todo_api::serve(listener) => match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("todo-api: server failed: {e}");
                ExitCode::FAILURE
            }
        },
        _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
    }
}
