//! A pooled connection that the backend closed without saying so must not fail the next call
//! when sending it again is safe, and must be reported as "may have been sent" when it is not.
//!
//! Two backends: a hand-written HTTP/1.1 server on 127.0.0.1:0 that reads the second request
//! of a connection and closes it unanswered (deterministic: the request was written), and a
//! real FastAPI app under uvicorn whose unhandled exception makes uvicorn close the connection
//! after its 500 (a race the client loses some of the time).

#[allow(dead_code)]
#[path = "executor/common.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use toolgate_core::error::{Delivery, ToolErrorKind};
use toolgate_http::{HttpBackend, HttpSourceOptions};
use toolgate_openapi::ir::HttpMethod;

use common::*;

/// The request lines each connection received, in order.
type Seen = Arc<Mutex<Vec<Vec<String>>>>;

/// Reads one request (head and `content-length` body); its request line, or `None` at EOF.
async fn read_request(conn: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        if conn.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).await.ok()?;
    head.lines().next().map(str::to_owned)
}

/// A backend that answers the first request of each connection as a kept-alive HTTP/1.1
/// response (no `Connection: close`), then reads the next request in full and closes the
/// connection without answering it.
async fn answers_once_per_connection() -> (SocketAddr, Seen) {
    answers_once_per_connection_with(&[]).await
}

/// [`answers_once_per_connection`], answering the n-th connection with `statuses[n]` (200
/// past the end).
async fn answers_once_per_connection_with(statuses: &[u16]) -> (SocketAddr, Seen) {
    let statuses = statuses.to_vec();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            let index = {
                let mut seen = record.lock().unwrap();
                seen.push(Vec::new());
                seen.len() - 1
            };
            let record = record.clone();
            let status = statuses.get(index).copied().unwrap_or(200);
            tokio::spawn(async move {
                let Some(line) = read_request(&mut conn).await else {
                    return;
                };
                record.lock().unwrap()[index].push(line);
                let body = r#"{"ok":true}"#;
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                conn.write_all(reply.as_bytes()).await.unwrap();
                if let Some(line) = read_request(&mut conn).await {
                    record.lock().unwrap()[index].push(line);
                }
                // Dropped: closed with the second request unanswered.
            });
        }
    });
    (addr, seen)
}

fn backend_at(addr: SocketAddr) -> HttpBackend {
    HttpBackend::new(
        format!("http://{addr}/").parse().unwrap(),
        vec![],
        HttpSourceOptions::default(),
    )
    .unwrap()
}

#[tokio::test]
async fn an_idempotent_request_lost_with_its_connection_is_sent_again_on_a_new_one() {
    for method in [HttpMethod::Get, HttpMethod::Put, HttpMethod::Delete] {
        let (addr, seen) = answers_once_per_connection().await;
        let b = backend_at(addr);
        let op = op("t", method, "/items").build();
        call(&b, &op, json!({})).await.unwrap();
        let r = call(&b, &op, json!({})).await.unwrap_or_else(|e| {
            panic!(
                "{method}: the lost request was not sent again: {}",
                e.message
            )
        });
        assert_eq!(r.structured_content, Some(json!({"ok": true})));
        assert_eq!(b.resent_requests(), 1, "{method}");
        let line = format!("{method} /items HTTP/1.1");
        assert_eq!(
            *seen.lock().unwrap(),
            vec![vec![line.clone(), line.clone()], vec![line]],
            "{method}: written on the pooled connection, then once on a new one"
        );
    }
}

#[tokio::test]
async fn a_post_lost_with_its_connection_is_not_sent_again_and_says_so() {
    let (addr, seen) = answers_once_per_connection().await;
    let b = backend_at(addr);
    let op = op("t", HttpMethod::Post, "/items").build();
    call(&b, &op, json!({})).await.unwrap();
    let err = call(&b, &op, json!({})).await.unwrap_err();
    assert_eq!(err.kind, ToolErrorKind::Transport, "{}", err.message);
    assert_eq!(err.delivery, Delivery::MaybeSent);
    assert!(
        err.message
            .contains("broke during POST /items, before a response arrived"),
        "{}",
        err.message
    );
    // The typed cause is kept for the log.
    let cause = err.cause.as_deref().expect("a cause");
    let chain = std::iter::successors(Some(cause as &(dyn std::error::Error + 'static)), |e| {
        e.source()
    })
    .map(|e| e.to_string())
    .collect::<Vec<_>>();
    assert!(
        chain
            .iter()
            .any(|c| c.contains("connection closed before message completed")),
        "{chain:?}"
    );
    assert_eq!(b.resent_requests(), 0);
    let line = "POST /items HTTP/1.1".to_owned();
    assert_eq!(*seen.lock().unwrap(), vec![vec![line.clone(), line]]);
}

/// uvicorn closes a connection right after a 500 from an unhandled exception: for a while
/// after a 5xx, a request that could not be resent takes a new connection rather than risk it.
#[tokio::test(start_paused = true)]
async fn after_a_server_error_a_post_takes_a_new_connection_for_a_while() {
    let (addr, seen) = answers_once_per_connection_with(&[500]).await;
    let b = backend_at(addr);
    let op = op("t", HttpMethod::Post, "/items").build();
    let err = call(&b, &op, json!({})).await.unwrap_err();
    assert_eq!(err.status, Some(500));
    call(&b, &op, json!({}))
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    let line = "POST /items HTTP/1.1".to_owned();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![vec![line.clone()], vec![line.clone()]],
        "the second POST went out on a new connection"
    );
    assert_eq!(b.resent_requests(), 0, "nothing was sent twice");

    // Once the window has passed, pooled connections are used again (here the first one,
    // which the backend then closes with the POST unanswered).
    tokio::time::advance(std::time::Duration::from_secs(1)).await;
    let err = call(&b, &op, json!({})).await.unwrap_err();
    assert_eq!(err.delivery, Delivery::MaybeSent, "{}", err.message);
    assert_eq!(seen.lock().unwrap()[0], vec![line.clone(), line]);
}

#[tokio::test]
async fn a_post_with_an_idempotency_key_is_sent_again() {
    let (addr, seen) = answers_once_per_connection().await;
    let b = backend_at(addr);
    let op = op("t", HttpMethod::Post, "/items")
        .header("Idempotency-Key")
        .build();
    let args = json!({"Idempotency-Key": "k-1"});
    call(&b, &op, args.clone()).await.unwrap();
    call(&b, &op, args).await.unwrap();
    assert_eq!(b.resent_requests(), 1);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The Python with FastAPI and uvicorn (`TOOLGATE_TEST_PYTHON`, set by
/// `scripts/setup-test-deps.sh`); `None` outside CI when it is missing, a failure under CI.
fn python() -> Option<PathBuf> {
    match std::env::var_os("TOOLGATE_TEST_PYTHON").map(PathBuf::from) {
        Some(p) if p.exists() => Some(p),
        other => {
            let msg = format!(
                "TOOLGATE_TEST_PYTHON is {}; run `eval \"$(bash scripts/setup-test-deps.sh)\"` first",
                match other {
                    Some(p) => format!("set to a missing path {}", p.display()),
                    None => "not set".to_owned(),
                }
            );
            assert!(!in_ci(), "{msg} (required under CI=true)");
            eprintln!("SKIPPED (dependency missing): {msg}");
            None
        }
    }
}

struct Uvicorn {
    child: Child,
    port: u16,
}

impl Drop for Uvicorn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn uvicorn(python: &PathBuf, http: &str) -> Uvicorn {
    let app = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/stale/uvicorn_app.py");
    let mut child = Command::new(python)
        .arg(app)
        .arg(http)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no port from uvicorn: {line:?}"));
    Uvicorn { child, port }
}

/// Calls `/boom` (500, then uvicorn closes the connection) and right after it `method
/// /items`, `rounds` times; returns how many `/items` calls failed, with the first failure.
async fn rounds(b: &HttpBackend, method: HttpMethod, rounds: usize) -> (usize, Option<String>) {
    let boom = get("/boom").named("boom").build();
    let items = op("items", method, "/items").build();
    let mut failed = 0;
    let mut first = None;
    for _ in 0..rounds {
        let err = call(b, &boom, json!({})).await.unwrap_err();
        assert_eq!(err.status, Some(500), "{}", err.message);
        if let Err(e) = call(b, &items, json!({})).await {
            failed += 1;
            first.get_or_insert(format!("{:?}: {}", e.kind, e.message));
        }
    }
    (failed, first)
}

/// The reproduction of the reported failure: with a real FastAPI app under uvicorn (both
/// HTTP implementations), a call right after one that raised fails no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uvicorn_closing_after_an_unhandled_exception_fails_no_later_call() {
    let Some(python) = python() else { return };
    const N: usize = 50;
    let mut report = Vec::new();
    // h11 is uvicorn's own; httptools comes with `uvicorn[standard]`, when installed.
    let httptools = Command::new(&python)
        .args(["-c", "import httptools"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !httptools {
        eprintln!("httptools is not installed: uvicorn's h11 implementation only");
    }
    let implementations = if httptools {
        &["h11", "httptools"][..]
    } else {
        &["h11"][..]
    };
    for &http in implementations {
        let server = uvicorn(&python, http);
        let b = HttpBackend::new(
            format!("http://127.0.0.1:{}/", server.port)
                .parse()
                .unwrap(),
            vec![],
            HttpSourceOptions::default(),
        )
        .unwrap();
        for method in [HttpMethod::Get, HttpMethod::Post] {
            let (failed, first) = rounds(&b, method, N).await;
            eprintln!("uvicorn {http} {method}: {failed}/{N} later calls failed; first: {first:?}");
            report.push((http, method, failed, first));
        }
    }
    assert!(
        report.iter().all(|(_, _, failed, _)| *failed == 0),
        "calls after an unhandled exception failed: {report:?}"
    );
}
