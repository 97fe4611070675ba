//! Misbehaving upstream MCP servers behind the gateway: small servers written with the
//! official Python MCP SDK (`tests/e2e/upstream_fake_server.py`, venv from
//! `scripts/setup-test-deps.sh`) that hang, answer garbage, answer more than the message cap,
//! crash in a loop, serve invalid or colliding tool names, or change their tool list. Each
//! case answers the client with an error naming the server, and a healthy neighbour keeps
//! serving throughout.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::CallToolRequestParams;
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt as _};
use serde_json::json;
use tokio::sync::Notify;

/// A source running the fake server in `mode` (see the script's docs).
fn fake(name: &str, mode: &str, python: &PathBuf, extra: serde_json::Value) -> serde_json::Value {
    let script = common::repo_root().join("tests/e2e/upstream_fake_server.py");
    let mut source = json!({
        "name": name,
        "kind": "mcp",
        "transport": {"type": "stdio", "command": python, "args": [script, mode]},
        "restart": {"initial_backoff_ms": 50, "max_backoff_ms": 400},
        "timeouts": {"call_ms": 1500, "connect_ms": 20000},
    });
    if let (Some(s), Some(e)) = (source.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    source
}

/// Counts the gateway's `notifications/tools/list_changed`.
#[derive(Clone, Default)]
struct Watcher {
    tools_changed: Arc<Notify>,
}

impl ClientHandler for Watcher {
    async fn on_tool_list_changed(&self, _cx: NotificationContext<RoleClient>) {
        self.tools_changed.notify_one();
    }
}

struct Gateway {
    assembled: toolgate::run::Assembled,
    client: RunningService<RoleClient, Watcher>,
    watcher: Watcher,
}

impl Gateway {
    async fn start(sources: Vec<serde_json::Value>) -> Gateway {
        let text = serde_json::to_string(&json!({ "sources": sources })).unwrap();
        let config = toolgate::config::load(&text, "<test>", &Default::default()).unwrap();
        let assembled = toolgate::run::assemble(&config, std::path::Path::new("."))
            .await
            .unwrap();
        let app = toolgate_server::gateway_app(
            assembled.gateway.clone(),
            &toolgate::run::http_options(&config),
            toolgate_server::EdgeAuth::Off,
            assembled.metrics.clone(),
            Default::default(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let watcher = Watcher::default();
        let client = watcher
            .clone()
            .serve(StreamableHttpClientTransport::from_uri(format!(
                "http://{addr}/mcp"
            )))
            .await
            .unwrap();
        Gateway {
            assembled,
            client,
            watcher,
        }
    }

    fn upstream(&self, name: &str) -> toolgate_upstream::Upstream {
        self.assembled
            .upstreams
            .iter()
            .find(|u| u.name() == name)
            .unwrap()
            .clone()
    }

    /// Calls `tool`: its text on success, the error (or error result) as text otherwise.
    async fn call(&self, tool: &str, args: serde_json::Value) -> Result<String, String> {
        let params = CallToolRequestParams::new(tool.to_owned())
            .with_arguments(args.as_object().unwrap().clone());
        match self.client.call_tool(params).await {
            Ok(r) if r.is_error != Some(true) => Ok(r
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                .collect()),
            other => Err(format!("{other:?}")),
        }
    }

    /// The neighbour still answers.
    async fn neighbour_answers(&self) {
        let got = self.call("well_echo", json!({"message": "hi"})).await;
        assert_eq!(got.as_deref(), Ok("well: hi"), "the healthy upstream");
    }

    async fn wait_ready_after_restart(&self, name: &str) {
        let upstream = self.upstream(name);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let s = upstream.status();
            if s.phase == toolgate_upstream::Phase::Ready && s.restarts >= 1 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "`{name}` not restarted: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(self) {
        let _ = self.client.cancel().await;
        self.assembled.stop().await;
    }
}

fn python() -> Option<PathBuf> {
    common::dependency("TOOLGATE_TEST_PYTHON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_upstream_times_out_with_its_name_and_spares_the_others() {
    let Some(py) = python() else { return };
    let gw = Gateway::start(vec![
        fake("stuck", "hang", &py, json!({})),
        fake("well", "well", &py, json!({})),
    ])
    .await;
    let (hung, ()) = tokio::join!(gw.call("stuck_wait", json!({})), gw.neighbour_answers());
    let err = hung.unwrap_err();
    assert!(
        err.contains("upstream `stuck` did not answer within 1500 ms"),
        "{err}"
    );
    // The hanging call was cancelled upstream; the server still serves.
    assert_eq!(
        gw.call("stuck_echo", json!({"message": "x"})).await,
        Ok("hang: x".to_owned())
    );
    let metrics = gw.assembled.metrics.encode();
    assert!(
        metrics.contains(r#"toolgate_upstream_requests_total{upstream="stuck",method="tools/call",outcome="timeout"} 1"#),
        "{metrics}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_stdout_is_ignored_and_a_garbled_answer_times_out_with_the_name() {
    let Some(py) = python() else { return };
    let gw = Gateway::start(vec![
        fake("junk", "garbage", &py, json!({})),
        fake("well", "well", &py, json!({})),
    ])
    .await;
    // Lines that are not JSON-RPC (a server logging to stdout) do not break the session.
    assert_eq!(
        gw.call("junk_noisy", json!({})).await,
        Ok("answered after the noise".to_owned())
    );
    // A truncated answer and one of the wrong shape are not taken for the answer.
    let err = gw.call("junk_garble", json!({})).await.unwrap_err();
    assert!(err.contains("upstream `junk` did not answer"), "{err}");
    gw.neighbour_answers().await;
    assert_eq!(
        gw.call("junk_echo", json!({"message": "still"})).await,
        Ok("garbage: still".to_owned())
    );
    assert_eq!(gw.upstream("junk").status().restarts, 0);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_over_the_message_cap_fails_with_the_name_and_the_server_restarts() {
    let Some(py) = python() else { return };
    let gw = Gateway::start(vec![
        fake("big", "huge", &py, json!({"max_message_bytes": 100_000})),
        fake("well", "well", &py, json!({})),
    ])
    .await;
    // Under the cap: fine.
    // (The answer carries the text twice: as content and as structured content.)
    let small = gw.call("big_huge", json!({"size": 20_000})).await.unwrap();
    assert_eq!(small.len(), 20_000);
    let err = gw
        .call("big_huge", json!({"size": 300_000}))
        .await
        .unwrap_err();
    assert!(
        err.contains("upstream `big` sent a message larger than 100000 bytes (max_message_bytes)"),
        "{err}"
    );
    gw.neighbour_answers().await;
    gw.wait_ready_after_restart("big").await;
    let status = gw.upstream("big").status();
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("larger than 100000 bytes")),
        "{status:?}"
    );
    assert_eq!(
        gw.call("big_echo", json!({"message": "back"})).await,
        Ok("huge: back".to_owned())
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_backs_off_exponentially_up_to_the_bound() {
    let Some(py) = python() else { return };
    let gw = Gateway::start(vec![
        fake("loop", "crash", &py, json!({})),
        fake("well", "well", &py, json!({})),
    ])
    .await;
    let upstream = gw.upstream("loop");
    // Each wait, seen while the server is down (restarts and wait are then consistent).
    let mut seen = std::collections::BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while seen.keys().last().is_none_or(|k| *k < 7) {
        let s = upstream.status();
        if s.phase == toolgate_upstream::Phase::Down {
            seen.insert(s.restarts, s.retry_in.unwrap());
            assert!(
                s.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("handshake")),
                "{s:?}"
            );
        }
        assert!(tokio::time::Instant::now() < deadline, "{seen:?} {s:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for (restarts, wait) in &seen {
        let expected = Duration::from_millis((50u64 << (restarts - 1).min(10)).min(400));
        assert_eq!(*wait, expected, "wait after failure {restarts}: {seen:?}");
    }
    assert_eq!(seen.values().max(), Some(&Duration::from_millis(400)));
    gw.neighbour_answers().await;
    let metrics = gw.assembled.metrics.encode();
    let restarts: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"toolgate_upstream_restarts_total{upstream="loop"} "#))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(restarts >= 7, "{metrics}");
    assert!(
        metrics.contains(r#"toolgate_upstream_up{upstream="loop"} 0"#),
        "{metrics}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_and_colliding_names_are_resolved_deterministically_and_reported() {
    let Some(py) = python() else { return };
    // Both without a namespace: both serve `echo`; the first configured one keeps it.
    let gw = Gateway::start(vec![
        fake("names", "names", &py, json!({"namespace": ""})),
        fake("well", "well", &py, json!({"namespace": ""})),
    ])
    .await;
    let tools = gw.client.list_all_tools().await.unwrap();
    let mut names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        gw.call("echo", json!({"message": "who"})).await,
        Ok("names: who".to_owned()),
        "the first configured source keeps `echo`"
    );
    assert!(names.contains(&"search".to_owned()), "{names:?}");
    assert!(
        names.iter().all(|n| n.len() <= 64
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.starts_with("bad_name")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("llll")), "{names:?}");
    assert_eq!(
        names.len(),
        4,
        "echo, search, bad name, long name: {names:?}"
    );
    let report = gw.upstream("names").report().join("\n");
    assert!(report.contains("`!!!` left out"), "{report}");
    assert!(report.contains("`bad name!`"), "{report}");
    assert!(report.contains(&"l".repeat(80)), "{report}");
    let report = gw.upstream("well").report().join("\n");
    assert!(report.contains("echo"), "the loser is told: {report}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_changed_upstream_is_listed_again_and_clients_are_told() {
    let Some(py) = python() else { return };
    let gw = Gateway::start(vec![fake("dyn", "dynamic", &py, json!({}))]).await;
    let before: Vec<String> = gw
        .client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(!before.contains(&"dyn_fresh".to_owned()), "{before:?}");
    let notify = gw.watcher.tools_changed.clone();
    let changed = notify.notified();
    tokio::pin!(changed);
    changed.as_mut().enable();
    assert_eq!(
        gw.call("dyn_grow", json!({"name": "fresh"})).await,
        Ok("added fresh".to_owned())
    );
    tokio::time::timeout(Duration::from_secs(30), changed)
        .await
        .expect("the gateway's clients get notifications/tools/list_changed");
    let after: Vec<String> = gw
        .client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(after.contains(&"dyn_fresh".to_owned()), "{after:?}");
    assert_eq!(
        gw.call("dyn_fresh", json!({})).await,
        Ok("fresh was added at run time".to_owned())
    );
    gw.stop().await;
}
