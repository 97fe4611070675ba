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

#[cfg(test)]
mod tests {
    use super::parse_args;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn slow_prefixes_and_the_address_parse() {
        let (addr, slow) = parse_args(args(&[
            "--slow",
            "/api/v1/tasks/=150",
            "--addr",
            "127.0.0.1:9000",
            "--slow",
            "/a=b=5",
        ]))
        .unwrap();
        assert_eq!(addr.to_string(), "127.0.0.1:9000");
        assert_eq!(
            slow,
            vec![("/api/v1/tasks/".to_owned(), 150), ("/a=b".to_owned(), 5)]
        );
        let (addr, slow) = parse_args(args(&[])).unwrap();
        assert_eq!(addr.to_string(), "127.0.0.1:8000");
        assert!(slow.is_empty());
    }

    #[test]
    fn a_bad_slow_value_is_refused_with_the_expected_form() {
        let e = parse_args(args(&["--slow", "/tasks"])).unwrap_err();
        assert!(e.contains("PATH_PREFIX=MILLISECONDS"), "{e}");
        let e = parse_args(args(&["--slow", "/tasks=soon"])).unwrap_err();
        assert!(e.contains("PATH_PREFIX=MILLISECONDS"), "{e}");
        assert!(parse_args(args(&["--slow"])).is_err());
    }
}
