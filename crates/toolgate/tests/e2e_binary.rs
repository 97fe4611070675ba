//! End-to-end through the real `toolgate` binary: stdio transport, the demo over HTTP with
//! correlation ids in the logs, graceful shutdown, bad-input exit codes, `check-config`'s one
//! verdict, every example config checked fully, and what `inspect` reports (full definitions,
//! the base URL `serve` would use).

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

/// Stops the demo with SIGTERM, checks it exits cleanly: what it wrote to stderr.
fn stop_demo(child: &mut Child) -> String {
    terminate(child);
    let status =
        wait_with_timeout(child, Duration::from_secs(15)).expect("demo exits after SIGTERM");
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    stderr
}

fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

/// POSTs `body` to the demo at `url` (in session `sid`, if any) with `X-Request-Id:
/// corr-test-4711`.
fn demo_post(
    client: &reqwest::blocking::Client,
    url: &str,
    body: serde_json::Value,
    sid: Option<&str>,
) -> reqwest::blocking::Response {
    let mut req = client
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("x-request-id", "corr-test-4711")
        .json(&body);
    if let Some(s) = sid {
        req = req
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-11-25");
    }
    req.send().unwrap()
}

/// Opens a 2025-11-25 session with the demo at `url`: its id.
fn demo_session(client: &reqwest::blocking::Client, url: &str) -> String {
    let init = demo_post(
        client,
        url,
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
        None,
    );
    assert_eq!(init.status(), 200);
    let sid = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = demo_post(
        client,
        url,
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        Some(&sid),
    );
    sid
}

#[test]
fn demo_logs_one_line_per_call_with_the_correlation_id_and_exits_on_sigterm() {
    let (mut child, url) = start_demo();
    let client = reqwest::blocking::Client::new();
    let sid = demo_session(&client, &url);
    let call = demo_post(
        &client,
        &url,
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_users","arguments":{}}}),
        Some(&sid),
    );
    assert_eq!(call.status(), 200);
    assert!(call.text().unwrap().contains("\"result\""));

    let stderr = stop_demo(&mut child);
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

#[test]
fn busy_polling_is_switched_on_from_the_environment_and_calls_are_answered() {
    let (mut child, url) = start_demo_with(&[("TOOLGATE_HTTP__BUSY_POLL_US", "2000")]);
    let client = reqwest::blocking::Client::new();
    let sid = demo_session(&client, &url);
    // Back to back, as a client that busy polling is for sends them, then after a pause.
    for id in 2..12 {
        if id == 11 {
            std::thread::sleep(Duration::from_millis(20));
        }
        let call = demo_post(
            &client,
            &url,
            json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"list_users","arguments":{}}}),
            Some(&sid),
        );
        assert_eq!(call.status(), 200);
        let text = call.text().unwrap();
        assert!(
            text.contains(&format!(r#""id":{id},"result""#)) && !text.contains(r#""isError":true"#),
            "{text}"
        );
    }
    let stderr = stop_demo(&mut child);
    assert!(
        stderr.contains("busy polling around HTTP calls") && stderr.contains("2000"),
        "{stderr}"
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

/// Runs the binary in `dir` and returns (exit code, stdout, stderr).
fn run_in(args: &[&str], dir: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
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
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts the FastAPI example under uvicorn on a free port: the guard and its base URL.
fn start_fastapi(python: &std::path::Path) -> (common::Guard, String) {
    let port = common::free_port();
    let guard = common::Guard(
        Command::new(python)
            .args(["-m", "uvicorn", "app:app", "--port", &port.to_string()])
            .args(["--log-level", "warning"])
            .current_dir(common::repo_root().join("examples/fastapi-todo"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    common::wait_for_http(&format!("{base}/openapi.json"), Duration::from_secs(30));
    (guard, base)
}

/// The address the example configs expect their API at.
const EXAMPLE_API: &str = "http://127.0.0.1:8000";

/// STYLE: every example config is validated by a test. Offline first (which still compiles
/// local specs and checks every option), then fully, as `serve` would load it: against the
/// API it names, started here on a free port (the config is copied with its address).
#[tokio::test(flavor = "multi_thread")]
async fn every_example_config_is_valid_offline_and_fully_against_its_api() {
    let todo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let todo_base = format!("http://{}", todo.local_addr().unwrap());
    tokio::spawn(todo_api::serve(todo));
    let fastapi = match common::dependency("TOOLGATE_TEST_PYTHON") {
        Some(python) => Some(
            tokio::task::spawn_blocking(move || start_fastapi(&python))
                .await
                .unwrap(),
        ),
        None => None,
    };
    let dir = common::repo_root().join("examples/configs");
    let copies = tempfile::tempdir().unwrap();
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let file = path.to_str().unwrap().to_owned();
        let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
            run_in(&["check-config", "--offline", &file], &common::repo_root())
        })
        .await
        .unwrap();
        assert_eq!(code, 0, "{name} offline: {stdout}{stderr}");
        // The full check: against the API the example is written for.
        let api = match name.as_str() {
            "full.yaml" => None,
            "backend-identity.yaml" => Some(todo_base.clone()),
            // Written for a service declaring several FastAPI security classes (none of the
            // examples declares all of them): checked offline only — options, secrets and
            // credential shapes. The password grant itself is exercised end to end against
            // examples/fastapi-pg by e2e_fastapi.rs.
            "fastapi-auth.yaml" => continue,
            // MCP sources: check-config checks their options (above) and starts nothing.
            "upstream-mcp.yaml" => continue,
            // Needs its OpenID provider: checked fully by e2e_auth.rs against a real one.
            "auth-oidc.yaml" => continue,
            // GitHub's spec from the network: checked offline; meta-tool mode is exercised end
            // to end by e2e_meta.rs (GitHub's operations, a local stand-in backend).
            "large-api.yaml" => continue,
            "todo.yaml"
            | "endpoints.yaml"
            | "authz-roles.yaml"
            | "rate-limits.yaml"
            | "rate-limits-redis.yaml"
            | "resilience.yaml" => Some(todo_base.clone()),
            "fastapi.yaml" => match &fastapi {
                Some((_, base)) => Some(base.clone()),
                None => {
                    eprintln!(
                        "SKIPPED the full check of {name}: no Python for the FastAPI example"
                    );
                    continue;
                }
            },
            other => {
                panic!("examples/configs/{other}: say in this test which API it is checked against")
            }
        };
        let full = match &api {
            None => path.clone(),
            Some(base) => {
                assert!(
                    text.contains(EXAMPLE_API),
                    "{name} does not use {EXAMPLE_API}"
                );
                let copy = copies.path().join(&name);
                std::fs::write(&copy, text.replace(EXAMPLE_API, base)).unwrap();
                copy
            }
        };
        let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
            run_in(
                &["check-config", full.to_str().unwrap()],
                &common::repo_root(),
            )
        })
        .await
        .unwrap();
        assert_eq!(code, 0, "{name}: {stdout}{stderr}");
        assert!(stderr.is_empty(), "{name}: {stderr}");
        assert!(
            stdout.contains("configuration is valid") && stdout.contains("operations compiled"),
            "{name} was not checked fully: {stdout}"
        );
        assert!(
            !stdout.contains("0 operations compiled"),
            "{name}: {stdout}"
        );
        assert!(!stdout.contains("not fetched"), "{name}: {stdout}");
        checked.push(name);
    }
    assert!(
        checked.iter().any(|n| n == "full.yaml"),
        "no example configs checked in {}: {checked:?}",
        dir.display()
    );
}

/// A spec with one operation and a relative server URL: its base URL can only be derived from
/// where the spec was fetched.
fn spec_with_relative_server() -> serde_json::Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "rel", "version": "1"},
        "servers": [{"url": "/api/v2"}],
        "paths": {"/items/{id}": {"delete": {
            "operationId": "deleteItem",
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": {"204": {"description": "deleted"}}
        }}}
    })
}

/// Serves [`spec_with_relative_server`] at `/openapi.json` on loopback: its URL.
async fn serve_spec_with_relative_server() -> String {
    let spec = spec_with_relative_server();
    let app = axum::Router::new().route(
        "/openapi.json",
        axum::routing::get(move || {
            let spec = spec.clone();
            async move { axum::Json(spec) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/openapi.json")
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_and_check_config_derive_the_same_base_url_as_serve() {
    let url = serve_spec_with_relative_server().await;
    let want = url.replace("/openapi.json", "/api/v2");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("toolgate.yaml");
    std::fs::write(&cfg, format!("sources:\n  - name: rel\n    spec: {url}\n")).unwrap();
    let (inspect_text, inspect_json, check) = tokio::task::spawn_blocking(move || {
        let here = std::env::temp_dir();
        (
            run_in(&["inspect", &url], &here),
            run_in(&["inspect", "--json", &url], &here),
            run_in(&["check-config", cfg.to_str().unwrap()], &here),
        )
    })
    .await
    .unwrap();
    assert_eq!(check.0, 0, "{check:?}");
    assert!(check.1.contains(&format!("backend {want}")), "{check:?}");
    assert_eq!(inspect_text.0, 0, "{inspect_text:?}");
    assert!(
        inspect_text.1.contains(&format!("base URL {want}")),
        "{inspect_text:?}"
    );
    let report: serde_json::Value = serde_json::from_str(&inspect_json.1).unwrap();
    assert_eq!(report["specs"][0]["base_url"], want.as_str());
    assert_eq!(report["specs"][0]["spec_server"], "/api/v2");

    // A file spec with a relative server has no base URL, and inspect says why.
    let file = dir.path().join("rel.json");
    std::fs::write(&file, spec_with_relative_server().to_string()).unwrap();
    let (code, stdout, _) = run_in(&["inspect", file.to_str().unwrap()], dir.path());
    assert_eq!(code, 0);
    assert!(
        stdout.contains("base URL (none: the spec's server URL `/api/v2` is relative"),
        "{stdout}"
    );
}

#[test]
fn check_config_gives_one_verdict_that_matches_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.yaml");
    std::fs::write(
        &spec,
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\nservers: [{url: 'http://127.0.0.1:9'}]\npaths:\n  /a:\n    get:\n      operationId: getA\n      responses: {'200': {description: ok}}\n",
    )
    .unwrap();
    let cfg = dir.path().join("toolgate.yaml");
    // One good source, one whose spec is missing, one with a bad route-map regex and bad
    // backend options: every problem is listed, and nothing says "valid".
    std::fs::write(
        &cfg,
        "sources:\n  - name: good\n    spec: ./spec.yaml\n  - name: missing\n    spec: ./nope.yaml\n  - name: opts\n    spec: http://127.0.0.1:9/openapi.json\n    compile:\n      route_maps: [{path: '(x', to: exclude}]\n    backend:\n      timeout_ms: 0\n      forward_headers: [authorization]\n",
    )
    .unwrap();
    for offline in [false, true] {
        let mut args = vec!["check-config"];
        if offline {
            args.push("--offline");
        }
        args.push(cfg.to_str().unwrap());
        let (code, stdout, stderr) = run_in(&args, dir.path());
        assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
        assert!(
            stdout.is_empty(),
            "{args:?}: a verdict on stdout too: {stdout}"
        );
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("valid ("), "{args:?}: {stderr}");
        for want in [
            "sources[1]: source `missing`: cannot read spec file",
            "sources[2].compile: invalid compile options: route_maps[0].path",
            "sources[2].backend: timeout_ms must be greater than 0",
            "sources[2].backend: forward_headers: `authorization` cannot be listed",
        ] {
            assert!(
                stderr.contains(want),
                "{args:?}: `{want}` missing: {stderr}"
            );
        }
    }
    std::fs::write(&cfg, "sources:\n  - name: good\n    spec: ./spec.yaml\n").unwrap();
    let (code, stdout, stderr) = run_in(&["check-config", cfg.to_str().unwrap()], dir.path());
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(
        stdout.matches("configuration is valid").count(),
        1,
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "source `good`: 1 operations compiled, 0 skipped, backend http://127.0.0.1:9/"
        ),
        "{stdout}"
    );
}

#[test]
fn check_config_checks_authorization_rules() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("spec.yaml"),
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\nservers: [{url: 'http://127.0.0.1:9'}]\npaths:\n  /a:\n    get:\n      operationId: list_a\n      responses: {'200': {description: ok}}\n",
    )
    .unwrap();
    let cfg = dir.path().join("toolgate.yaml");
    let rules = |names: &str| {
        format!(
            "sources:\n  - name: s\n    spec: ./spec.yaml\nauthorization:\n  rules:\n    - name: readers\n      principals: {{roles: [reader]}}\n      tools: {{names: [{names}]}}\n"
        )
    };
    // A name matching no tool: valid, with a warning naming the rule and the path.
    std::fs::write(&cfg, rules("list_*, lsit_b")).unwrap();
    let (code, stdout, stderr) = run_in(&["check-config", cfg.to_str().unwrap()], dir.path());
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("warning: authorization.rules[0].tools.names[1]: rule `readers`: `lsit_b` matches no tool"),
        "{stdout}"
    );
    assert!(!stdout.contains("names[0]"), "{stdout}");
    // A bad glob: an error with its path.
    std::fs::write(&cfg, rules("'list_[a'")).unwrap();
    let (code, stdout, stderr) = run_in(&["check-config", cfg.to_str().unwrap()], dir.path());
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("authorization.rules[0].tools.names[0]: `list_[a` is not a valid glob"),
        "{stderr}"
    );
}

#[test]
fn inspect_reports_tools_and_skips_with_exit_codes_0_1_2() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(
        &good,
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /pets/{id}:\n    get:\n      operationId: getPet\n      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]\n      responses: {'200': {description: ok, content: {application/json: {schema: {type: object, properties: {name: {type: string}}}}}}}\n  /owners/{owner}:\n    get:\n      operationId: getOwner\n      parameters: [{name: owner, in: path, required: true, schema: {type: string}}]\n      responses: {'200': {description: ok}}\n",
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
    // The tool exactly as MCP clients get it: full input schema, output schema, annotations.
    let tool = &op["definition"];
    assert_eq!(tool["name"], "getPet");
    assert_eq!(
        tool["inputSchema"],
        json!({"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}),
        "{tool}"
    );
    assert_eq!(
        tool["outputSchema"]["properties"]["name"]["type"], "string",
        "{tool}"
    );
    assert_eq!(tool["annotations"]["readOnlyHint"], true, "{tool}");
    assert_eq!(tool["annotations"]["idempotentHint"], true, "{tool}");
    // With a configuration, its compile options apply: a resource template shows its URI
    // template and the schema of its variables.
    let cfg = dir.path().join("toolgate.yaml");
    std::fs::write(
        &cfg,
        "sources:\n  - name: t\n    spec: ./good.yaml\n    base_url: http://127.0.0.1:9/api\n    compile:\n      route_maps: [{path: '^/owners/', to: resource}]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["inspect", "--json", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["specs"][0]["source"], "t");
    assert_eq!(report["specs"][0]["base_url"], "http://127.0.0.1:9/api");
    let template = &report["specs"][0]["operations"][1];
    assert_eq!(template["kind"], "resource_template", "{template}");
    assert_eq!(
        template["definition"]["uriTemplate"], "api://t/owners/{owner}",
        "{template}"
    );
    assert_eq!(
        template["input_schema"]["properties"]["owner"]["type"], "string",
        "{template}"
    );
    let out = Command::new(BIN)
        .args(["inspect", good.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text
        .lines()
        .find(|l| l.contains("getPet"))
        .unwrap_or_default();
    assert!(row.contains("read-only, idempotent"), "{text}");

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
        // Older kernels do not report it; nothing to check there. The CI machines' kernels
        // do, so there the check must run.
        assert!(
            !common::in_ci(),
            "this kernel does not report THP_enabled in /proc/PID/status; the check cannot run"
        );
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
