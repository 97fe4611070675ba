//! Authorization end to end: the gateway serving the Todo API with the example role matrix
//! (examples/configs/authz-roles.yaml), over HTTP for two principals and over stdio for the
//! configured principal. A reader lists fewer tools than an admin; a tool hidden from a caller
//! answers exactly as an unknown tool, on the fast path and on rmcp's path alike, and both
//! paths list the same tools.
//!
//! Over HTTP the principals are established by the real authentication edge, with a
//! fixed-token `Authenticator` in the place of the JWT verifier.

mod common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use toolgate::config::SessionModeConfig;
use toolgate_core::{AuthMethod, Principal};

const META: &str = common::clients::MODERN_META;

/// The example's authorization section over the in-process Todo API.
async fn config() -> toolgate::config::Config {
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    tokio::spawn(todo_api::serve(api));
    let example = common::repo_root().join("examples/configs/authz-roles.yaml");
    let example = toolgate::run::load_config_file(&example).unwrap();
    let mut config = common::todo_config(api_addr, SessionModeConfig::Stateless);
    config.authorization = example.authorization;
    config
}

/// Fixed tokens → principals: an `Authenticator` plugged into the real authentication edge
/// (the JWT verifier's place), so principals are established where they are in production.
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

/// POSTs a 2026-07-28 request with `token`: the parsed answer (JSON or SSE).
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
    answer["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn call(url: &str, token: &str, tool: &str) -> Value {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"{tool}","arguments":{{"task_id":"00000000-0000-4000-8000-000000000000"}},{META}}}}}"#
    );
    post(url, token, "tools/call", Some(tool), body).await
}

/// `answer` with `name` replaced by `instead` (to compare answers about two names).
fn renamed(answer: &Value, name: &str, instead: &str) -> Value {
    serde_json::from_str(&answer.to_string().replace(name, instead)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_callers_see_only_their_tools_and_hidden_tools_answer_as_unknown() {
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
    let (fast, rmcp) = (&urls[0], &urls[1]);
    // The edge is on: no token, no answer.
    let refused = reqwest::Client::new()
        .post(fast.as_str())
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let before = common::fast_path_calls(&assembled.metrics.encode());

    let reader = list(fast, "reader-token").await;
    let admin = list(fast, "admin-token").await;
    assert_eq!(reader, ["list_users", "get_user", "list_tasks", "get_task"]);
    assert_eq!(admin.len(), 9, "{admin:?}");
    assert!(reader.len() < admin.len());
    assert_eq!(
        list(rmcp, "reader-token").await,
        reader,
        "both paths list alike"
    );
    assert_eq!(list(rmcp, "admin-token").await, admin);

    // `delete_task` exists but is hidden from the reader; `delete_tusk` does not exist.
    let mut answers = Vec::new();
    for url in [fast, rmcp] {
        let hidden = call(url, "reader-token", "delete_task").await;
        let unknown = call(url, "reader-token", "delete_tusk").await;
        assert!(hidden["error"].is_object(), "{hidden}");
        assert_eq!(renamed(&hidden, "delete_task", "delete_tusk"), unknown);
        answers.push(hidden);
        // The admin may call it (the backend answers 404 for this id: a tool result).
        let allowed = call(url, "admin-token", "delete_task").await;
        assert!(allowed["result"].is_object(), "{allowed}");
    }
    assert_eq!(
        answers[0], answers[1],
        "the fast path and rmcp's path agree"
    );
    assert!(
        common::fast_path_calls(&assembled.metrics.encode()) >= before + 5,
        "the fast path served the fast URL's requests"
    );
    let metrics = assembled.metrics.encode();
    assert!(
        metrics.contains(r#"toolgate_authz_decisions_total{outcome="denied",reason="no_rule"} 2"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_runs_as_the_configured_principal() {
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
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_task","arguments":{}}}"#.to_owned(),
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"delete_tusk","arguments":{}}}"#.to_owned(),
        ];
        for line in &lines {
            to.write_all(line.as_bytes()).await.unwrap();
            to.write_all(b"\n").await.unwrap();
        }
        let mut from = BufReader::new(client_read);
        let mut by_id = std::collections::BTreeMap::new();
        while by_id.len() < 4 {
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
        let names: Vec<&str> = by_id[&1]["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["list_users", "get_user", "list_tasks", "get_task"]);
        assert_eq!(
            renamed(&by_id[&2], "delete_task", "delete_tusk")["error"],
            by_id[&3]["error"]
        );
        assert!(by_id[&2]["error"].is_object(), "{}", by_id[&2]);
        seen.push(json!([by_id[&1].clone(), by_id[&2].clone()]));
    }
    assert_eq!(
        seen[0], seen[1],
        "the stdio fast path and rmcp's path agree"
    );
}
