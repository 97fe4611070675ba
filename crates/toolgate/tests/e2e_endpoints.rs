//! Virtual servers end to end, driving the `toolgate` binary: a configuration with two
//! endpoints over the Todo API (`/mcp/readonly`: the read-only tools, listed in full;
//! `/mcp/ro-meta`: the same selection behind the meta-tools), and proof that **no path
//! reaches what an endpoint does not serve**: `tools/list` and `tools/call` on the HTTP fast
//! path (2026-07-28 and legacy session), on rmcp's path (a call carrying `_meta`, answered
//! over SSE), over stdio (`serve --stdio --endpoint`), and through the meta-tools
//! (`search_tools`, `describe_tool`, `call_tool`); `resources/read` and `prompts/get` of an
//! upstream MCP server's resources and prompts outside the selection (with
//! server-everything, when installed). A refused call answers exactly as an unknown name.
//! Also: endpoint access rules (roles, anonymous) with API keys, `inspect`/`access
//! --endpoint`, configuration errors, and the official Python SDK client against the demo's
//! two endpoints.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use common::clients::{LegacyClient, MODERN_META, message_of, modern_post};
use common::{TOOLGATE_BIN as BIN, dependency, spawn_and_read};

const READ_ONLY: [&str; 4] = ["get_task", "get_user", "list_tasks", "list_users"];
const WRITE: [&str; 5] = [
    "complete_task",
    "create_task",
    "create_user",
    "delete_task",
    "update_task",
];

/// Writes a configuration: the Todo API as source `todo`, `extra` merged at the top level.
fn write_config(dir: &Path, api: std::net::SocketAddr, extra: Value) -> PathBuf {
    let mut config = json!({
        "sources": [{
            "name": "todo",
            "spec": {"inline": todo_api::openapi()},
            "base_url": format!("http://{api}"),
        }],
        "endpoints": [
            {"name": "readonly", "select": {"tools": {"read_only": true, "sources": ["todo"]}}, "tool_mode": "full"},
            {"name": "ro-meta", "select": {"tools": {"read_only": true, "sources": ["todo"]}}, "tool_mode": "meta"},
        ],
    });
    if let (Value::Object(c), Value::Object(e)) = (&mut config, extra) {
        for (k, v) in e {
            if k == "sources" {
                c["sources"]
                    .as_array_mut()
                    .unwrap()
                    .extend(v.as_array().unwrap().iter().cloned());
            } else {
                c.insert(k, v);
            }
        }
    }
    let path = dir.join("toolgate.yaml");
    // JSON is YAML.
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    path
}

/// Serves `config` over HTTP: the guard and the base URL (`http://127.0.0.1:PORT`).
fn serve(config: &Path) -> (common::Guard, String) {
    let (guard, rest) = spawn_and_read(
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--no-watch",
        ],
        "toolgate: serving",
    );
    // "N tools at http://127.0.0.1:PORT/mcp"
    let url = rest.rsplit(' ').next().unwrap();
    (guard, url.trim_end_matches("/mcp").to_owned())
}

fn names(answer: &Value) -> Vec<String> {
    let mut n: Vec<String> = answer["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {answer}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    n.sort();
    n
}

/// `answer` with `name` replaced by `X` (to compare answers about two names).
fn renamed(answer: &Value, name: &str) -> Value {
    serde_json::from_str(&answer.to_string().replace(name, "X")).unwrap()
}

async fn modern_list(url: &str) -> Value {
    let body =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{{{MODERN_META}}}}}"#);
    let (status, answer) = modern_post(url, "tools/list", None, body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

async fn modern_call(url: &str, tool: &str, arguments: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments}})
    .to_string()
    .replacen(r#""params":{"#, &format!(r#""params":{{{MODERN_META},"#), 1);
    let (status, answer) = modern_post(url, "tools/call", Some(tool), body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// A legacy session request carrying `_meta.progressToken`: rmcp's path (SSE), not the fast
/// path.
fn rmcp_path(method: &str, params: Value) -> String {
    let mut params = params;
    params["_meta"] = json!({"progressToken": 1});
    json!({"jsonrpc": "2.0", "id": 9, "method": method, "params": params}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_path_reaches_a_tool_outside_the_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let api = common::todo_api_thread();
    let config = write_config(dir.path(), api, json!({}));
    let (_gw, base) = serve(&config);
    let main = format!("{base}/mcp");
    let ro = format!("{base}/mcp/readonly");
    let meta = format!("{base}/mcp/ro-meta");

    // The main endpoint serves everything; the endpoint only the read-only tools.
    let all = names(&modern_list(&main).await);
    assert_eq!(all.len(), READ_ONLY.len() + WRITE.len(), "{all:?}");
    assert_eq!(names(&modern_list(&ro).await), READ_ONLY);

    // tools/list and tools/call on every HTTP path.
    let session = LegacyClient::connect(&ro).await;
    let (_, fast_list) = session
        .post(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#)
        .await;
    assert_eq!(names(&fast_list), READ_ONLY, "legacy fast path");
    let (_, rmcp_list) = session.post(&rmcp_path("tools/list", json!({}))).await;
    assert_eq!(names(&rmcp_list), READ_ONLY, "rmcp path");
    let unknown_fast = modern_call(&ro, "no_such_tool", json!({})).await;
    let (_, unknown_rmcp) = session
        .post(&rmcp_path(
            "tools/call",
            json!({"name": "no_such_tool", "arguments": {}}),
        ))
        .await;
    assert!(unknown_fast.get("error").is_some(), "{unknown_fast}");
    for tool in WRITE {
        let fast = modern_call(&ro, tool, json!({"name": "Eve", "email": "e@x.org"})).await;
        assert_eq!(
            renamed(&fast, tool),
            renamed(&unknown_fast, "no_such_tool"),
            "fast path: {tool} must answer as an unknown tool"
        );
        let (_, legacy) = session
            .post(
                &json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                    "params": {"name": tool, "arguments": {}}})
                .to_string(),
            )
            .await;
        assert!(
            legacy.get("error").is_some(),
            "legacy fast path, {tool}: {legacy}"
        );
        let (_, rmcp) = session
            .post(&rmcp_path(
                "tools/call",
                json!({"name": tool, "arguments": {"name": "Eve", "email": "e@x.org"}}),
            ))
            .await;
        assert_eq!(
            renamed(&rmcp, tool),
            renamed(&unknown_rmcp, "no_such_tool"),
            "rmcp path: {tool} must answer as an unknown tool"
        );
    }
    // Nothing reached the backend: no user was created by any of those calls.
    let users = modern_call(&main, "list_users", json!({})).await;
    assert_eq!(
        users["result"]["structuredContent"]["result"],
        json!([]),
        "{users}"
    );
    // What the endpoint serves works there.
    let listed = modern_call(&ro, "list_users", json!({})).await;
    assert_eq!(listed["result"]["isError"], json!(false), "{listed}");

    // Its own identity.
    let init = reqwest::Client::new()
        .post(&ro)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        message_of(&init)["result"]["serverInfo"]["name"],
        json!("toolgate-readonly")
    );

    // The meta-tools find, describe and call nothing outside the view.
    assert_eq!(
        names(&modern_list(&meta).await),
        ["call_tool", "describe_tool", "search_tools"]
    );
    let found = modern_call(
        &meta,
        "search_tools",
        json!({"query": "create update delete complete a task or user", "limit": 50}),
    )
    .await;
    let hits: Vec<&str> = found["result"]["structuredContent"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{found}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(!hits.is_empty(), "{found}");
    assert!(
        hits.iter().all(|h| READ_ONLY.contains(h)),
        "search_tools found a tool outside the view: {hits:?}"
    );
    let described_unknown =
        modern_call(&meta, "describe_tool", json!({"names": ["no_such_tool"]})).await;
    let via_call_unknown = modern_call(
        &meta,
        "call_tool",
        json!({"name": "no_such_tool", "arguments": {}}),
    )
    .await;
    for tool in WRITE {
        let described = modern_call(&meta, "describe_tool", json!({"names": [tool]})).await;
        assert_eq!(
            renamed(&described, tool),
            renamed(&described_unknown, "no_such_tool"),
            "describe_tool {tool}"
        );
        let via_call = modern_call(
            &meta,
            "call_tool",
            json!({"name": tool, "arguments": {"name": "Eve", "email": "e@x.org"}}),
        )
        .await;
        assert_eq!(
            renamed(&via_call, tool),
            renamed(&via_call_unknown, "no_such_tool"),
            "call_tool {tool}"
        );
    }
    let ok = modern_call(
        &meta,
        "call_tool",
        json!({"name": "list_users", "arguments": {}}),
    )
    .await;
    assert_eq!(ok["result"]["isError"], json!(false), "{ok}");

    // stdio: `serve --stdio --endpoint readonly`.
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--stdio",
            "--no-watch",
            "--endpoint",
            "readonly",
            "--config",
        ])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ask = |line: String, id: Option<u64>| -> Value {
        writeln!(stdin, "{line}").unwrap();
        let Some(id) = id else {
            return Value::Null;
        };
        loop {
            let mut text = String::new();
            assert!(stdout.read_line(&mut text).unwrap() > 0, "stdio closed");
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["id"] == json!(id) {
                return v;
            }
        }
    };
    let init = ask(
        r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#.to_owned(),
        Some(0),
    );
    assert_eq!(
        init["result"]["serverInfo"]["name"],
        json!("toolgate-readonly")
    );
    ask(
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned(),
        None,
    );
    let listed = ask(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#.to_owned(),
        Some(1),
    );
    assert_eq!(names(&listed), READ_ONLY, "stdio");
    let unknown = ask(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"no_such_tool","arguments":{}}}"#.to_owned(),
        Some(2),
    );
    let write = ask(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"create_user","arguments":{"name":"E","email":"e@x.org"}}}"#.to_owned(),
        Some(2),
    );
    assert_eq!(
        renamed(&write, "create_user"),
        renamed(&unknown, "no_such_tool"),
        "stdio"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn inspect_access_and_unknown_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let api = common::todo_api_thread();
    let config = write_config(dir.path(), api, json!({}));
    let run = |args: &[&str]| {
        let out = Command::new(BIN).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let c = config.to_str().unwrap();
    let (code, out, err) = run(&["inspect", "--config", c, "--endpoint", "readonly", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let mut tools: Vec<&str> = doc["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    tools.sort();
    assert_eq!(tools, READ_ONLY);
    assert_eq!(doc["path"], json!("/mcp/readonly"));
    let (code, out, err) = run(&["inspect", "--config", c, "--endpoint", "ro-meta"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("via meta-tools"), "{out}");
    assert!(!out.contains("create_user"), "{out}");

    let (code, out, err) = run(&[
        "access",
        "--config",
        c,
        "--endpoint",
        "readonly",
        "--anonymous",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("endpoint: `readonly` at /mcp/readonly"),
        "{out}"
    );
    assert!(
        out.contains("list_users") && !out.contains("create_user"),
        "{out}"
    );

    let (code, _, err) = run(&["inspect", "--config", c, "--endpoint", "nope"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("unknown endpoint `nope`; configured endpoints: `readonly`, `ro-meta`"),
        "{err}"
    );
    let (code, _, err) = run(&["serve", "--stdio", "--config", c, "--endpoint", "nope"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("unknown endpoint `nope`"), "{err}");

    let clash = write_config(
        dir.path(),
        api,
        json!({"endpoints": [{"name": "a", "path": "/mcp"}, {"name": "b", "path": "/healthz"}]}),
    );
    let (code, _, err) = run(&["check-config", clash.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("endpoints[0].path"), "{err}");
    assert!(err.contains("endpoints[1].path"), "{err}");
}

/// SHA-256 of `key`, hex.
fn sha256(key: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_access_rules_apply_before_the_pipeline_and_authorization_on_top() {
    let dir = tempfile::tempdir().unwrap();
    let api = common::todo_api_thread();
    let config = write_config(
        dir.path(),
        api,
        json!({
            "auth": {"api_keys": [
                {"id": "admin", "sha256": sha256("admin-key"), "roles": ["admin"]},
                {"id": "reader", "sha256": sha256("reader-key"), "roles": ["reader"]},
            ]},
            "authorization": {"rules": [
                {"name": "public-reads", "principals": {"any": true}, "tools": {"names": ["list_*"]}},
                {"name": "admins", "principals": {"roles": ["admin"]}, "tools": {}},
            ]},
            "endpoints": [
                {"name": "admin", "auth": {"roles": ["admin"]}},
                {"name": "public", "auth": {"anonymous": true}, "select": {"tools": {"read_only": true}}},
            ],
        }),
    );
    let (_gw, base) = serve(&config);
    let post = |url: String, key: Option<&'static str>| async move {
        let mut req = reqwest::Client::new()
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/list");
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let resp = req
            .body(format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{{{MODERN_META}}}}}"#
            ))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, challenge, message_of(&resp.text().await.unwrap()))
    };
    let admin = format!("{base}/mcp/admin");
    let public = format!("{base}/mcp/public");
    let (status, _, _) = post(admin.clone(), None).await;
    assert_eq!(status, 401, "no credential");
    let (status, challenge, body) = post(admin.clone(), Some("reader-key")).await;
    assert_eq!(status, 403, "{body}");
    let challenge = challenge.unwrap();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert!(body.to_string().contains("roles admin"), "{body}");
    let (status, _, body) = post(admin.clone(), Some("admin-key")).await;
    assert_eq!(status, 200);
    assert_eq!(names(&body).len(), READ_ONLY.len() + WRITE.len());
    // Anonymous callers get in at the public endpoint; authorization still applies (public
    // rule: `list_*` only), and the endpoint's selection on top of that.
    let (status, _, body) = post(public.clone(), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body), ["list_tasks", "list_users"]);
    let (status, _, body) = post(public.clone(), Some("admin-key")).await;
    assert_eq!(status, 200);
    assert_eq!(
        names(&body),
        READ_ONLY,
        "admins see the endpoint's whole selection"
    );
    let (status, _, _) = post(public, Some("wrong-key")).await;
    assert_eq!(
        status, 401,
        "a presented credential is verified, even where anonymous is allowed"
    );
    let (status, _, _) = post(format!("{base}/mcp"), None).await;
    assert_eq!(status, 401, "the main endpoint is unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_and_prompts_outside_the_endpoint_are_unknown_there() {
    let Some(node) = dependency("TOOLGATE_TEST_NODE22") else {
        return;
    };
    let Some(modules) = dependency("TOOLGATE_TEST_NODE_MODULES") else {
        return;
    };
    let server = modules.join("@modelcontextprotocol/server-everything/dist/index.js");
    assert!(server.exists(), "{} is missing", server.display());
    let dir = tempfile::tempdir().unwrap();
    let api = common::todo_api_thread();
    let config = write_config(
        dir.path(),
        api,
        json!({"sources": [{
            "name": "ev",
            "kind": "mcp",
            "transport": {"type": "stdio", "command": node, "args": [server, "stdio"]},
        }]}),
    );
    let (_gw, base) = serve(&config);
    let main = LegacyClient::connect(&format!("{base}/mcp")).await;
    let ro = LegacyClient::connect(&format!("{base}/mcp/readonly")).await;
    let (_, resources) = main
        .post(r#"{"jsonrpc":"2.0","id":1,"method":"resources/list","params":{}}"#)
        .await;
    let uri = resources["result"]["resources"][0]["uri"]
        .as_str()
        .unwrap_or_else(|| panic!("{resources}"))
        .to_owned();
    let (_, prompts) = main
        .post(r#"{"jsonrpc":"2.0","id":1,"method":"prompts/list","params":{}}"#)
        .await;
    let prompt = prompts["result"]["prompts"][0]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("{prompts}"))
        .to_owned();
    let read = |uri: String| {
        json!({"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": uri}})
            .to_string()
    };
    let get = |name: String| {
        json!({"jsonrpc": "2.0", "id": 4, "method": "prompts/get", "params": {"name": name}})
            .to_string()
    };
    let (_, at_main) = main.post(&read(uri.clone())).await;
    assert!(at_main.get("result").is_some(), "{at_main}");
    let (_, outside) = ro.post(&read(uri.clone())).await;
    let (_, unknown) = ro
        .post(&read("ev+test://no/such/resource".to_owned()))
        .await;
    assert!(outside.get("error").is_some(), "{outside}");
    assert_eq!(
        outside["error"]["code"], unknown["error"]["code"],
        "{outside} vs {unknown}"
    );
    let (_, at_main) = main.post(&get(prompt.clone())).await;
    assert!(at_main.get("result").is_some(), "{at_main}");
    let (_, outside) = ro.post(&get(prompt.clone())).await;
    let (_, unknown) = ro.post(&get("no_such_prompt".to_owned())).await;
    assert_eq!(
        renamed(&outside, &prompt),
        renamed(&unknown, "no_such_prompt"),
        "prompts/get"
    );
    let (_, listed) = ro
        .post(r#"{"jsonrpc":"2.0","id":1,"method":"resources/list","params":{}}"#)
        .await;
    assert_eq!(listed["result"]["resources"], json!([]), "{listed}");
    let (_, tools) = ro
        .post(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#)
        .await;
    assert_eq!(
        names(&tools),
        READ_ONLY,
        "the upstream's tools are outside too"
    );
}

#[test]
fn python_sdk_client_against_the_demos_endpoints() {
    let Some(python) = dependency("TOOLGATE_TEST_PYTHON") else {
        return;
    };
    let (_demo, url) = spawn_and_read(&["demo", "--http", "127.0.0.1:0"], "MCP endpoint:");
    let base = url.trim_end_matches("/mcp");
    let script = common::repo_root().join("tests/e2e/mcp_endpoints_check.py");
    for mode in ["2026-07-28", "legacy"] {
        let out = Command::new(&python)
            .arg(&script)
            .args(["--base", base, "--mode", mode])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "python client failed ({mode}):\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("\"create_user\""), "{stdout}");
    }
}
