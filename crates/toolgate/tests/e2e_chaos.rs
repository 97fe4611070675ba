//! Chaos against real HTTP backends (axum, in this process) through the gateway over HTTP, on
//! the fast path and on rmcp's path: a backend that goes down (connections refused), answers
//! slowly (past the source's timeout), flaps and returns 503 storms.
//!
//! What must hold: the circuit breaker opens on a failing backend and answers at once while
//! open (nothing reaches the backend), recovers through its probes once the backend is back;
//! retries never exceed the retry budget (counted at the backend); a request that is not
//! idempotent is never sent twice; the gateway stays up throughout; and, with the gateway as a
//! process of its own, its memory stays flat through round after round of all of it. Then
//! response size limits and the response cache against the same kind of backend.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use toolgate::config::{self, OpenApiSourceConfig, SourceConfig, SpecLocation};
use toolgate_policy::breaker::BreakerConfig;
use toolgate_policy::resilience::{ResilienceConfig, SourceResilience};
use toolgate_policy::retry::{RetryBudgetConfig, RetryConfig};

use common::clients::{MODERN_META, modern_post};

/// How the backend answers.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Ok,
    /// 503 to everything.
    Storm,
    /// Answers after 2 s (the source's timeout is 300 ms).
    Slow,
    /// Every third request gets a 503.
    Flap,
    /// A 200 of about 6 KB of JSON.
    Big,
    /// The same with `Cache-Control: no-store`.
    BigNoStore,
}

#[derive(Default)]
struct Counts {
    get: AtomicU32,
    post: AtomicU32,
}

/// A backend whose mode the test sets, that can be stopped (connections refused) and
/// started again on the same port.
struct Backend {
    addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    counts: Arc<Counts>,
    running: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

async fn answer(mode: Mode, n: u32) -> axum::response::Response {
    if matches!(mode, Mode::Big | Mode::BigNoStore) {
        let rows: Vec<String> = (0..500).map(|i| format!("row {i}")).collect();
        let mut r = axum::Json(json!({ "items": rows })).into_response();
        if mode == Mode::BigNoStore {
            r.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
        }
        return r;
    }
    let fail = match mode {
        Mode::Big | Mode::BigNoStore => false,
        Mode::Ok => false,
        Mode::Storm => true,
        Mode::Flap => n.is_multiple_of(3),
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            false
        }
    };
    if fail {
        (StatusCode::SERVICE_UNAVAILABLE, "overloaded").into_response()
    } else {
        axum::Json(json!({"items": [1, 2, 3]})).into_response()
    }
}

impl Backend {
    async fn start() -> Backend {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut b = Backend {
            addr: listener.local_addr().unwrap(),
            mode: Arc::new(Mutex::new(Mode::Ok)),
            counts: Arc::default(),
            running: None,
        };
        b.serve(listener);
        b
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (mode, counts) = (self.mode.clone(), self.counts.clone());
        let (m2, c2) = (self.mode.clone(), self.counts.clone());
        let app = axum::Router::new().route(
            "/items",
            axum::routing::get(move || {
                let n = counts.get.fetch_add(1, Ordering::SeqCst) + 1;
                let mode = *mode.lock().unwrap();
                answer(mode, n)
            })
            .post(move || {
                let n = c2.post.fetch_add(1, Ordering::SeqCst) + 1;
                let mode = *m2.lock().unwrap();
                answer(mode, n)
            }),
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        self.running = Some((tx, handle));
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Stops listening: new connections are refused.
    async fn down(&mut self) {
        if let Some((tx, handle)) = self.running.take() {
            let _ = tx.send(());
            let _ = handle.await;
        }
    }

    /// Listens again on the same port.
    async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    fn gets(&self) -> u32 {
        self.counts.get.load(Ordering::SeqCst)
    }

    fn posts(&self) -> u32 {
        self.counts.post.load(Ordering::SeqCst)
    }
}

/// An OpenAPI document with `GET /items` (`<prefix>_list`, idempotent) and `POST /items`
/// (`<prefix>_create`, not idempotent).
fn spec(prefix: &str) -> Value {
    let ok = json!({"200": {"description": "ok",
        "content": {"application/json": {"schema": {"type": "object"}}}}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": prefix, "version": "1"},
        "paths": {"/items": {
            "get": {"operationId": format!("{prefix}_list"), "responses": ok},
            "post": {"operationId": format!("{prefix}_create"), "responses": ok}
        }}
    })
}

fn source(name: &str, backend: &Backend) -> SourceConfig {
    let mut s = OpenApiSourceConfig {
        name: name.to_owned(),
        spec: SpecLocation::Inline { inline: spec(name) },
        base_url: Some(format!("http://{}", backend.addr)),
        compile: Default::default(),
        backend: Default::default(),
        tools: Default::default(),
        tool_mode: None,
    };
    s.backend.timeout_ms = 300;
    SourceConfig::from(s)
}

const OPEN_MS: u64 = 2_000;
const STORM_CALLS: u32 = 100;

fn resilience() -> ResilienceConfig {
    let retry = RetryConfig {
        max_attempts: 3,
        base_delay_ms: 5,
        max_delay_ms: 50,
        budget: RetryBudgetConfig {
            ratio: 0.2,
            min_per_second: 1,
            window_secs: 10,
        },
        ..RetryConfig::default()
    };
    let mut sources = BTreeMap::new();
    // The storm source measures the retry budget alone: no breaker to stop the storm.
    sources.insert(
        "storm".to_owned(),
        SourceResilience {
            retry: None,
            circuit_breaker: Some(BreakerConfig {
                enabled: false,
                ..BreakerConfig::default()
            }),
        },
    );
    // The flaky source may retry every failed call once (its flapping backend fails one
    // request in three).
    sources.insert(
        "flaky".to_owned(),
        SourceResilience {
            retry: Some(RetryConfig {
                budget: RetryBudgetConfig {
                    ratio: 1.0,
                    min_per_second: 10,
                    window_secs: 10,
                },
                ..retry.clone()
            }),
            circuit_breaker: None,
        },
    );
    ResilienceConfig {
        retry: Some(retry),
        circuit_breaker: Some(BreakerConfig {
            enabled: true,
            failure_rate: 0.5,
            minimum_calls: 6,
            window_ms: 10_000,
            open_ms: OPEN_MS,
            half_open_probes: 2,
        }),
        sources,
        responses: Default::default(),
    }
}

/// What a `tools/call` answered: whether it is an error, its text, its `_meta`.
struct Answer {
    is_error: bool,
    text: String,
    meta: Value,
    result: Value,
}

async fn call(url: &str, tool: &str) -> Answer {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{{}},{MODERN_META}}}}}"#
    );
    let (status, reply) = modern_post(url, "tools/call", Some(tool), body).await;
    assert_eq!(status, 200, "{reply}");
    let result = &reply["result"];
    assert!(result.is_object(), "{reply}");
    Answer {
        is_error: result["isError"] == true,
        text: result["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        meta: result["_meta"].clone(),
        result: result.clone(),
    }
}

async fn get_json(url: String) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// The sum of a metric's samples whose line contains every one of `labels`.
fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn chaos(fast_path: bool) {
    let mut storm = Backend::start().await;
    let mut flaky = Backend::start().await;
    let mut config = config::load("", "<test>", &Default::default()).unwrap();
    config.http.fast_path = fast_path;
    config.sources.push(source("storm", &storm));
    config.sources.push(source("flaky", &flaky));
    config.resilience = resilience();
    let (url, gateway) = common::serve_config_with_gateway(config).await;
    let base = url.trim_end_matches("/mcp").to_owned();

    // 1. A 503 storm: idempotent calls are retried, but only within the budget (20 % of
    //    calls + 1 per second over a 10 s window).
    storm.set(Mode::Storm);
    let started = std::time::Instant::now();
    for _ in 0..STORM_CALLS {
        let a = call(&url, "storm_list").await;
        assert!(a.is_error, "{}", a.text);
    }
    let retries = storm.gets() - STORM_CALLS;
    // 20 % of the calls, plus the reserve (1 retry per second of the 10 s window), which
    // is available again in each window the storm reaches into when a loaded machine
    // stretches it past 10 s (retries leave the window with their calls).
    let windows = (started.elapsed().as_secs_f64() / 10.0).ceil() as u32;
    let ceiling = STORM_CALLS / 5 + 10 * windows.max(1);
    assert!(
        retries <= ceiling,
        "{retries} retries reached the backend for {STORM_CALLS} calls (budget {ceiling}); metrics: {}",
        gateway
            .metrics
            .encode()
            .lines()
            .filter(|l| l.contains("retr"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(retries >= STORM_CALLS / 5, "only {retries} retries");
    eprintln!(
        "503 storm: {STORM_CALLS} calls, {retries} retries reached the backend (ceiling {ceiling})"
    );
    let text = gateway.metrics.encode();
    assert_eq!(
        metric(&text, "toolgate_retries_total", &[r#"source="storm""#]) as u32,
        retries,
        "{text}"
    );
    assert!(
        metric(
            &text,
            "toolgate_retries_denied_total",
            &[r#"reason="budget""#]
        ) > 0.0
    );
    //    A POST that got a 503 may have been acted on: never sent twice.
    for _ in 0..20 {
        assert!(call(&url, "storm_create").await.is_error);
    }
    assert_eq!(storm.posts(), 20);
    storm.set(Mode::Ok);

    // 2. The backend goes down: the circuit opens, then answers at once.
    flaky.down().await;
    let mut opened = false;
    for _ in 0..20 {
        let a = call(&url, "flaky_list").await;
        assert!(a.is_error);
        if a.text
            .contains("circuit breaker for backend `flaky` is open")
        {
            opened = true;
            break;
        }
        // Refused, or a pooled connection the backend closed as it went down.
        assert!(
            a.text.contains("could not connect") || a.text.contains("connection to backend"),
            "{}",
            a.text
        );
    }
    assert!(opened, "the circuit never opened");
    let ready = get_json(format!("{base}/readyz")).await;
    assert_eq!(ready["circuits"]["flaky"]["state"], "open", "{ready}");
    assert!(ready["circuits"]["flaky"]["retry_in_ms"].as_u64().unwrap() <= OPEN_MS);
    assert_eq!(ready["circuits"]["storm"], Value::Null, "{ready}");
    assert!(
        gateway
            .metrics
            .encode()
            .contains(r#"toolgate_circuit_state{source="flaky"} 1"#)
    );
    //    Back up, but the circuit stays open until open_ms: nothing reaches the backend.
    flaky.up().await;
    let a = call(&url, "flaky_list").await;
    assert!(a.text.contains("is open"), "{}", a.text);
    assert!(a.text.contains("tries the backend again in"), "{}", a.text);
    assert_eq!(flaky.gets(), 0);
    //    Recovery: after open_ms, probes pass and close it.
    let mut recovered = false;
    let waiting = std::time::Instant::now();
    for _ in 0..150 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if !call(&url, "flaky_list").await.is_error {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "the circuit never let a probe through");
    eprintln!(
        "recovered {} ms after the backend came back (open_ms {OPEN_MS})",
        waiting.elapsed().as_millis()
    );
    assert!(!call(&url, "flaky_list").await.is_error);
    let ready = get_json(format!("{base}/readyz")).await;
    assert_eq!(ready["circuits"]["flaky"]["state"], "closed", "{ready}");
    let text = gateway.metrics.encode();
    for to in ["open", "half_open", "closed"] {
        assert!(
            metric(
                &text,
                "toolgate_circuit_transitions_total",
                &[r#"source="flaky""#, &format!(r#"to="{to}""#)]
            ) >= 1.0,
            "{text}"
        );
    }

    // 3. Flapping (one request in three fails): retries hide the failures and the circuit,
    //    seeing a third of failures, stays closed.
    flaky.set(Mode::Flap);
    let mut retried = 0;
    for _ in 0..30 {
        let a = call(&url, "flaky_list").await;
        assert!(!a.is_error, "{}", a.text);
        if a.meta["toolgate/attempts"] == 2 {
            retried += 1;
        }
    }
    assert!(retried >= 5, "{retried} calls were retried");
    let ready = get_json(format!("{base}/readyz")).await;
    assert_eq!(ready["circuits"]["flaky"]["state"], "closed", "{ready}");

    // 4. Slow answers (past the 300 ms timeout) are failures too: the circuit opens.
    flaky.set(Mode::Slow);
    let mut opened = false;
    for _ in 0..20 {
        let a = call(&url, "flaky_list").await;
        assert!(a.is_error);
        if a.text.contains("is open") {
            opened = true;
            break;
        }
        assert!(a.text.contains("did not answer"), "{}", a.text);
    }
    assert!(opened, "timeouts never opened the circuit");
    flaky.set(Mode::Ok);

    // 5. The gateway is still up and serving other sources; the path was the one asked for.
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(!call(&url, "storm_list").await.is_error);
    let fast = gateway.fast_path_calls();
    if fast_path {
        assert!(fast > 0, "the fast path served nothing");
    } else {
        assert_eq!(fast, 0, "the fast path served calls with it turned off");
    }
    storm.down().await;
    flaky.down().await;
}

/// Size limits and the response cache over HTTP: a large answer is cut (no structured
/// content, a marker), served from the cache the second time, unless its backend said
/// `Cache-Control: no-store`.
async fn results(fast_path: bool) {
    let big = Backend::start().await;
    let private = Backend::start().await;
    big.set(Mode::Big);
    private.set(Mode::BigNoStore);
    let mut config = config::load("", "<test>", &Default::default()).unwrap();
    config.http.fast_path = fast_path;
    config.sources.push(source("big", &big));
    config.sources.push(source("private", &private));
    let cache = toolgate_policy::cache::ToolCacheConfig {
        ttl_ms: 60_000,
        shared: true,
        ignore_cache_control: false,
    };
    for tool in ["big_list", "private_list"] {
        config.resilience.responses.tools.insert(
            tool.to_owned(),
            toolgate_policy::size::ToolResponseConfig {
                max_bytes: Some(1_000),
                cache: Some(cache.clone()),
            },
        );
    }
    let (url, gateway) = common::serve_config_with_gateway(config).await;
    for _ in 0..3 {
        let a = call(&url, "big_list").await;
        assert!(!a.is_error, "{}", a.text);
        assert!(a.result.get("structuredContent").is_none(), "{}", a.result);
        let marker = a.result["content"][1]["text"].as_str().unwrap_or_default();
        assert!(marker.contains("this result was cut to"), "{}", a.result);
        assert!(a.text.len() <= 1_000);
    }
    assert_eq!(big.gets(), 1, "served from the cache after the first call");
    for _ in 0..3 {
        let a = call(&url, "private_list").await;
        assert_eq!(a.meta["toolgate/no-store"], true, "{}", a.result);
    }
    assert_eq!(private.gets(), 3, "a no-store answer is never cached");
    let text = gateway.metrics.encode();
    assert!(
        text.contains(r#"toolgate_cache_lookups_total{tool="big_list",result="hit"} 2"#),
        "{text}"
    );
}

/// Both paths in turn, not as two tests running at once: a stopped backend frees its port,
/// which a backend of a concurrent test could take, and its calls would then reach that one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_on_the_fast_path_and_on_rmcp_path() {
    chaos(true).await;
    chaos(false).await;
    results(true).await;
    results(false).await;
}

/// A 2026-07-28 `tools/call` of `tool` with `http`.
async fn call_on(http: &reqwest::Client, url: String, tool: String) -> Answer {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{{}},{MODERN_META}}}}}"#
    );
    let reply: Value = http
        .post(&url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", &tool)
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let result = &reply["result"];
    assert!(result.is_object(), "{reply}");
    Answer {
        is_error: result["isError"] == true,
        text: result["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        meta: result["_meta"].clone(),
        result: result.clone(),
    }
}

/// The resident set of process `pid`, in KiB (`VmRSS` of `/proc/<pid>/status`).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

/// One round of chaos against a gateway process: a 503 storm (retries refused by the budget),
/// a flapping backend (retries that succeed), a backend that goes down (the circuit opens
/// and answers at once) and comes back (probes close it).
async fn chaos_round(http: &reqwest::Client, url: &str, storm: &Backend, flaky: &mut Backend) {
    let call = |url: &str, tool: &str| call_on(http, url.to_owned(), tool.to_owned());
    storm.set(Mode::Storm);
    for _ in 0..200 {
        assert!(call(url, "storm_list").await.is_error);
    }
    for _ in 0..25 {
        assert!(call(url, "storm_create").await.is_error);
    }
    storm.set(Mode::Ok);
    flaky.set(Mode::Flap);
    for _ in 0..150 {
        assert!(!call(url, "flaky_list").await.is_error);
    }
    flaky.set(Mode::Ok);
    flaky.down().await;
    for _ in 0..50 {
        assert!(call(url, "flaky_list").await.is_error);
    }
    flaky.up().await;
    let mut recovered = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if !call(url, "flaky_list").await.is_error {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "the circuit never closed again");
}

/// Memory stays flat through chaos: the gateway runs as its own process (so its resident set
/// is its own), goes through the same round of storms, flapping and outages again and again,
/// and its RSS after the last round is within 10 % of what it was after the warm-up rounds.
/// A retry, breaker, pooled connection or call log that kept something per call would grow
/// it by about the same amount every round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_through_repeated_chaos() {
    let storm = Backend::start().await;
    let mut flaky = Backend::start().await;
    let mut config = config::load("", "<test>", &Default::default()).unwrap();
    config.http.bind = "127.0.0.1:0".to_owned();
    config.sources.push(source("storm", &storm));
    config.sources.push(source("flaky", &flaky));
    config.resilience = resilience();
    if let Some(b) = &mut config.resilience.circuit_breaker {
        b.open_ms = 300;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chaos.json");
    std::fs::write(&file, serde_json::to_string(&config).unwrap()).unwrap();
    let mut command = std::process::Command::new(common::TOOLGATE_BIN);
    command.args(["serve", "--config", file.to_str().unwrap()]);
    let (guard, rest, output) = common::spawn_capturing(command, "tools at ")
        .unwrap_or_else(|e| panic!("the gateway did not start: {e}"));
    let url = rest.trim().to_owned();
    let pid = guard.0.id();
    // One client (kept-alive connections), as an agent has.
    let http = reqwest::Client::new();

    const WARM_UP: usize = 2;
    const MEASURED: usize = 4;
    for _ in 0..WARM_UP {
        chaos_round(&http, &url, &storm, &mut flaky).await;
    }
    let after_warm_up = rss_kib(pid);
    let mut seen = Vec::new();
    for _ in 0..MEASURED {
        chaos_round(&http, &url, &storm, &mut flaky).await;
        seen.push(rss_kib(pid));
    }
    let last = *seen.last().unwrap();
    let calls_per_round = 200 + 25 + 150 + 50;
    eprintln!(
        "gateway RSS: {after_warm_up} KiB after {WARM_UP} warm-up rounds, then {seen:?} KiB after each of {MEASURED} more ({calls_per_round}+ calls per round)"
    );
    assert!(
        last * 10 <= after_warm_up * 11,
        "the gateway's RSS grew from {after_warm_up} KiB to {last} KiB ({seen:?}) over {MEASURED} rounds of chaos\n{}",
        output.all()
    );
    // It served all of it without a crash.
    assert!(
        reqwest::get(url.replace("/mcp", "/healthz"))
            .await
            .unwrap()
            .status()
            .is_success()
    );
}
