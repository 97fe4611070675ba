//! The load generator against real servers on loopback: the echo MCP server in-process over
//! streamable HTTP, `bench-servers echo-mcp` over stdio, and the bench backend directly.
//! Counts are asserted exactly. Timings are not measured here: the only time checks are
//! lower bounds on elapsed time (a paced or fixed-duration run cannot end early).

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::serve::ListenerExt as _;
use clap::Parser;
use tokio_util::sync::CancellationToken;
use toolgate_bench::{BenchArgs, Report};

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    args: BenchArgs,
}

fn args(argv: &[&str]) -> BenchArgs {
    let mut full = vec!["toolgate-bench"];
    full.extend_from_slice(argv);
    Cli::try_parse_from(full).expect("valid arguments").args
}

async fn run(argv: &[&str]) -> Report {
    toolgate_bench::run(&args(argv))
        .await
        .expect("benchmark runs")
}

async fn serve(router: axum::Router) -> SocketAddr {
    serve_counting(router, Arc::default()).await
}

/// Serves `router`, counting accepted connections in `accepted`.
async fn serve_counting(router: axum::Router, accepted: Arc<AtomicUsize>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = listener.tap_io(move |tcp| {
        accepted.fetch_add(1, Ordering::SeqCst);
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

async fn echo_server(stateful: bool, json_response: bool) -> String {
    let shutdown = CancellationToken::new();
    let router = toolgate_bench::echo::http_router(stateful, json_response, &shutdown);
    // The token must outlive the test's server.
    std::mem::forget(shutdown);
    format!("http://{}/mcp", serve(router).await)
}

async fn backend() -> String {
    format!(
        "http://{}",
        serve(toolgate_bench::backend::router(None)).await
    )
}

fn assert_all_ok(report: &Report, calls: u64) {
    assert_eq!(report.calls, calls, "{report:#?}");
    assert_eq!(report.ok, calls, "{report:#?}");
    assert_eq!(report.errors.total, 0, "{report:#?}");
    assert!(report.latency_us.is_some());
    assert!(report.succeeded());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_http_makes_exactly_the_calls_asked_for() {
    let url = echo_server(false, true).await;
    let report = run(&[
        "--url",
        &url,
        "--tool",
        "echo",
        "--args",
        r#"{"x":1}"#,
        "--calls",
        "57",
        "--concurrency",
        "4",
    ])
    .await;
    assert_all_ok(&report, 57);
    assert_eq!(report.target.mode.as_deref(), Some("stateless"));
    assert_eq!(report.tools, vec!["echo"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_mode_initializes_each_connection_and_calls() {
    let url = echo_server(true, true).await;
    let report = run(&[
        "--url",
        &url,
        "--mode",
        "session",
        "--tool",
        "echo",
        "--calls",
        "40",
        "--concurrency",
        "3",
    ])
    .await;
    assert_all_ok(&report, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_answers_are_read_in_both_modes() {
    let url = echo_server(true, false).await;
    for mode in ["stateless", "session"] {
        let report = run(&[
            "--url",
            &url,
            "--mode",
            mode,
            "--tool",
            "echo",
            "--calls",
            "25",
            "--concurrency",
            "2",
        ])
        .await;
        assert_all_ok(&report, 25);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_answers_do_not_cost_a_reconnect_per_call() {
    // Regression: the connection was dropped after every SSE answer (the stream's final
    // chunk was not read), so session-mode figures included a TCP connect per call.
    let accepted = Arc::new(AtomicUsize::new(0));
    let shutdown = CancellationToken::new();
    let router = toolgate_bench::echo::http_router(true, false, &shutdown);
    std::mem::forget(shutdown);
    let url = format!(
        "http://{}/mcp",
        serve_counting(router, accepted.clone()).await
    );
    let report = run(&[
        "--url",
        &url,
        "--mode",
        "session",
        "--tool",
        "echo",
        "--calls",
        "50",
        "--concurrency",
        "2",
    ])
    .await;
    assert_all_ok(&report, 50);
    // Two workers' connections, plus one per session DELETE at most.
    assert!(
        accepted.load(Ordering::SeqCst) <= 4,
        "{} connections",
        accepted.load(Ordering::SeqCst)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_errors_and_json_rpc_errors_are_counted_by_kind() {
    let url = echo_server(false, true).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("calls.jsonl");
    let mut f = std::fs::File::create(&file).unwrap();
    writeln!(f, r#"{{"name": "echo", "arguments": {{"n": 1}}}}"#).unwrap();
    writeln!(f, r#"{{"name": "fail"}}"#).unwrap();
    writeln!(f).unwrap();
    writeln!(f, r#"{{"name": "nope", "arguments": {{}}}}"#).unwrap();
    drop(f);
    let report = run(&[
        "--url",
        &url,
        "--calls-file",
        file.to_str().unwrap(),
        "--calls",
        "30",
    ])
    .await;
    assert_eq!(report.calls, 30);
    assert_eq!(report.ok, 10);
    assert_eq!(report.errors.total, 20);
    assert_eq!(report.errors.by_kind["tool_error"], 10);
    assert_eq!(report.errors.by_kind["jsonrpc_-32602"], 10);
    assert!(report.errors.examples["jsonrpc_-32602"].contains("unknown tool"));
    assert_eq!(report.tools, vec!["echo", "fail", "nope"]);
    // Answered errors still have a latency.
    assert!(report.latency_us.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_statuses_and_dead_targets_are_errors_not_failures_to_run() {
    let base = backend().await;
    // POST to a GET-only route: 405 on every call.
    let report = run(&[
        "--url",
        &format!("{base}/items/1"),
        "--tool",
        "echo",
        "--calls",
        "5",
    ])
    .await;
    assert_eq!(report.errors.by_kind["http_405"], 5);
    assert!(!report.succeeded());

    // Nothing listens: every call is a transport error, with no latency.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let report = run(&["--direct-http", &dead, "--calls", "3"]).await;
    assert_eq!(report.errors.by_kind["transport"], 3);
    assert!(report.latency_us.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_http_baseline_counts_calls_and_bytes() {
    let base = backend().await;
    let report = run(&[
        "--direct-http",
        &format!("{base}/items/7"),
        "--calls",
        "100",
        "--concurrency",
        "5",
    ])
    .await;
    assert_all_ok(&report, 100);
    assert_eq!(report.method, None);
    assert_eq!(
        report.response_bytes_mean,
        Some(toolgate_bench::backend::ITEM_JSON.len() as f64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_sends_the_scheduled_calls_after_warmup() {
    let url = echo_server(false, true).await;
    let report = run(&[
        "--url",
        &url,
        "--tool",
        "echo",
        "--rate",
        "400",
        "--warmup",
        "0.05",
        "--calls",
        "30",
        "--concurrency",
        "2",
    ])
    .await;
    assert_all_ok(&report, 30);
    assert_eq!(report.load, "open");
    // 30 calls at 400/s cannot take much less than 30/400 s.
    assert!(report.elapsed_s >= 0.06, "{}", report.elapsed_s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_mode_stops_by_itself() {
    let base = backend().await;
    let report = run(&[
        "--direct-http",
        &format!("{base}/items/1"),
        "--duration",
        "0.3",
        "--warmup",
        "0.1",
    ])
    .await;
    assert!(report.calls > 0);
    assert_eq!(report.errors.total, 0);
    assert!(report.elapsed_s >= 0.3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bare_forwarder_passes_requests_and_answers_through() {
    use toolgate_bench::forward::{ClientKind, router};
    let base = backend().await;
    for client in [ClientKind::Inline, ClientKind::Pooled] {
        let forward = serve(router(&base, client).unwrap()).await;
        let report = run(&[
            "--direct-http",
            &format!("http://{forward}/items/7"),
            "--calls",
            "50",
            "--concurrency",
            "4",
        ])
        .await;
        assert_all_ok(&report, 50);
        assert_eq!(
            report.response_bytes_mean,
            Some(toolgate_bench::backend::ITEM_JSON.len() as f64),
            "{client:?}"
        );
        // Statuses pass through; a dead upstream is a 502.
        let report = run(&[
            "--direct-http",
            &format!("http://{forward}/nope"),
            "--calls",
            "2",
        ])
        .await;
        assert_eq!(report.errors.total, 2, "{client:?}");
        let dead = serve(router("http://127.0.0.1:1", client).unwrap()).await;
        let report = run(&[
            "--direct-http",
            &format!("http://{dead}/items/1"),
            "--calls",
            "1",
        ])
        .await;
        assert_eq!(report.errors.total, 1, "{client:?}");
        assert_eq!(report.errors.by_kind["http_502"], 1, "{client:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_server_is_spawned_initialized_and_multiplexed() {
    let command = format!("{} echo-mcp --stdio", env!("CARGO_BIN_EXE_bench-servers"));
    let report = run(&[
        "--stdio",
        &command,
        "--tool",
        "echo",
        "--args",
        r#"{"k":"v"}"#,
        "--calls",
        "64",
        "--concurrency",
        "8",
    ])
    .await;
    assert_all_ok(&report, 64);
    let startup = report.startup.as_ref().expect("stdio start-up is timed");
    assert_eq!(startup.tools, Some(2));
    assert!(startup.first_tools_list_ms >= startup.initialize_ms);
    assert!(startup.tools_list_bytes > 0);
    if cfg!(target_os = "linux") {
        let server = report.server.as_ref().expect("child pid known");
        assert!(server.peak_rss_kb.unwrap() > 0);
    }

    let report = run(&[
        "--stdio",
        &command,
        "--method",
        "tools/list",
        "--calls",
        "5",
    ])
    .await;
    assert_all_ok(&report, 5);
    assert_eq!(report.method.as_deref(), Some("tools/list"));

    // Answers over stdio are classified by the reader: tool errors and JSON-RPC errors count
    // by kind there as over HTTP.
    let report = run(&["--stdio", &command, "--tool", "fail", "--calls", "4"]).await;
    assert_eq!((report.calls, report.ok), (4, 0));
    assert_eq!(report.errors.by_kind["tool_error"], 4);
    let report = run(&["--stdio", &command, "--tool", "nope", "--calls", "3"]).await;
    assert_eq!(report.errors.by_kind["jsonrpc_-32602"], 3);

    let err = toolgate_bench::run(&args(&[
        "--stdio",
        "/nonexistent/server",
        "--calls",
        "1",
        "--tool",
        "x",
    ]))
    .await
    .unwrap_err();
    assert!(err.to_string().contains("cannot start"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_opened_measured_and_closed() {
    let url = echo_server(true, true).await;
    let pid = std::process::id().to_string();
    let report = run(&[
        "--url",
        &url,
        "--mode",
        "session",
        "--idle-sessions",
        "20",
        "--concurrency",
        "4",
        "--hold",
        "0",
        "--server-pid",
        &pid,
    ])
    .await;
    let idle = report.idle_sessions.as_ref().expect("idle-session report");
    assert_eq!(idle.opened, 20);
    assert_eq!(idle.failed, 0);
    assert!(idle.session_ids);
    if cfg!(target_os = "linux") {
        assert!(idle.bytes_per_session.is_some());
    }
    assert!(report.succeeded());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_report_has_the_documented_shape() {
    let url = echo_server(false, true).await;
    let report = run(&[
        "--url", &url, "--tool", "echo", "--calls", "10", "--label", "shape",
    ])
    .await;
    let v = serde_json::to_value(&report).unwrap();
    for key in [
        "label",
        "target",
        "method",
        "tools",
        "concurrency",
        "load",
        "rate",
        "warmup_s",
        "elapsed_s",
        "calls",
        "ok",
        "errors",
        "calls_per_s",
        "latency_us",
        "response_bytes_mean",
        "server",
        "client",
        "startup",
        "idle_sessions",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["label"], "shape");
    assert_eq!(v["target"]["kind"], "http");
    assert_eq!(v["calls"], 10);
    for p in ["min", "mean", "p50", "p90", "p99", "p999", "max"] {
        assert!(v["latency_us"][p].is_number(), "latency_us.{p} in {v}");
    }
    assert!(v["errors"]["by_kind"].is_object());
    assert!(
        report.render_human().contains("10 calls") || report.render_human().contains("calls    10")
    );
}

#[tokio::test]
async fn bad_arguments_are_usage_errors() {
    for argv in [
        vec!["--url", "http://127.0.0.1:1/mcp"],
        vec!["--url", "https://example.invalid/mcp", "--tool", "x"],
        vec![
            "--url",
            "http://127.0.0.1:1/mcp",
            "--tool",
            "x",
            "--args",
            "[1]",
        ],
        vec!["--direct-http", "http://127.0.0.1:1/", "--concurrency", "0"],
        vec!["--url", "http://127.0.0.1:1/mcp", "--idle-sessions", "3"],
    ] {
        let err = toolgate_bench::run(&args(&argv)).await.unwrap_err();
        assert!(
            matches!(err, toolgate_bench::BenchError::Usage(_)),
            "{argv:?}: {err}"
        );
    }
    // Exactly one target.
    assert!(Cli::try_parse_from(["t", "--tool", "x"]).is_err());
    assert!(Cli::try_parse_from(["t", "--url", "http://a/", "--stdio", "x"]).is_err());
}
