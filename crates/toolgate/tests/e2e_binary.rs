//! End-to-end through the real `toolgate` binary: stdio transport, the demo over HTTP with
//! correlation ids in the logs, graceful shutdown, and bad-input exit codes.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_toolgate");

#[tokio::test]
async fn stdio_demo_lists_and_calls_tools() {
    let transport = TokioChildProcess::new(tokio::process::Command::new(BIN).configure(|c| {
        c.args(["demo", "--stdio"]);
    }))
    .unwrap();
    let client = ().serve(transport).await.expect("initialize over stdio");
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "create_user"));
    let args = json!({"name": "Grace", "email": "grace@example.com"});
    let result = client
        .call_tool(
            CallToolRequestParams::new("create_user")
                .with_arguments(args.as_object().cloned().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(
        result.structured_content.unwrap()["email"],
        "grace@example.com"
    );
    let users = client
        .call_tool(CallToolRequestParams::new("list_users"))
        .await
        .unwrap();
    let users = users.structured_content.unwrap();
    assert_eq!(users["result"][0]["name"], "Grace", "{users}");
    client.cancel().await.unwrap();
}

/// Starts `toolgate demo --http 127.0.0.1:0` and returns the child and its MCP URL.
fn start_demo() -> (Child, String) {
    start_demo_with(&[])
}

/// The demo over HTTP with extra environment variables, once it serves.
fn start_demo_with(env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["demo", "--http", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    // Keep draining stdout so the demo never writes into a closed pipe.
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(rest) = line.trim().strip_prefix("MCP endpoint:") {
                let _ = tx.send(rest.trim().to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("demo printed its MCP endpoint");
    (child, url)
}

fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

#[test]
fn demo_logs_one_line_per_call_with_the_correlation_id_and_exits_on_sigterm() {
    let (mut child, url) = start_demo();
    let client = reqwest::blocking::Client::new();
    let post = |body: serde_json::Value, sid: Option<&str>| {
        let mut req = client
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .header("x-request-id", "corr-test-4711")
            .json(&body);
        if let Some(s) = sid {
            req = req
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", "2025-11-25");
        }
        req.send().unwrap()
    };
    let init = post(
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
        None,
    );
    assert_eq!(init.status(), 200);
    let sid = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = post(
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        Some(&sid),
    );
    let call = post(
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_users","arguments":{}}}),
        Some(&sid),
    );
    assert_eq!(call.status(), 200);
    assert!(call.text().unwrap().contains("\"result\""));

    terminate(&mut child);
    let status =
        wait_with_timeout(&mut child, Duration::from_secs(15)).expect("demo exits after SIGTERM");
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let call_lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("corr-test-4711") && l.contains("tools/call"))
        .collect();
    assert_eq!(
        call_lines.len(),
        1,
        "expected one call line, stderr:\n{stderr}"
    );
    assert!(
        call_lines[0].contains("list_users") && call_lines[0].contains("latency_ms"),
        "{}",
        call_lines[0]
    );
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

/// Runs the binary and returns (exit code, stderr).
fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("PETSTORE_TOKEN", "example-token")
        .envs([
            ("FASTAPI_USERNAME", "svc@example.com"),
            ("FASTAPI_PASSWORD", "example-password"),
            ("FASTAPI_API_KEY", "example-key"),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_one_clear_error(args: &[&str], needle: &str) {
    let (code, stderr) = run(args);
    assert_eq!(code, 2, "args {args:?}: stderr {stderr}");
    assert!(
        stderr.contains(needle),
        "args {args:?}: expected `{needle}` in {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        stderr.matches("error:").count(),
        1,
        "one error message expected: {stderr}"
    );
}

#[test]
fn missing_spec_file_exits_2() {
    assert_one_clear_error(
        &["serve", "--openapi", "/nonexistent/openapi.yaml", "--stdio"],
        "cannot read spec file",
    );
}

#[test]
fn invalid_spec_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "openapi: [this is: not valid").unwrap();
    assert_one_clear_error(
        &["serve", "--openapi", bad.to_str().unwrap(), "--stdio"],
        "bad.yaml",
    );
    let not_openapi = dir.path().join("other.json");
    std::fs::write(&not_openapi, r#"{"hello": "world"}"#).unwrap();
    assert_one_clear_error(
        &[
            "serve",
            "--openapi",
            not_openapi.to_str().unwrap(),
            "--stdio",
        ],
        "not an OpenAPI document",
    );
}

#[test]
fn unreachable_spec_url_exits_2() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let url = format!("http://127.0.0.1:{port}/openapi.json");
    assert_one_clear_error(
        &["serve", "--openapi", &url, "--stdio"],
        "cannot fetch spec",
    );
}

#[test]
fn unknown_config_key_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("toolgate.yaml");
    std::fs::write(&cfg, "http:\n  bind: 127.0.0.1:0\n  colour: blue\n").unwrap();
    assert_one_clear_error(&["check-config", cfg.to_str().unwrap()], "colour");
    assert_one_clear_error(&["serve", "--config", cfg.to_str().unwrap()], "colour");
}

#[test]
fn every_example_config_is_valid() {
    let dir = common::repo_root().join("examples/configs");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let (code, stderr) = run(&["check-config", "--offline", path.to_str().unwrap()]);
            assert_eq!(code, 0, "{}: {stderr}", path.display());
            checked += 1;
        }
    }
    assert!(checked > 0, "no example configs found in {}", dir.display());
}

#[test]
fn inspect_reports_tools_and_skips_with_exit_codes_0_1_2() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(
        &good,
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /pets/{id}:\n    get:\n      operationId: getPet\n      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]\n      responses: {'200': {description: ok}}\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["inspect", "--json", good.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let op = &report["specs"][0]["operations"][0];
    assert_eq!(op["name"], "getPet");
    assert_eq!(op["arguments"], json!(["id*"]));

    // One operation with a broken $ref is skipped (exit 1), the other is still listed.
    let partial = dir.path().join("partial.yaml");
    std::fs::write(
        &partial,
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      operationId: okOp\n      responses: {'200': {description: ok}}\n  /b:\n    post:\n      operationId: brokenOp\n      requestBody: {$ref: '#/components/requestBodies/Missing'}\n      responses: {'200': {description: ok}}\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["inspect", partial.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("okOp")
            && text.contains("error: POST /b")
            && text.contains("points to nothing"),
        "{text}"
    );

    // A spec that is not OpenAPI at all is exit 2.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"nothing\": true}").unwrap();
    let (code, stderr) = run(&["inspect", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
}

/// `THP_enabled` of a running process (Linux ≥ 6.x reports it in `/proc/PID/status`).
#[cfg(target_os = "linux")]
fn thp_enabled(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:").map(|v| v.trim().to_owned()))
}

#[cfg(target_os = "linux")]
#[test]
fn transparent_huge_pages_are_off_unless_mimalloc_is_told_otherwise() {
    let own = thp_enabled(std::process::id());
    if own.is_none() {
        // Older kernels do not report it; nothing to check there.
        return;
    }
    let (mut child, _url) = start_demo();
    let status = thp_enabled(child.id());
    terminate(&mut child);
    let _ = child.wait();
    assert_eq!(status.as_deref(), Some("0"), "the gateway switches THP off");

    // Once it serves, `main` has long run.
    let (mut child, _url) = start_demo_with(&[("MIMALLOC_ALLOW_THP", "1")]);
    let status = thp_enabled(child.id());
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        status, own,
        "MIMALLOC_ALLOW_THP leaves the inherited setting alone"
    );
}
