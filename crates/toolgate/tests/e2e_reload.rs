//! Hot reload of the real binary (`toolgate serve --config F`): a reload that adds a source is
//! seen by connected clients (the list changes, `notifications/tools/list_changed` arrives on
//! their session); a broken spec or configuration, or a new source that is not ready within
//! the grace period, is rolled back (the old tools keep being
//! served, `/readyz` and `/metrics` say the last reload failed); calls keep succeeding during
//! 20 reloads under a small concurrent load. Every wait polls with a generous limit.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt as _};
use serde_json::Value;
use tokio::sync::Notify;

/// Counts the gateway's `notifications/tools/list_changed`.
#[derive(Clone, Default)]
struct Watcher {
    tools_changed: Arc<Notify>,
    count: Arc<AtomicUsize>,
}

impl ClientHandler for Watcher {
    async fn on_tool_list_changed(&self, _cx: NotificationContext<RoleClient>) {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.tools_changed.notify_one();
    }
}

/// The Todo API in-process, a folder with its spec and a config naming it, and the binary
/// serving that config.
struct Setup {
    dir: tempfile::TempDir,
    base: String,
    gateway: String,
    child: common::Guard,
    captured: common::Captured,
}

const LIMIT: Duration = Duration::from_secs(60);

impl Setup {
    async fn start() -> Setup {
        Setup::start_with(false).await
    }

    /// Starts the binary, watching its files when `watch`.
    async fn start_with(watch: bool) -> Setup {
        let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_addr = api.local_addr().unwrap();
        tokio::spawn(todo_api::serve(api));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("todo.json"),
            serde_json::to_vec(&todo_api::openapi()).unwrap(),
        )
        .unwrap();
        std::fs::copy(
            common::repo_root().join("examples/configs/specs/petstore.yaml"),
            dir.path().join("petstore.yaml"),
        )
        .unwrap();
        let port = common::free_port();
        let setup_base = format!("http://{api_addr}");
        write_config(dir.path(), port, &setup_base, None, "todo.json");
        let mut command = Command::new(common::TOOLGATE_BIN);
        command.args([
            "serve",
            "--config",
            dir.path().join("config.yaml").to_str().unwrap(),
        ]);
        if !watch {
            command.arg("--no-watch");
        }
        let (child, _, captured) =
            common::spawn_capturing(command, "toolgate: serving").unwrap_or_else(|e| panic!("{e}"));
        Setup {
            dir,
            base: setup_base,
            gateway: format!("http://127.0.0.1:{port}"),
            child,
            captured,
        }
    }

    fn port(&self) -> u16 {
        self.gateway.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Rewrites the config (with or without the `pets` source, served by the same reachable
    /// backend; the todo spec at `spec`).
    fn write(&self, pets: bool, spec: &str) {
        let base = pets.then_some(self.base.as_str());
        write_config(self.dir.path(), self.port(), &self.base, base, spec);
    }

    fn hup(&self) {
        let pid = self.child.0.id() as i32;
        // SAFETY: sends a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    }

    async fn readyz(&self) -> Value {
        reqwest::get(format!("{}/readyz", self.gateway))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.gateway))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Waits until `/readyz` shows `reloads` with `outcome` counted at least `n` times (an
    /// in-place write may be seen as two changes): the config detail.
    async fn wait_for_reloads(&self, outcome: &str, n: u64) -> Value {
        let started = Instant::now();
        loop {
            let config = self.readyz().await["config"].clone();
            if config["reloads"][outcome].as_u64().is_some_and(|c| c >= n) {
                return config;
            }
            assert!(
                started.elapsed() < LIMIT,
                "{n} reloads with outcome {outcome} not seen within {LIMIT:?}: {config}\n{}",
                self.captured.all()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGHUP and waits until the reload it caused is recorded (success or failure):
    /// the `/readyz` config detail, and how long it took.
    async fn reload(&self) -> (Value, Duration) {
        let before = self.readyz().await["config"]["reloads"].clone();
        let total = |r: &Value| r["success"].as_u64().unwrap() + r["failure"].as_u64().unwrap();
        let started = Instant::now();
        self.hup();
        loop {
            let config = self.readyz().await["config"].clone();
            if total(&config["reloads"]) > total(&before) {
                return (config, started.elapsed());
            }
            assert!(
                started.elapsed() < LIMIT,
                "no reload recorded within {LIMIT:?}: {}",
                self.captured.all()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn client(&self) -> (RunningService<RoleClient, Watcher>, Watcher) {
        let watcher = Watcher::default();
        let client = watcher
            .clone()
            .serve(StreamableHttpClientTransport::from_uri(format!(
                "{}/mcp",
                self.gateway
            )))
            .await
            .unwrap();
        (client, watcher)
    }
}

fn write_config(dir: &Path, port: u16, base: &str, pets: Option<&str>, spec: &str) {
    let mut text = format!(
        "http:\n  bind: 127.0.0.1:{port}\nsources:\n  - name: todo\n    spec: {spec}\n    base_url: {base}\n"
    );
    if let Some(pets) = pets {
        text.push_str(&format!("  - name: pets\n    spec: petstore.yaml\n    base_url: {pets}\n    compile:\n      namespace: pets\n"));
    }
    // Written beside and renamed, as editors and config management do: never half a file.
    let tmp: PathBuf = dir.join("config.yaml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, dir.join("config.yaml")).unwrap();
}

async fn tool_names(client: &RunningService<RoleClient, Watcher>) -> Vec<String> {
    client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect()
}

async fn list_users(client: &RunningService<RoleClient, Watcher>) -> Result<(), String> {
    match client
        .call_tool(CallToolRequestParams::new("list_users"))
        .await
    {
        Ok(r) if r.is_error != Some(true) => Ok(()),
        other => Err(format!("{other:?}")),
    }
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_adds_a_source_is_seen_by_connected_clients() {
    let setup = Setup::start().await;
    let (client, watcher) = setup.client().await;
    let before = tool_names(&client).await;
    assert!(before.contains(&"list_users".to_owned()), "{before:?}");
    assert!(!before.iter().any(|t| t.starts_with("pets")), "{before:?}");

    setup.write(true, "todo.json");
    let (config, took) = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "success", "{config}");
    // The notification reaches the session (its GET stream), then the list has the new tools.
    let deadline = Instant::now() + LIMIT;
    while watcher.count.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "no tools/list_changed within {LIMIT:?}"
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), watcher.tools_changed.notified())
            .await;
    }
    let after = tool_names(&client).await;
    assert!(after.iter().any(|t| t.starts_with("pets")), "{after:?}");
    assert!(after.contains(&"list_users".to_owned()), "{after:?}");
    list_users(&client).await.unwrap();
    let metrics = setup.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            r#"toolgate_config_reloads_total{outcome="success"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
    let hash = config["hash"].as_str().unwrap();
    assert_eq!(
        metric(
            &metrics,
            &format!(r#"toolgate_config_info{{hash="{hash}"}}"#)
        ),
        Some(1.0),
        "{metrics}"
    );
    eprintln!(
        "reload adding a source: recorded {took:?} after SIGHUP; {} -> {} tools",
        before.len(),
        after.len()
    );

    // Removing it again takes its tools away.
    setup.write(false, "todo.json");
    let (config, _) = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "success", "{config}");
    let again = tool_names(&client).await;
    assert_eq!(again, before);

    // A section a reload does not apply: the sources still reload, a warning names it.
    let path = setup.dir.path().join("config.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("server:\n  name: renamed\n{text}")).unwrap();
    let (config, _) = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "success", "{config}");
    let stderr = setup.captured.stderr.lock().unwrap().clone();
    assert!(
        stderr.contains("need a restart") && stderr.contains("sections=server"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_spec_or_config_is_rolled_back() {
    let setup = Setup::start().await;
    let (client, _) = setup.client().await;
    let before = tool_names(&client).await;
    let hash = setup.readyz().await["config"]["hash"].clone();

    // A spec that does not parse.
    std::fs::write(setup.dir.path().join("broken.json"), "{ not json").unwrap();
    setup.write(true, "broken.json");
    let (config, took) = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "failure", "{config}");
    let error = config["last_reload"]["error"].as_str().unwrap();
    assert!(
        error.contains("broken.json"),
        "the reason names the spec: {error}"
    );
    assert_eq!(
        config["hash"], hash,
        "the active configuration stays: {config}"
    );
    assert_eq!(
        tool_names(&client).await,
        before,
        "the old tools are served"
    );
    list_users(&client).await.unwrap();
    let metrics = setup.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            r#"toolgate_config_reloads_total{outcome="failure"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "toolgate_config_last_reload_successful"),
        Some(0.0),
        "{metrics}"
    );
    eprintln!("broken spec rolled back: recorded {took:?} after SIGHUP");

    // A configuration that is not valid YAML, then one with an unknown key.
    std::fs::write(setup.dir.path().join("config.yaml"), "sources: [\n").unwrap();
    let (config, _) = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "failure", "{config}");
    std::fs::write(setup.dir.path().join("config.yaml"), "sourcez: []\n").unwrap();
    let (config, _) = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "failure", "{config}");
    assert!(
        config["last_reload"]["error"]
            .as_str()
            .unwrap()
            .contains("sourcez"),
        "{config}"
    );
    assert_eq!(config["reloads"]["failure"], 3, "{config}");
    assert_eq!(tool_names(&client).await, before);
    list_users(&client).await.unwrap();
    let stderr = setup.captured.stderr.lock().unwrap().clone();
    assert!(
        stderr.contains("keeping the last known good configuration"),
        "{stderr}"
    );

    // Fixed: the next reload succeeds and the gauge says so.
    setup.write(true, "todo.json");
    let (config, _) = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "success", "{config}");
    let metrics = setup.metrics().await;
    assert_eq!(
        metric(&metrics, "toolgate_config_last_reload_successful"),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_source_that_is_not_ready_after_the_grace_period_is_rolled_back() {
    let setup = Setup::start().await;
    let (client, watcher) = setup.client().await;
    let before = tool_names(&client).await;
    // Nothing listens on port 9: the new source never becomes ready.
    write_config(
        setup.dir.path(),
        setup.port(),
        &setup.base,
        Some("http://127.0.0.1:9"),
        "todo.json",
    );
    let (config, took) = setup.reload().await;
    assert_eq!(config["last_reload"]["outcome"], "failure", "{config}");
    let error = config["last_reload"]["error"].as_str().unwrap();
    assert!(
        error.contains("source `pets` is not ready") && error.contains("rolled back"),
        "{error}"
    );
    assert_eq!(
        tool_names(&client).await,
        before,
        "the old tools are served"
    );
    list_users(&client).await.unwrap();
    // Clients were told both ways (the swap and the rollback).
    assert!(watcher.count.load(Ordering::SeqCst) >= 1);
    eprintln!("unready source rolled back: recorded {took:?} after SIGHUP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_keep_succeeding_during_twenty_reloads() {
    let setup = Setup::start().await;
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (client, _) = setup.client().await;
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                match list_users(&client).await {
                    Ok(()) => {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => failed.lock().unwrap().push(e),
                }
            }
            client.cancel().await.unwrap();
        }));
    }
    let mut durations = Vec::new();
    for i in 0..20 {
        // Alternately with and without a second source: every reload swaps the catalog.
        setup.write(i % 2 == 0, "todo.json");
        let (config, took) = setup.reload().await;
        assert_eq!(config["last_reload"]["outcome"], "success", "{config}");
        durations.push(took);
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    let failed = failed.lock().unwrap().clone();
    let ok = ok.load(Ordering::SeqCst);
    durations.sort();
    eprintln!(
        "20 reloads under load: {ok} calls succeeded, {} failed; reload recorded after SIGHUP in p50 {:?}, max {:?}",
        failed.len(),
        durations[durations.len() / 2],
        durations.last().unwrap()
    );
    assert!(
        failed.is_empty(),
        "{} failed calls: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(ok > 0, "the load ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_files_are_reloaded_when_watched() {
    let setup = Setup::start_with(true).await;
    let (client, _) = setup.client().await;
    let before = tool_names(&client).await;
    // The configuration file, replaced by a rename.
    setup.write(true, "todo.json");
    let config = setup.wait_for_reloads("success", 1).await;
    assert_eq!(config["last_reload"]["outcome"], "success", "{config}");
    let after = tool_names(&client).await;
    assert!(after.len() > before.len(), "{before:?} -> {after:?}");
    // A spec file it names, broken in place: rolled back.
    std::fs::write(setup.dir.path().join("todo.json"), "{ half a spec").unwrap();
    let config = setup.wait_for_reloads("failure", 1).await;
    assert!(
        config["last_reload"]["error"]
            .as_str()
            .unwrap()
            .contains("todo.json"),
        "{config}"
    );
    assert_eq!(tool_names(&client).await, after);
    list_users(&client).await.unwrap();
    // Repaired: reloaded again.
    std::fs::write(
        setup.dir.path().join("todo.json"),
        serde_json::to_vec(&todo_api::openapi()).unwrap(),
    )
    .unwrap();
    setup.wait_for_reloads("success", 2).await;
    list_users(&client).await.unwrap();
}
