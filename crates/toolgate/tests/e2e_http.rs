//! End-to-end over streamable HTTP: rmcp's client against the gateway serving the Todo API,
//! plus the transport's security and protocol-error behaviour.

mod common;

use common::clients::{MODERN_META, modern_post};

use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Value, json};
use toolgate::config::SessionModeConfig;

async fn call(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    name: &str,
    args: Value,
) -> rmcp::model::CallToolResult {
    let args = args.as_object().cloned().unwrap();
    client
        .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

async fn exercise_todo_tools(mode: SessionModeConfig) {
    let stack = common::start(mode).await;
    let transport = StreamableHttpClientTransport::from_uri(stack.mcp_url.clone());
    let client = ().serve(transport).await.expect("initialize");

    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for want in [
        "create_user",
        "list_users",
        "create_task",
        "list_tasks",
        "get_task",
        "complete_task",
        "delete_task",
    ] {
        assert!(names.contains(&want), "missing tool {want} in {names:?}");
    }
    let get_task = tools.iter().find(|t| t.name == "get_task").unwrap();
    assert_eq!(
        get_task.annotations.as_ref().unwrap().read_only_hint,
        Some(true)
    );
    assert!(
        get_task
            .description
            .as_deref()
            .is_some_and(|d| !d.is_empty())
    );

    let user = call(
        &client,
        "create_user",
        json!({"name": "Ada", "email": "ada@example.com"}),
    )
    .await;
    assert_ne!(user.is_error, Some(true), "{user:?}");
    let user = user.structured_content.expect("structured user");
    let user_id = user["id"].as_str().unwrap().to_owned();
    assert_eq!(user["name"], "Ada");

    let task = call(
        &client,
        "create_task",
        json!({"user_id": user_id, "title": "Write the gateway", "priority": "high", "tags": ["rust", "mcp"]}),
    )
    .await;
    assert_ne!(task.is_error, Some(true), "{task:?}");
    let task = task.structured_content.unwrap();
    let task_id = task["id"].as_str().unwrap().to_owned();
    assert_eq!(task["status"], "pending");
    assert_eq!(task["tags"], json!(["rust", "mcp"]));

    let got = call(&client, "get_task", json!({"task_id": task_id})).await;
    assert_eq!(
        got.structured_content.unwrap()["title"],
        "Write the gateway"
    );

    let done = call(&client, "complete_task", json!({"task_id": task_id})).await;
    assert_eq!(done.structured_content.unwrap()["status"], "completed");

    let listed = call(
        &client,
        "list_tasks",
        json!({"status": "completed", "tag": ["rust"]}),
    )
    .await;
    let listed = listed.structured_content.unwrap();
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["items"][0]["id"], task_id.as_str());

    // A backend 404 is a tool error the model can read, not a protocol error.
    let missing = call(
        &client,
        "get_task",
        json!({"task_id": "00000000-0000-4000-8000-000000000000"}),
    )
    .await;
    assert_eq!(missing.is_error, Some(true));
    let text = serde_json::to_string(&missing.content).unwrap();
    assert!(text.contains("404"), "{text}");

    // Invalid arguments are reported before any request is sent.
    let bad = call(&client, "create_user", json!({"name": 5})).await;
    assert_eq!(bad.is_error, Some(true));

    // An unknown tool is a JSON-RPC error.
    let unknown = client
        .call_tool(CallToolRequestParams::new("no_such_tool"))
        .await;
    assert!(unknown.is_err(), "{unknown:?}");

    client.cancel().await.unwrap();
}

#[tokio::test]
async fn rmcp_client_uses_todo_tools_with_sessions() {
    exercise_todo_tools(SessionModeConfig::Stateful).await;
}

#[tokio::test]
async fn rmcp_client_uses_todo_tools_stateless() {
    exercise_todo_tools(SessionModeConfig::Stateless).await;
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

fn post(stack: &common::Stack) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(&stack.mcp_url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
}

#[tokio::test]
async fn foreign_host_or_origin_is_refused_and_loopback_accepted() {
    let stack = common::start(SessionModeConfig::Stateful).await;
    let evil_host = post(&stack)
        .header("host", "evil.example.com")
        .body(INIT)
        .send()
        .await
        .unwrap();
    assert_eq!(evil_host.status(), 403);
    let evil_origin = post(&stack)
        .header("origin", "http://evil.example.com")
        .body(INIT)
        .send()
        .await
        .unwrap();
    assert_eq!(evil_origin.status(), 403);
    let local_origin = post(&stack)
        .header("origin", format!("http://localhost:{}", stack.addr.port()))
        .body(INIT)
        .send()
        .await
        .unwrap();
    assert_eq!(local_origin.status(), 200);
    let plain = post(&stack).body(INIT).send().await.unwrap();
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("mcp-session-id").is_some());
}

#[tokio::test]
async fn malformed_json_rpc_gets_a_parse_error() {
    let stack = common::start(SessionModeConfig::Stateless).await;
    let resp = post(&stack).body("{not json").send().await.unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert!(status.is_client_error(), "{status} {body}");
    assert!(
        body.contains("-32700"),
        "expected a JSON-RPC parse error, got {status} {body}"
    );
}

#[tokio::test]
async fn metrics_and_health_endpoints_report_calls() {
    let stack = common::start(SessionModeConfig::Stateless).await;
    let client = ()
        .serve(StreamableHttpClientTransport::from_uri(
            stack.mcp_url.clone(),
        ))
        .await
        .unwrap();
    call(&client, "list_users", json!({})).await;
    call(&client, "list_users", json!({})).await;
    client.cancel().await.unwrap();

    let base = format!("http://{}", stack.addr);
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("toolgate_calls_total")
                && l.contains("tool=\"list_users\"")
                && l.contains("outcome=\"ok\"")
        })
        .unwrap_or_else(|| panic!("no list_users counter in:\n{metrics}"));
    assert!(line.trim_end().ends_with(" 2"), "{line}");
    assert!(
        metrics.contains("toolgate_call_duration_seconds_bucket"),
        "{metrics}"
    );

    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["sources"]["todo"], "ok");
}

#[tokio::test]
async fn readyz_reports_an_unreachable_backend() {
    // Point a source at a port nobody listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let config = common::todo_config(dead_addr, SessionModeConfig::Stateless);
    let mcp_url = serve_config(config).await;
    let base = mcp_url.strip_suffix("/mcp").unwrap();
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
}

#[tokio::test]
async fn mcp_router_mounts_into_an_existing_axum_app() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap();
    let assembled =
        toolgate::embed::openapi_gateway("todo", todo_api::openapi(), &format!("http://{local}"))
            .await
            .unwrap();
    let app = todo_api::app().merge(toolgate_server::mcp_router(
        assembled.gateway,
        &toolgate_server::HttpOptions::default(),
        toolgate_server::EdgeAuth::Off,
        Default::default(),
    ));
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The service's own routes still work ...
    let users = reqwest::get(format!("http://{local}/api/v1/users"))
        .await
        .unwrap();
    assert_eq!(users.status(), 200);
    // ... and MCP is served at /mcp of the same server, calling back into it.
    let client = ()
        .serve(StreamableHttpClientTransport::from_uri(format!(
            "http://{local}/mcp"
        )))
        .await
        .unwrap();
    let created = call(
        &client,
        "create_user",
        json!({"name": "Mount", "email": "m@example.com"}),
    )
    .await;
    assert_eq!(created.structured_content.unwrap()["name"], "Mount");
    let listed: Value = reqwest::get(format!("http://{local}/api/v1/users"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["email"], "m@example.com");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn deleting_a_session_answers_no_content_and_ends_it() {
    let stack = common::start(SessionModeConfig::Stateful).await;
    let init = post(&stack).body(INIT).send().await.unwrap();
    let sid = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let del = reqwest::Client::new()
        .delete(&stack.mcp_url)
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    let after = post(&stack)
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", "2025-11-25")
        .body(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 404, "a terminated session must get 404");
}

#[tokio::test]
async fn shutdown_lets_a_call_in_progress_finish() {
    use std::time::Duration;
    let (backend_url, spec) = common::slow_backend(Duration::from_millis(400)).await;
    let assembled = toolgate::embed::openapi_gateway("slow", spec, &backend_url)
        .await
        .unwrap();
    let options = toolgate_server::HttpOptions {
        session_mode: toolgate_server::SessionMode::Stateless,
        ..Default::default()
    };
    let mcp_shutdown = tokio_util::sync::CancellationToken::new();
    let app = toolgate_server::gateway_app(
        assembled.gateway.clone(),
        &options,
        toolgate_server::EdgeAuth::Off,
        assembled.metrics.clone(),
        mcp_shutdown.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let signal = tokio_util::sync::CancellationToken::new();
    let server = {
        let signal = signal.clone();
        tokio::spawn(toolgate_server::serve(
            listener,
            app,
            async move { signal.cancelled().await },
            assembled.gateway.in_flight(),
            Duration::from_secs(5),
            mcp_shutdown,
        ))
    };
    let client = ()
        .serve(StreamableHttpClientTransport::from_uri(format!(
            "http://{addr}/mcp"
        )))
        .await
        .unwrap();
    let in_flight = assembled.gateway.in_flight();
    let pending = tokio::spawn(async move { call(&client, "slow", json!({})).await });
    for _ in 0..500 {
        if in_flight.current() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        in_flight.current(),
        1,
        "the call is in progress before the signal"
    );
    signal.cancel();
    let result = pending.await.unwrap();
    assert_eq!(result.structured_content.unwrap()["done"], true);
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stopped")
        .unwrap()
        .unwrap();
}

/// Serves `config` on loopback and returns the MCP URL (the server lives until the test ends).
async fn serve_config(config: toolgate::config::Config) -> String {
    common::serve_config_with_gateway(config).await.0
}

#[tokio::test]
async fn route_maps_serve_get_operations_as_resources_and_templates() {
    let stack = common::start(SessionModeConfig::Stateless).await;
    let mut config = common::todo_config(stack.api_addr, SessionModeConfig::Stateless);
    common::openapi(&mut config.sources[0]).compile.route_maps = serde_json::from_value(json!([
        {"methods": ["GET"], "path": "^/api/v1/users(/\\{user_id\\})?$", "to": "resource"}
    ]))
    .unwrap();
    let url = serve_config(config).await;
    let client = ().serve(StreamableHttpClientTransport::from_uri(url)).await.unwrap();

    let tools = client.list_all_tools().await.unwrap();
    assert!(
        !tools
            .iter()
            .any(|t| t.name == "list_users" || t.name == "get_user")
    );
    let resources = client.list_all_resources().await.unwrap();
    assert_eq!(resources.len(), 1, "{resources:?}");
    let templates = client.list_all_resource_templates().await.unwrap();
    assert_eq!(templates.len(), 1, "{templates:?}");
    assert!(
        templates[0].uri_template.contains("{user_id}"),
        "{templates:?}"
    );

    let user = call(
        &client,
        "create_user",
        json!({"name": "Res", "email": "res@example.com"}),
    )
    .await;
    let user_id = user.structured_content.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let read = |uri: String| {
        let client = &client;
        async move {
            client
                .read_resource(rmcp::model::ReadResourceRequestParams::new(uri))
                .await
        }
    };
    let listed = read(resources[0].uri.clone()).await.unwrap();
    let text = serde_json::to_string(&listed.contents).unwrap();
    assert!(text.contains("res@example.com"), "{text}");

    let one = read(templates[0].uri_template.replace("{user_id}", &user_id))
        .await
        .unwrap();
    assert!(
        serde_json::to_string(&one.contents)
            .unwrap()
            .contains(&user_id)
    );

    let missing = read(
        templates[0]
            .uri_template
            .replace("{user_id}", "00000000-0000-4000-8000-000000000000"),
    )
    .await;
    assert!(
        missing.is_err(),
        "a backend 404 must be a JSON-RPC error: {missing:?}"
    );
    let unknown = read("nope://nothing".to_owned()).await;
    assert!(unknown.is_err());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn tools_list_is_paginated_when_a_page_size_is_set() {
    let stack = common::start(SessionModeConfig::Stateless).await;
    let mut config = common::todo_config(stack.api_addr, SessionModeConfig::Stateless);
    config.limits.page_size = Some(4);
    let url = serve_config(config).await;
    let client = ().serve(StreamableHttpClientTransport::from_uri(url)).await.unwrap();
    let first = client.list_tools(None).await.unwrap();
    assert_eq!(first.tools.len(), 4);
    assert!(first.next_cursor.is_some());
    let all = client.list_all_tools().await.unwrap();
    assert_eq!(all.len(), 9);
    let mut names: Vec<_> = all.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 9, "pages must not repeat tools");
    let bad = client
        .list_tools(Some(
            rmcp::model::PaginatedRequestParams::default().with_cursor(Some("bogus".into())),
        ))
        .await;
    assert!(bad.is_err(), "an invalid cursor is a JSON-RPC error");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn several_sources_are_served_side_by_side_with_namespaces() {
    let stack = common::start(SessionModeConfig::Stateless).await;
    let mut config = common::todo_config(stack.api_addr, SessionModeConfig::Stateless);
    let mut second = config.sources[0].clone();
    common::openapi(&mut second).name = "todo2".to_owned();
    // Without namespaces the two sources clash: a clear input error naming both.
    let mut clashing = config.clone();
    clashing.sources.push(second.clone());
    let err = match toolgate::run::assemble(&clashing, std::path::Path::new(".")).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("duplicate tool names must be refused"),
    };
    assert!(
        err.contains("duplicate tool") && err.contains("todo") && err.contains("todo2"),
        "{err}"
    );
    assert!(
        err.contains("namespace"),
        "the error should say how to fix it: {err}"
    );

    common::openapi(&mut config.sources[0]).compile.namespace = Some("a".to_owned());
    common::openapi(&mut second).compile.namespace = Some("b".to_owned());
    config.sources.push(second);
    let url = serve_config(config).await;
    let client = ().serve(StreamableHttpClientTransport::from_uri(url)).await.unwrap();
    let names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(names.len(), 18, "{names:?}");
    assert!(
        names.contains(&"a_create_user".to_owned()) && names.contains(&"b_create_user".to_owned()),
        "{names:?}"
    );
    let created = call(
        &client,
        "b_create_user",
        json!({"name": "Two", "email": "two@example.com"}),
    )
    .await;
    assert_eq!(created.structured_content.unwrap()["name"], "Two");
    client.cancel().await.unwrap();
}

/// A gateway over the Todo API at `api_addr` with the fast path on or off.
async fn gateway_with_fast_path(
    api_addr: std::net::SocketAddr,
    fast_path: bool,
) -> (String, common::Watched) {
    let mut config = common::todo_config(api_addr, SessionModeConfig::Stateless);
    config.http.fast_path = fast_path;
    common::serve_config_with_gateway(config).await
}

/// MCP is served at the configured path only: a well-formed fast-path request elsewhere is a
/// plain 404, whatever its Host, and never reaches the pipeline.
#[tokio::test]
async fn only_the_mcp_path_speaks_mcp() {
    let stack = common::start(SessionModeConfig::Stateless).await;
    let (url, gateway) = gateway_with_fast_path(stack.api_addr, true).await;
    let list =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{{{MODERN_META}}}}}"#);
    let (status, body) = modern_post(&url, "tools/list", None, list.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(gateway.fast_path_calls(), 1);
    let elsewhere = url.replace("/mcp", "/mcp-not");
    let (status, _) = modern_post(&elsewhere, "tools/list", None, list.clone()).await;
    assert_eq!(status, 404);
    let foreign = reqwest::Client::new()
        .post(&elsewhere)
        .header("host", "evil.example.com")
        .body(list)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);
    assert_eq!(gateway.fast_path_calls(), 1);
}

#[tokio::test]
async fn fast_path_answers_exactly_like_rmcp() {
    let stack = common::start(SessionModeConfig::Stateless).await;
    let (fast_url, fast_gw) = gateway_with_fast_path(stack.api_addr, true).await;
    let (slow_url, slow_gw) = gateway_with_fast_path(stack.api_addr, false).await;
    let m = MODERN_META;
    let cases: Vec<(&str, Option<&str>, String, bool)> = vec![
        (
            "tools/list",
            None,
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{{{m}}}}}"#),
            true,
        ),
        (
            "tools/call",
            Some("list_users"),
            format!(
                r#"{{"jsonrpc":"2.0","id":"s-2","method":"tools/call","params":{{"name":"list_users","arguments":{{}},{m}}}}}"#
            ),
            true,
        ),
        (
            "tools/call",
            Some("list_users"),
            format!(
                r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"list_users",{m}}}}}"#
            ),
            true,
        ),
        (
            "tools/call",
            Some("nope"),
            format!(
                r#"{{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{{"name":"nope",{m}}}}}"#
            ),
            true,
        ),
        (
            "tools/call",
            Some("get_task"),
            format!(
                r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"name":"get_task","arguments":{{"task_id":"00000000-0000-4000-8000-000000000000"}},{m}}}}}"#
            ),
            true,
        ),
        (
            "tools/call",
            Some("create_user"),
            format!(
                r#"{{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{{"name":"create_user","arguments":{{"name":5}},{m}}}}}"#
            ),
            true,
        ),
        (
            "tools/list",
            None,
            format!(
                r#"{{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{{"cursor":"bogus",{m}}}}}"#
            ),
            true,
        ),
        // Not qualifying: left to rmcp on both sides.
        (
            "tools/call",
            Some("list_users"),
            r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"list_users"}}"#
                .to_owned(),
            false,
        ),
        (
            "tools/call",
            Some("other"),
            format!(
                r#"{{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{{"name":"list_users",{m}}}}}"#
            ),
            false,
        ),
        (
            "tools/list",
            None,
            format!(
                r#"{{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{{"name":"list_users",{m}}}}}"#
            ),
            false,
        ),
    ];
    let mut expected_fast = 0;
    for (method, name, body, qualifies) in cases {
        let fast = modern_post(&fast_url, method, name, body.clone()).await;
        let slow = modern_post(&slow_url, method, name, body.clone()).await;
        assert_eq!(fast, slow, "fast path and rmcp disagree on {body}");
        if qualifies {
            expected_fast += 1;
        }
        assert_eq!(
            fast_gw.fast_path_calls(),
            expected_fast,
            "fast path use after {body}"
        );
    }
    assert_eq!(slow_gw.fast_path_calls(), 0);
}

#[tokio::test]
async fn allowlisted_client_headers_reach_the_backend_and_others_do_not() {
    // A backend that echoes the headers it received.
    let backend = axum::Router::new().route(
        "/echo",
        axum::routing::get(|headers: axum::http::HeaderMap| async move {
            let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
            axum::Json(json!({"tenant": h("x-tenant"), "secret": h("x-secret"), "auth": h("authorization")}))
        }),
    );
    let bl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend_addr = bl.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(bl, backend).await });
    let spec = json!({
        "openapi": "3.1.0",
        "info": {"title": "echo", "version": "1"},
        "paths": {"/echo": {"get": {"operationId": "echo", "responses": {"200": {"description": "ok",
            "content": {"application/json": {"schema": {"type": "object"}}}}}}}}
    });
    let mut config = toolgate::config::load("", "<test>", &Default::default()).unwrap();
    config.http.session_mode = SessionModeConfig::Stateless;
    config.sources.push(toolgate::config::SourceConfig::from(
        toolgate::config::OpenApiSourceConfig {
            name: "echo".to_owned(),
            spec: toolgate::config::SpecLocation::Inline { inline: spec },
            base_url: Some(format!("http://{backend_addr}")),
            compile: Default::default(),
            backend: serde_json::from_value(json!({"forward_headers": ["x-tenant"]})).unwrap(),
            tools: Default::default(),
            tool_mode: None,
        },
    ));
    let url = serve_config(config).await;
    let m = MODERN_META;
    // Through the fast path ...
    let resp = reqwest::Client::new()
        .post(&url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .header("x-tenant", "acme")
        .header("x-secret", "s3cret")
        .header("authorization", "Bearer client-token")
        .body(format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo",{m}}}}}"#
        ))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["result"]["structuredContent"],
        json!({"tenant": "acme", "secret": null, "auth": null}),
        "{body}"
    );
    // ... and through rmcp's session path.
    let mut session_cfg = reqwest::header::HeaderMap::new();
    session_cfg.insert("x-tenant", "globex".parse().unwrap());
    let http = reqwest::Client::builder()
        .default_headers(session_cfg)
        .build()
        .unwrap();
    let transport = StreamableHttpClientTransport::with_client(
        http,
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(url),
    );
    let client = ().serve(transport).await.unwrap();
    let r = call(&client, "echo", json!({})).await;
    assert_eq!(r.structured_content.unwrap()["tenant"], "globex");
    client.cancel().await.unwrap();
}
