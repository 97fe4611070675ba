//! Tools of upstream MCP servers on the fast path, compared with rmcp's path: the same
//! 2026-07-28 requests (calls, tool errors, unknown names, a progress token or a log level
//! that keep a call on rmcp's path, an MRTR retry with a state the gateway refuses) sent to a
//! gateway with the fast path on and one with it off, over streamable HTTP (status,
//! `Content-Type` and body compared byte for byte) and over stdio (each answer's line
//! compared byte for byte). The upstreams are `bench-servers`' echo MCP server (rmcp, stateless
//! streamable HTTP), one answering JSON and one answering SSE, which the gateway calls on the
//! lean path (`toolgate-upstream`'s `upstream/lean/`); a third gateway reaches the same
//! servers as 2025-11-25 sessions (`protocol: legacy`, rmcp's client all the way) and must
//! answer alike too, and so must a fast-path gateway with busy polling on
//! (`http.busy_poll_us`). And a 2026-07-28 upstream's own `input_required` round (the Python SDK's
//! server, from the registry) answered alike on both paths, but for the sealed state; and a
//! lean call carrying the same headers as rmcp's client (bearer token, static headers,
//! version, `Mcp-Method`, `Mcp-Name`); and on both paths, a call declaring to the upstream
//! the capabilities its caller declared, within what the gateway may declare.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio_util::sync::CancellationToken;

const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"diff","version":"1"}}"#;
const LIMIT: Duration = Duration::from_secs(20);

/// `tools/call`s an upstream received, by whether `_meta` had a progress token: rmcp's
/// client puts one on every request, the lean path none.
#[derive(Default)]
struct Seen {
    lean: AtomicUsize,
    rmcp: AtomicUsize,
}

/// The echo MCP server over streamable HTTP (stateless), answering JSON or SSE, showing
/// `observe` the head and the JSON of every message it gets: its URL.
async fn observed_echo(
    json_response: bool,
    shutdown: &CancellationToken,
    observe: impl Fn(&axum::http::request::Parts, &Value) + Clone + Send + Sync + 'static,
) -> String {
    let app = toolgate_bench::echo::http_router(false, json_response, shutdown).layer(
        axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let observe = observe.clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                    if let Ok(message) = serde_json::from_slice::<Value>(&bytes) {
                        observe(&parts, &message);
                    }
                    let request =
                        axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
                    next.run(request).await
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/mcp")
}

/// The echo MCP server answering JSON or SSE, counting the calls it gets in `seen`: its URL.
async fn echo_upstream(
    json_response: bool,
    shutdown: &CancellationToken,
    seen: Arc<Seen>,
) -> String {
    observed_echo(json_response, shutdown, move |_, message| {
        if message["method"] == "tools/call" {
            let counter = match message["params"]["_meta"].get("progressToken") {
                Some(_) => &seen.rmcp,
                None => &seen.lean,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    })
    .await
}

/// A stateless gateway with the JSON upstream as source `j` and the SSE one as `s`.
fn config(
    json_url: &str,
    sse_url: &str,
    fast_path: bool,
    legacy: bool,
) -> toolgate::config::Config {
    busy_config(json_url, sse_url, fast_path, legacy, 0)
}

/// [`config`] with `http.busy_poll_us`.
fn busy_config(
    json_url: &str,
    sse_url: &str,
    fast_path: bool,
    legacy: bool,
    busy_poll_us: u64,
) -> toolgate::config::Config {
    let protocol = if legacy { "legacy" } else { "auto" };
    let source = |name: &str, url: &str| {
        json!({
            "name": name,
            "kind": "mcp",
            "transport": {"type": "http", "url": url, "protocol": protocol},
        })
    };
    let text = serde_json::to_string(&json!({
        "http": {"session_mode": "stateless", "fast_path": fast_path, "busy_poll_us": busy_poll_us},
        "sources": [source("j", json_url), source("s", sse_url)],
    }))
    .unwrap();
    toolgate::config::load(&text, "<test>", &Default::default()).unwrap()
}

/// The requests: (tool, body, whether the fast path serves it).
fn requests() -> Vec<(&'static str, String, bool)> {
    let m = META;
    let call = |id: &str, tool: &str, extra: &str, meta: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"a":[1,"two"]}}{extra},{meta}}}}}"#
        )
    };
    let with = |key_value: &str| m.replacen("{", &format!("{{{key_value},"), 1);
    vec![
        ("j_echo", call("1", "j_echo", "", m), true),
        ("j_fail", call(r#""two""#, "j_fail", "", m), true),
        ("s_echo", call("3", "s_echo", "", m), true),
        ("s_fail", call("4", "s_fail", "", m), true),
        ("nope", call("5", "nope", "", m), true),
        // Owed more than the answer: rmcp's path on both gateways.
        (
            "j_echo",
            call("6", "j_echo", "", &with(r#""progressToken":"p6""#)),
            false,
        ),
        (
            "j_echo",
            call(
                "7",
                "j_echo",
                "",
                &with(r#""io.modelcontextprotocol/logLevel":"debug""#),
            ),
            false,
        ),
        // An MRTR retry whose state the gateway did not issue: refused alike.
        (
            "j_echo",
            call(
                "8",
                "j_echo",
                r#","inputResponses":{"x":{}},"requestState":"tg1.forged""#,
                m,
            ),
            true,
        ),
    ]
}

/// POSTs `body` as a 2026-07-28 `tools/call` of `tool`: status, `Content-Type`, body text.
async fn post(url: &str, tool: &str, body: &str) -> (u16, String, String) {
    let resp = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_tools_on_the_http_fast_path_answer_exactly_like_rmcp() {
    let shutdown = CancellationToken::new();
    let seen = Arc::new(Seen::default());
    let json_url = echo_upstream(true, &shutdown, seen.clone()).await;
    let sse_url = echo_upstream(false, &shutdown, seen.clone()).await;
    let (fast_url, fast) =
        common::serve_config_with_gateway(config(&json_url, &sse_url, true, false)).await;
    let (slow_url, slow) =
        common::serve_config_with_gateway(config(&json_url, &sse_url, false, false)).await;
    let (legacy_url, _) =
        common::serve_config_with_gateway(config(&json_url, &sse_url, false, true)).await;
    // Busy polling changes when the gateway sleeps, not what it answers.
    let (busy_url, busy) =
        common::serve_config_on_thread(busy_config(&json_url, &sse_url, true, false, 2000));
    let mut expected_fast = 0;
    for (tool, body, qualifies) in requests() {
        let a = post(&fast_url, tool, &body).await;
        let b = post(&slow_url, tool, &body).await;
        let c = post(&legacy_url, tool, &body).await;
        let d = post(&busy_url, tool, &body).await;
        assert_eq!(a, b, "fast path and rmcp disagree on {body}");
        assert_eq!(a, d, "busy polling changed the answer to {body}");
        assert_eq!(
            b, c,
            "the lean client and rmcp's session disagree on {body}"
        );
        expected_fast += usize::from(qualifies);
        assert_eq!(fast.fast_path_calls(), expected_fast, "after {body}");
        assert_eq!(busy.fast_path_calls(), expected_fast, "after {body}");
    }
    assert_eq!(slow.fast_path_calls(), 0);
    // The calls owed nothing but their answer (4 sent of the 6 that qualify: an unknown name
    // and a forged state never reach the upstream) took the lean path on both gateways whose
    // upstreams speak 2026-07-28, whichever path served them; the progress token and the log
    // level kept theirs on rmcp's client, as did every call of the legacy gateway.
    assert_eq!(seen.lean.load(Ordering::Relaxed), 3 * 4);
    assert_eq!(seen.rmcp.load(Ordering::Relaxed), 3 * 2 + 6);
    // What the answers say, beyond being alike.
    let (_, _, echoed) = post(&fast_url, "s_echo", &requests()[2].1).await;
    let echoed: Value = serde_json::from_str(&echoed).unwrap();
    assert_eq!(echoed["result"]["content"][0]["text"], r#"{"a":[1,"two"]}"#);
    assert_eq!(echoed["result"]["resultType"], "complete");
    let (_, _, failed) = post(&fast_url, "j_fail", &requests()[1].1).await;
    let failed: Value = serde_json::from_str(&failed).unwrap();
    assert_eq!(failed["result"]["isError"], true, "{failed}");
    let (_, _, forged) = post(&fast_url, "j_echo", &requests()[7].1).await;
    let forged: Value = serde_json::from_str(&forged).unwrap();
    assert_eq!(forged["error"]["code"], -32602, "{forged}");
    let text = fast.metrics.encode();
    assert!(
        text.contains(
            r#"toolgate_upstream_requests_total{upstream="s",method="tools/call",outcome="ok"}"#
        ),
        "{text}"
    );
    shutdown.cancel();
}

/// Every line the stdio server writes for `requests`, by id (as JSON text), as written.
async fn stdio_answers(
    gateway: toolgate_server::Gateway,
    fast_path: bool,
) -> BTreeMap<String, String> {
    let (mut to_server, server_read) = tokio::io::duplex(1 << 20);
    let (server_write, from_server) = tokio::io::duplex(1 << 20);
    let server = tokio::spawn(toolgate_server::serve_stdio_streams(
        gateway,
        server_read,
        server_write,
        fast_path,
    ));
    // The first message picks rmcp's lifecycle (stateless here) and always goes to rmcp.
    let first = format!(r#"{{"jsonrpc":"2.0","id":0,"method":"tools/list","params":{{{META}}}}}"#);
    let lines: Vec<String> = std::iter::once(first)
        .chain(requests().into_iter().map(|(_, line, _)| line))
        .collect();
    for line in &lines {
        to_server.write_all(line.as_bytes()).await.unwrap();
        to_server.write_all(b"\n").await.unwrap();
    }
    let mut out = BufReader::new(from_server).lines();
    let mut answers = BTreeMap::new();
    while answers.len() < lines.len() {
        let line = tokio::time::timeout(LIMIT, out.next_line())
            .await
            .expect("an answer in time")
            .unwrap()
            .expect("an answer for every request");
        let message: Value = serde_json::from_str(&line).unwrap();
        answers.insert(message["id"].to_string(), line);
    }
    drop(to_server);
    tokio::time::timeout(LIMIT, server)
        .await
        .expect("the server ends when stdin closes")
        .unwrap()
        .unwrap();
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_tools_on_the_stdio_fast_path_answer_exactly_like_rmcp() {
    let shutdown = CancellationToken::new();
    let seen = Arc::new(Seen::default());
    let json_url = echo_upstream(true, &shutdown, seen.clone()).await;
    let sse_url = echo_upstream(false, &shutdown, seen.clone()).await;
    let mut results = Vec::new();
    for (fast_path, legacy) in [(true, false), (false, false), (false, true)] {
        let config = config(&json_url, &sse_url, fast_path, legacy);
        let assembled = toolgate::run::assemble(&config, std::path::Path::new("."))
            .await
            .unwrap();
        let watched = common::Watched::of(&assembled);
        let answers = stdio_answers(watched.gateway.clone(), fast_path).await;
        results.push((answers, watched.fast_path_calls()));
    }
    let qualifying = requests().iter().filter(|(_, _, q)| *q).count();
    assert_eq!(results[0].0, results[1].0, "fast path and rmcp disagree");
    assert_eq!(
        results[1].0, results[2].0,
        "the lean client and rmcp's session disagree"
    );
    assert_eq!(results[0].1, qualifying);
    assert_eq!(results[1].1, 0);
    assert_eq!(seen.lean.load(Ordering::Relaxed), 2 * 4);
    assert!(
        results[0].0["1"].contains(r#""resultType":"complete""#),
        "{}",
        results[0].0["1"]
    );
    shutdown.cancel();
}

/// `text` with the value of its `requestState` replaced (sealed states differ by design:
/// their handle, expiry and MAC), and the state itself.
fn without_state(text: &str) -> (String, String) {
    const KEY: &str = r#""requestState":""#;
    let start = text.find(KEY).expect("a requestState") + KEY.len();
    let end = start + text[start..].find('"').expect("a closing quote");
    (
        format!("{}STATE{}", &text[..start], &text[end..]),
        text[start..end].to_owned(),
    )
}

/// A 2026-07-28 upstream's own `input_required` round (`upstream_fake_server.py mrtr`, the
/// Python SDK, streamable HTTP) through a gateway with the fast path and one without: the
/// round's answers are alike but for the sealed state, and the retries' answers alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_required_round_is_answered_alike_on_both_paths() {
    let Some(python) = common::dependency("TOOLGATE_TEST_PYTHON") else {
        return;
    };
    let (_guard, source) = common::fake_2026_upstream(&python);
    let gateway = |fast_path: bool| {
        let text = serde_json::to_string(&json!({
            "http": {"session_mode": "stateless", "fast_path": fast_path},
            "sources": [source],
        }))
        .unwrap();
        toolgate::config::load(&text, "<test>", &Default::default()).unwrap()
    };
    let (fast_url, fast) = common::serve_config_with_gateway(gateway(true)).await;
    let (slow_url, _) = common::serve_config_with_gateway(gateway(false)).await;
    let first = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"fake_ask_name","arguments":{{}},{META}}}}}"#
    );
    let (fast_status, fast_type, fast_round) = post(&fast_url, "fake_ask_name", &first).await;
    let (slow_status, slow_type, slow_round) = post(&slow_url, "fake_ask_name", &first).await;
    assert_eq!((fast_status, &fast_type), (slow_status, &slow_type));
    let (fast_masked, fast_state) = without_state(&fast_round);
    let (slow_masked, slow_state) = without_state(&slow_round);
    assert_eq!(fast_masked, slow_masked);
    assert!(
        fast_round.contains(r#""resultType":"input_required""#),
        "{fast_round}"
    );
    let retry = |state: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"fake_ask_name","arguments":{{}},"inputResponses":{{"name":{{"action":"accept","content":{{"name":"Ada"}}}}}},"requestState":"{state}",{META}}}}}"#
        )
    };
    let fast_done = post(&fast_url, "fake_ask_name", &retry(&fast_state)).await;
    let slow_done = post(&slow_url, "fake_ask_name", &retry(&slow_state)).await;
    assert_eq!(fast_done, slow_done);
    assert!(fast_done.2.contains("hello Ada"), "{}", fast_done.2);
    assert_eq!(fast.fast_path_calls(), 2);
}

/// The headers a lean `tools/call` carries are those rmcp's client sends for the same call
/// (the configured bearer token and static headers, the protocol version, `Mcp-Method`,
/// `Mcp-Name`): one call on each path to an upstream that records them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lean_call_carries_the_headers_rmcps_client_sends() {
    type Recorded = Arc<std::sync::Mutex<Vec<(bool, Vec<Option<String>>)>>>;
    let recorded: Recorded = Arc::default();
    let shutdown = CancellationToken::new();
    let keep = recorded.clone();
    let upstream = observed_echo(true, &shutdown, move |parts, message| {
        if message["method"] != "tools/call" {
            return;
        }
        let h = |n: &str| {
            parts
                .headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let rmcp = message["params"]["_meta"].get("progressToken").is_some();
        let names = [
            "authorization",
            "x-static",
            "mcp-protocol-version",
            "mcp-method",
            "mcp-name",
            "content-type",
        ];
        keep.lock()
            .unwrap()
            .push((rmcp, names.iter().map(|n| h(n)).collect()));
    })
    .await;
    let text = serde_json::to_string(&json!({
        "http": {"session_mode": "stateless"},
        "sources": [{
            "name": "h",
            "kind": "mcp",
            "transport": {
                "type": "http",
                "url": upstream,
                "bearer_token": "t0ken",
                "headers": {"x-static": "one"},
            },
        }],
    }))
    .unwrap();
    let config = toolgate::config::load(&text, "<test>", &Default::default()).unwrap();
    let (url, _) = common::serve_config_with_gateway(config).await;
    let lean = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"h_echo",{META}}}}}"#
    );
    let with_token = format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"h_echo",{}}}}}"#,
        META.replacen('{', r#"{"progressToken":"p","#, 1)
    );
    for body in [lean, with_token] {
        let (status, _, answer) = post(&url, "h_echo", &body).await;
        assert_eq!(status, 200, "{answer}");
    }
    let recorded = recorded.lock().unwrap().clone();
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    let (lean_path, lean_headers) = &recorded[0];
    let (rmcp_path, rmcp_headers) = &recorded[1];
    assert!(!lean_path && *rmcp_path, "{recorded:?}");
    assert_eq!(lean_headers, rmcp_headers);
    assert_eq!(lean_headers[0].as_deref(), Some("Bearer t0ken"));
    assert_eq!(lean_headers[1].as_deref(), Some("one"));
    assert_eq!(lean_headers[4].as_deref(), Some("echo"));
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_declares_its_callers_capabilities_to_a_2026_upstream_on_both_paths() {
    type Recorded = Arc<std::sync::Mutex<Vec<(String, bool, Value)>>>;
    let recorded: Recorded = Arc::default();
    let shutdown = CancellationToken::new();
    let keep = recorded.clone();
    let upstream = observed_echo(true, &shutdown, move |_, message| {
        let meta = &message["params"]["_meta"];
        keep.lock().unwrap().push((
            message["method"].as_str().unwrap_or_default().to_owned(),
            meta.get("progressToken").is_some(),
            meta["io.modelcontextprotocol/clientCapabilities"].clone(),
        ));
    })
    .await;
    // The gateway may declare elicitation and roots to this upstream, not sampling.
    let text = serde_json::to_string(&json!({
        "http": {"session_mode": "stateless"},
        "sources": [{
            "name": "h",
            "kind": "mcp",
            "transport": {"type": "http", "url": upstream},
            "client_capabilities": {"sampling": false},
        }],
    }))
    .unwrap();
    let config = toolgate::config::load(&text, "<test>", &Default::default()).unwrap();
    let (url, _) = common::serve_config_with_gateway(config).await;
    // Discovery has no caller: the gateway's own declaration.
    let discovery: Vec<Value> = recorded
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, caps)| caps.clone())
        .filter(|caps| !caps.is_null())
        .collect();
    assert!(!discovery.is_empty());
    for caps in &discovery {
        assert_eq!(
            *caps,
            json!({"roots": {}, "elicitation": {}}),
            "{discovery:?}"
        );
    }
    recorded.lock().unwrap().clear();

    let declared = json!({
        "sampling": {}, "elicitation": {"url": {}}, "experimental": {"x": {}}
    });
    let meta = |progress: bool| {
        let mut meta = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": declared,
        });
        if progress {
            meta["progressToken"] = json!("p");
        }
        meta
    };
    for (id, progress) in [(1, false), (2, true)] {
        let body = json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "h_echo", "arguments": {}, "_meta": meta(progress)},
        });
        let (status, _, answer) = post(&url, "h_echo", &body.to_string()).await;
        assert_eq!(status, 200, "{answer}");
    }
    let calls: Vec<(bool, Value)> = recorded
        .lock()
        .unwrap()
        .iter()
        .filter(|(method, _, _)| method == "tools/call")
        .map(|(_, rmcp, caps)| (*rmcp, caps.clone()))
        .collect();
    // The lean path (no progress token) and rmcp's path alike: what the caller declared,
    // with its own settings, of what the gateway may declare.
    let expected = json!({"elicitation": {"url": {}}});
    assert_eq!(
        calls,
        vec![(false, expected.clone()), (true, expected)],
        "{calls:?}"
    );
    shutdown.cancel();
}
