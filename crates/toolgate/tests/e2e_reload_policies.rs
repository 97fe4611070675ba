//! Hot reload of the pipeline's policies in the real binary (`toolgate serve --config F`):
//! an `authorization` rule and a rate limit changed in the file apply to the very next call
//! after SIGHUP, on the HTTP fast path, on rmcp's path and over stdio alike (the
//! authorization case; with a per-source override for the rate limits); a rate limit left unchanged
//! keeps its state across a reload; a policy that does not compile is refused and the last
//! known good one stays, reported in `/readyz` and `/metrics`.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::clients::{LegacyClient, MODERN_META, modern_post};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

/// The Todo API in-process and the binary serving a config (no file watching: reloads happen
/// on SIGHUP, so each step is deterministic).
struct Setup {
    dir: tempfile::TempDir,
    base: String,
    port: u16,
    child: common::Guard,
    captured: common::Captured,
}

impl Setup {
    async fn start(policies: &str) -> Setup {
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
        write_config(dir.path(), port, &base, policies);
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

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    fn write(&self, policies: &str) {
        write_config(self.dir.path(), self.port, &self.base, policies);
    }

    async fn readyz(&self) -> Value {
        reqwest::get(format!("http://127.0.0.1:{}/readyz", self.port))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn metrics(&self) -> String {
        reqwest::get(format!("http://127.0.0.1:{}/metrics", self.port))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Sends SIGHUP and waits until the reload is recorded: the `/readyz` config detail.
    async fn reload(&self) -> Value {
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
                return config;
            }
            assert!(
                started.elapsed() < LIMIT,
                "no reload recorded within {LIMIT:?}: {}",
                self.captured.all()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `list_users` on the HTTP fast path (a 2026-07-28 stateless call).
    async fn fast_call(&self) -> Value {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"list_users","arguments":{{}},{MODERN_META}}}}}"#
        );
        let (status, answer) =
            modern_post(&self.url(), "tools/call", Some("list_users"), body).await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// How many calls the fast path served so far (from `/metrics`).
    async fn fast_path_calls(&self) -> usize {
        common::fast_path_calls(&self.metrics().await)
    }
}

/// `list_users` on rmcp's path: a 2025-11-25 session, and a `progressToken` (which the fast
/// path never takes).
async fn rmcp_call(client: &LegacyClient, id: u64) -> Value {
    let (status, answer) = client
        .post(&format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"list_users","arguments":{{}},"_meta":{{"progressToken":{id}}}}}}}"#
        ))
        .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

fn write_config(dir: &Path, port: u16, base: &str, policies: &str) {
    let text = format!(
        "http:\n  bind: 127.0.0.1:{port}\nsources:\n  - name: todo\n    spec: todo.json\n    base_url: {base}\n{policies}"
    );
    let tmp = dir.join("config.yaml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, dir.join("config.yaml")).unwrap();
}

/// Whether a JSON-RPC answer is a successful tool result.
fn succeeded(answer: &Value) -> bool {
    answer["result"].is_object() && answer["result"]["isError"] != true
}

/// The answer to a call of a tool the caller may not use: exactly an unknown tool's.
fn hidden(answer: &Value) -> bool {
    let text = answer.to_string();
    !succeeded(answer) && text.contains("list_users") && !text.contains("rate limit")
}

/// The text of a refused call's tool result.
fn refusal(answer: &Value) -> Option<String> {
    (answer["result"]["isError"] == true).then(|| {
        answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    })
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

const OPEN: &str = "authorization:\n  unauthenticated: rules\n  rules:\n    - name: everyone\n      principals: {any: true}\n      tools: {}\n";

const NO_LIST_USERS: &str = "authorization:\n  unauthenticated: rules\n  rules:\n    - name: everyone\n      principals: {any: true}\n      tools: {}\n    - name: not-users\n      effect: deny\n      principals: {any: true}\n      tools:\n        names: [list_users]\n";

const BROKEN_RULE: &str = "authorization:\n  unauthenticated: rules\n  rules:\n    - name: everyone\n      principals: {any: true}\n      tools:\n        names: ['list_[users']\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_change_applies_to_the_next_call_on_every_path() {
    let setup = Setup::start(OPEN).await;
    let legacy = LegacyClient::connect(&setup.url()).await;
    let before = setup.fast_path_calls().await;
    let answer = setup.fast_call().await;
    assert!(succeeded(&answer), "{answer}");
    assert!(
        setup.fast_path_calls().await > before,
        "the fast path served it"
    );
    let answer = rmcp_call(&legacy, 1).await;
    assert!(succeeded(&answer), "{answer}");

    // A deny rule for `list_users`: the next call, on either path, is answered as for an
    // unknown tool, and the listing no longer shows it.
    setup.write(NO_LIST_USERS);
    let config = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "success", "{config}");
    let answer = setup.fast_call().await;
    assert!(hidden(&answer), "fast path: {answer}");
    let answer = rmcp_call(&legacy, 2).await;
    assert!(hidden(&answer), "rmcp's path: {answer}");
    let (_, list) = legacy
        .post(r#"{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{}}"#)
        .await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .expect("a tool list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        !names.is_empty() && !names.contains(&"list_users"),
        "{names:?}"
    );
    let stderr = setup.captured.stderr.lock().unwrap().clone();
    assert!(
        stderr.contains("policies reloaded sections=authorization")
            && !stderr.contains("need a restart"),
        "authorization no longer needs a restart: {stderr}"
    );

    // A rule that does not compile: refused, the last known good rules stay.
    setup.write(BROKEN_RULE);
    let config = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "failure", "{config}");
    let error = config["last_reload"]["error"].as_str().unwrap();
    assert!(
        error.contains("list_[users"),
        "the reason names the glob: {error}"
    );
    assert!(hidden(&setup.fast_call().await));
    let metrics = setup.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            r#"toolgate_config_reloads_total{outcome="failure"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "toolgate_config_last_reload_successful"),
        Some(0.0),
        "{metrics}"
    );

    // Back to the open rules: allowed again.
    setup.write(OPEN);
    let config = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "success", "{config}");
    assert!(succeeded(&setup.fast_call().await));
    assert!(succeeded(&rmcp_call(&legacy, 4).await));
}

fn limits(rate: &str, extra: &str) -> String {
    format!(
        "rate_limits:\n  limits:\n    - name: calls\n      per: [global]\n      rate: {rate}\n{extra}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_change_applies_to_the_next_call_and_unchanged_limits_keep_their_state() {
    let setup = Setup::start(&limits("1000/min", "")).await;
    let legacy = LegacyClient::connect(&setup.url()).await;
    for _ in 0..3 {
        let answer = setup.fast_call().await;
        assert!(succeeded(&answer), "{answer}");
    }

    // 1/min: the next call passes (a changed limit starts afresh), the one after is refused,
    // on both paths (one global count).
    setup.write(&limits("1/min", ""));
    let config = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "success", "{config}");
    let answer = setup.fast_call().await;
    assert!(succeeded(&answer), "{answer}");
    let text = refusal(&setup.fast_call().await).expect("the second call is refused");
    assert!(
        text.starts_with("rate limit for `list_users`: 1/min") && text.contains("(limit `calls`)"),
        "{text}"
    );
    let text = refusal(&rmcp_call(&legacy, 1).await).expect("refused on rmcp's path too");
    assert!(text.contains("(limit `calls`)"), "{text}");

    // Another limit added, `calls` unchanged: its state survives (still refused), and the new
    // limit applies.
    let extra = "    - name: per-tool\n      per: [tool]\n      rate: 500/min\n";
    setup.write(&limits("1/min", extra));
    let config = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "success", "{config}");
    let text = refusal(&setup.fast_call().await).expect("`calls` kept its state");
    assert!(text.contains("(limit `calls`)"), "{text}");
    let metrics = setup.metrics().await;
    assert!(
        metrics.contains(r#"toolgate_rate_limit_decisions_total{limit="per-tool",outcome="#),
        "the new limit is in force: {metrics}"
    );

    // A rate that does not parse: refused, `calls` stays in force.
    setup.write(&limits("lots", ""));
    let config = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "failure", "{config}");
    assert!(
        config["last_reload"]["error"]
            .as_str()
            .unwrap()
            .contains("rate_limits.limits[0].rate"),
        "{config}"
    );
    assert!(refusal(&setup.fast_call().await).is_some());

    // A per-source override of `calls` for `todo`: the shared `calls` no longer applies to
    // it, its own does (a new limit: it starts afresh, one call, then refused by name).
    let over = "  sources:\n    todo:\n      limits:\n        - name: calls\n          per: [global]\n          rate: 1/h\n";
    setup.write(&limits("1/min", over));
    let config = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "success", "{config}");
    assert!(succeeded(&setup.fast_call().await));
    let text = refusal(&setup.fast_call().await).expect("refused by the override");
    assert!(
        text.contains("1/h") && text.contains("(limit `calls@todo`)"),
        "{text}"
    );

    // The section removed: no limit any more.
    setup.write("");
    let config = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "success", "{config}");
    assert!(succeeded(&setup.fast_call().await));
    assert!(succeeded(&rmcp_call(&legacy, 2).await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_change_applies_on_stdio_too() {
    use rmcp::ServiceExt as _;
    use rmcp::model::CallToolRequestParams;
    use rmcp::transport::TokioChildProcess;
    use tokio::io::AsyncBufReadExt as _;

    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    tokio::spawn(todo_api::serve(api));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("todo.json"),
        serde_json::to_vec(&todo_api::openapi()).unwrap(),
    )
    .unwrap();
    let base = format!("http://{api_addr}");
    let port = common::free_port();
    write_config(dir.path(), port, &base, OPEN);
    let mut command = tokio::process::Command::new(common::TOOLGATE_BIN);
    command.args([
        "serve",
        "--stdio",
        "--no-watch",
        "--config",
        dir.path().join("config.yaml").to_str().unwrap(),
    ]);
    let (transport, stderr) = TokioChildProcess::builder(command)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = transport.id().unwrap() as i32;
    // The log, line by line: a reload says when it is done.
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let mut reader = tokio::io::BufReader::new(stderr.unwrap()).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = reader.next_line().await {
            let _ = lines_tx.send(line);
        }
    });
    let client = ().serve(transport).await.expect("initialize over stdio");
    let call = || client.call_tool(CallToolRequestParams::new("list_users"));
    let first = call().await.unwrap();
    assert_ne!(first.is_error, Some(true), "{first:?}");

    write_config(dir.path(), port, &base, NO_LIST_USERS);
    // SAFETY: sends a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let waited = tokio::time::timeout(LIMIT, async {
        while let Some(line) = lines.recv().await {
            if line.contains("configuration reloaded") {
                return true;
            }
            assert!(!line.contains("reload failed"), "{line}");
        }
        false
    })
    .await;
    assert_eq!(waited, Ok(true), "no reload logged");
    let hidden = call().await;
    assert!(
        matches!(&hidden, Err(e) if e.to_string().contains("list_users")),
        "the deny rule applies over stdio: {hidden:?}"
    );
    client.cancel().await.unwrap();
}

/// `rate_limits` with the Redis backend (a prefix of this run's own), `calls` at `rate`.
fn redis_limits(prefix: &str, rate: &str, extra: &str) -> String {
    format!(
        "rate_limits:\n  backend:\n    type: redis\n    url: redis://127.0.0.1:6379\n    prefix: {prefix}\n    timeout_ms: 50\n  limits:\n    - name: calls\n      per: [global]\n      rate: {rate}\n{extra}"
    )
}

/// The sum of every sample of a metric family (`name` up to its labels) in a `/metrics` text.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_backed_limit_reloads_on_the_same_connection_and_keeps_its_shared_state() {
    if !common::service_reachable("Redis", "127.0.0.1:6379") {
        return;
    }
    let prefix = format!(
        "toolgate-e2e-reload-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let setup = Setup::start(&redis_limits(&prefix, "2/min", "")).await;
    for _ in 0..2 {
        let answer = setup.fast_call().await;
        assert!(succeeded(&answer), "{answer}");
    }
    let text = refusal(&setup.fast_call().await).expect("the third call is refused");
    assert!(text.contains("(limit `calls`)"), "{text}");
    let decided = |m: &str| metric_sum(m, "toolgate_rate_limit_redis_decision_seconds_count");
    let before = decided(&setup.metrics().await);
    assert!(before >= 3.0, "Redis decided the calls");

    // Another limit added, `calls` unchanged and the backend the same: the reload keeps the
    // connection (no decision falls back or waits for a new one) and `calls`'s cells live in
    // Redis, so it still refuses.
    let extra = "    - name: per-tool\n      per: [tool]\n      rate: 500/min\n";
    setup.write(&redis_limits(&prefix, "2/min", extra));
    let config = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "success", "{config}");
    let text = refusal(&setup.fast_call().await).expect("`calls` kept its state in Redis");
    assert!(text.contains("(limit `calls`)"), "{text}");
    let metrics = setup.metrics().await;
    assert!(decided(&metrics) >= before + 2.0, "{metrics}");
    assert_eq!(
        metric_sum(&metrics, "toolgate_rate_limit_redis_errors_total"),
        0.0,
        "no decision failed across the reload: {metrics}"
    );
    assert_eq!(
        metric_sum(&metrics, "toolgate_rate_limit_redis_fallbacks_total"),
        0.0,
        "{metrics}"
    );

    // A higher rate for `calls`: in force for the next call.
    setup.write(&redis_limits(&prefix, "1000/min", extra));
    let config = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "success", "{config}");
    let answer = setup.fast_call().await;
    assert!(succeeded(&answer), "{answer}");

    // A backend that does not parse: refused, the Redis-backed limits stay in force.
    setup.write(
        &redis_limits(&prefix, "1000/min", extra).replace("redis://127.0.0.1:6379", "http://x"),
    );
    let config = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "failure", "{config}");
    assert!(
        config["last_reload"]["error"]
            .as_str()
            .unwrap()
            .contains("rate_limits.backend.url"),
        "{config}"
    );
    let before = decided(&setup.metrics().await);
    assert!(succeeded(&setup.fast_call().await));
    assert!(
        decided(&setup.metrics().await) > before,
        "still decided by Redis"
    );

    // Back to memory: decided here, Redis is no longer asked.
    setup.write(&limits("1/min", ""));
    let config = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "success", "{config}");
    let before = decided(&setup.metrics().await);
    assert!(succeeded(&setup.fast_call().await));
    assert!(refusal(&setup.fast_call().await).is_some());
    assert_eq!(decided(&setup.metrics().await), before, "Redis was asked");
}
