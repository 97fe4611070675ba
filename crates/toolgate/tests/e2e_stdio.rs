//! The stdio transport with and without its fast path: the same requests get the same
//! answers (compared per id), qualifying ones really take the fast path, many calls in
//! flight on one connection all get their answers, cancellation drops a call's answer, and
//! the binary wires `http.fast_path` to stdio.

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, DuplexStream};
use toolgate::config::SessionModeConfig;

const BIN: &str = env!("CARGO_BIN_EXE_toolgate");
const LIMIT: Duration = Duration::from_secs(20);

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"diff","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"diff","version":"1"}}"#;

/// One stdio connection to `serve_stdio_streams` over in-memory pipes.
struct Conn {
    to_server: Option<DuplexStream>,
    from_server: BufReader<DuplexStream>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Conn {
    fn start(gateway: toolgate_server::Gateway, fast_path: bool) -> Conn {
        let (client_write, server_read) = tokio::io::duplex(1 << 20);
        let (server_write, client_read) = tokio::io::duplex(1 << 20);
        let server = tokio::spawn(toolgate_server::serve_stdio_streams(
            gateway,
            server_read,
            server_write,
            fast_path,
        ));
        Conn {
            to_server: Some(client_write),
            from_server: BufReader::new(client_read),
            server,
        }
    }

    async fn send(&mut self, line: &str) {
        let to = self.to_server.as_mut().expect("stdin open");
        to.write_all(line.as_bytes()).await.unwrap();
        to.write_all(b"\n").await.unwrap();
    }

    /// The next message the server writes (`None` at end of output).
    async fn next(&mut self) -> Option<Value> {
        let mut line = String::new();
        let n = tokio::time::timeout(LIMIT, self.from_server.read_line(&mut line))
            .await
            .expect("an answer in time")
            .unwrap();
        if n == 0 {
            return None;
        }
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
    }

    /// Closes stdin, reads every remaining message and waits for the server to end.
    async fn finish(mut self) -> Vec<Value> {
        self.to_server = None;
        let mut rest = Vec::new();
        while let Some(m) = self.next().await {
            rest.push(m);
        }
        tokio::time::timeout(LIMIT, self.server)
            .await
            .expect("the server ends when stdin closes")
            .unwrap()
            .expect("the server ends cleanly");
        rest
    }
}

/// Answers by id (as JSON text), each id answered once; answers without an id (errors for
/// unreadable requests) are gathered, sorted, under `null`.
fn by_id(messages: Vec<Value>) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    let mut without_id = Vec::new();
    for m in messages {
        if m["id"].is_null() {
            without_id.push(m);
            continue;
        }
        let id = m["id"].to_string();
        assert!(
            map.insert(id.clone(), m).is_none(),
            "two answers for id {id}"
        );
    }
    if !without_id.is_empty() {
        without_id.sort_by_key(Value::to_string);
        map.insert("null".to_owned(), Value::Array(without_id));
    }
    map
}

/// A gateway over a fresh Todo API.
async fn todo_gateway() -> common::Watched {
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    tokio::spawn(todo_api::serve(api));
    let mut config = common::todo_config(api_addr, SessionModeConfig::Stateful);
    // Room for every call of the concurrency test at once.
    common::openapi(&mut config.sources[0]).backend =
        serde_json::from_value(json!({"max_concurrent_requests": 1024})).unwrap();
    let assembled = toolgate::run::assemble(&config, std::path::Path::new("."))
        .await
        .unwrap();
    common::Watched::of(&assembled)
}

/// After a legacy handshake: the requests sent, whether each should take the fast path.
fn session_requests() -> Vec<(String, bool)> {
    let m = META;
    vec![
        (r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_owned(), true),
        (r#"{"jsonrpc":"2.0","id":"l-2","method":"tools/list","params":{}}"#.to_owned(), true),
        (
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_users","arguments":{}}}"#.to_owned(),
            true,
        ),
        (
            r#"{"jsonrpc":"2.0","id":"s-4","method":"tools/call","params":{"name":"list_users"}}"#.to_owned(),
            true,
        ),
        // Unknown tool, invalid arguments, backend 404, bad cursor.
        (
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"nope","arguments":{}}}"#.to_owned(),
            true,
        ),
        (
            r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"create_user","arguments":{"name":5}}}"#.to_owned(),
            true,
        ),
        (
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_task","arguments":{"task_id":"00000000-0000-4000-8000-000000000000"}}}"#.to_owned(),
            true,
        ),
        (
            r#"{"jsonrpc":"2.0","id":8,"method":"tools/list","params":{"cursor":"bogus"}}"#.to_owned(),
            true,
        ),
        // Stateless 2026-07-28 requests on the same connection.
        (
            format!(r#"{{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{{"name":"list_users","arguments":{{}},{m}}}}}"#),
            true,
        ),
        (
            format!(r#"{{"jsonrpc":"2.0","id":10,"method":"tools/list","params":{{{m}}}}}"#),
            true,
        ),
        (
            format!(r#"{{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{{"name":"nope",{m}}}}}"#),
            true,
        ),
        // Left to rmcp: ping, a progress token, other methods, malformed calls, incomplete
        // or foreign `_meta`, a notification for an unknown request.
        (r#"{"jsonrpc":"2.0","id":20,"method":"ping"}"#.to_owned(), false),
        (
            r#"{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"list_users","arguments":{},"_meta":{"progressToken":"p1"}}}"#.to_owned(),
            false,
        ),
        (r#"{"jsonrpc":"2.0","id":22,"method":"resources/list"}"#.to_owned(), false),
        (
            r#"{"jsonrpc":"2.0","id":23,"method":"tools/call","params":{"name":"list_users","arguments":[1]}}"#.to_owned(),
            false,
        ),
        (r#"{"jsonrpc":"2.0","id":24,"method":"tools/call","params":{}}"#.to_owned(), false),
        (
            r#"{"jsonrpc":"2.0","id":25,"method":"tools/call","params":{"name":"list_users","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#.to_owned(),
            false,
        ),
        (
            r#"{"jsonrpc":"2.0","id":26,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2025-11-25","io.modelcontextprotocol/clientCapabilities":{}}}}"#.to_owned(),
            false,
        ),
        (r#"{"jsonrpc":"1.0","id":27,"method":"tools/list"}"#.to_owned(), false),
        (r#"{"jsonrpc":"2.0","id":28.5,"method":"tools/list"}"#.to_owned(), false),
        (r#"{"jsonrpc":"2.0","id":29,"method":"nope/nope"}"#.to_owned(), false),
        (
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":999}}"#.to_owned(),
            false,
        ),
        ("this is not JSON".to_owned(), false),
        (r#"{"jsonrpc":"2.0","id":30,"method":"tools/list","params":[]}"#.to_owned(), false),
        (r#"["2.0",31,"tools/list"]"#.to_owned(), false),
        (r#"{"jsonrpc":"2.0","id":32,"method":"tools/list","params":null}"#.to_owned(), false),
    ]
}

/// Runs the handshake and `session_requests` on one connection: (answer to initialize,
/// answers by id, fast-path calls).
async fn run_session(fast_path: bool) -> (Value, BTreeMap<String, Value>, usize) {
    let gateway = todo_gateway().await;
    let mut conn = Conn::start(gateway.gateway.clone(), fast_path);
    conn.send(INITIALIZE).await;
    let init = conn.next().await.expect("initialize answered");
    conn.send(INITIALIZED).await;
    for (line, _) in session_requests() {
        conn.send(&line).await;
    }
    (init, by_id(conn.finish().await), gateway.fast_path_calls())
}

#[tokio::test]
async fn stdio_fast_path_answers_exactly_like_rmcp_in_a_session() {
    let (fast_init, fast, fast_calls) = run_session(true).await;
    let (slow_init, slow, slow_calls) = run_session(false).await;
    assert_eq!(fast_init, slow_init);
    assert_eq!(fast_init["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(
        fast.keys().collect::<Vec<_>>(),
        slow.keys().collect::<Vec<_>>()
    );
    for (id, answer) in &slow {
        assert_eq!(&fast[id], answer, "fast path and rmcp disagree on id {id}");
    }
    // Spot checks that the cases are what they claim to be.
    assert!(slow["1"]["result"]["tools"].as_array().unwrap().len() > 3);
    assert!(
        slow["1"]["result"].get("resultType").is_none(),
        "{}",
        slow["1"]
    );
    assert_eq!(slow["5"]["error"]["code"], -32602, "{}", slow["5"]);
    assert_eq!(slow["6"]["result"]["isError"], true);
    assert_eq!(slow["7"]["result"]["isError"], true);
    assert_eq!(
        slow["9"]["result"]["resultType"], "complete",
        "{}",
        slow["9"]
    );
    assert_eq!(
        slow["10"]["result"]["cacheScope"], "private",
        "{}",
        slow["10"]
    );
    assert!(slow["25"].get("error").is_some(), "{}", slow["25"]);
    assert_eq!(slow["20"]["result"], json!({}));
    let qualifying = session_requests().iter().filter(|(_, q)| *q).count();
    assert_eq!(fast_calls, qualifying, "fast-path calls");
    assert_eq!(slow_calls, 0);
}

/// Without `initialize`: 2026-07-28 requests carrying their own `_meta` (rmcp's stateless
/// stdio lifecycle), mixed with requests rmcp refuses before and after it picked it.
fn stateless_requests() -> Vec<(String, bool)> {
    let m = META;
    vec![
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.to_owned(),
            false,
        ),
        // Incomplete `_meta` before any lifecycle: refused, rmcp stays open to both.
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#.to_owned(),
            false,
        ),
        // Picks the stateless lifecycle: must reach rmcp.
        (
            format!(r#"{{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{{{m}}}}}"#),
            false,
        ),
        (
            format!(
                r#"{{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{{"name":"list_users",{m}}}}}"#
            ),
            true,
        ),
        (
            format!(
                r#"{{"jsonrpc":"2.0","id":"five","method":"tools/call","params":{{"name":"get_task","arguments":{{"task_id":"00000000-0000-4000-8000-000000000000"}},{m}}}}}"#
            ),
            true,
        ),
        // No `_meta` in the stateless lifecycle: rmcp's error.
        (
            r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"list_users"}}"#
                .to_owned(),
            false,
        ),
        (
            r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#.to_owned(),
            false,
        ),
        (
            format!(
                r#"{{"jsonrpc":"2.0","id":8,"method":"tools/list","params":{{"cursor":"bogus",{m}}}}}"#
            ),
            true,
        ),
    ]
}

#[tokio::test]
async fn stdio_fast_path_answers_exactly_like_rmcp_without_initialize() {
    let mut results = Vec::new();
    for fast_path in [true, false] {
        let gateway = todo_gateway().await;
        let mut conn = Conn::start(gateway.gateway.clone(), fast_path);
        for (line, _) in stateless_requests() {
            conn.send(&line).await;
        }
        results.push((by_id(conn.finish().await), gateway.fast_path_calls()));
    }
    let (fast, fast_calls) = &results[0];
    let (slow, slow_calls) = &results[1];
    assert_eq!(fast, slow);
    assert_eq!(fast.len(), stateless_requests().len());
    assert!(slow["2"].get("error").is_some(), "{}", slow["2"]);
    assert_eq!(
        slow["3"]["result"]["resultType"], "complete",
        "{}",
        slow["3"]
    );
    assert!(slow["6"].get("error").is_some(), "{}", slow["6"]);
    let qualifying = stateless_requests().iter().filter(|(_, q)| *q).count();
    assert_eq!(*fast_calls, qualifying);
    assert_eq!(*slow_calls, 0);
}

#[tokio::test]
async fn many_calls_in_flight_on_one_stdio_connection_all_get_their_answers() {
    let gateway = todo_gateway().await;
    let mut conn = Conn::start(gateway.gateway.clone(), true);
    conn.send(INITIALIZE).await;
    conn.next().await.expect("initialize answered");
    conn.send(INITIALIZED).await;
    const N: usize = 500;
    for i in 0..N {
        let line = if i % 10 == 0 {
            format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/list"}}"#)
        } else {
            format!(
                r#"{{"jsonrpc":"2.0","id":"c{i}","method":"tools/call","params":{{"name":"list_users","arguments":{{}}}}}}"#
            )
        };
        conn.send(&line).await;
    }
    let answers = by_id(conn.finish().await);
    assert_eq!(answers.len(), N);
    for i in 0..N {
        if i % 10 == 0 {
            let a = &answers[&i.to_string()];
            assert!(a["result"]["tools"].is_array(), "{a}");
        } else {
            let a = &answers[&format!("\"c{i}\"")];
            assert_eq!(a["result"]["isError"], false, "{a}");
        }
    }
    assert_eq!(gateway.fast_path_calls(), N);
}

#[tokio::test]
async fn a_cancelled_stdio_call_gets_no_answer_on_either_path() {
    let (backend_url, spec) = common::slow_backend(Duration::from_secs(3)).await;
    for fast_path in [true, false] {
        let assembled = toolgate::embed::openapi_gateway("slow", spec.clone(), &backend_url)
            .await
            .unwrap();
        let gateway = common::Watched::of(&assembled);
        let mut conn = Conn::start(gateway.gateway.clone(), fast_path);
        conn.send(INITIALIZE).await;
        conn.next().await.expect("initialize answered");
        conn.send(INITIALIZED).await;
        conn.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow"}}"#)
            .await;
        for _ in 0..500 {
            if gateway.gateway.in_flight().current() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(gateway.gateway.in_flight().current(), 1, "the call started");
        conn.send(
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"user"}}"#,
        )
        .await;
        conn.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
            .await;
        let answer = conn.next().await.expect("tools/list answered");
        assert_eq!(answer["id"], 2, "{answer}");
        // The backend request was aborted, not waited for.
        tokio::time::timeout(
            Duration::from_secs(2),
            gateway.gateway.in_flight().wait_idle(),
        )
        .await
        .expect("the cancelled call stopped");
        let started = std::time::Instant::now();
        let rest = conn.finish().await;
        assert!(rest.is_empty(), "no answer to a cancelled call: {rest:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(gateway.fast_path_calls(), usize::from(fast_path) * 2);
    }
}

#[tokio::test]
async fn stdin_closed_before_initialize_ends_cleanly_with_nothing_written() {
    for fast_path in [true, false] {
        let conn = Conn::start(todo_gateway().await.gateway, fast_path);
        assert!(conn.finish().await.is_empty());
    }
}

/// What a run of the binary gave: the answers by id, the exit status, and the paths its call
/// log says the calls took (`fast` or `rmcp`, one per call).
struct BinaryRun {
    answers: BTreeMap<String, Value>,
    status: std::process::ExitStatus,
    paths: Vec<String>,
}

/// Runs `toolgate serve --stdio` over the Todo API with `env`, sends `lines` (waiting for
/// the answer to `initialize` first), closes stdin.
async fn run_binary(
    spec: &std::path::Path,
    api: &str,
    env: &[(&str, &str)],
    lines: &[String],
) -> BinaryRun {
    let mut child = tokio::process::Command::new(BIN)
        .args(["serve", "--openapi"])
        .arg(spec)
        .args(["--base-url", api, "--stdio"])
        .envs(env.iter().copied())
        .env("TOOLGATE_LOGGING__FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = child.stderr.take().unwrap();
    let logs = tokio::spawn(async move {
        let mut text = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text).await;
        text
    });
    let mut messages = Vec::new();
    stdin
        .write_all(format!("{INITIALIZE}\n").as_bytes())
        .await
        .unwrap();
    let mut first = String::new();
    tokio::time::timeout(LIMIT, stdout.read_line(&mut first))
        .await
        .expect("initialize answered in time")
        .unwrap();
    messages.push(serde_json::from_str(&first).unwrap());
    for line in lines {
        stdin.write_all(line.as_bytes()).await.unwrap();
        stdin.write_all(b"\n").await.unwrap();
    }
    drop(stdin);
    let mut line = String::new();
    while tokio::time::timeout(LIMIT, stdout.read_line(&mut line))
        .await
        .expect("output in time")
        .unwrap()
        > 0
    {
        messages
            .push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")));
        line.clear();
    }
    let status = tokio::time::timeout(LIMIT, child.wait())
        .await
        .expect("exits when stdin closes")
        .unwrap();
    let paths = logs
        .await
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "toolgate::call")
        .map(|l| l["path"].as_str().unwrap_or("?").to_owned())
        .collect();
    BinaryRun {
        answers: by_id(messages),
        status,
        paths,
    }
}

#[tokio::test]
async fn the_binary_serves_stdio_alike_with_the_fast_path_on_and_off() {
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}", api.local_addr().unwrap());
    tokio::spawn(todo_api::serve(api));
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("todo.json");
    std::fs::write(&spec, todo_api::openapi().to_string()).unwrap();
    let mut lines = vec![INITIALIZED.to_owned()];
    lines.extend(session_requests().into_iter().map(|(l, _)| l));
    let fast = run_binary(&spec, &api_url, &[], &lines).await;
    let slow = run_binary(
        &spec,
        &api_url,
        &[("TOOLGATE_HTTP__FAST_PATH", "false")],
        &lines,
    )
    .await;
    assert!(fast.status.success() && slow.status.success());
    assert_eq!(fast.answers, slow.answers);
    assert!(fast.answers.len() > 20);
    // The switch is observed, not assumed: the call log says which path served each call.
    let qualifying = session_requests().iter().filter(|(_, q)| *q).count();
    let count = |run: &BinaryRun, path: &str| run.paths.iter().filter(|p| *p == path).count();
    assert_eq!(count(&fast, "fast"), qualifying, "{:?}", fast.paths);
    assert_eq!(count(&slow, "fast"), 0, "{:?}", slow.paths);
    assert!(count(&slow, "rmcp") >= qualifying, "{:?}", slow.paths);
}
