//! Shared helpers for the end-to-end tests: an in-process Todo API plus gateway on loopback,
//! and child processes (the `toolgate` binary, third-party tools from `setup-test-deps.sh`).

#![allow(dead_code)]

pub mod clients;

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use toolgate::config::{
    self, Config, OpenApiSourceConfig, SessionModeConfig, SourceConfig, SpecLocation,
};

/// A running Todo API and gateway; both stop when dropped.
pub struct Stack {
    /// `http://127.0.0.1:PORT/mcp`.
    pub mcp_url: String,
    /// Gateway address.
    pub addr: SocketAddr,
    /// Todo API address.
    pub api_addr: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Configuration serving the Todo API at `api_addr`.
pub fn todo_config(api_addr: SocketAddr, mode: SessionModeConfig) -> Config {
    let mut config = config::load("", "<test>", &Default::default()).unwrap();
    config.http.session_mode = mode;
    config.sources.push(SourceConfig::from(OpenApiSourceConfig {
        name: "todo".to_owned(),
        spec: SpecLocation::Inline {
            inline: todo_api::openapi(),
        },
        base_url: Some(format!("http://{api_addr}")),
        compile: Default::default(),
        backend: Default::default(),
        tools: Default::default(),
        tool_mode: None,
    }));
    config
}

/// The OpenAPI source `source` is (tests build only OpenAPI sources this way).
pub fn openapi(source: &mut SourceConfig) -> &mut OpenApiSourceConfig {
    match source {
        SourceConfig::OpenApi(s) => s,
        SourceConfig::Mcp(m) => panic!("source `{}` is an MCP source", m.name),
    }
}

/// Runs `serve` on a loopback listener, on a thread and current-thread runtime of its own
/// (so it keeps serving whatever the test's runtime does, e.g. for gateways that are other
/// processes), for the whole test: the listener's address.
pub fn serve_thread<F, Fut>(serve: F) -> SocketAddr
where
    F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let _ = serve(listener).await;
            })
    });
    addr
}

/// Serves `router` as [`serve_thread`] does: its address.
pub fn router_thread(router: axum::Router) -> SocketAddr {
    serve_thread(move |listener| async move { axum::serve(listener, router).await })
}

/// Starts the Todo API as [`serve_thread`] does: its address.
pub fn todo_api_thread() -> SocketAddr {
    serve_thread(todo_api::serve)
}

/// Starts the Todo API and a gateway over it, both on `127.0.0.1:0`.
pub async fn start(mode: SessionModeConfig) -> Stack {
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    let stop = CancellationToken::new();
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = todo_api::serve(api) => {}
                () = stop.cancelled() => {}
            }
        });
    }
    let config = todo_config(api_addr, mode);
    let assembled = toolgate::run::assemble(&config, &PathBuf::from("."))
        .await
        .unwrap_or_else(|e| panic!("assemble failed: {e}"));
    let options = toolgate::run::http_options(&config);
    let mcp_shutdown = CancellationToken::new();
    let app = toolgate_server::gateway_app(
        assembled.gateway.clone(),
        &options,
        toolgate_server::EdgeAuth::Off,
        assembled.metrics.clone(),
        mcp_shutdown.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    {
        let stop = stop.clone();
        let in_flight = assembled.gateway.in_flight();
        tokio::spawn(async move {
            let _ = toolgate_server::serve(
                listener,
                app,
                async move { stop.cancelled().await },
                in_flight,
                std::time::Duration::from_secs(1),
                mcp_shutdown,
            )
            .await;
        });
    }
    Stack {
        mcp_url: format!("http://{addr}/mcp"),
        addr,
        api_addr,
        stop,
    }
}

/// True when missing test dependencies must fail loudly instead of skipping: under CI
/// (`CI=true`, which `.ci/run` also sets itself) and whenever the README's test command runs
/// (`scripts/test.sh` installs every dependency and sets `TOOLGATE_REQUIRE_TEST_DEPS=1`).
pub fn in_ci() -> bool {
    let set = |var: &str| std::env::var(var).is_ok_and(|v| v == "true" || v == "1");
    set("CI") || set("TOOLGATE_REQUIRE_TEST_DEPS")
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A gateway and its metrics, to watch which path served its calls.
#[derive(Clone)]
pub struct Watched {
    /// The gateway.
    pub gateway: toolgate_server::Gateway,
    /// Its pipeline's metrics.
    pub metrics: std::sync::Arc<toolgate_policy::Metrics>,
}

impl Watched {
    /// Watches what `assemble` built.
    pub fn of(assembled: &toolgate::run::Assembled) -> Self {
        Watched {
            gateway: assembled.gateway.clone(),
            metrics: assembled.metrics.clone(),
        }
    }

    /// Calls served by the fast path so far, on any transport (from `/metrics`).
    pub fn fast_path_calls(&self) -> usize {
        fast_path_calls(&self.metrics.encode())
    }
}

/// The number of fast-path calls in a `/metrics` text.
pub fn fast_path_calls(metrics_text: &str) -> usize {
    metrics_text
        .lines()
        .filter(|l| l.starts_with("toolgate_edge_calls_total{") && l.contains(r#"path="fast""#))
        .map(|l| {
            l.rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("unreadable metric line {l}")) as usize
        })
        .sum()
}

/// The HTTP app `toolgate serve` builds for `config` (on the current runtime), and its
/// gateway.
async fn app_of(config: &toolgate::config::Config) -> (axum::Router, Watched) {
    let assembled = toolgate::run::assemble(config, std::path::Path::new("."))
        .await
        .unwrap();
    let app = toolgate_server::gateway_app(
        assembled.gateway.clone(),
        &toolgate::run::http_options(config),
        toolgate_server::EdgeAuth::Off,
        assembled.metrics.clone(),
        Default::default(),
    );
    (app, Watched::of(&assembled))
}

/// Serves `config` over HTTP on a free loopback port: the MCP URL and the gateway.
pub async fn serve_config_with_gateway(config: toolgate::config::Config) -> (String, Watched) {
    let (app, gateway) = app_of(&config).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/mcp"), gateway)
}

/// [`serve_config_with_gateway`] on a thread and a current-thread runtime of its own
/// ([`serve_thread`]): one worker thread, as `toolgate serve` runs by default (and as busy
/// polling needs).
pub fn serve_config_on_thread(config: toolgate::config::Config) -> (String, Watched) {
    let (tx, rx) = std::sync::mpsc::channel();
    let addr = serve_thread(move |listener| async move {
        let (app, gateway) = app_of(&config).await;
        tx.send(gateway).unwrap();
        axum::serve(listener, app).await
    });
    let gateway = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the gateway was assembled");
    (format!("http://{addr}/mcp"), gateway)
}

/// A backend whose only operation, `GET /slow` (`operationId: slow`), answers after `delay`:
/// its URL and its OpenAPI document.
pub async fn slow_backend(delay: std::time::Duration) -> (String, serde_json::Value) {
    let backend = axum::Router::new().route(
        "/slow",
        axum::routing::get(move || async move {
            tokio::time::sleep(delay).await;
            axum::Json(serde_json::json!({"done": true}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, backend).await });
    let spec = serde_json::json!({
        "openapi": "3.1.0",
        "info": {"title": "slow", "version": "1"},
        "paths": {"/slow": {"get": {"operationId": "slow", "responses": {"200": {"description": "ok",
            "content": {"application/json": {"schema": {"type": "object"}}}}}}}}
    });
    (format!("http://{addr}"), spec)
}

/// The `toolgate` binary under test.
pub const TOOLGATE_BIN: &str = env!("CARGO_BIN_EXE_toolgate");

/// A dependency path from the environment, or `None` (panicking under CI).
pub fn dependency(var: &str) -> Option<PathBuf> {
    match std::env::var_os(var).map(PathBuf::from) {
        Some(p) if p.exists() => Some(p),
        other => {
            let msg = format!(
                "{var} is {}; run `eval \"$(bash scripts/setup-test-deps.sh)\"` first",
                match other {
                    Some(p) => format!("set to a missing path {}", p.display()),
                    None => "not set".to_owned(),
                }
            );
            assert!(
                !in_ci(),
                "{msg} (required under CI=true and by scripts/test.sh)"
            );
            // Visible in `cargo test` output; nextest shows it with --no-capture.
            eprintln!("SKIPPED (dependency missing): {msg}");
            None
        }
    }
}

/// Kills the child when dropped.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns the binary with `args` and waits for a stdout line containing `marker`; returns
/// the child and the rest of that line.
pub fn spawn_and_read(args: &[&str], marker: &str) -> (Guard, String) {
    let mut child = Command::new(TOOLGATE_BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    let needle = marker.to_owned();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(i) = line.find(&needle) {
                let _ = tx.send(line[i + needle.len()..].trim().to_owned());
            }
        }
    });
    let guard = Guard(child);
    let rest = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("`toolgate {}` never printed `{marker}`", args.join(" ")));
    (guard, rest)
}

/// A free loopback TCP port (bound and released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until a GET of `url` answers 2xx, panicking after `limit`.
pub fn wait_for_http(url: &str, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if reqwest::blocking::get(url).is_ok_and(|r| r.status().is_success()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{url} did not come up within {limit:?}");
}

/// True when a TCP service (PostgreSQL, Redis, …) accepts connections at `addr`; otherwise
/// says so and returns false, panicking under CI.
pub fn service_reachable(what: &str, addr: &str) -> bool {
    let sock: SocketAddr = addr.parse().unwrap();
    if std::net::TcpStream::connect_timeout(&sock, Duration::from_secs(2)).is_ok() {
        return true;
    }
    let msg = format!("{what} is not reachable at {addr}");
    assert!(!in_ci(), "{msg} (required under CI=true)");
    eprintln!("SKIPPED (dependency missing): {msg}");
    false
}

/// Everything a child process printed so far, stdout and stderr apart.
#[derive(Clone, Default)]
pub struct Captured {
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
    readers: Arc<Mutex<Vec<std::thread::JoinHandle<()>>>>,
}

impl Captured {
    /// Waits until both streams are closed (the child has exited): the capture is complete.
    pub fn join(&self) {
        for reader in std::mem::take(&mut *self.readers.lock().unwrap()) {
            let _ = reader.join();
        }
    }

    /// Both streams, for searching and for failure messages.
    pub fn all(&self) -> String {
        format!(
            "--- stdout\n{}--- stderr\n{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }
}

/// Spawns `command` with both output streams captured and waits for a stdout line containing
/// `marker`: the child, the rest of that line and the capture. Errs with everything the child
/// printed when it exits (or 60 s pass) before printing the marker.
pub fn spawn_capturing(
    mut command: Command,
    marker: &str,
) -> Result<(Guard, String, Captured), String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let captured = Captured::default();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let sink = captured.stderr.clone();
    let stderr_reader = std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    captured.readers.lock().unwrap().push(stderr_reader);
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let sink = captured.stdout.clone();
    let (tx, rx) = mpsc::channel();
    let needle = marker.to_owned();
    let stdout_reader = std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
            if let Some(i) = line.find(&needle) {
                let _ = tx.send(line[i + needle.len()..].trim().to_owned());
            }
        }
    });
    captured.readers.lock().unwrap().push(stdout_reader);
    let mut guard = Guard(child);
    let status = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(rest) => return Ok((guard, rest, captured)),
        // stdout closed: the child is exiting; all it printed is read once it has.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let status = guard.0.wait().ok();
            captured.join();
            status
        }
        Err(mpsc::RecvTimeoutError::Timeout) => None,
    };
    Err(format!(
        "never printed `{marker}` (exit status {status:?})\n{}",
        captured.all()
    ))
}

/// The exit code of a finished command (panics if a signal ended it).
pub fn exit_code(out: &std::process::Output) -> i32 {
    out.status.code().expect("exited")
}

/// A finished command's stdout and stderr, labelled, for assertion messages.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `upstream_fake_server.py mrtr` (a 2026-07-28 server on the Python SDK, over streamable
/// HTTP) on a free port, as source `fake`: its guard and the source.
pub fn fake_2026_upstream(python: &std::path::Path) -> (Guard, serde_json::Value) {
    let port = free_port();
    let child = Command::new(python)
        .arg(repo_root().join("tests/e2e/upstream_fake_server.py"))
        .args(["mrtr", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let guard = Guard(child);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the fake server never listened on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let source = serde_json::json!({
        "name": "fake",
        "kind": "mcp",
        "transport": {"type": "http", "url": format!("http://127.0.0.1:{port}/mcp")},
    });
    (guard, source)
}
