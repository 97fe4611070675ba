//! OpenTelemetry traces end to end: the real `toolgate` binary exports over OTLP/HTTP
//! (protobuf) to a receiver in this test that decodes the wire format with the
//! `opentelemetry-proto` generated types. Checked: span names, kinds and attributes, the
//! parent/child links (client `traceparent` → MCP request span → backend request span), the
//! `traceparent` the backend receives, `_meta.traceparent` over stdio, the export headers,
//! and that no credential appears in any attribute.

mod common;

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_toolgate");
const BACKEND_TOKEN: &str = "tok-canary-backend-5150";
const OTLP_KEY: &str = "otlp-canary-key-8086";
const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// One exported span, flattened.
#[derive(Debug, Clone)]
struct Got {
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    kind: i32,
    error: bool,
    attributes: HashMap<String, String>,
    service: String,
}

/// What the receiver saw: spans, and the headers of each export request.
#[derive(Default)]
struct Receiver {
    spans: Vec<Got>,
    headers: Vec<HeaderMap>,
}

fn text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

/// An OTLP/HTTP trace receiver on loopback: `POST /v1/traces` with a protobuf
/// `ExportTraceServiceRequest`, answered with an empty `ExportTraceServiceResponse`.
async fn receiver() -> (SocketAddr, Arc<Mutex<Receiver>>) {
    let seen = Arc::new(Mutex::new(Receiver::default()));
    let state = seen.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                assert_eq!(
                    headers.get("content-type").unwrap(),
                    "application/x-protobuf"
                );
                let request = ExportTraceServiceRequest::decode(body).expect("valid OTLP protobuf");
                let mut s = state.lock().unwrap();
                s.headers.push(headers);
                for rs in request.resource_spans {
                    let service = rs
                        .resource
                        .iter()
                        .flat_map(|r| &r.attributes)
                        .find(|a| a.key == "service.name")
                        .map(|a| text(&a.value))
                        .unwrap_or_default();
                    for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                        s.spans.push(Got {
                            trace_id: hex(&span.trace_id),
                            span_id: hex(&span.span_id),
                            parent: hex(&span.parent_span_id),
                            name: span.name,
                            kind: span.kind,
                            // STATUS_CODE_ERROR = 2
                            error: span.status.is_some_and(|st| st.code == 2),
                            attributes: span
                                .attributes
                                .iter()
                                .map(|a| (a.key.clone(), text(&a.value)))
                                .collect(),
                            service: service.clone(),
                        });
                    }
                }
                (
                    [("content-type", "application/x-protobuf")],
                    ExportTraceServiceResponse::default().encode_to_vec(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A backend with `GET /items/{id}` (500 for id `boom`), requiring the bearer token and
/// recording the `traceparent` of each request.
async fn backend() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let traceparents = Arc::new(Mutex::new(Vec::new()));
    let seen = traceparents.clone();
    let spec = json!({
        "openapi": "3.1.0",
        "info": {"title": "items", "version": "1"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": {"/items/{id}": {"get": {
            "operationId": "get_item",
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "ok"}}
        }}}
    });
    let app = axum::Router::new()
        .route(
            "/openapi.json",
            get(move || async move { axum::Json(spec) }),
        )
        .route(
            "/items/{id}",
            get(
                move |headers: HeaderMap, axum::extract::Path(id): axum::extract::Path<String>| {
                    let seen = seen.clone();
                    async move {
                        if let Some(tp) = headers.get("traceparent") {
                            seen.lock().unwrap().push(tp.to_str().unwrap().to_owned());
                        }
                        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                        if auth != Some(&format!("Bearer {BACKEND_TOKEN}")) {
                            return (
                                StatusCode::UNAUTHORIZED,
                                axum::Json(json!({"detail": "no"})),
                            );
                        }
                        if id == "boom" {
                            return (
                                StatusCode::INTERNAL_SERVER_ERROR,
                                axum::Json(json!({"detail": "exploded"})),
                            );
                        }
                        (StatusCode::OK, axum::Json(json!({"id": id})))
                    }
                },
            ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, traceparents)
}

/// A configuration serving the backend, with traces sent to the receiver.
fn write_config(
    dir: &std::path::Path,
    backend: SocketAddr,
    otlp: SocketAddr,
) -> std::path::PathBuf {
    let text = format!(
        "sources:\n  - name: api\n    spec: http://{backend}/openapi.json\n    base_url: http://{backend}\n    backend:\n      auth: {{type: bearer, token: '${{TG_TEST_BACKEND_TOKEN}}'}}\nhttp:\n  session_mode: stateless\ntelemetry:\n  traces:\n    endpoint: http://{otlp}\n    service_name: tg-test\n    timeout_ms: 3000\n    headers:\n      x-otlp-key: '${{TG_TEST_OTLP_KEY}}'\n"
    );
    let path = dir.join("toolgate.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn command(config: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("serve")
        .arg("--config")
        .arg(config)
        .arg("--no-watch")
        .env("TG_TEST_BACKEND_TOKEN", BACKEND_TOKEN)
        .env("TG_TEST_OTLP_KEY", OTLP_KEY)
        // Export every 100 ms instead of every 5 s.
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("RUST_LOG", "info");
    c
}

/// Waits until `done` holds for the spans received, or panics with them after 20 s.
async fn wait_for(seen: &Arc<Mutex<Receiver>>, what: &str, done: impl Fn(&[Got]) -> bool) {
    let start = Instant::now();
    loop {
        if done(&seen.lock().unwrap().spans) {
            return;
        }
        if start.elapsed() > Duration::from_secs(20) {
            panic!("{what}: spans received: {:#?}", seen.lock().unwrap().spans);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn no_secret_in(spans: &[Got]) {
    for span in spans {
        for (k, v) in &span.attributes {
            assert!(
                !v.contains(BACKEND_TOKEN) && !v.contains(OTLP_KEY) && !v.contains("Bearer"),
                "span {} attribute {k} = {v}",
                span.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_calls_are_traced_from_the_clients_traceparent_to_the_backend() {
    let (otlp, seen) = receiver().await;
    let (api, backend_traceparents) = backend().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), api, otlp);
    let mut cmd = command(&config);
    cmd.args(["--http", "127.0.0.1:0"]);
    let (mut child, url, captured) =
        tokio::task::spawn_blocking(move || common::spawn_capturing(cmd, "tools at "))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("toolgate did not start: {e}"));
    let url = url.trim().to_owned();
    let call = |id: i64, item: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "get_item", "arguments": {"id": item},
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientCapabilities": {}}}})
    };
    let client = reqwest::Client::new();
    let post = |body: Value, traceparent: Option<String>| {
        let mut req = client
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "get_item")
            .json(&body);
        if let Some(tp) = traceparent {
            req = req
                .header("traceparent", tp)
                .header("tracestate", "vendor=abc");
        }
        req.send()
    };
    // 1. Continues the client's trace (sampled).
    let resp = post(
        call(7, "42"),
        Some(format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01")),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(
        answer["result"]["structuredContent"]["id"], "42",
        "{answer}"
    );
    // 2. A failing backend call, in a new trace.
    let resp = post(call(8, "boom"), None).await.unwrap();
    assert_eq!(resp.status(), 200);

    wait_for(&seen, "two request spans and two backend spans", |spans| {
        spans.len() >= 4
    })
    .await;
    let spans = seen.lock().unwrap().spans.clone();
    let request = spans
        .iter()
        .find(|s| s.trace_id == CLIENT_TRACE && s.kind == SpanKind::Server as i32)
        .unwrap_or_else(|| panic!("no request span in the client's trace: {spans:#?}"));
    assert_eq!(request.name, "tools/call get_item");
    assert_eq!(
        request.parent, CLIENT_SPAN,
        "the client's span is the parent"
    );
    assert_eq!(request.service, "tg-test");
    let a = &request.attributes;
    assert_eq!(a["mcp.method.name"], "tools/call");
    assert_eq!(a["gen_ai.tool.name"], "get_item");
    assert_eq!(a["gen_ai.operation.name"], "execute_tool");
    assert_eq!(a["jsonrpc.request.id"], "7");
    assert_eq!(a["network.transport"], "tcp");
    assert_eq!(a["toolgate.source"], "api");
    assert_eq!(a["toolgate.path"], "fast");
    assert_eq!(a["toolgate.outcome"], "ok");
    assert_eq!(a["toolgate.retries"], "0");
    assert!(!request.error);

    let backend_span = spans
        .iter()
        .find(|s| s.trace_id == CLIENT_TRACE && s.kind == SpanKind::Client as i32)
        .unwrap_or_else(|| panic!("no backend span in the client's trace: {spans:#?}"));
    assert_eq!(backend_span.name, "GET /items/{id}");
    assert_eq!(
        backend_span.parent, request.span_id,
        "the request span is the parent"
    );
    let b = &backend_span.attributes;
    assert_eq!(b["http.request.method"], "GET");
    assert_eq!(b["http.response.status_code"], "200");
    assert_eq!(b["url.template"], "/items/{id}");
    assert_eq!(b["server.address"], "127.0.0.1");
    assert_eq!(b["server.port"], api.port().to_string());
    assert_eq!(b["toolgate.attempt"], "1");

    // The backend continued the trace from the backend span.
    let received = backend_traceparents.lock().unwrap().clone();
    assert!(
        received.contains(&format!("00-{CLIENT_TRACE}-{}-01", backend_span.span_id)),
        "backend saw {received:?}"
    );

    // The failing call: its own trace, a root request span, both spans marked failed.
    let failed = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32 && s.attributes["jsonrpc.request.id"] == "8")
        .unwrap_or_else(|| panic!("no span for the failing call: {spans:#?}"));
    assert_ne!(failed.trace_id, CLIENT_TRACE);
    assert!(
        failed.parent.is_empty(),
        "a new trace's request span is a root"
    );
    assert!(failed.error);
    assert!(failed.attributes.contains_key("error.type"), "{failed:?}");
    assert_ne!(failed.attributes["toolgate.outcome"], "ok");
    let failed_backend = spans
        .iter()
        .find(|s| s.trace_id == failed.trace_id && s.kind == SpanKind::Client as i32)
        .unwrap_or_else(|| panic!("no backend span for the failing call: {spans:#?}"));
    assert_eq!(
        failed_backend.attributes["http.response.status_code"],
        "500"
    );
    assert_eq!(failed_backend.attributes["error.type"], "500");
    assert!(failed_backend.error);

    // The export carried the configured header; nothing secret is in any attribute, nor in
    // the log.
    {
        let r = seen.lock().unwrap();
        assert!(
            r.headers
                .iter()
                .all(|h| h.get("x-otlp-key").is_some_and(|v| v == OTLP_KEY))
        );
    }
    no_secret_in(&spans);
    let _ = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    let _ = child.0.wait();
    captured.join();
    let log = captured.all();
    assert!(
        !log.contains(OTLP_KEY) && !log.contains(BACKEND_TOKEN),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_continues_the_trace_of_meta_traceparent_and_flushes_on_exit() {
    let (otlp, seen) = receiver().await;
    let (api, backend_traceparents) = backend().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), api, otlp);
    let mut cmd = command(&config);
    // The periodic export is off: only the flush at exit can deliver the spans.
    cmd.env("OTEL_BSP_SCHEDULE_DELAY", "600000")
        .arg("--stdio")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = common::Guard(cmd.spawn().unwrap());
    let mut stdin = child.0.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let parent = "b7ad6b7169203331";
    let lines = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": "call-1", "method": "tools/call", "params": {
            "name": "get_item", "arguments": {"id": "7"},
            "_meta": {"traceparent": format!("00-{trace}-{parent}-01")}}}),
    ];
    let answers = tokio::task::spawn_blocking(move || {
        let mut answers = Vec::new();
        for line in &lines {
            writeln!(stdin, "{line}").unwrap();
            stdin.flush().unwrap();
            if let Some(id) = line.get("id") {
                // Skip anything else the server sends (notifications) until the answer.
                loop {
                    let mut text = String::new();
                    assert!(stdout.read_line(&mut text).unwrap() > 0, "stdout closed");
                    let message: Value = serde_json::from_str(&text).unwrap();
                    if message.get("id") == Some(id) {
                        answers.push(message);
                        break;
                    }
                }
            }
        }
        // Closing stdin ends the stdio session: toolgate exits and flushes its spans.
        drop(stdin);
        answers
    })
    .await
    .unwrap();
    assert_eq!(
        answers[1]["result"]["structuredContent"]["id"], "7",
        "{answers:?}"
    );
    let status = tokio::task::spawn_blocking(move || child.0.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
    wait_for(&seen, "the stdio call's spans", |spans| {
        spans.iter().filter(|s| s.trace_id == trace).count() >= 2
    })
    .await;
    let spans = seen.lock().unwrap().spans.clone();
    let request = spans
        .iter()
        .find(|s| s.trace_id == trace && s.kind == SpanKind::Server as i32)
        .unwrap();
    assert_eq!(request.parent, parent);
    assert_eq!(request.name, "tools/call get_item");
    assert_eq!(request.attributes["network.transport"], "pipe");
    assert_eq!(request.attributes["jsonrpc.request.id"], "call-1");
    let backend_span = spans
        .iter()
        .find(|s| s.trace_id == trace && s.kind == SpanKind::Client as i32)
        .unwrap();
    assert_eq!(backend_span.parent, request.span_id);
    assert!(
        backend_traceparents
            .lock()
            .unwrap()
            .contains(&format!("00-{trace}-{}-01", backend_span.span_id))
    );
    no_secret_in(&spans);
}
