//! Meta-tool mode end to end, with the example role matrix (examples/configs/authz-roles.yaml)
//! over the in-process Todo API: over HTTP (the fast path and rmcp's path) for two principals
//! and over stdio (both paths) for the configured principal. The listing is the meta-tools
//! and the pinned tools the caller may see; `search_tools` never finds a tool the caller may
//! not call; `call_tool` of such a tool is refused exactly like a direct call of it, and an
//! allowed one runs the real tool.

mod common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use toolgate::config::{SessionModeConfig, ToolMode};
use toolgate_core::{AuthMethod, Principal};

const META: &str = common::clients::MODERN_META;

/// The example's authorization over the Todo API, in meta-tool mode with `get_task` pinned.
async fn config() -> toolgate::config::Config {
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    tokio::spawn(todo_api::serve(api));
    let example = common::repo_root().join("examples/configs/authz-roles.yaml");
    let example = toolgate::run::load_config_file(&example).unwrap();
    let mut config = common::todo_config(api_addr, SessionModeConfig::Stateless);
    config.authorization = example.authorization;
    config.server.tool_mode = ToolMode::Meta;
    config.server.pinned_tools = vec!["get_task".to_owned(), "delete_*".to_owned()];
    config
}

/// Fixed tokens → principals, plugged into the real authentication edge.
struct FixedTokens;

impl toolgate_core::Authenticator for FixedTokens {
    fn authenticate<'a>(
        &'a self,
        request: &'a http::request::Parts,
    ) -> futures::future::BoxFuture<'a, Result<Arc<Principal>, toolgate_core::Refusal>> {
        let role = match request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
        {
            Some("Bearer reader-token") => Some("reader"),
            Some("Bearer admin-token") => Some("admin"),
            _ => None,
        };
        Box::pin(async move {
            let role =
                role.ok_or_else(|| toolgate_core::Refusal::missing("send a bearer token"))?;
            let mut p = Principal::new(format!("{role}@example.com"), vec![], AuthMethod::Jwt);
            p.roles = vec![role.to_owned()];
            Ok(Arc::new(p))
        })
    }
}

async fn post(url: &str, token: &str, method: &str, name: Option<&str>, body: String) -> Value {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method)
        .header("authorization", format!("Bearer {token}"));
    if let Some(n) = name {
        req = req.header("mcp-name", n);
    }
    let resp = req.body(body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    common::clients::message_of(&resp.text().await.unwrap())
}

async fn list(url: &str, token: &str) -> Vec<String> {
    let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{{{META}}}}}"#);
    let answer = post(url, token, "tools/list", None, body).await;
    names(&answer["result"]["tools"])
}

fn names(tools: &Value) -> Vec<String> {
    tools
        .as_array()
        .unwrap_or_else(|| panic!("{tools}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn call(url: &str, token: &str, tool: &str, arguments: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments}});
    let mut body = body.to_string();
    // The 2026-07-28 `_meta`, spliced into params.
    body = body.replacen(r#""params":{"#, &format!(r#""params":{{{META},"#), 1);
    post(url, token, "tools/call", Some(tool), body).await
}

const TASK: &str = "00000000-0000-4000-8000-000000000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_call_tool_is_refused_exactly_like_a_direct_call_on_both_paths() {
    let config = config().await;
    let assembled = toolgate::run::assemble(&config, std::path::Path::new("."))
        .await
        .unwrap();
    let mut urls = Vec::new();
    for fast_path in [true, false] {
        let options = toolgate_server::HttpOptions {
            fast_path,
            ..toolgate::run::http_options(&config)
        };
        let edge = toolgate_server::EdgeAuth::on(toolgate_server::AuthSettings::new(
            Arc::new(FixedTokens),
            json!({"resource": "http://127.0.0.1/mcp"}),
            "http://127.0.0.1",
        ));
        let app = toolgate_server::mcp_router(
            assembled.gateway.clone(),
            &options,
            edge,
            Default::default(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        urls.push(format!("http://{addr}/mcp"));
    }
    let before = common::fast_path_calls(&assembled.metrics.encode());
    let mut answers = Vec::new();
    for url in &urls {
        // The listing: meta-tools, then the pinned tools this caller may use.
        assert_eq!(
            list(url, "reader-token").await,
            ["search_tools", "describe_tool", "call_tool", "get_task"]
        );
        assert_eq!(
            list(url, "admin-token").await,
            ["search_tools", "describe_tool", "call_tool", "get_task", "delete_task"]
        );
        // The reader never finds delete_task; the admin does, first.
        let query = json!({"query": "delete a task", "limit": 50});
        let found = call(url, "reader-token", "search_tools", query.clone()).await;
        let found = names(&found["result"]["structuredContent"]["tools"]);
        assert!(!found.contains(&"delete_task".to_owned()), "{found:?}");
        let found = call(url, "admin-token", "search_tools", query).await;
        assert_eq!(
            names(&found["result"]["structuredContent"]["tools"])[0],
            "delete_task"
        );
        // call_tool of a tool the reader may not call: the direct call's answer, exactly.
        let args = json!({"task_id": TASK});
        let direct = call(url, "reader-token", "delete_task", args.clone()).await;
        let via_meta = call(
            url,
            "reader-token",
            "call_tool",
            json!({"name": "delete_task", "arguments": args}),
        )
        .await;
        assert!(direct["error"].is_object(), "{direct}");
        assert_eq!(via_meta, direct);
        // The admin may: the real tool runs (the backend answers 404 for this id).
        let allowed = call(
            url,
            "admin-token",
            "call_tool",
            json!({"name": "delete_task", "arguments": {"task_id": TASK}}),
        )
        .await;
        assert!(allowed["result"].is_object(), "{allowed}");
        assert_eq!(allowed["result"]["isError"], true, "{allowed}");
        assert!(
            allowed["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("404"),
            "{allowed}"
        );
        answers.push(via_meta);
    }
    assert_eq!(answers[0], answers[1], "the fast path and rmcp's path agree");
    let metrics = assembled.metrics.encode();
    assert!(
        common::fast_path_calls(&metrics) > before,
        "the fast path served the fast URL's requests"
    );
    assert!(
        metrics.contains(r#"toolgate_calls_total{method="tools/call",tool="delete_task",outcome="backend_status"} 2"#),
        "the admin's call_tool is counted as delete_task: {metrics}"
    );
    assert!(!metrics.contains(r#"tool="call_tool""#), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_stdio_call_tool_is_refused_exactly_like_a_direct_call_on_both_paths() {
    let config = config().await;
    let assembled = toolgate::run::assemble(&config, std::path::Path::new("."))
        .await
        .unwrap();
    let mut seen = Vec::new();
    for fast_path in [true, false] {
        let (client_write, server_read) = tokio::io::duplex(1 << 20);
        let (server_write, client_read) = tokio::io::duplex(1 << 20);
        let server = tokio::spawn(toolgate_server::serve_stdio_streams(
            assembled.gateway.clone(),
            server_read,
            server_write,
            fast_path,
        ));
        let mut to = client_write;
        let lines = [
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#.to_owned(),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned(),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#.to_owned(),
            format!(r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"delete_task","arguments":{{"task_id":"{TASK}"}}}}}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"call_tool","arguments":{{"name":"delete_task","arguments":{{"task_id":"{TASK}"}}}}}}}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{{"name":"call_tool","arguments":{{"name":"get_task","arguments":{{"task_id":"{TASK}"}}}}}}}}"#),
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"search_tools","arguments":{"query":"delete a task"}}}"#.to_owned(),
        ];
        for line in &lines {
            to.write_all(line.as_bytes()).await.unwrap();
            to.write_all(b"\n").await.unwrap();
        }
        let mut from = BufReader::new(client_read);
        let mut by_id = std::collections::BTreeMap::new();
        while by_id.len() < 6 {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(20), from.read_line(&mut line))
                .await
                .expect("an answer in time")
                .unwrap();
            assert!(n > 0, "the server ended early");
            let v: Value = serde_json::from_str(&line).unwrap();
            if let Some(id) = v.get("id").and_then(Value::as_u64) {
                by_id.insert(id, v);
            }
        }
        drop(to);
        let _ = tokio::time::timeout(Duration::from_secs(20), server).await;
        assert_eq!(
            names(&by_id[&1]["result"]["tools"]),
            ["search_tools", "describe_tool", "call_tool", "get_task"]
        );
        assert!(by_id[&2]["error"].is_object(), "{}", by_id[&2]);
        assert_eq!(by_id[&3]["error"], by_id[&2]["error"]);
        // An allowed tool through call_tool runs (the backend's 404 for this id).
        assert_eq!(by_id[&4]["result"]["isError"], true, "{}", by_id[&4]);
        let found = names(&by_id[&5]["result"]["structuredContent"]["tools"]);
        assert!(!found.contains(&"delete_task".to_owned()), "{found:?}");
        assert!(!found.is_empty(), "the reader finds what it may call");
        seen.push(json!([by_id[&1], by_id[&2], by_id[&3], by_id[&5]]));
    }
    assert_eq!(seen[0], seen[1], "the stdio fast path and rmcp's path agree");
}
