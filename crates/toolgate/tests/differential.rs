//! Differential fuzzing of the one request edge: generated MCP requests (JSON-RPC envelopes,
//! ids, params, `_meta`, HTTP headers, protocol versions) go to a gateway with the fast path
//! and to the same gateway without it (rmcp serves everything), in-process, and must get the
//! same answer: the same status, the same `Content-Type` and the same JSON-RPC message, byte
//! for byte. For legacy sessions the fast path answers with a JSON body where rmcp opens an
//! SSE stream (the transport allows either), so there the message inside is compared.
//!
//! The backend answers deterministically (it echoes what it got), so any difference is the
//! edge's. `PROPTEST_CASES` sets the number of cases (CI runs the default below; the closing
//! notes of the one-edge work report a longer run).

mod common;

use std::sync::OnceLock;

use axum::body::Body;
use http::{Request, StatusCode};
use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tower::ServiceExt as _;

/// Cases per property when `PROPTEST_CASES` is unset.
const DEFAULT_CASES: u32 = 192;

/// A backend whose answers depend only on the request: `POST /echo/{id}` answers the body and
/// query it got; `GET /fail` is a 500 with a body; `GET /gone/{id}` a 404.
async fn backend() -> String {
    use axum::extract::{Path, RawQuery};
    let app = axum::Router::new()
        .route(
            "/echo/{id}",
            axum::routing::post(
                |Path(id): Path<String>, RawQuery(q): RawQuery, body: String| async move {
                    axum::Json(json!({"id": id, "query": q, "body": body}))
                },
            ),
        )
        .route(
            "/fail",
            axum::routing::get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "it broke") }),
        )
        .route(
            "/gone/{id}",
            axum::routing::get(|Path(id): Path<String>| async move {
                (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"detail": format!("no {id}")})),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn spec() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "diff", "version": "1"},
        "paths": {
            "/echo/{id}": {"post": {
                "operationId": "echo",
                "parameters": [
                    {"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}},
                    {"name": "tag", "in": "query", "schema": {"type": "string", "enum": ["a", "b"]}}
                ],
                "requestBody": {"content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {"text": {"type": "string", "maxLength": 8}, "n": {"type": "number"}}
                }}}},
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}}
            }},
            "/fail": {"get": {"operationId": "fail", "responses": {"200": {"description": "ok"}}}},
            "/gone/{id}": {"get": {
                "operationId": "gone",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}}
            }}
        }
    })
}

/// The two gateways under comparison, with a legacy session opened on each.
struct Pair {
    /// The gateways' pipeline metrics (shared: one gateway behind both routers).
    metrics: std::sync::Arc<toolgate_policy::Metrics>,
    fast: axum::Router,
    slow: axum::Router,
    fast_session: String,
    slow_session: String,
}

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

fn pair() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(|| {
        runtime().block_on(async {
            let url = backend().await;
            let assembled = toolgate::embed::openapi_gateway("diff", spec(), &url)
                .await
                .unwrap();
            let router = |fast_path: bool| {
                let options = toolgate_server::HttpOptions {
                    fast_path,
                    ..Default::default()
                };
                toolgate_server::mcp_router(
                    assembled.gateway.clone(),
                    &options,
                    toolgate_server::EdgeAuth::Off,
                    tokio_util::sync::CancellationToken::new(),
                )
            };
            let (fast, slow) = (router(true), router(false));
            let fast_session = open_session(&fast).await;
            let slow_session = open_session(&slow).await;
            Pair {
                metrics: assembled.metrics.clone(),
                fast,
                slow,
                fast_session,
                slow_session,
            }
        })
    })
}

const LEGACY: &str = "2025-11-25";

async fn open_session(router: &axum::Router) -> String {
    let init = format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{LEGACY}","capabilities":{{}},"clientInfo":{{"name":"diff","version":"1"}}}}}}"#
    );
    let resp = router.clone().oneshot(post(&[], init)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let session = resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let initialized = post(
        &[
            ("mcp-session-id", &session),
            ("mcp-protocol-version", LEGACY),
        ],
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned(),
    );
    let resp = router.clone().oneshot(initialized).await.unwrap();
    assert_eq!(resp.status(), 202);
    session
}

fn post(headers: &[(&str, &str)], body: String) -> Request<Body> {
    let mut req = Request::builder()
        .method("POST")
        .uri("/mcp")
        .header("host", "127.0.0.1");
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !has("content-type") {
        req = req.header("content-type", "application/json");
    }
    if !has("accept") {
        req = req.header("accept", "application/json, text/event-stream");
    }
    for (name, value) in headers {
        if !value.is_empty() {
            req = req.header(*name, *value);
        }
    }
    req.body(Body::from(body)).unwrap()
}

/// An answer reduced to what a client reads: status, content type, and the JSON-RPC message
/// (the body, or the first non-empty SSE `data:` of a stream).
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    content_type: Option<String>,
    message: String,
}

async fn answer(router: &axum::Router, req: Request<Body>) -> Answer {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let message = if content_type.as_deref() == Some("text/event-stream") {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
            .find(|d| !d.is_empty())
            .unwrap_or_default()
            .to_owned()
    } else {
        text
    };
    Answer {
        status,
        content_type,
        message,
    }
}

/// One generated request.
#[derive(Debug, Clone)]
struct Case {
    legacy: bool,
    version: &'static str,
    mcp_method: Option<&'static str>,
    mcp_name: Option<&'static str>,
    accept: Option<&'static str>,
    body: String,
}

fn id() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        12 => (0i64..1000).prop_map(|i| Some(json!(i))),
        8 => "[a-z0-9-]{1,6}".prop_map(|s| Some(json!(s))),
        1 => Just(Some(Value::Null)),
        1 => Just(Some(json!(1.5))),
        1 => Just(Some(json!(true))),
        1 => Just(None),
    ]
}

fn meta(legacy: bool) -> impl Strategy<Value = Option<Value>> {
    let version = prop_oneof![
        20 => Just(Some(json!("2026-07-28"))),
        1 => Just(Some(json!("2025-11-25"))),
        1 => Just(Some(json!(7))),
        1 => Just(None),
    ];
    let caps = prop_oneof![
        20 => Just(Some(json!({}))),
        1 => Just(Some(json!({"sampling": {}}))),
        1 => Just(Some(json!({"roots": 5}))),
        1 => Just(Some(json!([]))),
        1 => Just(None),
    ];
    let info = prop_oneof![Just(Some(json!({"name": "c", "version": "1"}))), Just(None)];
    let progress = prop_oneof![12 => Just(None), 1 => Just(Some(json!("p-1")))];
    (version, caps, info, progress)
        .prop_map(move |(v, c, i, p)| {
            let mut m = serde_json::Map::new();
            if let Some(v) = v {
                m.insert("io.modelcontextprotocol/protocolVersion".into(), v);
            }
            if let Some(c) = c {
                m.insert("io.modelcontextprotocol/clientCapabilities".into(), c);
            }
            if let Some(i) = i {
                m.insert("io.modelcontextprotocol/clientInfo".into(), i);
            }
            if let Some(p) = p {
                m.insert("progressToken".into(), p);
            }
            Some(Value::Object(m))
        })
        .prop_flat_map(move |m| {
            // Legacy requests mostly carry no `_meta`; modern ones mostly do.
            let (absent, present) = if legacy { (8, 1) } else { (1, 12) };
            prop_oneof![absent => Just(None), present => Just(m)]
        })
}

fn arguments() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        3 => (0i64..5, prop::option::of(prop_oneof![Just("a"), Just("b"), Just("c")]), "[a-z ]{0,10}")
            .prop_map(|(id, tag, text)| {
                let mut a = json!({"id": id, "text": text});
                if let Some(t) = tag {
                    a["tag"] = json!(t);
                }
                Some(a)
            }),
        1 => Just(Some(json!({"id": "x"}))),
        1 => Just(Some(json!({}))),
        1 => Just(Some(json!([1, 2]))),
        1 => Just(None),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let method = prop_oneof![
        6 => Just("tools/call"),
        3 => Just("tools/list"),
        1 => Just("resources/list"),
        1 => Just("ping"),
        1 => Just("nope/nope"),
    ];
    let tool = prop_oneof![
        4 => Just(Some("echo")),
        1 => Just(Some("fail")),
        1 => Just(Some("gone")),
        1 => Just(Some("unknown_tool")),
        1 => Just(None),
    ];
    let jsonrpc = prop_oneof![20 => Just(Some("2.0")), 1 => Just(Some("1.0")), 1 => Just(None)];
    let params_shape = prop_oneof![20 => Just("object"), 1 => Just("null"), 1 => Just("array"), 1 => Just("absent")];
    let cursor = prop_oneof![12 => Just(None), 1 => Just(Some("bogus")), 1 => Just(Some("bzA"))];
    let legacy = any::<bool>();
    (
        legacy,
        method,
        tool,
        jsonrpc,
        params_shape,
        cursor,
        id(),
        arguments(),
    )
        .prop_flat_map(|(legacy, method, tool, jsonrpc, shape, cursor, id, args)| {
            let header_method = prop_oneof![
                20 => Just(Some(method)),
                1 => Just(Some("tools/list")),
                1 => Just(None),
            ];
            let header_name =
                prop_oneof![20 => Just(tool), 1 => Just(Some("echo")), 1 => Just(None)];
            let version = if legacy {
                prop_oneof![12 => Just(LEGACY), 2 => Just("2025-06-18"), 1 => Just("1999-01-01")]
                    .boxed()
            } else {
                prop_oneof![20 => Just("2026-07-28"), 1 => Just("2099-01-01"), 1 => Just("")]
                    .boxed()
            };
            let accept = prop_oneof![20 => Just(None), 1 => Just(Some("application/json"))];
            (meta(legacy), header_method, header_name, version, accept).prop_map(
                move |(meta, mcp_method, mcp_name, version, accept)| {
                    let mut msg = serde_json::Map::new();
                    if let Some(j) = jsonrpc {
                        msg.insert("jsonrpc".into(), json!(j));
                    }
                    if let Some(id) = &id {
                        msg.insert("id".into(), id.clone());
                    }
                    msg.insert("method".into(), json!(method));
                    let mut params = serde_json::Map::new();
                    if method == "tools/call" {
                        if let Some(t) = tool {
                            params.insert("name".into(), json!(t));
                        }
                        if let Some(a) = &args {
                            params.insert("arguments".into(), a.clone());
                        }
                    }
                    if let Some(c) = cursor {
                        params.insert("cursor".into(), json!(c));
                    }
                    if let Some(m) = &meta {
                        params.insert("_meta".into(), m.clone());
                    }
                    match shape {
                        "object" => {
                            msg.insert("params".into(), Value::Object(params));
                        }
                        "null" => {
                            msg.insert("params".into(), Value::Null);
                        }
                        "array" => {
                            msg.insert("params".into(), json!([]));
                        }
                        _ => {}
                    }
                    Case {
                        legacy,
                        version,
                        mcp_method,
                        mcp_name,
                        accept,
                        body: Value::Object(msg).to_string(),
                    }
                },
            )
        })
}

fn request(case: &Case, session: &str) -> Request<Body> {
    let mut headers: Vec<(&str, &str)> = vec![("mcp-protocol-version", case.version)];
    if case.legacy {
        headers.push(("mcp-session-id", session));
    }
    if let Some(m) = case.mcp_method {
        headers.push(("mcp-method", m));
    }
    if let Some(n) = case.mcp_name {
        headers.push(("mcp-name", n));
    }
    if let Some(a) = case.accept {
        headers.push(("accept", a));
    }
    post(&headers, case.body.clone())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_fast_path_answers_every_request_as_rmcp_does(case in case()) {
        let pair = pair();
        let (fast, slow) = runtime().block_on(async {
            let fast = answer(&pair.fast, request(&case, &pair.fast_session)).await;
            let slow = answer(&pair.slow, request(&case, &pair.slow_session)).await;
            (fast, slow)
        });
        if case.legacy && fast.content_type.as_deref() == Some("application/json")
            && slow.content_type.as_deref() == Some("text/event-stream")
        {
            // A legacy request the fast path served: JSON instead of rmcp's stream.
            prop_assert_eq!(fast.status, slow.status, "{:?}", case);
            prop_assert_eq!(&fast.message, &slow.message, "{:?}", case);
        } else {
            prop_assert_eq!(&fast, &slow, "{:?}", case);
        }
    }
}

/// The generator reaches both paths: a run where the fast path never served anything would
/// compare rmcp with itself.
#[test]
fn the_generated_requests_exercise_the_fast_path() {
    let pair = pair();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = case();
    let before = common::fast_path_calls(&pair.metrics.encode());
    let total = 200;
    for _ in 0..total {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        runtime().block_on(answer(&pair.fast, request(&case, &pair.fast_session)));
    }
    let served_fast = common::fast_path_calls(&pair.metrics.encode()) - before;
    assert!(
        served_fast * 5 >= total && served_fast < total,
        "{served_fast} of {total} generated requests took the fast path: the generator must \
         reach both paths"
    );
}
