//! Rate limits end to end: both server paths are limited; three `toolgate` processes share
//! one Redis and together admit no more than the configured limit; and a Redis outage is
//! served per `on_unavailable` (fail_open keeps serving, fail_closed refuses) and recovered
//! from without restarting the gateways.
//!
//! Redis tests use the machine's Redis at 127.0.0.1:6379 (with a unique key prefix) or their
//! own `redis-server` on a free port; both are required under `CI=true` or
//! `TOOLGATE_REQUIRE_TEST_DEPS=1` and skipped otherwise.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::clients::{LegacyClient, MODERN_META, modern_post};
use serde_json::Value;
use toolgate::config::SessionModeConfig;

/// A `tools/call` of `list_users` on the fast path (2026-07-28, complete `_meta`).
fn modern_call(id: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"list_users","arguments":{{}},{MODERN_META}}}}}"#
    )
}

/// The refusal text and `_meta.retryAfter` of a refused call's JSON-RPC answer, or `None`
/// when the call succeeded.
fn refusal(answer: &Value) -> Option<(String, Option<u64>)> {
    let result = &answer["result"];
    if result["isError"] != true {
        assert!(result.is_object(), "not a tool result: {answer}");
        return None;
    }
    let text = result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Some((text, result["_meta"]["retryAfter"].as_u64()))
}

/// The sum of a metric's samples whose line starts with `prefix` in a `/metrics` text.
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn fast_path_and_rmcp_path_calls_are_both_limited() {
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    tokio::spawn(todo_api::serve(api));
    let mut config = common::todo_config(api_addr, SessionModeConfig::Stateful);
    config.rate_limits = serde_json::from_value(serde_json::json!({
        "limits": [{"name": "per-caller", "per": ["subject", "tool"], "rate": "2/min"}]
    }))
    .unwrap();
    let (url, watched) = common::serve_config_with_gateway(config).await;

    // The fast path: two calls pass, the third is refused with when to retry.
    let mut answers = Vec::new();
    for id in 1..=3 {
        let (status, body) =
            modern_post(&url, "tools/call", Some("list_users"), modern_call(id)).await;
        assert_eq!(status, 200, "{body}");
        answers.push(refusal(&body));
    }
    assert!(watched.fast_path_calls() >= 3, "the fast path served them");
    assert_eq!(answers[0], None);
    assert_eq!(answers[1], None);
    let (text, retry_after) = answers[2].clone().expect("the third call is refused");
    assert!(
        text.starts_with(
            "rate limit for `list_users`: 2/min per caller and tool (limit `per-caller`). Retry after "
        ),
        "{text}"
    );
    let retry_after = retry_after.expect("retryAfter in _meta");
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    assert!(
        text.contains(&format!("Retry after {retry_after} s.")),
        "{text}"
    );

    // rmcp's path (a 2025-11-25 session; a request with `_meta` never takes the fast path):
    // a caller of its own (its session), limited alike.
    let fast_before = watched.fast_path_calls();
    let legacy = LegacyClient::connect(&url).await;
    let mut answers = Vec::new();
    for id in 1..=3 {
        let (status, body) = legacy
            .post(&format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"list_users","arguments":{{}},"_meta":{{"progressToken":{id}}}}}}}"#
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        answers.push(refusal(&body));
    }
    assert_eq!(
        watched.fast_path_calls(),
        fast_before,
        "rmcp's path served these"
    );
    assert_eq!(answers[0], None);
    assert_eq!(answers[1], None);
    let (text, retry_after) = answers[2].clone().expect("the third call is refused");
    assert!(text.contains("(limit `per-caller`)"), "{text}");
    assert!(retry_after.is_some());

    let text = watched.metrics.encode();
    assert_eq!(
        metric(
            &text,
            r#"toolgate_rate_limit_decisions_total{limit="per-caller",outcome="limited"}"#
        ),
        2.0,
        "{text}"
    );
    // Listings are not limited.
    let (_, list) = legacy
        .post(r#"{"jsonrpc":"2.0","id":9,"method":"tools/list","params":{}}"#)
        .await;
    assert!(list["result"]["tools"].is_array(), "{list}");
}

// ---- gateways as processes, sharing Redis ----

/// A `toolgate serve` child process: its MCP URL, metrics URL and output.
struct Gateway {
    mcp: String,
    metrics_url: String,
    _guard: common::Guard,
    output: common::Captured,
}

impl Gateway {
    async fn metrics(&self) -> String {
        match reqwest::get(&self.metrics_url).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }
}

/// The configuration of a gateway over the Todo API at `api`, with `rate_limits` as given.
fn gateway_config(api: SocketAddr, rate_limits: &str) -> String {
    format!(
        "http:\n  bind: 127.0.0.1:0\nlogging:\n  level: info\nrate_limits:\n{rate_limits}\nsources:\n  - name: todo\n    spec: http://{api}/openapi.json\n    base_url: http://{api}\n"
    )
}

/// Starts `toolgate serve --config` with `config` (written into `dir`).
fn start_gateway(dir: &std::path::Path, name: &str, config: &str) -> Gateway {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, config).unwrap();
    let mut command = Command::new(common::TOOLGATE_BIN);
    command.args(["serve", "--config", file.to_str().unwrap()]);
    let (guard, rest, output) = common::spawn_capturing(command, "tools at ")
        .unwrap_or_else(|e| panic!("gateway {name} did not start: {e}"));
    let mcp = rest.trim().to_owned();
    let base = mcp.trim_end_matches("/mcp");
    Gateway {
        metrics_url: format!("{base}/metrics"),
        mcp,
        _guard: guard,
        output,
    }
}

/// POSTs a 2026-07-28 `tools/call` of `list_users` with `http`: the parsed answer.
async fn post(http: &reqwest::Client, url: &str, body: String) -> Value {
    let resp = http
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "list_users")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// A key prefix no other test (or run) uses.
fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("toolgate-e2e-{test}-{}-{nanos}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_sharing_redis_admit_no_more_than_the_limit() {
    if !common::service_reachable("Redis", "127.0.0.1:6379") {
        return;
    }
    const RATE: f64 = 20.0;
    const BURST: f64 = 10.0;
    const RUN: Duration = Duration::from_secs(6);
    let api = common::todo_api_thread();
    let dir = tempfile::tempdir().unwrap();
    // What is measured is the shared limit itself, so the gateways run `fail_closed`: a
    // decision Redis cannot make in time is refused, never admitted by a local limiter
    // (with `fail_open` each gateway's own limiter would admit its own burst during such a
    // moment, the documented cost of failing open). The budget is generous (250 ms, against
    // 5 ms by default) because this machine is shared and busy.
    let limits = format!(
        "  backend:\n    type: redis\n    url: redis://127.0.0.1:6379\n    prefix: {}\n    timeout_ms: 250\n    on_unavailable: fail_closed\n  limits:\n    - name: shared\n      per: [global]\n      rate: {RATE}/s\n      burst: {BURST}\n",
        unique_prefix("three")
    );
    let config = gateway_config(api, &limits);
    let gateways: Vec<Gateway> = (0..3)
        .map(|i| start_gateway(dir.path(), &format!("g{i}"), &config))
        .collect();
    let urls: Vec<String> = gateways.iter().map(|g| g.mcp.clone()).collect();

    // Six clients, each sending its calls round-robin over the three gateways on kept-alive
    // connections, as fast as they are answered: far more than 20 calls/s.
    let started = Instant::now();
    let clients = (0..6).map(|c| {
        let urls = urls.clone();
        let http = reqwest::Client::new();
        tokio::spawn(async move {
            let (mut admitted, mut limited, mut i) = (0u64, 0u64, c as u64);
            while started.elapsed() < RUN {
                let url = &urls[(i % 3) as usize];
                i += 1;
                let body = post(&http, url, modern_call(i)).await;
                match refusal(&body) {
                    None => admitted += 1,
                    Some((text, _)) => {
                        assert!(text.contains("limit `shared`"), "{text}");
                        limited += 1;
                    }
                }
            }
            (admitted, limited)
        })
    });
    let (mut admitted, mut limited) = (0, 0);
    for c in futures::future::join_all(clients).await {
        let (a, l) = c.unwrap();
        admitted += a;
        limited += l;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // GCRA: over any window of length W at most burst + W × rate pass. The window the
    // limiter saw (Redis's clock) lies inside the one measured here.
    let bound = BURST + RATE * elapsed;
    let over = (admitted as f64 - bound).max(0.0) / bound;
    let (mut unavailable, mut per_gateway) = (0.0, Vec::new());
    for g in &gateways {
        let text = g.metrics().await;
        unavailable += metric(
            &text,
            r#"toolgate_rate_limit_decisions_total{limit="shared",outcome="unavailable"}"#,
        );
        per_gateway.push(metric(
            &text,
            r#"toolgate_rate_limit_decisions_total{limit="shared",outcome="allowed"}"#,
        ));
    }
    println!(
        "three gateways, one Redis: {admitted} admitted, {limited} limited in {elapsed:.2} s; \
         bound {bound:.1}; over the limit {:.2} %; refused because Redis was late {unavailable}; \
         admitted per gateway {per_gateway:?}",
        over * 100.0
    );
    assert!(
        limited > 0,
        "the load must exceed the limit for this test to mean anything"
    );
    assert!(
        per_gateway.iter().all(|&n| n > 0.0),
        "every gateway served: {per_gateway:?}"
    );
    assert!(
        over <= 0.01,
        "{admitted} admitted against a bound of {bound:.1}: {:.2} % over\n{}",
        over * 100.0,
        gateways[0].output.all()
    );
}

// ---- a Redis outage ----

/// A `redis-server` of this test's own, on `port`, without persistence.
struct OwnRedis(Child);

impl OwnRedis {
    fn start(binary: &std::path::Path, port: u16) -> OwnRedis {
        let child = Command::new(binary)
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--bind", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis(child)
    }

    fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `redis-server` binary, or `None` (panicking under CI).
fn redis_server() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("redis-server"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            !common::in_ci(),
            "redis-server is not installed (required under CI=true): apt-get install redis-server"
        );
        eprintln!("SKIPPED (dependency missing): redis-server");
    }
    found
}

/// Decisions Redis answered for `g`.
async fn answered(g: &Gateway) -> f64 {
    metric(
        &g.metrics().await,
        "toolgate_rate_limit_redis_decision_seconds_count",
    )
}

/// Calls `list_users` once: `None` when it passed, else the refusal text.
async fn call_once(url: &str) -> Option<String> {
    let (status, body) = modern_post(url, "tools/call", Some("list_users"), modern_call(1)).await;
    assert_eq!(status, 200, "{body}");
    refusal(&body).map(|(text, _)| text)
}

/// Calls every 100 ms until `done` says the answer is the expected one; panics after 60 s.
async fn until(url: &str, what: &str, done: impl Fn(&Option<String>) -> bool) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = call_once(url).await;
        if done(&answer) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "never {what}; last answer {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_is_served_per_policy_and_recovered_without_restart() {
    let Some(binary) = redis_server() else {
        return;
    };
    let port = common::free_port();
    let redis = OwnRedis::start(&binary, port);
    let api = common::todo_api_thread();
    let dir = tempfile::tempdir().unwrap();
    // A limit far above what this test sends: only availability is under test.
    let limits = |policy: &str| {
        format!(
            "  backend:\n    type: redis\n    url: redis://127.0.0.1:{port}\n    prefix: {}\n    timeout_ms: 100\n    on_unavailable: {policy}\n  limits:\n    - name: wide\n      per: [subject]\n      rate: 1000/s\n",
            unique_prefix(policy)
        )
    };
    let open = start_gateway(
        dir.path(),
        "open",
        &gateway_config(api, &limits("fail_open")),
    );
    let closed = start_gateway(
        dir.path(),
        "closed",
        &gateway_config(api, &limits("fail_closed")),
    );

    // Redis up: both serve, decided by Redis.
    until(&open.mcp, "served with Redis up", Option::is_none).await;
    until(&closed.mcp, "served with Redis up", Option::is_none).await;
    assert!(answered(&open).await >= 1.0 && answered(&closed).await >= 1.0);

    // Redis down: fail_open keeps serving with its local limiter, fail_closed refuses.
    redis.kill();
    let refused = until(&closed.mcp, "refused with Redis down", Option::is_some)
        .await
        .unwrap();
    assert!(refused.contains("store is unavailable"), "{refused}");
    for _ in 0..5 {
        assert_eq!(
            call_once(&open.mcp).await,
            None,
            "fail_open serves without Redis"
        );
    }
    let open_metrics = open.metrics().await;
    assert!(
        metric(&open_metrics, "toolgate_rate_limit_redis_fallbacks_total") >= 5.0,
        "{open_metrics}"
    );
    assert!(metric(&open_metrics, "toolgate_rate_limit_redis_errors_total") >= 5.0);
    let closed_metrics = closed.metrics().await;
    assert!(
        metric(
            &closed_metrics,
            r#"toolgate_rate_limit_decisions_total{limit="wide",outcome="unavailable"}"#
        ) >= 1.0,
        "{closed_metrics}"
    );

    // Redis back on the same port: both gateways use it again, without a restart.
    let answered_before = (answered(&open).await, answered(&closed).await);
    let _redis = OwnRedis::start(&binary, port);
    until(
        &closed.mcp,
        "served again after Redis restarted",
        Option::is_none,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered(&open).await <= answered_before.0 {
        assert!(
            Instant::now() < deadline,
            "fail_open never went back to Redis\n{}",
            open.output.all()
        );
        assert_eq!(call_once(&open.mcp).await, None);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered(&closed).await > answered_before.1);
    // The outage and the recovery were logged (the warning at most every 10 s).
    let logs = open.output.all();
    assert!(logs.contains("rate limit store unavailable"), "{logs}");
    assert!(logs.contains("rate limit store answering again"), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
}

// ---- HTTP request limits (`rate_limits.http`) ----

/// POSTs a 2026-07-28 `tools/call` of `list_users` with `http`: the status, the
/// `Retry-After` header and the parsed body.
async fn post_raw(http: &reqwest::Client, url: &str, id: u64) -> (u16, Option<String>, Value) {
    let resp = http
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "list_users")
        .body(modern_call(id))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        retry_after,
        resp.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn requests_over_the_per_connection_limit_are_answered_429_with_retry_after() {
    let api = common::todo_api_thread();
    let dir = tempfile::tempdir().unwrap();
    let config = gateway_config(
        api,
        "  http:\n    per_connection: { rate: 3/min, burst: 3 }\n",
    );
    let gateway = start_gateway(dir.path(), "http-limits", &config);
    // One client, one kept-alive connection, requests one after the other.
    let one_connection = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    for id in 1..=3 {
        let (status, retry_after, body) = post_raw(&one_connection, &gateway.mcp, id).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(retry_after, None);
        assert!(refusal(&body).is_none(), "{body}");
    }
    let (status, retry_after, body) = post_raw(&one_connection, &gateway.mcp, 4).await;
    assert_eq!(status, 429, "{body}");
    let retry_after: u64 = retry_after
        .expect("a Retry-After header")
        .parse()
        .expect("whole seconds");
    // 3/min: the next cell is free 20 s after the first request.
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert_eq!(body["id"], Value::Null, "{body}");
    assert_eq!(body["error"]["data"]["kind"], "rejected", "{body}");
    assert_eq!(body["error"]["data"]["retryAfter"], retry_after, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert_eq!(
        message,
        format!(
            "too many requests from this connection: at most 3/min with bursts of 3 (`rate_limits.http.per_connection`). Retry after {retry_after} s."
        )
    );

    // Another connection has an allowance of its own.
    let (status, _, body) = post_raw(&reqwest::Client::new(), &gateway.mcp, 5).await;
    assert_eq!(status, 200, "{body}");

    // Probes and metrics are not limited.
    for _ in 0..5 {
        let status = one_connection
            .get(gateway.mcp.replace("/mcp", "/healthz"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    let text = gateway.metrics().await;
    assert_eq!(
        metric(
            &text,
            r#"toolgate_http_requests_refused_total{per="connection"}"#
        ),
        1.0,
        "{text}"
    );
    // The refused request never reached the pipeline: four calls counted, not five… plus the
    // one from the other connection.
    assert_eq!(
        metric(&text, "toolgate_calls_total{"),
        4.0,
        "{text}\n{}",
        gateway.output.all()
    );
}
