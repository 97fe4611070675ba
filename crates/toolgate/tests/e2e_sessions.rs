//! Legacy (2025-11-25) sessions over streamable HTTP: the fast path answers session-mode
//! `tools/call`/`tools/list` exactly as rmcp does, only for live sessions, and keeps them
//! alive; idle sessions are closed after the configured timeout.

mod common;

use std::time::Duration;

use toolgate::config::SessionModeConfig;

use common::clients::LegacyClient;

async fn session_gateway(
    api_addr: std::net::SocketAddr,
    fast_path: bool,
    idle_timeout_s: u64,
) -> (String, common::Watched) {
    let mut config = common::todo_config(api_addr, SessionModeConfig::Stateful);
    config.http.fast_path = fast_path;
    config.http.session_idle_timeout_seconds = idle_timeout_s;
    common::serve_config_with_gateway(config).await
}

#[tokio::test]
async fn session_fast_path_answers_exactly_like_rmcp() {
    let stack = common::start(SessionModeConfig::Stateful).await;
    let (fast_url, fast_gw) = session_gateway(stack.api_addr, true, 300).await;
    let (slow_url, slow_gw) = session_gateway(stack.api_addr, false, 300).await;
    let fast = LegacyClient::connect(&fast_url).await;
    let slow = LegacyClient::connect(&slow_url).await;
    // (body, served by the fast path)
    let cases = [
        (r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, true),
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#,
            true,
        ),
        (
            r#"{"jsonrpc":"2.0","id":"s-3","method":"tools/call","params":{"name":"list_users","arguments":{}}}"#,
            true,
        ),
        (
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"list_users"}}"#,
            true,
        ),
        (
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"nope"}}"#,
            true,
        ),
        (
            r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"get_task","arguments":{"task_id":"00000000-0000-4000-8000-000000000000"}}}"#,
            true,
        ),
        (
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"create_user","arguments":{"name":5}}}"#,
            true,
        ),
        (
            r#"{"jsonrpc":"2.0","id":8,"method":"tools/list","params":{"cursor":"bogus"}}"#,
            true,
        ),
        // Not qualifying: left to rmcp on both sides.
        (
            r#"{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"list_users","_meta":{"progressToken":"p"}}}"#,
            false,
        ),
        (r#"{"jsonrpc":"2.0","id":11,"method":"ping"}"#, false),
        (
            r#"{"jsonrpc":"2.0","id":12,"method":"resources/list"}"#,
            false,
        ),
        (
            r#"{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"list_users","arguments":[1]}}"#,
            false,
        ),
        (
            r#"{"jsonrpc":"2.0","id":null,"method":"tools/list"}"#,
            false,
        ),
    ];
    let mut expected_fast = 0;
    for (body, qualifies) in cases {
        let f = fast.post(body).await;
        let s = slow.post(body).await;
        assert_eq!(f, s, "fast path and rmcp disagree on {body}");
        if qualifies {
            expected_fast += 1;
        }
        assert_eq!(fast_gw.fast_path_calls(), expected_fast, "after {body}");
    }
    assert_eq!(slow_gw.fast_path_calls(), 0);
}

#[tokio::test]
async fn unknown_and_deleted_sessions_get_404_on_the_fast_path() {
    let stack = common::start(SessionModeConfig::Stateful).await;
    let (url, gateway) = session_gateway(stack.api_addr, true, 300).await;
    let client = LegacyClient::connect(&url).await;
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    assert_eq!(client.post(list).await.0, 200);
    assert_eq!(gateway.fast_path_calls(), 1);

    let stranger = LegacyClient {
        session: "not-a-session".to_owned(),
        url: url.clone(),
        http: reqwest::Client::new(),
    };
    assert_eq!(stranger.post(list).await.0, 404);

    assert_eq!(client.delete().await, 204);
    assert_eq!(client.post(list).await.0, 404);
    assert_eq!(gateway.fast_path_calls(), 1, "404s come from rmcp");
}

#[tokio::test]
async fn fast_path_calls_keep_a_session_alive_and_idle_sessions_close() {
    let stack = common::start(SessionModeConfig::Stateful).await;
    let (url, gateway) = session_gateway(stack.api_addr, true, 1).await;
    let busy = LegacyClient::connect(&url).await;
    let idle = LegacyClient::connect(&url).await;
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_users"}}"#;
    // 2.5 idle timeouts of calls that never reach rmcp's session worker.
    for _ in 0..10 {
        assert_eq!(busy.post(call).await.0, 200);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(gateway.fast_path_calls(), 10);
    assert_eq!(
        busy.post(call).await.0,
        200,
        "the busy session is still open"
    );
    assert_eq!(idle.post(call).await.0, 404, "the idle session was closed");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(busy.post(call).await.0, 404, "closed once idle too");
}

/// A session-mode gateway whose session table the test can watch.
async fn watched_gateway(
    api_addr: std::net::SocketAddr,
) -> (String, std::sync::Arc<toolgate_server::Sessions>) {
    let config = common::todo_config(api_addr, SessionModeConfig::Stateful);
    let assembled = toolgate::run::assemble(&config, std::path::Path::new("."))
        .await
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sessions = toolgate_server::Sessions::new(Duration::from_secs(300), shutdown.clone());
    let app = toolgate_server::mcp_router_with_sessions(
        assembled.gateway.clone(),
        &toolgate::run::http_options(&config),
        toolgate_server::EdgeAuth::Off,
        shutdown,
        Some(sessions.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/mcp"), sessions)
}

/// Waits until `sessions` has `workers` running workers (at most 10 s).
async fn wait_for_workers(sessions: &toolgate_server::Sessions, workers: usize) {
    for _ in 0..200 {
        if sessions.running_workers().await == workers {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "expected {workers} running session workers, found {}",
        sessions.running_workers().await
    );
}

#[tokio::test]
async fn idle_sessions_hibernate_and_wake_up_transparently() {
    let stack = common::start(SessionModeConfig::Stateful).await;
    let (url, sessions) = watched_gateway(stack.api_addr).await;
    let a = LegacyClient::connect(&url).await;
    let b = LegacyClient::connect(&url).await;
    // The handshake done, both workers stop at once; both sessions stay open.
    assert_eq!((sessions.len(), sessions.running_workers().await), (2, 0));

    // The fast path serves a hibernating session without waking it.
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_users"}}"#;
    let (status, answer) = a.post(call).await;
    assert_eq!(status, 200);
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    assert_eq!(sessions.running_workers().await, 0);

    // A request only rmcp serves wakes the worker (rmcp replays initialize) and is answered.
    let (status, answer) = a.post(r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#).await;
    assert_eq!((status, &answer["result"]), (200, &serde_json::json!({})));
    assert_eq!(sessions.running_workers().await, 1);
    let (status, answer) = a
        .post(r#"{"jsonrpc":"2.0","id":3,"method":"resources/list"}"#)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["result"]["resources"].is_array(), "{answer}");
    let (status, _) = b
        .post(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9}}"#)
        .await;
    assert_eq!(status, 202);
    // A cancellation cannot concern rmcp while the session's worker is stopped (nothing of
    // it runs there): it is acknowledged without waking the worker.
    assert_eq!(sessions.running_workers().await, 1);

    // Woken workers stop again after HIBERNATE_AFTER unused; deleting a hibernating
    // session ends it.
    wait_for_workers(&sessions, 0).await;
    assert_eq!(b.delete().await, 204);
    assert_eq!(sessions.len(), 1);
    assert_eq!(b.post(call).await.0, 404);
    assert_eq!(a.post(call).await.0, 200);
}

#[tokio::test]
async fn concurrent_requests_wake_a_hibernating_session_once_and_all_get_answers() {
    let stack = common::start(SessionModeConfig::Stateful).await;
    let (url, sessions) = watched_gateway(stack.api_addr).await;
    for round in 0..3 {
        let client = LegacyClient::connect(&url).await;
        // Requests only rmcp serves, all at once, while the worker is stopped.
        let mut pings = tokio::task::JoinSet::new();
        for i in 0..20 {
            let client = LegacyClient {
                url: client.url.clone(),
                session: client.session.clone(),
                http: client.http.clone(),
            };
            pings.spawn(async move {
                client
                    .post(&format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"ping"}}"#))
                    .await
            });
        }
        while let Some(answer) = pings.join_next().await {
            let (status, answer) = answer.unwrap();
            assert_eq!(status, 200, "round {round}: {answer}");
            assert_eq!(answer["result"], serde_json::json!({}), "round {round}");
        }
    }
    assert_eq!(sessions.len(), 3);
}
