//! The lean call against a real HTTP server (axum on loopback) answering in every way rmcp's
//! client reads: what is sent, each failure status, each kind of success, and the caps.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::response::Response;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, ClientConfig as ClientInfo, ClientRequest, JsonObject,
    ProtocolVersion, ServerResult,
};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use toolgate_core::{CallContext, ToolError, ToolErrorKind};

use super::*;
use crate::client::Hub;
use crate::uris::UriMap;
use toolgate_http::ProxyEnv;
use toolgate_http::transport::BackendClients;

fn schema(value: Value) -> JsonObject {
    value.as_object().cloned().unwrap()
}

#[test]
fn tools_that_need_more_headers_than_the_lean_path_sends_are_declined() {
    let plain = schema(json!({"type": "object", "properties": {"a": {"type": "string"}}}));
    assert!(lean_tool("echo", &plain));
    assert!(!lean_tool("with space", &plain));
    assert!(!lean_tool("é", &plain));
    assert!(!lean_tool("=?base64?x?=", &plain));
    let annotated = schema(json!({
        "type": "object",
        "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}
    }));
    assert!(!lean_tool("echo", &annotated));
}

/// What the server got: headers and body of each POST.
type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// A server on loopback answering every POST with `answer(request body)`: its URL and what
/// it saw.
async fn server(
    answer: impl Fn(&Value) -> Response + Clone + Send + Sync + 'static,
) -> (String, Seen) {
    let seen = Seen::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let answer = answer.clone();
            let log = log.clone();
            async move {
                let body: Value = serde_json::from_slice(&body).unwrap();
                let response = answer(&body);
                log.lock().unwrap().push((headers, body));
                response
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

fn respond(status: u16, headers: &[(&str, &str)], body: impl Into<Body>) -> Response {
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, *value);
    }
    response.body(body.into()).unwrap()
}

/// A JSON body with `status`.
fn json_body(status: u16, body: Value) -> Response {
    respond(
        status,
        &[("content-type", "application/json")],
        body.to_string(),
    )
}

/// Asserts that `e`'s message contains `text`.
#[track_caller]
fn says(e: &ToolError, text: &str) {
    assert!(e.message.contains(text), "{:?} in {}", text, e.message);
}

/// A JSON answer to `request` with `result`.
fn json_answer(request: &Value, result: Value) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": request["id"], "result": result});
    respond(
        200,
        &[("content-type", "application/json")],
        body.to_string(),
    )
}

/// The lean path to `url` on toolgate-http's transport (an upstream without TLS settings of its
/// own; for `http://`, its inline connections).
fn lean(url: &str, max_sse_event_size: usize) -> Lean {
    let parsed = url::Url::parse(url).unwrap();
    let clients = BackendClients::new(
        Duration::from_secs(5),
        &ProxyEnv::from_vars(std::iter::empty::<(&str, &str)>()),
    )
    .unwrap();
    lean_on(clients.transport(&parsed), url, max_sse_event_size)
}

/// The lean path to `url` through `transport`.
fn lean_on(transport: Transport, url: &str, max_sse_event_size: usize) -> Lean {
    let mut info = ClientInfo::default();
    info.client_info.name = "gateway".into();
    Lean::new(LeanSettings {
        transport,
        http: reqwest::Client::new(),
        tokens: None,
        url: url.to_owned(),
        headers: HashMap::from([(
            HeaderName::from_static("x-team"),
            HeaderValue::from_static("blue"),
        )]),
        auth: Some("s3cret".to_owned()),
        info,
        version: ProtocolVersion::V_2026_07_28,
        max_sse_event_size,
        permits: Arc::new(Semaphore::new(4)),
        hub: Arc::new(Hub::new("up".into(), UriMap::new("up", false), Vec::new())),
    })
    .unwrap()
}

fn request(tool: &str, arguments: Value) -> ClientRequest {
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(schema(arguments));
    ClientRequest::CallToolRequest(CallToolRequest::new(params))
}

async fn call(lean: &Lean, request: ClientRequest) -> Result<ServerResult, ToolError> {
    let ctx = CallContext::in_process();
    lean.call(&ctx, "up", request, Duration::from_secs(5)).await
}

async fn failure(answer: impl Fn(&Value) -> Response + Clone + Send + Sync + 'static) -> ToolError {
    let (url, _) = server(answer).await;
    call(&lean(&url, 1024), request("echo", json!({})))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_call_sends_what_rmcps_client_sends_and_reads_a_json_answer() {
    let (url, seen) =
        server(|r| json_answer(r, json!({"content": [{"type": "text", "text": "hi"}]}))).await;
    let lean = lean(&url, 1024);
    let mut traced = request("echo", json!({"text": "é\"\u{2028}"}));
    if let ClientRequest::CallToolRequest(r) = &mut traced {
        let meta = r.params.meta.get_or_insert_default();
        meta.set_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        meta.set_tracestate("k=v");
    }
    let result = call(&lean, traced).await.unwrap();
    let ServerResult::CallToolResult(result) = result else {
        panic!("{result:?}")
    };
    assert_eq!(result.content.len(), 1);
    call(&lean, request("echo", json!({}))).await.unwrap();

    let seen = seen.lock().unwrap();
    let (headers, body) = &seen[0];
    assert_eq!(headers["accept"], "text/event-stream, application/json");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["authorization"], "Bearer s3cret");
    assert_eq!(headers["x-team"], "blue");
    assert_eq!(headers["mcp-protocol-version"], "2026-07-28");
    assert_eq!(headers["mcp-method"], "tools/call");
    assert_eq!(headers["mcp-name"], "echo");
    assert_eq!(
        headers["traceparent"],
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    );
    assert_eq!(headers["tracestate"], "k=v");
    // The body is the message rmcp would serialize for the same request.
    let mut expected = request("echo", json!({"text": "é\"\u{2028}"}));
    if let ClientRequest::CallToolRequest(r) = &mut expected {
        let meta = r.params.meta.get_or_insert_default();
        meta.set_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        meta.set_tracestate("k=v");
        meta.set_protocol_version(ProtocolVersion::V_2026_07_28);
        let mut info = ClientInfo::default();
        info.client_info.name = "gateway".into();
        meta.set_client_info(info.client_info.clone());
        meta.set_client_capabilities(info.capabilities.clone());
    }
    let expected = rmcp::model::ClientJsonRpcMessage::Request(rmcp::model::JsonRpcRequest::new(
        rmcp::model::RequestId::Number(1),
        expected,
    ));
    assert_eq!(*body, serde_json::to_value(&expected).unwrap());
    // Each call its own id; no trace context on a call without one.
    assert_eq!(seen[1].1["id"], 2);
    assert!(seen[1].0.get("traceparent").is_none());
}

#[tokio::test]
async fn an_sse_answer_is_read_past_what_comes_before_the_response() {
    let (url, _) = server(|r| {
        let response =
            json!({"jsonrpc": "2.0", "id": r["id"], "result": {"content": [], "isError": true}});
        let stream = format!(
            ": comment\n\nid: 1\ndata:\n\nevent: message\ndata: {}\n\ndata: {}\n\n",
            json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
            response
        );
        respond(200, &[("content-type", "text/event-stream")], stream)
    })
    .await;
    let lean = lean(&url, 1024);
    let result = call(&lean, request("echo", json!({}))).await.unwrap();
    assert!(matches!(result, ServerResult::CallToolResult(r) if r.is_error == Some(true)));
    // The list change was taken to the refresh.
    tokio::time::timeout(Duration::from_secs(1), lean.hub.refresh.notified())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_sse_event_over_the_cap_fails_the_call_and_names_the_cap() {
    let e = failure(|_| {
        let stream = format!("data: {}", "x".repeat(64 * 1024));
        respond(200, &[("content-type", "text/event-stream")], stream)
    })
    .await;
    assert_eq!(e.kind, ToolErrorKind::Protocol);
    says(&e, "larger than 1024 bytes (max_message_bytes)");
}

#[tokio::test]
async fn a_stream_that_ends_before_the_answer_says_so() {
    let e = failure(|_| respond(200, &[("content-type", "text/event-stream")], ": hi\n\n")).await;
    assert_eq!(e.kind, ToolErrorKind::Transport);
    says(&e, "the stream ended before the answer");
}

#[tokio::test]
async fn a_json_rpc_error_is_the_calls_error_on_success_and_failure_statuses() {
    for status in [200, 400, 500] {
        let e = failure(move |r| {
            json_body(status, json!({"jsonrpc": "2.0", "id": r["id"], "error": {"code": -32602, "message": "no such tool"}}))
        })
        .await;
        let rpc = e.rpc_error.as_ref().expect("the server's error");
        assert_eq!(rpc.code.0, -32602, "{status}");
        assert_eq!(e.message, "upstream `up`: no such tool");
    }
    // Without an id (the server could not read it) it is still this request's.
    let e = failure(|_| {
        json_body(
            400,
            json!({"jsonrpc": "2.0", "error": {"code": -32600, "message": "invalid"}}),
        )
    })
    .await;
    assert_eq!(e.rpc_error.unwrap().code.0, -32600);
}

#[tokio::test]
async fn failure_statuses_say_what_the_server_said() {
    let e = failure(|_| respond(429, &[("retry-after", "7")], "slow down")).await;
    assert_eq!(e.kind, ToolErrorKind::Transport);
    assert_eq!(
        e.message,
        "the request to upstream `up` failed: HTTP 429 Too Many Requests (Retry-After: 7)"
    );
    let e = failure(|_| respond(503, &[("content-type", "text/html")], "<h1>down</h1>")).await;
    assert!(
        e.message.ends_with("HTTP 503 Service Unavailable"),
        "{}",
        e.message
    );
    let e = failure(|_| respond(404, &[("content-type", "text/plain")], "no route")).await;
    assert!(
        e.message.ends_with("HTTP 404 Not Found: no route"),
        "{}",
        e.message
    );
    let long = "y".repeat(5000);
    let e = failure(move |_| respond(400, &[], long.clone())).await;
    assert!(
        e.message.ends_with(&format!("{}…", "y".repeat(300))),
        "{}",
        e.message
    );
    let e = failure(|_| respond(401, &[("www-authenticate", "Bearer realm=\"mcp\"")], "")).await;
    assert!(
        e.message
            .contains("HTTP 401 Unauthorized: the server refused the gateway's credentials")
            && e.message.contains("WWW-Authenticate: Bearer realm=\"mcp\""),
        "{}",
        e.message
    );
    assert!(!e.message.contains("s3cret"));
    let e = failure(|_| {
        json_body(
            403,
            json!({"jsonrpc": "2.0", "error": {"code": -32001, "message": "scope"}}),
        )
    })
    .await;
    assert!(e.rpc_error.is_none(), "a 403 keeps its status");
    says(&e, "HTTP 403 Forbidden");
}

#[tokio::test]
async fn answers_that_are_not_an_answer_are_refused() {
    for (status, content_type, body, expected) in [
        (
            202,
            "application/json",
            "",
            "accepted the request without answering it",
        ),
        (
            200,
            "text/plain",
            "hi",
            "Content-Type `text/plain`, neither JSON nor an event stream",
        ),
        (
            200,
            "application/json",
            "{",
            "its JSON answer is not a JSON-RPC message",
        ),
        (
            200,
            "application/json",
            r#"{"jsonrpc":"2.0","id":99,"result":{"content":[]}}"#,
            "it answered another request",
        ),
        (
            200,
            "application/json",
            r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#,
            "its JSON answer is not the response to the request",
        ),
        (
            200,
            "text/event-stream",
            "data: {\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"roots/list\"}\n\n",
            "it sent a request during a 2026-07-28 call",
        ),
    ] {
        let e = failure(move |_| respond(status, &[("content-type", content_type)], body)).await;
        assert_eq!(e.kind, ToolErrorKind::Protocol, "{body}");
        says(&e, expected);
    }
}

#[tokio::test]
async fn a_dead_server_is_a_transport_error_without_the_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mcp?key=s3cret", listener.local_addr().unwrap());
    drop(listener);
    let e = call(&lean(&url, 1024), request("echo", json!({})))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ToolErrorKind::Transport);
    assert!(
        e.message
            .starts_with("the request to upstream `up` failed: "),
        "{}",
        e.message
    );
    assert!(!e.message.contains("s3cret"), "{}", e.message);
}

#[tokio::test]
async fn an_upstream_with_its_own_tls_settings_is_called_through_its_reqwest_client() {
    // Such an upstream's transport is its reqwest client (`http_client.rs`); plain HTTP here,
    // the TLS settings themselves are tested with the session (tests/http_settings.rs).
    let (url, seen) = server(|r| json_answer(r, json!({"content": []}))).await;
    let lean = lean_on(Transport::Proxied(reqwest::Client::new()), &url, 1024);
    call(&lean, request("echo", json!({"a": 1}))).await.unwrap();
    {
        let (headers, body) = &seen.lock().unwrap()[0];
        assert_eq!(headers["mcp-name"], "echo");
        assert_eq!(body["params"]["arguments"], json!({"a": 1}));
    }
    let (url, _) = server(|_| respond(503, &[("retry-after", "2")], "")).await;
    let lean = lean_on(Transport::Proxied(reqwest::Client::new()), &url, 1024);
    let e = call(&lean, request("echo", json!({}))).await.unwrap_err();
    assert!(
        e.message
            .ends_with("HTTP 503 Service Unavailable (Retry-After: 2)"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn a_401_drops_the_oauth2_token_it_was_sent_with_and_the_next_call_gets_a_new_one() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use toolgate_http::{ClientAuth, ClientAuthMethod, Grant, Secret, TokenSource};

    // The token endpoint issues token-1, token-2, …; the upstream refuses token-1.
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let token = axum::Router::new().route(
        "/token",
        axum::routing::post(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                axum::Json(json!({"access_token": format!("token-{n}"), "token_type": "Bearer", "expires_in": 3600}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let token_url = format!("http://{}/token", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, token).await });
    let refusing = Arc::new(AtomicUsize::new(0));
    let refused = refusing.clone();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let refused = refused.clone();
            async move {
                let request: Value = serde_json::from_slice(&body).unwrap();
                if headers["authorization"] == "Bearer token-1" {
                    refused.fetch_add(1, Ordering::SeqCst);
                    return respond(
                        401,
                        &[("www-authenticate", "Bearer error=\"invalid_token\"")],
                        "",
                    );
                }
                json_answer(&request, json!({"content": []}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut lean = lean(&url, 1024);
    lean.headers.remove(AUTHORIZATION);
    lean.tokens = Some(Arc::new(TokenSource::new(
        url::Url::parse(&token_url).unwrap(),
        Grant::ClientCredentials { audience: None },
        Vec::new(),
        Some(ClientAuth {
            id: "toolgate".to_owned(),
            secret: Some(Secret::new("s3cret")),
            method: ClientAuthMethod::Post,
        }),
    )));
    let e = call(&lean, request("echo", json!({}))).await.unwrap_err();
    says(&e, "HTTP 401 Unauthorized");
    assert!(!e.message.contains("token-1"), "{}", e.message);
    call(&lean, request("echo", json!({}))).await.unwrap();
    call(&lean, request("echo", json!({}))).await.unwrap();
    assert_eq!(refusing.load(Ordering::SeqCst), 1);
    assert_eq!(issued.load(Ordering::SeqCst), 2, "one new token, then kept");
}
