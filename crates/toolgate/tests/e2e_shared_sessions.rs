//! Legacy sessions shared by gateways (`http.sessions`), in process: a session opened on one
//! gateway is served by another on every path (the fast path, rmcp's POST, the GET stream,
//! DELETE), with the record in Redis or sealed into the id; sessions stay bound to their
//! caller with authentication on; Redis unreachable gives 503, never a session one gateway
//! alone could serve; and what each store costs is printed (new session, first request on
//! another gateway, later requests). The same across processes behind a real load balancer:
//! `e2e_replicas.rs`.
//!
//! Redis tests use the machine's Redis at 127.0.0.1:6379 with a unique key prefix; required
//! under `CI=true` or `TOOLGATE_REQUIRE_TEST_DEPS=1`, skipped otherwise.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::clients::{LEGACY, LegacyClient};
use toolgate::config::SessionModeConfig;

const REDIS: &str = "127.0.0.1:6379";

/// A key prefix no other test (or run) uses.
fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("toolgate-e2e-{test}-{}-{nanos}", std::process::id())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `http.sessions` for `store` (`memory`, `redis`, `sealed`).
fn sessions_config(store: &str, prefix: &str) -> toolgate_server::SessionsConfig {
    let value = match store {
        "memory" => serde_json::json!({"store": "memory"}),
        "redis" => {
            serde_json::json!({"store": "redis", "url": format!("redis://{REDIS}"), "prefix": prefix})
        }
        "sealed" => {
            serde_json::json!({"store": "sealed", "secret": "an-e2e-secret-of-at-least-32-characters"})
        }
        other => panic!("no store {other}"),
    };
    serde_json::from_value(value).unwrap()
}

/// Two gateways over one Todo API with the same `http.sessions`: their MCP URLs, the second
/// one's metrics, and the Todo API (stops when dropped).
async fn two_gateways(store: &str) -> (String, String, common::Watched, common::Stack) {
    let stack = common::start(SessionModeConfig::Stateful).await;
    let mut config = common::todo_config(stack.api_addr, SessionModeConfig::Stateful);
    config.http.sessions = sessions_config(store, &unique_prefix(store));
    let (a, _) = common::serve_config_with_gateway(config.clone()).await;
    let (b, watched_b) = common::serve_config_with_gateway(config).await;
    (a, b, watched_b, stack)
}

/// A client of session `session` on the gateway at `url`.
fn same_session(session: &str, url: &str) -> LegacyClient {
    LegacyClient {
        url: url.to_owned(),
        session: session.to_owned(),
        http: reqwest::Client::new(),
    }
}

const CALL: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_users"}}"#;

/// Opens a GET stream in `client`'s session: its status and content type.
async fn get_stream(client: &LegacyClient) -> (u16, String) {
    let resp = client
        .http
        .get(&client.url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &client.session)
        .header("mcp-protocol-version", LEGACY)
        .send()
        .await
        .unwrap();
    let kind = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (resp.status().as_u16(), kind)
}

async fn a_session_opened_on_one_gateway_is_served_by_another(store: &str) {
    let (url_a, url_b, watched_b, _stack) = two_gateways(store).await;
    let opened = LegacyClient::connect(&url_a).await;
    // The fast path of the other gateway.
    let on_b = same_session(&opened.session, &url_b);
    let (status, answer) = on_b.post(CALL).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    assert_eq!(watched_b.fast_path_calls(), 1);
    // rmcp's path there (wakes a worker by replaying `initialize`), and a GET stream.
    let (status, answer) = on_b
        .post(r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#)
        .await;
    assert_eq!(
        (status, &answer["result"]),
        (200, &serde_json::json!({})),
        "{answer}"
    );
    let (status, answer) = on_b
        .post(r#"{"jsonrpc":"2.0","id":3,"method":"resources/list"}"#)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["result"]["resources"].is_array(), "{answer}");
    let (status, kind) = get_stream(&same_session(&opened.session, &url_b)).await;
    assert_eq!((status, kind.as_str()), (200, "text/event-stream"));
    // Strangers are still refused on both.
    let stranger = same_session("s1not-a-session", &url_b);
    assert_eq!(stranger.post(CALL).await.0, 404);
    assert_eq!(
        same_session("00000000-0000-0000-0000-000000000000", &url_a)
            .post(CALL)
            .await
            .0,
        404
    );

    // DELETE on B ends the session on B at once.
    assert_eq!(on_b.delete().await, 204);
    assert_eq!(on_b.post(CALL).await.0, 404);
    match store {
        // Redis: A learns it at its next sync (about a second).
        "redis" => {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let status = opened.post(CALL).await.0;
                if status == 404 {
                    break;
                }
                assert_eq!(status, 200);
                assert!(
                    Instant::now() < deadline,
                    "A still serves a session deleted on B"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // Sealed: nothing is shared, so A still serves it (documented).
        _ => assert_eq!(opened.post(CALL).await.0, 200),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_sessions_are_served_by_any_gateway_on_every_path() {
    if !common::service_reachable("Redis", REDIS) {
        return;
    }
    a_session_opened_on_one_gateway_is_served_by_another("redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_sessions_are_served_by_any_gateway_on_every_path() {
    a_session_opened_on_one_gateway_is_served_by_another("sealed").await;
}

/// Redis down: no session is handed out that only one replica could serve, and a session
/// this replica does not know is answered 503 (retry), never 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_new_and_unknown_sessions_get_503_not_404() {
    let stack = common::start(SessionModeConfig::Stateful).await;
    let mut config = common::todo_config(stack.api_addr, SessionModeConfig::Stateful);
    // A port nothing listens on.
    let port = common::free_port();
    config.http.sessions = serde_json::from_value(serde_json::json!({
        "store": "redis", "url": format!("redis://127.0.0.1:{port}"), "timeout_ms": 50
    }))
    .unwrap();
    let (url, _) = common::serve_config_with_gateway(config).await;
    let http = reqwest::Client::new();
    let resp = http
        .post(&url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{LEGACY}","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let unknown = same_session("00000000-0000-4000-8000-000000000000", &url);
    assert_eq!(unknown.post(CALL).await.0, 503);
}

/// An HTTP client presenting API key `key`.
fn client_with_key(key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {key}").parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// Two gateways with API-key authentication (`alice-key-…`, `bob-key-…`) and the same
/// `http.sessions`: their MCP URLs, and the Todo API (stops when dropped).
async fn two_authenticating_gateways(store: &str) -> (String, String, common::Stack) {
    let stack = common::start(SessionModeConfig::Stateful).await;
    let text = "auth:\n  api_keys:\n    - id: alice\n      sha256: 23d69d3da610e7f91e23b50b107cfec0b09f16cea6153827229614351aaace33\n    - id: bob\n      sha256: cfffcf49d8b485b308f1bbeedaf9a2cea8a07d01d1a6bb29d07e5fafd4c89a71\n";
    let mut config = toolgate::config::load(text, "<test>", &Default::default()).unwrap();
    config.sources = common::todo_config(stack.api_addr, SessionModeConfig::Stateful).sources;
    config.http.sessions = sessions_config(store, &unique_prefix("owners"));
    let mut urls = Vec::new();
    for _ in 0..2 {
        let auth = toolgate::run::resource_auth(&config).await.unwrap();
        let assembled = toolgate::run::assemble_with_auth(&config, Path::new("."), auth)
            .await
            .unwrap();
        let app = toolgate_server::gateway_app(
            assembled.gateway.clone(),
            &toolgate::run::http_options(&config),
            assembled.edge_auth.clone(),
            assembled.metrics.clone(),
            Default::default(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        urls.push(format!("http://{addr}/mcp"));
    }
    let b = urls.pop().unwrap();
    (urls.pop().unwrap(), b, stack)
}

/// With authentication on, a replica that picks a session up from the store refuses its id
/// to anyone but the caller that opened it, as the replica that opened it does.
async fn sessions_stay_bound_to_their_caller_across_gateways(store: &str) {
    let (a, b, _stack) = two_authenticating_gateways(store).await;
    let (alice, bob) = (
        client_with_key("alice-key-0123456789abcdef"),
        client_with_key("bob-key-0123456789abcdef"),
    );
    // `tools/list`: authorization (default deny, no rules here) lists nothing, but answers.
    const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let session = open_session(&alice, &a).await;
    let as_ = |http: &reqwest::Client, url: &str| LegacyClient {
        url: url.to_owned(),
        session: session.clone(),
        http: http.clone(),
    };
    // Bob first on B: B picks the session up for his request, and refuses it to him.
    assert_eq!(as_(&bob, &b).post(LIST).await.0, 404);
    let (status, answer) = as_(&alice, &b).post(LIST).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["result"]["tools"].is_array(), "{answer}");
    assert_eq!(as_(&bob, &b).post(LIST).await.0, 404);
    assert_eq!(as_(&bob, &a).post(LIST).await.0, 404);
    assert_eq!(as_(&alice, &a).post(LIST).await.0, 200);
    // No credential at all: 401 before any session is looked at.
    assert_eq!(as_(&reqwest::Client::new(), &b).post(LIST).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_sessions_stay_bound_to_their_caller_across_gateways() {
    if !common::service_reachable("Redis", REDIS) {
        return;
    }
    sessions_stay_bound_to_their_caller_across_gateways("redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_sessions_stay_bound_to_their_caller_across_gateways() {
    sessions_stay_bound_to_their_caller_across_gateways("sealed").await;
}

/// Opens a legacy session at `url` with `http` (initialize + initialized): its id.
async fn open_session(http: &reqwest::Client, url: &str) -> String {
    let resp = http
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{LEGACY}","capabilities":{{}},"clientInfo":{{"name":"cost","version":"1"}}}}}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "initialize");
    let session = resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = resp.bytes().await;
    let client = LegacyClient {
        url: url.to_owned(),
        session: session.clone(),
        http: http.clone(),
    };
    let (status, _) = client
        .post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    assert_eq!(status, 202, "initialized");
    session
}

/// What each store costs, in process on loopback (one HTTP client, kept-alive connections):
/// opening a session (initialize + initialized), the first call of a session on a gateway
/// that did not open it (the lookup and adoption), and the next call there. Printed for
/// docs/fleet.md; asserts only that every request succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_store_costs() {
    let redis = common::service_reachable("Redis", REDIS);
    let mut lines = Vec::new();
    for store in ["memory", "redis", "sealed"] {
        if store == "redis" && !redis {
            continue;
        }
        let stack = common::start(SessionModeConfig::Stateful).await;
        let mut config = common::todo_config(stack.api_addr, SessionModeConfig::Stateful);
        config.http.sessions = sessions_config(store, &unique_prefix("cost"));
        let (a, _) = common::serve_config_with_gateway(config.clone()).await;
        let (b, _) = common::serve_config_with_gateway(config).await;
        // A session lives on one gateway only without a shared store.
        let other = if store == "memory" { &a } else { &b };
        let http = reqwest::Client::new();
        let (mut open, mut first, mut next, mut id_len) = (Vec::new(), Vec::new(), Vec::new(), 0);
        for round in 0..250 {
            let t = Instant::now();
            let session = open_session(&http, &a).await;
            let opened = t.elapsed();
            id_len = session.len();
            let c = LegacyClient {
                url: other.clone(),
                session,
                http: http.clone(),
            };
            let t = Instant::now();
            assert_eq!(c.post(CALL).await.0, 200);
            let adopted = t.elapsed();
            let t = Instant::now();
            assert_eq!(c.post(CALL).await.0, 200);
            // The first 50 rounds warm up connections, Redis and the allocator.
            if round >= 50 {
                open.push(opened);
                first.push(adopted);
                next.push(t.elapsed());
            }
        }
        lines.push(format!(
            "{store:>6}: open a session {:>9.1?}, first call on the other gateway {:>9.1?}, next call {:>9.1?}; id {id_len} chars (medians of 200)",
            median(open),
            median(first),
            median(next)
        ));
    }
    for l in &lines {
        println!("{l}");
    }
}
