//! `toolgate serve`'s recording and `toolgate replay` as a user runs them, with the binary:
//! a workflow chaining tools drives a recording gateway (and is itself checked), the gateway
//! stops normally and its recording is complete and holds no redacted secret, the recording
//! replays cleanly against the same configuration (and its contract), and a candidate with a
//! broken tool or a changed result shape is reported with exit code 1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_toolgate");
const CANARY: &str = "canary-5b1f0c2e";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A configuration serving the Todo API's spec from `base_url`, with `extra` YAML appended.
fn config(dir: &Path, name: &str, base_url: &str, extra: &str) -> PathBuf {
    let spec = dir.join("todo.json");
    if !spec.exists() {
        std::fs::write(&spec, todo_api::openapi().to_string()).unwrap();
    }
    write(
        dir,
        name,
        &format!(
            "sources:\n  - name: todo\n    spec: {}\n    base_url: {base_url}\n{extra}",
            path(&spec)
        ),
    )
}

fn toolgate(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("TOOLGATE_CONFIG")
        .output()
        .expect("toolgate runs")
}

fn report(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The figures of `tool` in a report.
fn tool<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report:#}"))
}

const WORKFLOW: &str = r#"
name: a user, a task, and the task read back
steps:
  - id: user
    tool: create_user
    arguments: {name: "replay ${iteration}", email: "r${iteration}-canary-5b1f0c2e@example.com"}
  - id: task
    tool: create_task
    arguments:
      user_id: "${user/id}"
      title: "canary-5b1f0c2e for ${user/name}"
      priority: high
  - id: read
    tool: get_task
    arguments: {task_id: "${task/id}"}
"#;

#[test]
fn a_recording_replays_cleanly_and_broken_candidates_fail() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let api = format!("http://{}", common::todo_api_thread());
    let recording = d.join("calls.jsonl");
    let recording_section = format!(
        "recording:\n  path: {}\n  redact:\n    create_user: [/arguments/email]\n    create_*: [/arguments/title]\n",
        path(&recording)
    );
    let gateway = config(d, "gateway.yaml", &api, &recording_section);

    // A recording gateway, driven by a workflow that chains three tools.
    let (mut guard, rest) = common::spawn_and_read(
        &[
            "serve",
            "--config",
            path(&gateway),
            "--http",
            "127.0.0.1:0",
            "--no-watch",
        ],
        "serving",
    );
    let url = rest.split(" at ").nth(1).unwrap().trim().to_owned();
    let workflow = write(d, "workflow.yaml", WORKFLOW);
    let wf_report = d.join("workflow-report.json");
    let out = toolgate(&[
        "replay",
        path(&workflow),
        "--url",
        &url,
        "--repeat",
        "3",
        "--windows",
        "2",
        "--concurrency",
        "2",
        "--json",
        path(&wf_report),
    ]);
    assert_eq!(common::exit_code(&out), 0, "{}", common::output_text(&out));
    let r = report(&wf_report);
    assert_eq!(r["passed"], true, "{r:#}");
    assert_eq!(r["workflow"]["iterations"], 6);
    assert_eq!(r["workflow"]["completed"], 6);
    assert_eq!(r["calls"], 18);
    let read = tool(&r, "get_task");
    assert_eq!(read["windows"].as_array().unwrap().len(), 2);
    assert_eq!(read["total"]["completion_rate"], 1.0);
    assert!(read["total"]["p95_ms"].as_f64().unwrap() > 0.0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("6 of 6 iterations completed"));

    // A normal stop (SIGTERM) writes every queued line.
    let pid = guard.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while guard.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the gateway did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let recorded = std::fs::read_to_string(&recording).unwrap();
    assert!(
        !recorded.contains(CANARY),
        "a redacted value was recorded:\n{recorded}"
    );
    let lines: Vec<Value> = recorded
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 18, "{recorded}");
    let task = lines.iter().find(|l| l["tool"] == "create_task").unwrap();
    assert_eq!(task["arguments"]["title"], "[redacted]");
    assert_eq!(task["arguments"]["priority"], "high");
    assert_eq!(task["is_error"], false);
    assert_eq!(
        task["shape"]["object"]["fields"]["id"], "string",
        "{task:#}"
    );
    assert!(
        task["correlation_id"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    assert_eq!(task["path"], "fast");

    // The same configuration (and its contract) answers every recorded call alike.
    let same = config(d, "same.yaml", &api, "");
    let contract = d.join("contract.json");
    let out = toolgate(&[
        "contract",
        "snapshot",
        "--config",
        path(&same),
        "-o",
        path(&contract),
    ]);
    assert_eq!(common::exit_code(&out), 0, "{}", common::output_text(&out));
    let same_report = d.join("same.json");
    let out = toolgate(&[
        "replay",
        path(&recording),
        "--config",
        path(&same),
        "--contract",
        path(&contract),
        "--mode",
        "session",
        "--concurrency",
        "4",
        "--json",
        path(&same_report),
        // The recording redacted the emails, which must be valid addresses.
        "--set",
        "create_user/email=replay@example.com",
    ]);
    assert_eq!(common::exit_code(&out), 0, "{}", common::output_text(&out));
    let r = report(&same_report);
    assert_eq!(r["passed"], true, "{r:#}");
    assert_eq!(r["calls"], 18);
    assert_eq!(r["settings"]["mode"], "session");

    // A candidate whose backend is gone: every call is an error where success was recorded.
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let broken = config(d, "broken.yaml", &dead, "");
    let broken_report = d.join("broken.json");
    let out = toolgate(&[
        "replay",
        path(&recording),
        "--config",
        path(&broken),
        "--json",
        path(&broken_report),
        "--set",
        "create_user/email=replay@example.com",
    ]);
    assert_eq!(common::exit_code(&out), 1, "{}", common::output_text(&out));
    let r = report(&broken_report);
    assert_eq!(r["passed"], false);
    assert_eq!(r["mismatched_calls"], 18);
    assert!(
        r["mismatches"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["kind"] == "error_status"),
        "{r:#}"
    );
    assert_eq!(tool(&r, "get_task")["total"]["error_rate"], 1.0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("expected success, got tool_error"));

    // A candidate whose get_task answers another shape (`id` became a number, `title` gone).
    let changed_api = common::router_thread(axum::Router::new().fallback(|| async {
        axum::Json(
            json!({"id": 7, "user_id": "u", "status": "pending", "priority": "high",
                          "tags": [], "created_at": "2026-01-01T00:00:00Z"}),
        )
    }));
    let changed = config(d, "changed.yaml", &format!("http://{changed_api}"), "");
    let changed_report = d.join("changed.json");
    let out = toolgate(&[
        "replay",
        path(&recording),
        "--config",
        path(&changed),
        "--json",
        path(&changed_report),
        "--set",
        "create_user/email=replay@example.com",
    ]);
    assert_eq!(common::exit_code(&out), 1, "{}", common::output_text(&out));
    let r = report(&changed_report);
    let found: Vec<(String, String, String)> = r["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["tool"] == "get_task")
        .map(|m| {
            (
                m["kind"].as_str().unwrap().to_owned(),
                m["pointer"].as_str().unwrap().to_owned(),
                m["actual"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        found.contains(&("shape".into(), "/id".into(), "number".into())),
        "{r:#}"
    );
    assert!(
        found.contains(&("shape".into(), "/title".into(), "missing".into())),
        "{r:#}"
    );
}

#[test]
fn bad_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let missing = toolgate(&[
        "replay",
        path(&d.join("nope.jsonl")),
        "--url",
        "http://127.0.0.1:9/mcp",
    ]);
    assert_eq!(
        common::exit_code(&missing),
        2,
        "{}",
        common::output_text(&missing)
    );
    let bad = write(
        d,
        "bad.yaml",
        "steps:\n  - tool: a\n    arguments: {x: '${nowhere/id}'}\n",
    );
    let out = toolgate(&["replay", path(&bad), "--url", "http://127.0.0.1:9/mcp"]);
    assert_eq!(common::exit_code(&out), 2, "{}", common::output_text(&out));
    assert!(
        common::output_text(&out).contains("no earlier step is named `nowhere`"),
        "{}",
        common::output_text(&out)
    );
    let good = write(d, "good.yaml", "steps:\n  - tool: a\n");
    let port = common::free_port();
    let out = toolgate(&[
        "replay",
        path(&good),
        "--url",
        &format!("http://127.0.0.1:{port}/mcp"),
    ]);
    assert_eq!(common::exit_code(&out), 2, "{}", common::output_text(&out));
    assert!(
        common::output_text(&out).contains("cannot reach"),
        "{}",
        common::output_text(&out)
    );
}

#[test]
fn stdio_calls_are_recorded_too() {
    use std::io::{BufRead as _, BufReader, Write as _};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let api = format!("http://{}", common::todo_api_thread());
    let recording = d.join("stdio.jsonl");
    let section = format!("recording:\n  path: {}\n", path(&recording));
    let gateway = config(d, "stdio.yaml", &api, &section);
    let mut child = Command::new(BIN)
        .args(["serve", "--stdio", "--no-watch", "--config", path(&gateway)])
        .env_remove("TOOLGATE_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut send = |v: Value| writeln!(stdin, "{v}").unwrap();
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}}),
    );
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "list_users", "arguments": {}}}),
    );
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("\"id\":2"), "{line}");
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "serve --stdio did not stop at the end of its input"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let recorded = std::fs::read_to_string(&recording).unwrap();
    let lines: Vec<Value> = recorded
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{recorded}");
    assert_eq!(lines[0]["transport"], "stdio");
    assert_eq!(lines[0]["tool"], "list_users");
    assert_eq!(lines[0]["is_error"], false);
}
