//! Upstream MCP sources on reload, with the real binary and a real upstream server
//! (`mcp-server-time` from PyPI over stdio, installed by `scripts/setup-test-deps.sh`): a
//! source added by a reload starts and serves its tools; a changed one restarts (a new
//! process, the old one gone); a removed one stops (its tools leave, its process is gone);
//! a new one that never becomes ready is rolled back after the grace period, and the
//! upstream that ran before keeps serving.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::clients::{MODERN_META, modern_post};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

/// `mcp-server-time` beside the test venv's Python, when installed.
fn time_server() -> Option<PathBuf> {
    let python = common::dependency("TOOLGATE_TEST_PYTHON")?;
    let command = python.with_file_name("mcp-server-time");
    assert!(
        command.exists(),
        "{} is missing: re-run scripts/setup-test-deps.sh",
        command.display()
    );
    Some(command)
}

struct Setup {
    dir: tempfile::TempDir,
    base: String,
    port: u16,
    child: common::Guard,
    captured: common::Captured,
}

/// The `time` source over stdio, with `timezone`.
fn time_source(name: &str, command: &Path, timezone: &str) -> String {
    format!(
        "  - name: {name}\n    kind: mcp\n    transport:\n      type: stdio\n      command: {}\n      args: [--local-timezone, {timezone}]\n",
        command.display()
    )
}

fn write_config(dir: &Path, port: u16, base: &str, upstreams: &str) {
    let text = format!(
        "http:\n  bind: 127.0.0.1:{port}\nsources:\n  - name: todo\n    spec: todo.json\n    base_url: {base}\n{upstreams}"
    );
    let tmp = dir.join("config.yaml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, dir.join("config.yaml")).unwrap();
}

impl Setup {
    async fn start(upstreams: &str) -> Setup {
        let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_addr = api.local_addr().unwrap();
        tokio::spawn(todo_api::serve(api));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("todo.json"),
            serde_json::to_vec(&todo_api::openapi()).unwrap(),
        )
        .unwrap();
        let port = common::free_port();
        let base = format!("http://{api_addr}");
        write_config(dir.path(), port, &base, upstreams);
        let mut command = Command::new(common::TOOLGATE_BIN);
        command.args([
            "serve",
            "--no-watch",
            "--config",
            dir.path().join("config.yaml").to_str().unwrap(),
        ]);
        let (child, _, captured) =
            common::spawn_capturing(command, "toolgate: serving").unwrap_or_else(|e| panic!("{e}"));
        Setup {
            dir,
            base,
            port,
            child,
            captured,
        }
    }

    fn write(&self, upstreams: &str) {
        write_config(self.dir.path(), self.port, &self.base, upstreams);
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    async fn readyz(&self) -> Value {
        reqwest::get(format!("http://127.0.0.1:{}/readyz", self.port))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Sends SIGHUP and waits until the reload is recorded: the `/readyz` config detail and
    /// how long it took.
    async fn reload(&self) -> (Value, Duration) {
        let total = |c: &Value| {
            c["reloads"]["success"].as_u64().unwrap() + c["reloads"]["failure"].as_u64().unwrap()
        };
        let before = total(&self.readyz().await["config"]);
        let pid = self.child.0.id() as i32;
        // SAFETY: sends a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
        let started = Instant::now();
        loop {
            let config = self.readyz().await["config"].clone();
            if total(&config) > before {
                return (config, started.elapsed());
            }
            assert!(
                started.elapsed() < LIMIT,
                "no reload recorded within {LIMIT:?}: {}",
                self.captured.all()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn tools(&self) -> Vec<String> {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{{{MODERN_META}}}}}"#
        );
        let (status, answer) = modern_post(&self.url(), "tools/list", None, body).await;
        assert_eq!(status, 200, "{answer}");
        answer["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect()
    }

    /// Calls `name` (a `get_current_time` tool) over the fast path: its answer.
    async fn current_time(&self, name: &str) -> Value {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"{name}","arguments":{{"timezone":"UTC"}},{MODERN_META}}}}}"#
        );
        let (status, answer) = modern_post(&self.url(), "tools/call", Some(name), body).await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// The gateway's child processes running `mcp-server-time`.
    fn time_processes(&self) -> Vec<u32> {
        children_running(self.child.0.id(), "mcp-server-time")
    }
}

/// The processes whose parent is `parent` and whose command line mentions `what`.
fn children_running(parent: u32, what: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: the command may hold spaces and parentheses.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let ppid = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid != Some(parent) || after.split_whitespace().next() == Some("Z") {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(what) {
            out.push(pid);
        }
    }
    out
}

/// Waits until `check` holds (polling), or panics with `what`.
async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < LIMIT, "{what} within {LIMIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn succeeded(answer: &Value) -> bool {
    answer["result"].is_object() && answer["result"]["isError"] != true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_sources_are_added_restarted_and_removed_by_a_reload() {
    let Some(server) = time_server() else { return };
    let setup = Setup::start("").await;
    assert!(!setup.tools().await.iter().any(|t| t.starts_with("time_")));

    // Added: it starts and serves its tools.
    setup.write(&time_source("time", &server, "UTC"));
    let (config, took) = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "success", "{config}");
    let tools = setup.tools().await;
    assert!(
        tools.contains(&"time_get_current_time".to_owned()),
        "{tools:?}"
    );
    let answer = setup.current_time("time_get_current_time").await;
    assert!(succeeded(&answer), "{answer}");
    let first = setup.time_processes();
    assert_eq!(first.len(), 1, "one server process: {first:?}");
    eprintln!("upstream added: reload recorded {took:?} after SIGHUP");

    // Changed: restarted (a new process; the old one is gone).
    setup.write(&time_source("time", &server, "Europe/Paris"));
    let (config, took) = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "success", "{config}");
    until("the old process gone and one new one running", async || {
        let now = setup.time_processes();
        now.len() == 1 && now[0] != first[0]
    })
    .await;
    let answer = setup.current_time("time_get_current_time").await;
    assert!(succeeded(&answer), "{answer}");
    eprintln!("upstream changed: reload recorded {took:?} after SIGHUP");

    // Removed: stopped, its tools gone, its process gone.
    setup.write("");
    let (config, _) = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "success", "{config}");
    let tools = setup.tools().await;
    assert!(!tools.iter().any(|t| t.starts_with("time_")), "{tools:?}");
    until("the server process gone", async || {
        setup.time_processes().is_empty()
    })
    .await;
    let sources = setup.readyz().await["sources"].clone();
    assert!(sources.get("time").is_none(), "{sources}");
    let stderr = setup.captured.stderr.lock().unwrap().clone();
    assert!(!stderr.contains("need a restart"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_upstream_that_never_becomes_ready_is_rolled_back() {
    let Some(server) = time_server() else { return };
    let setup = Setup::start(&time_source("time", &server, "UTC")).await;
    let before = setup.tools().await;
    assert!(
        before.contains(&"time_get_current_time".to_owned()),
        "{before:?}"
    );
    let running = setup.time_processes();
    assert_eq!(running.len(), 1, "{running:?}");

    // A new source whose command does not exist, and the running one changed: rolled back
    // after the grace period, the previous `time` serves again.
    let mut upstreams = time_source("time", &server, "Europe/Paris");
    upstreams.push_str(
        "  - name: broken\n    kind: mcp\n    transport:\n      type: stdio\n      command: /nonexistent/mcp-server\n",
    );
    setup.write(&upstreams);
    let (config, took) = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "failure", "{config}");
    let error = config["last_reload"]["error"].as_str().unwrap();
    assert!(
        error.contains("source `broken` is not ready") && error.contains("rolled back"),
        "{error}"
    );
    assert!(took >= Duration::from_secs(4), "the grace period: {took:?}");
    until("the previous tools served again", async || {
        setup.tools().await == before
    })
    .await;
    until("`time` answering again", async || {
        succeeded(&setup.current_time("time_get_current_time").await)
    })
    .await;
    until("one `time` process", async || {
        setup.time_processes().len() == 1
    })
    .await;
    let sources = setup.readyz().await["sources"].clone();
    assert!(sources.get("broken").is_none(), "{sources}");
    eprintln!("unready upstream rolled back: recorded {took:?} after SIGHUP");

    // And the next good reload applies.
    setup.write("");
    let (config, _) = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "success", "{config}");
    until("the server process gone", async || {
        setup.time_processes().is_empty()
    })
    .await;
}
