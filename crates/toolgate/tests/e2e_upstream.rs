//! Upstream MCP servers behind the gateway, end to end, with a real third-party server
//! installed from the npm registry (`@modelcontextprotocol/server-everything`, run by Node 22
//! from `scripts/setup-test-deps.sh`): the official Python SDK client through the gateway, and
//! faults (an upstream killed mid-call is reported with its name and restarted; another
//! upstream is unaffected).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::json;

/// The node binary and server-everything's entry point, when installed.
fn everything() -> Option<(PathBuf, PathBuf)> {
    let node = common::dependency("TOOLGATE_TEST_NODE22")?;
    let modules = common::dependency("TOOLGATE_TEST_NODE_MODULES")?;
    let server = modules.join("@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        server.exists(),
        "{} is missing: re-run scripts/setup-test-deps.sh",
        server.display()
    );
    Some((node, server))
}

/// A configuration serving server-everything over stdio as source `name`.
fn stdio_source(name: &str, node: &PathBuf, server: &PathBuf) -> serde_json::Value {
    json!({
        "name": name,
        "kind": "mcp",
        "transport": {"type": "stdio", "command": node, "args": [server, "stdio"]},
        "restart": {"initial_backoff_ms": 100, "max_backoff_ms": 1000},
    })
}

fn config(sources: Vec<serde_json::Value>) -> toolgate::config::Config {
    let text = serde_json::to_string(&json!({ "sources": sources })).unwrap();
    toolgate::config::load(&text, "<test>", &Default::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_everything_over_stdio_through_the_python_sdk() {
    let Some((node, server)) = everything() else {
        return;
    };
    let Some(python) = common::dependency("TOOLGATE_TEST_PYTHON") else {
        return;
    };
    let (url, watched) =
        common::serve_config_with_gateway(config(vec![stdio_source("everything", &node, &server)]))
            .await;
    let script = common::repo_root().join("tests/e2e/upstream_client_check.py");
    let out =
        tokio::task::spawn_blocking(move || Command::new(python).arg(script).arg(url).output())
            .await
            .unwrap()
            .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("ok"),
        "{stdout}\n{stderr}"
    );
    // Upstream tools talk back to the client: never the fast path.
    let text = watched.metrics.encode();
    assert!(
        text.contains(
            r#"toolgate_calls_total{method="tools/call",tool="everything_echo",outcome="ok"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"toolgate_upstream_requests_total{upstream="everything",method="tools/call",outcome="ok"}"#),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_killed_mid_call_fails_with_its_name_restarts_and_spares_the_others() {
    let Some((node, server)) = everything() else {
        return;
    };
    let config = config(vec![
        stdio_source("victim", &node, &server),
        stdio_source("other", &node, &server),
    ]);
    let assembled = toolgate::run::assemble(&config, std::path::Path::new("."))
        .await
        .unwrap();
    let victim = assembled.upstreams[0].clone();
    let pid = victim.pid().expect("a stdio upstream has a process");
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
    let client = ()
        .serve(StreamableHttpClientTransport::from_uri(format!(
            "http://{addr}/mcp"
        )))
        .await
        .unwrap();

    let long = client.call_tool(
        CallToolRequestParams::new("victim_trigger-long-running-operation").with_arguments(
            json!({"duration": 10, "steps": 10})
                .as_object()
                .unwrap()
                .clone(),
        ),
    );
    let kill = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // SAFETY: signalling a child process this test's gateway started.
        unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
    };
    let (result, ()) = tokio::join!(long, kill);
    let text = format!("{result:?}");
    assert!(
        text.contains("victim"),
        "the error names the upstream: {text}"
    );

    // The other upstream is unaffected.
    let echo = client
        .call_tool(
            CallToolRequestParams::new("other_echo").with_arguments(
                json!({"message": "still here"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap();
    assert_ne!(echo.is_error, Some(true), "{echo:?}");

    // The victim is restarted (after its backoff) and serves again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = victim.status();
        if status.phase == toolgate_upstream::Phase::Ready && status.restarts >= 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not restarted: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(victim.pid(), Some(pid), "a new process serves it");
    let echo = client
        .call_tool(
            CallToolRequestParams::new("victim_echo")
                .with_arguments(json!({"message": "back"}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_ne!(echo.is_error, Some(true), "{echo:?}");
    let metrics = assembled.metrics.encode();
    assert!(
        metrics.contains(r#"toolgate_upstream_restarts_total{upstream="victim"} 1"#),
        "{metrics}"
    );

    // Stopping leaves no process behind.
    let new_pid = victim.pid().unwrap();
    assembled.stop().await;
    for p in [pid, new_pid] {
        // SAFETY: signal 0 only checks whether the process exists.
        let alive = unsafe { libc::kill(p as i32, 0) } == 0;
        assert!(!alive, "process {p} still exists after stop");
    }
}
