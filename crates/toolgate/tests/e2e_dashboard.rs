//! The live dashboard (`/admin/dashboard`) on the real binary:
//! - in a real headless browser (Debian's Chromium, driven over the DevTools protocol by
//!   `tests/e2e/dashboard_browser.mjs`): the page loads, its numbers change after tool calls,
//!   it draws its plots, and it meets no console error, uncaught exception or failed
//!   request; a screenshot is written under the target directory (its path printed);
//! - its data: per-tool calls, errors and p50/p95 against the configured budgets;
//! - its protection: the static shell is open and carries a strict CSP; the data answers
//!   only loopback clients of the gateway's own origin with authentication off, and only an
//!   admin bearer with it on; `dashboard.enabled: false` removes it.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::clients::MODERN_META;
use serde_json::Value;

/// Budgets in the gate plan's shape: a default and a per-tool override (0 ms: always over).
const BUDGETS: &str = "dashboard:\n  budgets:\n    default: {p50_ms: 250, p95_ms: 1000}\n    tools:\n      get_user: {p95_ms: 0}\n";

/// Two API keys: `admin-key-…` with the admin scope, `reader-key-…` with a role only (the
/// keys of e2e_reload_admin.rs).
const AUTH: &str = "auth:\n  api_keys:\n    - id: admin\n      sha256: 1b3af7d2f1f3428ee7d76d5be730b93565efcf2ecbb7819caf9002bca23d4545\n      scopes: [toolgate:admin]\n    - id: reader\n      sha256: 75b38889ff0e52878a7637a97ae16cbe0af0f5542459765a705db1e2e8b7d33d\n      roles: [reader]\n";
const ADMIN_KEY: &str = "admin-key-0123456789abcdef";

/// The binary serving the Todo API at `api` with `extra` configuration, on a free port.
fn serve(dir: &Path, api: std::net::SocketAddr, extra: &str) -> (common::Guard, u16) {
    std::fs::write(
        dir.join("todo.json"),
        serde_json::to_vec(&todo_api::openapi()).unwrap(),
    )
    .unwrap();
    let port = common::free_port();
    std::fs::write(
        dir.join("config.yaml"),
        format!(
            "http:\n  bind: 127.0.0.1:{port}\n{extra}sources:\n  - name: todo\n    spec: todo.json\n    base_url: http://{api}\n"
        ),
    )
    .unwrap();
    let mut command = Command::new(common::TOOLGATE_BIN);
    command.args([
        "serve",
        "--no-watch",
        "--config",
        dir.join("config.yaml").to_str().unwrap(),
    ]);
    let (child, _, _) =
        common::spawn_capturing(command, "toolgate: serving").unwrap_or_else(|e| panic!("{e}"));
    (child, port)
}

/// `n` calls of `tool` with `arguments` (JSON object text), with `bearer` if given.
async fn call_as(port: u16, bearer: Option<&str>, tool: &str, arguments: &str, n: usize) {
    for i in 0..n {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments},{MODERN_META}}}}}"#
        );
        let mut req = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", tool);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let resp = req.body(body).send().await.unwrap();
        let status = resp.status().as_u16();
        assert_eq!(status, 200, "{}", resp.text().await.unwrap());
    }
}

async fn call(port: u16, tool: &str, arguments: &str, n: usize) {
    call_as(port, None, tool, arguments, n).await;
}

/// GET `path` on the gateway with optional headers: status, headers and body.
async fn get(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = reqwest::Client::new().get(format!("http://127.0.0.1:{port}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

async fn data(port: u16, headers: &[(&str, &str)]) -> (u16, Value) {
    let (status, _, body) = get(port, "/admin/dashboard/data", headers).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

fn tool<'a>(data: &'a Value, name: &str) -> &'a Value {
    data["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no tool `{name}` in {data}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_has_each_tools_calls_errors_and_percentiles_against_its_budget() {
    let api = common::todo_api_thread();
    let dir = tempfile::tempdir().unwrap();
    let (_child, port) = serve(dir.path(), api, BUDGETS);
    let (status, before) = data(port, &[]).await;
    assert_eq!(status, 200, "{before}");
    let users = tool(&before, "list_users");
    assert_eq!(users["source"], "todo");
    assert_eq!(users["calls_total"], 0);
    assert_eq!(users["p95_ms"], Value::Null, "no call, no percentile");

    call(port, "list_users", "{}", 12).await;
    // A user that does not exist: the backend's 404 is a tool error.
    call(port, "get_user", r#"{"user_id": 987654}"#, 3).await;
    let (status, after) = data(port, &[]).await;
    assert_eq!(status, 200, "{after}");
    let users = tool(&after, "list_users");
    assert_eq!(users["calls_total"], 12, "{users}");
    assert_eq!(users["errors_total"], 0, "{users}");
    assert!(users["calls_per_s"].as_f64().unwrap() > 0.0, "{users}");
    let p50 = users["p50_ms"].as_f64().expect("p50 after calls");
    let p95 = users["p95_ms"].as_f64().expect("p95 after calls");
    assert!(p50 > 0.0 && p95 >= p50, "{users}");
    assert_eq!(
        users["budget"],
        serde_json::json!({"p50_ms": 250.0, "p95_ms": 1000.0})
    );
    let missing = tool(&after, "get_user");
    assert_eq!(missing["errors_total"], 3, "{missing}");
    assert_eq!(missing["error_rate"], 1.0, "{missing}");
    // Its own p95 budget (0 ms) with the default's p50.
    assert_eq!(
        missing["budget"],
        serde_json::json!({"p50_ms": 250.0, "p95_ms": 0.0})
    );
    assert_eq!(missing["over_budget"], true, "{missing}");
    // The rest of the snapshot.
    assert_eq!(after["sources"][0]["source"], "todo", "{after}");
    assert_eq!(after["sources"][0]["healthy"], true, "{after}");
    assert_eq!(after["sessions"]["open"], 0, "{after}");
    assert_eq!(after["rate_limits"]["refused_total"], 0, "{after}");
    assert_eq!(
        after["config"]["hash"].as_str().unwrap().len(),
        16,
        "{after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_authentication_off_only_the_gateways_own_loopback_page_reads_the_data() {
    let api = common::todo_api_thread();
    let dir = tempfile::tempdir().unwrap();
    let (_child, port) = serve(dir.path(), api, "");
    // The shell: open, typed, under a strict CSP.
    let (status, headers, html) = get(port, "/admin/dashboard", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(!html.contains("<script>"), "no inline script: {html}");
    let (status, headers, js) = get(port, "/admin/dashboard/dashboard.js", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert!(js.contains("/admin/dashboard/data"));
    let (_, headers, _) = get(port, "/admin/dashboard/dashboard.css", &[]).await;
    assert_eq!(headers["content-type"], "text/css; charset=utf-8");

    let own = format!("http://127.0.0.1:{port}");
    let (status, _) = data(port, &[("origin", own.as_str())]).await;
    assert_eq!(status, 200, "the page itself");
    for origin in [
        "http://evil.example".to_owned(),
        // Another page on this machine is not the dashboard either.
        format!("http://127.0.0.1:{}", port + 1),
        "null".to_owned(),
    ] {
        let (status, body) = data(port, &[("origin", origin.as_str())]).await;
        assert_eq!(status, 403, "Origin {origin}: {body}");
    }
    // DNS rebinding: a foreign name pointing at 127.0.0.1, page and data on the same origin.
    let host = format!("rebind.example:{port}");
    let (status, body) = data(
        port,
        &[
            ("host", host.as_str()),
            ("origin", format!("http://{host}").as_str()),
        ],
    )
    .await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_authentication_on_the_data_needs_an_admin_bearer_and_the_dashboard_can_be_off() {
    let api = common::todo_api_thread();
    let dir = tempfile::tempdir().unwrap();
    let (_child, port) = serve(dir.path(), api, AUTH);
    let (status, _, _) = get(port, "/admin/dashboard", &[]).await;
    assert_eq!(status, 200, "the shell carries no data: open");
    let (status, body) = data(port, &[]).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = data(
        port,
        &[("authorization", "Bearer reader-key-0123456789abcdef")],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("toolgate:admin"),
        "{body}"
    );
    let (status, body) = data(
        port,
        &[("authorization", "Bearer admin-key-0123456789abcdef")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["tools"].as_array().unwrap().len() > 3, "{body}");

    let dir = tempfile::tempdir().unwrap();
    let (_off, port) = serve(dir.path(), api, "dashboard:\n  enabled: false\n");
    assert_eq!(get(port, "/admin/dashboard", &[]).await.0, 404);
    assert_eq!(data(port, &[]).await.0, 404);
}

/// Where a screenshot goes: the target directory of this build.
fn screenshot_path(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo_root().join("target"));
    let dir = target.join("e2e-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// Opens the dashboard of the gateway on `port` in headless Chromium (typing `token` in when
/// given), runs `calls` once the page shows its first numbers (it answers how many calls it
/// made) and answers what `dashboard_browser.mjs` reported; `None` when a dependency is
/// missing outside CI.
async fn browse(
    port: u16,
    token: Option<&str>,
    shot: &Path,
    calls: impl std::future::Future<Output = u64>,
) -> Option<Value> {
    let chromium = common::dependency("TOOLGATE_TEST_CHROMIUM")?;
    let node = common::dependency("TOOLGATE_TEST_NODE22")?;
    let modules = common::dependency("TOOLGATE_TEST_NODE_MODULES")?;
    assert!(
        modules.join("puppeteer-core").exists(),
        "puppeteer-core is missing from {}: run scripts/setup-test-deps.sh",
        modules.display()
    );
    let mut command = Command::new(node);
    command
        .arg(common::repo_root().join("tests/e2e/dashboard_browser.mjs"))
        .arg(format!("http://127.0.0.1:{port}/admin/dashboard"))
        .arg(&chromium)
        .arg(shot)
        .args(token)
        .env("TOOLGATE_TEST_NODE_MODULES", &modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut browser = common::Guard(child);
    let line = |prefix: &str| -> Value {
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|_| panic!("the browser script never printed `{prefix}`"));
            if let Some(rest) = line.strip_prefix("FAILED ") {
                panic!("the browser script failed: {rest}");
            }
            if let Some(rest) = line.strip_prefix(prefix) {
                return serde_json::from_str(rest.trim()).unwrap();
            }
            eprintln!("browser: {line}");
        }
    };
    let ready = line("READY ");
    let made = calls.await;
    writeln!(stdin, "CALLED {made}").unwrap();
    stdin.flush().unwrap();
    let mut result = line("RESULT ");
    result["ready"] = ready;
    // Let the script close its browser and exit on its own (killing node first would leave
    // Chromium behind); the guard kills it only if it hangs.
    drop(stdin);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while browser.0.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let png = std::fs::read(shot).unwrap_or_else(|e| panic!("no screenshot at {shot:?}: {e}"));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "{shot:?}"
    );
    println!("dashboard screenshot: {}", shot.display());
    Some(result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_live_numbers_in_a_real_browser_without_console_errors() {
    let api = common::todo_api_thread();
    let dir = tempfile::tempdir().unwrap();
    let (_child, port) = serve(dir.path(), api, BUDGETS);
    // Some traffic before the page opens, so the tables have rows from the start.
    call(port, "list_users", "{}", 5).await;
    let shot = screenshot_path("dashboard.png");
    let calls = async move {
        call(port, "list_users", "{}", 20).await;
        call(port, "list_tasks", "{}", 10).await;
        call(port, "get_user", r#"{"user_id": 987654}"#, 4).await;
        34
    };
    let Some(result) = browse(port, None, &shot, calls).await else {
        return;
    };
    let before = result["before"].as_u64().unwrap();
    assert!(
        before >= 5,
        "the page shows the calls made before it opened: {result}"
    );
    let shown = &result["shown"];
    assert!(
        result["problems"].as_array().unwrap().is_empty(),
        "the page met errors: {}",
        result["problems"]
    );
    assert!(
        shown["calls"].as_u64().unwrap() >= before + 34,
        "the numbers changed after the calls: {result}"
    );
    assert!(
        shown["status"].as_str().unwrap().starts_with("live"),
        "{result}"
    );
    assert!(
        result["csp"]
            .as_str()
            .is_some_and(|c| c.contains("default-src 'none'")),
        "{result}"
    );
    // One line per busy tool in the rate plot, a p50/p95 plot per busy tool with its budget
    // (drawn as a line when near the data: get_user's 0 ms is, the others' 1 s is named off
    // scale), get_user's flagged over budget, and the table rows of the tools called.
    assert!(shown["rate_plot_paths"].as_u64().unwrap() >= 3, "{result}");
    assert!(shown["latency_plots"].as_u64().unwrap() >= 3, "{result}");
    assert!(
        shown["plots_with_budget"].as_u64().unwrap() >= 3,
        "{result}"
    );
    assert!(shown["budget_lines"].as_u64().unwrap() >= 1, "{result}");
    assert_eq!(shown["plots_over_budget"], 1, "{result}");
    let rows = shown["tool_rows"].as_array().unwrap();
    let users = rows
        .iter()
        .find(|r| r[0] == "list_users")
        .unwrap_or_else(|| panic!("no list_users row: {result}"));
    assert_eq!(users[1], "todo", "{result}");
    assert_eq!(users[7], "25", "calls since start: {result}");
    let missing = rows.iter().find(|r| r[0] == "get_user").unwrap();
    assert_eq!(missing[8], "4", "errors: {result}");
    assert_eq!(shown["source_rows"], 1, "{result}");
    assert_eq!(result["token_stored"], true, "no token asked, none kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_authentication_on_the_page_asks_for_a_token_and_sends_it() {
    let api = common::todo_api_thread();
    let dir = tempfile::tempdir().unwrap();
    let (_child, port) = serve(dir.path(), api, AUTH);
    let shot = screenshot_path("dashboard-auth.png");
    // Their outcome does not matter here (with only the admin scope they end in errors,
    // which the page counts like any other).
    let calls = async move {
        call_as(port, Some(ADMIN_KEY), "list_tasks", "{}", 7).await;
        7
    };
    let Some(result) = browse(port, Some(ADMIN_KEY), &shot, calls).await else {
        return;
    };
    // Before the token: the refused first poll (and nothing else).
    let before: Vec<String> = serde_json::from_value(result["before_token"].clone()).unwrap();
    assert!(
        before.iter().any(|p| p.contains("401")),
        "the first poll is refused: {result}"
    );
    assert!(
        before
            .iter()
            .all(|p| p.contains("401") || p.contains("Unauthorized")),
        "{result}"
    );
    assert!(
        result["problems"].as_array().unwrap().is_empty(),
        "the page met errors once it had the token: {}",
        result["problems"]
    );
    assert!(
        result["shown"]["calls"].as_u64().unwrap() >= result["before"].as_u64().unwrap() + 7,
        "{result}"
    );
    assert_eq!(
        result["token_stored"], true,
        "kept in sessionStorage: {result}"
    );
}
