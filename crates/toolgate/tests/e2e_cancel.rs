//! Cancellation on every path: a client that goes away or cancels stops the backend request,
//! and the call is settled (in flight, metrics, log) instead of leaking. Each test watches the
//! backend itself: its handler notices when the gateway abandons the request.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::clients::{LegacyClient, MODERN_META};
use serde_json::json;
use toolgate::config::SessionModeConfig;

/// What the backend saw of its `GET /slow` requests.
#[derive(Default)]
struct Seen {
    started: AtomicUsize,
    abandoned: AtomicUsize,
}

/// Counts a request whose handler is dropped before it answers.
struct Abandoned(Arc<Seen>, bool);

impl Drop for Abandoned {
    fn drop(&mut self) {
        if !self.1 {
            self.0.abandoned.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A backend whose `GET /slow` takes a minute, and what it saw: URL, spec, counters.
async fn watched_backend() -> (String, serde_json::Value, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let state = seen.clone();
    let backend = axum::Router::new().route(
        "/slow",
        axum::routing::get(move || {
            let seen = state.clone();
            async move {
                seen.started.fetch_add(1, Ordering::SeqCst);
                let mut guard = Abandoned(seen, false);
                tokio::time::sleep(Duration::from_secs(60)).await;
                guard.1 = true;
                axum::Json(json!({"done": true}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, backend).await });
    let spec = json!({
        "openapi": "3.1.0",
        "info": {"title": "slow", "version": "1"},
        "paths": {"/slow": {"get": {"operationId": "slow", "responses": {"200": {"description": "ok",
            "content": {"application/json": {"schema": {"type": "object"}}}}}}}}
    });
    (format!("http://{addr}"), spec, seen)
}

/// Waits (at most 10 s) until `done` holds.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn gateway(mode: SessionModeConfig) -> (String, common::Watched, Arc<Seen>) {
    let (backend, spec, seen) = watched_backend().await;
    let mut config = common::todo_config("127.0.0.1:9".parse().unwrap(), mode);
    common::openapi(&mut config.sources[0]).spec =
        toolgate::config::SpecLocation::Inline { inline: spec };
    common::openapi(&mut config.sources[0]).base_url = Some(backend);
    let (url, watched) = common::serve_config_with_gateway(config).await;
    (url, watched, seen)
}

/// A 2026-07-28 client cancels by closing the connection: the fast path's call is dropped,
/// the backend request aborted, and the call counted and logged as dropped.
#[tokio::test]
async fn a_modern_client_disconnecting_aborts_the_backend_request() {
    let (url, watched, seen) = gateway(SessionModeConfig::Stateless).await;
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"slow",{MODERN_META}}}}}"#
    );
    let client = tokio::spawn(common::clients::modern_post_owned(
        url,
        "tools/call",
        Some("slow"),
        body,
    ));
    eventually("the backend got the request", || {
        seen.started.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(watched.gateway.in_flight().current(), 1);
    client.abort();
    eventually("the backend request was abandoned", || {
        seen.abandoned.load(Ordering::SeqCst) == 1
    })
    .await;
    eventually("the call left the in-flight count", || {
        watched.gateway.in_flight().current() == 0
    })
    .await;
    let metrics = watched.metrics.encode();
    assert!(metrics.contains("toolgate_calls_in_flight 0"), "{metrics}");
    assert!(
        metrics.contains(
            r#"toolgate_calls_total{method="tools/call",tool="slow",outcome="dropped"} 1"#
        ),
        "{metrics}"
    );
    assert_eq!(watched.fast_path_calls(), 1);
}

/// A legacy client cancels with `notifications/cancelled` in its session: the fast path's
/// call is cancelled (the backend request aborted) without waking the session's worker.
#[tokio::test]
async fn a_legacy_cancellation_stops_a_fast_path_call_in_its_session() {
    let (url, watched, seen) = gateway(SessionModeConfig::Stateful).await;
    let client = Arc::new(LegacyClient::connect(&url).await);
    let pending = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .post(r#"{"jsonrpc":"2.0","id":"call-1","method":"tools/call","params":{"name":"slow"}}"#)
                .await
        })
    };
    eventually("the backend got the request", || {
        seen.started.load(Ordering::SeqCst) == 1
    })
    .await;
    // Another session cannot cancel it, nor can an id of another type.
    let other = LegacyClient::connect(&url).await;
    let cancel = |id: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{id},"reason":"user"}}}}"#
        )
    };
    assert_eq!(other.post(&cancel(r#""call-1""#)).await.0, 202);
    assert_eq!(client.post(&cancel("1")).await.0, 202);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(seen.abandoned.load(Ordering::SeqCst), 0);
    assert_eq!(watched.gateway.in_flight().current(), 1);

    let (status, _) = client.post(&cancel(r#""call-1""#)).await;
    assert_eq!(status, 202);
    eventually("the backend request was abandoned", || {
        seen.abandoned.load(Ordering::SeqCst) == 1
    })
    .await;
    let (status, answer) = pending.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    eventually("the call left the in-flight count", || {
        watched.gateway.in_flight().current() == 0
    })
    .await;
    let metrics = watched.metrics.encode();
    assert!(
        metrics.contains(
            r#"toolgate_calls_total{method="tools/call",tool="slow",outcome="cancelled"} 1"#
        ),
        "{metrics}"
    );
}
