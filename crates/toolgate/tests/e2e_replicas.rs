//! Replicas: three `toolgate serve` processes behind HAProxy (round robin, no affinity,
//! retrying the next server when a connection fails) with one Redis: the official Python SDK
//! client's legacy sessions work across the replicas (each replica's metrics show it served
//! them), a replica killed mid-run loses no session and no completed call, every replica
//! reports the same configuration hash on `/readyz`, and a limit shared through Redis admits
//! no more than 1 % over its bound through the balancer. The in-process tests of shared
//! sessions (every path, owners, Redis down, costs) are in `e2e_shared_sessions.rs`.
//!
//! Needs Redis at 127.0.0.1:6379 (a unique key prefix per run), HAProxy
//! (`apt-get install haproxy`; `scripts/setup-test-deps.sh` installs it) and the Python SDK
//! (`TOOLGATE_TEST_PYTHON`); each is required under `CI=true` or
//! `TOOLGATE_REQUIRE_TEST_DEPS=1` and skipped otherwise.

mod common;

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::clients::{LEGACY, MODERN_META};
use serde_json::Value;

const REDIS: &str = "127.0.0.1:6379";

/// A key prefix no other test (or run) uses.
fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("toolgate-e2e-{test}-{}-{nanos}", std::process::id())
}

/// The `http.sessions` section of a store, as YAML under `http:` (indented 2).
fn sessions_yaml(store: &str, prefix: &str) -> String {
    match store {
        "redis" => format!(
            "  sessions:\n    store: redis\n    url: redis://{REDIS}\n    prefix: {prefix}\n"
        ),
        "sealed" => {
            "  sessions:\n    store: sealed\n    secret: an-e2e-secret-of-at-least-32-characters\n"
                .to_owned()
        }
        other => panic!("no store {other}"),
    }
}

/// The sum of a metric's samples whose line starts with `prefix` in a `/metrics` text.
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

// ---- as processes: three replicas behind HAProxy ----

/// A `toolgate serve` replica.
struct Replica {
    /// `http://127.0.0.1:PORT` (no path).
    base: String,
    addr: SocketAddr,
    guard: Option<common::Guard>,
    output: common::Captured,
}

impl Replica {
    fn start(config: &Path) -> Replica {
        let mut command = Command::new(common::TOOLGATE_BIN);
        command.args(["serve", "--config", config.to_str().unwrap()]);
        let (guard, rest, output) = common::spawn_capturing(command, "tools at ")
            .unwrap_or_else(|e| panic!("a replica did not start: {e}"));
        let base = rest.trim().trim_end_matches("/mcp").to_owned();
        let addr = base.trim_start_matches("http://").parse().unwrap();
        Replica {
            base,
            addr,
            guard: Some(guard),
            output,
        }
    }

    async fn get(&self, path: &str) -> String {
        match reqwest::get(format!("{}{path}", self.base)).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// MCP requests this replica's edge served (both paths).
    async fn edge_calls(&self) -> f64 {
        metric(&self.get("/metrics").await, "toolgate_edge_calls_total{")
    }

    /// A crash: SIGKILL, no graceful shutdown.
    fn kill(&mut self) {
        drop(self.guard.take());
    }
}

/// The `haproxy` binary, or `None` (panicking under CI).
fn haproxy() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin")])
        .map(|p| p.join("haproxy"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            !common::in_ci(),
            "haproxy is not installed (required under CI=true): bash scripts/setup-test-deps.sh installs it (apt-get install haproxy)"
        );
        eprintln!("SKIPPED (dependency missing): haproxy");
    }
    found
}

/// HAProxy in front of `servers` on `port`: round robin, no affinity; a request whose
/// connection fails (refused, or closed without an answer by a replica that died) is retried
/// on the next server; servers are health-checked on `/healthz` every 200 ms.
async fn start_haproxy(
    binary: &Path,
    dir: &Path,
    port: u16,
    servers: &[SocketAddr],
) -> common::Guard {
    let mut cfg = format!(
        "global\n  maxconn 512\n\
         defaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n  \
         retries 3\n  option redispatch 1\n  retry-on conn-failure empty-response\n  option http-buffer-request\n\
         frontend mcp\n  bind 127.0.0.1:{port}\n  default_backend replicas\n\
         backend replicas\n  balance roundrobin\n  option httpchk GET /healthz\n"
    );
    for (i, s) in servers.iter().enumerate() {
        cfg.push_str(&format!(
            "  server r{i} {s} check inter 200 fall 1 rise 2\n"
        ));
    }
    let file = dir.join("haproxy.cfg");
    std::fs::write(&file, cfg).unwrap();
    let check = Command::new(binary)
        .args(["-c", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "haproxy refused its configuration: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let child = Command::new(binary)
        .args(["-db", "-f"])
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = common::Guard(child);
    let url = format!("http://127.0.0.1:{port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !reqwest::get(&url)
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            Instant::now() < deadline,
            "haproxy did not come up on {port}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    guard
}

/// A 2026-07-28 `tools/call` of `list_users` through `url`: `true` if admitted, `false` if
/// refused by the shared limit.
async fn limited_call(http: &reqwest::Client, url: &str, id: u64) -> bool {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"list_users","arguments":{{}},{MODERN_META}}}}}"#
    );
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
    let answer: Value = resp.json().await.unwrap();
    let result = &answer["result"];
    if result["isError"] == true {
        let text = result["content"][0]["text"].as_str().unwrap_or_default();
        assert!(text.contains("limit `shared`"), "{answer}");
        return false;
    }
    assert!(result.is_object(), "{answer}");
    true
}

/// One Python SDK client process: its events (JSON lines) as they come, and its exit.
struct PythonRun {
    events: mpsc::Receiver<Value>,
    child: std::process::Child,
    stderr: std::thread::JoinHandle<String>,
}

fn start_python(python: &Path, url: &str, rounds: u32) -> PythonRun {
    let script = common::repo_root().join("tests/e2e/replica_client_check.py");
    let mut child = Command::new(python)
        .arg(&script)
        .args([url, &rounds.to_string(), "25"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, events) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                let _ = tx.send(v);
            }
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    PythonRun {
        events,
        child,
        stderr,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_behind_haproxy_share_sessions_and_limits() {
    if !common::service_reachable("Redis", REDIS) {
        return;
    }
    let Some(haproxy) = haproxy() else {
        return;
    };
    let Some(python) = common::dependency("TOOLGATE_TEST_PYTHON") else {
        return;
    };
    const RATE: f64 = 20.0;
    const BURST: f64 = 10.0;
    let api = common::todo_api_thread();
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique_prefix("replicas");
    let config = format!(
        "http:\n  bind: 127.0.0.1:0\n{}logging:\n  level: info\n\
         rate_limits:\n  backend:\n    type: redis\n    url: redis://{REDIS}\n    prefix: {prefix}\n    timeout_ms: 250\n    on_unavailable: fail_closed\n  \
         limits:\n    - name: shared\n      per: [global]\n      rate: {RATE}/s\n      burst: {BURST}\n      applies_to:\n        tools: [list_users]\n\
         sources:\n  - name: todo\n    spec: http://{api}/openapi.json\n    base_url: http://{api}\n",
        sessions_yaml("redis", &prefix)
    );
    let file = dir.path().join("replica.yaml");
    std::fs::write(&file, config).unwrap();
    let mut replicas: Vec<Replica> = (0..3).map(|_| Replica::start(&file)).collect();
    let port = common::free_port();
    let _lb = start_haproxy(
        &haproxy,
        dir.path(),
        port,
        &replicas.iter().map(|r| r.addr).collect::<Vec<_>>(),
    )
    .await;
    let lb = format!("http://127.0.0.1:{port}/mcp");

    // Every replica serves the same configuration, and says so.
    let mut hashes = Vec::new();
    for r in &replicas {
        let ready: Value = serde_json::from_str(&r.get("/readyz").await).unwrap();
        hashes.push(
            ready["config"]["hash"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert!(
        !hashes[0].is_empty() && hashes.iter().all(|h| *h == hashes[0]),
        "{hashes:?}"
    );

    // Limits: clients hammer the balancer for 4 s; together the replicas admit no more than
    // the limit's bound (burst + rate × elapsed), plus 1 %.
    let started = Instant::now();
    let clients = (0..6).map(|c| {
        let lb = lb.clone();
        let http = reqwest::Client::new();
        tokio::spawn(async move {
            let (mut admitted, mut limited, mut i) = (0u64, 0u64, c * 1_000_000);
            while started.elapsed() < Duration::from_secs(4) {
                i += 1;
                if limited_call(&http, &lb, i).await {
                    admitted += 1;
                } else {
                    limited += 1;
                }
            }
            (admitted, limited)
        })
    });
    let (mut admitted, mut limited) = (0u64, 0u64);
    for c in futures::future::join_all(clients).await {
        let (a, l) = c.unwrap();
        admitted += a;
        limited += l;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let bound = BURST + RATE * elapsed;
    let over = (admitted as f64 - bound).max(0.0) / bound;
    let mut allowed_per_replica = Vec::new();
    for r in &replicas {
        allowed_per_replica.push(metric(
            &r.get("/metrics").await,
            r#"toolgate_rate_limit_decisions_total{limit="shared",outcome="allowed"}"#,
        ));
    }
    println!(
        "limits through HAProxy: {admitted} admitted, {limited} limited in {elapsed:.2} s; bound {bound:.1}; \
         over {:.2} %; admitted per replica {allowed_per_replica:?}",
        over * 100.0
    );
    assert!(limited > 0, "the load must exceed the limit");
    assert!(
        allowed_per_replica.iter().all(|&n| n > 0.0),
        "{allowed_per_replica:?}"
    );
    assert!(
        over <= 0.01,
        "{admitted} admitted against a bound of {bound:.1}"
    );

    // Sessions: two Python SDK clients, each with one legacy session through the balancer;
    // replica 1 is killed (SIGKILL) once both are a quarter of the way through.
    const ROUNDS: u32 = 40;
    let before: Vec<f64> =
        futures::future::join_all(replicas.iter().map(Replica::edge_calls)).await;
    let mut runs: Vec<PythonRun> = (0..2).map(|_| start_python(&python, &lb, ROUNDS)).collect();
    let mut progress = vec![0u32; runs.len()];
    let mut done: Vec<Option<Value>> = vec![None; runs.len()];
    let mut killed_with = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    while done.iter().any(Option::is_none) {
        assert!(
            Instant::now() < deadline,
            "the Python clients did not finish in time"
        );
        for (i, run) in runs.iter_mut().enumerate() {
            while let Ok(event) = run.events.try_recv() {
                match event["event"].as_str() {
                    Some("round") => progress[i] = event["round"].as_u64().unwrap() as u32 + 1,
                    Some("done") => done[i] = Some(event),
                    _ => {}
                }
            }
            if done[i].is_none()
                && let Ok(Some(status)) = run.child.try_wait()
            {
                // Collect a last `done` that raced the exit.
                std::thread::sleep(Duration::from_millis(100));
                while let Ok(event) = run.events.try_recv() {
                    if event["event"] == "done" {
                        done[i] = Some(event);
                    }
                }
                assert!(
                    status.success() && done[i].is_some(),
                    "Python client {i} failed ({status}) after {} rounds:\n{}\n--- replica logs\n{}",
                    progress[i],
                    std::mem::replace(&mut run.stderr, std::thread::spawn(String::new))
                        .join()
                        .unwrap(),
                    replicas
                        .iter()
                        .map(|r| r.output.all())
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
        }
        if killed_with.is_none() && progress.iter().all(|&p| p >= ROUNDS / 4) {
            let served = replicas[1].edge_calls().await;
            replicas[1].kill();
            killed_with = Some(served);
            println!("killed replica 1 at rounds {progress:?}");
            assert!(
                progress.iter().any(|&p| p < ROUNDS),
                "a client must still be running when the replica dies: {progress:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for run in &mut runs {
        assert!(run.child.wait().unwrap().success());
    }
    let killed_with = killed_with.expect("replica 1 was killed mid-run");
    for (i, d) in done.iter().enumerate() {
        let d = d.as_ref().unwrap();
        assert_eq!(d["protocol_version"], LEGACY, "{d}");
        assert_eq!(d["created"], ROUNDS, "{d}");
        // At least once: a call a dying replica took may have been retried elsewhere.
        assert!(
            d["tasks"].as_u64().unwrap() >= u64::from(ROUNDS),
            "client {i}: {d}"
        );
    }
    let served = [
        replicas[0].edge_calls().await - before[0],
        killed_with - before[1],
        replicas[2].edge_calls().await - before[2],
    ];
    println!("session requests served per replica (replica 1 until killed): {served:?}");
    assert!(
        served.iter().all(|&n| n > 0.0),
        "every replica served the sessions' requests: {served:?}"
    );
    for r in [&replicas[0], &replicas[2]] {
        let logs = r.output.all();
        assert!(!logs.contains("panicked"), "{logs}");
    }
}
