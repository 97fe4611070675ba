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
            [
                "search_tools",
                "describe_tool",
                "call_tool",
                "get_task",
                "delete_task"
            ]
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
    assert_eq!(
        answers[0], answers[1],
        "the fast path and rmcp's path agree"
    );
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
    assert_eq!(
        seen[0], seen[1],
        "the stdio fast path and rmcp's path agree"
    );
}

/// GitHub's REST API as an OpenAPI document: the real one when `TOOLGATE_TEST_GITHUB_SPEC`
/// names it (`scripts/spec-corpus.sh` installs it), else one rebuilt from the committed
/// extract of its 1,223 operations (crates/toolgate-search/eval/github.jsonl: names,
/// summaries, descriptions, methods, paths, argument names), which compiles to the same tool
/// names, so CI needs no download.
fn github_spec(dir: &std::path::Path) -> std::path::PathBuf {
    if let Some(real) = std::env::var_os("TOOLGATE_TEST_GITHUB_SPEC").filter(|v| !v.is_empty()) {
        return real.into();
    }
    let extract = common::repo_root().join("crates/toolgate-search/eval/github.jsonl");
    let mut paths = serde_json::Map::new();
    for line in std::fs::read_to_string(extract).unwrap().lines() {
        let op: Value = serde_json::from_str(line).unwrap();
        let path = op["path"].as_str().unwrap();
        let method = op["method"].as_str().unwrap().to_lowercase();
        let in_path = |p: &str| path.contains(&format!("{{{p}}}"));
        let params: Vec<&str> = op["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        let mut parameters: Vec<Value> = params
            .iter()
            .filter(|p| in_path(p))
            .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": ["string", "integer"]}}))
            .collect();
        let rest: Vec<&str> = params.iter().copied().filter(|p| !in_path(p)).collect();
        let mut operation = json!({
            "operationId": op["name"],
            "summary": op["title"],
            "description": op["description"],
            "tags": op.get("tags").cloned().unwrap_or(json!([])),
            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}},
        });
        if matches!(method.as_str(), "post" | "put" | "patch") && !rest.is_empty() {
            let properties: serde_json::Map<String, Value> =
                rest.iter().map(|p| ((*p).to_owned(), json!({}))).collect();
            operation["requestBody"] = json!({"content": {"application/json": {"schema": {"type": "object", "properties": properties}}}});
        } else {
            parameters.extend(
                rest.iter()
                    .map(|p| json!({"name": p, "in": "query", "schema": {"type": "string"}})),
            );
        }
        operation["parameters"] = Value::Array(parameters);
        paths
            .entry(path.to_owned())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .unwrap()
            .insert(method, operation);
    }
    let spec = json!({
        "openapi": "3.1.0",
        "info": {"title": "GitHub v3 REST API (from the evaluation extract)", "version": "1"},
        "paths": paths,
    });
    let file = dir.join("github.json");
    std::fs::write(&file, serde_json::to_vec(&spec).unwrap()).unwrap();
    file
}

/// A stand-in backend on a loopback port: answers every request with what it saw.
fn echo_backend() -> std::net::SocketAddr {
    common::router_thread(axum::Router::new().fallback(
        |method: http::Method, uri: http::Uri, body: axum::body::Bytes| async move {
            axum::Json(json!({
                "method": method.as_str(),
                "path": uri.path(),
                "query": uri.query(),
                "body": serde_json::from_slice::<Value>(&body).ok(),
            }))
        },
    ))
}

#[test]
fn python_sdk_client_searches_describes_and_calls_github_through_meta_tools() {
    let Some(python) = common::dependency("TOOLGATE_TEST_PYTHON") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let spec = github_spec(dir.path());
    let backend = echo_backend();
    let config = dir.path().join("toolgate.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  tool_mode: auto\n  pinned_tools: [meta_root]\nsources:\n  - name: github\n    spec: {}\n    base_url: http://{backend}\n",
            spec.display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let script = common::repo_root().join("tests/e2e/mcp_meta_tools_check.py");
    let run = |target: &[&str]| {
        let out = std::process::Command::new(&python)
            .arg(&script)
            .args(target)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "python client failed for {target:?}:\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str::<Value>(stdout.trim()).unwrap()
    };
    let (_gateway, rest) = common::spawn_and_read(
        &["serve", "--config", config, "--http", "127.0.0.1:0"],
        "toolgate: serving",
    );
    let url = rest.rsplit(' ').next().unwrap().to_owned();
    for mode in ["2026-07-28", "legacy"] {
        let summary = run(&["--http", &url, "--mode", mode]);
        assert_eq!(
            summary["listed"],
            json!(["search_tools", "describe_tool", "call_tool", "meta_root"]),
            "{summary}"
        );
        // The meta-tools themselves; a pinned tool adds its own definition (GitHub's
        // `meta_root` has a 2 KB output schema).
        assert!(
            summary["meta_tools_bytes"].as_u64().unwrap() < 2048,
            "the meta-tools stay under 2 KB: {summary}"
        );
    }
    let stdio = run(&[
        "--stdio",
        common::TOOLGATE_BIN,
        "serve",
        "--stdio",
        "--config",
        config,
    ]);
    assert_eq!(
        stdio["backend_saw"]["path"],
        "/repos/octo/hello/issues/7/comments"
    );
}
