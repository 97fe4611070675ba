//! End-to-end for the load generator: `toolgate bench --json`, run as a user runs it, against
//! toolgate itself and against a third-party MCP server (FastMCP 4.1.6 `from_openapi`, from
//! `scripts/setup-test-deps.sh`), each over streamable HTTP (stateless and session requests)
//! and over stdio, all proxying to the benchmark backend.
//!
//! Small runs: what is checked is that every call asked for is made, answered and counted,
//! and that the JSON report has its documented shape; never how fast anything was.
//! Without FastMCP the third-party test says so and passes locally, but fails under `CI=true`.

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Guard, TOOLGATE_BIN, dependency, free_port, spawn_and_read};
use serde_json::Value;

const CALLS: u64 = 40;
const CONCURRENCY: &str = "4";
const ITEM_ARGS: &str = r#"{"id": 42}"#;

/// The benchmark backend (`toolgate_bench::backend`) on a thread of its own: its base URL.
fn start_backend() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            toolgate_bench::backend::serve(listener, toolgate_bench::backend::router(None)).await
        })
        .unwrap();
    });
    base
}

/// The backend's OpenAPI document, written to a file in `dir`.
fn write_spec(dir: &Path) -> PathBuf {
    let path = dir.join("bench-backend.json");
    let doc = toolgate_bench::backend::openapi_document(None);
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    path
}

/// Runs `toolgate bench --json ARGS` and returns its report.
fn bench(args: &[&str]) -> Value {
    let out = Command::new(TOOLGATE_BIN)
        .arg("bench")
        .arg("--json")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "`toolgate bench {}` failed ({:?}):\n{stdout}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("`toolgate bench --json` printed no JSON ({e}): {stdout}"))
}

/// Asserts that `report` counts exactly `CALLS` successful `tools/call`s of `get_item` against
/// a target of `kind`, with the report's documented fields filled in.
fn assert_counted(report: &Value, kind: &str, mode: Option<&str>) {
    let context = format!("{kind} {mode:?}: {report:#}");
    assert_eq!(report["target"]["kind"], kind, "{context}");
    if let Some(mode) = mode {
        assert_eq!(report["target"]["mode"], mode, "{context}");
    }
    assert_eq!(report["method"], "tools/call", "{context}");
    assert_eq!(
        report["tools"],
        serde_json::json!(["get_item"]),
        "{context}"
    );
    assert_eq!(report["concurrency"], 4, "{context}");
    assert_eq!(report["load"], "closed", "{context}");
    assert_eq!(report["calls"], CALLS, "{context}");
    assert_eq!(report["ok"], CALLS, "{context}");
    assert_eq!(report["errors"]["total"], 0, "{context}");
    assert!(report["calls_per_s"].as_f64().unwrap() > 0.0, "{context}");
    let latency = &report["latency_us"];
    for p in ["min", "p50", "p90", "p99", "max"] {
        assert!(latency[p].as_u64().is_some(), "latency_us.{p}: {context}");
    }
    assert!(
        latency["min"].as_u64() <= latency["p50"].as_u64()
            && latency["p50"].as_u64() <= latency["max"].as_u64(),
        "{context}"
    );
    // Each answer carries the backend's item (a structured result plus its text copy).
    assert!(
        report["response_bytes_mean"].as_f64().unwrap() > 76.0,
        "{context}"
    );
    // The server's pid is known (given, or the spawned stdio child) and its CPU measured.
    assert!(report["server"]["pid"].as_u64().is_some(), "{context}");
    assert!(report["server"]["cpu_s"].as_f64().is_some(), "{context}");
    assert!(report["client"]["cpu_s"].as_f64().is_some(), "{context}");
    if kind == "stdio" {
        let startup = &report["startup"];
        assert!(
            startup["initialize_ms"].as_f64().unwrap() > 0.0,
            "{context}"
        );
    }
}

/// Runs `CALLS` calls of `get_item` at `CONCURRENCY` against `target` (the target's flags)
/// and checks the counts.
fn load_get_item(target: &[&str], kind: &str, mode: Option<&str>) {
    let calls = CALLS.to_string();
    let mut args = target.to_vec();
    args.extend([
        "--tool",
        "get_item",
        "--args",
        ITEM_ARGS,
        "--calls",
        &calls,
        "--concurrency",
        CONCURRENCY,
    ]);
    assert_counted(&bench(&args), kind, mode);
}

/// Loads one streamable HTTP endpoint in both request modes.
fn load_http(url: &str, pid: u32) {
    let pid = pid.to_string();
    for mode in ["stateless", "session"] {
        load_get_item(
            &["--url", url, "--mode", mode, "--server-pid", &pid],
            "http",
            Some(mode),
        );
    }
}

/// Loads a stdio server started by `command`.
fn load_stdio(command: &str) {
    load_get_item(&["--stdio", command], "stdio", None);
}

#[test]
fn toolgate_bench_loads_toolgate_over_http_and_stdio() {
    let backend = start_backend();
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path());
    let spec = spec.to_str().unwrap();

    let (server, rest) = spawn_and_read(
        &[
            "serve",
            "--openapi",
            spec,
            "--base-url",
            &backend,
            "--http",
            "127.0.0.1:0",
        ],
        "toolgate: serving",
    );
    let url = rest.rsplit(' ').next().unwrap().to_owned();
    load_http(&url, server.0.id());
    drop(server);

    load_stdio(&format!(
        "{TOOLGATE_BIN} serve --openapi {spec} --base-url {backend} --stdio"
    ));

    // A list instead of calls, and a count that does not divide by the concurrency.
    let report = bench(&[
        "--stdio",
        &format!("{TOOLGATE_BIN} serve --openapi {spec} --base-url {backend} --stdio"),
        "--method",
        "tools/list",
        "--calls",
        "7",
        "--concurrency",
        "3",
    ]);
    assert_eq!(report["method"], "tools/list", "{report:#}");
    assert_eq!(report["calls"], 7, "{report:#}");
    assert_eq!(report["ok"], 7, "{report:#}");
    assert!(
        report["startup"]["first_tools_list_ms"].as_f64().unwrap() > 0.0,
        "{report:#}"
    );
}

/// Waits until something accepts TCP connections on `port` (FastMCP takes seconds to start).
fn wait_for_port(port: u16, server: &mut Guard, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!("FastMCP exited before it listened on {port}: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("FastMCP did not listen on {port} within {limit:?}");
}

#[test]
fn toolgate_bench_loads_fastmcp_over_http_and_stdio() {
    let Some(python) = dependency("TOOLGATE_TEST_FASTMCP_PYTHON") else {
        return;
    };
    let backend = start_backend();
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path());
    let spec = spec.to_str().unwrap();
    let script = common::repo_root().join("bench/fastmcp_server.py");
    let script = script.to_str().unwrap();

    let port = free_port();
    let mut server = Guard(
        Command::new(&python)
            .args([
                script,
                "--spec",
                spec,
                "--base-url",
                &backend,
                "--http",
                &format!("127.0.0.1:{port}"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, &mut server, Duration::from_secs(60));
    load_http(&format!("http://127.0.0.1:{port}/mcp"), server.0.id());
    drop(server);

    load_stdio(&format!(
        "{} {script} --spec {spec} --base-url {backend} --stdio",
        python.display()
    ));
}
